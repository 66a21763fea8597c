//! The engine, configured to reduce to textbook models, against their
//! closed forms. Each comparison allows the 95% confidence half-width over
//! replications (plus the histogram's known relative error for percentiles),
//! and first checks that the half-width itself is tight.

use std::path::PathBuf;

use capsim::experiment::simulate;
use capsim::model::Replication;
use capsim::scenario::{self, Scenario};
use capsim::stats::{Estimate, estimate};

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
fn replications(scenario: &Scenario) -> Vec<Replication> {
    let users = scenario.tiers.value[0].users.value;
    (0..scenario.replications.value)
        .map(|r| simulate(scenario, users, r))
        .collect()
}

fn metric(results: &[Replication], column: &str) -> Estimate {
    let values: Vec<f64> = results.iter().map(|r| r.value(column)).collect();
    estimate(&values)
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

fn check_mmc(file: &str, lambda: f64, max_relative: f64) {
    let (servers, mu) = (10, 10.0);
    let results = replications(&load(file));
    let mean_wait_ms =
        erlang_c(servers, lambda / mu) / (f64::from(servers) * mu - lambda) * 1_000.0;
    assert_agrees(
        "mean wait (ms)",
        metric(&results, "mean_wait_ms"),
        mean_wait_ms,
        max_relative,
        0.0,
    );
    let p95_ms = mmc_response_quantile(servers, lambda, mu, 0.95) * 1_000.0;
    assert_agrees(
        "response-time p95 (ms)",
        metric(&results, "p95_ms"),
        p95_ms,
        max_relative,
        HISTOGRAM_RELATIVE_ERROR * p95_ms,
    );
    assert_eq!(metric(&results, "throttled").mean, 0.0);
    assert_eq!(metric(&results, "cold_starts").mean, 0.0);
}

#[test]
fn closed_forms_are_right() {
    // Tabulated values: B(10, 7) = 0.07874, C(10, 9) = 0.66873.
    assert!((erlang_b(10, 7.0) - 0.078_741).abs() < 1e-5);
    assert!((erlang_c(10, 9.0) - 0.668_73).abs() < 1e-4);
    // With one server the response time is exponential with rate mu - lambda.
    let q = mmc_response_quantile(1, 5.0, 10.0, 0.95);
    assert!((q - 20f64.ln() / 5.0).abs() < 1e-9);
}

#[test]
fn mmc_at_rho_05_matches_erlang_c() {
    check_mmc("mmc-rho05.yaml", 50.0, 0.02);
}

#[test]
fn mmc_at_rho_09_matches_erlang_c() {
    check_mmc("mmc-rho09.yaml", 90.0, 0.05);
}

#[test]
fn mmcc_blocking_matches_erlang_b() {
    let results = replications(&load("mmcc.yaml"));
    let blocking: Vec<f64> = results
        .iter()
        .map(|r| r.value("throttled") / r.value("requests"))
        .collect();
    assert_agrees(
        "blocking",
        estimate(&blocking),
        erlang_b(10, 7.0),
        0.02,
        0.0,
    );
    assert_eq!(
        metric(&results, "mean_wait_ms").mean,
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
        metric(&results, "cold_start_ratio"),
        cold_share,
        0.02,
        0.0,
    );
    assert_agrees(
        "mean instances",
        metric(&results, "mean_instances"),
        1.0 - cold_share,
        0.02,
        0.0,
    );
}
