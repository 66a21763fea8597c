//! The results of one replication: scalars per tier and route, and the
//! per-minute series, ready to be averaged over replications.

use super::database::Database;
use super::metrics::Metrics;
use crate::scenario::{RouteSlo, Scenario};
use crate::sim::{NANOS_PER_SEC, SimTime};

/// One route's results.
#[derive(Clone, Debug, PartialEq)]
pub struct RouteResult {
    /// Requests after warm-up.
    pub requests: f64,
    /// Latency percentiles of answered requests, ms.
    pub p50_ms: f64,
    /// 95th percentile, ms.
    pub p95_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Failed share of requests.
    pub error_rate: f64,
    /// Connection refusals.
    pub db_refused: f64,
    /// Throttled requests.
    pub throttled: f64,
    /// Timed-out requests.
    pub timeouts: f64,
    /// Requests that waited for a cold start.
    pub cold_starts: f64,
    /// Worst-window p95 for a route with its own SLO (else NaN), ms.
    pub worst_window_p95_ms: f64,
}

/// One minute of the series.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MinuteRow {
    /// Requests per second in the minute.
    pub rps: f64,
    /// Most instances alive.
    pub instances: f64,
    /// Most open DB connections.
    pub db_connections: f64,
    /// Most DB connections demanded.
    pub db_demanded: f64,
    /// Failed requests.
    pub errors: f64,
}

/// One replication of one tier.
#[derive(Clone, Debug, PartialEq)]
pub struct Replication {
    /// Tier-level scalars, in the order of [`Replication::COLUMNS`].
    pub values: Vec<f64>,
    /// Per route, in scenario order.
    pub routes: Vec<RouteResult>,
    /// Per minute from time zero.
    pub minutes: Vec<MinuteRow>,
    /// First minute after warm-up.
    pub first_minute: usize,
}

impl Replication {
    /// Names of the tier-level scalars, as summary.csv columns.
    pub const COLUMNS: &'static [&'static str] = &[
        "requests",
        "peak_rps",
        "p50_ms",
        "p95_ms",
        "p99_ms",
        "mean_latency_ms",
        "mean_wait_ms",
        "error_rate",
        "db_refused",
        "throttled",
        "timeouts",
        "cold_starts",
        "cold_start_ratio",
        "invocations",
        "peak_instances",
        "mean_instances",
        "peak_db_connections",
        "mean_db_connections",
        "peak_db_demanded",
        "db_connection_limit",
        "worst_window_p95_ms",
        "worst_window_error_rate",
        "slo_met",
        "cpu_seconds",
        "gb_seconds",
    ];

    /// The value of scalar `name`.
    pub fn value(&self, name: &str) -> f64 {
        Self::COLUMNS
            .iter()
            .position(|c| *c == name)
            .map_or(f64::NAN, |i| self.values[i])
    }

    /// Gathers the results of a finished run.
    pub fn collect(
        scenario: &Scenario,
        end: SimTime,
        mut metrics: Metrics,
        database: &mut Database,
    ) -> Self {
        let warmup = scenario.warmup.as_ref().map_or(0, |w| w.value.nanos());
        let first_minute = (warmup / (60 * NANOS_PER_SEC)) as usize;
        let (peak_instances, mean_instances) = metrics.instances.finish(end);
        let (peak_open, mean_open) = database.open.finish(end);
        let (peak_demanded, _) = database.demanded.finish(end);
        let (worst_p95, worst_errors) = metrics.window.finish();

        let mut slo_met = within(worst_p95, scenario.slo.p95_latency.secs() * 1_000.0)
            && within(worst_errors, scenario.slo.error_rate.0);
        let mut routes = Vec::with_capacity(metrics.routes.len());
        let (mut requests, mut refused, mut throttled, mut timeouts, mut cold) =
            (0u64, 0u64, 0u64, 0u64, 0u64);
        for (route, config) in metrics.routes.iter_mut().zip(&scenario.routes.value) {
            let worst_window_p95_ms = match (&mut route.own_window, config.slo) {
                (Some(window), Some(RouteSlo::Own { p95_latency })) => {
                    let (p95, _) = window.finish();
                    slo_met &= within(p95, p95_latency.secs() * 1_000.0);
                    p95
                }
                _ => f64::NAN,
            };
            let failed = route.db_refused + route.throttled + route.timeouts;
            requests += route.requests;
            refused += route.db_refused;
            throttled += route.throttled;
            timeouts += route.timeouts;
            cold += route.cold_starts;
            routes.push(RouteResult {
                requests: route.requests as f64,
                p50_ms: route.latency.quantile_ms(0.50),
                p95_ms: route.latency.quantile_ms(0.95),
                p99_ms: route.latency.quantile_ms(0.99),
                error_rate: ratio(failed, route.requests),
                db_refused: route.db_refused as f64,
                throttled: route.throttled as f64,
                timeouts: route.timeouts as f64,
                cold_starts: route.cold_starts as f64,
                worst_window_p95_ms,
            });
        }
        let minute_count = metrics.arrivals.counts().len();
        let minutes = (0..minute_count)
            .map(|m| MinuteRow {
                rps: metrics.arrivals.counts()[m] as f64 / 60.0,
                instances: metrics.instances.minute_maxima()[m] as f64,
                db_connections: database.open.minute_maxima()[m] as f64,
                db_demanded: database.demanded.minute_maxima()[m] as f64,
                errors: metrics.errors.counts()[m] as f64,
            })
            .collect();
        let values = vec![
            requests as f64,
            metrics.arrivals.peak_from(first_minute) as f64 / 60.0,
            metrics.latency.quantile_ms(0.50),
            metrics.latency.quantile_ms(0.95),
            metrics.latency.quantile_ms(0.99),
            metrics.latency.mean_ms(),
            if metrics.wait_count > 0 {
                metrics.wait_sum / metrics.wait_count as f64 * 1_000.0
            } else {
                f64::NAN
            },
            ratio(refused + throttled + timeouts, requests),
            refused as f64,
            throttled as f64,
            timeouts as f64,
            cold as f64,
            ratio(cold, metrics.invocations),
            metrics.invocations as f64,
            peak_instances as f64,
            mean_instances,
            peak_open as f64,
            mean_open,
            peak_demanded as f64,
            f64::from(database.limit),
            worst_p95,
            worst_errors,
            if slo_met { 1.0 } else { 0.0 },
            metrics.cpu_seconds,
            metrics.gb_seconds,
        ];
        debug_assert_eq!(values.len(), Self::COLUMNS.len());
        Self {
            values,
            routes,
            minutes,
            first_minute,
        }
    }
}

/// Whether a worst-window value meets its limit; no qualifying window (NaN)
/// gives no evidence against it.
fn within(value: f64, limit: f64) -> bool {
    value.is_nan() || value <= limit
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        f64::NAN
    } else {
        part as f64 / whole as f64
    }
}
