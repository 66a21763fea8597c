//! `alerts.csv`: per tier and alert, how many minutes the alert fired (mean
//! over replications), in how many replications, when it first fired, and
//! whether it fired before the first window that broke the SLO.

use std::io::{self, Write};

use super::{Exporter, push_estimate};
use crate::experiment::{ScenarioRun, TierRun};
use crate::model::Replication;
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

/// What `measure` reads from each of `tier`'s replications, where it has a value.
fn known<T>(tier: &TierRun, measure: impl Fn(&Replication) -> Option<T>) -> Vec<T> {
    tier.replications.iter().filter_map(measure).collect()
}

/// "k/n": of the replications where `measure` has a value, those where `test` holds.
fn count<T>(
    tier: &TierRun,
    measure: impl Fn(&Replication) -> Option<T>,
    test: impl Fn(&T) -> bool,
) -> String {
    let values = known(tier, measure);
    let passed = values.iter().filter(|v| test(v)).count();
    format!("{passed}/{}", values.len())
}

/// The earliest minute `measure` reads over replications, as "day N HH:MM".
fn earliest(tier: &TierRun, measure: impl Fn(&Replication) -> Option<f64>) -> String {
    let first = known(tier, measure)
        .into_iter()
        .fold(f64::INFINITY, f64::min);
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
            for (index, rule) in stack.alert_rules().iter().enumerate() {
                let alert = |r: &Replication| r.tier.alerts[index];
                let mut row = vec![
                    tier.name.clone(),
                    tier.users.to_string(),
                    rule.name.clone(),
                    rule.metric.name().to_string(),
                    condition(rule),
                    (rule.window.secs() / 60.0).to_string(),
                ];
                let minutes: Vec<f64> = tier
                    .replications
                    .iter()
                    .map(|r| alert(r).minutes as f64)
                    .collect();
                push_estimate(&mut row, &minutes);
                row.push(count(tier, |r| Some(alert(r).minutes), |m| *m > 0));
                row.push(earliest(tier, |r| alert(r).first_minute));
                let breach = |r: &Replication| r.tier.slo_first_breach_minute;
                row.push(format!(
                    "{}/{}",
                    known(tier, breach).len(),
                    tier.replications.len()
                ));
                row.push(earliest(tier, breach));
                row.push(count(tier, |r| alert(r).before_breach, |fired| *fired));
                csv.write_record(&row)?;
            }
        }
        csv.flush()
    }
}
