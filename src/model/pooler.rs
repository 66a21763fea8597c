//! A connection pooler between the function instances and Postgres, with
//! PgBouncer's semantics (FACTS.md §1-2).
//!
//! Instances hold client connections to the pooler, up to `max_client_conn`
//! in all; over it a connect fails ("no more connections allowed"). The
//! pooler opens server connections to Postgres on demand, up to
//! `default_pool_size`, plus `reserve_pool_size` more once the head of the
//! queue has waited `reserve_pool_timeout`; each counts against Postgres'
//! `max_connections` with any direct connection. In transaction mode a
//! client holds a server connection for one transaction (one query here),
//! in session mode for its whole life. A query that finds no free server
//! connection waits in the queue, and its client is dropped after
//! `query_wait_timeout`. Idle server connections close after
//! `server_idle_timeout`, the longest idle first; reuse is last in, first
//! out, as PgBouncer's default.
//!
//! Supabase's shared Supavisor differs where its docs say so (FACTS.md §2):
//! its own servers add `round_trip` to each query; in session mode its
//! clients are limited to the pool size, and a connect over it waits up to
//! the checkout timeout for a client to leave, then is refused.

use std::collections::VecDeque;

use super::database::Database;
use super::resource::{Resource, Waiter};
use crate::scenario::{Database as DatabaseConfig, PoolMode, Pooler as PoolerConfig, PoolerKind};
use crate::sim::{SimDuration, SimTime};
use crate::stats::Gauge;

/// What a request asking for a server connection gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerConnection {
    /// An idle one, at once.
    Reused,
    /// A new one: the request waits while it connects.
    Opened,
    /// None free: the request waits in the queue.
    Queued,
}

/// What an instance opening its client connections gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientConnect {
    /// They fit.
    Connected,
    /// Over the limit: wait for clients to leave (Supavisor, session mode).
    Queued,
    /// Over the limit: refused.
    Refused,
}

/// The pooler's state.
#[derive(Clone, Debug)]
pub struct Pooler {
    /// When a server connection is given back.
    pub mode: PoolMode,
    pool_size: u32,
    reserve_size: u32,
    /// Wait after which reserve connections may open.
    pub reserve_timeout: SimDuration,
    /// Client connections allowed (`max_client_conn`, or Supavisor's
    /// session-mode pool size).
    pub max_clients: u32,
    /// Whether a connect over the client limit waits rather than fails.
    clients_wait: bool,
    /// Connects waiting for clients to leave: (request, connections).
    waiting_clients: VecDeque<(u32, u32)>,
    /// Added to each query by the pooler's own servers.
    pub round_trip: SimDuration,
    /// Longest wait for a server connection.
    pub query_wait_timeout: SimDuration,
    server_idle_timeout: SimDuration,
    /// Client connections over time.
    pub clients: Gauge,
    /// Server connections: capacity = open, busy = in use, and the queue.
    pub servers: Resource,
    /// When each idle server connection went idle, oldest first.
    idle_since: VecDeque<SimTime>,
    idle_check_pending: bool,
    /// Client connects refused at `max_client_conn`, from warm-up.
    pub refusals: u64,
    /// Waits that ended at `query_wait_timeout`, from warm-up.
    pub timeouts: u64,
}

impl Pooler {
    /// The pooler of `database`, if it has one enabled.
    pub fn new(database: &DatabaseConfig, from: SimTime, minutes: usize) -> Option<Self> {
        let config: &PoolerConfig = database.pooler.as_ref().filter(|p| p.enabled)?;
        // Supavisor in session mode: "the max amount of clients is
        // restricted to the 'Pool Size'", and an extra one "will queue in
        // the pooler for up to a minute" (FACTS.md §2).
        let session_clients =
            config.kind == PoolerKind::Supavisor && config.mode == PoolMode::Session;
        let max_clients = if session_clients {
            database.max_client_conn().min(config.pool_size())
        } else {
            database.max_client_conn()
        };
        Some(Self {
            mode: config.mode,
            pool_size: config.pool_size(),
            reserve_size: config.reserve_pool_size,
            reserve_timeout: config.reserve_pool_timeout.nanos(),
            max_clients,
            clients_wait: session_clients,
            waiting_clients: VecDeque::new(),
            round_trip: config.round_trip.map_or(0, |r| r.nanos()),
            query_wait_timeout: config.wait_timeout().nanos(),
            server_idle_timeout: config.idle_timeout().nanos(),
            clients: Gauge::new(from, minutes),
            servers: Resource::new(0, from, minutes),
            idle_since: VecDeque::new(),
            idle_check_pending: false,
            refusals: 0,
            timeouts: 0,
        })
    }

    /// Whether reserve connections exist to wait for.
    pub fn has_reserve(&self) -> bool {
        self.reserve_size > 0
    }

    /// Whether `count` more client connections fit.
    fn fits(&self, count: u32) -> bool {
        self.clients.value() + u64::from(count) <= u64::from(self.max_clients)
    }

    /// `request`'s instance opens `count` client connections at `now`.
    pub fn connect_client(
        &mut self,
        now: SimTime,
        (request, count): (u32, u32),
        counted: bool,
    ) -> ClientConnect {
        if self.waiting_clients.is_empty() && self.fits(count) {
            self.clients.add(now, i64::from(count));
            ClientConnect::Connected
        } else if self.clients_wait {
            self.waiting_clients.push_back((request, count));
            ClientConnect::Queued
        } else {
            if counted {
                self.refusals += 1;
            }
            ClientConnect::Refused
        }
    }

    /// `count` client connections close at `now`; returns the waiting
    /// connects that now fit, in arrival order, connected.
    pub fn disconnect_client(&mut self, now: SimTime, count: u32) -> Vec<u32> {
        self.clients.add(now, -i64::from(count));
        let mut connected = Vec::new();
        while let Some(&(request, count)) = self.waiting_clients.front()
            && self.fits(count)
        {
            self.waiting_clients.pop_front();
            self.clients.add(now, i64::from(count));
            connected.push(request);
        }
        connected
    }

    /// Takes `request`'s connect out of the wait: refused (counted) when
    /// the wait ran out.
    pub fn cancel_client(&mut self, request: u32, timed_out: bool, counted: bool) {
        self.waiting_clients
            .retain(|&(waiting, _)| waiting != request);
        if timed_out && counted {
            self.refusals += 1;
        }
    }

    /// `request` asks for a server connection at `now`.
    pub fn acquire(
        &mut self,
        now: SimTime,
        request: u32,
        postgres: &mut Database,
    ) -> ServerConnection {
        if self.servers.try_take(now) {
            self.idle_since.pop_back();
            return ServerConnection::Reused;
        }
        if self.servers.head().is_none()
            && self.servers.capacity() < self.pool_size
            && postgres.open_server(now)
        {
            self.servers.grow(now);
            let taken = self.servers.try_take(now);
            debug_assert!(taken);
            return ServerConnection::Opened;
        }
        self.servers.enqueue(now, request);
        ServerConnection::Queued
    }

    /// A server connection is given back at `now`. Returns the waiter that
    /// takes it, if any, and when to check idle connections, if a check
    /// should be scheduled.
    pub fn release(&mut self, now: SimTime) -> (Option<Waiter>, Option<SimTime>) {
        if let Some(waiter) = self.servers.release(now) {
            return (Some(waiter), None);
        }
        self.idle_since.push_back(now);
        (None, self.schedule_idle_check())
    }

    fn schedule_idle_check(&mut self) -> Option<SimTime> {
        if self.idle_check_pending {
            return None;
        }
        let oldest = *self.idle_since.front()?;
        self.idle_check_pending = true;
        Some(oldest.saturating_add(self.server_idle_timeout))
    }

    /// Closes server connections idle for `server_idle_timeout` at `now`;
    /// returns when to check again, if any connection is idle.
    pub fn idle_check(&mut self, now: SimTime, postgres: &mut Database) -> Option<SimTime> {
        self.idle_check_pending = false;
        while let Some(&since) = self.idle_since.front() {
            if since.saturating_add(self.server_idle_timeout) > now {
                break;
            }
            self.idle_since.pop_front();
            self.servers.shrink();
            postgres.close_server(now);
        }
        self.schedule_idle_check()
    }

    /// Opens server connections for the queue at `now` while the pool (and,
    /// for a head that waited `reserve_pool_timeout`, the reserve) and
    /// Postgres allow. Returns the waiters served; each waits for its connect.
    pub fn open_for_queue(&mut self, now: SimTime, postgres: &mut Database) -> Vec<Waiter> {
        let mut served = Vec::new();
        while let Some(head) = self.servers.head() {
            let reserve_allowed = now.saturating_sub(head.since) >= self.reserve_timeout;
            let limit = self.pool_size
                + if reserve_allowed {
                    self.reserve_size
                } else {
                    0
                };
            if self.servers.capacity() >= limit || !postgres.open_server(now) {
                break;
            }
            served.extend(self.servers.grow(now));
        }
        served
    }

    /// Takes `request` out of the queue at `now`; counts a timeout when the
    /// wait ran out rather than the function's deadline.
    pub fn cancel(&mut self, now: SimTime, request: u32, timed_out: bool, counted: bool) {
        if self.servers.cancel(now, request) && timed_out && counted {
            self.timeouts += 1;
        }
    }
}
