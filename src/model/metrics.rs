//! What one replication measures, recorded as the run goes (streaming: no
//! per-request storage), and the scalar results it reports.

use crate::scenario::RouteSlo;
use crate::sim::{SimDuration, SimTime, duration_to_secs};
use crate::stats::{Gauge, LatencyHistogram, MinuteSeries, WindowTracker};

/// How a user-facing request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Answered.
    Ok,
    /// The database refused a connection (53300, too many clients).
    DbRefused,
    /// No instance could take it (503 FUNCTION_THROTTLED).
    Throttled,
    /// It ran past the function's max_duration (504).
    Timeout,
}

/// A window of a route or tier needs this many requests for its p95 to count.
pub const MIN_WINDOW_REQUESTS: u64 = 20;

/// Per-route measurements.
#[derive(Clone, Debug)]
pub struct RouteMetrics {
    /// Latency of answered requests.
    pub latency: LatencyHistogram,
    /// Requests that arrived after warm-up.
    pub requests: u64,
    /// Of those, by outcome.
    pub db_refused: u64,
    /// Throttled (503).
    pub throttled: u64,
    /// Timed out (504).
    pub timeouts: u64,
    /// Requests that waited for a cold start.
    pub cold_starts: u64,
    /// The route's own SLO window, when it has its own target.
    pub own_window: Option<WindowTracker>,
    /// Whether the scenario-wide latency SLO judges it.
    pub judged_by_scenario: bool,
}

/// Everything one replication records.
#[derive(Clone, Debug)]
pub struct Metrics {
    warmup: SimTime,
    /// Per route.
    pub routes: Vec<RouteMetrics>,
    /// Latency of answered requests on routes judged by the scenario SLO.
    pub latency: LatencyHistogram,
    /// Sum of waits for a slot and cold start, seconds.
    pub wait_sum: f64,
    /// Requests whose wait is in `wait_sum`.
    pub wait_count: u64,
    /// Worst windows for the scenario SLO.
    pub window: WindowTracker,
    /// Requests arriving per minute.
    pub arrivals: MinuteSeries,
    /// Failed requests per minute.
    pub errors: MinuteSeries,
    /// Instances alive, all functions.
    pub instances: Gauge,
    /// Handler CPU seconds.
    pub cpu_seconds: f64,
    /// Instance memory x lifetime, GiB-seconds.
    pub gb_seconds: f64,
    /// Requests that ran on an instance.
    pub invocations: u64,
}

impl Metrics {
    /// Metrics for `routes` (their SLOs), from `warmup`, over `minutes`
    /// minutes, with SLO windows of `window`.
    pub fn new(
        routes: &[Option<RouteSlo>],
        warmup: SimTime,
        minutes: usize,
        window: SimDuration,
    ) -> Self {
        let routes = routes
            .iter()
            .map(|slo| RouteMetrics {
                latency: LatencyHistogram::new(3),
                requests: 0,
                db_refused: 0,
                throttled: 0,
                timeouts: 0,
                cold_starts: 0,
                own_window: matches!(slo, Some(RouteSlo::Own { .. }))
                    .then(|| WindowTracker::new(warmup, window, MIN_WINDOW_REQUESTS)),
                judged_by_scenario: slo.is_none(),
            })
            .collect();
        Self {
            warmup,
            routes,
            latency: LatencyHistogram::new(3),
            wait_sum: 0.0,
            wait_count: 0,
            window: WindowTracker::new(warmup, window, MIN_WINDOW_REQUESTS),
            arrivals: MinuteSeries::new(minutes),
            errors: MinuteSeries::new(minutes),
            instances: Gauge::new(warmup, minutes),
            cpu_seconds: 0.0,
            gb_seconds: 0.0,
            invocations: 0,
        }
    }

    /// Whether a request that arrived at `arrival` counts.
    #[inline]
    pub fn counts(&self, arrival: SimTime) -> bool {
        arrival >= self.warmup
    }

    /// A request arrived.
    #[inline]
    pub fn arrival(&mut self, now: SimTime, route: usize) {
        self.arrivals.bump(now);
        if self.counts(now) {
            self.routes[route].requests += 1;
        }
    }

    /// A request started running on an instance after waiting `wait`.
    #[inline]
    pub fn started(&mut self, arrival: SimTime, wait: SimDuration, cpu: SimDuration) {
        if self.counts(arrival) {
            self.invocations += 1;
            self.wait_sum += duration_to_secs(wait);
            self.wait_count += 1;
            self.cpu_seconds += duration_to_secs(cpu);
        }
    }

    /// A request waited for a cold start.
    #[inline]
    pub fn cold_start(&mut self, arrival: SimTime, route: usize) {
        if self.counts(arrival) {
            self.routes[route].cold_starts += 1;
        }
    }

    /// A request ended at `now`.
    #[inline]
    pub fn finished(&mut self, now: SimTime, arrival: SimTime, route: usize, outcome: Outcome) {
        if outcome != Outcome::Ok {
            self.errors.bump(now);
        }
        if !self.counts(arrival) {
            return;
        }
        let latency = (outcome == Outcome::Ok).then(|| now - arrival);
        let metrics = &mut self.routes[route];
        match outcome {
            Outcome::Ok => metrics.latency.record(now - arrival),
            Outcome::DbRefused => metrics.db_refused += 1,
            Outcome::Throttled => metrics.throttled += 1,
            Outcome::Timeout => metrics.timeouts += 1,
        }
        if let Some(window) = &mut metrics.own_window {
            window.record(now, latency);
        }
        if metrics.judged_by_scenario
            && let Some(latency) = latency
        {
            self.latency.record(latency);
        }
        // Errors count against the scenario's error-rate SLO on every route.
        let judged_latency = latency.filter(|_| metrics.judged_by_scenario);
        if judged_latency.is_some() || latency.is_none() {
            self.window.record(now, judged_latency);
        }
    }

    /// An instance lived from `created` to `ended` with `memory_gb` GiB.
    pub fn instance_lifetime(&mut self, created: SimTime, ended: SimTime, memory_gb: f64) {
        let start = created.max(self.warmup);
        if ended > start {
            self.gb_seconds += duration_to_secs(ended - start) * memory_gb;
        }
    }
}
