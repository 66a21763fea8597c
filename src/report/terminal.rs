//! The terminal summary: per tier, the resource closest to (or past) its
//! limit, which is what saturates first as users grow.

use std::fmt::Write;

use crate::experiment::{ScenarioRun, TierRun};
use crate::model::{NodeResults, Outcome, TierResults};
use crate::scenario::{DbAccess, FunctionModel, Scenario};

/// One resource's load against its limit.
struct Pressure {
    what: &'static str,
    used: f64,
    limit: f64,
    detail: String,
}

/// The mean over `tier`'s replications of what `measure` reads from each.
fn mean(tier: &TierRun, measure: impl Fn(&TierResults) -> Option<f64>) -> f64 {
    tier.estimate(|r| measure(&r.tier)).mean
}

/// A count as a number to average.
fn count(value: u64) -> Option<f64> {
    Some(value as f64)
}

/// The largest mean over the read replicas of what `measure` reads from each.
fn busiest_replica(tier: &TierRun, measure: impl Fn(&NodeResults) -> Option<f64>) -> f64 {
    let replicas = tier
        .replications
        .first()
        .map_or(0, |r| r.tier.replicas.len());
    (0..replicas)
        .map(|i| mean(tier, |t| measure(&t.replicas[i])))
        .fold(f64::NAN, f64::max)
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
                used: mean(tier, |t| count(t.primary.peak_demanded)),
                limit: mean(tier, |t| Some(f64::from(t.primary.connection_limit))),
                detail: format!(
                    "{:.0} demanded at peak, {:.0} refused",
                    mean(tier, |t| count(t.primary.peak_demanded)),
                    mean(tier, failures(Outcome::DbRefused))
                ),
            },
            Pressure {
                what: "pooler server connections",
                used: mean(tier, |t| pooler_servers(t).map(|l| l.peak_busy as f64)),
                limit: pooler.map_or(0.0, |p| f64::from(p.pool_size())),
                detail: format!(
                    "in use at peak; wait p95 {:.1} ms, {:.0} queries timed out",
                    mean(tier, |t| pooler_servers(t).and_then(|l| l.wait_p95_ms)),
                    mean(tier, failures(Outcome::PoolerTimeout))
                ),
            },
            Pressure {
                what: "pooler client connections",
                used: mean(tier, |t| t.primary.pooler.map(|p| p.peak_clients as f64)),
                limit: pooler.map_or(0.0, |_| f64::from(database.max_client_conn())),
                detail: format!(
                    "{:.0} refused",
                    mean(tier, failures(Outcome::PoolerRefused))
                ),
            },
            Pressure {
                what: "database CPUs",
                used: mean(tier, |t| cpus(t).map(|c| c.busiest_minute_utilisation)),
                limit: 1.0,
                detail: format!(
                    "utilisation in the busiest minute; query wait p95 {:.1} ms, longest {:.0} ms",
                    mean(tier, |t| cpus(t).and_then(|c| c.servers.wait_p95_ms)),
                    mean(tier, |t| cpus(t).and_then(|c| c.servers.max_wait_ms))
                ),
            },
            Pressure {
                what: "Data API pool",
                used: mean(tier, |t| count(t.primary.data_api.peak_busy)),
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
                used: busiest_replica(tier, |n| n.cpus.map(|c| c.busiest_minute_utilisation)),
                limit: if replicas > 0 { 1.0 } else { 0.0 },
                detail: "the busiest replica's busiest minute".to_string(),
            },
            Pressure {
                what: "read replica connections",
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
                used: mean(tier, |t| count(t.peak_instances)),
                limit: max_instances,
                detail: format!("{:.0} throttled", mean(tier, failures(Outcome::Throttled))),
            },
            Pressure {
                what: "p95 latency SLO",
                used: mean(tier, |t| t.worst_window_p95_ms),
                limit: scenario.slo.p95_latency.secs() * 1_000.0,
                detail: "worst window, ms".to_string(),
            },
            Pressure {
                what: "error-rate SLO",
                used: mean(tier, |t| t.worst_window_error_rate),
                limit: scenario.slo.error_rate.0,
                detail: "worst window".to_string(),
            },
        ];
        let first = pressures
            .iter()
            .filter(|p| p.used.is_finite() && p.limit > 0.0)
            .max_by(|a, b| (a.used / a.limit).total_cmp(&(b.used / b.limit)));
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
            let share = p.used / p.limit * 100.0;
            let verdict = if share >= 100.0 {
                "SATURATED"
            } else {
                "closest to its limit"
            };
            let _ = write!(
                text,
                "\n    {verdict}: {} at {:.0}% ({:.4} of {:.4}; {})",
                p.what, share, p.used, p.limit, p.detail
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
