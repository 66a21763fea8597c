//! What one replication measures, recorded as the run goes (streaming: no
//! per-request storage).

use serde::{Deserialize, Serialize};

use super::ai::TokenUsage;
use super::images::ImageCounts;
use super::results::{LimiterResults, MeteredUsage};
use crate::scenario::{Judge, PageView, Route, RouteSlo};
use crate::sim::{NANOS_PER_MILLI, NANOS_PER_SEC, SimDuration, SimTime};
use crate::stats::{Gauge, LatencyHistogram, MinuteSeries, WindowTracker};

/// How a request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum Outcome {
    /// Answered.
    Ok,
    /// Postgres refused a direct connection (53300, too many clients).
    DbRefused,
    /// The pooler refused a client connection (max_client_conn).
    PoolerRefused,
    /// The pooler dropped the client after query_wait_timeout.
    PoolerTimeout,
    /// PostgREST found no pool connection in time (504).
    DataApiTimeout,
    /// The driver found none of its instance's connections free in time
    /// (`connection_timeout`).
    ConnectionTimeout,
    /// No instance could take it (503 FUNCTION_THROTTLED).
    Throttled,
    /// It ran past the function's max_duration (504).
    Timeout,
    /// A rate limiter rejected it (429).
    RateLimited,
    /// The AI call failed after the SDK's retries.
    AiError,
    /// The circuit breaker failed the AI call fast.
    AiFastFailed,
    /// An external API's quota was used up.
    ExternalQuota,
    /// Postgres cancelled a query that ran or waited for a CPU past its
    /// role's statement timeout (SQLSTATE 57014).
    StatementTimeout,
}

impl Outcome {
    /// Every failure (every outcome but `Ok`), in report order.
    pub const FAILURES: [Outcome; 12] = [
        Outcome::DbRefused,
        Outcome::PoolerRefused,
        Outcome::PoolerTimeout,
        Outcome::DataApiTimeout,
        Outcome::ConnectionTimeout,
        Outcome::Throttled,
        Outcome::Timeout,
        Outcome::RateLimited,
        Outcome::AiError,
        Outcome::AiFastFailed,
        Outcome::ExternalQuota,
        Outcome::StatementTimeout,
    ];

    /// How many outcomes there are: `Ok` and the failures.
    pub const COUNT: usize = Self::FAILURES.len() + 1;
}

// Outcomes index arrays: `Ok` is 0 and the failures follow in their order.
const _: () = {
    assert!(Outcome::Ok as usize == 0);
    let mut index = 0;
    while index < Outcome::FAILURES.len() {
        assert!(Outcome::FAILURES[index] as usize == index + 1);
        index += 1;
    }
};

/// Who sent a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// A user: judged by the SLOs.
    User,
    /// An abusive client: counted apart.
    Abusive,
    /// The CDN revalidating a stale entry in the background.
    Revalidation,
    /// A background job's task.
    Job,
}

/// What the CDN did with a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CdnResult {
    /// Fresh hit.
    Fresh,
    /// Stale hit.
    Stale,
    /// Blocking miss.
    Miss,
}

/// A window of a route or tier needs this many requests for its p95 to count.
pub const MIN_WINDOW_REQUESTS: u64 = 20;

/// Per-route measurements, from warm-up.
#[derive(Clone, Debug)]
pub struct RouteMetrics {
    /// Latency of users' answered requests.
    pub latency: LatencyHistogram,
    /// Users' requests.
    pub requests: u64,
    /// Users' requests by outcome ([`Outcome`] as index).
    pub outcomes: [u64; Outcome::COUNT],
    /// Requests that waited for a cold start.
    pub cold_starts: u64,
    /// Requests that reached the CDN (users and abusive clients).
    pub edge_requests: u64,
    /// CDN fresh hits, stale hits and blocking misses.
    pub cdn: [u64; 3],
    /// Calls that reached the function behind the CDN (misses and revalidations).
    pub origin_calls: u64,
    /// App cache hits and misses.
    pub app_cache: [u64; 2],
    /// Abusive clients' requests.
    pub abusive_requests: u64,
    /// Of those, rejected by a rate limiter.
    pub abusive_limited: u64,
    /// Bytes of one answered response (`response_size`).
    pub response_bytes: u64,
    /// The route's own SLO window, when it has its own target.
    pub own_window: Option<WindowTracker>,
    /// Whether the scenario-wide latency SLO judges it.
    pub judged_by_scenario: bool,
    /// Whether its latency runs to the AI answer's first token.
    pub to_first_token: bool,
}

/// Significant digits of the routes' latency histograms (and of their
/// merge, the scenario's).
const ROUTE_DIGITS: u8 = 3;

/// Everything one replication records.
#[derive(Clone, Debug)]
pub struct Metrics {
    warmup: SimTime,
    /// Per route.
    pub routes: Vec<RouteMetrics>,
    /// Sum of users' waits for a slot and cold start, nanoseconds.
    pub wait_nanos: u128,
    /// Requests whose wait is in `wait_nanos`.
    pub wait_count: u64,
    /// Worst windows for the scenario SLO.
    pub window: WindowTracker,
    /// The scenario's windows again at each request-judged alert's length.
    pub alert_windows: Vec<WindowTracker>,
    /// Requests arriving per minute (users and abusive clients).
    pub arrivals: MinuteSeries,
    /// Users' failed requests per minute.
    pub errors: MinuteSeries,
    /// Requests answered by the CDN per minute.
    pub cdn_hits: MinuteSeries,
    /// CDN lookups (hits and misses) per minute.
    pub cdn_lookups: MinuteSeries,
    /// Requests rejected by rate limiters per minute.
    pub limited: MinuteSeries,
    /// Instances alive, all functions.
    pub instances: Gauge,
    /// User sessions open (between their first and last page).
    pub sessions: u64,
    /// Most sessions open at once after warm-up (a peak is all the reports
    /// need, so no per-minute gauge).
    pub peak_sessions: u64,
    /// Handler CPU time, nanoseconds. Sums of durations are kept in whole
    /// units (exact, whatever the order of the terms) and turned into
    /// seconds once, when reported.
    pub cpu_nanos: u128,
    /// Instance memory x lifetime, byte-nanoseconds.
    pub instance_byte_nanos: u128,
    /// Instance memory x the time it had a request in flight,
    /// byte-nanoseconds.
    pub busy_byte_nanos: u128,
    /// Memory times wall-clock invocation time (legacy billing),
    /// byte-nanoseconds.
    pub invocation_byte_nanos: u128,
    /// Bytes of answered responses sent to clients.
    pub transfer_bytes: u64,
    /// Requests that got a slot on an instance (billed, whatever the outcome).
    pub invocations: u64,
    /// Redis commands sent.
    pub redis_commands: u64,
    /// Redis commands sent per minute, warm-up included.
    pub redis_per_minute: MinuteSeries,
    /// What the providers meter beyond requests and compute; its active
    /// users and busiest Redis minute are counted when the run closes,
    /// from the two fields below.
    pub metered: MeteredUsage,
    /// Which users had a session or sent a message after warm-up, one bit each.
    pub active_users: Vec<u64>,
    /// Per limiter, the requests it rejected.
    pub limiters: Vec<LimiterResults>,
    /// The AI calls.
    pub ai: AiMetrics,
}

/// What the AI stage records, from warm-up.
#[derive(Clone, Debug)]
pub struct AiMetrics {
    /// Messages that reached the AI stage.
    pub messages: u64,
    /// Tokens of successful calls, by how they are billed.
    pub tokens: TokenCounts,
    /// Attempts answered 429 by a per-minute limit.
    pub rate_limited: u64,
    /// Attempts refused by the monthly spend cap or limit.
    pub spend_capped: u64,
    /// When the monthly spend cap was first reached.
    pub spend_cap_reached_at: Option<SimTime>,
    /// Attempts answered 529.
    pub overloaded: u64,
    /// Retries the SDK made.
    pub retries: u64,
    /// Times a breaker opened.
    pub breaker_opens: u64,
    /// Time from the start of the AI stage to the answer, successful calls.
    pub latency: LatencyHistogram,
    /// Time from the start of the AI stage to the answer's first token.
    pub first_token: LatencyHistogram,
    /// Attempts answered successfully per minute, by when they were sent.
    pub answered: MinuteSeries,
    /// Messages failed (errors and fast fails) per minute.
    pub failed: MinuteSeries,
}

/// Tokens of successful calls, by how the provider bills them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenCounts {
    /// Uncached input.
    pub input: u64,
    /// Input written to the cache, 5-minute lifetime.
    pub cache_write_5m: u64,
    /// Input written to the cache, 1-hour lifetime.
    pub cache_write_1h: u64,
    /// Input read from the cache.
    pub cache_read: u64,
    /// Output.
    pub output: u64,
}

impl TokenCounts {
    /// Adds one call's.
    pub fn add(&mut self, usage: &TokenUsage) {
        self.input += u64::from(usage.input);
        self.cache_write_5m += u64::from(usage.cache_write_5m);
        self.cache_write_1h += u64::from(usage.cache_write_1h);
        self.cache_read += u64::from(usage.cache_read);
        self.output += u64::from(usage.output);
    }
}

impl Metrics {
    /// Metrics for `routes` (their SLOs and response sizes) and `limiters`
    /// limiters, from `warmup`, over `minutes` minutes, with SLO windows of
    /// `window` and alert windows of `alert_windows` (one tracker each).
    pub fn new(
        routes: &[Route],
        limiters: usize,
        warmup: SimTime,
        minutes: usize,
        window: SimDuration,
        alert_windows: &[SimDuration],
    ) -> Self {
        let routes = routes
            .iter()
            .map(|route| RouteMetrics {
                latency: LatencyHistogram::new(ROUTE_DIGITS),
                requests: 0,
                outcomes: [0; Outcome::COUNT],
                cold_starts: 0,
                edge_requests: 0,
                cdn: [0; 3],
                origin_calls: 0,
                app_cache: [0; 2],
                abusive_requests: 0,
                abusive_limited: 0,
                response_bytes: route.response_size.map_or(0, |size| size.0),
                own_window: matches!(route.slo, Some(RouteSlo::Own { .. }))
                    .then(|| WindowTracker::new(warmup, window, MIN_WINDOW_REQUESTS)),
                judged_by_scenario: route.slo.is_none(),
                to_first_token: matches!(
                    route.slo,
                    Some(RouteSlo::Own {
                        judge: Judge::FirstToken,
                        ..
                    })
                ),
            })
            .collect();
        Self {
            warmup,
            routes,
            wait_nanos: 0,
            wait_count: 0,
            window: WindowTracker::new(warmup, window, MIN_WINDOW_REQUESTS),
            alert_windows: alert_windows
                .iter()
                .map(|&length| WindowTracker::new(warmup, length, MIN_WINDOW_REQUESTS))
                .collect(),
            arrivals: MinuteSeries::new(minutes),
            errors: MinuteSeries::new(minutes),
            cdn_hits: MinuteSeries::new(minutes),
            cdn_lookups: MinuteSeries::new(minutes),
            limited: MinuteSeries::new(minutes),
            instances: Gauge::new(warmup, minutes),
            sessions: 0,
            peak_sessions: 0,
            cpu_nanos: 0,
            instance_byte_nanos: 0,
            busy_byte_nanos: 0,
            invocation_byte_nanos: 0,
            transfer_bytes: 0,
            invocations: 0,
            redis_commands: 0,
            redis_per_minute: MinuteSeries::new(minutes),
            metered: MeteredUsage::default(),
            active_users: Vec::new(),
            limiters: vec![LimiterResults::default(); limiters],
            ai: AiMetrics {
                messages: 0,
                tokens: TokenCounts::default(),
                rate_limited: 0,
                spend_capped: 0,
                spend_cap_reached_at: None,
                overloaded: 0,
                retries: 0,
                breaker_opens: 0,
                latency: LatencyHistogram::new(3),
                first_token: LatencyHistogram::new(3),
                answered: MinuteSeries::new(minutes),
                failed: MinuteSeries::new(minutes),
            },
        }
    }

    /// Whether something at `at` counts.
    #[inline]
    pub fn counts(&self, at: SimTime) -> bool {
        at >= self.warmup
    }

    /// A user session opened at `now`.
    #[inline]
    pub fn session_opened(&mut self, now: SimTime) {
        self.sessions += 1;
        if self.counts(now) {
            self.peak_sessions = self.peak_sessions.max(self.sessions);
        }
    }

    /// A user session closed.
    #[inline]
    pub fn session_closed(&mut self) {
        self.sessions -= 1;
    }

    /// A request of `class` arrived at the edge.
    #[inline]
    pub fn arrival(&mut self, now: SimTime, route: usize, class: Class) {
        if class == Class::Job {
            return;
        }
        self.arrivals.bump(now);
        if !self.counts(now) {
            return;
        }
        let metrics = &mut self.routes[route];
        match class {
            Class::User => metrics.requests += 1,
            Class::Abusive => metrics.abusive_requests += 1,
            Class::Revalidation | Class::Job => return,
        }
        metrics.edge_requests += 1;
    }

    /// The CDN answered or missed a request that arrived at `arrival`.
    #[inline]
    pub fn cdn(&mut self, now: SimTime, arrival: SimTime, route: usize, result: CdnResult) {
        self.cdn_lookups.bump(now);
        if result != CdnResult::Miss {
            self.cdn_hits.bump(now);
        }
        if self.counts(arrival) {
            self.routes[route].cdn[result as usize] += 1;
        }
    }

    /// A call reached the function behind the CDN.
    #[inline]
    pub fn origin_call(&mut self, at: SimTime, route: usize) {
        if self.counts(at) {
            self.routes[route].origin_calls += 1;
        }
    }

    /// A request of `class` got a slot on an instance, ready after waiting
    /// `wait` since it arrived (queue and cold start): one invocation.
    #[inline]
    pub fn invoked(&mut self, arrival: SimTime, wait: SimDuration, class: Class) {
        if self.counts(arrival) {
            self.invocations += 1;
            if class == Class::User {
                self.wait_nanos += u128::from(wait);
                self.wait_count += 1;
            }
        }
    }

    /// A request's handler runs for `cpu`.
    #[inline]
    pub fn handler(&mut self, arrival: SimTime, cpu: SimDuration) {
        if self.counts(arrival) {
            self.cpu_nanos += u128::from(cpu);
        }
    }

    /// A request waited for a cold start.
    #[inline]
    pub fn cold_start(&mut self, arrival: SimTime, route: usize) {
        if self.counts(arrival) {
            self.routes[route].cold_starts += 1;
        }
    }

    /// The app cache answered at `now` a request that arrived at `arrival`,
    /// with one Redis command (GET); a miss later costs one more (SET).
    #[inline]
    pub fn app_cache(&mut self, (arrival, now): (SimTime, SimTime), route: usize, hit: bool) {
        if self.counts(arrival) {
            self.routes[route].app_cache[usize::from(!hit)] += 1;
            let commands = if hit { 1 } else { 2 };
            self.redis_commands += commands;
            self.redis_per_minute.add(now, commands);
        }
    }

    /// Limiter `limiter` answered a request of `class` at `now`.
    #[inline]
    pub fn limiter(
        &mut self,
        now: SimTime,
        limiter: usize,
        class: Class,
        allowed: bool,
        commands: u32,
    ) {
        if !self.counts(now) {
            return;
        }
        self.redis_commands += u64::from(commands);
        self.redis_per_minute.add(now, u64::from(commands));
        if !allowed {
            self.rejected(now, limiter, class);
        }
    }

    /// An instance's cache of blocked identifiers rejected a request of
    /// `class` at `now`, without asking Redis.
    pub fn limiter_cache_block(&mut self, now: SimTime, limiter: usize, class: Class) {
        if self.counts(now) {
            self.rejected(now, limiter, class);
            self.limiters[limiter].from_cache += 1;
        }
    }

    /// `user` was active at `now` (opened a session or sent a message).
    #[inline]
    pub fn user_active(&mut self, now: SimTime, user: u32) {
        if self.counts(now) {
            let (word, bit) = (user as usize / 64, user % 64);
            if word >= self.active_users.len() {
                self.active_users.resize(word + 1, 0);
            }
            self.active_users[word] |= 1 << bit;
        }
    }

    /// A page view at `now` loaded `page`'s static files and `images`
    /// images of `image_bytes` each.
    pub fn page_view(
        &mut self,
        now: SimTime,
        page: &PageView,
        images: ImageCounts,
        image_bytes: u64,
    ) {
        if self.counts(now) {
            let metered = &mut self.metered;
            metered.page_views += 1;
            metered.asset_requests += u64::from(page.assets);
            metered.asset_bytes += page.asset_bytes.0;
            metered.images.requests += images.requests;
            metered.images.transformations += images.transformations;
            metered.images.read_units += images.read_units;
            metered.images.write_units += images.write_units;
            metered.image_bytes += images.requests * image_bytes;
        }
    }

    /// An invocation of a request that arrived at `arrival` ended: its
    /// request crossed from the CDN, and its response back if `answered`.
    #[inline]
    pub fn origin_transfer(
        &mut self,
        arrival: SimTime,
        (request, response): (u64, u64),
        answered: bool,
    ) {
        if self.counts(arrival) {
            self.metered.origin_bytes += request + if answered { response } else { 0 };
        }
    }

    /// A query of a request that arrived at `arrival` returned `bytes`.
    #[inline]
    pub fn db_egress(&mut self, arrival: SimTime, bytes: u64) {
        if self.counts(arrival) {
            self.metered.db_egress_bytes += bytes;
        }
    }

    fn rejected(&mut self, now: SimTime, limiter: usize, class: Class) {
        self.limited.bump(now);
        let counts = &mut self.limiters[limiter];
        match class {
            Class::Abusive => counts.abusive += 1,
            _ => counts.users += 1,
        }
    }

    /// A request of `class` ended at `now`; its AI answer's first token
    /// came at `first_token_at` (0: none).
    #[inline]
    pub fn finished(
        &mut self,
        now: SimTime,
        (arrival, first_token_at): (SimTime, SimTime),
        route: usize,
        class: Class,
        outcome: Outcome,
    ) {
        match class {
            Class::User => {}
            Class::Abusive => {
                if self.counts(arrival) {
                    let metrics = &mut self.routes[route];
                    match outcome {
                        Outcome::RateLimited => metrics.abusive_limited += 1,
                        Outcome::Ok => self.transfer_bytes += metrics.response_bytes,
                        _ => {}
                    }
                }
                return;
            }
            Class::Revalidation | Class::Job => return,
        }
        if outcome != Outcome::Ok {
            self.errors.bump(now);
        }
        if !self.counts(arrival) {
            return;
        }
        let metrics = &mut self.routes[route];
        let end = if metrics.to_first_token && first_token_at > 0 {
            first_token_at
        } else {
            now
        };
        let latency = (outcome == Outcome::Ok).then(|| end - arrival);
        if latency.is_some() {
            self.transfer_bytes += metrics.response_bytes;
        }
        metrics.outcomes[outcome as usize] += 1;
        if let Some(latency) = latency {
            metrics.latency.record(latency);
        }
        if let Some(window) = &mut metrics.own_window {
            window.record(now, latency);
        }
        // Errors count against the scenario's error-rate SLO on every route.
        let judged_latency = latency.filter(|_| metrics.judged_by_scenario);
        if judged_latency.is_some() || latency.is_none() {
            self.window.record(now, judged_latency);
            for window in &mut self.alert_windows {
                window.record(now, judged_latency);
            }
        }
    }

    /// Latency of answered requests on routes judged by the scenario SLO:
    /// their routes' histograms merged, which is exact and spares a second
    /// recording of every request.
    pub fn latency(&self) -> LatencyHistogram {
        let mut latency = LatencyHistogram::new(ROUTE_DIGITS);
        for route in self.routes.iter().filter(|route| route.judged_by_scenario) {
            latency.add(&route.latency);
        }
        latency
    }

    /// A request that arrived at `arrival` held an instance of `memory`
    /// bytes for `held` of wall-clock time.
    #[inline]
    pub fn invocation_ended(&mut self, arrival: SimTime, held: SimDuration, memory: u64) {
        if self.counts(arrival) {
            self.invocation_byte_nanos += u128::from(held) * u128::from(memory);
        }
    }

    /// An instance lived from `created` to `ended` with `memory` bytes.
    pub fn instance_lifetime(&mut self, created: SimTime, ended: SimTime, memory: u64) {
        self.instance_byte_nanos += self.measured_memory_time(created, ended, memory);
    }

    /// An instance of `memory` bytes had requests in flight from `from` to `to`.
    pub fn instance_busy(&mut self, from: SimTime, to: SimTime, memory: u64) {
        self.busy_byte_nanos += self.measured_memory_time(from, to, memory);
    }

    /// `memory` bytes held from `from` to `to`, after warm-up, byte-nanoseconds.
    fn measured_memory_time(&self, from: SimTime, to: SimTime, memory: u64) -> u128 {
        let start = from.max(self.warmup);
        if to > start {
            u128::from(to - start) * u128::from(memory)
        } else {
            0
        }
    }

    /// Users' mean wait for a slot and cold start, ms (NaN without any).
    pub fn mean_wait_ms(&self) -> f64 {
        if self.wait_count == 0 {
            return f64::NAN;
        }
        self.wait_nanos as f64 / self.wait_count as f64 / NANOS_PER_MILLI as f64
    }

    /// Handler CPU seconds.
    pub fn cpu_seconds(&self) -> f64 {
        self.cpu_nanos as f64 / NANOS_PER_SEC as f64
    }

    /// Instance memory x lifetime, GiB-seconds.
    pub fn gb_seconds(&self) -> f64 {
        byte_nanos_in_gb_seconds(self.instance_byte_nanos)
    }

    /// Instance memory x the time it had a request in flight, GiB-seconds.
    pub fn busy_gb_seconds(&self) -> f64 {
        byte_nanos_in_gb_seconds(self.busy_byte_nanos)
    }

    /// Memory x wall-clock invocation time (legacy billing), GiB-seconds.
    pub fn invocation_gb_seconds(&self) -> f64 {
        byte_nanos_in_gb_seconds(self.invocation_byte_nanos)
    }
}

/// Byte-nanoseconds in GiB-seconds.
fn byte_nanos_in_gb_seconds(byte_nanos: u128) -> f64 {
    byte_nanos as f64 / (1u64 << 30) as f64 / NANOS_PER_SEC as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_of_durations_are_exact_and_reported_in_seconds() {
        let second = NANOS_PER_SEC;
        let mut metrics = Metrics::new(&[], 0, second, 10, 60 * second, &[]);
        // Before warm-up: not counted.
        metrics.handler(0, 5 * second);
        // A tenth of a second a million times: a float sum drifts, an
        // integer one does not.
        for _ in 0..1_000_000 {
            metrics.handler(second, second / 10);
        }
        assert_eq!(metrics.cpu_seconds(), 100_000.0);
        for wait_ms in [1, 2, 6] {
            metrics.invoked(second, wait_ms * NANOS_PER_MILLI, Class::User);
        }
        metrics.invoked(second, 1_000 * NANOS_PER_MILLI, Class::Job);
        assert_eq!(metrics.mean_wait_ms(), 3.0);
        let half_gib = 1u64 << 29;
        metrics.invocation_ended(second, 3 * second, half_gib);
        assert_eq!(metrics.invocation_gb_seconds(), 1.5);
        metrics.instance_lifetime(0, 5 * second, 2 * half_gib);
        assert_eq!(metrics.gb_seconds(), 4.0);
        metrics.instance_busy(0, 3 * second, 2 * half_gib);
        metrics.instance_busy(4 * second, 5 * second, 2 * half_gib);
        assert_eq!(metrics.busy_gb_seconds(), 3.0);
    }
}
