//! Breakpoints: for each resource and SLO, the user count at which it is
//! first crossed, found by simulating the scenario's stack at user counts
//! on a log-spaced grid and then bisecting (in log space) the first bracket
//! where it flips.
//!
//! A count is "crossed" when more than half of its replications cross: a
//! month at that load more likely breaks than not. Replications are spent
//! where the verdict is in doubt: each count starts with 2 and doubles them,
//! up to the maximum, while some criterion's replications split or the 95%
//! confidence interval of its mean margin over the threshold holds zero.
//! Replication r has the same random streams at every count, so counts
//! compare on common random numbers. Each breakpoint is
//! reported as a bracket (the highest count below that did not cross, the
//! lowest that did) with how many replications crossed at each end, the
//! measured value and its 95% CI there, and the peak request rate and
//! concurrent sessions at the upper end.

use std::collections::BTreeMap;

use std::borrow::Cow;

use crate::experiment::{self, Plan, PlannedTier, RunOptions, ScenarioRun, TierRun};
use crate::model::{Outcome, TierResults};
use crate::scenario::{Compute, Scenario};
use crate::stats::Estimate;

/// Per replication: the measured value and the threshold it must stay at or
/// under; `None` where the criterion does not apply.
type Measure = Box<dyn Fn(&TierResults) -> Option<(f64, f64)> + Sync>;

/// A resource limit or SLO to find the crossing of.
pub struct Criterion {
    /// Short identifier, a breakpoints.csv value.
    pub name: &'static str,
    /// What crossing means, with its threshold.
    pub description: String,
    /// How a replication measures against the threshold.
    measure: Measure,
}

impl Criterion {
    fn new(
        name: &'static str,
        description: String,
        measure: impl Fn(&TierResults) -> Option<(f64, f64)> + Sync + 'static,
    ) -> Self {
        Self {
            name,
            description,
            measure: Box::new(measure),
        }
    }

    /// How many of `tier`'s replications crossed, of how many it applies to.
    pub fn crossings(&self, tier: &TierRun) -> (usize, usize) {
        let measured: Vec<(f64, f64)> = tier
            .replications
            .iter()
            .filter_map(|r| (self.measure)(&r.tier))
            .collect();
        let applies = measured.len();
        let crossed = measured
            .iter()
            .filter(|(value, threshold)| value > threshold)
            .count();
        (crossed, applies)
    }

    /// Whether more than half of `tier`'s replications crossed.
    pub fn crossed(&self, tier: &TierRun) -> bool {
        let (crossed, applies) = self.crossings(tier);
        applies > 0 && crossed * 2 > applies
    }

    /// Whether `tier`'s replications leave this criterion's verdict open,
    /// with up to `most` replications allowed. It is settled when more
    /// replications could not change the majority of `most` (so the verdict
    /// is the one all `most` would give), or when the replications agree and
    /// the 95% CI of their mean margin over the threshold excludes zero.
    pub fn uncertain(&self, tier: &TierRun, most: usize) -> bool {
        let margins: Vec<f64> = tier
            .replications
            .iter()
            .filter_map(|r| (self.measure)(&r.tier))
            .map(|(value, threshold)| value - threshold)
            .collect();
        if margins.is_empty() {
            return false;
        }
        let (crossed, applies) = (margins.iter().filter(|m| **m > 0.0).count(), margins.len());
        let rest = most.saturating_sub(tier.replications.len());
        if ((crossed + rest) * 2 > applies + rest) == (crossed * 2 > applies + rest) {
            return false;
        }
        if crossed != 0 && crossed != applies {
            return true;
        }
        let margin = crate::stats::estimate(&margins);
        // A NaN half-width (one replication) leaves it open too.
        margin.half_width.is_nan() || margin.mean.abs() <= margin.half_width
    }

    /// The measured value's mean and CI over `tier`'s replications.
    pub fn value(&self, tier: &TierRun) -> Estimate {
        tier.estimate(|r| (self.measure)(&r.tier).map(|(value, _)| value))
    }
}

/// The criteria of `scenario`: connections, pooler, the Data API's pool,
/// database CPU, function throttling, the SLOs, AI provider limits and the
/// connection alert.
pub fn criteria(scenario: &Scenario) -> Vec<Criterion> {
    let slo_ms = scenario.slo.p95_latency.secs() * 1_000.0;
    let error_rate = scenario.slo.error_rate.0;
    let positive =
        |count: fn(&TierResults) -> u64| move |t: &TierResults| Some((count(t) as f64, 0.0));
    let mut criteria = vec![
        Criterion::new(
            "db_connections_exhausted",
            "database connections demanded at peak over the limit for the app".into(),
            |t| {
                let primary = &t.primary;
                Some((
                    primary.peak_demanded as f64,
                    f64::from(primary.connection_limit),
                ))
            },
        ),
        Criterion::new(
            "pooler_refusals_or_timeouts",
            "pooler clients refused or queries timed out waiting (any)".into(),
            |t| {
                let pooler = t.primary.pooler?;
                Some(((pooler.client_refusals + pooler.wait_timeouts) as f64, 0.0))
            },
        ),
        Criterion::new(
            "pooler_wait_over_slo",
            format!("pooler wait p95 over the SLO's {slo_ms:.0} ms"),
            move |t| Some((t.primary.pooler?.servers.wait_p95_ms?, slo_ms)),
        ),
        Criterion::new(
            "data_api_timeouts",
            "Data API requests timed out waiting for PostgREST's pool (any)".into(),
            |t| {
                // Not applicable when no route goes through the Data API.
                (t.primary.data_api.peak_busy > 0)
                    .then_some((t.primary.data_api_wait_timeouts as f64, 0.0))
            },
        ),
        Criterion::new(
            "db_cpu_saturated",
            "database CPUs over 95% busy in the busiest minute".into(),
            |t| Some((t.primary.cpus?.busiest_minute_utilisation, 0.95)),
        ),
        Criterion::new(
            "functions_throttled",
            "function instances throttled (503, any)".into(),
            positive(|t| t.outcomes.count(Outcome::Throttled)),
        ),
        Criterion::new(
            "worst_window_p95_over_slo",
            format!("worst-window p95 latency over the SLO's {slo_ms:.0} ms"),
            move |t| Some((t.worst_window_p95_ms?, slo_ms)),
        ),
        Criterion::new(
            "worst_window_errors_over_slo",
            format!(
                "worst-window error rate over the SLO's {:.2}%",
                error_rate * 100.0
            ),
            move |t| Some((t.worst_window_error_rate?, error_rate)),
        ),
    ];
    if scenario.ai.is_some() {
        criteria.push(Criterion::new(
            "ai_provider_429s",
            "AI provider rate limits answered 429 (any)".into(),
            positive(|t| t.ai.provider_429s),
        ));
    }
    if let Some(alert) = scenario.db_connection_alert() {
        criteria.push(Criterion::new(
            "db_connection_alert",
            format!(
                "open connections at peak reaching the alert threshold of {:.0}",
                alert.threshold
            ),
            move |t| Some((t.primary.peak_connections as f64, alert.fires_above)),
        ));
    }
    criteria
}

/// How a search over user counts is run.
#[derive(Clone, Copy, Debug)]
pub struct SearchOptions {
    /// The lowest user count tried.
    pub low: u64,
    /// The highest user count tried.
    pub high: u64,
    /// Grid points per tenfold increase of users.
    pub points_per_decade: u32,
    /// Bisection steps inside the first crossed bracket.
    pub steps: u32,
    /// Replications per count, threads, progress.
    pub run: RunOptions,
}

/// Where one criterion is first crossed.
#[derive(Clone, Debug, PartialEq)]
pub enum Found {
    /// Crossed between two simulated counts.
    Between {
        /// The highest count below that did not cross.
        below: u64,
        /// The lowest count that crossed.
        at: u64,
    },
    /// Already crossed at the lowest count tried.
    AtOrBelow(u64),
    /// Not crossed at any count tried, up to this one.
    NotReached(u64),
    /// The stack has no such resource at any count.
    NotApplicable,
}

/// The simulated user counts of a search, each with its replications.
pub type Evaluations = BTreeMap<u64, TierRun>;

/// `points` user counts from `low` to `high`, both included, evenly
/// spaced in log scale (rounded; repeats dropped).
pub fn log_spaced(low: u64, high: u64, points: u32) -> Vec<u64> {
    let (low, high) = (low.max(1) as f64, high.max(low.max(1)) as f64);
    let last = f64::from(points.max(2) - 1);
    let mut counts: Vec<u64> = (0..points.max(2))
        .map(|i| (low * (high / low).powf(f64::from(i) / last)).round() as u64)
        .collect();
    counts.dedup();
    counts
}

/// The search grid: `points_per_decade` counts per tenfold increase.
pub fn grid(low: u64, high: u64, points_per_decade: u32) -> Vec<u64> {
    let decades = (high.max(1) as f64 / low.max(1) as f64).log10();
    let intervals = (decades * f64::from(points_per_decade.max(1)))
        .ceil()
        .max(1.0) as u32;
    log_spaced(low, high, intervals + 1)
}

/// Replications a count starts with: the fewest that can agree or split.
const FIRST_REPLICATIONS: u32 = 2;

/// Simulates `stack` at each of `counts` until every criterion's verdict
/// there is settled ([`Criterion::uncertain`]) or it has the most
/// replications `options` allow; counts in `evaluations` keep theirs. All
/// counts' replications of a round run as one parallel batch.
pub fn evaluate(
    scenario: &Scenario,
    stack: &Scenario,
    criteria: &[Criterion],
    counts: &[u64],
    options: RunOptions,
    evaluations: &mut Evaluations,
) -> Result<(), rayon::ThreadPoolBuildError> {
    if stack.database.compute == Some(Compute::Auto) {
        // `compute: auto` reruns a count's replications together on bigger
        // computes: all of them at once.
        return evaluate_whole(scenario, stack, counts, options, evaluations);
    }
    let most = options.replications.unwrap_or(scenario.replications).max(1);
    for &users in counts {
        evaluations.entry(users).or_insert_with(|| TierRun {
            name: format!("{users} users"),
            users,
            auto_compute: false,
            replications: Vec::new(),
        });
    }
    loop {
        let mut work: Vec<experiment::Work> = Vec::new();
        for &users in counts {
            let tier = &evaluations[&users];
            let done = tier.replications.len() as u32;
            let next = if done == 0 {
                FIRST_REPLICATIONS.min(most)
            } else if done < most
                && criteria.iter().any(|c| {
                    c.uncertain(tier, most as usize) && !implied(c, users, evaluations, most)
                })
            {
                (2 * done).min(most)
            } else {
                continue;
            };
            if work.iter().all(|w| w.1 != users) {
                work.extend((done..next).map(|r| (stack, users, r)));
            }
        }
        if work.is_empty() {
            return Ok(());
        }
        let results = experiment::simulate_each(&work, options)?;
        for ((_, users, _), replication) in work.iter().zip(results) {
            if let Some(tier) = evaluations.get_mut(users) {
                tier.replications.push(replication);
            }
        }
    }
}

/// The counts of `plan` (a sweep: one stack at many user counts), with
/// replications spent as [`evaluate`] spends them, on the scenario's
/// criteria. A stack on `compute: auto` runs every replication.
pub fn adaptive_run<'a>(
    plan: &Plan<'a>,
    options: RunOptions,
) -> Result<ScenarioRun<'a>, rayon::ThreadPoolBuildError> {
    let stack = plan.tiers.first().map(|t| t.stack);
    let Some(stack) = stack.filter(|stack| {
        stack.database.compute != Some(Compute::Auto)
            && plan.tiers.iter().all(|t| std::ptr::eq(t.stack, *stack))
    }) else {
        return Ok(experiment::run(std::slice::from_ref(plan), options)?.remove(0));
    };
    let counts: Vec<u64> = plan.tiers.iter().map(|t| t.users).collect();
    let mut evaluations = Evaluations::new();
    let criteria = criteria(stack);
    evaluate(
        plan.scenario,
        stack,
        &criteria,
        &counts,
        options,
        &mut evaluations,
    )?;
    Ok(ScenarioRun {
        scenario: plan.scenario,
        stacks: plan.tiers.iter().map(|t| Cow::Borrowed(t.stack)).collect(),
        tiers: plan
            .tiers
            .iter()
            .map(|t| {
                let mut tier = evaluations[&t.users].clone();
                tier.name.clone_from(&t.name);
                tier
            })
            .collect(),
    })
}

/// Whether `criterion`'s verdict at `users` follows from a settled verdict
/// at another count, as the search assumes crossings are monotone in users:
/// crossed at fewer users, or not crossed at more.
fn implied(criterion: &Criterion, users: u64, evaluations: &Evaluations, most: u32) -> bool {
    evaluations.iter().any(|(&other, tier)| {
        other != users
            && !tier.replications.is_empty()
            && criterion.crossings(tier).1 > 0
            && !criterion.uncertain(tier, most as usize)
            && (criterion.crossed(tier) == (other < users))
    })
}

/// Simulates `stack` with all its replications at each count of `counts`
/// not yet in `evaluations`.
fn evaluate_whole(
    scenario: &Scenario,
    stack: &Scenario,
    counts: &[u64],
    options: RunOptions,
    evaluations: &mut Evaluations,
) -> Result<(), rayon::ThreadPoolBuildError> {
    let tiers: Vec<PlannedTier> = counts
        .iter()
        .filter(|users| !evaluations.contains_key(users))
        .map(|&users| PlannedTier {
            name: format!("{users} users"),
            users,
            stack,
        })
        .collect();
    if tiers.is_empty() {
        return Ok(());
    }
    let plan = Plan { scenario, tiers };
    for run in experiment::run(&[plan], options)? {
        for tier in run.tiers {
            evaluations.insert(tier.users, tier);
        }
    }
    Ok(())
}

/// Finds where each of `criteria` is first crossed on `stack`: the grid
/// first, then `steps` rounds of bisection, each round one parallel batch.
pub fn search(
    scenario: &Scenario,
    stack: &Scenario,
    criteria: &[Criterion],
    options: SearchOptions,
) -> Result<(Vec<Found>, Evaluations), rayon::ThreadPoolBuildError> {
    let mut evaluations = Evaluations::new();
    let counts = grid(options.low, options.high, options.points_per_decade);
    evaluate(
        scenario,
        stack,
        criteria,
        &counts,
        options.run,
        &mut evaluations,
    )?;
    let mut found: Vec<Found> = criteria
        .iter()
        .map(|criterion| {
            let applies = counts
                .iter()
                .any(|users| criterion.crossings(&evaluations[users]).1 > 0);
            let first = counts
                .iter()
                .position(|users| criterion.crossed(&evaluations[users]));
            match (applies, first) {
                (false, _) => Found::NotApplicable,
                (true, None) => Found::NotReached(*counts.last().expect("a grid")),
                (true, Some(0)) => Found::AtOrBelow(counts[0]),
                (true, Some(i)) => Found::Between {
                    below: counts[i - 1],
                    at: counts[i],
                },
            }
        })
        .collect();
    for _ in 0..options.steps {
        let middles: Vec<u64> = found
            .iter()
            .filter_map(|f| match f {
                Found::Between { below, at } => middle(*below, *at),
                _ => None,
            })
            .collect();
        if middles.is_empty() {
            break;
        }
        evaluate(
            scenario,
            stack,
            criteria,
            &middles,
            options.run,
            &mut evaluations,
        )?;
        for (criterion, found) in criteria.iter().zip(found.iter_mut()) {
            if let Found::Between { below, at } = found
                && let Some(middle) = middle(*below, *at)
                && let Some(tier) = evaluations.get(&middle)
            {
                if criterion.crossed(tier) {
                    *at = middle;
                } else {
                    *below = middle;
                }
            }
        }
    }
    Ok((found, evaluations))
}

/// The geometric middle of a bracket, if it lies strictly inside.
fn middle(below: u64, at: u64) -> Option<u64> {
    let middle = ((below as f64) * (at as f64)).sqrt().round() as u64;
    (middle > below && middle < at).then_some(middle)
}
