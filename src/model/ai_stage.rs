//! The AI stage of a request: the circuit breaker, the app's cap on calls
//! in flight, the provider's answer and the SDK's retries (see [`super::ai`]).

use super::ai::{Answer, Breaker, Permit};
use super::metrics::Outcome;
use super::request::{AiPhase, Line};
use super::{Event, Stack, Step};
use crate::scenario::BreakerScope;
use crate::sim::{Scheduler, SimTime};

impl Stack {
    /// The breaker that guards request `id`'s AI call, if there is one: its
    /// instance's, or the shared one.
    fn breaker(&mut self, id: u32) -> Option<&mut Breaker> {
        let config = self.ai.as_ref()?.breaker?;
        match config.scope {
            BreakerScope::Global => self.ai.as_mut()?.shared_breaker.as_mut(),
            BreakerScope::Instance => {
                let request = self.requests.get(id);
                let slot = request.instance?;
                let function = self.routes[request.route as usize].function;
                let instance = self.functions[function].instance_mut(slot);
                Some(
                    instance
                        .breaker
                        .get_or_insert_with(|| Breaker::new(&config)),
                )
            }
        }
    }

    /// Moves request `id` through the AI stage until something takes time.
    pub(super) fn ai_step(
        &mut self,
        now: SimTime,
        id: u32,
        scheduler: &mut Scheduler<Event>,
    ) -> Step {
        loop {
            let request = self.requests.get(id);
            let (arrival, route) = (request.arrival, request.route as usize);
            let counted = self.metrics.counts(arrival);
            match request.ai_phase {
                AiPhase::Start => {
                    if counted {
                        self.metrics.ai.messages += 1;
                    }
                    let permit = self
                        .breaker(id)
                        .map_or(Permit::Call { probe: false }, |b| b.permit(now));
                    let Permit::Call { probe } = permit else {
                        self.metrics.ai.failed.bump(now);
                        return Step::End(Outcome::AiFastFailed);
                    };
                    let (input, output) = self.routes[route].ai.expect("an AI route");
                    let tokens = (
                        input.sample(&mut self.streams.ai),
                        output.sample(&mut self.streams.ai),
                    );
                    let request = self.requests.get_mut(id);
                    request.ai_permit = Some(probe);
                    request.ai_tokens = tokens;
                    request.ai_started = now;
                    request.ai_phase = AiPhase::Slot;
                }
                AiPhase::Slot => {
                    self.requests.get_mut(id).ai_phase = AiPhase::Call;
                    let ai = self.ai.as_mut().expect("an AI route");
                    if let Some(slots) = &mut ai.in_flight {
                        if !slots.take_or_wait(now, id) {
                            return self.park(id, Line::AiSlot, None, scheduler);
                        }
                        self.requests.get_mut(id).holds_ai_slot = true;
                    }
                }
                AiPhase::Call => {
                    let (input, output) = request.ai_tokens;
                    let attempt = u32::from(request.ai_attempts) + 1;
                    let ai = self.ai.as_mut().expect("an AI route");
                    let answer = ai.provider.call(now, input, output, &mut self.streams.ai);
                    let metrics = &mut self.metrics.ai;
                    match answer {
                        Answer::Ok(latency) => {
                            metrics.answered.bump(now);
                            let request = self.requests.get_mut(id);
                            request.ai_phase = AiPhase::Answered;
                            return Step::Wait(latency);
                        }
                        Answer::RateLimited(_) => metrics.rate_limited += u64::from(counted),
                        Answer::Overloaded => metrics.overloaded += u64::from(counted),
                    }
                    match ai
                        .provider
                        .retry_after(attempt, answer, &mut self.streams.ai)
                    {
                        Some(wait) => {
                            metrics.retries += u64::from(counted);
                            self.requests.get_mut(id).ai_attempts += 1;
                            return Step::Wait(wait);
                        }
                        None => {
                            self.finish_ai(now, id, false, scheduler);
                            self.metrics.ai.failed.bump(now);
                            return Step::End(Outcome::AiError);
                        }
                    }
                }
                AiPhase::Answered => {
                    if counted {
                        let (input, output) = request.ai_tokens;
                        let metrics = &mut self.metrics.ai;
                        metrics.input_tokens += u64::from(input);
                        metrics.output_tokens += u64::from(output);
                        metrics.latency.record(now - request.ai_started);
                    }
                    self.finish_ai(now, id, true, scheduler);
                    return Step::Next;
                }
            }
        }
    }

    /// Request `id`'s AI call ended at `now`: tell the breaker, give back
    /// the in-flight slot. Also called for a request that ends mid-call.
    pub(super) fn finish_ai(
        &mut self,
        now: SimTime,
        id: u32,
        success: bool,
        scheduler: &mut Scheduler<Event>,
    ) {
        let request = self.requests.get_mut(id);
        let (permit, holds_slot) = (request.ai_permit.take(), request.holds_ai_slot);
        request.holds_ai_slot = false;
        let counted = self.metrics.counts(request.arrival);
        if let Some(probe) = permit
            && let Some(breaker) = self.breaker(id)
        {
            if success {
                breaker.success(probe);
            } else if breaker.failure(now, probe) && counted {
                self.metrics.ai.breaker_opens += 1;
            }
        }
        if holds_slot
            && let Some(next) = self
                .ai
                .as_mut()
                .and_then(|ai| ai.in_flight.as_mut())
                .and_then(|slots| slots.release(now))
        {
            self.served(now, next.request, Line::AiSlot, 0, scheduler);
        }
    }
}
