//! A user-facing request as it moves through its route's pipeline of stages.

use crate::sim::SimTime;

use super::metrics::Outcome;

/// One stage of a route's pipeline. A component that adds a stage (cache,
/// limiter, pooler, AI) adds a variant here and its handler in the stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Take a slot on an instance of the route's function (cold start, throttle or queue).
    Function,
    /// Run the handler's CPU time.
    Handler,
    /// Connect if the instance has no connection, then run the queries one after another.
    Database,
}

/// A request in flight.
#[derive(Clone, Debug)]
pub struct Request {
    /// Route index.
    pub route: u16,
    /// When it arrived.
    pub arrival: SimTime,
    /// Index of its current stage.
    pub stage: u8,
    /// The instance slot it holds, if any.
    pub instance: Option<u32>,
    /// When it must end (504), once on an instance.
    pub deadline: SimTime,
    /// When its current timed step ends.
    pub step_done_at: SimTime,
    /// Queries left in the database stage.
    pub queries_left: u32,
    /// The outcome decided at the start of the current step, if it fails.
    pub failure: Option<Outcome>,
}
