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
pub use time::{NANOS_PER_MILLI, NANOS_PER_SEC, SimDuration, SimTime, duration_from_secs};

/// A simulated system: receives its events one at a time, in time order.
pub trait Model {
    /// The payload the model schedules and receives: a small plain value.
    type Event: Copy;

    /// Handles `event`, due at `now`; may schedule further events.
    fn handle(&mut self, now: SimTime, event: Self::Event, scheduler: &mut Scheduler<Self::Event>);
}

/// The clock and the pending events of a run that ends at a set time:
/// what a model may read and change while it handles an event.
pub struct Scheduler<E> {
    now: SimTime,
    end: SimTime,
    queue: EventQueue<E>,
    handled: u64,
}

impl<E: Copy> Scheduler<E> {
    /// An empty scheduler at time zero, for a run that ends at `end`.
    pub fn new(end: SimTime) -> Self {
        Self {
            now: 0,
            end,
            queue: EventQueue::new(),
            handled: 0,
        }
    }

    /// The current simulated time.
    #[inline]
    pub fn now(&self) -> SimTime {
        self.now
    }

    /// Schedules `event` at absolute time `at` (never earlier than now). An
    /// event due at or after the end is never handled, so it is not kept:
    /// far-off timers (an idle timeout longer than the run) would only
    /// deepen the queue.
    #[inline]
    pub fn schedule_at(&mut self, at: SimTime, event: E) {
        debug_assert!(at >= self.now, "event scheduled in the past");
        if at < self.end {
            self.queue.push(at.max(self.now), event);
        }
    }

    /// Schedules `event` after `delay` from now.
    #[inline]
    pub fn schedule_in(&mut self, delay: SimDuration, event: E) {
        self.schedule_at(self.now.saturating_add(delay), event);
    }

    /// Number of events handled so far.
    pub fn handled(&self) -> u64 {
        self.handled
    }

    /// Number of pending events (those due before the end).
    pub fn pending(&self) -> usize {
        self.queue.len()
    }

    /// Runs `model` until no event is due before the end; the clock then
    /// stands at the end.
    pub fn run<M: Model<Event = E>>(&mut self, model: &mut M) {
        while let Some((at, event)) = self.queue.pop() {
            self.now = at;
            self.handled += 1;
            model.handle(at, event, self);
        }
        self.now = self.now.max(self.end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts what it handles and schedules one event at each of three
    /// times around the end when it first starts.
    struct Probe {
        handled: Vec<SimTime>,
    }

    impl Model for Probe {
        type Event = ();

        fn handle(&mut self, now: SimTime, _: (), scheduler: &mut Scheduler<()>) {
            self.handled.push(now);
            if now == 0 {
                for at in [99, 100, 101] {
                    scheduler.schedule_at(at, ());
                }
            }
        }
    }

    #[test]
    fn events_from_the_end_on_are_neither_kept_nor_handled() {
        let mut scheduler = Scheduler::new(100);
        scheduler.schedule_at(0, ());
        scheduler.schedule_in(100, ());
        assert_eq!(scheduler.pending(), 1);
        let mut probe = Probe {
            handled: Vec::new(),
        };
        scheduler.run(&mut probe);
        assert_eq!(probe.handled, [0, 99]);
        assert_eq!(scheduler.handled(), 2);
        assert_eq!(scheduler.now(), 100);
    }
}
