//! Engine throughput on the serverless reference scenario (Poisson 100 req/s,
//! exponential 0.2 s warm time, 0.8 s cold start, 600 s idle timeout).
//! Criterion times a 10,000 s slice (about a million requests) so a sample
//! stays short; the README gives the command for the full 100,000 s run.

use std::path::Path;

use capsim::experiment::simulate;
use capsim::scenario::{self, Duration};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn serverless_reference(c: &mut Criterion) {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/bench/serverless-reference.yaml");
    let mut scenario = scenario::load(&path)
        .expect("benchmark scenario is valid")
        .scenario;
    let seconds = 10_000;
    scenario.horizon.value = Duration::from_secs(seconds);
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

criterion_group!(benches, serverless_reference);
criterion_main!(benches);
