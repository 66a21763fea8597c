//! The engine, configured to reduce to textbook models, against their
//! closed forms. Each comparison allows the 95% confidence half-width over
//! replications (plus the histogram's known relative error for percentiles),
//! and first checks that the half-width itself is tight.

use std::path::PathBuf;

use capsim::experiment::simulate;
use capsim::model::{
    BlockedIdentifiers, Breaker, BreakerState, Limiter, Outcome, Permit, Replication,
    ResourceResults, RouteResults, TierResults,
};
use capsim::scenario::{
    self, Algorithm, BreakerScope, CircuitBreaker, Duration, LimitKey, RateLimit, Scenario,
};
use capsim::stats::{Estimate, estimate};

/// Users' mean wait for a slot and cold start, as `check_mmc` reads it.
const MEAN_WAIT: (&str, fn(&TierResults) -> Option<f64>) = ("mean_wait_ms", |t| t.mean_wait_ms);

/// HDR histograms keep 3 significant digits: percentiles are within 0.1%.
const HISTOGRAM_RELATIVE_ERROR: f64 = 1e-3;

fn load(name: &str) -> Scenario {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios/validation")
        .join(name);
    scenario::load(&path)
        .expect("validation scenario is valid")
        .scenario
}

/// Every replication of the scenario's only tier.
pub fn replications(scenario: &Scenario) -> Vec<Replication> {
    let users = scenario.tiers[0].users;
    (0..scenario.replications)
        .map(|r| simulate(scenario, users, r))
        .collect()
}

/// The mean over `results` of what `measure` reads (NaN where it does not apply).
fn metric(results: &[Replication], measure: impl Fn(&TierResults) -> Option<f64>) -> Estimate {
    let values: Vec<f64> = results
        .iter()
        .map(|r| measure(&r.tier).unwrap_or(f64::NAN))
        .collect();
    estimate(&values)
}

/// A count as a number to average.
fn count(value: u64) -> Option<f64> {
    Some(value as f64)
}

/// The primary's pooler connections.
fn pooler_servers(tier: &TierResults) -> Option<ResourceResults> {
    tier.primary.pooler.map(|p| p.servers)
}

/// Asserts that `measured` is tight (half-width at most `max_relative` of
/// `expected`) and agrees with `expected` within its half-width plus `slack`.
fn assert_agrees(what: &str, measured: Estimate, expected: f64, max_relative: f64, slack: f64) {
    assert!(
        measured.half_width <= max_relative * expected,
        "{what}: CI half-width {} exceeds {}% of {expected}: run longer",
        measured.half_width,
        max_relative * 100.0
    );
    let error = (measured.mean - expected).abs();
    eprintln!(
        "{what}: measured {} ± {}, theory {expected}",
        measured.mean, measured.half_width
    );
    assert!(
        error <= measured.half_width + slack,
        "{what}: measured {} ± {} but theory says {expected} (off by {error})",
        measured.mean,
        measured.half_width
    );
}

/// Erlang B: blocking probability with `servers` servers and `load` erlangs.
fn erlang_b(servers: u32, load: f64) -> f64 {
    (1..=servers).fold(1.0, |b, k| load * b / (f64::from(k) + load * b))
}

/// Erlang C: probability that an arrival waits.
fn erlang_c(servers: u32, load: f64) -> f64 {
    let b = erlang_b(servers, load);
    let c = f64::from(servers);
    c * b / (c - load * (1.0 - b))
}

/// M/M/c FCFS response-time quantile: P(T > t) = (1-C) e^(-mu t)
/// + C (theta e^(-mu t) - mu e^(-theta t)) / (theta - mu), theta = c mu - lambda.
fn mmc_response_quantile(servers: u32, lambda: f64, mu: f64, quantile: f64) -> f64 {
    let waits = erlang_c(servers, lambda / mu);
    let theta = f64::from(servers) * mu - lambda;
    // P(W + S > t) for W ~ Exp(theta), S ~ Exp(mu); Erlang-2 when they are equal.
    let both = |t: f64| {
        if (theta - mu).abs() < 1e-9 * mu {
            (-mu * t).exp() * (1.0 + mu * t)
        } else {
            (theta * (-mu * t).exp() - mu * (-theta * t).exp()) / (theta - mu)
        }
    };
    let tail = |t: f64| (1.0 - waits) * (-mu * t).exp() + waits * both(t);
    let (mut low, mut high) = (0.0, 100.0 / mu);
    for _ in 0..200 {
        let mid = (low + high) / 2.0;
        if tail(mid) > 1.0 - quantile {
            low = mid;
        } else {
            high = mid;
        }
    }
    (low + high) / 2.0
}

/// Checks an M/M/10 (mu = 10/s) scenario at arrival rate `lambda`: the
/// mean wait `wait` (named `wait_name`) against Erlang C and the response-time p95.
fn check_mmc(
    file: &str,
    lambda: f64,
    max_relative: f64,
    (wait_name, wait): (&str, fn(&TierResults) -> Option<f64>),
) -> Vec<Replication> {
    let (servers, mu) = (10, 10.0);
    let results = replications(&load(file));
    let mean_wait_ms =
        erlang_c(servers, lambda / mu) / (f64::from(servers) * mu - lambda) * 1_000.0;
    assert_agrees(
        wait_name,
        metric(&results, wait),
        mean_wait_ms,
        max_relative,
        0.0,
    );
    let p95_ms = mmc_response_quantile(servers, lambda, mu, 0.95) * 1_000.0;
    assert_agrees(
        "response-time p95 (ms)",
        metric(&results, |t| t.latency.p95_ms),
        p95_ms,
        max_relative,
        HISTOGRAM_RELATIVE_ERROR * p95_ms,
    );
    assert_eq!(
        metric(&results, |t| count(t.outcomes.count(Outcome::Throttled))).mean,
        0.0
    );
    assert_eq!(metric(&results, |t| count(t.cold_starts)).mean, 0.0);
    assert_eq!(metric(&results, TierResults::error_rate).mean, 0.0);
    results
}

#[test]
fn closed_forms_are_right() {
    // Tabulated values: B(10, 7) = 0.07874, C(10, 9) = 0.66873.
    assert!((erlang_b(10, 7.0) - 0.078_741).abs() < 1e-5);
    assert!((erlang_c(10, 9.0) - 0.668_73).abs() < 1e-4);
    // With one server the response time is exponential with rate mu - lambda.
    let q = mmc_response_quantile(1, 5.0, 10.0, 0.95);
    assert!((q - 20f64.ln() / 5.0).abs() < 1e-9);
    assert!((poisson_tail(2.0, 4) - 0.142_877).abs() < 1e-6);
    assert!((poisson_mean_at_least(2.0, 4) - 4.075_141).abs() < 1e-6);
}

#[test]
fn mmc_at_rho_05_matches_erlang_c() {
    check_mmc("mmc-rho05.yaml", 50.0, 0.02, MEAN_WAIT);
}

#[test]
fn mmc_at_rho_09_matches_erlang_c() {
    check_mmc("mmc-rho09.yaml", 90.0, 0.05, MEAN_WAIT);
}

#[test]
fn mmcc_blocking_matches_erlang_b() {
    let results = replications(&load("mmcc.yaml"));
    let blocking: Vec<f64> = results
        .iter()
        .map(|r| r.tier.outcomes.count(Outcome::Throttled) as f64 / r.tier.requests as f64)
        .collect();
    assert_agrees(
        "blocking",
        estimate(&blocking),
        erlang_b(10, 7.0),
        0.02,
        0.0,
    );
    assert_eq!(
        metric(&results, |t| t.mean_wait_ms).mean,
        0.0,
        "a loss system never queues"
    );
}

#[test]
fn cold_start_share_and_instances_match_idle_expiry() {
    let results = replications(&load("cold-start.yaml"));
    let (lambda, idle_timeout) = (1.0f64, 1.0f64);
    let cold_share = (-lambda * idle_timeout).exp();
    assert_agrees(
        "cold-start share",
        metric(&results, TierResults::cold_start_ratio),
        cold_share,
        0.02,
        0.0,
    );
    assert_agrees(
        "mean instances",
        metric(&results, |t| t.mean_instances),
        1.0 - cold_share,
        0.02,
        0.0,
    );
}

/// P(Poisson(`mean`) >= `at_least`).
fn poisson_tail(mean: f64, at_least: u32) -> f64 {
    let mut term = (-mean).exp();
    let mut below = 0.0;
    for k in 0..at_least {
        below += term;
        term *= mean / f64::from(k + 1);
    }
    1.0 - below
}

/// E[max(Poisson(`mean`), `floor`)].
fn poisson_mean_at_least(mean: f64, floor: u32) -> f64 {
    let mut term = (-mean).exp();
    let mut below = 0.0;
    for k in 0..floor {
        below += (f64::from(floor) - f64::from(k)) * term;
        term *= mean / f64::from(k + 1);
    }
    mean + below
}

/// Pre-warmed instances (see the scenario): a request is cold exactly when
/// the warm ones are all busy, P(Poisson(2) >= 4); one Fluid instance
/// that can carry its load starts none.
#[test]
fn prewarmed_instances_start_cold_only_when_the_load_outgrows_them() {
    let scenario = load("prewarm.yaml");
    let results = replications(&scenario);
    assert_agrees(
        "cold-start share with 4 warm instances",
        metric(&results, TierResults::cold_start_ratio),
        poisson_tail(2.0, 4),
        0.03,
        0.0,
    );
    assert_agrees(
        "mean instances",
        metric(&results, |t| t.mean_instances),
        poisson_mean_at_least(2.0, 4),
        0.01,
        0.0,
    );
    // Memory (2 GiB an instance) over instance lives, and over the time
    // each has a request in flight: Fluid bills the latter, which adds up
    // to the requests' own time, a = 2 instances' worth.
    let gib_per_second = 2.0 * scenario.measured_secs();
    assert_agrees(
        "instances alive, from memory x lifetime",
        metric(&results, |t| Some(t.gb_seconds / gib_per_second)),
        poisson_mean_at_least(2.0, 4),
        0.01,
        0.0,
    );
    assert_agrees(
        "instances with a request in flight, from memory x busy time",
        metric(&results, |t| Some(t.busy_gb_seconds / gib_per_second)),
        2.0,
        0.01,
        0.0,
    );
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/validation/prewarm.yaml");
    let text = std::fs::read_to_string(&path)
        .expect("readable")
        .replace("concurrency: 1\n", "concurrency: 100\n")
        .replace("min_instances: 4\n", "min_instances: 1\n")
        // Handler time is CPU time, shared on the instance's one vCPU: at
        // 100 ms, utilisation 0.2, and P(100 in flight) = 0.2^100.
        .replace("mean: 1s }", "mean: 100ms }");
    let one_instance = scenario::parse(&path, &text).expect("valid").scenario;
    let users = one_instance.tiers[0].users;
    let carried = simulate(&one_instance, users, 0).tier;
    assert!(carried.invocations > 70_000, "{}", carried.invocations);
    assert_eq!(carried.cold_starts, 0);
    assert_eq!(carried.peak_instances, 1);
}

#[test]
fn pooler_in_transaction_mode_is_an_mmc_queue() {
    let results = check_mmc(
        "pooler-mmc.yaml",
        90.0,
        0.05,
        ("pooler_mean_wait_ms", |t| pooler_servers(t)?.mean_wait_ms),
    );
    // P(W > t) = C e^(-theta t): the wait's p95 solves C e^(-theta t) = 0.05.
    let (c, theta) = (erlang_c(10, 9.0), 100.0 - 90.0);
    let wait_p95_ms = (c / 0.05).ln() / theta * 1_000.0;
    assert_agrees(
        "pooler wait p95 (ms)",
        metric(&results, |t| pooler_servers(t)?.wait_p95_ms),
        wait_p95_ms,
        0.05,
        HISTOGRAM_RELATIVE_ERROR * wait_p95_ms,
    );
    assert_eq!(
        metric(&results, |t| count(pooler_servers(t)?.peak_busy)).mean,
        10.0
    );
    assert_eq!(
        metric(&results, |t| count(t.primary.peak_connections)).mean,
        10.0
    );
    assert_eq!(
        metric(&results, |t| count(t.primary.pooler?.peak_clients)).mean,
        1000.0
    );
}

/// An instance's own connections (its driver's pool) are an M/M/c queue:
/// concurrent requests on one instance share its connections and wait for
/// one, as a `pg` Pool of size c runs c queries at once and queues the rest.
/// The wait is the mean response time less the mean query (100 ms).
#[test]
fn an_instances_connection_pool_is_an_mmc_queue() {
    let results = check_mmc(
        "instance-pool-mmc.yaml",
        90.0,
        0.05,
        ("mean wait for the instance's connections (ms)", |t| {
            Some(t.mean_latency_ms? - 100.0)
        }),
    );
    assert_eq!(
        metric(&results, |t| count(t.primary.peak_connections)).mean,
        10.0
    );
}

/// The driver's connection timeout against M/M/1 with deterministic
/// patience: a query fails when the work ahead of it exceeds tau, which
/// happens to (1 - rho) rho e^(-theta tau) / (1 - rho^2 e^(-theta tau)) of
/// them (see the scenario), each a failed request of that cause.
#[test]
fn the_drivers_connection_timeout_matches_mm1_with_deterministic_patience() {
    let results = replications(&load("connection-timeout.yaml"));
    let (rho, theta, tau): (f64, f64, f64) = (0.9, 10.0 - 9.0, 0.1);
    let fading = (-theta * tau).exp();
    let share = (1.0 - rho) * rho * fading / (1.0 - rho * rho * fading);
    assert_agrees(
        "share failing the connection timeout",
        metric(&results, |t| {
            Some(t.outcomes.count(Outcome::ConnectionTimeout) as f64 / t.requests as f64)
        }),
        share,
        0.02,
        0.0,
    );
    for result in &results {
        let tier = &result.tier;
        assert_eq!(
            tier.error_rate(),
            Some(tier.outcomes.count(Outcome::ConnectionTimeout) as f64 / tier.requests as f64),
            "every failure is a connection timeout"
        );
    }
}

/// Requests on one instance share its vCPU: processor sharing, where a job
/// of size x takes x / (1 - rho) on average (M/G/1-PS, see the scenario):
/// 200 ms at rho 0.5, where first come first served would take 150 ms.
#[test]
fn an_instances_vcpus_are_shared_as_processor_sharing() {
    let results = replications(&load("cpu-sharing.yaml"));
    assert_agrees(
        "mean response time under processor sharing (ms)",
        metric(&results, |t| t.mean_latency_ms),
        100.0 / (1.0 - 0.5),
        0.02,
        0.0,
    );
    assert_eq!(metric(&results, TierResults::error_rate).mean, 0.0);
}

#[test]
fn database_cpus_are_an_mmc_queue() {
    let results = check_mmc(
        "db-cpu-mmc.yaml",
        90.0,
        0.05,
        ("db_cpu_mean_wait_ms", |t| {
            t.primary.cpus?.servers.mean_wait_ms
        }),
    );
    assert_eq!(
        metric(&results, |t| count(t.primary.cpus?.servers.peak_busy)).mean,
        10.0
    );
    assert_agrees(
        "CPU utilisation",
        metric(&results, |t| t.primary.cpus?.utilisation),
        0.9,
        0.01,
        0.0,
    );
}

#[test]
fn pooler_drops_queries_that_wait_past_query_wait_timeout() {
    let results = replications(&load("pooler-timeout.yaml"));
    let timeout_ms = 100.0;
    for result in &results {
        let tier = &result.tier;
        let pooler = tier.primary.pooler.expect("a pooler");
        let dropped = tier.outcomes.count(Outcome::PoolerTimeout);
        assert!(dropped > 0, "at rho 0.9 some queries wait 100 ms");
        assert_eq!(dropped, pooler.wait_timeouts);
        assert_eq!(
            tier.error_rate(),
            Some(dropped as f64 / tier.requests as f64)
        );
        let longest = pooler.servers.max_wait_ms.expect("served queries");
        assert!(
            longest <= timeout_ms * (1.0 + HISTOGRAM_RELATIVE_ERROR),
            "a served query waited {longest} ms, past the 100 ms timeout"
        );
    }
}

#[test]
fn caches_match_the_ttl_formulas() {
    let scenario = load("ttl-caches.yaml");
    let results = replications(&scenario);
    let route = |name: &str, measure: fn(&RouteResults) -> Option<f64>| {
        let index = scenario
            .routes
            .iter()
            .position(|r| r.name == name)
            .expect("route exists");
        let values: Vec<f64> = results
            .iter()
            .map(|r| measure(&r.routes[index]).unwrap_or(f64::NAN))
            .collect();
        values
    };
    let ratio = |name: &str, part: fn(&RouteResults) -> Option<f64>| {
        let parts = route(name, part);
        let whole = route(name, |r| count(r.edge_requests));
        let shares: Vec<f64> = parts.iter().zip(&whole).map(|(p, w)| p / w).collect();
        estimate(&shares)
    };
    let (lambda, ttl, stale) = (1.0f64, 2.0f64, 3.0f64);
    assert_agrees(
        "hit ratio, TTL only",
        estimate(&route("fresh_only", |r| r.cdn.hit_ratio())),
        lambda * ttl / (1.0 + lambda * ttl),
        0.01,
        0.0,
    );
    assert_agrees(
        "blocking-miss ratio with a stale window",
        ratio("stale_window", |r| count(r.cdn.misses)),
        (-lambda * stale).exp() / (1.0 + lambda * ttl),
        0.05,
        0.0,
    );
    assert_agrees(
        "origin calls per request with a stale window",
        ratio("stale_window", |r| count(r.cdn.origin_calls)),
        1.0 / (1.0 + lambda * ttl),
        0.01,
        0.0,
    );
    assert_agrees(
        "app cache hit ratio",
        estimate(&route("app_cached", |r| r.app_cache.hit_ratio())),
        lambda * ttl / (1.0 + lambda * ttl),
        0.01,
        0.0,
    );
}

/// Runs `limiter` over `(time in ms, identifier)` calls; returns (allowed, commands) per call.
fn script(config: RateLimit, calls: &[u64]) -> Vec<(bool, u32)> {
    let mut limiter = Limiter::new(&config);
    calls
        .iter()
        .map(|ms| {
            let decision = limiter.check(ms * 1_000_000, 0);
            (decision.allowed, decision.commands)
        })
        .collect()
}

fn limiter(
    algorithm: Algorithm,
    limit: u32,
    period_ms: u64,
    refill_rate: Option<u32>,
) -> RateLimit {
    let period = Some(Duration(period_ms * 1_000_000));
    let bucket = algorithm == Algorithm::TokenBucket;
    RateLimit {
        algorithm,
        limit: Some(limit),
        window: if bucket { None } else { period },
        refill_rate,
        interval: if bucket { period } else { None },
        key: LimitKey::User,
        ephemeral_cache: true,
    }
}

/// A client calling every second for `minutes` minutes through one
/// instance, as the limiter stage does: the instance's cache of blocked
/// identifiers first, then the script. Returns (allowed, Redis commands,
/// rejections answered from the cache).
fn every_second_through_one_instance(config: RateLimit, minutes: u64) -> (u64, u64, u64) {
    let mut limiter = Limiter::new(&config);
    let mut blocked = BlockedIdentifiers::default();
    let (mut allowed, mut commands, mut cached) = (0, 0, 0);
    for second in 0..minutes * 60 {
        let now = second * 1_000_000_000 + 500_000_000;
        if blocked.blocks(now, 7) {
            cached += 1;
            continue;
        }
        let decision = limiter.check(now, 7);
        blocked.remember(7, decision);
        allowed += u64::from(decision.allowed);
        commands += u64::from(decision.commands);
    }
    (allowed, commands, cached)
}

#[test]
fn blocked_identifiers_are_answered_from_memory_until_the_reset() {
    // Fixed window of 1 per minute, a call every second: per minute the
    // first passes (3 commands), the second is rejected by the script (2)
    // and remembered until the window's end, the other 58 cost nothing.
    let (allowed, commands, cached) =
        every_second_through_one_instance(limiter(Algorithm::FixedWindow, 1, 60_000, None), 60);
    assert_eq!((allowed, commands, cached), (60, 60 * 5, 60 * 58));
    // Sliding window, 10 per minute: in steady state the weighted previous
    // window (10 * (1 - elapsed)) plus this one's count reaches 10 within
    // the minute; once the script rejects, the rest of the window is free.
    let (allowed, commands, cached) =
        every_second_through_one_instance(limiter(Algorithm::SlidingWindow, 10, 60_000, None), 60);
    let rejected_by_script = 60 * 60 - allowed - cached;
    assert_eq!(rejected_by_script, 60, "one script rejection a window");
    assert!(commands <= 5 * allowed + 3 * 60, "{commands}");
    // Token bucket of 5, 1 token per 10 s from the first call (0.5 s): a
    // rejection is remembered until the next refill, inclusive, so the call
    // at the refill itself (10.5 s, ...) is answered from memory and the
    // next one takes the token; then one script rejection and 8 cached
    // calls a cycle (5 cached in the first, 7 in the last, cut at 599.5 s).
    let (allowed, commands, cached) =
        every_second_through_one_instance(limiter(Algorithm::TokenBucket, 5, 10_000, Some(1)), 10);
    assert_eq!(allowed, 5 + 59, "the bucket, then one per refill");
    assert_eq!(cached, 5 + 58 * 8 + 7);
    assert_eq!(commands, 4 * 64 + 2 * 60);
    // Without the cache every rejection is a script call.
    let mut config = limiter(Algorithm::FixedWindow, 1, 60_000, None);
    config.ephemeral_cache = false;
    let mut plain = Limiter::new(&config);
    assert!(!plain.ephemeral_cache);
    let commands: u32 = (0..60)
        .map(|second| plain.check(second * 1_000_000_000, 7).commands)
        .sum();
    assert_eq!(commands, 3 + 59 * 2);
}

#[test]
fn sliding_window_follows_upstash_exactly() {
    // limit 5 per 10 s. reject when floor((1 - elapsed/window) * previous) + current >= 5.
    let calls = [
        1_000, 2_000, 3_000, 4_000, 5_000,  // window 0: 5 allowed
        6_000,  // 0 + 5 >= 5: rejected
        12_000, // window 1, 20% in: floor(0.8 * 5) = 4, + 0 < 5: allowed
        12_500, // floor(0.75 * 5) = 3, + 1 < 5: allowed
        12_600, // floor(0.74 * 5) = 3, + 2 = 5: rejected
        14_100, // floor(0.59 * 5) = 2, + 2 < 5: allowed
        14_200, // floor(0.58 * 5) = 2, + 3 = 5: rejected
        19_999, // floor(0.0001 * 5) = 0, + 3 < 5: allowed (window 1 holds 4)
        20_000, // window 2 starts: floor(1.0 * 4) = 4, + 0 < 5: allowed
        20_001, // floor(0.9999 * 4) = 3, + 1 < 5: allowed
        20_002, // floor(0.9998 * 4) = 3, + 2 = 5: rejected
        40_000, // window 4: window 3 was empty, so 0 + 0: allowed
    ];
    let expected = [
        (true, 5),
        (true, 4),
        (true, 4),
        (true, 4),
        (true, 4),
        (false, 3),
        (true, 5),
        (true, 4),
        (false, 3),
        (true, 4),
        (false, 3),
        (true, 4),
        (true, 5),
        (true, 4),
        (false, 3),
        (true, 5),
    ];
    let got = script(limiter(Algorithm::SlidingWindow, 5, 10_000, None), &calls);
    assert_eq!(got, expected);
}

#[test]
fn fixed_window_and_token_bucket_follow_upstash_exactly() {
    // Fixed window, limit 3 per 10 s: every call counts, rejected ones too.
    let got = script(
        limiter(Algorithm::FixedWindow, 3, 10_000, None),
        &[0, 1_000, 2_000, 3_000, 9_999, 10_000],
    );
    assert_eq!(
        got,
        [
            (true, 3),
            (true, 2),
            (true, 2),
            (false, 2),
            (false, 2),
            (true, 3)
        ]
    );
    // Token bucket of 3, 1 token per whole 10 s since the last refill.
    let got = script(
        limiter(Algorithm::TokenBucket, 3, 10_000, Some(1)),
        &[
            0, 1_000, 2_000, 3_000, 9_999, 10_000, 15_000, 30_000, 30_500, 31_000,
        ],
    );
    let allowed: Vec<bool> = got.iter().map(|(a, _)| *a).collect();
    assert_eq!(
        allowed,
        [
            true, true, true, false, false, true, false, true, true, false
        ]
    );
    assert!(got.iter().all(|(a, c)| *c == if *a { 4 } else { 2 }));
}

/// The classic stack (direct connections, one per instance) for one day
/// around its viral burst, at 100,000 users, with
/// Postgres cut to 5 application connections so that direct connections
/// run out; `pooler` is added to its `database` mapping.
fn small_database_baseline(pooler: &str) -> Scenario {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/autorev-classic.yaml");
    let text = std::fs::read_to_string(&path).expect("baseline is readable");
    let tiers = text.find("tiers:").expect("tiers");
    let slo = text.find("\nslo:").expect("slo");
    let edited = format!(
        "{}tiers:\n  - {{ name: burst, users: 100000 }}\n{}",
        &text[..tiers],
        &text[slo..]
    )
    .replace("  close_delay: 0s ", &format!("{pooler}  close_delay: 0s "))
    .replace("horizon: 30d", "horizon: 1d")
    .replace("\ncosts:\n", "\ncosts:\n  allow_short_horizon: true\n")
    .replace("replications: 10 ", "replications: 4 ")
    .replace("day 3 19:00", "day 1 19:00")
    .replace("max_connections: 60 ", "max_connections: 15 ");
    scenario::parse(&path, &edited)
        .expect("edited baseline is valid")
        .scenario
}

#[test]
fn a_pooler_cuts_peak_connections_and_refusals() {
    let direct = replications(&small_database_baseline(""));
    let pooled = replications(&small_database_baseline(
        "  pooler: { enabled: true, mode: transaction, default_pool_size: 3, max_client_conn: 1000 }\n",
    ));
    let peak =
        |results: &[Replication]| metric(results, |t| count(t.primary.peak_connections)).mean;
    let refused = |results: &[Replication]| {
        metric(results, |t| count(t.outcomes.count(Outcome::DbRefused))).mean
    };
    eprintln!(
        "peak connections: direct {} pooled {}; refused: direct {} pooled {}",
        peak(&direct),
        peak(&pooled),
        refused(&direct),
        refused(&pooled)
    );
    assert!(refused(&direct) > 0.0, "5 connections run out in the burst");
    assert_eq!(peak(&direct), 5.0);
    assert_eq!(refused(&pooled), 0.0);
    assert!(peak(&pooled) <= 3.0);
    assert_eq!(
        metric(&pooled, |t| count(t.outcomes.count(Outcome::PoolerRefused))).mean,
        0.0
    );
}

#[test]
fn a_rejected_request_is_an_invocation_and_costs_its_commands() {
    // One abusive client all day at 60/min against a fixed window of 1 per
    // minute: one call a minute passes (3 commands), the rest are 429s after
    // an invocation (2 commands each); no users.
    let text = "name: limited\nseed: 3\nreplications: 1\nstart: 2025-01-06\nhorizon: 1d\n\
        tiers: [{ name: one, users: 1 }]\nslo: { p95_latency: 1s, error_rate: 1% }\n\
        traffic:\n  daily_active_share: 0%\n  sessions_per_active_user: 1\n\
        \x20 requests_per_session: { dist: constant, value: 1 }\n\
        \x20 think_time: { dist: constant, value: 1s }\n\
        \x20 daily_profile: [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n\
        \x20 abusive_clients: { count: 1, rate: 60/min, active_per_day: 24h, routes: [decode] }\n\
        routes:\n  - { name: decode, weight: 1, function: app, rate_limit: once, \
        handler_time: { dist: constant, value: 1ms } }\n\
        functions:\n  - { name: app, cold_start: { dist: constant, value: 0s }, idle_timeout: 1h }\n\
        database:\n  max_connections: 10\n  connect_time: { dist: constant, value: 1ms }\n\
        \x20 query_time: { dist: constant, value: 1ms }\n\
        rate_limits:\n  once: { algorithm: fixed_window, limit: 1, window: 1m, key: ip, ephemeral_cache: false }\n";
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("limited.yaml");
    let scenario = scenario::parse(&path, text).expect("valid").scenario;
    let result = simulate(&scenario, 1, 0).tier;
    let calls = result.abusive.requests;
    assert!(calls > 80_000, "about 86,400 calls in a day");
    assert_eq!(result.requests, 0);
    assert_eq!(result.invocations, calls);
    assert_eq!(result.abusive.limited, calls - 1_440);
    assert_eq!(result.limiters[0].abusive, calls - 1_440);
    assert_eq!(result.limiters[0].from_cache, 0);
    assert_eq!(result.redis_commands, 3 * 1_440 + 2 * (calls - 1_440));
    assert!(result.error_rate().is_none(), "no user requests to judge");
    // With the instance's cache of blocked identifiers (the library's
    // default): one script rejection a minute, the rest answered from
    // memory at no command. A call in the very millisecond a window ends
    // is still blocked by the cache (its reset is inclusive), so a few
    // minutes may pass none.
    let cached = scenario::parse(&path, &text.replace(", ephemeral_cache: false", ""))
        .expect("valid")
        .scenario;
    let result = simulate(&cached, 1, 0).tier;
    let calls = result.abusive.requests;
    let limited = result.abusive.limited;
    let allowed = calls - limited;
    let from_cache = result.limiters[0].from_cache;
    assert!((1_430..=1_440).contains(&allowed), "{allowed}");
    let by_script = limited - from_cache;
    assert!((1_430..=1_441).contains(&by_script), "{by_script}");
    assert_eq!(result.redis_commands, 3 * allowed + 2 * by_script);
    assert!(result.redis_commands < 3 * 1_440 + 2 * (calls - 1_440) / 10);
}

#[test]
fn reads_split_over_replicas_make_one_mmc_queue_each() {
    let results = replications(&load("replicas-mmc.yaml"));
    let mean_wait_ms = erlang_c(10, 9.0) / (100.0 - 90.0) * 1_000.0;
    for (index, replica) in ["replica1", "replica2"].into_iter().enumerate() {
        assert_agrees(
            &format!("{replica} CPU mean wait (ms)"),
            metric(&results, |t| t.replicas[index].cpus?.servers.mean_wait_ms),
            mean_wait_ms,
            0.05,
            0.0,
        );
        assert_agrees(
            &format!("{replica} CPU utilisation"),
            metric(&results, |t| t.replicas[index].cpus?.utilisation),
            0.9,
            0.01,
            0.0,
        );
    }
    assert_eq!(
        metric(&results, |t| count(t.primary.queries)).mean,
        0.0,
        "reads never reach the primary"
    );
    assert_eq!(metric(&results, TierResults::error_rate).mean, 0.0);
}

#[test]
fn a_breaker_walks_closed_open_half_open_as_specified() {
    let config = CircuitBreaker {
        failure_threshold: 3,
        reset_timeout: Duration::from_secs(30),
        scope: BreakerScope::Instance,
    };
    let second = 1_000_000_000;
    let mut breaker = Breaker::new(&config);
    let pass = Permit::Call { probe: false };
    // Two failures, a success (the count restarts), then three failures open it.
    for (at, succeeds) in [(1, false), (2, false), (3, true), (4, false), (5, false)] {
        assert_eq!(breaker.permit(at * second), pass);
        if succeeds {
            breaker.success(false);
        } else {
            assert!(!breaker.failure(at * second, false));
        }
    }
    assert_eq!(breaker.permit(6 * second), pass);
    assert!(
        breaker.failure(6 * second, false),
        "the third consecutive failure opens it"
    );
    assert_eq!(breaker.state(6 * second), BreakerState::Open);
    // Open: fast fails until the reset timeout, 30 s after it opened.
    assert_eq!(breaker.permit(35 * second), Permit::FastFail);
    assert_eq!(breaker.state(36 * second), BreakerState::HalfOpen);
    // Half-open: one probe passes, the others fail fast; its failure reopens.
    assert_eq!(breaker.permit(36 * second), Permit::Call { probe: true });
    assert_eq!(breaker.permit(37 * second), Permit::FastFail);
    assert!(breaker.failure(38 * second, true));
    assert_eq!(breaker.permit(67 * second), Permit::FastFail);
    // 30 s after reopening, a probe again; its success closes the breaker.
    assert_eq!(breaker.permit(68 * second), Permit::Call { probe: true });
    breaker.success(true);
    assert_eq!(breaker.state(68 * second), BreakerState::Closed);
    assert_eq!(breaker.permit(69 * second), pass);
}

#[test]
fn ai_tokens_follow_volume_times_tokens() {
    let results = replications(&load("ai-tokens.yaml"));
    // 10,000 users x 30 messages a month / 30 days x 10 days.
    assert_agrees(
        "AI messages",
        metric(&results, |t| count(t.ai.messages)),
        100_000.0,
        0.02,
        0.0,
    );
    let per_message: Vec<f64> = results
        .iter()
        .map(|r| r.tier.ai.tokens.input as f64 / r.tier.ai.messages as f64)
        .collect();
    assert_agrees(
        "input tokens per message",
        estimate(&per_message),
        2_000.0,
        0.01,
        0.0,
    );
    for result in &results {
        // Every message is answered with 500 tokens, counted when its answer
        // has streamed back: only calls still streaming at the horizon (6 s
        // each, 7 a minute) are missing.
        let ai = &result.tier.ai;
        let unanswered = (500.0 * ai.messages as f64 - ai.tokens.output as f64) / 500.0;
        assert!(
            (0.0..=10.0).contains(&unanswered),
            "{unanswered} calls unanswered"
        );
        assert_eq!(unanswered.fract(), 0.0);
        assert_eq!(result.tier.outcomes.count(Outcome::AiError), 0);
    }
}

/// The month's spend cap (see the scenario): exactly the calls it pays for
/// are answered each calendar month, and answers resume at 00:00 UTC on
/// the 1st.
#[test]
fn a_spend_cap_stops_answers_at_the_cap_until_the_month_ends() {
    let results = replications(&load("ai-spend-cap.yaml"));
    for result in &results {
        let answered = &result.minutes.ai_answered;
        let january: f64 = answered[..1_440].iter().sum();
        let february: f64 = answered[1_440..].iter().sum();
        assert_eq!(january, 500.0);
        assert_eq!(february, 500.0);
        assert!(answered[1_440] > 0.0, "answers resume at the month's start");
        let tier = &result.tier;
        assert_eq!(tier.ai.tokens.input, 1_000 * 1_000);
        // Each refused message made 3 attempts (2 SDK retries) and failed,
        // but for those still backing off at the horizon (1.5 s of
        // backoff at 14 messages a minute: one or two, an attempt or two).
        let failed = tier.outcomes.count(Outcome::AiError);
        assert!(failed > 10_000, "{failed}");
        let unfinished = tier.ai.spend_capped - 3 * failed;
        assert!(
            unfinished <= 6,
            "{unfinished} attempts of unfinished messages"
        );
        assert_eq!(tier.ai.provider_429s, 0);
        let day = tier.ai.spend_cap_day.expect("the cap is reached");
        assert!((31.0..31.1).contains(&day), "reached on day {day}");
    }
    // A limit the organisation set is answered 400, which the SDK does not
    // retry; it may not exceed the tier's cap.
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/validation/ai-spend-cap.yaml");
    let text = std::fs::read_to_string(&path).expect("readable");
    let limited = |limit: u32| {
        scenario::parse(
            &path,
            &text.replace(
                "  tier: start\n",
                &format!("  tier: start\n  spend_limit: {limit}\n"),
            ),
        )
    };
    let scenario = limited(100).expect("valid").scenario;
    let result = simulate(&scenario, scenario.tiers[0].users, 0);
    assert_eq!(
        result.minutes.ai_answered[..1_440].iter().sum::<f64>(),
        100.0
    );
    let failed = result.tier.outcomes.count(Outcome::AiError);
    assert_eq!(result.tier.ai.spend_capped, failed);
    let error = limited(600).expect_err("over the tier's cap").to_string();
    assert!(
        error.contains("`ai.spend_limit`: ($600) must not exceed the tier's monthly cap ($500)"),
        "{error}"
    );
}

/// Prompt caching on deterministic conversations (see the scenario).
#[test]
fn cache_writes_and_reads_are_counted_exactly() {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/validation/ai-prompt-cache.yaml");
    let text = std::fs::read_to_string(&path).expect("readable");
    let replicate = |text: &str| {
        let scenario = scenario::parse(&path, text).expect("valid").scenario;
        simulate(&scenario, scenario.tiers[0].users, 0)
    };
    let run = |text: &str| replicate(text).tier;
    let tier = run(&text);
    let (tokens, messages) = (tier.ai.tokens, tier.ai.messages);
    assert!(messages > 3_000, "{messages}");
    assert_eq!(messages % 4, 0, "every conversation ends");
    let conversations = messages / 4;
    assert_eq!(tokens.cache_write_5m, 2_000 * conversations);
    assert_eq!(tokens.cache_read, 6_000 * conversations);
    assert_eq!(tokens.input, 2_000 * messages);
    assert_eq!(tokens.cache_write_1h, 0);
    // The answer's first token after 1 s, its last after 2 s.
    let near = |ms: Option<f64>, expected: f64| {
        let ms = ms.expect("answered");
        assert!(
            (ms - expected).abs() <= expected * HISTOGRAM_RELATIVE_ERROR,
            "{ms} is not {expected}"
        );
    };
    near(tier.ai.first_token_p95_ms, 1_000.0);
    near(tier.ai.p95_ms, 2_000.0);

    // Gaps longer than the lifetime: every message writes.
    let tier = run(&text.replace("value: 1m }", "value: 10m }"));
    let (tokens, messages) = (tier.ai.tokens, tier.ai.messages);
    assert_eq!(tokens.cache_read, 0);
    assert_eq!(tokens.cache_write_5m, 2_000 * messages);

    // Judged on the first token, the chat route's latency is 1 s and a
    // millisecond of handler, not 2 s.
    let judged = |judge: &str| {
        let replication = replicate(&text.replace(
            "    slo: exclude",
            &format!("    slo: {{ p95_latency: 5s, judge: {judge} }}"),
        ));
        replication.routes[1].latency.p95_ms.expect("answered")
    };
    near(Some(judged("first_token")), 1_001.0);
    near(Some(judged("completion")), 2_001.0);

    // An input-token limit under the full prompts' rate but over what is
    // debited (uncached input and writes): cache reads pass uncounted.
    let limit = 5_000u64;
    let tier = run(&text.replace(
        "  output_tokens_per_second: 100",
        &format!("  output_tokens_per_second: 100\n  limits: {{ input_tokens: {limit}/min }}"),
    ));
    let tokens = tier.ai.tokens;
    let debited = tokens.input + tokens.cache_write_5m;
    assert!(tier.ai.provider_429s > 0, "the limit binds");
    assert!(debited <= limit * 1_440 + limit, "{debited}");
    assert!(
        debited + tokens.cache_read > limit * 1_441,
        "the prompts passed exceed what the limit allows counted whole"
    );
}

#[test]
fn an_outage_fails_every_call_and_opens_the_breaker_at_its_threshold() {
    let results = replications(&load("ai-outage.yaml"));
    // Day 1 12:00 to 12:30: minutes 720..750.
    for result in &results {
        for minute in 720..750 {
            assert_eq!(result.minutes.ai_answered[minute], 0.0, "minute {minute}");
        }
        let tier = &result.tier;
        assert_eq!(
            tier.outcomes.count(Outcome::AiError),
            3,
            "three failures open the breaker"
        );
        assert_eq!(tier.ai.breaker_opens, 1);
        assert!(tier.outcomes.count(Outcome::AiFastFailed) > 0);
        assert!(
            (780..800).any(|m| result.minutes.ai_answered[m] > 0.0),
            "the probe closes it"
        );
    }
}

#[test]
fn a_provider_bucket_never_lets_more_than_its_limit_through() {
    let results = replications(&load("ai-limits.yaml"));
    // The output-token bucket binds: 4,000 a minute is 8 calls of 500.
    let limit = 8.0;
    for result in &results {
        assert!(result.tier.ai.provider_429s > 0, "the limit bites");
        let answered = &result.minutes.ai_answered;
        for span in 1..=60 {
            for window in answered.windows(span) {
                let through: f64 = window.iter().sum();
                assert!(
                    through <= limit * (span as f64 + 1.0),
                    "{through} calls in {span} minutes"
                );
            }
        }
        let total: f64 = answered.iter().sum();
        assert!(total <= limit * (answered.len() as f64 + 1.0));
    }
}

#[test]
fn the_in_flight_cap_holds_and_queues_the_rest() {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/validation/ai-tokens.yaml");
    let text = std::fs::read_to_string(&path)
        .expect("readable")
        .replace("horizon: 10d", "horizon: 1d")
        .replace(
            "output_tokens_per_second: 100",
            "output_tokens_per_second: 100\n  max_in_flight: 2",
        );
    let scenario = scenario::parse(&path, &text).expect("valid").scenario;
    let result = simulate(&scenario, 10_000, 0).tier;
    let slots = result.ai.slots.expect("a cap on calls in flight");
    assert_eq!(slots.peak_busy, 2);
    assert!(slots.peak_waiting > 0, "calls over the cap wait");
    assert!(slots.mean_wait_ms.expect("calls waited") > 0.0);
    assert_eq!(result.outcomes.count(Outcome::AiError), 0);
}

#[test]
fn a_daily_quota_passes_exactly_its_units_each_day() {
    let scenario = load("quota.yaml");
    let result = simulate(&scenario, 1, 0).tier;
    let calls = result.abusive.requests;
    assert!(calls > 250_000, "about 86,400 calls a day for 3 days");
    // 1,000 units a day at 10 units a call: 100 calls a day for 3 days.
    let videos = result.externals[0];
    assert_eq!(videos.calls, 300);
    assert_eq!(videos.units, 3_000);
    assert_eq!(videos.quota_failures, calls - 300);
    // At 1 call a second the quota runs out about 100 s into each day.
    let exhausted = videos.exhausted_secs;
    assert!(
        (3.0 * 86_000.0..3.0 * 86_400.0).contains(&exhausted),
        "{exhausted}"
    );
}

/// Statement timeouts cancel exactly the queries that would run or wait
/// for a CPU past them (see the scenario), and the role sets the timeout.
#[test]
fn statement_timeouts_cancel_exactly_the_queries_past_them() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios/validation/statement-timeout.yaml");
    let text = std::fs::read_to_string(&path).expect("readable");
    let run = |text: &str| {
        let scenario = scenario::parse(&path, text).expect("valid").scenario;
        simulate(&scenario, 1, 0).tier
    };
    let tier = run(&text);
    let burst = tier.jobs[0];
    assert_eq!((burst.tasks, burst.failed), (5, 3));
    assert_eq!(tier.primary.statement_timeouts, 3);
    // As `anon` (3 s) the third query ends exactly at its limit, 3.005 s,
    // and the last two reach theirs as the CPU frees: cancelled.
    let tier = run(&text
        .replace("db_role: postgres", "db_role: anon")
        .replace("  statement_timeouts: { postgres: 2500ms }\n", ""));
    assert_eq!(
        (tier.jobs[0].failed, tier.primary.statement_timeouts),
        (2, 2)
    );
    // 0 s disables the timeout, as in Postgres: all five finish.
    let tier = run(&text.replace("postgres: 2500ms", "postgres: 0s"));
    assert_eq!(
        (tier.jobs[0].failed, tier.primary.statement_timeouts),
        (0, 0)
    );
}

/// Supavisor's session-mode client limit (see the scenario): the clients
/// over the pool size wait a minute, then exactly those are refused.
#[test]
fn supavisor_session_mode_refuses_exactly_the_clients_over_the_pool() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios/validation/supavisor-session.yaml");
    let text = std::fs::read_to_string(&path).expect("readable");
    let run = |text: &str| {
        let scenario = scenario::parse(&path, text).expect("valid").scenario;
        simulate(&scenario, 1, 0).tier
    };
    let tier = run(&text);
    let pooler = tier.primary.pooler.expect("a pooler");
    assert_eq!((tier.jobs[0].tasks, tier.jobs[0].failed), (8, 3));
    assert_eq!(pooler.client_refusals, 3);
    assert_eq!(pooler.peak_clients, 5);
    // Clients that leave within the minute let the waiting ones in.
    let tier = run(&text
        .replace("value: 2m }", "value: 30s }")
        .replace("idle_timeout: 10m", "idle_timeout: 0s"));
    assert_eq!(
        (
            tier.jobs[0].failed,
            tier.primary.pooler.expect("a pooler").client_refusals
        ),
        (0, 0)
    );
}

/// Burstable CPUs' credits drain and refill at their rates (see the
/// scenario): exactly the queries that find too few run at the baseline.
#[test]
fn cpu_credits_drain_and_refill_at_the_baseline() {
    let tier = simulate(&load("cpu-burst.yaml"), 1, 0).tier;
    let cpus = tier.primary.cpus.expect("CPUs");
    assert_eq!(cpus.throttled_queries, Some(25));
    assert_eq!(cpus.lowest_credits, Some(0.0));
    let (a, b) = (tier.jobs[0], tier.jobs[1]);
    assert_eq!((a.tasks, a.failed, b.tasks, b.failed), (30, 0, 10, 0));
    let close = |secs: Option<f64>, expected: f64| {
        let secs = secs.expect("a run");
        assert!((secs - expected).abs() < 1e-6, "{secs} is not {expected}");
    };
    close(a.mean_run_secs, 201.005);
    close(b.mean_run_secs, 64.0);
}

#[test]
fn a_job_queue_caps_tasks_in_flight_and_finishes_them_all() {
    let queued = simulate(&load("job-queue.yaml"), 1, 0).tier;
    let refresh = queued.jobs[0];
    assert_eq!(refresh.runs, 2);
    assert_eq!(refresh.tasks, 2_000);
    assert_eq!(refresh.peak_in_flight, 5);
    assert_eq!(refresh.failed, 0);
    assert!(queued.primary.peak_connections <= 5);
    // Without the queue the 1,000 tasks start at once and Postgres refuses most.
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/validation/job-queue.yaml");
    let text = std::fs::read_to_string(&path)
        .expect("readable")
        .replace("    queue: { concurrency: 5 }\n", "");
    let burst = simulate(
        &scenario::parse(&path, &text).expect("valid").scenario,
        1,
        0,
    )
    .tier;
    let refresh = burst.jobs[0];
    assert_eq!(refresh.peak_in_flight, 1_000);
    assert_eq!(refresh.tasks, 2_000);
    assert_eq!(burst.primary.peak_connections, 20);
    assert!(refresh.failed > 1_900, "most tasks find no connection");
}

/// The sequential replications' stopping rule on the same closed form, one
/// count at a time, 200 seeds x 7 counts around the threshold, at most 8
/// replications. A count stops early either because more replications
/// could not change the majority of 8 (its verdict must then be exactly
/// that of all 8), or because its replications agree and the 95% interval
/// of their mean margin excludes zero: a one-sided 2.5% test, so at most
/// 2.5% of those verdicts may be wrong against the true majority
/// (P(Poisson(users) > 500) > 1/2); the check allows the binomial 99.9%
/// bound over that rate for the number settled so.
#[test]
fn sequential_replications_keep_their_stated_confidence() {
    use capsim::breakpoints::{self, Evaluations};
    use capsim::experiment::RunOptions;
    use statrs::distribution::{DiscreteCDF, Poisson};
    let base = load("breakpoint-connections.yaml");
    let criteria = breakpoints::criteria(&base);
    let connections = criteria
        .iter()
        .find(|c| c.name == "db_connections_exhausted")
        .expect("the connection criterion");
    let most = 8u32;
    let options = RunOptions {
        replications: Some(most),
        threads: Some(1),
        progress: false,
    };
    let (mut by_interval, mut wrong, mut curtailed, mut full) = (0u32, 0u32, 0u32, 0u32);
    for seed in 0..200 {
        let mut scenario = base.clone();
        scenario.seed = seed;
        for users in [460, 480, 495, 505, 520, 540, 580] {
            let mut evaluations = Evaluations::new();
            breakpoints::evaluate(
                &scenario,
                &scenario,
                &criteria,
                &[users],
                options,
                &mut evaluations,
            )
            .expect("the pool starts");
            let tier = &evaluations[&users];
            let n = tier.replications.len() as u32;
            if n == most {
                full += 1;
                continue;
            }
            let (crossed, applies) = connections.crossings(tier);
            let rest = (most - n) as usize;
            let settled_by_count =
                ((crossed + rest) * 2 > applies + rest) == (crossed * 2 > applies + rest);
            if settled_by_count {
                curtailed += 1;
                // All 8: the same streams, so the same first n replications.
                let mut all = Evaluations::new();
                let every = RunOptions {
                    replications: Some(most),
                    ..options
                };
                let plan = capsim::experiment::Plan {
                    scenario: &scenario,
                    tiers: vec![capsim::experiment::PlannedTier {
                        name: "all".into(),
                        users,
                        stack: &scenario,
                    }],
                };
                let run = capsim::experiment::run(&[plan], every).expect("the pool starts");
                all.insert(users, run[0].tiers[0].clone());
                assert_eq!(
                    connections.crossed(tier),
                    connections.crossed(&all[&users]),
                    "seed {seed}, {users} users: stopped at {n} with another verdict than all {most}"
                );
            } else {
                by_interval += 1;
                let truth = Poisson::new(users as f64).expect("a rate").sf(500) > 0.5;
                if connections.crossed(tier) != truth {
                    wrong += 1;
                }
            }
        }
    }
    let rate = 0.025;
    let settled = f64::from(by_interval);
    let bound = settled * rate + 3.1 * (settled * rate * (1.0 - rate)).sqrt();
    eprintln!(
        "sequential: {by_interval} settled by interval ({wrong} wrong), {curtailed} by count, \
         {full} ran all {most}"
    );
    assert!(
        by_interval >= 100,
        "the interval rule settles counts: {by_interval}"
    );
    assert!(
        f64::from(wrong) <= bound,
        "{wrong} of {by_interval} interval-settled verdicts wrong; at most {bound:.1} allowed"
    );
}

/// A breakpoint known in closed form: connections demanded = requests of the
/// day, N ~ Poisson(users), limit 500; crossed in most replications from
/// about 501 users (the median of Poisson(500.67) is 500.5). With 20
/// replications a count is misjudged only when most of them fall on the
/// wrong side: at 471 or 531 users, P(N > 500) is 0.09 or 0.91 (z = 1.37),
/// and 11 of 20 going the wrong way has probability under 1e-6; a count
/// settled early by its interval is wrong with probability under 2.5%
/// (the test above), far less that far from 501. So the
/// bracket must meet [471, 531], and 6 bisections of the grid's 266..707
/// leave it (707/266)^(1/64) = 1.54% wide, plus a user of rounding at each
/// end: under 2% around 500.
#[test]
fn breakpoints_bracket_a_known_connection_exhaustion() {
    use capsim::breakpoints::{self, Found, SearchOptions};
    use capsim::experiment::RunOptions;
    let scenario = load("breakpoint-connections.yaml");
    let criteria = breakpoints::criteria(&scenario);
    let options = SearchOptions {
        low: 100,
        high: 5_000,
        points_per_decade: 2,
        steps: 6,
        run: RunOptions::default(),
    };
    let (found, _) =
        breakpoints::search(&scenario, &scenario, &criteria, options).expect("the pool starts");
    let index = criteria
        .iter()
        .position(|c| c.name == "db_connections_exhausted")
        .expect("the connection criterion");
    let Found::Between { below, at } = found[index] else {
        panic!(
            "connections must be crossed inside the range: {:?}",
            found[index]
        );
    };
    assert!(
        below <= 531 && at >= 471,
        "bracket {below}..{at} misses 501"
    );
    let width = (707.0_f64 / 266.0).powf(1.0 / 64.0) * (1.0 + 2.0 / 470.0);
    assert!(
        at as f64 / below as f64 <= width,
        "bracket {below}..{at} too wide"
    );
    let throttled = criteria
        .iter()
        .position(|c| c.name == "functions_throttled")
        .expect("the throttling criterion");
    assert_eq!(found[throttled], Found::NotReached(5_000));
    let pooler = criteria
        .iter()
        .position(|c| c.name == "pooler_wait_over_slo")
        .expect("the pooler criterion");
    assert_eq!(found[pooler], Found::NotApplicable);
}

/// The default AI-failure alert (any failed message per 5-minute window)
/// fires only from the outage (day 1 12:00, minute 720): first at the end
/// of a window inside it, and never before.
#[test]
fn an_alert_fires_first_in_the_window_where_the_outage_begins() {
    let scenario = load("ai-outage.yaml");
    let ai_failures = scenario
        .alert_rules()
        .iter()
        .position(|rule| rule.name == "ai_failures")
        .expect("the default AI-failure alert");
    for result in &replications(&scenario) {
        let alert = result.tier.alerts[ai_failures];
        let first = alert.first_minute.expect("the alert fires");
        assert!(
            (725.0..=750.0).contains(&first) && first % 5.0 == 0.0,
            "first fired at minute {first}"
        );
        let minutes = alert.minutes;
        assert!(minutes >= 5 && minutes % 5 == 0, "{minutes} minutes");
        // Chat is excluded from the SLO: nothing breaches it.
        assert!(result.tier.slo_first_breach_minute.is_none());
        assert!(alert.before_breach.is_none());
    }
}

/// Error-rate alerts on M/M/10/10 at 7 erlangs (7.9% of requests blocked):
/// over 5% they fire in every window, on the SLO's 5-minute windows and on
/// 10-minute ones of their own; over 10% in none. Windows start at the
/// warm-up's minute (1) and fire at their end.
#[test]
fn error_rate_alerts_fire_in_every_window_above_the_blocking_rate() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/validation/mmcc.yaml");
    let text = std::fs::read_to_string(&path).expect("shipped")
        + "
alerts:
  - { name: five, metric: error_rate, above: 5%, window: 5m }
  - { name: ten, metric: error_rate, above: 5%, window: 10m }
  - { name: high, metric: error_rate, above: 10%, window: 5m }
";
    let scenario = scenario::parse(&path, &text).expect("valid").scenario;
    let result = simulate(&scenario, scenario.tiers[0].users, 0);
    let [five, ten, high] = result.tier.alerts[..] else {
        panic!("three alerts");
    };
    // 10,000 s less 100 s of warm-up: 165 minutes, 33 windows of 5 and
    // 17 of 10 (the last one half).
    assert_eq!(five.first_minute, Some(6.0));
    assert_eq!(ten.first_minute, Some(11.0));
    assert_eq!(five.minutes, 33 * 5);
    assert_eq!(ten.minutes, 17 * 10);
    assert_eq!(high.minutes, 0);
    assert!(high.first_minute.is_none());
}

/// The usage the bill's CDN, image, origin-transfer and egress lines are
/// priced from: counted exactly per page view, invocation and query, and
/// the image cache's transformations against the TTL formula.
#[test]
fn page_views_images_and_transfers_are_metered_as_the_bill_prices_them() {
    let scenario = load("page-views.yaml");
    let results = replications(&scenario);
    for result in &results {
        let tier = &result.tier;
        let metered = &tier.metered;
        assert_eq!(metered.page_views, tier.requests);
        assert_eq!(metered.asset_requests, 3 * metered.page_views);
        assert_eq!(metered.asset_bytes, 300 * 1_024 * metered.page_views);
        assert_eq!(metered.images.requests, metered.page_views);
        let units = metered.images.read_units + metered.images.write_units;
        assert_eq!(units, 3 * metered.images.requests, "20 KB is 3 units");
        assert_eq!(
            metered.images.write_units,
            3 * metered.images.transformations
        );
        assert_eq!(
            metered.origin_bytes,
            tier.invocations * (2 + 50) * 1_024,
            "every invocation answered"
        );
        assert_eq!(metered.db_egress_bytes, tier.invocations * 8 * 1_024);
    }
    let (lambda, ttl) = (0.5f64, 10.0f64);
    // Sessions pick their user uniformly: by Poisson thinning each of the N
    // users has a session in the measured t = 99,900 s with probability
    // 1 - e^(-lambda t / N).
    let users = 43_200.0f64;
    assert_agrees(
        "distinct active users",
        metric(&results, |t| count(t.metered.active_users)),
        users * (1.0 - (-lambda * 99_900.0 / users).exp()),
        0.01,
        0.0,
    );
    assert_agrees(
        "image transformations per image request",
        metric(&results, |t| {
            Some(t.metered.images.transformations as f64 / t.metered.images.requests as f64)
        }),
        1.0 / (1.0 + lambda * ttl),
        0.02,
        0.0,
    );
}
