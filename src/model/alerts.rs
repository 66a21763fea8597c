//! Monitoring alerts evaluated on a finished run, window by window: how many
//! minutes each fired, when it first fired, and whether it fired before the
//! first window that broke the scenario's SLO (monitoring that warns before
//! users notice).

use super::metrics::Metrics;
use super::results::AlertResults;
use crate::scenario::{AlertMetric, AlertRule, Scenario};
use crate::sim::NANOS_PER_SEC;
use crate::stats::{Gauge, WindowTracker};

/// The per-minute sources of the series-judged metrics.
pub struct MinuteSources<'a> {
    /// Open connections of the primary.
    pub connections: &'a Gauge,
    /// The run's metrics.
    pub metrics: &'a Metrics,
}

/// Minutes since time zero at which window `index` of `length_minutes`
/// (counted from `first_minute`) ends.
fn window_end(first_minute: usize, index: usize, length_minutes: f64) -> f64 {
    first_minute as f64 + (index + 1) as f64 * length_minutes
}

/// Each window's value of a series-judged `metric`, windows of
/// `length` minutes over `minutes`.
fn series_windows(
    metric: AlertMetric,
    sources: &MinuteSources,
    minutes: std::ops::Range<usize>,
    length: usize,
) -> Vec<f64> {
    let metrics = sources.metrics;
    let window_starts = minutes.clone().step_by(length.max(1));
    window_starts
        .map(|start| {
            let range = start..(start + length).min(minutes.end);
            let max = |gauge: &Gauge| gauge.minute_maxima()[range.clone()].iter().max().copied();
            let sum = |counts: &[u64]| counts[range.clone()].iter().sum::<u64>() as f64;
            match metric {
                AlertMetric::DbConnections => {
                    max(sources.connections).map_or(f64::NAN, |m| m as f64)
                }
                AlertMetric::Instances => max(&metrics.instances).map_or(f64::NAN, |m| m as f64),
                AlertMetric::AiFailures => sum(metrics.ai.failed.counts()),
                AlertMetric::RateLimited => sum(metrics.limited.counts()),
                AlertMetric::CdnHitRatio => {
                    let lookups = sum(metrics.cdn_lookups.counts());
                    if lookups > 0.0 {
                        sum(metrics.cdn_hits.counts()) / lookups
                    } else {
                        f64::NAN
                    }
                }
                AlertMetric::ErrorRate | AlertMetric::P95Latency => f64::NAN,
            }
        })
        .collect()
}

/// The windows' values of a request-judged metric from its tracker.
fn tracker_windows(metric: AlertMetric, tracker: &WindowTracker) -> Vec<f64> {
    tracker
        .windows()
        .iter()
        .map(|window| match metric {
            AlertMetric::P95Latency => window.p95_ms,
            _ => window.error_rate,
        })
        .collect()
}

/// Per alert of `scenario`, in order: the minutes it fired, when it first
/// fired (window end, minutes since time zero) and whether it fired by the
/// end of the first SLO-breaking window (none without a breach); and the end
/// of that first breaking window. `trackers` are the finished trackers of
/// the request-judged alerts' window lengths other than the SLO's.
pub fn alert_results(
    scenario: &Scenario,
    sources: &MinuteSources,
    trackers: &[WindowTracker],
    minutes: std::ops::Range<usize>,
) -> (Vec<AlertResults>, Option<f64>) {
    let slo = &scenario.slo;
    let slo_ms = slo.p95_latency.secs() * 1_000.0;
    let slo_minutes = slo.window.nanos() as f64 / (60 * NANOS_PER_SEC) as f64;
    let breach = sources
        .metrics
        .window
        .windows()
        .iter()
        .position(|w| w.p95_ms > slo_ms || w.error_rate > slo.error_rate.0)
        .map(|index| window_end(minutes.start, index, slo_minutes));
    let alerts = scenario
        .alert_rules()
        .iter()
        .map(|rule| {
            let AlertRule { metric, .. } = &rule;
            let length_minutes = (rule.window.nanos() / (60 * NANOS_PER_SEC)) as usize;
            let windows = if metric.per_request() {
                let length = rule.window.nanos();
                let tracker = trackers
                    .iter()
                    .chain([&sources.metrics.window])
                    .find(|t| t.length() == length)
                    .expect("a tracker for every request-judged alert's window");
                tracker_windows(*metric, tracker)
            } else {
                series_windows(*metric, sources, minutes.clone(), length_minutes)
            };
            let fired: Vec<usize> = (0..windows.len())
                .filter(|&i| rule.fires(windows[i]))
                .collect();
            let first_minute = fired
                .first()
                .map(|&i| window_end(minutes.start, i, length_minutes as f64));
            AlertResults {
                minutes: (fired.len() * length_minutes) as u64,
                first_minute,
                before_breach: breach.map(|breach| first_minute.is_some_and(|f| f <= breach)),
            }
        })
        .collect();
    (alerts, breach)
}
