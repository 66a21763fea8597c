//! The terminal summary: per tier, the resource closest to (or past) its
//! limit, which is what saturates first as users grow.

use std::fmt::Write;

use crate::experiment::{ScenarioRun, TierRun};
use crate::scenario::{DbAccess, Scenario};

/// One resource's load against its limit.
struct Pressure {
    what: &'static str,
    used: f64,
    limit: f64,
    detail: String,
}

/// The mean of `column` over `tier`'s replications.
fn mean(tier: &TierRun, column: &str) -> f64 {
    tier.estimate(column).mean
}

/// The largest mean of `replica<i>_<column>` over the replicas.
fn busiest_replica(tier: &TierRun, replicas: u32, column: &str) -> f64 {
    (1..=replicas)
        .map(|i| mean(tier, &format!("replica{i}_{column}")))
        .fold(f64::NAN, f64::max)
}

fn uses_data_api(scenario: &Scenario) -> bool {
    scenario
        .routes
        .value
        .iter()
        .any(|r| r.db_access.as_ref().map(|a| a.value) == Some(DbAccess::DataApi))
}

/// A few lines per tier naming what saturates first and how far.
pub fn saturation_summary(run: &ScenarioRun) -> String {
    let mut text = String::new();
    let _ = writeln!(text, "{}:", run.scenario.name.value);
    for (tier, scenario) in run.tiers.iter().zip(&run.stacks) {
        let max_instances: f64 = scenario
            .functions
            .value
            .iter()
            .map(|f| f64::from(f.max_instances.value))
            .sum();
        let database = &scenario.database;
        let pooler = database.pooler.filter(|p| p.enabled);
        let replicas = database.read_replicas.as_ref().map_or(0, |r| r.value);
        let pressures = [
            Pressure {
                what: "database connections",
                used: mean(tier, "peak_db_demanded"),
                limit: mean(tier, "db_connection_limit"),
                detail: format!(
                    "{:.0} demanded at peak, {:.0} refused",
                    mean(tier, "peak_db_demanded"),
                    mean(tier, "db_refused")
                ),
            },
            Pressure {
                what: "pooler server connections",
                used: mean(tier, "pooler_peak_busy"),
                limit: pooler.map_or(0.0, |p| f64::from(p.default_pool_size)),
                detail: format!(
                    "in use at peak; wait p95 {:.1} ms, {:.0} queries timed out",
                    mean(tier, "pooler_wait_p95_ms"),
                    mean(tier, "pooler_timeouts")
                ),
            },
            Pressure {
                what: "pooler client connections",
                used: mean(tier, "pooler_peak_clients"),
                limit: pooler.map_or(0.0, |_| f64::from(database.max_client_conn())),
                detail: format!("{:.0} refused", mean(tier, "pooler_refused")),
            },
            Pressure {
                what: "database CPUs",
                used: mean(tier, "db_cpu_busiest_minute_utilisation"),
                limit: 1.0,
                detail: format!(
                    "utilisation in the busiest minute; query wait p95 {:.1} ms, longest {:.0} ms",
                    mean(tier, "db_cpu_wait_p95_ms"),
                    mean(tier, "db_cpu_max_wait_ms")
                ),
            },
            Pressure {
                what: "Data API pool",
                used: mean(tier, "data_api_peak_busy"),
                limit: if uses_data_api(scenario) {
                    f64::from(database.data_api_pool())
                } else {
                    0.0
                },
                detail: format!(
                    "busy at peak; wait p95 {:.1} ms, {:.0} timed out",
                    mean(tier, "data_api_wait_p95_ms"),
                    mean(tier, "data_api_timeouts")
                ),
            },
            Pressure {
                what: "read replica CPUs",
                used: busiest_replica(tier, replicas, "db_cpu_busiest_minute_utilisation"),
                limit: if replicas > 0 { 1.0 } else { 0.0 },
                detail: "the busiest replica's busiest minute".to_string(),
            },
            Pressure {
                what: "read replica connections",
                used: busiest_replica(tier, replicas, "peak_db_demanded"),
                limit: if replicas > 0 {
                    mean(tier, "replica1_db_connection_limit")
                } else {
                    0.0
                },
                detail: "demanded at peak on the busiest replica".to_string(),
            },
            Pressure {
                what: "function instances",
                used: mean(tier, "peak_instances"),
                limit: max_instances,
                detail: format!("{:.0} throttled", mean(tier, "throttled")),
            },
            Pressure {
                what: "p95 latency SLO",
                used: mean(tier, "worst_window_p95_ms"),
                limit: scenario.slo.p95_latency.secs() * 1_000.0,
                detail: "worst window, ms".to_string(),
            },
            Pressure {
                what: "error-rate SLO",
                used: mean(tier, "worst_window_error_rate"),
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
            mean(tier, "p95_ms"),
            mean(tier, "error_rate") * 100.0,
            mean(tier, "peak_rps"),
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
        text.push('\n');
    }
    text
}
