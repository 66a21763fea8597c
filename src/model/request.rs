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

/// Requests in flight, in reusable slots.
#[derive(Debug, Default)]
pub struct RequestTable {
    slots: Vec<Request>,
    free: Vec<u32>,
}

impl RequestTable {
    /// Stores `request`; returns its id.
    pub fn insert(&mut self, request: Request) -> u32 {
        match self.free.pop() {
            Some(id) => {
                self.slots[id as usize] = request;
                id
            }
            None => {
                self.slots.push(request);
                (self.slots.len() - 1) as u32
            }
        }
    }

    /// Frees the slot of request `id`.
    pub fn remove(&mut self, id: u32) {
        self.free.push(id);
    }

    /// Request `id`.
    #[inline]
    pub fn get(&self, id: u32) -> &Request {
        &self.slots[id as usize]
    }

    /// Request `id`, to change.
    #[inline]
    pub fn get_mut(&mut self, id: u32) -> &mut Request {
        &mut self.slots[id as usize]
    }
}
