//! Scheduled background jobs (Vercel Cron style): at `at`, then every
//! `every`, a run fans out `tasks` requests into its route, which use
//! functions, connections and external APIs like any request. Without a
//! queue every task starts at once; with `queue.concurrency` k (Inngest,
//! Trigger.dev) k start and each finished task starts the next.

use crate::scenario::Scenario;
use crate::sim::{SimDuration, SimTime};
use crate::stats::Gauge;

/// One job's schedule and the state of its current run.
#[derive(Clone, Debug)]
pub struct Job {
    /// The route its tasks run as.
    pub route: usize,
    first: SimTime,
    every: Option<SimDuration>,
    tasks: u32,
    concurrency: u32,
    /// Tasks not started yet in the current run.
    pending: u32,
    /// Tasks in flight over time.
    pub in_flight: Gauge,
    started_at: SimTime,
    /// Runs started, tasks finished and failed, from warm-up.
    pub counts: JobCounts,
}

/// What a job did, from warm-up.
#[derive(Clone, Copy, Debug, Default)]
pub struct JobCounts {
    /// Runs started.
    pub runs: u64,
    /// Tasks finished.
    pub tasks: u64,
    /// Of those, failed.
    pub failed: u64,
    /// Sum of run durations (start to last task's end), seconds.
    pub duration_secs: f64,
    /// Runs finished.
    pub finished: u64,
}

impl Job {
    /// The jobs of `scenario`, with statistics from `from` over `minutes` minutes.
    pub fn all(scenario: &Scenario, from: SimTime, minutes: usize) -> Vec<Job> {
        scenario
            .jobs
            .iter()
            .map(|job| {
                let tasks = job.tasks;
                Job {
                    route: job.route.index(),
                    first: job.at.0.nanos(),
                    every: job.every.map(|e| e.nanos()),
                    tasks,
                    concurrency: job.queue_concurrency.unwrap_or(tasks).max(1),
                    pending: 0,
                    in_flight: Gauge::new(from, minutes),
                    started_at: 0,
                    counts: JobCounts::default(),
                }
            })
            .collect()
    }

    /// When the first run starts.
    pub fn first_run(&self) -> SimTime {
        self.first
    }

    /// A run starts at `now`: returns how many tasks to start now and when
    /// the next run starts, if any. A run still going is overtaken: its
    /// unstarted tasks are dropped, as a cron does not wait.
    pub fn start_run(&mut self, now: SimTime, counted: bool) -> (u32, Option<SimTime>) {
        self.counts.runs += u64::from(counted);
        self.started_at = now;
        let now_tasks = self.tasks.min(self.concurrency);
        self.pending = self.tasks - now_tasks;
        self.in_flight.add(now, i64::from(now_tasks));
        (now_tasks, self.every.map(|e| now.saturating_add(e)))
    }

    /// A task ended at `now`; returns whether to start the next one.
    pub fn task_ended(&mut self, now: SimTime, failed: bool, counted: bool) -> bool {
        if counted {
            self.counts.tasks += 1;
            self.counts.failed += u64::from(failed);
        }
        if self.pending > 0 {
            self.pending -= 1;
            return true;
        }
        self.in_flight.add(now, -1);
        if self.in_flight.value() == 0 && counted {
            self.counts.finished += 1;
            self.counts.duration_secs +=
                (now - self.started_at) as f64 / crate::sim::NANOS_PER_SEC as f64;
        }
        false
    }
}
