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

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
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

/// The floor: a FIFO M/M/c event loop with nothing else in it. Returns the
/// mean wait in seconds (so the work is not optimised away).
fn mmc_floor(customers: u64, arrival_rate: f64, service_rate: f64, servers: u32) -> f64 {
    let mut rng: RngStream = stream(7, &[0, 0]);
    let arrival = Exp::new(arrival_rate).expect("a positive rate");
    let service = Exp::new(service_rate).expect("a positive rate");
    // (time, 0 = departure, 1 = arrival): departures first at equal times.
    let mut events: BinaryHeap<Reverse<(u64, u8)>> = BinaryHeap::new();
    let mut waiting: VecDeque<u64> = VecDeque::new();
    let (mut arrived, mut served, mut busy) = (0u64, 0u64, 0u32);
    let mut wait_nanos = 0u64;
    events.push(Reverse((nanos(arrival.sample(&mut rng)), 1)));
    while let Some(Reverse((now, kind))) = events.pop() {
        if kind == 1 {
            arrived += 1;
            if arrived < customers {
                events.push(Reverse((now + nanos(arrival.sample(&mut rng)), 1)));
            }
            if busy < servers {
                busy += 1;
                events.push(Reverse((now + nanos(service.sample(&mut rng)), 0)));
            } else {
                waiting.push_back(now);
            }
        } else {
            served += 1;
            match waiting.pop_front() {
                Some(since) => {
                    wait_nanos += now - since;
                    events.push(Reverse((now + nanos(service.sample(&mut rng)), 0)));
                }
                None => busy -= 1,
            }
        }
    }
    wait_nanos as f64 / NANOS_PER_SEC as f64 / served.max(1) as f64
}

fn mmc(c: &mut Criterion) {
    let scenario = load("validation/mmc-rho09.yaml");
    let users = scenario.tiers.value[0].users.value;
    let customers = simulate(&scenario, users, 0).value("requests") as u64;
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
    scenario.horizon.value = Duration::from_secs(10_000);
    let users = scenario.tiers.value[0].users.value;
    let requests = simulate(&scenario, users, 0).value("requests");
    let mut group = c.benchmark_group("engine");
    group.sample_size(10);
    group.throughput(Throughput::Elements(requests as u64));
    group.bench_function("serverless_reference_10000s", |b| {
        b.iter(|| simulate(&scenario, users, 0))
    });
    group.finish();
}

criterion_group!(benches, mmc, serverless_reference);
criterion_main!(benches);
