//! The app cache stages: before the queries, a Redis get of the route's key
//! (a hit skips the queries); after them, on a miss, a Redis set.

use super::{StageModel, Step};
use crate::model::{Event, Stack};
use crate::sim::{Scheduler, SimTime};

/// What the get found, which the database and set stages read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppCacheLookup {
    /// The key asked for.
    pub key: u32,
    /// Whether it was fresh in the cache.
    pub hit: bool,
}

/// The get stage.
pub struct AppCacheGetStage;

impl StageModel for AppCacheGetStage {
    fn enter(stack: &mut Stack, now: SimTime, id: u32, _: &mut Scheduler<Event>) -> Step {
        let request = stack.requests.get(id);
        let (route, arrival) = (request.route as usize, request.arrival);
        let cache = stack.app_cache.route(route);
        let key = cache.key(&mut stack.streams.app_cache_keys);
        let hit = cache.get(key, now);
        stack.metrics.app_cache((arrival, now), route, hit);
        stack.requests.get_mut(id).app_cache = Some(AppCacheLookup { key, hit });
        stack.redis_step()
    }
}

/// The set stage.
pub struct AppCacheSetStage;

impl StageModel for AppCacheSetStage {
    fn enter(stack: &mut Stack, now: SimTime, id: u32, _: &mut Scheduler<Event>) -> Step {
        let request = stack.requests.get(id);
        match request.app_cache {
            Some(AppCacheLookup { key, hit: false }) => {
                let route = request.route as usize;
                stack.app_cache.route(route).set(key, now);
                stack.redis_step()
            }
            // A hit has nothing new to store.
            _ => Step::Next,
        }
    }
}

/// Whether request `id` was answered by the app cache, which spares it the
/// database stage.
pub fn hit(stack: &Stack, id: u32) -> bool {
    stack
        .requests
        .get(id)
        .app_cache
        .is_some_and(|lookup| lookup.hit)
}
