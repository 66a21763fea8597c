//! Postgres: its connection slots, its CPUs and PostgREST's pool.
//!
//! Connection slots: `max_connections - platform_connections` are the
//! application's. Direct connections are opened by each instance on its
//! first SQL request and held for its life; when the slots are full a
//! connect fails ("sorry, too many clients already", SQLSTATE 53300) and
//! the instance tries again on its next request. A reclaimed instance's
//! connections stay open for `close_delay` (a frozen instance does not close
//! its sockets). A pooler's server connections take slots the same way.
//!
//! CPUs: with `cpus` (or a compute size) each query needs one CPU for its
//! `query_time`, first come first served, so load makes queries slower.
//!
//! Data API: routes with `db_access: data_api` go through PostgREST, whose
//! `data_api_pool` connections (part of the platform's) serve one query at
//! a time each; a request waits for one up to `data_api_timeout` (504).

use super::pooler::Pooler;
use super::resource::Resource;
use crate::scenario::{Compute, CpuBurst, Database as DatabaseConfig, DurationSampler};
use crate::sim::{SimDuration, SimTime};
use crate::stats::Gauge;

/// The database's connection slots, CPUs and query timing.
#[derive(Clone, Debug)]
pub struct Database {
    /// Connection slots available to the application.
    pub limit: u32,
    /// Connections each instance opens.
    pub per_instance: u32,
    /// Time to open a connection.
    pub connect_time: DurationSampler,
    /// CPU time of one query.
    pub query_time: DurationSampler,
    /// How long a reclaimed instance's connections linger.
    pub close_delay: SimDuration,
    /// Open connections over time (direct and pooler server connections).
    pub open: Gauge,
    /// Connections demanded over time: open, refused but still wanted, lingering.
    pub demanded: Gauge,
    /// The CPUs, when queries queue for them.
    pub cpus: Option<Resource>,
    /// PostgREST's connections.
    pub data_api: Resource,
    /// Longest wait for a Data API connection.
    pub data_api_timeout: SimDuration,
    /// Data API requests that timed out waiting, from warm-up.
    pub data_api_timeouts: u64,
    /// Longest a query waits for one of its instance's connections.
    pub connection_timeout: Option<SimDuration>,
    /// Queries run, from warm-up.
    pub queries: u64,
    /// Queries cancelled by their statement timeout, from warm-up.
    pub cancelled: u64,
    /// Burstable CPUs' credits, if modelled.
    pub credits: Option<CpuCredits>,
}

/// Burstable CPUs' credits (core-nanoseconds): earned at the baseline's
/// share of every CPU's time up to a full bank, spent by each query's CPU
/// time as it starts. A query that finds fewer credits than it needs runs
/// at the baseline's speed, and the balance goes below zero until
/// earnings repay it: sustained, the CPUs do the baseline's work.
#[derive(Clone, Debug)]
pub struct CpuCredits {
    /// Share of a CPU sustained without credits.
    baseline: f64,
    /// Credits earned per nanosecond (all CPUs).
    earned_per_nano: f64,
    /// A full bank.
    bank: f64,
    /// Credits now (below zero: owed).
    balance: f64,
    /// When `balance` was brought up to date.
    updated: SimTime,
    /// Queries run at the baseline's speed, from warm-up.
    pub throttled: u64,
    /// The lowest balance after warm-up, as a share of the bank.
    pub lowest: f64,
}

impl CpuCredits {
    /// A full bank for `cpus` CPUs of `burst`.
    pub fn new(burst: &CpuBurst, cpus: u32) -> Self {
        let earned_per_nano = burst.baseline.0 * f64::from(cpus);
        let bank = earned_per_nano * burst.bank.nanos() as f64;
        Self {
            baseline: burst.baseline.0,
            earned_per_nano,
            bank,
            // assumption: the instance starts with a full bank.
            balance: bank,
            updated: 0,
            throttled: 0,
            lowest: 1.0,
        }
    }

    /// A query of `cpu` CPU time starts at `now`: how long it runs.
    pub fn run(&mut self, now: SimTime, cpu: SimDuration, counted: bool) -> SimDuration {
        let earned = now.saturating_sub(self.updated) as f64 * self.earned_per_nano;
        self.balance = (self.balance + earned).min(self.bank);
        self.updated = now;
        let needed = cpu as f64;
        let fast = self.balance >= needed;
        self.balance -= needed;
        if counted {
            self.lowest = self.lowest.min(self.balance.max(0.0) / self.bank.max(1.0));
        }
        if fast {
            cpu
        } else {
            if counted {
                self.throttled += 1;
            }
            (needed / self.baseline) as SimDuration
        }
    }
}

impl Database {
    /// The database of `config`, with statistics from `warmup` over `minutes` minutes.
    pub fn new(config: &DatabaseConfig, warmup: SimTime, minutes: usize) -> Self {
        let max = config.max_connections().unwrap_or(0);
        Self {
            limit: max.saturating_sub(config.platform_connections),
            per_instance: config.connections_per_instance,
            connect_time: config.connect_time.sampler(),
            query_time: config.query_time.sampler(),
            close_delay: config.close_delay.nanos(),
            open: Gauge::new(warmup, minutes),
            demanded: Gauge::new(warmup, minutes),
            cpus: config.cpus().map(|c| Resource::new(c, warmup, minutes)),
            data_api: Resource::new(config.data_api_pool, warmup, minutes),
            data_api_timeout: config.data_api_timeout.nanos(),
            data_api_timeouts: 0,
            connection_timeout: config.connection_timeout.map(|t| t.nanos()),
            queries: 0,
            cancelled: 0,
            // Large and bigger run at full speed whatever `cpu_burst` says.
            credits: config
                .cpu_burst
                .filter(|_| config.compute.is_none_or(Compute::bursts))
                .zip(config.cpus())
                .map(|(burst, cpus)| CpuCredits::new(&burst, cpus)),
        }
    }

    fn fits(&self, count: u32) -> bool {
        self.open.value() + u64::from(count) <= u64::from(self.limit)
    }

    /// An instance without connections wants them at `now`; `first_time`
    /// when it had never asked before. Returns whether they were opened.
    pub fn connect(&mut self, now: SimTime, first_time: bool) -> bool {
        let wanted = self.per_instance;
        if first_time {
            self.demanded.add(now, i64::from(wanted));
        }
        let fits = self.fits(wanted);
        if fits {
            self.open.add(now, i64::from(wanted));
        }
        fits
    }

    /// A pooler opens one server connection at `now`, if a slot is free.
    pub fn open_server(&mut self, now: SimTime) -> bool {
        let fits = self.fits(1);
        if fits {
            self.open.add(now, 1);
            self.demanded.add(now, 1);
        }
        fits
    }

    /// A pooler closes one server connection at `now`.
    pub fn close_server(&mut self, now: SimTime) {
        self.close(now, 1);
    }

    /// A reclaimed instance gives up `held` connections (and its demand,
    /// `wanted`); returns the delay after which they close, if any.
    pub fn release(&mut self, now: SimTime, held: u32, wanted: bool) -> Option<SimDuration> {
        let lingering = if held > 0 && self.close_delay > 0 {
            Some(self.close_delay)
        } else {
            self.open.add(now, -i64::from(held));
            None
        };
        if wanted {
            // Lingering connections stay demanded until they close.
            let still = if lingering.is_some() {
                i64::from(held)
            } else {
                0
            };
            self.demanded.add(now, still - i64::from(self.per_instance));
        }
        lingering
    }

    /// `count` connections close at `now`.
    pub fn close(&mut self, now: SimTime, count: u32) {
        self.open.add(now, -i64::from(count));
        self.demanded.add(now, -i64::from(count));
    }
}

/// One database server: the primary or a read replica.
#[derive(Clone, Debug)]
pub struct Node {
    /// Its connection slots, CPUs and PostgREST pool.
    pub database: Database,
    /// Its pooler, if enabled.
    pub pooler: Option<Pooler>,
}

impl Node {
    /// The primary and `read_replicas` replicas of `config`, alike.
    pub fn all(config: &DatabaseConfig, warmup: SimTime, minutes: usize) -> Vec<Node> {
        (0..=config.read_replicas)
            .map(|_| Node {
                database: Database::new(config, warmup, minutes),
                pooler: Pooler::new(config, warmup, minutes),
            })
            .collect()
    }
}
