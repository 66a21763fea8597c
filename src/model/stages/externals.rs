//! The externals stage: the route's calls to external APIs, one after
//! another; a call answered from the API's cache takes no time, one past
//! the API's quota fails the request.

use super::{StageModel, Step};
use crate::model::metrics::Outcome;
use crate::model::{CallResult, Event, Stack};
use crate::sim::{Scheduler, SimTime};

/// How far a request is through its route's external calls.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Calls made so far.
    pub done: u8,
}

/// The externals stage.
pub struct ExternalsStage;

impl StageModel for ExternalsStage {
    const MULTI_STEP: bool = true;

    fn enter(stack: &mut Stack, now: SimTime, id: u32, _: &mut Scheduler<Event>) -> Step {
        let route = &stack.routes[stack.requests.get(id).route as usize];
        // Calls answered from the API's cache take no time: the next goes at once.
        loop {
            let request = stack.requests.get_mut(id);
            let Some(&(api, units)) = route.externals.get(usize::from(request.externals.done))
            else {
                return Step::Next;
            };
            request.externals.done += 1;
            let api = &mut stack.apis[api];
            let (keys, times) = (
                &mut stack.streams.external_keys,
                &mut stack.streams.externals,
            );
            match api.call(now, units, keys, times) {
                CallResult::Cached => {}
                CallResult::QuotaExhausted => return Step::End(Outcome::ExternalQuota),
                CallResult::Sent(latency) => return Step::Wait(latency),
            }
        }
    }
}
