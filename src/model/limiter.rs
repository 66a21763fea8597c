//! Rate limiters computed exactly as @upstash/ratelimit's Lua scripts do
//! (FACTS.md §6), on millisecond clocks, one state per identifier (a user
//! or an IP address), with the Redis commands each call costs.
//!
//! - Sliding window: reject when `floor((1 - elapsed/window) * previous) +
//!   current >= limit`, else count the request in the current window.
//! - Fixed window: count every call, allow while the count is at most `limit`.
//! - Token bucket: refill `refill_rate` tokens per whole `interval` elapsed,
//!   up to `limit`; reject when no token is left.
//!
//! Each function instance keeps the library's "ephemeral cache" of blocked
//! identifiers ([`BlockedIdentifiers`]): once the script rejects an
//! identifier, the instance answers its calls itself, with no Redis command
//! and no round trip, until the rejection's reset time.

use std::collections::HashMap;

use crate::scenario::{Algorithm, LimitKey, RateLimit};
use crate::sim::SimTime;

const NANOS_PER_MILLI: u64 = 1_000_000;

/// One limiter call's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request may go on.
    pub allowed: bool,
    /// Redis commands the call cost.
    pub commands: u32,
    /// When a rejection ends, as the script returns it (ms): the window's
    /// end, or the bucket's next refill.
    pub reset_ms: u64,
}

/// One instance's in-memory cache of the identifiers a limiter rejected,
/// as @upstash/ratelimit keeps it in module scope: `blockUntil(id, reset)`
/// after a rejection, and `isBlocked(id)` true while `reset` is not yet
/// past (FACTS.md §6).
#[derive(Clone, Debug, Default)]
pub struct BlockedIdentifiers {
    until_ms: HashMap<u32, u64>,
}

impl BlockedIdentifiers {
    /// Whether `id` is blocked at `now`; forgets an entry whose reset passed.
    pub fn blocks(&mut self, now: SimTime, id: u32) -> bool {
        let now_ms = now / NANOS_PER_MILLI;
        match self.until_ms.get(&id) {
            Some(&reset) if reset >= now_ms => true,
            Some(_) => {
                self.until_ms.remove(&id);
                false
            }
            None => false,
        }
    }

    /// Remembers that `decision` rejected `id`.
    pub fn remember(&mut self, id: u32, decision: Decision) {
        if !decision.allowed {
            self.until_ms.insert(id, decision.reset_ms);
        }
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct State {
    /// Window index, or the token bucket's last refill time (ms).
    at: u64,
    /// Count in that window, or tokens left.
    count: u32,
    /// Count in the window before (sliding window).
    previous: u32,
    /// Whether the identifier has been seen (a bucket starts full).
    seen: bool,
}

/// One named limiter.
#[derive(Clone, Debug)]
pub struct Limiter {
    algorithm: Algorithm,
    limit: u32,
    window_ms: u64,
    refill_rate: u32,
    /// What it counts by.
    pub key: LimitKey,
    /// Whether instances keep the cache of blocked identifiers.
    pub ephemeral_cache: bool,
    states: Vec<State>,
}

impl Limiter {
    /// The limiter of `config` (validated: the algorithm's keys are present).
    pub fn new(config: &RateLimit) -> Self {
        let period = match config.algorithm {
            Algorithm::TokenBucket => config.interval,
            Algorithm::SlidingWindow | Algorithm::FixedWindow => config.window,
        };
        Self {
            algorithm: config.algorithm,
            limit: config.limit.unwrap_or(0),
            window_ms: period.map_or(1, |p| (p.nanos() / NANOS_PER_MILLI).max(1)),
            refill_rate: config.refill_rate.unwrap_or(0),
            key: config.key,
            ephemeral_cache: config.ephemeral_cache,
            states: Vec::new(),
        }
    }

    /// Identifier `id` calls the limiter at `now`.
    pub fn check(&mut self, now: SimTime, id: u32) -> Decision {
        let index = id as usize;
        if index >= self.states.len() {
            self.states.resize(index + 1, State::default());
        }
        let now_ms = now / NANOS_PER_MILLI;
        let (limit, window, refill) = (self.limit, self.window_ms, self.refill_rate);
        let state = &mut self.states[index];
        match self.algorithm {
            Algorithm::SlidingWindow => sliding_window(state, now_ms, limit, window),
            Algorithm::FixedWindow => fixed_window(state, now_ms, limit, window),
            Algorithm::TokenBucket => token_bucket(state, now_ms, limit, window, refill),
        }
    }
}

/// Moves a window state to window `current`.
fn roll(state: &mut State, current: u64) {
    if !state.seen || state.at != current {
        state.previous = if state.seen && state.at + 1 == current {
            state.count
        } else {
            0
        };
        state.count = 0;
        state.at = current;
        state.seen = true;
    }
}

fn sliding_window(state: &mut State, now_ms: u64, limit: u32, window: u64) -> Decision {
    let current = now_ms / window;
    roll(state, current);
    let reset_ms = (current + 1) * window;
    let in_current = (now_ms % window) as f64 / window as f64;
    let weighted_previous = ((1.0 - in_current) * f64::from(state.previous)).floor() as u64;
    if weighted_previous + u64::from(state.count) >= u64::from(limit) {
        // EVAL, GET, GET.
        return Decision {
            allowed: false,
            commands: 3,
            reset_ms,
        };
    }
    state.count += 1;
    // EVAL, GET, GET, INCRBY, and PEXPIRE when the key is new.
    Decision {
        allowed: true,
        commands: if state.count == 1 { 5 } else { 4 },
        reset_ms,
    }
}

fn fixed_window(state: &mut State, now_ms: u64, limit: u32, window: u64) -> Decision {
    let current = now_ms / window;
    roll(state, current);
    state.count += 1;
    // EVAL, INCRBY, and PEXPIRE when the key is new.
    Decision {
        allowed: state.count <= limit,
        commands: if state.count == 1 { 3 } else { 2 },
        reset_ms: (current + 1) * window,
    }
}

fn token_bucket(
    state: &mut State,
    now_ms: u64,
    capacity: u32,
    interval: u64,
    refill: u32,
) -> Decision {
    if !state.seen {
        *state = State {
            at: now_ms,
            count: capacity,
            previous: 0,
            seen: true,
        };
    } else if now_ms >= state.at + interval {
        let refills = (now_ms - state.at) / interval;
        let tokens = u64::from(state.count) + refills * u64::from(refill);
        state.count = tokens.min(u64::from(capacity)) as u32;
        state.at += refills * interval;
    }
    if state.count == 0 {
        // EVAL, HMGET.
        return Decision {
            allowed: false,
            commands: 2,
            reset_ms: state.at + interval,
        };
    }
    state.count -= 1;
    // EVAL, HMGET, HSET, PEXPIRE.
    Decision {
        allowed: true,
        commands: 4,
        reset_ms: state.at + interval,
    }
}
