//! The handler stage: the route's CPU time in the function, on its
//! instance's vCPUs, shared with the other requests computing there at
//! once (processor sharing): with concurrency 1 a request has them to
//! itself and takes exactly its CPU time.

use super::{StageModel, Step};
use crate::model::{Event, Stack};
use crate::sim::{Scheduler, SimDuration, SimTime};

/// The handler stage.
pub struct HandlerStage;

impl StageModel for HandlerStage {
    const MULTI_STEP: bool = true;

    fn enter(stack: &mut Stack, now: SimTime, id: u32, scheduler: &mut Scheduler<Event>) -> Step {
        let request = stack.requests.get(id);
        if request.computing {
            // Its CPU time is done.
            HandlerStage::release(stack, now, id, scheduler);
            return Step::Next;
        }
        let (route, arrival) = (request.route as usize, request.arrival);
        let slot = request
            .holdings
            .instance
            .expect("the function stage comes before the handler stage");
        let cpu = stack.routes[route]
            .handler
            .sample(&mut stack.streams.service);
        stack.metrics.handler(arrival, cpu);
        stack.requests.get_mut(id).computing = true;
        let function = stack.routes[route].function;
        let pool = &mut stack.functions[function];
        if !pool.shares_cpu {
            // At most one request per vCPU: it computes at full speed.
            return Step::Wait(cpu);
        }
        let vcpus = pool.vcpus;
        let shared = &mut pool.instance_mut(slot).cpu;
        shared.update(now, vcpus);
        shared.jobs.push((id, cpu as f64));
        HandlerStage::reschedule(stack, now, function, slot, scheduler);
        Step::Parked
    }
}

impl HandlerStage {
    /// Request `id` stops computing (done, or ended while computing); the
    /// others on its instance speed up.
    pub fn release(stack: &mut Stack, now: SimTime, id: u32, scheduler: &mut Scheduler<Event>) {
        let request = stack.requests.get_mut(id);
        if !request.computing {
            return;
        }
        request.computing = false;
        let (route, slot) = (request.route as usize, request.holdings.instance);
        let Some(slot) = slot else {
            return;
        };
        let function = stack.routes[route].function;
        let pool = &mut stack.functions[function];
        if !pool.shares_cpu {
            return;
        }
        let vcpus = pool.vcpus;
        let shared = &mut pool.instance_mut(slot).cpu;
        shared.update(now, vcpus);
        shared.jobs.retain(|job| job.0 != id);
        HandlerStage::reschedule(stack, now, function, slot, scheduler);
    }

    /// Sets each computing request's timer to when it finishes at the
    /// instance's current rate.
    fn reschedule(
        stack: &mut Stack,
        now: SimTime,
        function: usize,
        slot: u32,
        scheduler: &mut Scheduler<Event>,
    ) {
        let pool = &mut stack.functions[function];
        let vcpus = pool.vcpus;
        let shared = &pool.instance_mut(slot).cpu;
        let (rate, computing) = (shared.rate(vcpus), shared.jobs.len());
        // By index: no allocation on this per-request path. Times left are
        // whole nanoseconds while nothing is shared: exact.
        for index in 0..computing {
            let (id, left) = stack.functions[function].instance_mut(slot).cpu.jobs[index];
            stack.wait(now, id, (left / rate).ceil() as SimDuration, scheduler);
        }
    }
}
