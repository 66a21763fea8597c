//! A request as it moves through its route's pipeline of stages.

use crate::sim::SimTime;

use super::metrics::{Class, Outcome};

/// One stage of a route's pipeline. A component that adds a stage adds a
/// variant here and its handler in the stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// The CDN: a hit is answered at the edge, a miss goes on.
    Cdn,
    /// Take a slot on an instance of the route's function (cold start, throttle or queue).
    Function,
    /// Ask the route's rate limiter (a Redis round trip); 429 when rejected.
    Limit,
    /// Run the handler's CPU time.
    Handler,
    /// Ask the app cache (Redis) for the route's key; a hit skips the queries.
    AppCacheGet,
    /// Reach Postgres and run the queries one after another.
    Database,
    /// After a miss, store the result in the app cache.
    AppCacheSet,
    /// Call the route's external APIs, one after another.
    Externals,
    /// Call the AI provider (breaker, throttle, SDK retries).
    Ai,
}

/// Where a request is inside the AI stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AiPhase {
    /// Ask the circuit breaker, draw the tokens.
    Start,
    /// Take a slot of the app's in-flight cap.
    Slot,
    /// Send an attempt to the provider.
    Call,
    /// The answer has streamed back.
    Answered,
}

/// Where a request is inside the database stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DbPhase {
    /// Entering the stage: count the queries.
    Start,
    /// Pick the node of the next query (a replica for a read), or finish.
    NextQuery,
    /// Open the instance's connection to the node (direct, or client to the pooler) if it has none.
    Connect,
    /// Session mode: get the instance's server connection if it has none.
    Session,
    /// Get a connection for the query (pooler transaction or Data API).
    Connection,
    /// Get a CPU.
    Cpu,
    /// Run the query.
    Query,
    /// Give back the CPU and connection; count the query done.
    Done,
}

/// A line a request can wait in, outside the function's own queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Line {
    /// Waiting for the CDN's origin call for its key.
    Cdn,
    /// Waiting for a pooler server connection.
    Pooler,
    /// Waiting for a PostgREST connection.
    DataApi,
    /// Waiting for a database CPU.
    Cpu,
    /// Waiting for a slot of the app's cap on AI calls in flight.
    AiSlot,
}

/// A request in flight.
#[derive(Clone, Debug)]
pub struct Request {
    /// Route index.
    pub route: u16,
    /// Who sent it.
    pub class: Class,
    /// The user or abusive client that sent it.
    pub client: u32,
    /// When it arrived.
    pub arrival: SimTime,
    /// Index of its current stage.
    pub stage: u8,
    /// Where it is in the database stage.
    pub phase: DbPhase,
    /// The database node of its current query (0: the primary).
    pub node: u8,
    /// The cache key it is the origin call for, if any.
    pub origin_key: Option<u32>,
    /// Its app cache key, and whether it was a hit.
    pub app_cache: Option<(u32, bool)>,
    /// The instance slot it holds, if any.
    pub instance: Option<u32>,
    /// When it took its instance slot (the invocation began).
    pub invoked_at: SimTime,
    /// When it must end (504), once on an instance.
    pub deadline: SimTime,
    /// When its current timed step ends.
    pub step_done_at: SimTime,
    /// Tells its current timer from stale ones.
    pub generation: u32,
    /// Queries left in the database stage.
    pub queries_left: u32,
    /// The line it waits in, if any.
    pub waiting: Option<Line>,
    /// Whether it holds a database CPU.
    pub holds_cpu: bool,
    /// Whether it holds a pooler server or PostgREST connection for its query.
    pub holds_connection: bool,
    /// The outcome decided at the start of the current step, if it fails.
    pub failure: Option<Outcome>,
    /// Where it is in the AI stage.
    pub ai_phase: AiPhase,
    /// AI attempts made.
    pub ai_attempts: u8,
    /// The breaker's permit it holds (`Some(true)` for the half-open probe).
    pub ai_permit: Option<bool>,
    /// Whether it holds a slot of the in-flight cap.
    pub holds_ai_slot: bool,
    /// Input and output tokens of its AI call.
    pub ai_tokens: (u32, u32),
    /// When its AI stage started.
    pub ai_started: SimTime,
    /// External calls of its route made so far.
    pub externals_done: u8,
}

impl Request {
    /// A new request of `class` from `client` to `route`, arriving at `arrival`.
    pub fn new(route: usize, class: Class, client: u32, arrival: SimTime) -> Self {
        Self {
            route: route as u16,
            class,
            client,
            arrival,
            stage: 0,
            phase: DbPhase::Start,
            node: 0,
            origin_key: None,
            app_cache: None,
            instance: None,
            invoked_at: arrival,
            deadline: SimTime::MAX,
            step_done_at: arrival,
            generation: 0,
            queries_left: 0,
            waiting: None,
            holds_cpu: false,
            holds_connection: false,
            failure: None,
            ai_phase: AiPhase::Start,
            ai_attempts: 0,
            ai_permit: None,
            holds_ai_slot: false,
            ai_tokens: (0, 0),
            ai_started: arrival,
            externals_done: 0,
        }
    }
}
