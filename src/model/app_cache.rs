//! The app cache: Redis in front of a route's queries (`app_cache`). The
//! handler asks Redis for the route's key (a GET, one round trip); a hit
//! skips the queries, a miss runs them and stores the result for `ttl` (a
//! SET with expiry, another round trip). There is no request collapsing:
//! misses that overlap all run the queries.

use super::keys::Keys;
use crate::scenario::{Popularity, Route};
use crate::sim::{RngStream, SimDuration, SimTime};

/// Results kept for `ttl` from when they were stored, per key.
#[derive(Clone, Debug)]
pub struct TtlCache {
    ttl: SimDuration,
    expires_at: Vec<SimTime>,
    keys: Keys,
}

impl TtlCache {
    /// An empty cache of `keys` keys under `popularity`.
    pub fn new(ttl: SimDuration, keys: u32, popularity: Option<Popularity>) -> Self {
        Self {
            ttl,
            expires_at: vec![0; keys as usize],
            keys: Keys::new(keys, popularity),
        }
    }

    /// The key of the next lookup.
    pub fn key(&self, rng: &mut RngStream) -> u32 {
        self.keys.sample(rng)
    }

    /// Whether `key` holds a result at `now`.
    pub fn get(&self, key: u32, now: SimTime) -> bool {
        now < self.expires_at[key as usize]
    }

    /// Stores a result for `key` at `now`.
    pub fn set(&mut self, key: u32, now: SimTime) {
        self.expires_at[key as usize] = now.saturating_add(self.ttl);
    }
}

/// The app cache of every route.
#[derive(Clone, Debug)]
pub struct AppCache {
    routes: Vec<Option<TtlCache>>,
}

impl AppCache {
    /// Empty caches for `routes`.
    pub fn new(routes: &[Route]) -> Self {
        let routes = routes
            .iter()
            .map(|route| {
                route
                    .app_cache
                    .map(|cache| TtlCache::new(cache.ttl.nanos(), cache.keys, cache.popularity))
            })
            .collect();
        Self { routes }
    }

    /// The cache of `route`, a route with an app cache.
    pub fn route(&mut self, route: usize) -> &mut TtlCache {
        self.routes[route]
            .as_mut()
            .expect("a route with an app cache")
    }
}
