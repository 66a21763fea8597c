//! The model of one tier's system (the *stack*): traffic, the CDN,
//! function instances, rate limiters, the app cache, the pooler and the
//! database, external APIs and the AI provider, wired as a pipeline of
//! stages per route and driven by the event kernel ([`crate::sim`]).
//!
//! # Glossary
//!
//! capsim's words, and the usual discrete-event terms they stand for:
//!
//! | here | usual term | what it is |
//! |---|---|---|
//! | stack ([`Stack`]) | the model | every component of one tier's system, for one replication |
//! | request ([`Request`]) | entity, customer | one HTTP request (or job task, or CDN revalidation) |
//! | stage ([`Stage`]) | activity, process step | one step of a route's pipeline: CDN, function slot, limiter, handler, app cache, database, externals, AI (one module each, in `stages/`) |
//! | resource ([`Resource`]) | resource (multi-server) | servers with a FIFO queue: database CPUs, pooler or PostgREST connections, AI slots |
//! | queue ([`Queue`]) | queue | where a request waits for a resource, outside its function's own queue |
//! | holdings ([`Holdings`]) | seized resources | what a request holds, given back when it ends |
//! | slot | server (of an instance) | one of an instance's `concurrency` places for requests |
//! | node ([`Node`]) | database server | the primary or a read replica, each with its connections, CPUs and pooler |
//! | link ([`Link`]) | (connection state) | an instance's connections to one node, kept while it lives |
//! | step | event outcome | what a stage asks next: go on, wait, park in a queue, end |
//!
//! Each component keeps its own state in its own file; each stage is a
//! module of `stages/` that owns its part of a request's life (its docs say
//! how to add one). [`Stack`]
//! routes events to them and moves each request from stage to stage.

mod ai;
mod alerts;
mod app_cache;
mod bucket;
mod cdn;
mod conversations;
mod database;
mod externals;
mod functions;
mod images;
mod jobs;
mod keys;
mod limiter;
mod metrics;
mod pooler;
mod request;
mod request_log;
mod resource;
mod results;
mod slab;
mod stages;
mod traffic;

pub use ai::{Answer, Breaker, BreakerState, Permit, Prefix, Prompt, Provider, TokenUsage};
pub use app_cache::{AppCache, TtlCache};
pub use bucket::TokenBucket;
pub use cdn::{Cdn, Lookup};
pub use conversations::{ConversationRoute, Conversations, Message};
pub use database::{CpuCredits, Database, Node};
pub use externals::{Api, ApiCounts, CallResult};
pub use functions::{Acquire, FunctionPool, IdleCheck, Link, SessionServer};
pub use images::{ImageCache, ImageCounts};
pub use jobs::{Job, JobCounts};
pub use limiter::{BlockedIdentifiers, Decision, Limiter};
pub use metrics::{CdnResult, Class, Metrics, Outcome, TokenCounts};
pub use pooler::{ClientConnect, Pooler, ServerConnection};
pub use request::{Holdings, Queue, Request};
pub use request_log::{LoggedRequest, MONTHS, RequestLog};
pub use resource::{Resource, Waiter};
pub use results::{
    AbusiveCounts, AiResults, AlertResults, AppCacheCounts, CdnCounts, CpuMinutes, CpuResults,
    JobResults, LimiterResults, MeteredUsage, Minutes, NodeResults, Outcomes, Percentiles,
    PoolerMinutes, PoolerResults, Replication, ResourceResults, RouteResults, TierResults,
};
pub use slab::Slab;
pub use stages::Stage;
pub use traffic::{AbusiveClients, ArrivalRate, Page, Traffic};

use crate::scenario::{
    CacheScope, CacheTtl, CountDist, DbAccess, DurationSampler, LimiterId, PageView, Scenario,
};
use crate::sim::{self, NANOS_PER_SEC, RngStream, Scheduler, SimDuration, SimTime};
use stages::Step;
use stages::ai::{AiService, AiStage};
use stages::cdn::CdnStage;
use stages::database::DatabaseStage;
use stages::function::FunctionStage;
use stages::handler::HandlerStage;
use stages::limit::LimitStage;

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
    ImageKeys = 16,
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
    image_keys: RngStream,
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
            image_keys: stream(Purpose::ImageKeys),
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
    /// its wait in a queue runs out.
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
    /// A node's pooler reserve may open for the head of its queue.
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

/// A route's AI call.
#[derive(Clone, Copy, Debug)]
struct RouteCall {
    input: CountDist,
    output: CountDist,
    cache: Option<PrefixRule>,
}

/// Which part of a route's prompt is cached, and whose it is.
#[derive(Clone, Copy, Debug)]
struct PrefixRule {
    /// Share of the input tokens.
    share: f64,
    /// Shorter prefixes are not cached.
    min_tokens: u32,
    /// Keyed by conversation, else by route.
    per_conversation: bool,
    /// The 1-hour lifetime, else the 5-minute one.
    one_hour: bool,
    /// That lifetime.
    ttl: SimDuration,
}

impl PrefixRule {
    /// The cached prefix of a prompt of `input` tokens to `route`, in
    /// conversation `conversation` (0: none).
    fn prefix(&self, input: u32, route: usize, conversation: u64) -> Option<Prefix> {
        let tokens = (f64::from(input) * self.share).round() as u32;
        // Anthropic: shorter prompts "will be processed without caching".
        // A request outside a conversation (a fan-out child) has no history.
        if tokens < self.min_tokens.max(1) || (self.per_conversation && conversation == 0) {
            return None;
        }
        Some(Prefix {
            tokens,
            // Conversation numbers count from 1; route keys from the top.
            key: if self.per_conversation {
                conversation
            } else {
                u64::MAX - route as u64
            },
            ttl: self.ttl,
            one_hour: self.one_hour,
        })
    }
}

/// A route compiled for the run.
#[derive(Clone, Debug)]
struct RouteModel {
    function: usize,
    handler: DurationSampler,
    queries: u32,
    read_share: f64,
    statement_timeout: SimDuration,
    ai: Option<RouteCall>,
    /// External calls: (API index, units).
    externals: Vec<(usize, u32)>,
    access: Access,
    limiter: Option<usize>,
    stages: Vec<Stage>,
    fan_out: Vec<usize>,
    /// Bytes of a request to the function and of its response.
    origin_bytes: (u64, u64),
    /// Bytes each of its queries returns.
    db_bytes_per_query: u64,
    page: Option<PageView>,
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
    images: Option<ImageCache>,
    requests: Slab<Request>,
    generation: u32,
    metrics: Metrics,
    streams: Streams,
    /// Where `run --log` writes each request's line, if it asked.
    log: Option<RequestLog>,
}

impl Stack {
    /// The stack of `scenario` for `users` users, replication `replication`.
    pub fn new(scenario: &Scenario, users: u64, replication: u32) -> Self {
        let end = scenario.horizon.nanos();
        let warmup = scenario.warmup.nanos();
        let minutes = end.div_ceil(60 * sim::NANOS_PER_SEC) as usize;
        let nodes = Node::all(&scenario.database, warmup, minutes);
        // Routes reach a pooler only where the nodes have one.
        let pooled = nodes[0].pooler.is_some();
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
                // An AI call needs the scenario's provider (compiling checks it).
                let ai = route
                    .ai
                    .zip(scenario.ai.as_ref())
                    .map(|(call, provider)| RouteCall {
                        input: call.input_tokens.dist(),
                        output: call.output_tokens.dist(),
                        cache: call.prompt_cache.map(|cache| PrefixRule {
                            share: cache.prefix.0,
                            min_tokens: provider.min_cacheable_tokens,
                            per_conversation: cache.per == CacheScope::Conversation,
                            one_hour: cache.ttl == CacheTtl::OneHour,
                            ttl: match cache.ttl {
                                CacheTtl::FiveMinutes => 5 * 60 * NANOS_PER_SEC,
                                CacheTtl::OneHour => 60 * 60 * NANOS_PER_SEC,
                            },
                        }),
                    });
                if ai.is_some() {
                    stages.push(Stage::Ai);
                }
                RouteModel {
                    function: route.function.index(),
                    handler: route.handler_time.sampler(),
                    queries: route.queries,
                    read_share: route.read_share,
                    // 0 disables it, as in Postgres.
                    statement_timeout: match route.statement_timeout.nanos() {
                        0 => SimDuration::MAX,
                        timeout => timeout,
                    },
                    ai,
                    externals: route
                        .externals
                        .iter()
                        .map(|call| (call.api.index(), call.units))
                        .collect(),
                    access,
                    limiter,
                    stages,
                    fan_out: route.fan_out.iter().map(|t| t.index()).collect(),
                    origin_bytes: (
                        route.request_size,
                        route.response_size.map_or(0, |size| size.0),
                    ),
                    db_bytes_per_query: route.db_result_size / u64::from(route.queries.max(1)),
                    page: route.page,
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
            nodes,
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
            images: scenario.images.as_ref().map(ImageCache::new),
            requests: Slab::default(),
            generation: 0,
            metrics,
            streams: Streams::new(scenario.seed, users, replication),
            log: None,
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
        self.metrics.user_active(now, page.user);
        if let Some(view) = self.routes[page.route].page {
            let mut images = ImageCounts::default();
            let mut image_bytes = 0;
            if let Some(cache) = &mut self.images {
                cache.request(now, view.images, &mut self.streams.image_keys, &mut images);
                image_bytes = cache.image_bytes();
            }
            self.metrics.page_view(now, &view, images, image_bytes);
        }
        self.issue(now, page.route, (Class::User, page.user, 0), scheduler);
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
        self.metrics.user_active(now, message.user);
        self.issue(
            now,
            message.route,
            (Class::User, message.user, message.conversation),
            scheduler,
        );
    }

    /// Writes each request's line to `log` as it ends (`run --log`).
    pub fn log_requests(&mut self, log: RequestLog) {
        self.log = Some(log);
    }

    /// The request log given to [`Stack::log_requests`], once the run is over.
    pub fn take_log(&mut self) -> Option<RequestLog> {
        self.log.take()
    }

    /// Closes the run at the horizon and returns what it measured;
    /// `events` is how many the kernel handled.
    pub fn finish(mut self, scenario: &Scenario, events: u64) -> Replication {
        let end = self.end;
        for pool in &self.functions {
            for instance in pool.alive_instances() {
                self.metrics
                    .instance_lifetime(instance.created_at, end, pool.memory);
                if instance.active > 0 {
                    self.metrics
                        .instance_busy(instance.busy_since, end, pool.memory);
                }
            }
        }
        self.metrics.ai.spend_cap_reached_at =
            self.ai.as_ref().and_then(AiService::spend_cap_reached_at);
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
        (class, client, conversation): (Class, u32, u64),
        scheduler: &mut Scheduler<Event>,
    ) {
        self.metrics.arrival(now, route, class);
        let mut request = Request::new(route, class, client, now);
        request.ai.conversation = conversation;
        let id = self.requests.insert(request);
        self.advance(now, id, scheduler);
        for index in 0..self.routes[route].fan_out.len() {
            let child = self.routes[route].fan_out[index];
            self.issue(now, child, (class, client, 0), scheduler);
        }
    }

    /// Enters stages from the request's current one until one takes time.
    pub(crate) fn advance(&mut self, now: SimTime, id: u32, scheduler: &mut Scheduler<Event>) {
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
    pub(crate) fn take_step(
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

    /// Request `id` waits in `queue` until served, its deadline, or `timeout_at`.
    pub(crate) fn park(
        &mut self,
        id: u32,
        queue: Queue,
        timeout_at: Option<SimTime>,
        scheduler: &mut Scheduler<Event>,
    ) -> Step {
        let generation = self.next_generation();
        let request = self.requests.get_mut(id);
        request.waiting = Some(queue);
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

    /// A request waiting in a queue got what it waited for at `now` (its
    /// queue's owner has recorded what it holds); it goes on after `delay`.
    pub(crate) fn served(
        &mut self,
        now: SimTime,
        id: u32,
        delay: SimDuration,
        scheduler: &mut Scheduler<Event>,
    ) {
        self.requests.get_mut(id).waiting = None;
        self.wait(now, id, delay, scheduler);
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
        if let Some(queue) = request.waiting {
            let outcome = match queue {
                _ if now >= request.deadline => Outcome::Timeout,
                Queue::Database(queue) => queue.timeout(),
                Queue::Cdn | Queue::AiSlot => Outcome::Timeout,
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
        let stage = self.routes[request.route as usize].stages[request.stage as usize];
        if !stage.multi_step() {
            self.requests.get_mut(id).stage += 1;
        }
        self.advance(now, id, scheduler);
    }

    /// Ends request `id` with `outcome`: it leaves the queue it waits in and
    /// gives back what it holds, each to the stage it came from, in the
    /// order of [`Holdings`]; it is counted before its origin call and its
    /// instance slot wake who waits for them.
    pub(crate) fn end_request(
        &mut self,
        now: SimTime,
        id: u32,
        outcome: Outcome,
        scheduler: &mut Scheduler<Event>,
    ) {
        if let Some(queue) = self.requests.get(id).waiting {
            match queue {
                // The CDN's waiters leave with the origin call they wait for.
                Queue::Cdn => {}
                Queue::Database(queue) => {
                    DatabaseStage::cancel(self, now, id, (queue, outcome), scheduler);
                }
                Queue::AiSlot => AiStage::cancel(self, now, id),
            }
        }
        DatabaseStage::release(self, now, id, scheduler);
        AiStage::release(self, now, id, scheduler);
        HandlerStage::release(self, now, id, scheduler);
        let request = self.requests.get(id);
        let (route, arrival, class, client, invoked_at, holdings) = (
            request.route as usize,
            request.arrival,
            request.class,
            request.client,
            request.invoked_at,
            request.holdings,
        );
        let first_token_at = request.ai.first_token_at;
        if self.log.is_some() {
            let logged = LoggedRequest {
                span: (arrival, now),
                route,
                class,
                client: (client, LimitStage::ip_of(self, client)),
                outcome,
                cdn: request.cdn,
                bytes: self.routes[route].origin_bytes.1,
            };
            if let Some(log) = &mut self.log {
                log.record(&logged);
            }
        }
        self.metrics
            .finished(now, (arrival, first_token_at), route, class, outcome);
        self.requests.remove(id);
        if let Some(key) = holdings.origin_key {
            CdnStage::release(self, now, route, key, outcome, scheduler);
        }
        if let Some(slot) = holdings.instance {
            self.metrics.origin_transfer(
                arrival,
                self.routes[route].origin_bytes,
                outcome == Outcome::Ok,
            );
            FunctionStage::release(self, now, (route, arrival, invoked_at), slot, scheduler);
        }
        // The queue hands out the next task once this one has let go of its instance.
        if class == Class::Job {
            // A job's task carries its job's index as its client.
            let job = client as usize;
            let counted = self.metrics.counts(arrival);
            if self.jobs[job].task_ended(now, outcome != Outcome::Ok, counted) {
                let route = self.jobs[job].route;
                self.issue(now, route, (Class::Job, client, 0), scheduler);
            }
        }
    }
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
                    self.issue(now, route, (Class::Job, u32::from(job), 0), scheduler);
                }
            }
            Event::Abusive { client } => {
                let Some(abusive) = self.abusive.as_mut() else {
                    return;
                };
                let route = abusive.route(&mut self.streams.abusive);
                let id = abusive.id(client);
                if let Some(at) =
                    abusive.next_request(client, now, self.end, &mut self.streams.abusive)
                {
                    scheduler.schedule_at(at, Event::Abusive { client });
                }
                self.issue(now, route, (Class::Abusive, id, 0), scheduler);
            }
            Event::Step {
                request,
                generation,
            } => self.on_step(now, request, generation, scheduler),
            Event::IdleCheck {
                function,
                slot,
                serial,
            } => FunctionStage::on_idle_check(
                self,
                now,
                usize::from(function),
                slot,
                serial,
                scheduler,
            ),
            Event::ScaleRetry { function } => {
                FunctionStage::on_scale_retry(self, now, usize::from(function), scheduler)
            }
            Event::ConnectionsClose {
                node,
                count,
                pooled,
                session_server,
            } => DatabaseStage::on_connections_close(
                self,
                now,
                usize::from(node),
                count,
                pooled,
                session_server,
                scheduler,
            ),
            Event::PoolerIdleCheck { node } => {
                DatabaseStage::on_pooler_idle_check(self, now, usize::from(node), scheduler)
            }
            Event::PoolerReserve { node } => {
                DatabaseStage::on_pooler_reserve(self, now, usize::from(node), scheduler)
            }
        }
    }
}
