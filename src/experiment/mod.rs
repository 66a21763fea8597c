//! Experiments: every (scenario, tier, replication) of a run as one work
//! item of a parallel pool. Each item has its own random streams, so the
//! results do not depend on the number of threads or the order of work.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

mod footprint;
pub mod part;

use std::borrow::Cow;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::model::{Minutes, Replication, RequestLog, Stack};
use crate::scenario::{Compute, Loaded, Scenario};
use crate::sim::Scheduler;
use crate::stats::{Estimate, estimate};

pub use footprint::{
    EVENTS_PER_REQUEST, Footprint, available_memory, expected_requests, footprint,
    requests_per_page,
};

/// Simulates replication `replication` of `scenario` with `users` users.
pub fn simulate(scenario: &Scenario, users: u64, replication: u32) -> Replication {
    run_stack(scenario, Stack::new(scenario, users, replication)).0
}

/// Simulates replication `replication` of `scenario` with `users` users,
/// writing each request's line to `log`; the lines written, or the first
/// error writing them. Requests still in flight at the horizon are not
/// logged (a server logs a request when it ends).
pub fn simulate_logged(
    scenario: &Scenario,
    users: u64,
    replication: u32,
    log: RequestLog,
) -> (Replication, std::io::Result<u64>) {
    let mut stack = Stack::new(scenario, users, replication);
    stack.log_requests(log);
    let (replication, log) = run_stack(scenario, stack);
    let written = log.expect("the log it was given").finish();
    (replication, written)
}

fn run_stack(scenario: &Scenario, mut stack: Stack) -> (Replication, Option<RequestLog>) {
    let mut scheduler = Scheduler::new(scenario.horizon.nanos());
    stack.start(&mut scheduler);
    scheduler.run(&mut stack);
    let log = stack.take_log();
    (stack.finish(scenario, scheduler.handled()), log)
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
    /// The mean over replications of what `measure` reads from each, with
    /// its CI; a replication where it does not apply counts as NaN.
    pub fn estimate(&self, measure: impl Fn(&Replication) -> Option<f64>) -> Estimate {
        let values: Vec<f64> = self
            .replications
            .iter()
            .map(|r| measure(r).unwrap_or(f64::NAN))
            .collect();
        estimate(&values)
    }

    /// The mean over replications of the per-minute series `series` reads
    /// at `minute`.
    pub fn minute_mean(&self, minute: usize, series: impl Fn(&Minutes) -> &[f64]) -> f64 {
        let sum: f64 = self
            .replications
            .iter()
            .map(|r| series(&r.minutes)[minute])
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
                .iter()
                .enumerate()
                .map(|(t, tier)| PlannedTier {
                    name: tier.name.clone(),
                    users: tier.users,
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

/// A work item: (scenario, tier, replication).
pub type Item = (usize, usize, u32);

fn progress_bar(options: RunOptions) -> ProgressBar {
    if !options.progress {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:40} {pos}/{len} replications, {elapsed} elapsed, ~{eta} left",
        )
        .expect("valid progress template"),
    );
    bar
}

/// Runs with no replication yet, each tier on its first stack.
fn empty_runs<'a>(plans: &[Plan<'a>]) -> Vec<ScenarioRun<'a>> {
    plans
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
        .collect()
}

/// The replications of tier `t` of scenario `s`, in order.
fn tier_items(
    plans: &[Plan],
    options: RunOptions,
    s: usize,
    t: usize,
) -> impl Iterator<Item = Item> {
    let replications = options
        .replications
        .unwrap_or(plans[s].scenario.replications);
    (0..replications).map(move |r| (s, t, r))
}

/// Every work item of `plans`, in the fixed order shards divide.
pub fn items(plans: &[Plan], options: RunOptions) -> Vec<Item> {
    (0..plans.len())
        .flat_map(|s| (0..plans[s].tiers.len()).map(move |t| (s, t)))
        .flat_map(|(s, t)| tier_items(plans, options, s, t))
        .collect()
}

/// One replication to simulate: a stack, its users, the replication.
pub type Work<'a> = (&'a Scenario, u64, u32);

/// Simulates each of `work` in parallel, largest first; results in order.
pub fn simulate_each(
    work: &[Work],
    options: RunOptions,
) -> Result<Vec<Replication>, rayon::ThreadPoolBuildError> {
    let progress = progress_bar(options);
    let pool = thread_pool(options)?;
    let results = simulate_work(&pool, work, &progress);
    progress.finish_and_clear();
    Ok(results)
}

/// Simulates `items` of `runs` on `pool`, results in item order.
fn simulate_items(
    pool: &rayon::ThreadPool,
    runs: &[ScenarioRun],
    items: &[Item],
    progress: &ProgressBar,
) -> Vec<Replication> {
    let work: Vec<Work> = items
        .iter()
        .map(|&(s, t, r)| (&*runs[s].stacks[t], runs[s].tiers[t].users, r))
        .collect();
    simulate_work(pool, &work, progress)
}

/// Simulates `work` on `pool`, results in order.
///
/// Every worker takes the largest item not yet taken (by expected
/// requests), so the run does not end with one core busy on a large tier
/// while the others wait. Each result depends only on its item, so the
/// order of work changes nothing in it.
fn simulate_work(
    pool: &rayon::ThreadPool,
    work: &[Work],
    progress: &ProgressBar,
) -> Vec<Replication> {
    progress.inc_length(work.len() as u64);
    let sizes: Vec<f64> = work
        .iter()
        .map(|&(stack, users, _)| expected_requests(stack, users))
        .collect();
    let mut largest_first: Vec<usize> = (0..work.len()).collect();
    largest_first.sort_by(|&a, &b| sizes[b].total_cmp(&sizes[a]).then(a.cmp(&b)));
    let next = AtomicUsize::new(0);
    let results: Vec<OnceLock<Replication>> = work.iter().map(|_| OnceLock::new()).collect();
    pool.broadcast(|_| {
        while let Some(&index) = largest_first.get(next.fetch_add(1, Ordering::Relaxed)) {
            let (stack, users, r) = work[index];
            let result = simulate(stack, users, r);
            // Each index is taken once, so its cell is empty.
            let _ = results[index].set(result);
            progress.inc(1);
        }
    });
    results
        .into_iter()
        .map(|cell| cell.into_inner().expect("every item was simulated"))
        .collect()
}

fn thread_pool(options: RunOptions) -> Result<rayon::ThreadPool, rayon::ThreadPoolBuildError> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(options.threads.unwrap_or(0))
        .build()
}

impl RunOptions {
    /// The worker threads a run uses: `threads`, else one per core.
    pub fn worker_threads(&self) -> usize {
        self.threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
    }
}

/// Runs every tier and replication of `plans` in one parallel pool. Tiers
/// on `compute: auto` start on Micro and run again on the cheapest compute
/// that covers the connections they demanded, until one does.
pub fn run<'a>(
    plans: &[Plan<'a>],
    options: RunOptions,
) -> Result<Vec<ScenarioRun<'a>>, rayon::ThreadPoolBuildError> {
    let progress = progress_bar(options);
    let pool = thread_pool(options)?;
    let mut runs = empty_runs(plans);
    let mut pending: Vec<(usize, usize)> = runs
        .iter()
        .enumerate()
        .flat_map(|(s, run)| (0..run.tiers.len()).map(move |t| (s, t)))
        .collect();
    while !pending.is_empty() {
        let items: Vec<Item> = pending
            .iter()
            .flat_map(|&(s, t)| tier_items(plans, options, s, t))
            .collect();
        let mut results = simulate_items(&pool, &runs, &items, &progress).into_iter();
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
            let Some(current) = run.stacks[t].database.compute else {
                return false;
            };
            match next_compute(current, &run.tiers[t].replications) {
                Some(next) => {
                    run.stacks[t].to_mut().set_compute(next);
                    true
                }
                None => false,
            }
        });
    }
    progress.finish_and_clear();
    Ok(runs)
}

/// Whether any tier of `plans` is on `compute: auto`, which needs all of a
/// tier's replications in one process.
fn has_auto_compute(plans: &[Plan]) -> bool {
    plans
        .iter()
        .flat_map(|p| &p.tiers)
        .any(|t| is_auto(t.stack))
}

/// The work items of shard `shard` of `count`: those of [`items`] whose
/// index is `shard` modulo `count`.
pub fn shard_items(plans: &[Plan], options: RunOptions, shard: u32, count: u32) -> Vec<Item> {
    items(plans, options)
        .into_iter()
        .enumerate()
        .filter(|(index, _)| *index as u64 % u64::from(count) == u64::from(shard))
        .map(|(_, item)| item)
        .collect()
}

/// Why a shard cannot run.
#[derive(Debug, thiserror::Error)]
pub enum ShardError {
    /// A tier is on `compute: auto`.
    #[error(
        "`compute: auto` runs a tier's replications again on a bigger compute, so all of a \
         tier must run in one process: set a compute, or run without --shard"
    )]
    AutoCompute,
    /// The worker threads could not start.
    // The cause is the error's source: printed after it, once.
    #[error("cannot start the worker threads")]
    Pool(#[from] rayon::ThreadPoolBuildError),
}

/// Simulates the work items of shard `shard` of `count`, with their results.
pub fn run_shard(
    plans: &[Plan],
    options: RunOptions,
    shard: u32,
    count: u32,
) -> Result<Vec<(Item, Replication)>, ShardError> {
    if has_auto_compute(plans) {
        return Err(ShardError::AutoCompute);
    }
    let progress = progress_bar(options);
    let pool = thread_pool(options)?;
    let runs = empty_runs(plans);
    let mine = shard_items(plans, options, shard, count);
    let results = simulate_items(&pool, &runs, &mine, &progress);
    progress.finish_and_clear();
    Ok(mine.into_iter().zip(results).collect())
}

/// The runs of `plans` from results gathered elsewhere (shards), one per
/// item of [`items`] in any order.
pub fn assemble<'a>(
    plans: &[Plan<'a>],
    mut results: Vec<(Item, Replication)>,
) -> Vec<ScenarioRun<'a>> {
    results.sort_by_key(|(item, _)| *item);
    let mut runs = empty_runs(plans);
    for ((s, t, _), replication) in results {
        runs[s].tiers[t].replications.push(replication);
    }
    runs
}

fn is_auto(stack: &Scenario) -> bool {
    stack.database.compute == Some(Compute::Auto)
}

/// The stack a tier first runs on: `compute: auto` starts on Micro.
fn first_stack(stack: &Scenario) -> Cow<'_, Scenario> {
    if is_auto(stack) {
        let mut owned = stack.clone();
        owned.set_compute(Compute::Micro);
        Cow::Owned(owned)
    } else {
        Cow::Borrowed(stack)
    }
}

/// Where `compute: auto` goes after `replications` ran on `current`: the
/// cheapest bigger size whose connection limit (less the platform's
/// connections) covers the most connections any node demanded, refused
/// attempts included; `None` when `current` covers them or is the largest.
pub fn next_compute(current: Compute, replications: &[Replication]) -> Option<Compute> {
    let first = replications.first()?;
    let limit = first.tier.primary.connection_limit;
    let platform = current.size().max_connections.saturating_sub(limit);
    let demanded = replications
        .iter()
        .flat_map(|r| r.tier.nodes().map(|node| node.peak_demanded as f64))
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
