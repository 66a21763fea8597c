//! The database stage: how a request's queries reach Postgres (direct
//! connections, the pooler or the Data API), on the primary or a read
//! replica, and queue for its CPUs, one query after another. Each node (the
//! primary, then the replicas) has its own connection slots, CPUs,
//! PostgREST pool and pooler; an instance opens its connections to a node
//! when it first sends it a query and keeps them (its link to the node)
//! until it is reclaimed.
//!
//! A request holds a CPU and, through the pooler or the Data API, a
//! connection for the length of one query; it waits for either in the
//! node's queues, from which it is served or cancelled here.

use super::{StageModel, Step, app_cache};
use crate::model::metrics::Outcome;
use crate::model::{
    Access, ClientConnect, Event, FunctionPool, Link, Node, Pooler, ServerConnection,
    SessionServer, Stack,
};
use crate::scenario::PoolMode;
use crate::sim::{Scheduler, SimDuration, SimTime};

/// Where a request is in the database stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Phase {
    /// Entering the stage: count the queries.
    #[default]
    Start,
    /// Pick the node of the next query (a replica for a read), or finish.
    NextQuery,
    /// Open the instance's connection to the node (direct, or client to the pooler) if it has none.
    Connect,
    /// Session mode: get the instance's server connection if it has none.
    Session,
    /// Get one of the instance's own connections to the node (its driver's
    /// pool): one query at a time on each.
    Own,
    /// Get a connection for the query (pooler transaction or Data API).
    Connection,
    /// Cross the shared pooler's own servers (Supavisor's `round_trip`).
    Hop,
    /// Get a CPU.
    Cpu,
    /// Run the query.
    Query,
    /// Give back the CPU and connection; count the query done.
    Done,
}

/// A request's place in the database stage.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Where it is.
    pub phase: Phase,
    /// The node of its current query (0: the primary).
    pub node: u8,
    /// DatabaseStage left.
    pub queries_left: u32,
    /// When Postgres cancels its current query (its statement timeout from
    /// when the query reached it).
    pub cancel_at: SimTime,
}

/// What a request holds for its current query, on its query's node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Held {
    /// One of its instance's connections to the node.
    pub own: bool,
    /// A CPU.
    pub cpu: bool,
    /// A pooler server connection or a PostgREST connection.
    pub connection: bool,
}

/// The queues of a node a request can wait in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeQueue {
    /// For one of its instance's connections to the node.
    Own,
    /// For a pooler server connection.
    Pooler,
    /// For room among the pooler's clients (Supavisor, session mode).
    PoolerClient,
    /// For a PostgREST connection.
    DataApi,
    /// For a CPU.
    Cpu,
}

impl NodeQueue {
    /// How a request ends whose wait in this queue runs out before its deadline.
    pub fn timeout(self) -> Outcome {
        match self {
            NodeQueue::Pooler => Outcome::PoolerTimeout,
            // Supavisor's EMAXCONN once the wait has run out.
            NodeQueue::PoolerClient => Outcome::PoolerRefused,
            NodeQueue::DataApi => Outcome::DataApiTimeout,
            NodeQueue::Own => Outcome::ConnectionTimeout,
            NodeQueue::Cpu => Outcome::StatementTimeout,
        }
    }
}

/// The link to `node` of the instance in `slot` of `functions[function]`:
/// a request's instance, taken in the function stage before this one.
fn instance_link(
    functions: &mut [FunctionPool],
    function: usize,
    slot: Option<u32>,
    node: usize,
) -> &mut Link {
    let slot = slot.expect("the function stage comes before the database stage");
    functions[function].instance_mut(slot).link(node)
}

/// The database stage.
pub struct DatabaseStage;

impl StageModel for DatabaseStage {
    const MULTI_STEP: bool = true;

    fn enter(stack: &mut Stack, now: SimTime, id: u32, scheduler: &mut Scheduler<Event>) -> Step {
        if app_cache::hit(stack, id) {
            return Step::Next;
        }
        loop {
            let request = stack.requests.get(id);
            let route = &stack.routes[request.route as usize];
            let (access, function, queries, read_share, statement_timeout) = (
                route.access,
                route.function,
                route.queries,
                route.read_share,
                route.statement_timeout,
            );
            let counted = stack.metrics.counts(request.arrival);
            let (slot, node) = (request.holdings.instance, usize::from(request.query.node));
            match request.query.phase {
                Phase::Start => {
                    let query = &mut stack.requests.get_mut(id).query;
                    query.queries_left = queries;
                    query.phase = Phase::NextQuery;
                }
                Phase::NextQuery => {
                    if request.query.queries_left == 0 {
                        return Step::Next;
                    }
                    let replicas = stack.nodes.len() - 1;
                    let node = if replicas > 0
                        && read_share > 0.0
                        && rand::RngExt::random::<f64>(&mut stack.streams.replicas) < read_share
                    {
                        1 + rand::RngExt::random_range(&mut stack.streams.replicas, 0..replicas)
                    } else {
                        0
                    };
                    let query = &mut stack.requests.get_mut(id).query;
                    // Node ids fit a byte (the compiled scenario bounds the replicas).
                    query.node = node as u8;
                    query.phase = Phase::Connect;
                }
                Phase::Connect => {
                    stack.requests.get_mut(id).query.phase = Phase::Session;
                    if access == Access::DataApi {
                        continue;
                    }
                    let link = instance_link(&mut stack.functions, function, slot, node);
                    if link.connections > 0 {
                        continue;
                    }
                    let Node { database, pooler } = &mut stack.nodes[node];
                    let per_instance = database.per_instance;
                    let connect = match pooler {
                        Some(pooler) => pooler.connect_client(now, (id, per_instance), counted),
                        None => {
                            let first_time = !link.wanted;
                            link.wanted = true;
                            if database.connect(now, first_time) {
                                ClientConnect::Connected
                            } else {
                                ClientConnect::Refused
                            }
                        }
                    };
                    match connect {
                        ClientConnect::Connected => link.connections = per_instance,
                        ClientConnect::Refused => {
                            stack.requests.get_mut(id).failure = Some(if pooler.is_some() {
                                Outcome::PoolerRefused
                            } else {
                                Outcome::DbRefused
                            });
                        }
                        ClientConnect::Queued => {
                            let timeout_at = pooler
                                .as_ref()
                                .map(|p| now.saturating_add(p.query_wait_timeout));
                            let queue = crate::model::Queue::Database(NodeQueue::PoolerClient);
                            return stack.park(id, queue, timeout_at, scheduler);
                        }
                    }
                    return Step::Wait(database.connect_time.sample(&mut stack.streams.database));
                }
                Phase::Session => {
                    stack.requests.get_mut(id).query.phase = Phase::Own;
                    let Node { database, pooler } = &mut stack.nodes[node];
                    let Some(pooler) = pooler else {
                        continue;
                    };
                    if access != Access::Pooler || pooler.mode != PoolMode::Session {
                        continue;
                    }
                    let link = instance_link(&mut stack.functions, function, slot, node);
                    // A second request of a busy instance shares what the first gets.
                    if link.session != SessionServer::None {
                        continue;
                    }
                    match pooler.acquire(now, id, database) {
                        ServerConnection::Reused => link.session = SessionServer::Held,
                        ServerConnection::Opened => {
                            link.session = SessionServer::Held;
                            return Step::Wait(
                                database.connect_time.sample(&mut stack.streams.database),
                            );
                        }
                        ServerConnection::Queued => {
                            link.session = SessionServer::Waiting;
                            let wait = PoolerWait::of(pooler, now);
                            return DatabaseStage::park_in_pooler(stack, id, node, wait, scheduler);
                        }
                    }
                }
                Phase::Own => {
                    stack.requests.get_mut(id).query.phase = Phase::Connection;
                    if access == Access::DataApi {
                        continue;
                    }
                    let link = instance_link(&mut stack.functions, function, slot, node);
                    // Refused connections: the request fails after its connect.
                    if link.connections == 0 {
                        continue;
                    }
                    if link.busy < link.connections {
                        link.busy += 1;
                        stack.requests.get_mut(id).holdings.query.own = true;
                    } else {
                        link.waiting.push_back(id);
                        let timeout_at = stack.nodes[node]
                            .database
                            .connection_timeout
                            .map(|t| now.saturating_add(t));
                        let queue = crate::model::Queue::Database(NodeQueue::Own);
                        return stack.park(id, queue, timeout_at, scheduler);
                    }
                }
                Phase::Connection => {
                    stack.requests.get_mut(id).query.phase = Phase::Hop;
                    let Node { database, pooler } = &mut stack.nodes[node];
                    match (access, pooler) {
                        (Access::Pooler, Some(pooler)) => {
                            if pooler.mode == PoolMode::Session {
                                continue;
                            }
                            match pooler.acquire(now, id, database) {
                                ServerConnection::Reused => {
                                    stack.requests.get_mut(id).holdings.query.connection = true;
                                }
                                ServerConnection::Opened => {
                                    stack.requests.get_mut(id).holdings.query.connection = true;
                                    return Step::Wait(
                                        database.connect_time.sample(&mut stack.streams.database),
                                    );
                                }
                                ServerConnection::Queued => {
                                    let wait = PoolerWait::of(pooler, now);
                                    return DatabaseStage::park_in_pooler(
                                        stack, id, node, wait, scheduler,
                                    );
                                }
                            }
                        }
                        (Access::DataApi, _) => {
                            if !database.data_api.take_or_wait(now, id) {
                                let timeout_at = now.saturating_add(database.data_api_timeout);
                                let queue = crate::model::Queue::Database(NodeQueue::DataApi);
                                return stack.park(id, queue, Some(timeout_at), scheduler);
                            }
                            stack.requests.get_mut(id).holdings.query.connection = true;
                        }
                        // Direct connections are the instance's, held with its link.
                        _ => {}
                    }
                }
                Phase::Hop => {
                    stack.requests.get_mut(id).query.phase = Phase::Cpu;
                    let round_trip = stack.nodes[node]
                        .pooler
                        .as_ref()
                        .map_or(0, |p| p.round_trip);
                    if access == Access::Pooler && round_trip > 0 {
                        return Step::Wait(round_trip);
                    }
                }
                Phase::Cpu => {
                    // The query has its connection: it is in Postgres, and
                    // its statement timeout runs from here.
                    let cancel_at = now.saturating_add(statement_timeout);
                    let query = &mut stack.requests.get_mut(id).query;
                    query.phase = Phase::Query;
                    query.cancel_at = cancel_at;
                    if let Some(cpus) = &mut stack.nodes[node].database.cpus {
                        if !cpus.take_or_wait(now, id) {
                            let queue = crate::model::Queue::Database(NodeQueue::Cpu);
                            return stack.park(id, queue, Some(cancel_at), scheduler);
                        }
                        stack.requests.get_mut(id).holdings.query.cpu = true;
                    }
                }
                Phase::Query => {
                    let cancel_at = request.query.cancel_at;
                    stack.requests.get_mut(id).query.phase = Phase::Done;
                    let database = &mut stack.nodes[node].database;
                    if counted {
                        database.queries += 1;
                    }
                    let cpu = database.query_time.sample(&mut stack.streams.service);
                    let runs = match &mut database.credits {
                        Some(credits) => credits.run(now, cpu, counted),
                        None => cpu,
                    };
                    if now.saturating_add(runs) > cancel_at {
                        if counted {
                            database.cancelled += 1;
                        }
                        // Cancelled at its timeout; what it holds is given
                        // back as the request ends.
                        stack.requests.get_mut(id).failure = Some(Outcome::StatementTimeout);
                        return Step::Wait(cancel_at.saturating_sub(now));
                    }
                    return Step::Wait(runs);
                }
                Phase::Done => {
                    DatabaseStage::release(stack, now, id, scheduler);
                    let (route, arrival) = {
                        let request = stack.requests.get(id);
                        (request.route as usize, request.arrival)
                    };
                    stack
                        .metrics
                        .db_egress(arrival, stack.routes[route].db_bytes_per_query);
                    let query = &mut stack.requests.get_mut(id).query;
                    query.queries_left -= 1;
                    query.phase = Phase::NextQuery;
                }
            }
        }
    }
}

/// What a request queued at a pooler waits under.
struct PoolerWait {
    /// When it gives up (`query_wait_timeout`).
    timeout_at: SimTime,
    /// When the reserve may open for it, if the pooler has one.
    reserve_at: Option<SimTime>,
}

impl PoolerWait {
    fn of(pooler: &Pooler, now: SimTime) -> Self {
        Self {
            timeout_at: now.saturating_add(pooler.query_wait_timeout),
            reserve_at: pooler
                .has_reserve()
                .then(|| now.saturating_add(pooler.reserve_timeout)),
        }
    }
}

impl DatabaseStage {
    fn park_in_pooler(
        stack: &mut Stack,
        id: u32,
        node: usize,
        wait: PoolerWait,
        scheduler: &mut Scheduler<Event>,
    ) -> Step {
        if let Some(at) = wait.reserve_at {
            scheduler.schedule_at(at, Event::PoolerReserve { node: node as u8 });
        }
        let queue = crate::model::Queue::Database(NodeQueue::Pooler);
        stack.park(id, queue, Some(wait.timeout_at), scheduler)
    }

    /// Request `id` got what it waited for in `queue` at `now`; it goes on
    /// after `delay` (a connect, for a new server connection).
    fn served(
        stack: &mut Stack,
        now: SimTime,
        id: u32,
        queue: NodeQueue,
        delay: SimDuration,
        scheduler: &mut Scheduler<Event>,
    ) {
        let request = stack.requests.get_mut(id);
        match queue {
            // Its link's connections were recorded as it was let in.
            NodeQueue::PoolerClient => {}
            NodeQueue::Own => request.holdings.query.own = true,
            NodeQueue::Cpu => request.holdings.query.cpu = true,
            NodeQueue::DataApi => request.holdings.query.connection = true,
            NodeQueue::Pooler => {
                // A session-mode waiter parked in the session phase, which
                // had moved it on to its own connection's phase.
                if request.query.phase == Phase::Own {
                    let function = stack.routes[request.route as usize].function;
                    let (slot, node) = (request.holdings.instance, usize::from(request.query.node));
                    instance_link(&mut stack.functions, function, slot, node).session =
                        SessionServer::Held;
                } else {
                    request.holdings.query.connection = true;
                }
            }
        }
        stack.served(now, id, delay, scheduler);
    }

    /// Gives back the CPU and the per-query connection request `id` holds,
    /// handing each to the head of its queue.
    #[inline(always)]
    pub fn release(stack: &mut Stack, now: SimTime, id: u32, scheduler: &mut Scheduler<Event>) {
        let held = stack.requests.get(id).holdings.query;
        if held.cpu || held.connection || held.own {
            DatabaseStage::release_held(stack, now, id, scheduler);
        }
    }

    /// [`DatabaseStage::release`] of a request that holds one or both.
    fn release_held(stack: &mut Stack, now: SimTime, id: u32, scheduler: &mut Scheduler<Event>) {
        let request = stack.requests.get_mut(id);
        let held = std::mem::take(&mut request.holdings.query);
        let node = usize::from(request.query.node);
        let access = stack.routes[request.route as usize].access;
        let database = &mut stack.nodes[node].database;
        if held.cpu
            && let Some(next) = database.cpus.as_mut().and_then(|c| c.release(now))
        {
            let queue = NodeQueue::Cpu;
            DatabaseStage::served(stack, now, next.request, queue, 0, scheduler);
        }
        if held.connection {
            match access {
                Access::Pooler => DatabaseStage::release_server(stack, now, node, scheduler),
                Access::DataApi => {
                    if let Some(next) = stack.nodes[node].database.data_api.release(now) {
                        let queue = NodeQueue::DataApi;
                        DatabaseStage::served(stack, now, next.request, queue, 0, scheduler);
                    }
                }
                Access::Direct => {}
            }
        }
        if held.own {
            DatabaseStage::release_own(stack, now, id, node, scheduler);
        }
    }

    /// Request `id` gives back its instance's connection to `node`, to the
    /// instance's next waiting query.
    fn release_own(
        stack: &mut Stack,
        now: SimTime,
        id: u32,
        node: usize,
        scheduler: &mut Scheduler<Event>,
    ) {
        let request = stack.requests.get(id);
        let function = stack.routes[request.route as usize].function;
        let slot = request.holdings.instance;
        let link = instance_link(&mut stack.functions, function, slot, node);
        match link.waiting.pop_front() {
            Some(next) => DatabaseStage::served(stack, now, next, NodeQueue::Own, 0, scheduler),
            None => link.busy -= 1,
        }
    }

    /// A pooler server connection of `node` is given back at `now`.
    fn release_server(
        stack: &mut Stack,
        now: SimTime,
        node: usize,
        scheduler: &mut Scheduler<Event>,
    ) {
        let Some(pooler) = stack.nodes[node].pooler.as_mut() else {
            return;
        };
        let (next, idle_check) = pooler.release(now);
        if let Some(at) = idle_check {
            scheduler.schedule_at(at, Event::PoolerIdleCheck { node: node as u8 });
        }
        if let Some(next) = next {
            let queue = NodeQueue::Pooler;
            DatabaseStage::served(stack, now, next.request, queue, 0, scheduler);
        }
    }

    /// Takes request `id` out of `queue`, where it waited, ending with `outcome`.
    pub fn cancel(
        stack: &mut Stack,
        now: SimTime,
        id: u32,
        (queue, outcome): (NodeQueue, Outcome),
        scheduler: &mut Scheduler<Event>,
    ) {
        let request = stack.requests.get(id);
        let counted = stack.metrics.counts(request.arrival);
        let node = usize::from(request.query.node);
        let (function, slot) = (
            stack.routes[request.route as usize].function,
            request.holdings.instance,
        );
        let Node { database, pooler } = &mut stack.nodes[node];
        match queue {
            NodeQueue::Own => instance_link(&mut stack.functions, function, slot, node)
                .waiting
                .retain(|&waiting| waiting != id),
            NodeQueue::Cpu => {
                if let Some(cpus) = &mut database.cpus {
                    cpus.cancel(now, id);
                }
                if outcome == Outcome::StatementTimeout && counted {
                    database.cancelled += 1;
                }
            }
            NodeQueue::DataApi => {
                database.data_api.cancel(now, id);
                if outcome == Outcome::DataApiTimeout && counted {
                    database.data_api_timeouts += 1;
                }
            }
            NodeQueue::Pooler => {
                let Some(pooler) = pooler else {
                    return;
                };
                let timed_out = outcome == Outcome::PoolerTimeout;
                pooler.cancel(now, id, timed_out, counted);
                let link = instance_link(&mut stack.functions, function, slot, node);
                if link.session == SessionServer::Waiting {
                    link.session = SessionServer::None;
                }
                // PgBouncer disconnects a client whose query waited too long.
                if timed_out && link.connections > 0 {
                    let count = std::mem::take(&mut link.connections);
                    let connected = pooler.disconnect_client(now, count);
                    DatabaseStage::clients_connected(stack, now, node, connected, scheduler);
                }
            }
            NodeQueue::PoolerClient => {
                if let Some(pooler) = pooler {
                    pooler.cancel_client(id, outcome == Outcome::PoolerRefused, counted);
                }
            }
        }
    }

    /// Connects that waited for room among `node`'s pooler clients got it
    /// at `now`: each instance's link records its connections, and the
    /// request goes on after its connect. An instance that got connected
    /// meanwhile gives the room back.
    fn clients_connected(
        stack: &mut Stack,
        now: SimTime,
        node: usize,
        connected: Vec<u32>,
        scheduler: &mut Scheduler<Event>,
    ) {
        let mut connected = std::collections::VecDeque::from(connected);
        while let Some(id) = connected.pop_front() {
            let request = stack.requests.get(id);
            let (function, slot) = (
                stack.routes[request.route as usize].function,
                request.holdings.instance,
            );
            let Node { database, pooler } = &mut stack.nodes[node];
            let per_instance = database.per_instance;
            let link = instance_link(&mut stack.functions, function, slot, node);
            if link.connections == 0 {
                link.connections = per_instance;
            } else if let Some(pooler) = pooler {
                connected.extend(pooler.disconnect_client(now, per_instance));
            }
            let connect = database.connect_time.sample(&mut stack.streams.database);
            DatabaseStage::served(stack, now, id, NodeQueue::PoolerClient, connect, scheduler);
        }
    }

    /// A reclaimed instance gives up its `links` at `now`.
    pub fn release_links(
        stack: &mut Stack,
        now: SimTime,
        links: Vec<Link>,
        scheduler: &mut Scheduler<Event>,
    ) {
        for (node, link) in links.into_iter().enumerate() {
            let Node { database, pooler } = &mut stack.nodes[node];
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
                None if pooled => {
                    DatabaseStage::close_clients(stack, now, node, count, session_server, scheduler)
                }
                None => {}
            }
        }
    }

    /// Lingering connections of a reclaimed instance close at `now`.
    pub fn on_connections_close(
        stack: &mut Stack,
        now: SimTime,
        node: usize,
        count: u32,
        pooled: bool,
        session_server: bool,
        scheduler: &mut Scheduler<Event>,
    ) {
        if pooled {
            DatabaseStage::close_clients(stack, now, node, count, session_server, scheduler);
        } else {
            stack.nodes[node].database.close(now, count);
        }
    }

    /// An instance's client connections to `node`'s pooler close at `now`,
    /// with its session-mode server connection if it held one.
    fn close_clients(
        stack: &mut Stack,
        now: SimTime,
        node: usize,
        count: u32,
        session_server: bool,
        scheduler: &mut Scheduler<Event>,
    ) {
        let Some(pooler) = stack.nodes[node].pooler.as_mut() else {
            return;
        };
        let connected = pooler.disconnect_client(now, count);
        if session_server {
            DatabaseStage::release_server(stack, now, node, scheduler);
        }
        DatabaseStage::clients_connected(stack, now, node, connected, scheduler);
    }

    /// `node`'s pooler may open its reserve for the head of its queue.
    pub fn on_pooler_reserve(
        stack: &mut Stack,
        now: SimTime,
        node: usize,
        scheduler: &mut Scheduler<Event>,
    ) {
        let Node { database, pooler } = &mut stack.nodes[node];
        let Some(pooler) = pooler else {
            return;
        };
        for waiter in pooler.open_for_queue(now, database) {
            let connect = stack.nodes[node]
                .database
                .connect_time
                .sample(&mut stack.streams.database);
            let queue = NodeQueue::Pooler;
            DatabaseStage::served(stack, now, waiter.request, queue, connect, scheduler);
        }
    }

    /// `node`'s pooler closes server connections idle too long.
    pub fn on_pooler_idle_check(
        stack: &mut Stack,
        now: SimTime,
        node: usize,
        scheduler: &mut Scheduler<Event>,
    ) {
        let Node { database, pooler } = &mut stack.nodes[node];
        if let Some(pooler) = pooler
            && let Some(at) = pooler.idle_check(now, database)
        {
            scheduler.schedule_at(at, Event::PoolerIdleCheck { node: node as u8 });
        }
    }
}
