//! The terminal summary: per tier, the resource closest to (or past) its
//! limit, which is what saturates first as users grow.

use std::fmt::Write;

use crate::experiment::ScenarioRun;
use crate::model::Replication;
use crate::scenario::{DbAccess, Scenario};
use crate::stats::estimate;

/// One resource's load against its limit.
struct Pressure {
    what: &'static str,
    used: f64,
    limit: f64,
    detail: String,
}

fn mean(replications: &[Replication], column: &str) -> f64 {
    let values: Vec<f64> = replications.iter().map(|r| r.value(column)).collect();
    estimate(&values).mean
}

/// The largest mean of `replica<i>_<column>` over the replicas.
fn busiest_replica(replications: &[Replication], replicas: u32, column: &str) -> f64 {
    (1..=replicas)
        .map(|i| mean(replications, &format!("replica{i}_{column}")))
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
        let reps = &tier.replications;
        let replicas = database.read_replicas.as_ref().map_or(0, |r| r.value);
        let pressures = [
            Pressure {
                what: "database connections",
                used: mean(reps, "peak_db_demanded"),
                limit: mean(reps, "db_connection_limit"),
                detail: format!(
                    "{:.0} demanded at peak, {:.0} refused",
                    mean(reps, "peak_db_demanded"),
                    mean(reps, "db_refused")
                ),
            },
            Pressure {
                what: "pooler server connections",
                used: mean(reps, "pooler_peak_busy"),
                limit: pooler.map_or(0.0, |p| f64::from(p.default_pool_size)),
                detail: format!(
                    "in use at peak; wait p95 {:.1} ms, {:.0} queries timed out",
                    mean(reps, "pooler_wait_p95_ms"),
                    mean(reps, "pooler_timeouts")
                ),
            },
            Pressure {
                what: "pooler client connections",
                used: mean(reps, "pooler_peak_clients"),
                limit: pooler.map_or(0.0, |_| f64::from(database.max_client_conn())),
                detail: format!("{:.0} refused", mean(reps, "pooler_refused")),
            },
            Pressure {
                what: "database CPUs",
                used: mean(reps, "db_cpu_busiest_minute_utilisation"),
                limit: 1.0,
                detail: format!(
                    "utilisation in the busiest minute; query wait p95 {:.1} ms, longest {:.0} ms",
                    mean(reps, "db_cpu_wait_p95_ms"),
                    mean(reps, "db_cpu_max_wait_ms")
                ),
            },
            Pressure {
                what: "Data API pool",
                used: mean(reps, "data_api_peak_busy"),
                limit: if uses_data_api(scenario) {
                    f64::from(database.data_api_pool())
                } else {
                    0.0
                },
                detail: format!(
                    "busy at peak; wait p95 {:.1} ms, {:.0} timed out",
                    mean(reps, "data_api_wait_p95_ms"),
                    mean(reps, "data_api_timeouts")
                ),
            },
            Pressure {
                what: "read replica CPUs",
                used: busiest_replica(reps, replicas, "db_cpu_busiest_minute_utilisation"),
                limit: if replicas > 0 { 1.0 } else { 0.0 },
                detail: "the busiest replica's busiest minute".to_string(),
            },
            Pressure {
                what: "read replica connections",
                used: busiest_replica(reps, replicas, "peak_db_demanded"),
                limit: if replicas > 0 {
                    mean(reps, "replica1_db_connection_limit")
                } else {
                    0.0
                },
                detail: "demanded at peak on the busiest replica".to_string(),
            },
            Pressure {
                what: "function instances",
                used: mean(reps, "peak_instances"),
                limit: max_instances,
                detail: format!("{:.0} throttled", mean(reps, "throttled")),
            },
            Pressure {
                what: "p95 latency SLO",
                used: mean(reps, "worst_window_p95_ms"),
                limit: scenario.slo.p95_latency.secs() * 1_000.0,
                detail: "worst window, ms".to_string(),
            },
            Pressure {
                what: "error-rate SLO",
                used: mean(reps, "worst_window_error_rate"),
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
            mean(reps, "p95_ms"),
            mean(reps, "error_rate") * 100.0,
            mean(reps, "peak_rps"),
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
