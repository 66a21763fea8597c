//! The AI provider and the app's protections around it.
//!
//! Provider ([`Provider`]): a call is refused with 429 and a retry-after
//! when a per-minute limit (requests, input tokens, output tokens; token
//! buckets refilled continuously, FACTS.md §7) has not enough left, is
//! answered 529 inside an outage window or with probability `error_rate`,
//! and otherwise answers after the time to first token plus the output
//! tokens at `output_tokens_per_second`, during which the function instance
//! waits (I/O, not CPU).
//!
//! SDK retries: a 429 or 529 is retried up to `retries.max` times, after the
//! retry-after for a 429, else `min(base x 2^n, cap) x (1 - U[0, 0.25])`, as
//! Anthropic's TypeScript SDK does.
//!
//! Circuit breaker ([`Breaker`]) around the SDK call: closed until
//! `failure_threshold` consecutive failures, then open (calls fail fast)
//! for `reset_timeout`, then half-open: one probe call passes, the others
//! fail fast; the probe's success closes it, its failure opens it again.

use rand::RngExt;

use super::bucket::TokenBucket;
use crate::scenario::{Ai as AiConfig, CircuitBreaker, DurationSampler};
use crate::sim::{RngStream, SimDuration, SimTime, duration_from_secs};

/// A circuit breaker's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls pass.
    Closed,
    /// Calls fail fast until the reset timeout has passed.
    Open,
    /// One probe call is in flight; others fail fast.
    HalfOpen,
}

/// Whether a call may go to the provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permit {
    /// It may; `probe` when it is the half-open probe.
    Call {
        /// Whether this call decides the half-open state.
        probe: bool,
    },
    /// The breaker is open (or a probe is in flight): fail fast.
    FastFail,
}

/// A circuit breaker.
#[derive(Clone, Debug)]
pub struct Breaker {
    threshold: u32,
    reset: SimDuration,
    state: BreakerState,
    failures: u32,
    open_until: SimTime,
}

impl Breaker {
    /// A closed breaker of `config`.
    pub fn new(config: &CircuitBreaker) -> Self {
        Self {
            threshold: config.failure_threshold.max(1),
            reset: config.reset_timeout.nanos(),
            state: BreakerState::Closed,
            failures: 0,
            open_until: 0,
        }
    }

    /// The state at `now`, as the next call would see it.
    pub fn state(&self, now: SimTime) -> BreakerState {
        match self.state {
            BreakerState::Open if now >= self.open_until => BreakerState::HalfOpen,
            state => state,
        }
    }

    /// A call asks to pass at `now`.
    pub fn permit(&mut self, now: SimTime) -> Permit {
        match self.state {
            BreakerState::Closed => Permit::Call { probe: false },
            BreakerState::Open if now >= self.open_until => {
                self.state = BreakerState::HalfOpen;
                Permit::Call { probe: true }
            }
            BreakerState::Open | BreakerState::HalfOpen => Permit::FastFail,
        }
    }

    /// A call that passed succeeded.
    pub fn success(&mut self, probe: bool) {
        if probe || self.state == BreakerState::Closed {
            self.state = BreakerState::Closed;
            self.failures = 0;
        }
    }

    /// A call that passed failed at `now`; returns whether the breaker opened.
    pub fn failure(&mut self, now: SimTime, probe: bool) -> bool {
        let open = if probe {
            true
        } else if self.state == BreakerState::Closed {
            self.failures += 1;
            self.failures >= self.threshold
        } else {
            false
        };
        if open {
            self.state = BreakerState::Open;
            self.open_until = now.saturating_add(self.reset);
            self.failures = 0;
        }
        open
    }
}

/// How the provider answers one attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// The answer streams back over this time.
    Ok(SimDuration),
    /// 429 rate_limit_error, retry after this long.
    RateLimited(SimDuration),
    /// 529 overloaded_error.
    Overloaded,
}

/// The AI provider.
#[derive(Clone, Debug)]
pub struct Provider {
    time_to_first_token: DurationSampler,
    output_per_sec: f64,
    error_rate: f64,
    outages: Vec<(SimTime, SimTime)>,
    /// Requests, input tokens and output tokens per minute.
    limits: [Option<TokenBucket>; 3],
    max_retries: u32,
    base: SimDuration,
    cap: SimDuration,
}

impl Provider {
    /// The provider of `config`.
    pub fn new(config: &AiConfig) -> Self {
        let limits = &config.limits;
        Self {
            time_to_first_token: config.time_to_first_token.sampler(),
            output_per_sec: config.output_tokens_per_second,
            error_rate: config.error_rate.0,
            outages: config
                .outages
                .iter()
                .map(|o| {
                    let start = o.at.0.nanos();
                    (start, start.saturating_add(o.duration.nanos()))
                })
                .collect(),
            limits: [limits.requests, limits.input_tokens, limits.output_tokens]
                .map(|rate| rate.map(TokenBucket::new)),
            max_retries: config.retries.max,
            base: config.retries.base.nanos(),
            cap: config.retries.cap.nanos(),
        }
    }

    /// One attempt at `now` with `input` and `output` tokens.
    pub fn call(&mut self, now: SimTime, input: u32, output: u32, rng: &mut RngStream) -> Answer {
        if self
            .outages
            .iter()
            .any(|(start, end)| (*start..*end).contains(&now))
        {
            return Answer::Overloaded;
        }
        let needs = [1.0, f64::from(input), f64::from(output)];
        let mut retry_after = 0;
        for (bucket, need) in self.limits.iter_mut().zip(needs) {
            if let Some(bucket) = bucket
                && !bucket.has(now, need)
            {
                retry_after = retry_after.max(bucket.wait_for(need));
            }
        }
        if retry_after > 0 {
            return Answer::RateLimited(retry_after);
        }
        for (bucket, need) in self.limits.iter_mut().zip(needs) {
            if let Some(bucket) = bucket {
                bucket.take(need);
            }
        }
        if self.error_rate > 0.0 && rng.random::<f64>() < self.error_rate {
            return Answer::Overloaded;
        }
        let streaming = duration_from_secs(f64::from(output) / self.output_per_sec);
        Answer::Ok(self.time_to_first_token.sample(rng) + streaming)
    }

    /// The wait before retry `attempt` (1-based) after `answer`, or `None`
    /// when the SDK gives up.
    pub fn retry_after(
        &self,
        attempt: u32,
        answer: Answer,
        rng: &mut RngStream,
    ) -> Option<SimDuration> {
        if attempt > self.max_retries {
            return None;
        }
        match answer {
            Answer::Ok(_) => None,
            Answer::RateLimited(after) => Some(after),
            Answer::Overloaded => {
                let doubled = self.base.saturating_mul(1 << (attempt - 1).min(30));
                let jitter = 1.0 - 0.25 * rng.random::<f64>();
                Some((doubled.min(self.cap) as f64 * jitter) as SimDuration)
            }
        }
    }
}
