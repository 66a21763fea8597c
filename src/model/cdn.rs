//! The CDN cache in front of the functions, for routes with `cache`
//! (`s-maxage` and `stale-while-revalidate`, FACTS.md §4-5), in one region.
//!
//! Per cache key: a response is fresh for `s_maxage` from when the origin
//! answered, then servable stale for `stale_while_revalidate`. A fresh hit
//! is answered at the edge. A stale hit is answered at the edge too and, if
//! no origin call for the key is in flight, starts one in the background
//! (the user does not wait for it). Past the stale window the request is a
//! blocking miss: it becomes the origin call, and misses that arrive while
//! an origin call for the key is in flight wait for it and share its answer
//! (request collapsing). Only a successful origin call refreshes the entry.

use super::keys::Keys;
use crate::scenario::{Cache, Route};
use crate::sim::{RngStream, SimDuration, SimTime};

/// What the CDN does with a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// Answered fresh from the edge.
    Fresh,
    /// Answered stale from the edge; `revalidate` when it starts the
    /// background origin call.
    Stale {
        /// Whether this request starts a revalidation.
        revalidate: bool,
    },
    /// A blocking miss; `leader` when it is the origin call, else it waits
    /// for the one in flight.
    Miss {
        /// Whether this request makes the origin call.
        leader: bool,
    },
}

#[derive(Clone, Debug, Default)]
struct Entry {
    fresh_until: SimTime,
    stale_until: SimTime,
    in_flight: bool,
    waiters: Vec<u32>,
}

#[derive(Clone, Debug)]
struct RouteCache {
    s_maxage: SimDuration,
    stale_while_revalidate: SimDuration,
    entries: Vec<Entry>,
    keys: Keys,
}

/// The CDN cache of every route.
#[derive(Clone, Debug)]
pub struct Cdn {
    routes: Vec<Option<RouteCache>>,
}

impl Cdn {
    /// Caches for `routes`, empty.
    pub fn new(routes: &[Route]) -> Self {
        let routes = routes
            .iter()
            .map(|route| match route.cache {
                Some(Cache::Shared(shared)) => Some(RouteCache {
                    s_maxage: shared.s_maxage.nanos(),
                    stale_while_revalidate: shared.stale_while_revalidate.nanos(),
                    entries: vec![Entry::default(); shared.keys as usize],
                    keys: Keys::new(shared.keys, shared.popularity),
                }),
                _ => None,
            })
            .collect();
        Self { routes }
    }

    /// Whether `route` is cached at the edge.
    pub fn caches(&self, route: usize) -> bool {
        self.routes[route].is_some()
    }

    /// The cache key of a request to `route` (a cached route).
    pub fn key(&self, route: usize, rng: &mut RngStream) -> u32 {
        let cache = self.routes[route].as_ref().expect("a cached route");
        cache.keys.sample(rng)
    }

    /// `request` asks for `key` of `route` at `now`.
    pub fn lookup(&mut self, route: usize, key: u32, now: SimTime, request: u32) -> Lookup {
        let cache = self.routes[route].as_mut().expect("a cached route");
        let entry = &mut cache.entries[key as usize];
        if now < entry.fresh_until {
            return Lookup::Fresh;
        }
        let leader = !entry.in_flight;
        if now < entry.stale_until {
            entry.in_flight = true;
            return Lookup::Stale { revalidate: leader };
        }
        if leader {
            entry.in_flight = true;
        } else {
            entry.waiters.push(request);
        }
        Lookup::Miss { leader }
    }

    /// The origin call for `key` of `route` ended at `now`; a successful
    /// one refreshes the entry. Returns the requests that waited for it.
    pub fn complete(&mut self, route: usize, key: u32, now: SimTime, ok: bool) -> Vec<u32> {
        let cache = self.routes[route].as_mut().expect("a cached route");
        let entry = &mut cache.entries[key as usize];
        entry.in_flight = false;
        if ok {
            entry.fresh_until = now.saturating_add(cache.s_maxage);
            entry.stale_until = entry
                .fresh_until
                .saturating_add(cache.stale_while_revalidate);
        }
        std::mem::take(&mut entry.waiters)
    }
}
