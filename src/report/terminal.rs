//! The terminal summary: per tier, the resource closest to (or past) its
//! limit, which is what saturates first as users grow.

use std::fmt::Write;

use crate::experiment::{ScenarioRun, TierRun};
use crate::model::{NodeResults, Outcome, TierResults};
use crate::scenario::{DbAccess, FunctionModel, Scenario};
use crate::stats::Estimate;

/// One resource's load against its limit.
struct Pressure {
    what: &'static str,
    used: Estimate,
    limit: f64,
    unit: Unit,
    detail: String,
}

/// How a pressure's figures read.
#[derive(Clone, Copy)]
enum Unit {
    /// A count (connections, instances).
    Count,
    /// A share, shown as a percentage.
    Share,
    /// Milliseconds.
    Ms,
}

impl Unit {
    /// `value` in this unit, to 3 significant digits.
    fn show(self, value: f64) -> String {
        match self {
            Unit::Count => significant(value),
            Unit::Share => format!("{}%", significant(value * 100.0)),
            Unit::Ms => format!("{} ms", significant(value)),
        }
    }
}

/// `value` to 3 significant digits (whole numbers above 100).
fn significant(value: f64) -> String {
    if !value.is_finite() || value == 0.0 {
        return format!("{value}");
    }
    let magnitude = value.abs().log10().floor() as i32;
    let decimals = (2 - magnitude).max(0) as usize;
    let text = format!("{value:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// The verdict on `pressure`: over or under its limit only when the 95%
/// interval of its mean is, else at it.
fn verdict(pressure: &Pressure) -> &'static str {
    let Estimate { mean, half_width } = pressure.used;
    let half_width = if half_width.is_finite() {
        half_width
    } else {
        0.0
    };
    if mean - half_width > pressure.limit {
        "OVER its limit"
    } else if mean + half_width < pressure.limit {
        "closest to its limit"
    } else {
        "AT its limit (the 95% interval includes it)"
    }
}

/// The mean over `tier`'s replications of what `measure` reads from each.
fn mean(tier: &TierRun, measure: impl Fn(&TierResults) -> Option<f64>) -> f64 {
    estimate(tier, measure).mean
}

/// The mean and 95% half-width over `tier`'s replications of `measure`.
fn estimate(tier: &TierRun, measure: impl Fn(&TierResults) -> Option<f64>) -> Estimate {
    tier.estimate(|r| measure(&r.tier))
}

/// A count as a number to average.
fn count(value: u64) -> Option<f64> {
    Some(value as f64)
}

/// The read replica with the largest mean of what `measure` reads from each.
fn busiest_replica(tier: &TierRun, measure: impl Fn(&NodeResults) -> Option<f64>) -> Estimate {
    let replicas = tier
        .replications
        .first()
        .map_or(0, |r| r.tier.replicas.len());
    (0..replicas)
        .map(|i| estimate(tier, |t| measure(&t.replicas[i])))
        .fold(
            Estimate {
                mean: f64::NAN,
                half_width: f64::NAN,
            },
            |a, b| {
                if b.mean > a.mean || a.mean.is_nan() {
                    b
                } else {
                    a
                }
            },
        )
}

fn uses_data_api(scenario: &Scenario) -> bool {
    scenario
        .routes
        .iter()
        .any(|r| r.db_access == DbAccess::DataApi)
}

/// A few lines per tier naming what saturates first and how far.
pub fn saturation_summary(run: &ScenarioRun) -> String {
    let mut text = String::new();
    let _ = writeln!(text, "{}:", run.scenario.name);
    for (tier, scenario) in run.tiers.iter().zip(&run.stacks) {
        let max_instances: f64 = scenario
            .functions
            .iter()
            .map(|f| f64::from(f.max_instances))
            .sum();
        let database = &scenario.database;
        let pooler = database.pooler.filter(|p| p.enabled);
        let replicas = database.read_replicas;
        let pooler_servers = |t: &TierResults| t.primary.pooler.map(|p| p.servers);
        let cpus = |t: &TierResults| t.primary.cpus;
        let failures = |outcome: Outcome| move |t: &TierResults| count(t.outcomes.count(outcome));
        let pressures = [
            Pressure {
                what: "database connections",
                unit: Unit::Count,
                used: estimate(tier, |t| count(t.primary.peak_demanded)),
                limit: mean(tier, |t| Some(f64::from(t.primary.connection_limit))),
                detail: format!(
                    "{:.0} demanded at peak, {:.0} refused",
                    mean(tier, |t| count(t.primary.peak_demanded)),
                    mean(tier, failures(Outcome::DbRefused))
                ),
            },
            Pressure {
                what: "pooler server connections",
                unit: Unit::Count,
                used: estimate(tier, |t| pooler_servers(t).map(|l| l.peak_busy as f64)),
                limit: pooler.map_or(0.0, |p| f64::from(p.pool_size())),
                detail: format!(
                    "in use at peak; wait p95 {:.1} ms, {:.0} queries timed out",
                    mean(tier, |t| pooler_servers(t).and_then(|l| l.wait_p95_ms)),
                    mean(tier, failures(Outcome::PoolerTimeout))
                ),
            },
            Pressure {
                what: "pooler client connections",
                unit: Unit::Count,
                used: estimate(tier, |t| t.primary.pooler.map(|p| p.peak_clients as f64)),
                limit: pooler.map_or(0.0, |_| f64::from(database.max_client_conn())),
                detail: format!(
                    "{:.0} refused",
                    mean(tier, failures(Outcome::PoolerRefused))
                ),
            },
            Pressure {
                what: "database CPUs",
                unit: Unit::Share,
                used: estimate(tier, |t| cpus(t).map(|c| c.busiest_minute_utilisation)),
                limit: 1.0,
                detail: format!(
                    "utilisation in the busiest minute; query wait p95 {:.1} ms, longest {:.0} ms",
                    mean(tier, |t| cpus(t).and_then(|c| c.servers.wait_p95_ms)),
                    mean(tier, |t| cpus(t).and_then(|c| c.servers.max_wait_ms))
                ),
            },
            Pressure {
                what: "Data API pool",
                unit: Unit::Count,
                used: estimate(tier, |t| count(t.primary.data_api.peak_busy)),
                limit: if uses_data_api(scenario) {
                    f64::from(database.data_api_pool)
                } else {
                    0.0
                },
                detail: format!(
                    "busy at peak; wait p95 {:.1} ms, {:.0} timed out",
                    mean(tier, |t| t.primary.data_api.wait_p95_ms),
                    mean(tier, failures(Outcome::DataApiTimeout))
                ),
            },
            Pressure {
                what: "read replica CPUs",
                unit: Unit::Share,
                used: busiest_replica(tier, |n| n.cpus.map(|c| c.busiest_minute_utilisation)),
                limit: if replicas > 0 { 1.0 } else { 0.0 },
                detail: "the busiest replica's busiest minute".to_string(),
            },
            Pressure {
                what: "read replica connections",
                unit: Unit::Count,
                used: busiest_replica(tier, |n| count(n.peak_demanded)),
                limit: if replicas > 0 {
                    mean(tier, |t| {
                        t.replicas.first().map(|n| f64::from(n.connection_limit))
                    })
                } else {
                    0.0
                },
                detail: "demanded at peak on the busiest replica".to_string(),
            },
            Pressure {
                what: "function instances",
                unit: Unit::Count,
                used: estimate(tier, |t| count(t.peak_instances)),
                limit: max_instances,
                detail: format!("{:.0} throttled", mean(tier, failures(Outcome::Throttled))),
            },
            Pressure {
                what: "p95 latency SLO",
                unit: Unit::Ms,
                used: estimate(tier, |t| t.worst_window_p95_ms),
                limit: scenario.slo.p95_latency.secs() * 1_000.0,
                detail: "worst window".to_string(),
            },
            Pressure {
                what: "error-rate SLO",
                unit: Unit::Share,
                used: estimate(tier, |t| t.worst_window_error_rate),
                limit: scenario.slo.error_rate.0,
                detail: "worst window".to_string(),
            },
        ];
        let first = pressures
            .iter()
            .filter(|p| p.used.mean.is_finite() && p.limit > 0.0)
            .max_by(|a, b| (a.used.mean / a.limit).total_cmp(&(b.used.mean / b.limit)));
        let _ = write!(
            text,
            "  {} ({} users): p95 {:.0} ms, errors {:.2}%, peak {:.1} req/s",
            tier.name,
            tier.users,
            mean(tier, |t| t.latency.p95_ms),
            mean(tier, TierResults::error_rate) * 100.0,
            mean(tier, |t| Some(t.peak_rps)),
        );
        if let Some(p) = first {
            let half_width = if p.used.half_width.is_finite() {
                format!(" ± {}", p.unit.show(p.used.half_width))
            } else {
                String::new()
            };
            let _ = write!(
                text,
                "\n    {}: {} at {}% ({}{half_width} of {}; {})",
                verdict(p),
                p.what,
                significant(p.used.mean / p.limit * 100.0),
                p.unit.show(p.used.mean),
                p.unit.show(p.limit),
                p.detail
            );
        }
        if scenario
            .functions
            .iter()
            .any(|f| f.model == FunctionModel::Fluid)
        {
            // A check to report against, never an input: Vercel's figure is
            // an aggregate over its platform (FACTS.md §4).
            let _ = write!(
                text,
                "\n    cold starts: {:.2}% of invocations (Vercel reports 0.63% platform-wide on Fluid)",
                mean(tier, TierResults::cold_start_ratio) * 100.0
            );
        }
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::{Estimate, Pressure, Unit, significant, verdict};

    fn pressure(mean: f64, half_width: f64) -> Pressure {
        Pressure {
            what: "error-rate SLO",
            used: Estimate { mean, half_width },
            limit: 0.01,
            unit: Unit::Share,
            detail: String::new(),
        }
    }

    #[test]
    fn a_verdict_at_the_limit_says_so() {
        assert_eq!(
            verdict(&pressure(0.0104, 0.001)),
            "AT its limit (the 95% interval includes it)"
        );
        assert_eq!(verdict(&pressure(0.0104, 0.0001)), "OVER its limit");
        assert_eq!(verdict(&pressure(0.008, 0.001)), "closest to its limit");
        assert_eq!(
            verdict(&pressure(0.01, f64::NAN)),
            "AT its limit (the 95% interval includes it)"
        );
        assert_eq!(Unit::Share.show(0.0104), "1.04%");
        assert_eq!(Unit::Ms.show(1_993.93), "1994 ms");
        assert_eq!(significant(0.000_123_4), "0.000123");
    }
}
