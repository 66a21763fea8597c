//! Experiments: every (scenario, tier, replication) of a run as one work
//! item of a parallel pool. Each item has its own random streams, so the
//! results do not depend on the number of threads or the order of work.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;

use crate::model::{Replication, Stack};
use crate::scenario::{Loaded, Scenario};
use crate::sim::Scheduler;

/// Simulates replication `replication` of `scenario` with `users` users.
pub fn simulate(scenario: &Scenario, users: u64, replication: u32) -> Replication {
    let mut stack = Stack::new(scenario, users, replication);
    let mut scheduler = Scheduler::new();
    stack.start(&mut scheduler);
    scheduler.run_until(&mut stack, scenario.horizon.value.nanos());
    stack.finish(scenario)
}

/// The replications of one tier.
#[derive(Clone, Debug)]
pub struct TierRun {
    /// The tier's name.
    pub name: String,
    /// Its users.
    pub users: u64,
    /// One result per replication, in replication order.
    pub replications: Vec<Replication>,
}

/// Every tier of one scenario.
#[derive(Debug)]
pub struct ScenarioRun<'a> {
    /// The scenario.
    pub scenario: &'a Scenario,
    /// Per tier, the stack it ran on (the scenario, or its tier's `set`).
    pub stacks: Vec<&'a Scenario>,
    /// Per tier, in scenario order.
    pub tiers: Vec<TierRun>,
}

/// How to run.
#[derive(Clone, Copy, Debug, Default)]
pub struct RunOptions {
    /// Replications per tier, instead of the scenario's.
    pub replications: Option<u32>,
    /// Worker threads (default: one per core).
    pub threads: Option<usize>,
    /// Show a progress bar on standard error when it is a terminal.
    pub progress: bool,
}

/// Runs every tier and replication of `scenarios` in one parallel pool.
pub fn run<'a>(
    scenarios: &[&'a Loaded],
    options: RunOptions,
) -> Result<Vec<ScenarioRun<'a>>, rayon::ThreadPoolBuildError> {
    let mut items = Vec::new();
    for (s, loaded) in scenarios.iter().enumerate() {
        let scenario = &loaded.scenario;
        let replications = options.replications.unwrap_or(scenario.replications.value);
        for (t, tier) in scenario.tiers.value.iter().enumerate() {
            for r in 0..replications {
                items.push((s, t, tier.users.value, r));
            }
        }
    }
    let progress = if options.progress {
        let bar =
            ProgressBar::with_draw_target(Some(items.len() as u64), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{bar:40} {pos}/{len} replications, {elapsed} elapsed, ~{eta} left",
            )
            .expect("valid progress template"),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(options.threads.unwrap_or(0))
        .build()?;
    let results: Vec<Replication> = pool.install(|| {
        items
            .par_iter()
            .map(|&(s, t, users, r)| {
                let result = simulate(scenarios[s].stack(t), users, r);
                progress.inc(1);
                result
            })
            .collect()
    });
    progress.finish_and_clear();
    let mut results = results.into_iter();
    let runs = scenarios
        .iter()
        .enumerate()
        .map(|(s, loaded)| ScenarioRun {
            scenario: &loaded.scenario,
            stacks: (0..loaded.scenario.tiers.value.len())
                .map(|t| loaded.stack(t))
                .collect(),
            tiers: loaded
                .scenario
                .tiers
                .value
                .iter()
                .enumerate()
                .map(|(t, tier)| TierRun {
                    name: tier.name.clone(),
                    users: tier.users.value,
                    replications: items
                        .iter()
                        .filter(|item| item.0 == s && item.1 == t)
                        .map(|_| results.next().expect("one result per item"))
                        .collect(),
                })
                .collect(),
        })
        .collect();
    Ok(runs)
}
