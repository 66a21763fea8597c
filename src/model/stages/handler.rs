//! The handler stage: the route's CPU time in the function.

use super::{StageModel, Step};
use crate::model::{Event, Stack};
use crate::sim::{Scheduler, SimTime};

/// The handler stage.
pub struct HandlerStage;

impl StageModel for HandlerStage {
    fn enter(stack: &mut Stack, _: SimTime, id: u32, _: &mut Scheduler<Event>) -> Step {
        let request = stack.requests.get(id);
        let (route, arrival) = (request.route as usize, request.arrival);
        let cpu = stack.routes[route]
            .handler
            .sample(&mut stack.streams.service);
        stack.metrics.handler(arrival, cpu);
        Step::Wait(cpu)
    }
}
