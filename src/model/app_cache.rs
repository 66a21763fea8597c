//! The app cache: Redis in front of a route's queries (`app_cache`). The
//! handler asks Redis for the route's key (a GET, one round trip); a hit
//! skips the queries, a miss runs them and stores the result for `ttl` (a
//! SET with expiry, another round trip). There is no request collapsing:
//! misses that overlap all run the queries.

use super::keys::Keys;
use crate::scenario::Route;
use crate::sim::{RngStream, SimDuration, SimTime};

#[derive(Clone, Debug)]
struct RouteCache {
    ttl: SimDuration,
    expires_at: Vec<SimTime>,
    keys: Keys,
}

/// The app cache of every route.
#[derive(Clone, Debug)]
pub struct AppCache {
    routes: Vec<Option<RouteCache>>,
}

impl AppCache {
    /// Empty caches for `routes`.
    pub fn new(routes: &[Route]) -> Self {
        let routes = routes
            .iter()
            .map(|route| {
                route.app_cache.as_ref().map(|cache| RouteCache {
                    ttl: cache.value.ttl.nanos(),
                    expires_at: vec![0; cache.value.keys as usize],
                    keys: Keys::new(cache.value.keys, cache.value.popularity),
                })
            })
            .collect();
        Self { routes }
    }

    /// The key a request to `route` (a route with an app cache) asks for.
    pub fn key(&self, route: usize, rng: &mut RngStream) -> u32 {
        self.cache(route).keys.sample(rng)
    }

    /// Whether `key` of `route` holds a result at `now`.
    pub fn get(&self, route: usize, key: u32, now: SimTime) -> bool {
        now < self.cache(route).expires_at[key as usize]
    }

    /// Stores a result for `key` of `route` at `now`.
    pub fn set(&mut self, route: usize, key: u32, now: SimTime) {
        let cache = self.routes[route]
            .as_mut()
            .expect("a route with an app cache");
        cache.expires_at[key as usize] = now.saturating_add(cache.ttl);
    }

    fn cache(&self, route: usize) -> &RouteCache {
        self.routes[route]
            .as_ref()
            .expect("a route with an app cache")
    }
}
