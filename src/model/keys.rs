//! Which cache key a request asks for: one of `count` keys, uniformly or
//! by a Zipf law (key k in proportion to 1/k^s). Shared by the CDN and the
//! app cache.

use rand::RngExt;
use rand_distr::{Distribution, Zipf};

use crate::scenario::Popularity;
use crate::sim::RngStream;

/// A popularity law over `count` keys.
#[derive(Clone, Debug)]
pub struct Keys {
    count: u32,
    zipf: Option<Zipf<f64>>,
}

impl Keys {
    /// `count` keys under `popularity`; a Zipf law only where it is not
    /// uniform (an exponent above 0 over 2 or more keys).
    pub fn new(count: u32, popularity: Option<Popularity>) -> Self {
        let zipf = popularity.filter(|p| p.zipf > 0.0 && count > 1).map(|p| {
            Zipf::new(f64::from(count), p.zipf).expect("2 or more keys, an exponent above 0")
        });
        Self { count, zipf }
    }

    /// The key of the next request, in `0..count`.
    pub fn sample(&self, rng: &mut RngStream) -> u32 {
        match &self.zipf {
            Some(zipf) => (zipf.sample(rng) as u32).clamp(1, self.count) - 1,
            None if self.count > 1 => rng.random_range(0..self.count),
            None => 0,
        }
    }
}
