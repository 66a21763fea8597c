//! Serverless function instances: one pool per function deployment.
//!
//! A request takes a slot on an available instance chosen by the `reuse`
//! policy, else starts a new instance (a cold start) if the concurrency limit
//! and the burst scaling rate allow, else is throttled (503) or queued.
//! An instance with no request in flight is reclaimed `idle_timeout` after
//! its last request ended, never below `min_instances`.

use std::collections::{BinaryHeap, VecDeque};

use rand::RngExt;

use super::Slab;
use super::ai::Breaker;
use super::bucket::TokenBucket;
use super::limiter::BlockedIdentifiers;
use crate::scenario::{DurationSampler, Function, Overflow, Reuse};
use crate::sim::{RngStream, SimDuration, SimTime};

/// An instance slot in the pool.
#[derive(Clone, Debug)]
pub struct Instance {
    /// Creation order within the pool; also tells a reused slot apart.
    pub serial: u64,
    /// When it was created.
    pub created_at: SimTime,
    /// When its cold start ends.
    pub ready_at: SimTime,
    /// Requests in flight.
    pub active: u32,
    /// When its last request ended.
    pub last_end: SimTime,
    /// When its current stretch with requests in flight began (while
    /// `active` > 0): Fluid bills memory only over such stretches.
    pub busy_since: SimTime,
    /// Whether an idle check is scheduled.
    idle_check_pending: bool,
    /// Its key in the available set, when it is there.
    available_key: Option<u64>,
    /// Whether it is alive.
    pub alive: bool,
    /// Its links to each database node (primary first), once it used one.
    pub links: Vec<Link>,
    /// Its AI circuit breaker, when breakers live in instances.
    pub breaker: Option<Breaker>,
    /// The requests computing on its vCPUs.
    pub cpu: SharedCpu,
    /// Per rate limiter (the scenario's order), the identifiers it
    /// remembers as blocked; grown on first use.
    pub blocked: Vec<BlockedIdentifiers>,
}

/// The requests computing on one instance at once: they share its vCPUs
/// (processor sharing), each at a rate of min(1, vCPUs / requests), so a
/// handler's CPU time stretches while more compute than there are vCPUs.
#[derive(Clone, Debug, Default)]
pub struct SharedCpu {
    /// Each request with the CPU time it has left, ns.
    pub jobs: Vec<(u32, f64)>,
    /// When the times left were last brought up to date.
    pub updated: SimTime,
}

impl SharedCpu {
    /// The rate each request computes at on `vcpus`.
    pub fn rate(&self, vcpus: f64) -> f64 {
        (vcpus / self.jobs.len().max(1) as f64).min(1.0)
    }

    /// Brings the times left up to `now`, at the rate since the last change.
    pub fn update(&mut self, now: SimTime, vcpus: f64) {
        let done = now.saturating_sub(self.updated) as f64 * self.rate(vcpus);
        for job in &mut self.jobs {
            job.1 = (job.1 - done).max(0.0);
        }
        self.updated = now;
    }
}

/// An instance's connections to one database node: its driver's pool.
/// Each connection runs one query at a time; the instance's other queries
/// wait for one, first come first served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    /// Connections it holds (direct, or client connections to the pooler).
    pub connections: u32,
    /// Of those, how many run a query now.
    pub busy: u32,
    /// Requests waiting for one of them, in arrival order.
    pub waiting: VecDeque<u32>,
    /// Whether it has wanted direct connections (held or refused).
    pub wanted: bool,
    /// Its pooler server connection in session mode.
    pub session: SessionServer,
}

impl Link {
    /// No connection, never wanted.
    pub const NONE: Link = Link {
        connections: 0,
        busy: 0,
        waiting: VecDeque::new(),
        wanted: false,
        session: SessionServer::None,
    };
}

impl Instance {
    /// Its link to database node `node`.
    pub fn link(&mut self, node: usize) -> &mut Link {
        if self.links.len() <= node {
            self.links.resize(node + 1, Link::NONE);
        }
        &mut self.links[node]
    }
}

/// An instance's pooler server connection in session mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionServer {
    /// None.
    None,
    /// One of its requests waits for it.
    Waiting,
    /// Held for the client connection's life.
    Held,
}

/// What a request gets from the pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Acquire {
    /// A slot on `instance`, usable from `ready_at` (later than now after a cold start).
    Slot {
        /// The instance.
        instance: u32,
        /// When the request can start running.
        ready_at: SimTime,
        /// Whether this request started the instance.
        started: bool,
        /// Whether it waits for a cold start: it started the instance, or
        /// joined one still starting (under in-function concurrency the
        /// requests arriving during a start share it).
        cold: bool,
    },
    /// Waiting in the pool's queue.
    Queued,
    /// Refused: no instance and no room to start one (503).
    Throttled,
}

/// What a request's end did to its instance.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Released {
    /// The queued request that takes the freed slot.
    pub next: Option<u32>,
    /// When to check whether the instance has idled out.
    pub idle_check_at: Option<SimTime>,
    /// The instance has no request in flight now: when its busy stretch began.
    pub busy_from: Option<SimTime>,
}

/// What an idle check decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdleCheck {
    /// Nothing to do (busy again, kept warm, or a stale check).
    Nothing,
    /// Check again at this time.
    Recheck(SimTime),
    /// Reclaimed, with what it held.
    Reclaimed {
        /// Its links to the database nodes.
        links: Vec<Link>,
        /// Its lifetime.
        lifetime: (SimTime, SimTime),
    },
}

/// One function deployment's instances.
#[derive(Clone, Debug)]
pub struct FunctionPool {
    concurrency: u32,
    cold_start: DurationSampler,
    idle_timeout: SimDuration,
    reuse: Reuse,
    min_instances: u32,
    max_instances: u32,
    overflow: Overflow,
    /// Longest a request may run.
    pub max_duration: SimDuration,
    /// Memory per instance, bytes.
    pub memory: u64,
    /// vCPUs per instance: Vercel gives 1 per 2 GB (2 GB: 1, 4 GB: 2).
    pub vcpus: f64,
    /// The burst limit on new instances.
    scale: Option<TokenBucket>,
    instances: Slab<Instance>,
    /// Instances with a free slot as (reuse key, slot); the policy takes
    /// the largest. Entries whose instance no longer has that key are
    /// stale and dropped when they reach the top (or when stale ones
    /// outnumber live ones): cheaper than an ordered set per request.
    available: BinaryHeap<(u64, u32)>,
    /// How many instances are available (live entries).
    available_count: usize,
    queue: VecDeque<u32>,
    scale_retry_pending: bool,
    next_serial: u64,
    alive: u32,
}

impl FunctionPool {
    /// Whether more requests may compute on an instance than it has vCPUs.
    pub fn shares_cpu(&self) -> bool {
        f64::from(self.concurrency) > self.vcpus
    }

    /// A pool for `config`, with `min_instances` instances warm at time zero.
    pub fn new(config: &Function) -> Self {
        let scale = config.scale_rate.map(TokenBucket::new);
        let mut pool = Self {
            concurrency: config.concurrency,
            cold_start: config.cold_start.sampler(),
            idle_timeout: config.idle_timeout.nanos(),
            reuse: config.reuse,
            min_instances: config.min_instances,
            max_instances: config.max_instances,
            overflow: config.overflow,
            max_duration: config.max_duration.nanos(),
            memory: config.memory.0,
            // Vercel: "2 GB / 1 vCPU", "4 GB / 2 vCPUs" (docs/FACTS.md §4).
            vcpus: (config.memory.gigabytes() / 2.0 - 1e-9).ceil().max(1.0),
            scale,
            instances: Slab::default(),
            available: BinaryHeap::new(),
            available_count: 0,
            queue: VecDeque::new(),
            scale_retry_pending: false,
            next_serial: 0,
            alive: 0,
        };
        for _ in 0..pool.min_instances {
            let slot = pool.create(0, 0);
            pool.make_available(slot, 0, None);
        }
        pool
    }

    /// Instances alive now.
    pub fn alive(&self) -> u32 {
        self.alive
    }

    /// The instance in `slot`, to change.
    pub fn instance_mut(&mut self, slot: u32) -> &mut Instance {
        self.instances.get_mut(slot)
    }

    /// Serial number of the instance in `slot`.
    pub fn serial(&self, slot: u32) -> u64 {
        self.instances.get(slot).serial
    }

    fn create(&mut self, now: SimTime, ready_at: SimTime) -> u32 {
        let instance = Instance {
            serial: self.next_serial,
            created_at: now,
            ready_at,
            active: 0,
            last_end: now,
            busy_since: now,
            idle_check_pending: false,
            available_key: None,
            alive: true,
            links: Vec::new(),
            breaker: None,
            cpu: SharedCpu::default(),
            blocked: Vec::new(),
        };
        self.next_serial += 1;
        self.alive += 1;
        self.instances.insert(instance)
    }

    /// The reuse key: the available instance with the largest key is taken.
    fn reuse_key(&self, slot: u32, now: SimTime, rng: Option<&mut RngStream>) -> u64 {
        let instance = self.instances.get(slot);
        match self.reuse {
            Reuse::Newest => instance.serial,
            Reuse::Mru => now,
            Reuse::Lru => u64::MAX - now,
            Reuse::Random => rng.map_or(0, |rng| rng.random()),
        }
    }

    fn make_available(&mut self, slot: u32, now: SimTime, rng: Option<&mut RngStream>) {
        let key = self.reuse_key(slot, now, rng);
        let previous = self.instances.get_mut(slot).available_key.replace(key);
        if previous == Some(key) {
            return;
        }
        if previous.is_none() {
            self.available_count += 1;
        }
        self.available.push((key, slot));
        if self.available.len() > 2 * self.available_count + 64 {
            // Drop stale entries (an instance whose key changed while it
            // stayed available, or that was reclaimed) and any duplicate:
            // one entry per instance.
            let instances = &self.instances;
            let mut entries = std::mem::take(&mut self.available).into_vec();
            entries.retain(|&(key, slot)| instances.get(slot).available_key == Some(key));
            entries.sort_unstable();
            entries.dedup();
            self.available = BinaryHeap::from(entries);
        }
    }

    fn make_unavailable(&mut self, slot: u32) {
        if let Some(key) = self.instances.get_mut(slot).available_key.take() {
            self.available_count -= 1;
            // Most often it is the instance just taken, on top: its entry
            // goes now rather than later as a stale one (an instance that
            // comes back would leave a duplicate that deepens the heap).
            if self.available.peek() == Some(&(key, slot)) {
                self.available.pop();
            }
        }
    }

    /// The available instance the policy takes, if any.
    fn best_available(&mut self) -> Option<u32> {
        while let Some(&(key, slot)) = self.available.peek() {
            if self.instances.get(slot).available_key == Some(key) {
                return Some(slot);
            }
            self.available.pop();
        }
        None
    }

    fn occupy(&mut self, slot: u32, now: SimTime) {
        let instance = self.instances.get_mut(slot);
        if instance.active == 0 {
            instance.busy_since = now;
        }
        instance.active += 1;
        if instance.active >= self.concurrency {
            self.make_unavailable(slot);
        }
    }

    /// Finds a slot for a request at `now`, queueing `request` if the pool
    /// says so.
    pub fn acquire(&mut self, now: SimTime, request: u32, rng: &mut RngStream) -> Acquire {
        if let Some(slot) = self.best_available() {
            self.occupy(slot, now);
            let ready_at = self.instances.get(slot).ready_at.max(now);
            return Acquire::Slot {
                instance: slot,
                ready_at,
                started: false,
                cold: ready_at > now,
            };
        }
        if let Some(slot) = self.try_start(now, rng) {
            return Acquire::Slot {
                instance: slot,
                ready_at: self.instances.get(slot).ready_at,
                started: true,
                cold: true,
            };
        }
        match self.overflow {
            Overflow::Reject => Acquire::Throttled,
            Overflow::Queue => {
                self.queue.push_back(request);
                Acquire::Queued
            }
        }
    }

    /// Starts a new instance and takes a slot on it, if the limits allow.
    #[inline(always)]
    fn try_start(&mut self, now: SimTime, rng: &mut RngStream) -> Option<u32> {
        if self.alive >= self.max_instances {
            return None;
        }
        self.start_within_max(now, rng)
    }

    /// [`FunctionPool::try_start`] below `max_instances`: the scale rate may
    /// still hold the start back.
    fn start_within_max(&mut self, now: SimTime, rng: &mut RngStream) -> Option<u32> {
        if let Some(scale) = &mut self.scale
            && !scale.try_take(now)
        {
            return None;
        }
        let ready_at = now + self.cold_start.sample(rng);
        let slot = self.create(now, ready_at);
        if self.concurrency > 1 {
            self.make_available(slot, now, None);
        }
        self.occupy(slot, now);
        Some(slot)
    }

    /// When queued requests should retry starting an instance, if a scale
    /// limit is what holds them and no retry is scheduled yet.
    pub fn scale_retry_at(&mut self) -> Option<SimTime> {
        if self.queue.is_empty() || self.scale_retry_pending || self.alive >= self.max_instances {
            return None;
        }
        let scale = self.scale.as_ref()?;
        self.scale_retry_pending = true;
        Some(scale.next_token_at())
    }

    /// A scale retry fired: starts instances for queued requests while the
    /// limits allow; returns (request, instance, ready_at) for each.
    pub fn retry_queued(&mut self, now: SimTime, rng: &mut RngStream) -> Vec<(u32, u32, SimTime)> {
        self.scale_retry_pending = false;
        let mut started = Vec::new();
        while !self.queue.is_empty() {
            let Some(slot) = self.try_start(now, rng) else {
                break;
            };
            let request = self.queue.pop_front().expect("queue is not empty");
            started.push((request, slot, self.instances.get(slot).ready_at));
        }
        started
    }

    /// A request on `slot` ended at `now`.
    pub fn release(&mut self, now: SimTime, slot: u32, rng: &mut RngStream) -> Released {
        if let Some(request) = self.queue.pop_front() {
            // The slot passes straight to the next queued request.
            return Released {
                next: Some(request),
                ..Released::default()
            };
        }
        let instance = self.instances.get_mut(slot);
        instance.active -= 1;
        instance.last_end = now;
        let idle = instance.active == 0;
        let schedule_check = idle && !instance.idle_check_pending;
        if schedule_check {
            instance.idle_check_pending = true;
        }
        let busy_from = idle.then_some(instance.busy_since);
        let policy_rng = (self.reuse == Reuse::Random).then_some(rng);
        self.make_available(slot, now, policy_rng);
        Released {
            next: None,
            idle_check_at: schedule_check.then(|| now + self.idle_timeout),
            busy_from,
        }
    }

    /// The idle check of `slot` (created as `serial`) fired at `now`.
    pub fn idle_check(&mut self, now: SimTime, slot: u32, serial: u64) -> IdleCheck {
        let idle_timeout = self.idle_timeout;
        let instance = self.instances.get_mut(slot);
        if !instance.alive || instance.serial != serial {
            return IdleCheck::Nothing;
        }
        if instance.active > 0 {
            instance.idle_check_pending = false;
            return IdleCheck::Nothing;
        }
        let expires_at = instance.last_end + idle_timeout;
        if expires_at > now {
            return IdleCheck::Recheck(expires_at);
        }
        if self.alive <= self.min_instances {
            // Kept warm. No recheck: a new instance starts only when every
            // alive one is full, so this one is busy again, and schedules
            // its next check on release, before the pool can grow past
            // `min_instances`. (A timer would spin with `idle_timeout: 0s`.)
            instance.idle_check_pending = false;
            return IdleCheck::Nothing;
        }
        instance.alive = false;
        instance.idle_check_pending = false;
        let outcome = IdleCheck::Reclaimed {
            links: std::mem::take(&mut instance.links),
            lifetime: (instance.created_at, now),
        };
        self.make_unavailable(slot);
        self.instances.remove(slot);
        self.alive -= 1;
        outcome
    }

    /// The instances alive now, for closing the run.
    pub fn alive_instances(&self) -> impl Iterator<Item = &Instance> {
        self.instances.iter().filter(|i| i.alive)
    }
}
