//! What a run will need, estimated from the scenario before it starts: the
//! requests and events to simulate and the memory to hold, so that a run
//! too large for the machine is refused with its numbers instead of
//! running out of memory part-way.
//!
//! Memory is the per-minute series every finished replication keeps until
//! the reports are written, plus, for each replication running at once, its
//! working set: gauges and counters per minute, SLO windows, latency
//! histograms and the sessions and requests in flight. The constants below
//! come from the engine's data structures and err above what the shipped
//! baseline uses (4 tiers x 10 replications of 30 days: estimated 221 MB,
//! measured 193 MB peak resident).

use super::{Plan, RunOptions};
use crate::model::ArrivalRate;
use crate::scenario::{Cache, CacheScope, CacheTtl, LimitKey, Scenario};

/// Events the engine handles per user request (1.8-2.5 measured on the
/// baseline's tiers: arrivals, timed steps, sessions' later pages,
/// background work, the baseline's 1.8 queries; a warm slot or a session's
/// first page costs none): 3 errs on the side of more, for up to
/// [`QUERIES_IN_EVENTS_PER_REQUEST`] queries.
pub const EVENTS_PER_REQUEST: f64 = 3.0;

/// Queries per request that [`EVENTS_PER_REQUEST`] covers.
const QUERIES_IN_EVENTS_PER_REQUEST: f64 = 2.0;

/// Events per query beyond those: its step and its end, at most.
const EVENTS_PER_QUERY: f64 = 2.0;

/// Per-minute fields a replication keeps (at most: with a pooler and CPUs).
const KEPT_FIELDS_PER_MINUTE: f64 = 14.0;

/// Bytes per minute of a running replication's gauges (maximum and area:
/// 16 bytes each, about 12 of them) and counters (8 bytes, 7 of them).
const WORKING_BYTES_PER_MINUTE: f64 = 12.0 * 16.0 + 7.0 * 8.0;

/// Latency histograms of a running replication, per route and overall
/// (HDR histograms of 3 significant digits up to an hour: about 150 KB).
const HISTOGRAM_BYTES: f64 = 150_000.0;

/// Bytes per request in flight (its state and its timer).
const BYTES_PER_REQUEST_IN_FLIGHT: f64 = 256.0;

/// Bytes per instance kept warm from the start (its record, its place in
/// the available set, its links).
const BYTES_PER_WARM_INSTANCE: f64 = 256.0;

/// Bytes per abusive client: the end of its active stretch and its next
/// request, always pending in the event queue (28 measured from 1 to 4
/// million clients, the queue's growth by doubling included).
const BYTES_PER_ABUSIVE_CLIENT: f64 = 40.0;

/// Bytes per identifier a rate limiter tracks (a 24-byte state in a vector
/// indexed by identifier, grown by doubling).
const BYTES_PER_LIMITED_ID: f64 = 2.0 * 24.0;

/// Bytes per CDN cache key (freshness, staleness, requests waiting).
const BYTES_PER_CDN_KEY: f64 = 48.0;

/// Bytes per app cache key (its expiry).
const BYTES_PER_APP_CACHE_KEY: f64 = 8.0;

/// A conversation's cached prompt prefix: a hash map entry (key and two
/// times, with the map's spare capacity), kept up to twice over between
/// sweeps of the expired ones.
const BYTES_PER_PROMPT_CACHE_ENTRY: f64 = 2.0 * 48.0;

/// The process before any replication: code, embedded fonts, thread stacks,
/// allocator arenas, the loaded scenario (14-15 MB peak resident measured
/// for the validation scenarios, whose replications need little).
const PROCESS_BYTES: f64 = 16e6;

/// Expected requests per page request, fan-out included.
pub fn requests_per_page(scenario: &Scenario) -> f64 {
    let routes = &scenario.routes;
    fn size(routes: &[crate::scenario::Route], index: usize) -> f64 {
        1.0 + routes[index]
            .fan_out
            .iter()
            .map(|child| size(routes, child.index()))
            .sum::<f64>()
    }
    let weights: Vec<f64> = routes.iter().map(|r| r.weight).collect();
    let total: f64 = weights.iter().sum();
    (0..routes.len())
        .map(|i| weights[i] / total * size(routes, i))
        .sum()
}

/// A run's expected size.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Footprint {
    /// Tier x replication work items.
    pub work_items: u64,
    /// Users' page requests expected over all work items (fan-out included).
    pub requests: f64,
    /// Events expected over all work items.
    pub events: f64,
    /// Peak memory, bytes.
    pub memory_bytes: f64,
}

/// Events per request of `scenario`: [`EVENTS_PER_REQUEST`], and those of
/// its queries beyond what that covers (their mean over routes by weight).
fn events_per_request(scenario: &Scenario) -> f64 {
    let total: f64 = scenario.routes.iter().map(|r| r.weight).sum();
    let queries: f64 = scenario
        .routes
        .iter()
        .map(|r| r.weight / total.max(1e-300) * f64::from(r.queries))
        .sum();
    EVENTS_PER_REQUEST + EVENTS_PER_QUERY * (queries - QUERIES_IN_EVENTS_PER_REQUEST).max(0.0)
}

/// Users' requests (fan-out included) per session of `scenario`.
fn requests_per_session(scenario: &Scenario) -> f64 {
    scenario.traffic.requests_per_session.mean() * requests_per_page(scenario)
}

/// Users' requests expected in one replication of `scenario` with `users`
/// users (fan-out included, bursts not).
pub fn expected_requests(scenario: &Scenario, users: u64) -> f64 {
    requests_at(&ArrivalRate::new(scenario, users), scenario)
}

/// Requests a day beyond the users' sessions: messages of volume-driven
/// routes (`per_user_per_month`) and abusive clients' requests.
fn other_requests_per_day(scenario: &Scenario, users: u64) -> f64 {
    let messages: f64 = scenario
        .routes
        .iter()
        .filter_map(|route| route.per_user_per_month)
        .map(|volume| users as f64 * volume / 30.0)
        .sum();
    let abusive = scenario.traffic.abusive_clients.as_ref().map_or(0.0, |a| {
        a.count_among(users) as f64 * a.rate.per_sec() * a.active_per_day.secs().min(86_400.0)
    });
    messages + abusive
}

/// Users' requests expected in one replication of `scenario` with sessions
/// arriving at `rate`.
fn requests_at(rate: &ArrivalRate, scenario: &Scenario) -> f64 {
    let days = scenario.horizon.secs() / 86_400.0;
    rate.mean_sessions_per_day() * requests_per_session(scenario) * days
}

/// Estimates `plans` run with `options` (one replication per worker thread
/// at once).
pub fn footprint(plans: &[Plan], options: RunOptions) -> Footprint {
    let mut work_items = 0u64;
    let mut requests = 0.0;
    let mut events = 0.0;
    let mut kept_bytes = 0.0;
    let mut largest_working = 0.0f64;
    for plan in plans {
        let replications = options.replications.unwrap_or(plan.scenario.replications);
        for tier in &plan.tiers {
            let stack = tier.stack;
            let minutes = stack.horizon.secs() / 60.0;
            let days = stack.horizon.secs() / 86_400.0;
            let rate = ArrivalRate::new(stack, tier.users);
            let other_per_day = other_requests_per_day(stack, tier.users);
            let tier_requests = requests_at(&rate, stack) + other_per_day * days;
            // The busiest hour, profiles and the largest burst applied, with
            // the other requests as peaked as the sessions.
            let peaking =
                rate.peak_hour_per_sec() / rate.mean_sessions_per_day().max(1e-300) * 86_400.0;
            let burst = stack.traffic.largest_burst();
            let peak_per_sec = (rate.peak_hour_per_sec() * requests_per_session(stack)
                + other_per_day / 86_400.0 * peaking.max(1.0))
                * burst;
            // Requests in flight at the peak, if each took 10 s (Little's law).
            let in_flight = peak_per_sec * 10.0 * BYTES_PER_REQUEST_IN_FLIGHT;
            let abusive = stack
                .traffic
                .abusive_clients
                .as_ref()
                .map_or(0.0, |a| a.count_among(tier.users) as f64);
            // Identifiers: users or their addresses, then the abusive clients.
            let limiters: f64 = stack
                .rate_limits
                .iter()
                .map(|limiter| {
                    let users = match limiter.limit.key {
                        LimitKey::Ip => tier.users as f64 / stack.traffic.users_per_ip,
                        LimitKey::User => tier.users as f64,
                    };
                    (users + abusive) * BYTES_PER_LIMITED_ID
                })
                .sum();
            let caches: f64 = stack
                .routes
                .iter()
                .map(|route| {
                    let cdn = match &route.cache {
                        Some(Cache::Shared(shared)) => f64::from(shared.keys) * BYTES_PER_CDN_KEY,
                        _ => 0.0,
                    };
                    let app = route
                        .app_cache
                        .as_ref()
                        .map_or(0.0, |c| f64::from(c.keys) * BYTES_PER_APP_CACHE_KEY);
                    cdn + app
                })
                .sum();
            // Conversations' cached prefixes live for their lifetime after
            // each message: at most the peak message rate times it.
            let prompt_caches: f64 = stack
                .routes
                .iter()
                .filter_map(|route| {
                    let cache = route.ai?.prompt_cache?;
                    let volume = route.per_user_per_month?;
                    let ttl_secs = match cache.ttl {
                        CacheTtl::FiveMinutes => 300.0,
                        CacheTtl::OneHour => 3_600.0,
                    };
                    let peak_messages =
                        tier.users as f64 * volume / 30.0 / 86_400.0 * peaking.max(1.0) * burst;
                    (cache.per == CacheScope::Conversation)
                        .then_some(peak_messages * ttl_secs * BYTES_PER_PROMPT_CACHE_ENTRY)
                })
                .sum();
            let histograms = (stack.routes.len() as f64 + 4.0) * HISTOGRAM_BYTES;
            let windows = minutes * 60.0 / stack.slo.window.secs().max(1.0) * 16.0;
            let warm: f64 = stack
                .functions
                .iter()
                .map(|f| f64::from(f.min_instances) * BYTES_PER_WARM_INSTANCE)
                .sum();
            let working = minutes * WORKING_BYTES_PER_MINUTE
                + histograms
                + windows
                + in_flight
                + warm
                + abusive * BYTES_PER_ABUSIVE_CLIENT
                + limiters
                + caches
                + prompt_caches;
            largest_working = largest_working.max(working);
            work_items += u64::from(replications);
            requests += tier_requests * f64::from(replications);
            events += tier_requests * events_per_request(stack) * f64::from(replications);
            kept_bytes += minutes * KEPT_FIELDS_PER_MINUTE * 8.0 * f64::from(replications);
        }
    }
    let running = (options.worker_threads() as f64).min(work_items as f64);
    Footprint {
        work_items,
        requests,
        events,
        memory_bytes: PROCESS_BYTES + kept_bytes + running * largest_working,
    }
}

/// Memory this machine has available now (Linux: `MemAvailable`), if known.
pub fn available_memory() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kilobytes: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kilobytes * 1024.0)
}
