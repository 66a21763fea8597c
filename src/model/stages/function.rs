//! The function stage: a slot on an instance of the route's function, warm
//! at once or after a cold start, else queued or throttled. The slot is what
//! a request holds here until it ends; the pool's idle checks and burst
//! retries are this stage's own timers.

use super::database::DatabaseStage;
use super::{StageModel, Step};
use crate::model::metrics::Outcome;
use crate::model::{Acquire, Event, IdleCheck, Stack};
use crate::sim::{Scheduler, SimTime};

/// The function stage.
pub struct FunctionStage;

impl StageModel for FunctionStage {
    fn enter(stack: &mut Stack, now: SimTime, id: u32, scheduler: &mut Scheduler<Event>) -> Step {
        let request = stack.requests.get(id);
        let (route, arrival) = (request.route as usize, request.arrival);
        let function = stack.routes[route].function;
        let pool = &mut stack.functions[function];
        match pool.acquire(now, id, &mut stack.streams.cold_starts) {
            Acquire::Slot {
                instance,
                ready_at,
                started,
                cold,
            } => {
                if started {
                    stack.metrics.instances.add(now, 1);
                }
                if cold {
                    stack.metrics.cold_start(arrival, route);
                }
                FunctionStage::assign(stack, now, id, instance, ready_at);
                FunctionStage::ready(now, ready_at)
            }
            Acquire::Queued => {
                FunctionStage::schedule_scale_retry(stack, function, scheduler);
                Step::Parked
            }
            Acquire::Throttled => Step::End(Outcome::Throttled),
        }
    }
}

impl FunctionStage {
    /// A slot taken at `now` and usable from `ready_at`: a warm one at once,
    /// with no timer to wait for; a cold one after its start.
    fn ready(now: SimTime, ready_at: SimTime) -> Step {
        match ready_at - now {
            0 => Step::Next,
            delay => Step::Wait(delay),
        }
    }

    /// Request `id` got a slot on `instance` at `now`, usable from `ready_at`:
    /// an invocation, whatever its outcome.
    #[inline(always)]
    fn assign(stack: &mut Stack, now: SimTime, id: u32, instance: u32, ready_at: SimTime) {
        let request = stack.requests.get(id);
        let max_duration =
            stack.functions[stack.routes[request.route as usize].function].max_duration;
        stack
            .metrics
            .invoked(request.arrival, ready_at - request.arrival, request.class);
        let request = stack.requests.get_mut(id);
        request.holdings.instance = Some(instance);
        request.invoked_at = now;
        request.deadline = now.saturating_add(max_duration);
    }

    /// A queued request got `slot`, usable from `ready_at`.
    fn resume(
        stack: &mut Stack,
        now: SimTime,
        id: u32,
        slot: u32,
        ready_at: SimTime,
        scheduler: &mut Scheduler<Event>,
    ) {
        FunctionStage::assign(stack, now, id, slot, ready_at);
        if stack.take_step(now, id, FunctionStage::ready(now, ready_at), scheduler) {
            stack.advance(now, id, scheduler);
        }
    }

    /// A request of `route` that arrived at `arrival` and was invoked at
    /// `invoked_at` gives back its `slot` at `now`; the first queued
    /// request takes it.
    pub fn release(
        stack: &mut Stack,
        now: SimTime,
        (route, arrival, invoked_at): (usize, SimTime, SimTime),
        slot: u32,
        scheduler: &mut Scheduler<Event>,
    ) {
        let function = stack.routes[route].function;
        let pool = &mut stack.functions[function];
        stack
            .metrics
            .invocation_ended(arrival, now - invoked_at, pool.memory);
        let released = pool.release(now, slot, &mut stack.streams.placement);
        if let Some(from) = released.busy_from {
            stack.metrics.instance_busy(from, now, pool.memory);
        }
        if let Some(at) = released.idle_check_at {
            let serial = pool.serial(slot);
            schedule_idle_check(scheduler, at, function, slot, serial);
        }
        if let Some(next) = released.next {
            FunctionStage::resume(stack, now, next, slot, now, scheduler);
        }
    }

    fn schedule_scale_retry(stack: &mut Stack, function: usize, scheduler: &mut Scheduler<Event>) {
        if let Some(at) = stack.functions[function].scale_retry_at() {
            scheduler.schedule_at(
                at,
                Event::ScaleRetry {
                    function: function as u16,
                },
            );
        }
    }

    /// Instance `slot` (serial `serial`) of `function` may have idled out.
    pub fn on_idle_check(
        stack: &mut Stack,
        now: SimTime,
        function: usize,
        slot: u32,
        serial: u64,
        scheduler: &mut Scheduler<Event>,
    ) {
        let pool = &mut stack.functions[function];
        match pool.idle_check(now, slot, serial) {
            IdleCheck::Nothing => {}
            IdleCheck::Recheck(at) => schedule_idle_check(scheduler, at, function, slot, serial),
            IdleCheck::Reclaimed { links, lifetime } => {
                let memory = pool.memory;
                stack.metrics.instances.add(now, -1);
                stack
                    .metrics
                    .instance_lifetime(lifetime.0, lifetime.1, memory);
                DatabaseStage::release_links(stack, now, links, scheduler);
            }
        }
    }

    /// `function`'s queued requests may start instances again (burst limit).
    pub fn on_scale_retry(
        stack: &mut Stack,
        now: SimTime,
        function: usize,
        scheduler: &mut Scheduler<Event>,
    ) {
        let started = stack.functions[function].retry_queued(now, &mut stack.streams.cold_starts);
        for (id, slot, ready_at) in started {
            stack.metrics.instances.add(now, 1);
            let request = stack.requests.get(id);
            stack
                .metrics
                .cold_start(request.arrival, request.route as usize);
            FunctionStage::resume(stack, now, id, slot, ready_at, scheduler);
        }
        FunctionStage::schedule_scale_retry(stack, function, scheduler);
    }
}

/// Checks at `at` whether instance `slot` (serial `serial`) of `function` has idled out.
fn schedule_idle_check(
    scheduler: &mut Scheduler<Event>,
    at: SimTime,
    function: usize,
    slot: u32,
    serial: u64,
) {
    let function = function as u16;
    scheduler.schedule_at(
        at,
        Event::IdleCheck {
            function,
            slot,
            serial,
        },
    );
}
