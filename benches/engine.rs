//! Engine throughput, against a floor.
//!
//! - `mmc`: the M/M/10 validation scenario (rho 0.9) through the full
//!   engine, against a minimal hand-written M/M/c event loop with the same
//!   arrivals (Poisson, 90/s), service (exponential, mean 100 ms), servers
//!   (10) and customer count: the ratio of the two times is how far the
//!   engine is from the hand-written limit.
//! - `serverless_reference_10000s`: the serverless reference scenario
//!   (Poisson 100 req/s, exponential 0.2 s warm time, 0.8 s cold start,
//!   600 s idle timeout), a 10,000 s slice (about a million requests) so a
//!   sample stays short; the README gives the command for the full run.

use std::collections::VecDeque;
use std::path::Path;

use capsim::experiment::simulate;
use capsim::scenario::{self, Duration, Scenario};
use capsim::sim::{NANOS_PER_SEC, RngStream, stream};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rand_distr::{Distribution, Exp};

fn load(name: &str) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(name);
    scenario::load(&path)
        .expect("benchmark scenario is valid")
        .scenario
}

/// Seconds to nanoseconds, as the engine keeps time.
fn nanos(seconds: f64) -> u64 {
    (seconds * NANOS_PER_SEC as f64) as u64
}

/// The floor: a FIFO M/M/c event loop with nothing else in it. With at most
/// one arrival and c departures pending, the next event is found by a scan
/// of c + 1 times (no heap). Returns the mean wait in seconds, so the work
/// is not optimised away.
fn mmc_floor(customers: u64, arrival_rate: f64, service_rate: f64, servers: usize) -> f64 {
    let mut rng: RngStream = stream(7, &[0, 0]);
    let arrival = Exp::new(arrival_rate).expect("a positive rate");
    let service = Exp::new(service_rate).expect("a positive rate");
    // Each server's departure time; u64::MAX when idle.
    let mut departures = vec![u64::MAX; servers];
    let mut waiting: VecDeque<u64> = VecDeque::new();
    let mut next_arrival = nanos(arrival.sample(&mut rng));
    let (mut arrived, mut served) = (0u64, 0u64);
    let mut wait_nanos = 0u64;
    while served < customers {
        let (server, &departure) = departures
            .iter()
            .enumerate()
            .min_by_key(|(_, time)| **time)
            .expect("at least one server");
        if arrived < customers && next_arrival < departure {
            let now = next_arrival;
            arrived += 1;
            next_arrival = now + nanos(arrival.sample(&mut rng));
            match departures.iter().position(|time| *time == u64::MAX) {
                Some(idle) => departures[idle] = now + nanos(service.sample(&mut rng)),
                None => waiting.push_back(now),
            }
        } else {
            let now = departure;
            served += 1;
            departures[server] = match waiting.pop_front() {
                Some(since) => {
                    wait_nanos += now - since;
                    now + nanos(service.sample(&mut rng))
                }
                None => u64::MAX,
            };
        }
    }
    wait_nanos as f64 / NANOS_PER_SEC as f64 / served.max(1) as f64
}

fn mmc(c: &mut Criterion) {
    let scenario = load("validation/mmc-rho09.yaml");
    let users = scenario.tiers[0].users;
    let customers = simulate(&scenario, users, 0).tier.requests;
    // The floor must be the same queue: Erlang C gives a mean wait of
    // 66.87 ms at rho 0.9; 2.7 million customers land within a few percent.
    let floor_wait = mmc_floor(customers, 90.0, 10.0, 10);
    assert!(
        (floor_wait - 0.06687).abs() < 0.1 * 0.06687,
        "the hand-written loop's mean wait {floor_wait} s is not M/M/10's"
    );
    let mut group = c.benchmark_group("mmc");
    group.sample_size(10);
    group.throughput(Throughput::Elements(customers));
    group.bench_function("engine", |b| b.iter(|| simulate(&scenario, users, 0)));
    group.bench_function("hand_written_floor", |b| {
        b.iter(|| mmc_floor(customers, 90.0, 10.0, 10))
    });
    group.finish();
}

fn serverless_reference(c: &mut Criterion) {
    let mut scenario = load("bench/serverless-reference.yaml");
    scenario.horizon = Duration::from_secs(10_000);
    let users = scenario.tiers[0].users;
    let requests = simulate(&scenario, users, 0).tier.requests;
    let mut group = c.benchmark_group("engine");
    group.sample_size(10);
    group.throughput(Throughput::Elements(requests));
    group.bench_function("serverless_reference_10000s", |b| {
        b.iter(|| simulate(&scenario, users, 0))
    });
    group.finish();
}

criterion_group!(benches, mmc, serverless_reference);
criterion_main!(benches);
