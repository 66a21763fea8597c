//! A resource: interchangeable servers taken first come, first served
//! (database CPUs, PostgREST's connections, a pooler's server connections,
//! the app's AI slots). A request that finds them all busy waits in the
//! resource's queue; a release hands the server straight to the head of the
//! queue, so no server idles while someone waits.

use std::collections::VecDeque;

use crate::sim::SimTime;
use crate::stats::{Gauge, LatencyHistogram};

/// A request waiting in the queue, and since when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Waiter {
    /// The request.
    pub request: u32,
    /// When it joined the queue.
    pub since: SimTime,
}

/// `capacity` servers and their queue.
#[derive(Clone, Debug)]
pub struct Resource {
    from: SimTime,
    capacity: u32,
    queue: VecDeque<Waiter>,
    /// Servers busy over time.
    pub busy: Gauge,
    /// Requests waiting over time.
    pub waiting: Gauge,
    /// Waits of the requests served (zero for those served at once), from `from`.
    pub wait: LatencyHistogram,
}

impl Resource {
    /// `capacity` servers, with statistics from `from` over `minutes` minutes.
    pub fn new(capacity: u32, from: SimTime, minutes: usize) -> Self {
        Self {
            from,
            capacity,
            queue: VecDeque::new(),
            busy: Gauge::new(from, minutes),
            waiting: Gauge::new(from, minutes),
            wait: LatencyHistogram::new(3),
        }
    }

    /// How many servers there are.
    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    /// Servers not busy.
    pub fn idle(&self) -> u32 {
        self.capacity - self.busy.value() as u32
    }

    /// Takes a server at `now` if one is idle and nobody waits for it.
    pub fn try_take(&mut self, now: SimTime) -> bool {
        if self.idle() == 0 || !self.queue.is_empty() {
            return false;
        }
        self.busy.add(now, 1);
        self.record_wait(now, now);
        true
    }

    /// Takes a server for `request` at `now`, or puts it in the queue;
    /// whether it got one.
    pub fn take_or_wait(&mut self, now: SimTime, request: u32) -> bool {
        let taken = self.try_take(now);
        if !taken {
            self.enqueue(now, request);
        }
        taken
    }

    /// `request` joins the queue at `now`.
    pub fn enqueue(&mut self, now: SimTime, request: u32) {
        self.queue.push_back(Waiter {
            request,
            since: now,
        });
        self.waiting.add(now, 1);
    }

    /// The head of the queue, if any.
    pub fn head(&self) -> Option<Waiter> {
        self.queue.front().copied()
    }

    /// A server is released at `now`: the head of the queue takes it, or it
    /// goes idle. Returns the waiter served.
    pub fn release(&mut self, now: SimTime) -> Option<Waiter> {
        match self.serve_head(now) {
            Some(waiter) => Some(waiter),
            None => {
                self.busy.add(now, -1);
                None
            }
        }
    }

    /// One more server from `now`; the head of the queue takes it if any.
    pub fn grow(&mut self, now: SimTime) -> Option<Waiter> {
        self.capacity += 1;
        let waiter = self.serve_head(now)?;
        self.busy.add(now, 1);
        Some(waiter)
    }

    /// One idle server fewer (the caller checked one is idle).
    pub fn shrink(&mut self) {
        debug_assert!(self.idle() > 0);
        self.capacity -= 1;
    }

    /// Takes `request` out of the queue at `now`; whether it was there.
    pub fn cancel(&mut self, now: SimTime, request: u32) -> bool {
        let Some(position) = self.queue.iter().position(|w| w.request == request) else {
            return false;
        };
        self.queue.remove(position);
        self.waiting.add(now, -1);
        true
    }

    fn serve_head(&mut self, now: SimTime) -> Option<Waiter> {
        let waiter = self.queue.pop_front()?;
        self.waiting.add(now, -1);
        self.record_wait(waiter.since, now);
        Some(waiter)
    }

    fn record_wait(&mut self, since: SimTime, now: SimTime) {
        if since >= self.from {
            self.wait.record(now - since);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_release_serves_the_queue_in_order() {
        let mut servers = Resource::new(1, 0, 1);
        assert!(servers.try_take(0));
        servers.enqueue(1, 7);
        servers.enqueue(2, 8);
        assert!(!servers.try_take(3), "someone is waiting");
        assert_eq!(servers.release(4).map(|w| w.request), Some(7));
        assert!(servers.cancel(5, 8));
        assert_eq!(servers.release(6), None);
        assert_eq!(servers.idle(), 1);
        assert_eq!(servers.wait.count(), 2);
    }

    #[test]
    fn growing_serves_the_head() {
        let mut servers = Resource::new(0, 0, 1);
        servers.enqueue(0, 3);
        assert_eq!(servers.grow(10).map(|w| w.request), Some(3));
        assert_eq!(servers.idle(), 0);
        assert_eq!(servers.grow(11), None);
        assert_eq!(servers.idle(), 1);
        servers.shrink();
        assert_eq!(servers.capacity(), 1);
    }
}
