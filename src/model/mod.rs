//! The modelled stack: traffic, function instances and the database, wired
//! as a pipeline of stages per route and driven by the event kernel.
//!
//! Each component keeps its own state in its own file; [`Stack`] routes
//! events to them and moves each request from stage to stage.

mod database;
mod functions;
mod metrics;
mod request;
mod results;
mod slab;
mod traffic;

pub use database::Database;
pub use functions::{Acquire, FunctionPool, IdleCheck};
pub use metrics::{Metrics, Outcome};
pub use request::{Request, Stage};
pub use results::{MinuteRow, Replication, RouteResult};
pub use slab::Slab;
pub use traffic::{ArrivalRate, Traffic};

use crate::scenario::{DbAccess, DurationSampler, RouteSlo, Scenario};
use crate::sim::{self, RngStream, Scheduler, SimDuration, SimTime};

/// Purposes of the random streams of one (tier, replication): each draws
/// from its own stream so that changing one component leaves the others'
/// numbers, and the traffic, unchanged.
#[derive(Clone, Copy, Debug)]
#[repr(u64)]
enum Purpose {
    Arrivals = 1,
    Routing = 2,
    ServiceTimes = 3,
    ColdStarts = 4,
    Database = 5,
    Placement = 6,
}

struct Streams {
    arrivals: RngStream,
    routing: RngStream,
    service: RngStream,
    cold_starts: RngStream,
    database: RngStream,
    placement: RngStream,
}

impl Streams {
    fn new(seed: u64, users: u64, replication: u32) -> Self {
        let stream =
            |purpose: Purpose| sim::stream(seed, &[users, u64::from(replication), purpose as u64]);
        Self {
            arrivals: stream(Purpose::Arrivals),
            routing: stream(Purpose::Routing),
            service: stream(Purpose::ServiceTimes),
            cold_starts: stream(Purpose::ColdStarts),
            database: stream(Purpose::Database),
            placement: stream(Purpose::Placement),
        }
    }
}

/// The events of the stack.
#[derive(Clone, Copy, Debug)]
pub enum Event {
    /// The next session arrives.
    SessionArrival,
    /// A session sends its next page request.
    Page {
        /// The session.
        session: u32,
    },
    /// The current timed step of a request ends (or its deadline passes).
    Step {
        /// The request.
        request: u32,
    },
    /// An instance may have been idle for its idle timeout.
    IdleCheck {
        /// Function index.
        function: u16,
        /// Instance slot.
        slot: u32,
        /// The instance's serial, to ignore checks of a reused slot.
        serial: u64,
    },
    /// A function's queued requests may start instances again (scale limit).
    ScaleRetry {
        /// Function index.
        function: u16,
    },
    /// Lingering connections of a reclaimed instance close.
    ConnectionsClose {
        /// How many.
        count: u32,
    },
}

/// A route compiled for the run.
#[derive(Clone, Debug)]
struct RouteModel {
    function: usize,
    handler: DurationSampler,
    queries: u32,
    sql: bool,
    stages: Vec<Stage>,
    fan_out: Vec<usize>,
}

/// What entering or finishing a step asks for.
enum Step {
    /// Go on to the next stage now.
    Next,
    /// Wait this long, then finish the step.
    Wait(SimDuration),
    /// The request waits in a component's queue, which will resume it.
    Parked,
    /// The request ends with this outcome.
    End(Outcome),
}

/// One tier's stack for one replication.
pub struct Stack {
    end: SimTime,
    routes: Vec<RouteModel>,
    traffic: Traffic,
    functions: Vec<FunctionPool>,
    database: Database,
    requests: Slab<Request>,
    metrics: Metrics,
    streams: Streams,
}

impl Stack {
    /// The stack of `scenario` for `users` users, replication `replication`.
    pub fn new(scenario: &Scenario, users: u64, replication: u32) -> Self {
        let end = scenario.horizon.value.nanos();
        let warmup = scenario.warmup.as_ref().map_or(0, |w| w.value.nanos());
        let minutes = end.div_ceil(60 * sim::NANOS_PER_SEC) as usize;
        let function_index = |name: &str| {
            scenario
                .functions
                .value
                .iter()
                .position(|f| f.name.value == name)
                .expect("validated function name")
        };
        let route_index = |name: &str| {
            scenario
                .routes
                .value
                .iter()
                .position(|r| r.name.value == name)
                .expect("validated route name")
        };
        let routes = scenario
            .routes
            .value
            .iter()
            .map(|route| {
                let sql =
                    route.db_access.as_ref().map_or(DbAccess::Sql, |a| a.value) == DbAccess::Sql;
                let mut stages = vec![Stage::Function, Stage::Handler];
                if route.queries > 0 {
                    stages.push(Stage::Database);
                }
                RouteModel {
                    function: function_index(&route.function.value),
                    handler: route.handler_time.sampler(),
                    queries: route.queries,
                    sql,
                    stages,
                    fan_out: route
                        .fan_out
                        .iter()
                        .map(|t| route_index(&t.value))
                        .collect(),
                }
            })
            .collect();
        let slos: Vec<Option<RouteSlo>> = scenario.routes.value.iter().map(|r| r.slo).collect();
        let functions: Vec<FunctionPool> = scenario
            .functions
            .value
            .iter()
            .map(FunctionPool::new)
            .collect();
        let mut metrics = Metrics::new(&slos, warmup, minutes, scenario.slo.window.nanos());
        let warm: u32 = functions.iter().map(FunctionPool::alive).sum();
        metrics.instances.set(0, u64::from(warm));
        Self {
            end,
            routes,
            traffic: Traffic::new(scenario, users),
            functions,
            database: Database::new(&scenario.database, warmup, minutes),
            requests: Slab::default(),
            metrics,
            streams: Streams::new(scenario.seed, users, replication),
        }
    }

    /// Schedules the first arrival.
    pub fn start(&mut self, scheduler: &mut Scheduler<Event>) {
        self.schedule_next_session(0, scheduler);
    }

    fn schedule_next_session(&mut self, now: SimTime, scheduler: &mut Scheduler<Event>) {
        if let Some(at) = self
            .traffic
            .rate
            .next_arrival(now, self.end, &mut self.streams.arrivals)
        {
            scheduler.schedule_at(at, Event::SessionArrival);
        }
    }

    /// Closes the run at the horizon and returns what it measured.
    pub fn finish(mut self, scenario: &Scenario) -> Replication {
        let end = self.end;
        for pool in &self.functions {
            for instance in pool.alive_instances() {
                self.metrics
                    .instance_lifetime(instance.created_at, end, pool.memory_gb);
            }
        }
        Replication::collect(scenario, end, self.metrics, &mut self.database)
    }

    fn issue(&mut self, now: SimTime, route: usize, scheduler: &mut Scheduler<Event>) {
        self.metrics.arrival(now, route);
        let id = self.requests.insert(Request {
            route: route as u16,
            arrival: now,
            stage: 0,
            instance: None,
            deadline: SimTime::MAX,
            step_done_at: now,
            queries_left: 0,
            failure: None,
        });
        self.advance(now, id, scheduler);
        for index in 0..self.routes[route].fan_out.len() {
            let child = self.routes[route].fan_out[index];
            self.issue(now, child, scheduler);
        }
    }

    /// Enters stages from the request's current one until one takes time.
    fn advance(&mut self, now: SimTime, id: u32, scheduler: &mut Scheduler<Event>) {
        loop {
            let request = self.requests.get(id);
            let route = &self.routes[request.route as usize];
            let Some(&stage) = route.stages.get(request.stage as usize) else {
                self.end_request(now, id, Outcome::Ok, scheduler);
                return;
            };
            match self.enter(now, id, stage) {
                Step::Next => self.requests.get_mut(id).stage += 1,
                Step::Wait(delay) => {
                    self.wait(now, id, delay, scheduler);
                    return;
                }
                Step::Parked => {
                    self.schedule_scale_retry(
                        route_function(&self.routes, self.requests.get(id)),
                        scheduler,
                    );
                    return;
                }
                Step::End(outcome) => {
                    self.end_request(now, id, outcome, scheduler);
                    return;
                }
            }
        }
    }

    fn wait(
        &mut self,
        now: SimTime,
        id: u32,
        delay: SimDuration,
        scheduler: &mut Scheduler<Event>,
    ) {
        let request = self.requests.get_mut(id);
        request.step_done_at = now.saturating_add(delay);
        scheduler.schedule_at(
            request.step_done_at.min(request.deadline),
            Event::Step { request: id },
        );
    }

    fn enter(&mut self, now: SimTime, id: u32, stage: Stage) -> Step {
        let request = self.requests.get(id);
        let route_index = request.route as usize;
        let route = &self.routes[route_index];
        match stage {
            Stage::Function => {
                let pool = &mut self.functions[route.function];
                match pool.acquire(now, id, &mut self.streams.cold_starts) {
                    Acquire::Slot {
                        instance,
                        ready_at,
                        cold,
                    } => {
                        if cold {
                            self.metrics.instances.add(now, 1);
                            self.metrics.cold_start(request.arrival, route_index);
                        }
                        self.assign(now, id, instance);
                        Step::Wait(ready_at - now)
                    }
                    Acquire::Queued => Step::Parked,
                    Acquire::Throttled => Step::End(Outcome::Throttled),
                }
            }
            Stage::Handler => {
                let cpu = route.handler.sample(&mut self.streams.service);
                self.metrics
                    .started(request.arrival, now - request.arrival, cpu);
                Step::Wait(cpu)
            }
            Stage::Database => {
                let queries = route.queries;
                let needs_connection = route.sql;
                let pool = &mut self.functions[route.function];
                let slot = request
                    .instance
                    .expect("a request in the database stage holds an instance");
                let instance = pool.instance_mut(slot);
                let request = self.requests.get_mut(id);
                request.queries_left = queries;
                if needs_connection && instance.connections == 0 {
                    let first_time = !instance.wants_connections;
                    instance.wants_connections = true;
                    if self.database.connect(now, first_time) {
                        instance.connections = self.database.per_instance;
                    } else {
                        request.failure = Some(Outcome::DbRefused);
                    }
                    return Step::Wait(
                        self.database
                            .connect_time
                            .sample(&mut self.streams.database),
                    );
                }
                self.next_query(id)
            }
        }
    }

    fn next_query(&mut self, id: u32) -> Step {
        let request = self.requests.get_mut(id);
        if request.queries_left == 0 {
            return Step::Next;
        }
        request.queries_left -= 1;
        Step::Wait(self.database.query_time.sample(&mut self.streams.service))
    }

    fn assign(&mut self, now: SimTime, id: u32, instance: u32) {
        let request = self.requests.get(id);
        let max_duration =
            self.functions[self.routes[request.route as usize].function].max_duration;
        let request = self.requests.get_mut(id);
        request.instance = Some(instance);
        request.deadline = now.saturating_add(max_duration);
    }

    /// The timed step of request `id` ended, or its deadline passed.
    fn on_step(&mut self, now: SimTime, id: u32, scheduler: &mut Scheduler<Event>) {
        let request = self.requests.get(id);
        if now < request.step_done_at {
            self.end_request(now, id, Outcome::Timeout, scheduler);
            return;
        }
        if let Some(outcome) = request.failure {
            self.end_request(now, id, outcome, scheduler);
            return;
        }
        let stage = self.routes[request.route as usize].stages[request.stage as usize];
        // Only the database stage has several timed steps (its queries).
        if stage == Stage::Database
            && let Step::Wait(delay) = self.next_query(id)
        {
            self.wait(now, id, delay, scheduler);
            return;
        }
        self.requests.get_mut(id).stage += 1;
        self.advance(now, id, scheduler);
    }

    fn end_request(
        &mut self,
        now: SimTime,
        id: u32,
        outcome: Outcome,
        scheduler: &mut Scheduler<Event>,
    ) {
        let request = self.requests.get(id);
        let (route, arrival, instance) =
            (request.route as usize, request.arrival, request.instance);
        self.metrics.finished(now, arrival, route, outcome);
        self.requests.remove(id);
        if let Some(slot) = instance {
            let function = self.routes[route].function;
            let pool = &mut self.functions[function];
            let (next, idle_check) = pool.release(now, slot, &mut self.streams.placement);
            if let Some(at) = idle_check {
                let serial = pool.serial(slot);
                scheduler.schedule_at(
                    at,
                    Event::IdleCheck {
                        function: function as u16,
                        slot,
                        serial,
                    },
                );
            }
            if let Some(next) = next {
                self.resume(now, next, slot, now, scheduler);
            }
        }
    }

    /// A queued request got `slot`, usable from `ready_at`.
    fn resume(
        &mut self,
        now: SimTime,
        id: u32,
        slot: u32,
        ready_at: SimTime,
        scheduler: &mut Scheduler<Event>,
    ) {
        self.assign(now, id, slot);
        self.wait(now, id, ready_at - now, scheduler);
    }

    fn schedule_scale_retry(&mut self, function: usize, scheduler: &mut Scheduler<Event>) {
        if let Some(at) = self.functions[function].scale_retry_at() {
            scheduler.schedule_at(
                at,
                Event::ScaleRetry {
                    function: function as u16,
                },
            );
        }
    }

    fn on_idle_check(
        &mut self,
        now: SimTime,
        function: usize,
        slot: u32,
        serial: u64,
        scheduler: &mut Scheduler<Event>,
    ) {
        let pool = &mut self.functions[function];
        match pool.idle_check(now, slot, serial) {
            IdleCheck::Nothing => {}
            IdleCheck::Recheck(at) => {
                scheduler.schedule_at(
                    at,
                    Event::IdleCheck {
                        function: function as u16,
                        slot,
                        serial,
                    },
                );
            }
            IdleCheck::Reclaimed {
                connections,
                wanted,
                lifetime,
            } => {
                let memory_gb = pool.memory_gb;
                self.metrics.instances.add(now, -1);
                self.metrics
                    .instance_lifetime(lifetime.0, lifetime.1, memory_gb);
                if let Some(delay) = self.database.release(now, connections, wanted) {
                    scheduler.schedule_in(delay, Event::ConnectionsClose { count: connections });
                }
            }
        }
    }

    fn on_scale_retry(&mut self, now: SimTime, function: usize, scheduler: &mut Scheduler<Event>) {
        let started = self.functions[function].retry_queued(now, &mut self.streams.cold_starts);
        for (id, slot, ready_at) in started {
            self.metrics.instances.add(now, 1);
            let request = self.requests.get(id);
            self.metrics
                .cold_start(request.arrival, request.route as usize);
            self.resume(now, id, slot, ready_at, scheduler);
        }
        self.schedule_scale_retry(function, scheduler);
    }
}

fn route_function(routes: &[RouteModel], request: &Request) -> usize {
    routes[request.route as usize].function
}

impl sim::Model for Stack {
    type Event = Event;

    fn handle(&mut self, now: SimTime, event: Event, scheduler: &mut Scheduler<Event>) {
        match event {
            Event::SessionArrival => {
                let session = self.traffic.open_session(&mut self.streams.routing);
                scheduler.schedule_at(now, Event::Page { session });
                self.schedule_next_session(now, scheduler);
            }
            Event::Page { session } => {
                let (route, think) = self.traffic.next_page(session, &mut self.streams.routing);
                if let Some(think) = think {
                    scheduler.schedule_in(think, Event::Page { session });
                }
                self.issue(now, route, scheduler);
            }
            Event::Step { request } => self.on_step(now, request, scheduler),
            Event::IdleCheck {
                function,
                slot,
                serial,
            } => {
                self.on_idle_check(now, usize::from(function), slot, serial, scheduler);
            }
            Event::ScaleRetry { function } => {
                self.on_scale_retry(now, usize::from(function), scheduler)
            }
            Event::ConnectionsClose { count } => self.database.close(now, count),
        }
    }
}
