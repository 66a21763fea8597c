//! `alerts.csv`: per tier and alert, how many minutes the alert fired (mean
//! over replications), in how many replications, when it first fired, and
//! whether it fired before the first window that broke the SLO.

use std::io::{self, Write};

use super::{Exporter, push_estimate};
use crate::experiment::{ScenarioRun, TierRun};
use crate::scenario::{AlertMetric, AlertRule, DayTime, Duration};

/// The simulated monitoring alerts.
pub struct AlertsCsv;

/// "above 50", "below 80%", "above 3000 ms".
fn condition(rule: &AlertRule) -> String {
    let side = if rule.above { "above" } else { "below" };
    let threshold = match rule.metric {
        AlertMetric::ErrorRate | AlertMetric::CdnHitRatio => {
            format!("{}%", super::number(rule.threshold * 100.0))
        }
        AlertMetric::P95Latency => format!("{} ms", super::number(rule.threshold)),
        _ => super::number(rule.threshold),
    };
    format!("{side} {threshold}")
}

/// The replications where `name` is finite.
fn finite(tier: &TierRun, name: &str) -> Vec<f64> {
    tier.replications
        .iter()
        .map(|r| r.value(name))
        .filter(|v| v.is_finite())
        .collect()
}

/// How many replications have a finite `name`.
fn count_finite(tier: &TierRun, name: &str) -> usize {
    finite(tier, name).len()
}

/// "k/n": replications where `name` is finite and `test` holds, of those finite.
fn count(tier: &TierRun, name: &str, test: impl Fn(f64) -> bool) -> String {
    let values = finite(tier, name);
    let passed = values.iter().filter(|v| test(**v)).count();
    format!("{passed}/{}", values.len())
}

/// The earliest of `name` over replications, as "day N HH:MM".
fn earliest(tier: &TierRun, name: &str) -> String {
    let first = finite(tier, name).into_iter().fold(f64::INFINITY, f64::min);
    if first.is_finite() {
        DayTime(Duration::from_secs(first as u64 * 60)).to_string()
    } else {
        String::new()
    }
}

impl<'a> Exporter<ScenarioRun<'a>> for AlertsCsv {
    fn file_name(&self) -> String {
        "alerts.csv".into()
    }

    fn write(&self, run: &ScenarioRun<'a>, out: &mut dyn Write) -> io::Result<()> {
        let mut csv = csv::Writer::from_writer(out);
        csv.write_record([
            "tier",
            "users",
            "alert",
            "metric",
            "condition",
            "window_minutes",
            "minutes_fired",
            "minutes_fired_ci95",
            "replications_fired",
            "first_fired",
            "replications_breaching_slo",
            "first_slo_breach",
            "fired_before_breach",
        ])?;
        for (tier, stack) in run.tiers.iter().zip(&run.stacks) {
            for rule in stack.alert_rules() {
                let name = |field: &str| format!("alert_{}_{field}", rule.name);
                let mut row = vec![
                    tier.name.clone(),
                    tier.users.to_string(),
                    rule.name.clone(),
                    rule.metric.name().to_string(),
                    condition(&rule),
                    (rule.window.secs() / 60.0).to_string(),
                ];
                let minutes: Vec<f64> = tier
                    .replications
                    .iter()
                    .map(|r| r.value(&name("minutes")))
                    .collect();
                push_estimate(&mut row, &minutes);
                row.push(count(tier, &name("minutes"), |m| m > 0.0));
                row.push(earliest(tier, &name("first_minute")));
                row.push(format!(
                    "{}/{}",
                    count_finite(tier, "slo_first_breach_minute"),
                    tier.replications.len()
                ));
                row.push(earliest(tier, "slo_first_breach_minute"));
                row.push(count(tier, &name("before_breach"), |b| b > 0.0));
                csv.write_record(&row)?;
            }
        }
        csv.flush()
    }
}
