//! The AI provider and the app's protections around it.
//!
//! Provider ([`Provider`]): a call is answered 529 inside an outage window;
//! past the month's spend cap, 429 without retry-after (the tier's cap,
//! until 00:00 UTC on the 1st) or 400 (a limit the organisation set); 429
//! with a retry-after when a per-minute limit (requests, input tokens,
//! output tokens; token buckets refilled continuously, FACTS.md §7) has not
//! enough left; 529 with probability `error_rate`; and otherwise streams
//! its answer: the first token after the time to first token, the rest at
//! `output_tokens_per_second`, while the function instance waits (I/O, not
//! CPU).
//!
//! Prompt caching: a prompt's cached prefix is read when an entry for its
//! key is live (written by an earlier call whose answer has begun, used
//! within its lifetime), else written; a read refreshes the lifetime from
//! the reading call's start. Cache reads do not count toward the input
//! token limit, writes do (FACTS.md §7). A prefix shorter than the model's
//! minimum is not cached. The call's cost counts toward the month's spend
//! when the call is accepted.
//!
//! SDK retries: a 429 or 529 is retried up to `retries.max` times, after the
//! retry-after for a 429, else `min(base x 2^n, cap) x (1 - U[0, 0.25])`, as
//! Anthropic's TypeScript SDK does.
//!
//! Circuit breaker ([`Breaker`]) around the SDK call: closed until
//! `failure_threshold` consecutive failures, then open (calls fail fast)
//! for `reset_timeout`, then half-open: one probe call passes, the others
//! fail fast; the probe's success closes it, its failure opens it again.

use std::collections::HashMap;

use rand::RngExt;

use super::bucket::TokenBucket;
use crate::scenario::{
    Ai as AiConfig, AiPrices, AiTokens, CircuitBreaker, DurationSampler, SpendCap,
};
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

/// One call's prompt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prompt {
    /// Input tokens, the cached prefix included.
    pub input: u32,
    /// Output tokens.
    pub output: u32,
    /// Its cached prefix, if any.
    pub prefix: Option<Prefix>,
}

/// A prompt's cached prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prefix {
    /// Tokens.
    pub tokens: u32,
    /// Whose it is: calls with the same key share it.
    pub key: u64,
    /// Its lifetime after each use.
    pub ttl: SimDuration,
    /// Whether that lifetime is the 1-hour one (priced apart).
    pub one_hour: bool,
}

/// What one answered call is billed for, tokens.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TokenUsage {
    /// Uncached input.
    pub input: u32,
    /// Input written to the cache, 5-minute lifetime.
    pub cache_write_5m: u32,
    /// Input written to the cache, 1-hour lifetime.
    pub cache_write_1h: u32,
    /// Input read from the cache.
    pub cache_read: u32,
    /// Output.
    pub output: u32,
}

impl TokenUsage {
    /// As the prices read them.
    pub fn tokens(&self) -> AiTokens {
        AiTokens {
            input: f64::from(self.input),
            cache_write_5m: f64::from(self.cache_write_5m),
            cache_write_1h: f64::from(self.cache_write_1h),
            cache_read: f64::from(self.cache_read),
            output: f64::from(self.output),
        }
    }
}

/// How the provider answers one attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// The answer streams back: its first token after `first_token`, the
    /// rest over `stream`.
    Ok {
        /// Time to the first token.
        first_token: SimDuration,
        /// Time from the first token to the last.
        stream: SimDuration,
        /// What the call is billed for.
        usage: TokenUsage,
    },
    /// 429 rate_limit_error, retry after this long.
    RateLimited(SimDuration),
    /// 429 past the tier's monthly spend cap, with no retry-after.
    SpendCapped,
    /// 400 past a spend limit the organisation set: not retried.
    SpendLimited,
    /// 529 overloaded_error.
    Overloaded,
}

/// The month's spend against a cap.
#[derive(Clone, Debug)]
struct Spend {
    cap: SpendCap,
    prices: AiPrices,
    /// USD spent this calendar month.
    spent: f64,
    /// When each later month begins, and how many have begun.
    month_starts: Vec<SimTime>,
    months_begun: usize,
    /// When the cap was first reached.
    reached_at: Option<SimTime>,
}

impl Spend {
    /// Whether the cap stops calls at `now` (a new month starts afresh).
    fn exhausted(&mut self, now: SimTime) -> bool {
        while let Some(&start) = self.month_starts.get(self.months_begun)
            && now >= start
        {
            self.months_begun += 1;
            self.spent = 0.0;
        }
        if self.spent >= self.cap.usd {
            self.reached_at.get_or_insert(now);
            return true;
        }
        false
    }
}

/// Cached prompt prefixes by key: (usable from, expires at).
#[derive(Clone, Debug, Default)]
struct PromptCaches {
    entries: HashMap<u64, (SimTime, SimTime)>,
    /// Entries after the last sweep of expired ones.
    swept_to: usize,
}

impl PromptCaches {
    /// Whether a call at `now` reads `key`'s prefix (else it writes it).
    fn live(&self, now: SimTime, key: u64) -> bool {
        self.entries
            .get(&key)
            .is_some_and(|&(usable, expires)| usable <= now && now < expires)
    }

    /// A call accepted at `now` read (`hit`) or wrote `prefix`; a written
    /// entry is usable once the answer begins, at `first_token_at`.
    fn record(&mut self, now: SimTime, prefix: &Prefix, hit: bool, first_token_at: SimTime) {
        let expires_at = now.saturating_add(prefix.ttl);
        let entry = self.entries.entry(prefix.key).or_insert((SimTime::MAX, 0));
        if !hit && entry.1 <= now {
            // Expired or new: this call writes it afresh.
            entry.0 = first_token_at;
        } else if !hit {
            // Being written by a call whose answer has not begun: this one
            // writes too, and the entry is usable from the earlier answer.
            entry.0 = entry.0.min(first_token_at);
        }
        entry.1 = entry.1.max(expires_at);
        if self.entries.len() > 2 * self.swept_to + 1_024 {
            self.entries.retain(|_, entry| entry.1 > now);
            self.swept_to = self.entries.len();
        }
    }
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
    spend: Option<Spend>,
    caches: PromptCaches,
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
            spend: config
                .spend_cap
                .zip(config.prices)
                .map(|(cap, prices)| Spend {
                    cap,
                    prices,
                    spent: config.spent_before_start,
                    month_starts: config.month_starts.clone(),
                    months_begun: 0,
                    reached_at: None,
                }),
            caches: PromptCaches::default(),
        }
    }

    /// When the monthly spend cap was first reached, if it was.
    pub fn spend_cap_reached_at(&self) -> Option<SimTime> {
        self.spend.as_ref().and_then(|s| s.reached_at)
    }

    /// One attempt at `now` with `prompt`.
    pub fn call(&mut self, now: SimTime, prompt: Prompt, rng: &mut RngStream) -> Answer {
        if self
            .outages
            .iter()
            .any(|(start, end)| (*start..*end).contains(&now))
        {
            return Answer::Overloaded;
        }
        if let Some(spend) = &mut self.spend
            && spend.exhausted(now)
        {
            return if spend.cap.own {
                Answer::SpendLimited
            } else {
                Answer::SpendCapped
            };
        }
        let hit = prompt
            .prefix
            .is_some_and(|prefix| self.caches.live(now, prefix.key));
        // Cache reads do not count toward the input token limit.
        let read = if hit {
            prompt.prefix.map_or(0, |p| p.tokens)
        } else {
            0
        };
        let input = prompt.input - read;
        let output = prompt.output;
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
        let first_token = self.time_to_first_token.sample(rng);
        let mut usage = TokenUsage {
            input,
            output,
            cache_read: read,
            ..TokenUsage::default()
        };
        if let Some(prefix) = &prompt.prefix {
            self.caches
                .record(now, prefix, hit, now.saturating_add(first_token));
            if !hit {
                usage.input -= prefix.tokens;
                if prefix.one_hour {
                    usage.cache_write_1h = prefix.tokens;
                } else {
                    usage.cache_write_5m = prefix.tokens;
                }
            }
        }
        if let Some(spend) = &mut self.spend {
            spend.spent += spend.prices.usd(&usage.tokens());
            if spend.spent >= spend.cap.usd {
                spend.reached_at.get_or_insert(now);
            }
        }
        Answer::Ok {
            first_token,
            stream: duration_from_secs(f64::from(output) / self.output_per_sec),
            usage,
        }
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
            Answer::Ok { .. } | Answer::SpendLimited => None,
            Answer::RateLimited(after) => Some(after),
            // No retry-after: the SDK backs off as after a 529.
            Answer::SpendCapped | Answer::Overloaded => {
                let doubled = self.base.saturating_mul(1 << (attempt - 1).min(30));
                let jitter = 1.0 - 0.25 * rng.random::<f64>();
                Some((doubled.min(self.cap) as f64 * jitter) as SimDuration)
            }
        }
    }
}
