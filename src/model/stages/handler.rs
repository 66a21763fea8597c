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
        let cpu = stack.routes[route]
            .handler
            .sample(&mut stack.streams.service);
        stack.metrics.handler(arrival, cpu);
        stack.requests.get_mut(id).computing = true;
        if !HandlerStage::share(stack, now, id, scheduler, |jobs| {
            jobs.push((id, cpu as f64))
        }) {
            // At most one request per vCPU: it computes at full speed.
            return Step::Wait(cpu);
        }
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
        HandlerStage::share(stack, now, id, scheduler, |jobs| {
            jobs.retain(|job| job.0 != id)
        });
    }

    /// Where request `id`'s instance shares its vCPUs: brings its computing
    /// requests' times left up to `now`, applies `change` to them and sets
    /// each one's timer to when it finishes at the new rate. False (and
    /// nothing done) where the pool never has more requests than vCPUs.
    fn share(
        stack: &mut Stack,
        now: SimTime,
        id: u32,
        scheduler: &mut Scheduler<Event>,
        change: impl FnOnce(&mut Vec<(u32, f64)>),
    ) -> bool {
        let request = stack.requests.get(id);
        let function = stack.routes[request.route as usize].function;
        let slot = request
            .holdings
            .instance
            .expect("the function stage comes before the handler stage");
        let pool = &mut stack.functions[function];
        if !pool.shares_cpu() {
            return false;
        }
        let vcpus = pool.vcpus;
        let shared = &mut pool.instance_mut(slot).cpu;
        shared.update(now, vcpus);
        change(&mut shared.jobs);
        let (rate, computing) = (shared.rate(vcpus), shared.jobs.len());
        // By index: no allocation on this per-request path.
        for index in 0..computing {
            let (id, left) = stack.functions[function].instance_mut(slot).cpu.jobs[index];
            stack.wait(now, id, (left / rate).ceil() as SimDuration, scheduler);
        }
        true
    }
}
