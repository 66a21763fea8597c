//! The modelled stack: traffic, the CDN, function instances, rate limiters,
//! the pooler and the database, wired as a pipeline of stages per route and
//! driven by the event kernel.
//!
//! Each component keeps its own state in its own file; [`Stack`] routes
//! events to them and moves each request from stage to stage.

mod ai;
mod ai_stage;
mod alerts;
mod app_cache;
mod bucket;
mod cdn;
mod conversations;
mod data_path;
mod database;
mod externals;
mod functions;
mod jobs;
mod keys;
mod limiter;
mod metrics;
mod pooler;
mod request;
mod results;
mod servers;
mod slab;
mod traffic;

pub use ai::{Answer, Breaker, BreakerState, Permit, Provider};
pub use app_cache::{AppCache, TtlCache};
pub use bucket::TokenBucket;
pub use cdn::{Cdn, Lookup};
pub use conversations::{ConversationRoute, Conversations, Message};
pub use data_path::Node;
pub use database::Database;
pub use externals::{Api, ApiCounts, CallResult};
pub use functions::{Acquire, FunctionPool, IdleCheck, Link, SessionServer};
pub use jobs::{Job, JobCounts};
pub use limiter::{Decision, Limiter};
pub use metrics::{CdnResult, Class, Metrics, Outcome};
pub use pooler::{Pooler, ServerConnection};
pub use request::{AiPhase, DbPhase, Line, Request, Stage};
pub use results::{
    AbusiveCounts, AiResults, AlertResults, AppCacheCounts, CdnCounts, CpuMinutes, CpuResults,
    JobResults, LimiterResults, LineResults, Minutes, NodeResults, Outcomes, Percentiles,
    PoolerMinutes, PoolerResults, Replication, RouteResults, TierResults,
};
pub use servers::{Servers, Waiter};
pub use slab::Slab;
pub use traffic::{AbusiveClients, ArrivalRate, Page, Traffic};

use crate::scenario::{
    Ai as AiConfig, BreakerScope, CircuitBreaker, CountDist, DbAccess, DurationSampler, LimitKey,
    LimiterId, Scenario,
};
use crate::sim::{self, RngStream, Scheduler, SimDuration, SimTime};

/// Purposes of the random streams of one (tier, replication): each draws
/// from its own stream so that changing one component leaves the others'
/// numbers, and the traffic, unchanged.
#[derive(Clone, Copy, Debug)]
#[repr(u64)]
enum Purpose {
    Arrivals = 1,
    Routing = 2,
    ServiceTimes = 3,
    ColdStarts = 4,
    Database = 5,
    Placement = 6,
    CacheKeys = 7,
    Abusive = 8,
    Redis = 9,
    AppCacheKeys = 10,
    Replicas = 11,
    Conversations = 12,
    Ai = 13,
    Externals = 14,
    ExternalKeys = 15,
}

struct Streams {
    arrivals: RngStream,
    routing: RngStream,
    service: RngStream,
    cold_starts: RngStream,
    database: RngStream,
    placement: RngStream,
    cache_keys: RngStream,
    abusive: RngStream,
    redis: RngStream,
    app_cache_keys: RngStream,
    replicas: RngStream,
    conversations: RngStream,
    ai: RngStream,
    externals: RngStream,
    external_keys: RngStream,
}

impl Streams {
    fn new(seed: u64, users: u64, replication: u32) -> Self {
        let stream =
            |purpose: Purpose| sim::stream(seed, &[users, u64::from(replication), purpose as u64]);
        Self {
            arrivals: stream(Purpose::Arrivals),
            routing: stream(Purpose::Routing),
            service: stream(Purpose::ServiceTimes),
            cold_starts: stream(Purpose::ColdStarts),
            database: stream(Purpose::Database),
            placement: stream(Purpose::Placement),
            cache_keys: stream(Purpose::CacheKeys),
            abusive: stream(Purpose::Abusive),
            redis: stream(Purpose::Redis),
            app_cache_keys: stream(Purpose::AppCacheKeys),
            replicas: stream(Purpose::Replicas),
            conversations: stream(Purpose::Conversations),
            ai: stream(Purpose::Ai),
            externals: stream(Purpose::Externals),
            external_keys: stream(Purpose::ExternalKeys),
        }
    }
}

/// The events of the stack.
#[derive(Clone, Copy, Debug)]
pub enum Event {
    /// The next session arrives.
    SessionArrival,
    /// A session sends its next page request.
    Page {
        /// The session.
        session: u32,
    },
    /// A conversation starts on a volume-driven route.
    Conversation {
        /// Index among the volume-driven routes.
        index: u16,
    },
    /// A conversation sends its next message.
    Message {
        /// The conversation.
        conversation: u32,
    },
    /// A job's run starts.
    JobRun {
        /// The job.
        job: u16,
    },
    /// An abusive client sends a request.
    Abusive {
        /// The client's index.
        client: u32,
    },
    /// The current timed step of a request ends, its deadline passes, or
    /// its wait in a line runs out.
    Step {
        /// The request.
        request: u32,
        /// The timer's generation; a stale timer is ignored.
        generation: u32,
    },
    /// An instance may have been idle for its idle timeout.
    IdleCheck {
        /// Function index.
        function: u16,
        /// Instance slot.
        slot: u32,
        /// The instance's serial, to ignore checks of a reused slot.
        serial: u64,
    },
    /// A function's queued requests may start instances again (scale limit).
    ScaleRetry {
        /// Function index.
        function: u16,
    },
    /// Lingering connections of a reclaimed instance close.
    ConnectionsClose {
        /// The database node.
        node: u8,
        /// How many.
        count: u32,
        /// Whether they are client connections to the pooler.
        pooled: bool,
        /// Whether a session-mode server connection goes back with them.
        session_server: bool,
    },
    /// A node's pooler closes server connections idle too long.
    PoolerIdleCheck {
        /// The database node.
        node: u8,
    },
    /// A node's pooler reserve may open for the head of its line.
    PoolerReserve {
        /// The database node.
        node: u8,
    },
}

/// How a route's queries reach Postgres.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Access {
    /// The instance's own connections.
    Direct,
    /// Client connections to the pooler.
    Pooler,
    /// PostgREST's pool.
    DataApi,
}

/// A route compiled for the run.
#[derive(Clone, Debug)]
struct RouteModel {
    function: usize,
    handler: DurationSampler,
    queries: u32,
    read_share: f64,
    ai: Option<(CountDist, CountDist)>,
    /// External calls: (API index, units).
    externals: Vec<(usize, u32)>,
    access: Access,
    limiter: Option<usize>,
    stages: Vec<Stage>,
    fan_out: Vec<usize>,
}

/// What entering or finishing a step asks for.
enum Step {
    /// Go on to the next stage now.
    Next,
    /// Wait this long, then finish the step.
    Wait(SimDuration),
    /// The request waits in a line, which will resume it.
    Parked,
    /// The request ends with this outcome.
    End(Outcome),
}

/// The AI provider and the app's protections around it.
struct AiService {
    provider: Provider,
    breaker: Option<CircuitBreaker>,
    /// The breaker when it is shared by every instance.
    shared_breaker: Option<Breaker>,
    /// The app's cap on calls in flight.
    in_flight: Option<Servers>,
}

impl AiService {
    fn new(config: &AiConfig, warmup: SimTime, minutes: usize) -> Self {
        let breaker = config.circuit_breaker;
        Self {
            provider: Provider::new(config),
            breaker,
            shared_breaker: breaker
                .filter(|b| b.scope == BreakerScope::Global)
                .map(|b| Breaker::new(&b)),
            in_flight: config
                .max_in_flight
                .map(|cap| Servers::new(cap, warmup, minutes)),
        }
    }
}

/// One tier's stack for one replication.
pub struct Stack {
    end: SimTime,
    users: u32,
    routes: Vec<RouteModel>,
    traffic: Traffic,
    conversations: Conversations,
    abusive: Option<AbusiveClients>,
    cdn: Cdn,
    app_cache: AppCache,
    functions: Vec<FunctionPool>,
    limiters: Vec<Limiter>,
    users_per_ip: f64,
    user_ips: u32,
    redis_time: Option<DurationSampler>,
    nodes: Vec<Node>,
    apis: Vec<Api>,
    jobs: Vec<Job>,
    ai: Option<AiService>,
    requests: Slab<Request>,
    generation: u32,
    metrics: Metrics,
    streams: Streams,
}

impl Stack {
    /// The stack of `scenario` for `users` users, replication `replication`.
    pub fn new(scenario: &Scenario, users: u64, replication: u32) -> Self {
        let end = scenario.horizon.nanos();
        let warmup = scenario.warmup.nanos();
        let minutes = end.div_ceil(60 * sim::NANOS_PER_SEC) as usize;
        let pooled = scenario.database.pooled();
        let routes = scenario
            .routes
            .iter()
            .map(|route| {
                let access = match route.db_access {
                    DbAccess::DataApi => Access::DataApi,
                    DbAccess::Sql if pooled => Access::Pooler,
                    DbAccess::Sql => Access::Direct,
                };
                let limiter = route.rate_limit.map(LimiterId::index);
                let mut stages = Vec::new();
                if matches!(route.cache, Some(crate::scenario::Cache::Shared(_))) {
                    stages.push(Stage::Cdn);
                }
                stages.push(Stage::Function);
                if limiter.is_some() {
                    stages.push(Stage::Limit);
                }
                stages.push(Stage::Handler);
                let app_cached = route.app_cache.is_some();
                if app_cached {
                    stages.push(Stage::AppCacheGet);
                }
                if route.queries > 0 {
                    stages.push(Stage::Database);
                }
                if app_cached {
                    stages.push(Stage::AppCacheSet);
                }
                if !route.externals.is_empty() {
                    stages.push(Stage::Externals);
                }
                if route.ai.is_some() {
                    stages.push(Stage::Ai);
                }
                RouteModel {
                    function: route.function.index(),
                    handler: route.handler_time.sampler(),
                    queries: route.queries,
                    read_share: route.read_share,
                    ai: route
                        .ai
                        .map(|ai| (ai.input_tokens.dist(), ai.output_tokens.dist())),
                    externals: route
                        .externals
                        .iter()
                        .map(|call| (call.api.index(), call.units))
                        .collect(),
                    access,
                    limiter,
                    stages,
                    fan_out: route.fan_out.iter().map(|t| t.index()).collect(),
                }
            })
            .collect();
        let functions: Vec<FunctionPool> =
            scenario.functions.iter().map(FunctionPool::new).collect();
        // Request-judged alerts on the SLO's window read its tracker; other
        // lengths get one tracker each.
        let slo_window = scenario.slo.window.nanos();
        let mut alert_windows: Vec<SimDuration> = scenario
            .alert_rules()
            .iter()
            .filter(|rule| rule.metric.per_request())
            .map(|rule| rule.window.nanos())
            .filter(|&length| length != slo_window)
            .collect();
        alert_windows.sort_unstable();
        alert_windows.dedup();
        let mut metrics = Metrics::new(
            &scenario.routes,
            scenario.rate_limits.len(),
            warmup,
            minutes,
            slo_window,
            &alert_windows,
        );
        let warm: u32 = functions.iter().map(FunctionPool::alive).sum();
        metrics.instances.set(0, u64::from(warm));
        let users_per_ip = scenario.traffic.users_per_ip;
        Self {
            end,
            users: users.min(u64::from(u32::MAX)) as u32,
            routes,
            traffic: Traffic::new(scenario, users),
            conversations: Conversations::new(scenario, users),
            abusive: AbusiveClients::new(scenario, users),
            cdn: Cdn::new(&scenario.routes),
            app_cache: AppCache::new(&scenario.routes),
            functions,
            limiters: scenario
                .rate_limits
                .iter()
                .map(|l| Limiter::new(&l.limit))
                .collect(),
            users_per_ip,
            user_ips: (users as f64 / users_per_ip).ceil() as u32,
            redis_time: scenario.redis.as_ref().map(|r| r.round_trip.sampler()),
            nodes: Node::all(&scenario.database, warmup, minutes),
            jobs: Job::all(scenario, warmup, minutes),
            apis: scenario
                .externals
                .iter()
                .map(|external| Api::new(&external.api, warmup))
                .collect(),
            ai: scenario
                .ai
                .as_ref()
                .map(|ai| AiService::new(ai, warmup, minutes)),
            requests: Slab::default(),
            generation: 0,
            metrics,
            streams: Streams::new(scenario.seed, users, replication),
        }
    }

    /// Schedules the first arrivals.
    pub fn start(&mut self, scheduler: &mut Scheduler<Event>) {
        self.schedule_next_session(0, scheduler);
        for index in 0..self.conversations.routes.len() {
            self.schedule_next_conversation(index, 0, scheduler);
        }
        // A run due at or after the end is dropped by the scheduler.
        for (index, job) in self.jobs.iter().enumerate() {
            scheduler.schedule_at(job.first_run(), Event::JobRun { job: index as u16 });
        }
        if let Some(abusive) = &mut self.abusive {
            for client in 0..abusive.count() {
                if let Some(at) =
                    abusive.next_request(client, 0, self.end, &mut self.streams.abusive)
                {
                    scheduler.schedule_at(at, Event::Abusive { client });
                }
            }
        }
    }

    fn schedule_next_conversation(
        &mut self,
        index: usize,
        now: SimTime,
        scheduler: &mut Scheduler<Event>,
    ) {
        if let Some(at) = self.conversations.routes[index].rate.next_arrival(
            now,
            self.end,
            &mut self.streams.conversations,
        ) {
            scheduler.schedule_at(
                at,
                Event::Conversation {
                    index: index as u16,
                },
            );
        }
    }

    fn schedule_next_session(&mut self, now: SimTime, scheduler: &mut Scheduler<Event>) {
        if let Some(at) = self
            .traffic
            .rate
            .next_arrival(now, self.end, &mut self.streams.arrivals)
        {
            scheduler.schedule_at(at, Event::SessionArrival);
        }
    }

    /// Sends `page`, and schedules its session's next one if any; a
    /// session's first page is sent as it opens, without a timer.
    fn send_page(&mut self, now: SimTime, page: Page, scheduler: &mut Scheduler<Event>) {
        match page.next {
            Some((session, think)) => scheduler.schedule_in(think, Event::Page { session }),
            None => self.metrics.session_closed(),
        }
        self.issue(now, page.route, Class::User, page.user, scheduler);
    }

    /// Conversation `conversation` sends its next message; its first is
    /// sent as it opens.
    fn message(&mut self, now: SimTime, conversation: u32, scheduler: &mut Scheduler<Event>) {
        let message = self
            .conversations
            .next_message(conversation, &mut self.streams.conversations);
        if let Some(gap) = message.gap {
            scheduler.schedule_in(gap, Event::Message { conversation });
        }
        self.issue(now, message.route, Class::User, message.user, scheduler);
    }

    /// Closes the run at the horizon and returns what it measured;
    /// `events` is how many the kernel handled.
    pub fn finish(mut self, scenario: &Scenario, events: u64) -> Replication {
        let end = self.end;
        for pool in &self.functions {
            for instance in pool.alive_instances() {
                self.metrics
                    .instance_lifetime(instance.created_at, end, pool.memory);
            }
        }
        let ai_slots = self.ai.as_mut().and_then(|ai| ai.in_flight.as_mut());
        let apis: Vec<ApiCounts> = self.apis.iter_mut().map(|api| api.finish(end)).collect();
        Replication::collect(
            scenario,
            end,
            self.metrics,
            &mut self.nodes,
            ai_slots,
            &apis,
            &mut self.jobs,
            events,
        )
    }

    fn issue(
        &mut self,
        now: SimTime,
        route: usize,
        class: Class,
        client: u32,
        scheduler: &mut Scheduler<Event>,
    ) {
        self.metrics.arrival(now, route, class);
        let id = self
            .requests
            .insert(Request::new(route, class, client, now));
        self.advance(now, id, scheduler);
        for index in 0..self.routes[route].fan_out.len() {
            let child = self.routes[route].fan_out[index];
            self.issue(now, child, class, client, scheduler);
        }
    }

    /// Starts the CDN's background origin call for `key` of `route`.
    fn revalidate(
        &mut self,
        now: SimTime,
        route: usize,
        key: u32,
        client: u32,
        scheduler: &mut Scheduler<Event>,
    ) {
        self.metrics.origin_call(now, route);
        let mut request = Request::new(route, Class::Revalidation, client, now);
        request.origin_key = Some(key);
        request.stage = 1;
        let id = self.requests.insert(request);
        self.advance(now, id, scheduler);
    }

    /// Enters stages from the request's current one until one takes time.
    fn advance(&mut self, now: SimTime, id: u32, scheduler: &mut Scheduler<Event>) {
        loop {
            let request = self.requests.get(id);
            let route = &self.routes[request.route as usize];
            let Some(&stage) = route.stages.get(request.stage as usize) else {
                self.end_request(now, id, Outcome::Ok, scheduler);
                return;
            };
            let step = self.enter(now, id, stage, scheduler);
            if !self.take_step(now, id, step, scheduler) {
                return;
            }
        }
    }

    /// Acts on what a stage asked of request `id`; true when it goes on to
    /// its next stage now.
    fn take_step(
        &mut self,
        now: SimTime,
        id: u32,
        step: Step,
        scheduler: &mut Scheduler<Event>,
    ) -> bool {
        match step {
            Step::Next => {
                self.requests.get_mut(id).stage += 1;
                return true;
            }
            Step::Wait(delay) => self.wait(now, id, delay, scheduler),
            Step::Parked => {}
            Step::End(outcome) => self.end_request(now, id, outcome, scheduler),
        }
        false
    }

    fn next_generation(&mut self) -> u32 {
        self.generation = self.generation.wrapping_add(1);
        self.generation
    }

    /// Request `id` waits `delay`, or until its deadline if sooner.
    fn wait(
        &mut self,
        now: SimTime,
        id: u32,
        delay: SimDuration,
        scheduler: &mut Scheduler<Event>,
    ) {
        let generation = self.next_generation();
        let request = self.requests.get_mut(id);
        request.generation = generation;
        request.step_done_at = now.saturating_add(delay);
        scheduler.schedule_at(
            request.step_done_at.min(request.deadline),
            Event::Step {
                request: id,
                generation,
            },
        );
    }

    /// Request `id` waits in `line` until served, its deadline, or `timeout_at`.
    fn park(
        &mut self,
        id: u32,
        line: Line,
        timeout_at: Option<SimTime>,
        scheduler: &mut Scheduler<Event>,
    ) -> Step {
        let generation = self.next_generation();
        let request = self.requests.get_mut(id);
        request.waiting = Some(line);
        request.generation = generation;
        request.step_done_at = SimTime::MAX;
        let at = request.deadline.min(timeout_at.unwrap_or(SimTime::MAX));
        if at < SimTime::MAX {
            scheduler.schedule_at(
                at,
                Event::Step {
                    request: id,
                    generation,
                },
            );
        }
        Step::Parked
    }

    /// A request waiting in `line` got what it waited for at `now`; it goes
    /// on after `delay` (a connect, for a new server connection).
    fn served(
        &mut self,
        now: SimTime,
        id: u32,
        line: Line,
        delay: SimDuration,
        scheduler: &mut Scheduler<Event>,
    ) {
        let request = self.requests.get_mut(id);
        request.waiting = None;
        match line {
            Line::Cpu => request.holds_cpu = true,
            Line::DataApi => request.holds_connection = true,
            Line::Pooler => {
                // A session-mode waiter parked in the session phase, which
                // had moved it on to the connection phase.
                let in_session = request.phase == DbPhase::Connection;
                if in_session {
                    let slot = request
                        .instance
                        .expect("a database request holds an instance");
                    let function = self.routes[request.route as usize].function;
                    let node = usize::from(request.node);
                    self.functions[function]
                        .instance_mut(slot)
                        .link(node)
                        .session = SessionServer::Held;
                } else {
                    request.holds_connection = true;
                }
            }
            Line::AiSlot => request.holds_ai_slot = true,
            Line::Cdn => unreachable!("CDN waiters end with their origin call"),
        }
        self.wait(now, id, delay, scheduler);
    }

    fn enter(
        &mut self,
        now: SimTime,
        id: u32,
        stage: Stage,
        scheduler: &mut Scheduler<Event>,
    ) -> Step {
        let request = self.requests.get(id);
        let (route_index, arrival, client, class) = (
            request.route as usize,
            request.arrival,
            request.client,
            request.class,
        );
        let route = &self.routes[route_index];
        match stage {
            Stage::Cdn => {
                let key = self.cdn.key(route_index, &mut self.streams.cache_keys);
                match self.cdn.lookup(route_index, key, now, id) {
                    Lookup::Fresh => {
                        self.metrics
                            .cdn(now, arrival, route_index, CdnResult::Fresh);
                        Step::End(Outcome::Ok)
                    }
                    Lookup::Stale { revalidate } => {
                        self.metrics
                            .cdn(now, arrival, route_index, CdnResult::Stale);
                        if revalidate {
                            self.revalidate(now, route_index, key, client, scheduler);
                        }
                        Step::End(Outcome::Ok)
                    }
                    Lookup::Miss { leader } => {
                        self.metrics.cdn(now, arrival, route_index, CdnResult::Miss);
                        if leader {
                            self.metrics.origin_call(now, route_index);
                            self.requests.get_mut(id).origin_key = Some(key);
                            Step::Next
                        } else {
                            self.park(id, Line::Cdn, None, scheduler)
                        }
                    }
                }
            }
            Stage::Function => {
                let function = route.function;
                let pool = &mut self.functions[function];
                match pool.acquire(now, id, &mut self.streams.cold_starts) {
                    Acquire::Slot {
                        instance,
                        ready_at,
                        cold,
                    } => {
                        if cold {
                            self.metrics.instances.add(now, 1);
                            self.metrics.cold_start(arrival, route_index);
                        }
                        self.assign(now, id, instance, ready_at);
                        slot_ready(now, ready_at)
                    }
                    Acquire::Queued => {
                        self.schedule_scale_retry(function, scheduler);
                        Step::Parked
                    }
                    Acquire::Throttled => Step::End(Outcome::Throttled),
                }
            }
            // The CDN's own revalidation carries no client identity to limit.
            Stage::Limit if class == Class::Revalidation => Step::Next,
            Stage::Limit => {
                let limiter = route.limiter.expect("a limited route has a limiter");
                let identifier = match self.limiters[limiter].key {
                    LimitKey::User => client,
                    LimitKey::Ip => self.ip_of(client),
                };
                let decision = self.limiters[limiter].check(now, identifier);
                self.metrics
                    .limiter(now, limiter, class, decision.allowed, decision.commands);
                match (decision.allowed, self.redis_round_trip()) {
                    (true, 0) => Step::Next,
                    (false, 0) => Step::End(Outcome::RateLimited),
                    (allowed, delay) => {
                        if !allowed {
                            self.requests.get_mut(id).failure = Some(Outcome::RateLimited);
                        }
                        Step::Wait(delay)
                    }
                }
            }
            Stage::Handler => {
                let cpu = route.handler.sample(&mut self.streams.service);
                self.metrics.handler(arrival, cpu);
                Step::Wait(cpu)
            }
            Stage::AppCacheGet => {
                let cache = self.app_cache.route(route_index);
                let key = cache.key(&mut self.streams.app_cache_keys);
                let hit = cache.get(key, now);
                self.metrics.app_cache(arrival, route_index, hit);
                self.requests.get_mut(id).app_cache = Some((key, hit));
                self.redis_step()
            }
            Stage::Database | Stage::AppCacheSet if self.app_cache_hit(id) => Step::Next,
            Stage::Database => self.database_step(now, id, scheduler),
            // Calls answered from the API's cache take no time: the next goes at once.
            Stage::Externals => loop {
                let request = self.requests.get_mut(id);
                let Some(&(api, units)) = route.externals.get(usize::from(request.externals_done))
                else {
                    return Step::Next;
                };
                request.externals_done += 1;
                let api = &mut self.apis[api];
                let (keys, times) = (&mut self.streams.external_keys, &mut self.streams.externals);
                match api.call(now, units, keys, times) {
                    CallResult::Cached => {}
                    CallResult::QuotaExhausted => return Step::End(Outcome::ExternalQuota),
                    CallResult::Sent(latency) => return Step::Wait(latency),
                }
            },
            Stage::Ai => self.ai_step(now, id, scheduler),
            Stage::AppCacheSet => {
                let (key, _) = request.app_cache.expect("the get stage ran");
                self.app_cache.route(route_index).set(key, now);
                self.redis_step()
            }
        }
    }

    fn app_cache_hit(&self, id: u32) -> bool {
        self.requests.get(id).app_cache.is_some_and(|(_, hit)| hit)
    }

    /// The time of one Redis call.
    fn redis_round_trip(&mut self) -> SimDuration {
        self.redis_time
            .as_ref()
            .map_or(0, |d| d.sample(&mut self.streams.redis))
    }

    /// One Redis call, then the next stage.
    fn redis_step(&mut self) -> Step {
        match self.redis_round_trip() {
            0 => Step::Next,
            delay => Step::Wait(delay),
        }
    }

    /// The IP address of `client`: users share addresses `users_per_ip` to
    /// one; abusive clients have their own.
    fn ip_of(&self, client: u32) -> u32 {
        if client < self.users {
            (f64::from(client) / self.users_per_ip) as u32
        } else {
            self.user_ips + (client - self.users)
        }
    }

    /// Request `id` got a slot on `instance` at `now`, usable from `ready_at`:
    /// an invocation, whatever its outcome.
    #[inline(always)]
    fn assign(&mut self, now: SimTime, id: u32, instance: u32, ready_at: SimTime) {
        let request = self.requests.get(id);
        let max_duration =
            self.functions[self.routes[request.route as usize].function].max_duration;
        self.metrics
            .invoked(request.arrival, ready_at - request.arrival, request.class);
        let request = self.requests.get_mut(id);
        request.instance = Some(instance);
        request.invoked_at = now;
        request.deadline = now.saturating_add(max_duration);
    }

    /// A timer of request `id` fired.
    fn on_step(
        &mut self,
        now: SimTime,
        id: u32,
        generation: u32,
        scheduler: &mut Scheduler<Event>,
    ) {
        let request = self.requests.get(id);
        if request.generation != generation {
            return;
        }
        if let Some(line) = request.waiting {
            let outcome = match line {
                _ if now >= request.deadline => Outcome::Timeout,
                Line::Pooler => Outcome::PoolerTimeout,
                Line::DataApi => Outcome::DataApiTimeout,
                Line::Cpu | Line::Cdn | Line::AiSlot => Outcome::Timeout,
            };
            self.end_request(now, id, outcome, scheduler);
            return;
        }
        if now < request.step_done_at {
            self.end_request(now, id, Outcome::Timeout, scheduler);
            return;
        }
        if let Some(outcome) = request.failure {
            self.end_request(now, id, outcome, scheduler);
            return;
        }
        // The database, externals and AI stages have several timed steps; others have one.
        let stage = self.routes[request.route as usize].stages[request.stage as usize];
        if !matches!(stage, Stage::Database | Stage::Externals | Stage::Ai) {
            self.requests.get_mut(id).stage += 1;
        }
        self.advance(now, id, scheduler);
    }

    /// Takes request `id` out of the line it waits in, if any.
    fn leave_line(&mut self, now: SimTime, id: u32, outcome: Outcome) {
        if let Some(line) = self.requests.get(id).waiting {
            self.leave_database_line(now, id, line, outcome);
        }
    }

    fn end_request(
        &mut self,
        now: SimTime,
        id: u32,
        outcome: Outcome,
        scheduler: &mut Scheduler<Event>,
    ) {
        self.leave_line(now, id, outcome);
        self.release_query_resources(now, id, scheduler);
        let request = self.requests.get(id);
        if request.ai_permit.is_some() || request.holds_ai_slot {
            // It ended mid-call (its deadline): a failure for the breaker.
            self.finish_ai(now, id, false, scheduler);
        }
        let request = self.requests.get(id);
        let (route, arrival, instance, class, client, origin_key, invoked_at) = (
            request.route as usize,
            request.arrival,
            request.instance,
            request.class,
            request.client,
            request.origin_key,
            request.invoked_at,
        );
        self.metrics.finished(now, arrival, route, class, outcome);
        self.requests.remove(id);
        if let Some(key) = origin_key {
            for waiter in self.cdn.complete(route, key, now, outcome == Outcome::Ok) {
                self.end_request(now, waiter, outcome, scheduler);
            }
        }
        if let Some(slot) = instance {
            let function = self.routes[route].function;
            let pool = &mut self.functions[function];
            self.metrics
                .invocation_ended(arrival, now - invoked_at, pool.memory);
            let (next, idle_check) = pool.release(now, slot, &mut self.streams.placement);
            if let Some(at) = idle_check {
                let serial = pool.serial(slot);
                schedule_idle_check(scheduler, at, function, slot, serial);
            }
            if let Some(next) = next {
                self.resume(now, next, slot, now, scheduler);
            }
        }
        // The queue hands out the next task once this one has let go of its instance.
        if class == Class::Job {
            // A job's task carries its job's index as its client.
            let job = client as usize;
            let counted = self.metrics.counts(arrival);
            if self.jobs[job].task_ended(now, outcome != Outcome::Ok, counted) {
                let route = self.jobs[job].route;
                self.issue(now, route, Class::Job, client, scheduler);
            }
        }
    }

    /// A queued request got `slot`, usable from `ready_at`.
    fn resume(
        &mut self,
        now: SimTime,
        id: u32,
        slot: u32,
        ready_at: SimTime,
        scheduler: &mut Scheduler<Event>,
    ) {
        self.assign(now, id, slot, ready_at);
        if self.take_step(now, id, slot_ready(now, ready_at), scheduler) {
            self.advance(now, id, scheduler);
        }
    }

    fn schedule_scale_retry(&mut self, function: usize, scheduler: &mut Scheduler<Event>) {
        if let Some(at) = self.functions[function].scale_retry_at() {
            scheduler.schedule_at(
                at,
                Event::ScaleRetry {
                    function: function as u16,
                },
            );
        }
    }

    fn on_idle_check(
        &mut self,
        now: SimTime,
        function: usize,
        slot: u32,
        serial: u64,
        scheduler: &mut Scheduler<Event>,
    ) {
        let pool = &mut self.functions[function];
        match pool.idle_check(now, slot, serial) {
            IdleCheck::Nothing => {}
            IdleCheck::Recheck(at) => schedule_idle_check(scheduler, at, function, slot, serial),
            IdleCheck::Reclaimed { links, lifetime } => {
                let memory = pool.memory;
                self.metrics.instances.add(now, -1);
                self.metrics
                    .instance_lifetime(lifetime.0, lifetime.1, memory);
                self.release_links(now, links, scheduler);
            }
        }
    }

    fn on_scale_retry(&mut self, now: SimTime, function: usize, scheduler: &mut Scheduler<Event>) {
        let started = self.functions[function].retry_queued(now, &mut self.streams.cold_starts);
        for (id, slot, ready_at) in started {
            self.metrics.instances.add(now, 1);
            let request = self.requests.get(id);
            self.metrics
                .cold_start(request.arrival, request.route as usize);
            self.resume(now, id, slot, ready_at, scheduler);
        }
        self.schedule_scale_retry(function, scheduler);
    }
}

/// A function slot taken at `now` and usable from `ready_at`: a warm one at
/// once, with no timer to wait for; a cold one after its start.
fn slot_ready(now: SimTime, ready_at: SimTime) -> Step {
    match ready_at - now {
        0 => Step::Next,
        delay => Step::Wait(delay),
    }
}

/// Checks at `at` whether instance `slot` (serial `serial`) of `function` has idled out.
fn schedule_idle_check(
    scheduler: &mut Scheduler<Event>,
    at: SimTime,
    function: usize,
    slot: u32,
    serial: u64,
) {
    let function = function as u16;
    scheduler.schedule_at(
        at,
        Event::IdleCheck {
            function,
            slot,
            serial,
        },
    );
}

impl sim::Model for Stack {
    type Event = Event;

    fn handle(&mut self, now: SimTime, event: Event, scheduler: &mut Scheduler<Event>) {
        match event {
            Event::SessionArrival => {
                let session = self.traffic.open_session(&mut self.streams.routing);
                self.metrics.session_opened(now);
                self.schedule_next_session(now, scheduler);
                let page = self.traffic.first_page(session, &mut self.streams.routing);
                self.send_page(now, page, scheduler);
            }
            Event::Page { session } => {
                let page = self.traffic.next_page(session, &mut self.streams.routing);
                self.send_page(now, page, scheduler);
            }
            Event::Conversation { index } => {
                let index = usize::from(index);
                let conversation = self
                    .conversations
                    .open(index, &mut self.streams.conversations);
                self.schedule_next_conversation(index, now, scheduler);
                self.message(now, conversation, scheduler);
            }
            Event::Message { conversation } => self.message(now, conversation, scheduler),
            Event::JobRun { job } => {
                let index = usize::from(job);
                let counted = self.metrics.counts(now);
                let (tasks, next) = self.jobs[index].start_run(now, counted);
                if let Some(at) = next {
                    scheduler.schedule_at(at, Event::JobRun { job });
                }
                let route = self.jobs[index].route;
                for _ in 0..tasks {
                    self.issue(now, route, Class::Job, u32::from(job), scheduler);
                }
            }
            Event::Abusive { client } => {
                let abusive = self.abusive.as_mut().expect("abusive clients");
                let route = abusive.route(&mut self.streams.abusive);
                let id = abusive.id(client);
                if let Some(at) =
                    abusive.next_request(client, now, self.end, &mut self.streams.abusive)
                {
                    scheduler.schedule_at(at, Event::Abusive { client });
                }
                self.issue(now, route, Class::Abusive, id, scheduler);
            }
            Event::Step {
                request,
                generation,
            } => self.on_step(now, request, generation, scheduler),
            Event::IdleCheck {
                function,
                slot,
                serial,
            } => {
                self.on_idle_check(now, usize::from(function), slot, serial, scheduler);
            }
            Event::ScaleRetry { function } => {
                self.on_scale_retry(now, usize::from(function), scheduler)
            }
            Event::ConnectionsClose {
                node,
                count,
                pooled,
                session_server,
            } => self.on_connections_close(
                now,
                usize::from(node),
                count,
                pooled,
                session_server,
                scheduler,
            ),
            Event::PoolerIdleCheck { node } => {
                self.on_pooler_idle_check(now, usize::from(node), scheduler)
            }
            Event::PoolerReserve { node } => {
                self.on_pooler_reserve(now, usize::from(node), scheduler)
            }
        }
    }
}
