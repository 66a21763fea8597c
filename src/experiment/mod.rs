//! Experiments: every (scenario, tier, replication) of a run as one work
//! item of a parallel pool. Each item has its own random streams, so the
//! results do not depend on the number of threads or the order of work.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;

mod footprint;

use std::borrow::Cow;

use crate::model::{Replication, Stack};
use crate::scenario::{Compute, Loaded, Scenario};
use crate::sim::Scheduler;
use crate::stats::{Estimate, estimate};

pub use footprint::{
    EVENTS_PER_REQUEST, Footprint, available_memory, footprint, requests_per_page,
};

/// Simulates replication `replication` of `scenario` with `users` users.
pub fn simulate(scenario: &Scenario, users: u64, replication: u32) -> Replication {
    let mut stack = Stack::new(scenario, users, replication);
    let mut scheduler = Scheduler::new();
    stack.start(&mut scheduler);
    scheduler.run_until(&mut stack, scenario.horizon.value.nanos());
    let mut replication = stack.finish(scenario);
    replication
        .values
        .push("events", scheduler.handled() as f64);
    replication
}

/// The replications of one tier.
#[derive(Clone, Debug)]
pub struct TierRun {
    /// The tier's name.
    pub name: String,
    /// Its users.
    pub users: u64,
    /// Whether `compute: auto` picked its compute (the stack's `database.compute`).
    pub auto_compute: bool,
    /// One result per replication, in replication order.
    pub replications: Vec<Replication>,
}

impl TierRun {
    /// The mean of tier-level value `name` over replications, with its CI.
    pub fn estimate(&self, name: &str) -> Estimate {
        let values: Vec<f64> = self.replications.iter().map(|r| r.value(name)).collect();
        estimate(&values)
    }

    /// The mean over replications of per-minute `field` (an index from
    /// [`Replication::minute_field`]) at `minute`.
    pub fn minute_mean(&self, minute: usize, field: Option<usize>) -> f64 {
        let sum: f64 = self
            .replications
            .iter()
            .map(|r| r.minute_at(minute, field))
            .sum();
        sum / self.replications.len() as f64
    }
}

/// Every tier of one scenario.
#[derive(Debug)]
pub struct ScenarioRun<'a> {
    /// The scenario.
    pub scenario: &'a Scenario,
    /// Per tier, the stack it ran on (the scenario, or its tier's `set`, with
    /// the compute `compute: auto` picked).
    pub stacks: Vec<Cow<'a, Scenario>>,
    /// Per tier, in scenario order.
    pub tiers: Vec<TierRun>,
}

/// One tier to run: a user count on a stack.
#[derive(Clone, Debug)]
pub struct PlannedTier<'a> {
    /// Its name in reports.
    pub name: String,
    /// Its users.
    pub users: u64,
    /// The stack it runs on.
    pub stack: &'a Scenario,
}

/// What to run of one scenario.
#[derive(Clone, Debug)]
pub struct Plan<'a> {
    /// The scenario.
    pub scenario: &'a Scenario,
    /// Its tiers.
    pub tiers: Vec<PlannedTier<'a>>,
}

impl<'a> Plan<'a> {
    /// The scenario's own tiers, each on its stack.
    pub fn tiers(loaded: &'a Loaded) -> Self {
        Self {
            scenario: &loaded.scenario,
            tiers: loaded
                .scenario
                .tiers
                .value
                .iter()
                .enumerate()
                .map(|(t, tier)| PlannedTier {
                    name: tier.name.clone(),
                    users: tier.users.value,
                    stack: loaded.stack(t),
                })
                .collect(),
        }
    }
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

/// Runs every tier and replication of `plans` in one parallel pool. Tiers
/// on `compute: auto` start on Micro and run again on the cheapest compute
/// that covers the connections they demanded, until one does.
pub fn run<'a>(
    plans: &[Plan<'a>],
    options: RunOptions,
) -> Result<Vec<ScenarioRun<'a>>, rayon::ThreadPoolBuildError> {
    let progress = if options.progress {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
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
    let mut runs: Vec<ScenarioRun<'a>> = plans
        .iter()
        .map(|plan| ScenarioRun {
            scenario: plan.scenario,
            stacks: plan.tiers.iter().map(|t| first_stack(t.stack)).collect(),
            tiers: plan
                .tiers
                .iter()
                .map(|tier| TierRun {
                    name: tier.name.clone(),
                    users: tier.users,
                    auto_compute: is_auto(tier.stack),
                    replications: Vec::new(),
                })
                .collect(),
        })
        .collect();
    let mut pending: Vec<(usize, usize)> = runs
        .iter()
        .enumerate()
        .flat_map(|(s, run)| (0..run.tiers.len()).map(move |t| (s, t)))
        .collect();
    while !pending.is_empty() {
        let mut items = Vec::new();
        for &(s, t) in &pending {
            let replications = options
                .replications
                .unwrap_or(runs[s].scenario.replications.value);
            items.extend((0..replications).map(|r| (s, t, r)));
        }
        progress.inc_length(items.len() as u64);
        let results: Vec<Replication> = pool.install(|| {
            items
                .par_iter()
                .map(|&(s, t, r)| {
                    let result = simulate(&runs[s].stacks[t], runs[s].tiers[t].users, r);
                    progress.inc(1);
                    result
                })
                .collect()
        });
        let mut results = results.into_iter();
        for &(s, t) in &pending {
            runs[s].tiers[t].replications = items
                .iter()
                .filter(|item| (item.0, item.1) == (s, t))
                .map(|_| results.next().expect("one result per item"))
                .collect();
        }
        pending.retain(|&(s, t)| {
            let run = &mut runs[s];
            if !run.tiers[t].auto_compute {
                return false;
            }
            let current = run.stacks[t].database.compute.as_ref().map(|c| c.value);
            let current = current.expect("an auto tier has a compute");
            match next_compute(current, &run.tiers[t].replications) {
                Some(next) => {
                    set_compute(run.stacks[t].to_mut(), next);
                    true
                }
                None => false,
            }
        });
    }
    progress.finish_and_clear();
    Ok(runs)
}

fn is_auto(stack: &Scenario) -> bool {
    stack
        .database
        .compute
        .as_ref()
        .is_some_and(|c| c.value == Compute::Auto)
}

/// The stack a tier first runs on: `compute: auto` starts on Micro.
fn first_stack(stack: &Scenario) -> Cow<'_, Scenario> {
    if is_auto(stack) {
        let mut owned = stack.clone();
        set_compute(&mut owned, Compute::Micro);
        Cow::Owned(owned)
    } else {
        Cow::Borrowed(stack)
    }
}

fn set_compute(stack: &mut Scenario, compute: Compute) {
    if let Some(setting) = &mut stack.database.compute {
        setting.value = compute;
    }
}

/// Where `compute: auto` goes after `replications` ran on `current`: the
/// cheapest bigger size whose connection limit (less the platform's
/// connections) covers the most connections any node demanded, refused
/// attempts included; `None` when `current` covers them or is the largest.
pub fn next_compute(current: Compute, replications: &[Replication]) -> Option<Compute> {
    let first = replications.first()?;
    let limit = first.value("db_connection_limit") as u32;
    let platform = current.size().max_connections.saturating_sub(limit);
    let demanded = replications
        .iter()
        .flat_map(|r| {
            r.values
                .names()
                .iter()
                .zip(r.values.values())
                .filter(|(name, _)| name.ends_with("peak_db_demanded"))
                .map(|(_, value)| *value)
        })
        .fold(0.0, f64::max);
    let covers =
        |c: &Compute| f64::from(c.size().max_connections.saturating_sub(platform)) >= demanded;
    if covers(&current) {
        return None;
    }
    let mut bigger = Compute::LADDER
        .iter()
        .skip_while(|c| **c != current)
        .skip(1);
    let last = *Compute::LADDER.last().expect("a ladder");
    let next = bigger.find(|c| covers(c)).copied().unwrap_or(last);
    (next != current).then_some(next)
}
