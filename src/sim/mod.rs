//! The discrete-event kernel: simulated time, the pending-event list and
//! random-number streams.
//!
//! Nothing here knows what is being simulated. A model is any type that
//! implements [`Model`]; its events are plain values of the model's own
//! `Event` type, ordered by time and, at equal times, by the order in which
//! they were scheduled, so a run is a pure function of its inputs.

mod queue;
mod rng;
mod time;

pub use queue::EventQueue;
pub use rng::{RngStream, stream, stream_seed};
pub use time::{
    NANOS_PER_MILLI, NANOS_PER_SEC, SimDuration, SimTime, duration_from_secs, duration_to_secs,
};

/// A simulated system: receives its events one at a time, in time order.
pub trait Model {
    /// The payload the model schedules and receives: a small plain value.
    type Event: Copy;

    /// Handles `event`, due at `now`; may schedule further events.
    fn handle(&mut self, now: SimTime, event: Self::Event, scheduler: &mut Scheduler<Self::Event>);
}

/// The clock and the pending events: what a model may read and change while
/// it handles an event.
pub struct Scheduler<E> {
    now: SimTime,
    queue: EventQueue<E>,
    handled: u64,
}

impl<E: Copy> Default for Scheduler<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E: Copy> Scheduler<E> {
    /// An empty scheduler at time zero.
    pub fn new() -> Self {
        Self {
            now: 0,
            queue: EventQueue::new(),
            handled: 0,
        }
    }

    /// The current simulated time.
    #[inline]
    pub fn now(&self) -> SimTime {
        self.now
    }

    /// Schedules `event` at absolute time `at` (never earlier than now).
    #[inline]
    pub fn schedule_at(&mut self, at: SimTime, event: E) {
        debug_assert!(at >= self.now, "event scheduled in the past");
        self.queue.push(at.max(self.now), event);
    }

    /// Schedules `event` after `delay` from now.
    #[inline]
    pub fn schedule_in(&mut self, delay: SimDuration, event: E) {
        self.queue.push(self.now.saturating_add(delay), event);
    }

    /// Number of events handled so far.
    pub fn handled(&self) -> u64 {
        self.handled
    }

    /// Number of pending events.
    pub fn pending(&self) -> usize {
        self.queue.len()
    }

    /// Runs `model` until no event is due before `end`; the clock then
    /// stands at `end`. Events at or after `end` stay pending.
    pub fn run_until<M: Model<Event = E>>(&mut self, model: &mut M, end: SimTime) {
        while let Some((at, event)) = self.queue.pop_before(end) {
            self.now = at;
            self.handled += 1;
            model.handle(at, event, self);
        }
        self.now = self.now.max(end);
    }
}
