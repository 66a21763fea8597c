//! The limiter stage: the route's rate limiter (a Redis round trip) lets
//! the request on or answers 429, counting the commands either way. An
//! identifier the instance has seen rejected is answered 429 from the
//! instance's memory until its reset: no command, no round trip.

use super::{StageModel, Step};
use crate::model::metrics::{Class, Outcome};
use crate::model::{Event, Stack};
use crate::scenario::LimitKey;
use crate::sim::{Scheduler, SimTime};

/// The limiter stage.
pub struct LimitStage;

impl StageModel for LimitStage {
    fn enter(stack: &mut Stack, now: SimTime, id: u32, _: &mut Scheduler<Event>) -> Step {
        let request = stack.requests.get(id);
        let (route, client, class) = (request.route as usize, request.client, request.class);
        // The CDN's own revalidation carries no client identity to limit.
        if class == Class::Revalidation {
            return Step::Next;
        }
        let limiter = stack.routes[route]
            .limiter
            .expect("the route builder gives this stage to limited routes only");
        let identifier = match stack.limiters[limiter].key {
            LimitKey::User => client,
            LimitKey::Ip => LimitStage::ip_of(stack, client),
        };
        let slot = request
            .holdings
            .instance
            .expect("the limiter runs in the handler's instance");
        let function = stack.routes[route].function;
        let cached = stack.limiters[limiter].ephemeral_cache;
        let blocked = &mut stack.functions[function].instance_mut(slot).blocked;
        if cached && blocked.len() <= limiter {
            blocked.resize_with(limiter + 1, Default::default);
        }
        if cached && blocked[limiter].blocks(now, identifier) {
            stack.metrics.limiter_cache_block(now, limiter, class);
            return Step::End(Outcome::RateLimited);
        }
        let decision = stack.limiters[limiter].check(now, identifier);
        if cached {
            stack.functions[function].instance_mut(slot).blocked[limiter]
                .remember(identifier, decision);
        }
        stack
            .metrics
            .limiter(now, limiter, class, decision.allowed, decision.commands);
        match (decision.allowed, stack.redis_round_trip()) {
            (true, 0) => Step::Next,
            (false, 0) => Step::End(Outcome::RateLimited),
            (allowed, delay) => {
                if !allowed {
                    stack.requests.get_mut(id).failure = Some(Outcome::RateLimited);
                }
                Step::Wait(delay)
            }
        }
    }
}

impl LimitStage {
    /// The IP address of `client`: users share addresses `users_per_ip` to
    /// one; abusive clients have their own.
    pub(crate) fn ip_of(stack: &Stack, client: u32) -> u32 {
        if client < stack.users {
            (f64::from(client) / stack.users_per_ip) as u32
        } else {
            stack.user_ips + (client - stack.users)
        }
    }
}
