//! The database stage: how a request's queries reach Postgres (direct
//! connections, the pooler or the Data API), on the primary or a read
//! replica, and queue for its CPUs. Each database node (the primary, then
//! the replicas) has its own connection slots, CPUs, PostgREST pool and
//! pooler; an instance opens its connections to a node when it first sends
//! it a query.

use super::database::Database;
use super::functions::{Link, SessionServer};
use super::metrics::Outcome;
use super::pooler::{Pooler, ServerConnection};
use super::request::{DbPhase, Line};
use super::{Access, Event, Stack, Step};
use crate::scenario::{Database as DatabaseConfig, PoolMode};
use crate::sim::{Scheduler, SimTime};

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
        let replicas = config.read_replicas;
        (0..=replicas)
            .map(|_| Node {
                database: Database::new(config, warmup, minutes),
                pooler: Pooler::new(config, warmup, minutes),
            })
            .collect()
    }

    /// Its pooler (the caller knows it has one) and its database.
    fn pooled(&mut self) -> (&mut Pooler, &mut Database) {
        let pooler = self.pooler.as_mut().expect("pooled access");
        (pooler, &mut self.database)
    }
}

impl Stack {
    /// Moves request `id` through the database stage from its phase until
    /// something takes time.
    pub(super) fn database_step(
        &mut self,
        now: SimTime,
        id: u32,
        scheduler: &mut Scheduler<Event>,
    ) -> Step {
        loop {
            let request = self.requests.get(id);
            let route = &self.routes[request.route as usize];
            let (access, function, queries, read_share) = (
                route.access,
                route.function,
                route.queries,
                route.read_share,
            );
            let counted = self.metrics.counts(request.arrival);
            let (slot, node) = (request.instance, request.node as usize);
            match request.phase {
                DbPhase::Start => {
                    let request = self.requests.get_mut(id);
                    request.queries_left = queries;
                    request.phase = DbPhase::NextQuery;
                }
                DbPhase::NextQuery => {
                    if request.queries_left == 0 {
                        return Step::Next;
                    }
                    let replicas = self.nodes.len() - 1;
                    let node = if replicas > 0
                        && read_share > 0.0
                        && rand::RngExt::random::<f64>(&mut self.streams.replicas) < read_share
                    {
                        1 + rand::RngExt::random_range(&mut self.streams.replicas, 0..replicas)
                    } else {
                        0
                    };
                    let request = self.requests.get_mut(id);
                    request.node = node as u8;
                    request.phase = DbPhase::Connect;
                }
                DbPhase::Connect => {
                    self.requests.get_mut(id).phase = DbPhase::Session;
                    if access == Access::DataApi {
                        continue;
                    }
                    let slot = slot.expect("a database request holds an instance");
                    let link = self.functions[function].instance_mut(slot).link(node);
                    if link.connections > 0 {
                        continue;
                    }
                    let Node { database, pooler } = &mut self.nodes[node];
                    let per_instance = database.per_instance;
                    let connected = match pooler {
                        Some(pooler) => pooler.connect_client(now, per_instance, counted),
                        None => {
                            let first_time = !link.wanted;
                            link.wanted = true;
                            database.connect(now, first_time)
                        }
                    };
                    if connected {
                        link.connections = per_instance;
                    } else {
                        self.requests.get_mut(id).failure = Some(if pooler.is_some() {
                            Outcome::PoolerRefused
                        } else {
                            Outcome::DbRefused
                        });
                    }
                    return Step::Wait(database.connect_time.sample(&mut self.streams.database));
                }
                DbPhase::Session => {
                    self.requests.get_mut(id).phase = DbPhase::Connection;
                    let Node { database, pooler } = &mut self.nodes[node];
                    let Some(pooler) = pooler else {
                        continue;
                    };
                    if access != Access::Pooler || pooler.mode != PoolMode::Session {
                        continue;
                    }
                    let slot = slot.expect("a database request holds an instance");
                    let link = self.functions[function].instance_mut(slot).link(node);
                    // A second request of a busy instance shares what the first gets.
                    if link.session != SessionServer::None {
                        continue;
                    }
                    match pooler.acquire(now, id, database) {
                        ServerConnection::Reused => link.session = SessionServer::Held,
                        ServerConnection::Opened => {
                            link.session = SessionServer::Held;
                            return Step::Wait(
                                database.connect_time.sample(&mut self.streams.database),
                            );
                        }
                        ServerConnection::Queued => {
                            link.session = SessionServer::Waiting;
                            return self.park_in_pooler(now, id, scheduler);
                        }
                    }
                }
                DbPhase::Connection => {
                    self.requests.get_mut(id).phase = DbPhase::Cpu;
                    let Node { database, pooler } = &mut self.nodes[node];
                    match access {
                        Access::Pooler => {
                            let pooler = pooler.as_mut().expect("pooled access");
                            if pooler.mode == PoolMode::Session {
                                continue;
                            }
                            match pooler.acquire(now, id, database) {
                                ServerConnection::Reused => {
                                    self.requests.get_mut(id).holds_connection = true;
                                }
                                ServerConnection::Opened => {
                                    self.requests.get_mut(id).holds_connection = true;
                                    return Step::Wait(
                                        database.connect_time.sample(&mut self.streams.database),
                                    );
                                }
                                ServerConnection::Queued => {
                                    return self.park_in_pooler(now, id, scheduler);
                                }
                            }
                        }
                        Access::DataApi => {
                            if !database.data_api.take_or_wait(now, id) {
                                let timeout_at = now.saturating_add(database.data_api_timeout);
                                return self.park(id, Line::DataApi, Some(timeout_at), scheduler);
                            }
                            self.requests.get_mut(id).holds_connection = true;
                        }
                        Access::Direct => {}
                    }
                }
                DbPhase::Cpu => {
                    self.requests.get_mut(id).phase = DbPhase::Query;
                    if let Some(cpus) = &mut self.nodes[node].database.cpus {
                        if !cpus.take_or_wait(now, id) {
                            return self.park(id, Line::Cpu, None, scheduler);
                        }
                        self.requests.get_mut(id).holds_cpu = true;
                    }
                }
                DbPhase::Query => {
                    self.requests.get_mut(id).phase = DbPhase::Done;
                    let database = &mut self.nodes[node].database;
                    if counted {
                        database.queries += 1;
                    }
                    return Step::Wait(database.query_time.sample(&mut self.streams.service));
                }
                DbPhase::Done => {
                    self.release_query_resources(now, id, scheduler);
                    let request = self.requests.get_mut(id);
                    request.queries_left -= 1;
                    request.phase = DbPhase::NextQuery;
                }
            }
        }
    }

    fn park_in_pooler(&mut self, now: SimTime, id: u32, scheduler: &mut Scheduler<Event>) -> Step {
        let node = self.requests.get(id).node;
        let pooler = self.nodes[usize::from(node)]
            .pooler
            .as_ref()
            .expect("pooled access");
        let timeout_at = now.saturating_add(pooler.query_wait_timeout);
        if pooler.has_reserve() {
            scheduler.schedule_at(
                now.saturating_add(pooler.reserve_timeout),
                Event::PoolerReserve { node },
            );
        }
        self.park(id, Line::Pooler, Some(timeout_at), scheduler)
    }

    /// Gives back the CPU and the per-query connection request `id` holds,
    /// handing each to the head of its line.
    #[inline(always)]
    pub(super) fn release_query_resources(
        &mut self,
        now: SimTime,
        id: u32,
        scheduler: &mut Scheduler<Event>,
    ) {
        let request = self.requests.get(id);
        if request.holds_cpu || request.holds_connection {
            self.release_held_query_resources(now, id, scheduler);
        }
    }

    /// [`Stack::release_query_resources`] of a request that holds one or both.
    fn release_held_query_resources(
        &mut self,
        now: SimTime,
        id: u32,
        scheduler: &mut Scheduler<Event>,
    ) {
        let request = self.requests.get_mut(id);
        let (holds_cpu, holds_connection) = (request.holds_cpu, request.holds_connection);
        request.holds_cpu = false;
        request.holds_connection = false;
        let node = usize::from(request.node);
        let access = self.routes[request.route as usize].access;
        let database = &mut self.nodes[node].database;
        if holds_cpu && let Some(next) = database.cpus.as_mut().and_then(|c| c.release(now)) {
            self.served(now, next.request, Line::Cpu, 0, scheduler);
        }
        if holds_connection {
            match access {
                Access::Pooler => self.release_server(now, node, scheduler),
                Access::DataApi => {
                    if let Some(next) = self.nodes[node].database.data_api.release(now) {
                        self.served(now, next.request, Line::DataApi, 0, scheduler);
                    }
                }
                Access::Direct => {}
            }
        }
    }

    /// A pooler server connection of `node` is given back at `now`.
    fn release_server(&mut self, now: SimTime, node: usize, scheduler: &mut Scheduler<Event>) {
        let pooler = self.nodes[node].pooler.as_mut().expect("pooled access");
        let (next, idle_check) = pooler.release(now);
        if let Some(at) = idle_check {
            scheduler.schedule_at(at, Event::PoolerIdleCheck { node: node as u8 });
        }
        if let Some(next) = next {
            self.served(now, next.request, Line::Pooler, 0, scheduler);
        }
    }

    /// Takes request `id` out of the database line it waits in, ending
    /// with `outcome`.
    pub(super) fn leave_database_line(
        &mut self,
        now: SimTime,
        id: u32,
        line: Line,
        outcome: Outcome,
    ) {
        let request = self.requests.get(id);
        let counted = self.metrics.counts(request.arrival);
        let node = usize::from(request.node);
        let Node { database, pooler } = &mut self.nodes[node];
        match line {
            Line::Cdn => {}
            Line::AiSlot => {
                if let Some(slots) = self.ai.as_mut().and_then(|ai| ai.in_flight.as_mut()) {
                    slots.cancel(now, id);
                }
            }
            Line::Cpu => {
                if let Some(cpus) = &mut database.cpus {
                    cpus.cancel(now, id);
                }
            }
            Line::DataApi => {
                database.data_api.cancel(now, id);
                if outcome == Outcome::DataApiTimeout && counted {
                    database.data_api_timeouts += 1;
                }
            }
            Line::Pooler => {
                let timed_out = outcome == Outcome::PoolerTimeout;
                let pooler = pooler.as_mut().expect("pooled access");
                pooler.cancel(now, id, timed_out, counted);
                let slot = request
                    .instance
                    .expect("a database request holds an instance");
                let function = self.routes[request.route as usize].function;
                let link = self.functions[function].instance_mut(slot).link(node);
                if link.session == SessionServer::Waiting {
                    link.session = SessionServer::None;
                }
                // PgBouncer disconnects a client whose query waited too long.
                if timed_out && link.connections > 0 {
                    pooler.disconnect_client(now, link.connections);
                    link.connections = 0;
                }
            }
        }
    }

    /// A reclaimed instance gives up its `links` at `now`.
    pub(super) fn release_links(
        &mut self,
        now: SimTime,
        links: Vec<Link>,
        scheduler: &mut Scheduler<Event>,
    ) {
        for (node, link) in links.into_iter().enumerate() {
            let Node { database, pooler } = &mut self.nodes[node];
            let (count, session_server) = (link.connections, link.session == SessionServer::Held);
            let pooled = pooler.is_some();
            let lingering = if pooled {
                (count > 0 && database.close_delay > 0).then_some(database.close_delay)
            } else {
                database.release(now, count, link.wanted)
            };
            match lingering {
                Some(delay) => scheduler.schedule_in(
                    delay,
                    Event::ConnectionsClose {
                        node: node as u8,
                        count,
                        pooled,
                        session_server,
                    },
                ),
                None if pooled => self.close_clients(now, node, count, session_server, scheduler),
                None => {}
            }
        }
    }

    /// Lingering connections of a reclaimed instance close at `now`.
    pub(super) fn on_connections_close(
        &mut self,
        now: SimTime,
        node: usize,
        count: u32,
        pooled: bool,
        session_server: bool,
        scheduler: &mut Scheduler<Event>,
    ) {
        if pooled {
            self.close_clients(now, node, count, session_server, scheduler);
        } else {
            self.nodes[node].database.close(now, count);
        }
    }

    /// An instance's client connections to `node`'s pooler close at `now`,
    /// with its session-mode server connection if it held one.
    fn close_clients(
        &mut self,
        now: SimTime,
        node: usize,
        count: u32,
        session_server: bool,
        scheduler: &mut Scheduler<Event>,
    ) {
        let pooler = self.nodes[node].pooler.as_mut().expect("pooled access");
        pooler.disconnect_client(now, count);
        if session_server {
            self.release_server(now, node, scheduler);
        }
    }

    /// `node`'s pooler may open its reserve for the head of its line.
    pub(super) fn on_pooler_reserve(
        &mut self,
        now: SimTime,
        node: usize,
        scheduler: &mut Scheduler<Event>,
    ) {
        let (pooler, database) = self.nodes[node].pooled();
        for waiter in pooler.open_for_line(now, database) {
            let connect = self.nodes[node]
                .database
                .connect_time
                .sample(&mut self.streams.database);
            self.served(now, waiter.request, Line::Pooler, connect, scheduler);
        }
    }

    /// `node`'s pooler closes server connections idle too long.
    pub(super) fn on_pooler_idle_check(
        &mut self,
        now: SimTime,
        node: usize,
        scheduler: &mut Scheduler<Event>,
    ) {
        let (pooler, database) = self.nodes[node].pooled();
        if let Some(at) = pooler.idle_check(now, database) {
            scheduler.schedule_at(at, Event::PoolerIdleCheck { node: node as u8 });
        }
    }
}
