//! Vercel Image Optimization's cache of transformed images (`images`):
//! an image request finds its variant cached (a cache read) until the
//! variant's TTL, counted from when it was transformed, runs out; else it
//! is transformed and written to the cache (FACTS.md §4). Reads and writes
//! are billed in 8 KB units.

use serde::{Deserialize, Serialize};

use super::keys::Keys;
use crate::scenario::Images;
use crate::sim::{RngStream, SimDuration, SimTime};

/// Bytes of one billed cache read or write unit.
const UNIT_BYTES: u64 = 8 << 10;

/// What the page views' images cost the optimizer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageCounts {
    /// Images requested.
    pub requests: u64,
    /// Transformations (cache misses).
    pub transformations: u64,
    /// Cache reads, in 8 KB units.
    pub read_units: u64,
    /// Cache writes, in 8 KB units.
    pub write_units: u64,
}

/// The optimizer's cache.
#[derive(Clone, Debug)]
pub struct ImageCache {
    keys: Keys,
    ttl: SimDuration,
    units: u64,
    /// Per variant, when its cached copy expires (0: never cached).
    expires_at: Vec<SimTime>,
}

impl ImageCache {
    /// The cache of `config`.
    pub fn new(config: &Images) -> Self {
        Self {
            keys: Keys::new(config.variants, config.popularity),
            ttl: config.ttl.nanos(),
            units: config.size.0.div_ceil(UNIT_BYTES).max(1),
            expires_at: vec![0; config.variants as usize],
        }
    }

    /// Bytes of one transformed image.
    pub fn image_bytes(&self) -> u64 {
        self.units * UNIT_BYTES
    }

    /// A page view at `now` requests `count` images; adds what they cost
    /// to `counts`.
    pub fn request(
        &mut self,
        now: SimTime,
        count: u32,
        rng: &mut RngStream,
        counts: &mut ImageCounts,
    ) {
        for _ in 0..count {
            let key = self.keys.sample(rng) as usize;
            counts.requests += 1;
            if now < self.expires_at[key] {
                counts.read_units += self.units;
            } else {
                counts.transformations += 1;
                counts.write_units += self.units;
                self.expires_at[key] = now.saturating_add(self.ttl);
            }
        }
    }
}
