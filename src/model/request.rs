//! A request (the simulation's entity) as it moves through its route's
//! pipeline of stages: what every stage shares (its place in the pipeline,
//! its timer, the queue it waits in, its deadline), each stage's own state,
//! and what it holds until it gives it back.

use crate::sim::SimTime;

use super::metrics::{CdnResult, Class, Outcome};
use super::stages::{ai, app_cache, database, externals};

/// A queue a request can wait in, outside its function's own queue; each
/// belongs to the stage that parks requests in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Queue {
    /// The CDN stage: the origin call for the request's key.
    Cdn,
    /// The database stage: a pooler server connection, a PostgREST
    /// connection or a CPU.
    Database(database::NodeQueue),
    /// The AI stage: a slot of the app's cap on calls in flight.
    AiSlot,
}

/// What a request holds, each part given back by the stage that took it.
/// When a request ends they are given back in this order (its query's
/// resources, its AI call's, then, once it is counted, its origin call and
/// its instance slot), the order the engine has always used, so events at
/// the same instant keep their order.
#[derive(Clone, Copy, Debug, Default)]
pub struct Holdings {
    /// A database CPU and a per-query connection.
    pub query: database::Held,
    /// The circuit breaker's permit and a slot of the in-flight cap.
    pub ai: ai::Held,
    /// The CDN origin call it makes for this cache key.
    pub origin_key: Option<u32>,
    /// Its slot on an instance of its function.
    pub instance: Option<u32>,
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
    /// Index of its current stage in its route's pipeline.
    pub stage: u8,
    /// When it must end (504), once on an instance.
    pub deadline: SimTime,
    /// When its current timed step ends.
    pub step_done_at: SimTime,
    /// Tells its current timer from stale ones.
    pub generation: u32,
    /// The queue it waits in, if any.
    pub waiting: Option<Queue>,
    /// The outcome decided at the start of the current step, if it fails.
    pub failure: Option<Outcome>,
    /// What it holds.
    pub holdings: Holdings,
    /// When it took its instance slot (the invocation began).
    pub invoked_at: SimTime,
    /// The app cache stages' key and whether it was a hit.
    pub app_cache: Option<app_cache::AppCacheLookup>,
    /// Where it is in the database stage.
    pub query: database::Progress,
    /// External calls of its route made so far.
    pub externals: externals::Progress,
    /// Where it is in the AI stage.
    pub ai: ai::Progress,
    /// Whether it computes on its instance's vCPUs (in the handler stage).
    pub computing: bool,
    /// What the CDN did with it and its cache key, for the request log.
    pub cdn: Option<(CdnResult, u32)>,
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
            deadline: SimTime::MAX,
            step_done_at: arrival,
            generation: 0,
            waiting: None,
            failure: None,
            holdings: Holdings::default(),
            invoked_at: arrival,
            app_cache: None,
            query: database::Progress::default(),
            externals: externals::Progress::default(),
            ai: ai::Progress::new(arrival),
            computing: false,
            cdn: None,
        }
    }
}
