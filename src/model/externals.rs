//! External APIs (NHTSA, EPA, YouTube Data API, embeddings...): each call
//! takes `latency`; with `cache_ttl` the app keeps responses per key and a
//! hit makes no call; with a `quota` of units per period (reset at each
//! period boundary, as YouTube's daily quota is) a call that would exceed
//! it fails at once until the reset.

use super::app_cache::TtlCache;
use crate::scenario::{DurationSampler, External};
use crate::sim::{RngStream, SimDuration, SimTime};

/// What one call does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallResult {
    /// Answered from the app's cache.
    Cached,
    /// Refused: the quota is used up until its period ends.
    QuotaExhausted,
    /// Sent; the answer comes back after this long.
    Sent(SimDuration),
}

/// A quota of `units` per `period`.
#[derive(Clone, Debug)]
struct Quota {
    units: f64,
    period: SimDuration,
    window: u64,
    used: f64,
    /// When the current window's quota ran out, if it did.
    exhausted_at: Option<SimTime>,
}

/// What one API saw, from warm-up.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ApiCounts {
    /// Calls sent.
    pub calls: u64,
    /// Cache hits.
    pub cache_hits: u64,
    /// Calls refused by the quota.
    pub quota_failures: u64,
    /// Quota units used.
    pub units: u64,
    /// Time the quota was used up, seconds.
    pub exhausted_secs: f64,
}

/// One external API.
#[derive(Clone, Debug)]
pub struct Api {
    latency: DurationSampler,
    cache: Option<TtlCache>,
    quota: Option<Quota>,
    from: SimTime,
    /// What it saw.
    pub counts: ApiCounts,
}

impl Api {
    /// The API of `config`, counting from `from`.
    pub fn new(config: &External, from: SimTime) -> Self {
        Self {
            latency: config.latency.sampler(),
            cache: config
                .cache_ttl
                .map(|ttl| TtlCache::new(ttl.nanos(), config.keys, config.popularity)),
            quota: config.quota.map(|rate| Quota {
                units: rate.count,
                period: rate.per.nanos().max(1),
                window: 0,
                used: 0.0,
                exhausted_at: None,
            }),
            from,
            counts: ApiCounts::default(),
        }
    }

    /// A call costing `units` at `now`.
    pub fn call(
        &mut self,
        now: SimTime,
        units: u32,
        keys: &mut RngStream,
        times: &mut RngStream,
    ) -> CallResult {
        let counted = now >= self.from;
        if let Some(cache) = &mut self.cache {
            let key = cache.key(keys);
            if cache.get(key, now) {
                self.counts.cache_hits += u64::from(counted);
                return CallResult::Cached;
            }
            // The response is stored when it is asked for: good enough for
            // TTLs far longer than the call.
            cache.set(key, now);
        }
        if let Some(quota) = &mut self.quota {
            let window = now / quota.period;
            if window != quota.window {
                self.counts.exhausted_secs +=
                    exhausted_secs(quota, self.from, (quota.window + 1) * quota.period);
                quota.window = window;
                quota.used = 0.0;
                quota.exhausted_at = None;
            }
            if quota.used + f64::from(units) > quota.units {
                quota.exhausted_at.get_or_insert(now);
                self.counts.quota_failures += u64::from(counted);
                return CallResult::QuotaExhausted;
            }
            quota.used += f64::from(units);
        }
        if counted {
            self.counts.calls += 1;
            self.counts.units += u64::from(units);
        }
        CallResult::Sent(self.latency.sample(times))
    }

    /// Closes the run at `end`: the current window's exhausted time counts.
    pub fn finish(&mut self, end: SimTime) -> ApiCounts {
        if let Some(quota) = &self.quota {
            let window_end = ((quota.window + 1) * quota.period).min(end);
            self.counts.exhausted_secs += exhausted_secs(quota, self.from, window_end);
        }
        self.counts
    }
}

/// Seconds from the quota's exhaustion (or `from`) to `until`.
fn exhausted_secs(quota: &Quota, from: SimTime, until: SimTime) -> f64 {
    quota.exhausted_at.map_or(0.0, |at| {
        until.saturating_sub(at.max(from)) as f64 / crate::sim::NANOS_PER_SEC as f64
    })
}
