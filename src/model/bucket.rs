//! A token bucket: `capacity` tokens, refilled continuously at `per_sec`,
//! full at the start. Vercel's burst scaling limit and the AI provider's
//! per-minute limits are both buckets.

use crate::scenario::Rate;
use crate::sim::{NANOS_PER_SEC, SimDuration, SimTime};

/// A token bucket.
#[derive(Clone, Debug)]
pub struct TokenBucket {
    capacity: f64,
    per_sec: f64,
    tokens: f64,
    updated: SimTime,
}

impl TokenBucket {
    /// A full bucket of `rate.count` tokens refilled at `rate` per second.
    pub fn new(rate: Rate) -> Self {
        Self {
            capacity: rate.count,
            per_sec: rate.per_sec(),
            tokens: rate.count,
            updated: 0,
        }
    }

    fn refill(&mut self, now: SimTime) {
        let elapsed = now.saturating_sub(self.updated) as f64 / NANOS_PER_SEC as f64;
        self.tokens = (self.tokens + elapsed * self.per_sec).min(self.capacity);
        self.updated = self.updated.max(now);
    }

    /// Whether `amount` tokens are there at `now`; refills first.
    pub fn has(&mut self, now: SimTime, amount: f64) -> bool {
        self.refill(now);
        self.tokens >= amount
    }

    /// Takes `amount` tokens (after [`TokenBucket::has`] said yes).
    pub fn take(&mut self, amount: f64) {
        self.tokens -= amount;
    }

    /// Takes one token at `now` if there is one.
    pub fn try_take(&mut self, now: SimTime) -> bool {
        let there = self.has(now, 1.0);
        if there {
            self.take(1.0);
        }
        there
    }

    /// How long from the last refill until `amount` tokens are there (at
    /// most a full refill when `amount` exceeds the capacity).
    pub fn wait_for(&self, amount: f64) -> SimDuration {
        let missing = (amount.min(self.capacity) - self.tokens).max(0.0);
        ((missing / self.per_sec) * NANOS_PER_SEC as f64).ceil() as SimDuration
    }

    /// When one token will be there.
    pub fn next_token_at(&self) -> SimTime {
        self.updated + self.wait_for(1.0)
    }
}
