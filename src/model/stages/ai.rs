//! The AI stage: the circuit breaker, the app's cap on calls in flight,
//! the provider's answer and the SDK's retries (see [`crate::model::Provider`]).
//! A request holds the breaker's permit and a slot of the cap for the
//! length of its call, and waits for a slot in the cap's queue. The answer
//! streams: its first token arrives, then the rest, and the request (its
//! instance, and a connection it holds) waits until the last.

use super::{StageModel, Step};
use crate::model::metrics::Outcome;
use crate::model::{
    Answer, Breaker, Event, Permit, Prompt, Provider, Queue, Resource, Stack, TokenUsage,
};
use crate::scenario::{Ai as AiConfig, BreakerScope, CircuitBreaker};
use crate::sim::{Scheduler, SimDuration, SimTime};

/// The AI provider and the app's protections around it.
pub struct AiService {
    provider: Provider,
    breaker: Option<CircuitBreaker>,
    /// The breaker when it is shared by every instance.
    shared_breaker: Option<Breaker>,
    /// The app's cap on calls in flight.
    pub in_flight: Option<Resource>,
}

impl AiService {
    /// The provider of `config`, with statistics from `warmup` over `minutes` minutes.
    pub fn new(config: &AiConfig, warmup: SimTime, minutes: usize) -> Self {
        let breaker = config.circuit_breaker;
        Self {
            provider: Provider::new(config),
            breaker,
            shared_breaker: breaker
                .filter(|b| b.scope == BreakerScope::Global)
                .map(|b| Breaker::new(&b)),
            in_flight: config
                .max_in_flight
                .map(|cap| Resource::new(cap, warmup, minutes)),
        }
    }
}

impl AiService {
    /// When the monthly spend cap was first reached, if it was.
    pub fn spend_cap_reached_at(&self) -> Option<SimTime> {
        self.provider.spend_cap_reached_at()
    }
}

/// Where a request is inside the AI stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Ask the circuit breaker, draw the tokens.
    Start,
    /// Take a slot of the app's in-flight cap.
    Slot,
    /// Send an attempt to the provider.
    Call,
    /// The answer's first token has arrived.
    FirstToken,
    /// The answer has streamed back.
    Answered,
}

/// A request's AI call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Where it is.
    pub phase: Phase,
    /// Retries made (at most 255: the compiled scenario bounds `retries.max`).
    pub attempts: u8,
    /// The conversation it belongs to (0: none), for its cached prefix.
    pub conversation: u64,
    /// Its prompt.
    pub prompt: Prompt,
    /// What the answered call is billed for.
    pub usage: TokenUsage,
    /// The answer's time from its first token to its last.
    pub stream: SimDuration,
    /// When the stage started.
    pub started: SimTime,
    /// When the answer's first token arrived (0: not yet).
    pub first_token_at: SimTime,
}

impl Progress {
    /// Before the stage, for a request that arrived at `arrival`.
    pub fn new(arrival: SimTime) -> Self {
        Self {
            phase: Phase::Start,
            attempts: 0,
            conversation: 0,
            prompt: Prompt {
                input: 0,
                output: 0,
                prefix: None,
            },
            usage: TokenUsage::default(),
            stream: 0,
            started: arrival,
            first_token_at: 0,
        }
    }
}

/// What a request holds for its AI call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Held {
    /// The breaker's permit (`Some(true)` for the half-open probe).
    pub permit: Option<bool>,
    /// A slot of the in-flight cap.
    pub slot: bool,
}

/// The AI stage.
pub struct AiStage;

impl StageModel for AiStage {
    const MULTI_STEP: bool = true;

    fn enter(stack: &mut Stack, now: SimTime, id: u32, scheduler: &mut Scheduler<Event>) -> Step {
        loop {
            let request = stack.requests.get(id);
            let (arrival, route) = (request.arrival, request.route as usize);
            let counted = stack.metrics.counts(arrival);
            match request.ai.phase {
                Phase::Start => {
                    if counted {
                        stack.metrics.ai.messages += 1;
                    }
                    let permit = AiStage::breaker(stack, id)
                        .map_or(Permit::Call { probe: false }, |b| b.permit(now));
                    let Permit::Call { probe } = permit else {
                        stack.metrics.ai.failed.bump(now);
                        return Step::End(Outcome::AiFastFailed);
                    };
                    let call = stack.routes[route]
                        .ai
                        .expect("the route builder gives this stage to AI routes only");
                    let input = call.input.sample(&mut stack.streams.ai);
                    let output = call.output.sample(&mut stack.streams.ai);
                    let request = stack.requests.get_mut(id);
                    request.ai.prompt = Prompt {
                        input,
                        output,
                        prefix: call
                            .cache
                            .and_then(|rule| rule.prefix(input, route, request.ai.conversation)),
                    };
                    request.holdings.ai.permit = Some(probe);
                    request.ai.started = now;
                    request.ai.phase = Phase::Slot;
                }
                Phase::Slot => {
                    stack.requests.get_mut(id).ai.phase = Phase::Call;
                    if let Some(slots) = stack.ai.as_mut().and_then(|ai| ai.in_flight.as_mut()) {
                        if !slots.take_or_wait(now, id) {
                            return stack.park(id, Queue::AiSlot, None, scheduler);
                        }
                        stack.requests.get_mut(id).holdings.ai.slot = true;
                    }
                }
                Phase::Call => {
                    let prompt = request.ai.prompt;
                    let attempt = u32::from(request.ai.attempts) + 1;
                    // The route builder gives this stage only with a provider.
                    let Some(ai) = stack.ai.as_mut() else {
                        return Step::Next;
                    };
                    let answer = ai.provider.call(now, prompt, &mut stack.streams.ai);
                    let metrics = &mut stack.metrics.ai;
                    match answer {
                        Answer::Ok {
                            first_token,
                            stream,
                            usage,
                        } => {
                            metrics.answered.bump(now);
                            let progress = &mut stack.requests.get_mut(id).ai;
                            progress.usage = usage;
                            progress.stream = stream;
                            progress.phase = Phase::FirstToken;
                            return Step::Wait(first_token);
                        }
                        Answer::RateLimited(_) => metrics.rate_limited += u64::from(counted),
                        Answer::SpendCapped | Answer::SpendLimited => {
                            metrics.spend_capped += u64::from(counted);
                        }
                        Answer::Overloaded => metrics.overloaded += u64::from(counted),
                    }
                    match ai
                        .provider
                        .retry_after(attempt, answer, &mut stack.streams.ai)
                    {
                        Some(wait) => {
                            metrics.retries += u64::from(counted);
                            stack.requests.get_mut(id).ai.attempts += 1;
                            return Step::Wait(wait);
                        }
                        None => {
                            AiStage::finish(stack, now, id, false, scheduler);
                            stack.metrics.ai.failed.bump(now);
                            return Step::End(Outcome::AiError);
                        }
                    }
                }
                Phase::FirstToken => {
                    if counted {
                        stack
                            .metrics
                            .ai
                            .first_token
                            .record(now - request.ai.started);
                    }
                    let progress = &mut stack.requests.get_mut(id).ai;
                    progress.first_token_at = now;
                    progress.phase = Phase::Answered;
                    return Step::Wait(progress.stream);
                }
                Phase::Answered => {
                    if counted {
                        let usage = request.ai.usage;
                        let metrics = &mut stack.metrics.ai;
                        metrics.tokens.add(&usage);
                        metrics.latency.record(now - request.ai.started);
                    }
                    AiStage::finish(stack, now, id, true, scheduler);
                    return Step::Next;
                }
            }
        }
    }
}

impl AiStage {
    /// The breaker that guards request `id`'s AI call, if there is one: its
    /// instance's, or the shared one.
    fn breaker(stack: &mut Stack, id: u32) -> Option<&mut Breaker> {
        let config = stack.ai.as_ref()?.breaker?;
        match config.scope {
            BreakerScope::Global => stack.ai.as_mut()?.shared_breaker.as_mut(),
            BreakerScope::Instance => {
                let request = stack.requests.get(id);
                let slot = request.holdings.instance?;
                let function = stack.routes[request.route as usize].function;
                let instance = stack.functions[function].instance_mut(slot);
                Some(
                    instance
                        .breaker
                        .get_or_insert_with(|| Breaker::new(&config)),
                )
            }
        }
    }

    /// Request `id`'s AI call ended at `now`: tell the breaker, give back
    /// the in-flight slot to the head of its queue.
    fn finish(
        stack: &mut Stack,
        now: SimTime,
        id: u32,
        success: bool,
        scheduler: &mut Scheduler<Event>,
    ) {
        let request = stack.requests.get_mut(id);
        let held = std::mem::take(&mut request.holdings.ai);
        let counted = stack.metrics.counts(request.arrival);
        if let Some(probe) = held.permit
            && let Some(breaker) = AiStage::breaker(stack, id)
        {
            if success {
                breaker.success(probe);
            } else if breaker.failure(now, probe) && counted {
                stack.metrics.ai.breaker_opens += 1;
            }
        }
        if held.slot
            && let Some(next) = stack
                .ai
                .as_mut()
                .and_then(|ai| ai.in_flight.as_mut())
                .and_then(|slots| slots.release(now))
        {
            stack.requests.get_mut(next.request).holdings.ai.slot = true;
            stack.served(now, next.request, 0, scheduler);
        }
    }

    /// Gives back what request `id`, ending mid-call, holds: for the
    /// breaker, a failure.
    pub fn release(stack: &mut Stack, now: SimTime, id: u32, scheduler: &mut Scheduler<Event>) {
        let held = stack.requests.get(id).holdings.ai;
        if held.permit.is_some() || held.slot {
            AiStage::finish(stack, now, id, false, scheduler);
        }
    }

    /// Takes request `id` out of the in-flight cap's queue.
    pub fn cancel(stack: &mut Stack, now: SimTime, id: u32) {
        if let Some(slots) = stack.ai.as_mut().and_then(|ai| ai.in_flight.as_mut()) {
            slots.cancel(now, id);
        }
    }
}
