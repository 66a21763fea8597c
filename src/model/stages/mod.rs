//! The stages of a route's pipeline, one module each. A stage owns its part
//! of a request's life: entering it (and, for a stage of several timed
//! steps, going on after each), the queues it parks requests in and their
//! cancellation, and giving back what it holds. The pipeline itself
//! ([`super::Stack`]) only moves a request from stage to stage, keeps its
//! timer and, when it ends, has each owner give back what it holds.
//!
//! # Adding a stage
//!
//! 1. Write its module here: a unit type implementing [`StageModel`]
//!    (`enter`, and `MULTI_STEP` if a finished timed step goes on within
//!    the stage). If it keeps request state, that is a type of its module
//!    and a field of [`super::Request`]. If it parks requests in a queue of
//!    its own, that is a variant of [`super::Queue`] with its timeout
//!    outcome in `Stack::on_step` and a call to the module's `cancel` in
//!    `Stack::end_request`. If it holds something until it gives it back,
//!    that is a field of [`super::Holdings`], in the order things are given
//!    back, and a call to the module's `release` in `Stack::end_request`.
//! 2. Add its line to the `pipeline!` list below.
//! 3. Give it its key: in the scenario file's schema (src/scenario/schema.rs),
//!    the compiled scenario (compiled.rs) and the compiler (compile.rs); then
//!    add it to a route's pipeline where `Stack::new` builds the routes.
//!
//! Every stage here was moved out of the stack's central match this way;
//! the database stage, with its queues and holdings, shows every part.

pub mod ai;
pub mod app_cache;
pub mod cdn;
pub mod database;
pub mod externals;
pub mod function;
pub mod handler;
pub mod limit;

use super::metrics::Outcome;
use super::{Event, Stack};
use crate::sim::{Scheduler, SimDuration, SimTime};

/// What entering or going on in a stage asks of the pipeline.
pub enum Step {
    /// Go on to the next stage now.
    Next,
    /// Wait this long, then finish the step.
    Wait(SimDuration),
    /// The request waits in a queue, whose owner will resume it.
    Parked,
    /// The request ends with this outcome.
    End(Outcome),
}

/// One stage of the pipeline.
pub trait StageModel {
    /// Whether a finished timed step goes on within the stage (it keeps its
    /// place in the request's state) rather than ending it.
    const MULTI_STEP: bool = false;

    /// Enters the stage for request `id`, or goes on in it after a timed
    /// step: runs until something takes time or the stage is done.
    fn enter(stack: &mut Stack, now: SimTime, id: u32, scheduler: &mut Scheduler<Event>) -> Step;
}

/// Declares the stages a pipeline can have: the [`Stage`] enum and the
/// static dispatch from a stage to its [`StageModel`].
macro_rules! pipeline {
    ($($(#[$doc:meta])* $stage:ident => $model:ty,)*) => {
        /// One stage of a route's pipeline.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Stage {
            $($(#[$doc])* $stage,)*
        }

        impl Stage {
            /// Whether a finished timed step goes on within the stage.
            pub fn multi_step(self) -> bool {
                match self {
                    $(Stage::$stage => <$model as StageModel>::MULTI_STEP,)*
                }
            }
        }

        impl Stack {
            /// Enters (or goes on in) `stage` for request `id`.
            pub(super) fn enter(
                &mut self,
                now: SimTime,
                id: u32,
                stage: Stage,
                scheduler: &mut Scheduler<Event>,
            ) -> Step {
                match stage {
                    $(Stage::$stage => <$model as StageModel>::enter(self, now, id, scheduler),)*
                }
            }
        }
    };
}

pipeline! {
    /// The CDN: a hit is answered at the edge, a miss goes on.
    Cdn => cdn::CdnStage,
    /// Take a slot on an instance of the route's function (cold start, throttle or queue).
    Function => function::FunctionStage,
    /// Ask the route's rate limiter (a Redis round trip); 429 when rejected.
    Limit => limit::LimitStage,
    /// Run the handler's CPU time.
    Handler => handler::HandlerStage,
    /// Ask the app cache (Redis) for the route's key; a hit skips the queries.
    AppCacheGet => app_cache::AppCacheGetStage,
    /// Reach Postgres and run the queries one after another.
    Database => database::DatabaseStage,
    /// After a miss, store the result in the app cache.
    AppCacheSet => app_cache::AppCacheSetStage,
    /// Call the route's external APIs, one after another.
    Externals => externals::ExternalsStage,
    /// Call the AI provider (breaker, throttle, SDK retries).
    Ai => ai::AiStage,
}

impl Stack {
    /// The time of one Redis call (0 without a Redis).
    pub(super) fn redis_round_trip(&mut self) -> SimDuration {
        self.redis_time
            .as_ref()
            .map_or(0, |d| d.sample(&mut self.streams.redis))
    }

    /// One Redis call, then the next stage.
    pub(super) fn redis_step(&mut self) -> Step {
        match self.redis_round_trip() {
            0 => Step::Next,
            delay => Step::Wait(delay),
        }
    }
}
