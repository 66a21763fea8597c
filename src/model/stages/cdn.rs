//! The CDN stage: a fresh or stale hit is answered at the edge; a miss
//! either makes the origin call for its key (and goes on to the function)
//! or, when one is already under way, waits for it. The origin call is what
//! a request holds here: when it ends, the key's waiters end with it.

use super::{StageModel, Step};
use crate::model::metrics::{CdnResult, Class, Outcome};
use crate::model::{Event, Lookup, Queue, Request, Stack};
use crate::sim::{Scheduler, SimTime};

/// The CDN stage.
pub struct CdnStage;

impl StageModel for CdnStage {
    fn enter(stack: &mut Stack, now: SimTime, id: u32, scheduler: &mut Scheduler<Event>) -> Step {
        let request = stack.requests.get(id);
        let (route, arrival, client) = (request.route as usize, request.arrival, request.client);
        let key = stack.cdn.key(route, &mut stack.streams.cache_keys);
        let lookup = stack.cdn.lookup(route, key, now, id);
        let result = match lookup {
            Lookup::Fresh => CdnResult::Fresh,
            Lookup::Stale { .. } => CdnResult::Stale,
            Lookup::Miss { .. } => CdnResult::Miss,
        };
        stack.requests.get_mut(id).cdn = Some((result, key));
        match lookup {
            Lookup::Fresh => {
                stack.metrics.cdn(now, arrival, route, CdnResult::Fresh);
                Step::End(Outcome::Ok)
            }
            Lookup::Stale { revalidate } => {
                stack.metrics.cdn(now, arrival, route, CdnResult::Stale);
                if revalidate {
                    CdnStage::revalidate(stack, now, route, key, client, scheduler);
                }
                Step::End(Outcome::Ok)
            }
            Lookup::Miss { leader } => {
                stack.metrics.cdn(now, arrival, route, CdnResult::Miss);
                if leader {
                    stack.metrics.origin_call(now, route);
                    stack.requests.get_mut(id).holdings.origin_key = Some(key);
                    Step::Next
                } else {
                    stack.park(id, Queue::Cdn, None, scheduler)
                }
            }
        }
    }
}

impl CdnStage {
    /// Starts the background origin call for `key` of `route`: a request of
    /// its own, past the CDN stage.
    fn revalidate(
        stack: &mut Stack,
        now: SimTime,
        route: usize,
        key: u32,
        client: u32,
        scheduler: &mut Scheduler<Event>,
    ) {
        stack.metrics.origin_call(now, route);
        let mut request = Request::new(route, Class::Revalidation, client, now);
        request.holdings.origin_key = Some(key);
        request.stage = 1;
        let id = stack.requests.insert(request);
        stack.advance(now, id, scheduler);
    }

    /// The origin call for `key` of `route` ended at `now` with `outcome`:
    /// the requests waiting for it end alike.
    pub fn release(
        stack: &mut Stack,
        now: SimTime,
        route: usize,
        key: u32,
        outcome: Outcome,
        scheduler: &mut Scheduler<Event>,
    ) {
        for waiter in stack.cdn.complete(route, key, now, outcome == Outcome::Ok) {
            stack.end_request(now, waiter, outcome, scheduler);
        }
    }
}
