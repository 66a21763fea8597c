//! The compiled scenario: what a valid scenario file resolves to, and all
//! that the model, the experiments, the costs and the reports see.
//!
//! The file's own types ([`super::schema`]) keep where each value was
//! written, for diagnostics; these keep only the values. Names are
//! resolved to typed ids ([`RouteId`], [`FunctionId`], [`LimiterId`],
//! [`ApiId`]), defaults are applied, and every number the model narrows
//! (ids, node counts, retries, users) was checked to fit when the file was
//! compiled ([`super::compile`]).

use std::fmt;
use std::marker::PhantomData;

use super::calendar::{Date, DayTime, Timezone};
use super::dist::{CountDist, DurationDist};
use super::schema::{
    AiLimits, AiTier, AlertMetric, AppCache, Cache, CircuitBreaker, Compute, ConnectionThreshold,
    Conversation, Costs, CpuBurst, DbAccess, External, FunctionModel, HeavyUsers, Images, Outage,
    Overflow, PageView, Pooler, RateLimit, Redis, Retries, Reuse, RouteAi, RouteSlo, Slo,
};
use super::units::{Duration, Rate, Share, Size};

/// The place of a `T` in its list: a route, function, limiter or API of
/// the scenario. Ids are made only by compiling a scenario, so each names
/// an item that exists.
pub struct Id<T> {
    index: u16,
    of: PhantomData<fn() -> T>,
}

impl<T> Id<T> {
    /// The most items a list of ids can have.
    pub const LIMIT: usize = u16::MAX as usize + 1;

    /// The id of the item at `index`, if a list may be that long.
    pub(super) fn new(index: usize) -> Option<Self> {
        u16::try_from(index).ok().map(|index| Self {
            index,
            of: PhantomData,
        })
    }

    /// An id for a name that did not resolve, in a scenario that will not
    /// compile: never read.
    pub(super) fn stand_in() -> Self {
        Self {
            index: 0,
            of: PhantomData,
        }
    }

    /// Its place in the list.
    pub fn index(self) -> usize {
        usize::from(self.index)
    }
}

// Written out: derived impls would ask the same of `T`.
impl<T> Clone for Id<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Id<T> {}

impl<T> PartialEq for Id<T> {
    fn eq(&self, other: &Self) -> bool {
        self.index == other.index
    }
}

impl<T> Eq for Id<T> {}

impl<T> fmt::Debug for Id<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.index)
    }
}

/// A route of the scenario.
pub type RouteId = Id<Route>;
/// A function deployment of the scenario.
pub type FunctionId = Id<Function>;
/// A rate limiter of the scenario.
pub type LimiterId = Id<RateLimiter>;
/// An external API of the scenario.
pub type ApiId = Id<ExternalApi>;

/// The most users (or abusive clients) a tier may have: users, then
/// abusive clients, are numbered by one 32-bit client id.
pub const MAX_USERS: u64 = u32::MAX as u64;

/// The most read replicas: a database node's id (0 for the primary) is one byte.
pub const MAX_READ_REPLICAS: u32 = 255;

/// The most retries the SDK may make: a request counts its attempts in one byte.
pub const MAX_AI_RETRIES: u32 = 255;

/// The most external calls one route may make: a request counts them in one byte.
pub const MAX_EXTERNAL_CALLS: usize = 255;

/// The most queries one request may run: they run one after another, so a
/// request's events grow with them (an N+1 page makes hundreds).
pub const MAX_QUERIES: u32 = 10_000;

/// A scenario, compiled: names resolved, defaults applied, bounds checked.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Names the output folder.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Root of every random stream.
    pub seed: u64,
    /// Independent replications per tier.
    pub replications: u32,
    /// Calendar date of day 1.
    pub start: Date,
    /// Zone of daily profiles and burst times.
    pub timezone: Timezone,
    /// Simulated time per replication.
    pub horizon: Duration,
    /// Initial time excluded from statistics (0 without one).
    pub warmup: Duration,
    /// User populations to simulate.
    pub tiers: Vec<Tier>,
    /// Service-level objectives.
    pub slo: Slo,
    /// How users generate requests.
    pub traffic: Traffic,
    /// The endpoints.
    pub routes: Vec<Route>,
    /// Function deployments.
    pub functions: Vec<Function>,
    /// The Postgres database.
    pub database: Database,
    /// Rate limiters, in the order of their names.
    pub rate_limits: Vec<RateLimiter>,
    /// The Redis that limiters and app caches call.
    pub redis: Option<Redis>,
    /// The AI provider.
    pub ai: Option<Ai>,
    /// Plans and prices of the monthly cost projection.
    pub costs: Option<Costs>,
    /// External APIs, in the order of their names.
    pub externals: Vec<ExternalApi>,
    /// Scheduled background jobs.
    pub jobs: Vec<Job>,
    /// Vercel Image Optimization's cache, for pages with images.
    pub images: Option<Images>,
    /// The scenario's own alerts, if it lists any (else the defaults of
    /// [`Scenario::alert_rules`]).
    pub alerts: Option<Vec<AlertRule>>,
}

/// One user population.
#[derive(Clone, Debug)]
pub struct Tier {
    /// Label in reports.
    pub name: String,
    /// Registered users.
    pub users: u64,
}

/// How users generate sessions and requests.
#[derive(Clone, Debug)]
pub struct Traffic {
    /// Share of users active on a given day.
    pub daily_active_share: Share,
    /// Sessions per active user per day.
    pub sessions_per_active_user: f64,
    /// Page requests in one session.
    pub requests_per_session: CountDist,
    /// Time between a user's page requests.
    pub think_time: DurationDist,
    /// 24 hourly weights.
    pub daily_profile: Vec<f64>,
    /// 7 daily weights, Monday first.
    pub weekly_profile: Option<Vec<f64>>,
    /// Scheduled surges.
    pub bursts: Vec<Burst>,
    /// Users behind one IP address (1 without NAT).
    pub users_per_ip: f64,
    /// High-rate clients, apart from the users.
    pub abusive_clients: Option<AbusiveClients>,
}

impl Traffic {
    /// The largest burst's multiplier of the session rate (1 without any).
    pub fn largest_burst(&self) -> f64 {
        self.bursts.iter().map(|b| b.multiplier).fold(1.0, f64::max)
    }
}

/// A scheduled surge: the session rate times `multiplier` for `duration`.
#[derive(Clone, Debug)]
pub struct Burst {
    /// Label.
    pub name: String,
    /// When it starts.
    pub at: DayTime,
    /// How long it lasts.
    pub duration: Duration,
    /// Factor on the session arrival rate.
    pub multiplier: f64,
}

/// How many abusive clients a tier has.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ClientCount {
    /// This many.
    Count(u64),
    /// This share of the tier's users, rounded down.
    Share(Share),
}

/// Clients that send requests at a high rate.
#[derive(Clone, Debug)]
pub struct AbusiveClients {
    /// How many.
    pub count: ClientCount,
    /// Requests per client while active.
    pub rate: Rate,
    /// Active time per client per day.
    pub active_per_day: Duration,
    /// Routes they call, uniformly.
    pub routes: Vec<RouteId>,
}

impl AbusiveClients {
    /// How many there are among `users` users.
    pub fn count_among(&self, users: u64) -> u64 {
        match self.count {
            ClientCount::Count(count) => count,
            ClientCount::Share(share) => (users as f64 * share.0).floor() as u64,
        }
    }
}

/// An endpoint.
#[derive(Clone, Debug)]
pub struct Route {
    /// Its name in reports.
    pub name: String,
    /// Method and path, for reports.
    pub request: Option<String>,
    /// Relative share of session page requests (0: none).
    pub weight: f64,
    /// The function deployment that serves it.
    pub function: FunctionId,
    /// Queries per request, run one after another.
    pub queries: u32,
    /// Share of its queries that are reads.
    pub read_share: f64,
    /// How queries reach Postgres.
    pub db_access: DbAccess,
    /// Longest one of its queries may run or wait for a CPU in Postgres
    /// before it is cancelled (SQLSTATE 57014).
    pub statement_timeout: Duration,
    /// CPU time in the handler.
    pub handler_time: DurationDist,
    /// Response body size.
    pub response_size: Option<Size>,
    /// Routes called in parallel with this one.
    pub fan_out: Vec<RouteId>,
    /// Own latency SLO or exclusion.
    pub slo: Option<RouteSlo>,
    /// CDN caching of its responses.
    pub cache: Option<Cache>,
    /// The rate limiter its handler checks first.
    pub rate_limit: Option<LimiterId>,
    /// Messages per user per 30-day month, instead of a session weight.
    pub per_user_per_month: Option<f64>,
    /// How those messages group into conversations.
    pub conversation: Option<Conversation>,
    /// How the volume skews toward heavy users.
    pub heavy_users: Option<HeavyUsers>,
    /// The AI call it makes after its queries.
    pub ai: Option<RouteAi>,
    /// Calls to external APIs after its queries, one after another.
    pub externals: Vec<ApiCall>,
    /// A Redis cache in front of its queries.
    pub app_cache: Option<AppCache>,
    /// Bytes of a request to its function, headers included.
    pub request_size: u64,
    /// Bytes its queries return per request, in all.
    pub db_result_size: u64,
    /// What the browser loads with a user's request of it.
    pub page: Option<PageView>,
}

/// A route's call to an external API.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ApiCall {
    /// The API.
    pub api: ApiId,
    /// Quota units the call costs.
    pub units: u32,
}

/// A named rate limiter.
#[derive(Clone, Debug)]
pub struct RateLimiter {
    /// Its name, as routes refer to it.
    pub name: String,
    /// How it limits.
    pub limit: RateLimit,
}

/// A named external API.
#[derive(Clone, Debug)]
pub struct ExternalApi {
    /// Its name, as routes call it.
    pub name: String,
    /// How it answers and what it costs.
    pub api: External,
}

/// A scheduled job fanning out tasks into a route.
#[derive(Clone, Debug)]
pub struct Job {
    /// Label.
    pub name: String,
    /// First run.
    pub at: DayTime,
    /// Time between runs (one run if absent).
    pub every: Option<Duration>,
    /// Tasks per run.
    pub tasks: u32,
    /// The route each task runs as a request of.
    pub route: RouteId,
    /// Tasks in flight at most, with a queue (all at once without).
    pub queue_concurrency: Option<u32>,
}

/// The AI provider and the app's protections around it.
#[derive(Clone, Debug)]
pub struct Ai {
    /// Model name, for reports.
    pub model: Option<String>,
    /// The usage tier, if one is named.
    pub tier: Option<AiTier>,
    /// USD per million tokens.
    pub prices: Option<AiPrices>,
    /// The monthly spend cap, if any.
    pub spend_cap: Option<SpendCap>,
    /// USD spent in the calendar month the scenario starts in, before it starts.
    pub spent_before_start: f64,
    /// Simulated times at which a calendar month begins (00:00 UTC on the
    /// 1st), within the horizon.
    pub month_starts: Vec<u64>,
    /// The shortest prefix the provider caches, tokens.
    pub min_cacheable_tokens: u32,
    /// Time to the first output token.
    pub time_to_first_token: DurationDist,
    /// Output speed after the first token.
    pub output_tokens_per_second: f64,
    /// Provider limits.
    pub limits: AiLimits,
    /// Share of calls answered 529.
    pub error_rate: Share,
    /// Windows in which every call is answered 529.
    pub outages: Vec<Outage>,
    /// The SDK's retries.
    pub retries: Retries,
    /// The app's circuit breaker.
    pub circuit_breaker: Option<CircuitBreaker>,
    /// The app's cap on calls in flight.
    pub max_in_flight: Option<u32>,
}

/// USD per million tokens of each kind.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AiPrices {
    /// Uncached input.
    pub input: f64,
    /// Output.
    pub output: f64,
    /// Cache writes, 5-minute lifetime.
    pub cache_write_5m: f64,
    /// Cache writes, 1-hour lifetime.
    pub cache_write_1h: f64,
    /// Cache reads.
    pub cache_read: f64,
}

impl AiPrices {
    /// USD for tokens of each kind.
    pub fn usd(&self, tokens: &AiTokens) -> f64 {
        (tokens.input * self.input
            + tokens.cache_write_5m * self.cache_write_5m
            + tokens.cache_write_1h * self.cache_write_1h
            + tokens.cache_read * self.cache_read
            + tokens.output * self.output)
            / 1e6
    }
}

/// Tokens of each kind the provider bills: of one call, or summed.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct AiTokens {
    /// Uncached input.
    pub input: f64,
    /// Input written to the cache with the 5-minute lifetime.
    pub cache_write_5m: f64,
    /// Input written to the cache with the 1-hour lifetime.
    pub cache_write_1h: f64,
    /// Input read from the cache.
    pub cache_read: f64,
    /// Output.
    pub output: f64,
}

/// A monthly spend cap and how the provider answers past it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SpendCap {
    /// USD a calendar month.
    pub usd: f64,
    /// Set by the organisation (answered 400, not retried) rather than by
    /// its tier (429 without retry-after, retried by the SDK).
    pub own: bool,
}

/// A function deployment with its own instance pool.
#[derive(Clone, Debug)]
pub struct Function {
    /// Its name in reports.
    pub name: String,
    /// Classic or Fluid.
    pub model: FunctionModel,
    /// Requests one instance serves at once.
    pub concurrency: u32,
    /// Start-up time of a new instance.
    pub cold_start: DurationDist,
    /// Idle time after which an instance is reclaimed.
    pub idle_timeout: Duration,
    /// Which idle instance takes a request.
    pub reuse: Reuse,
    /// Instances kept warm.
    pub min_instances: u32,
    /// Concurrency limit.
    pub max_instances: u32,
    /// Burst limit on new instances.
    pub scale_rate: Option<Rate>,
    /// Reject or queue what no instance can take.
    pub overflow: Overflow,
    /// Memory per instance.
    pub memory: Size,
    /// Longest a request may run.
    pub max_duration: Duration,
}

/// The Postgres database. Limits the compute gives by default are read
/// through methods, since `compute: auto` changes the compute between runs.
#[derive(Clone, Debug)]
pub struct Database {
    /// `max_connections` as set, if set.
    pub(super) max_connections: Option<u32>,
    /// CPUs as set, if set.
    pub(super) cpus: Option<u32>,
    /// Connections held by the platform's own services.
    pub platform_connections: u32,
    /// Time to open one connection.
    pub connect_time: DurationDist,
    /// Time one query takes.
    pub query_time: DurationDist,
    /// Connections each instance opens and holds.
    pub connections_per_instance: u32,
    /// How long a reclaimed instance's connections stay open.
    pub close_delay: Duration,
    /// Compute size from the provider's ladder.
    pub compute: Option<Compute>,
    /// Read replicas, each with the primary's compute, limits and pool.
    pub read_replicas: u32,
    /// PostgREST's connections.
    pub data_api_pool: u32,
    /// Longest a Data API request waits for one of those connections.
    pub data_api_timeout: Duration,
    /// Longest a query waits for one of its instance's connections.
    pub connection_timeout: Option<Duration>,
    /// The connection pooler, as configured (enabled or not).
    pub pooler: Option<Pooler>,
    /// Whether each database node has Supabase's IPv4 add-on.
    pub ipv4_addon: bool,
    /// Burstable CPUs, if modelled.
    pub cpu_burst: Option<CpuBurst>,
    /// The primary's provisioned disk, if not the plan's included size.
    pub disk_size: Option<Size>,
}

/// An alert as evaluated: threshold in the metric's unit.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertRule {
    /// Its name.
    pub name: String,
    /// What it watches.
    pub metric: AlertMetric,
    /// Fires above the threshold (else below).
    pub above: bool,
    /// In the metric's unit: ms for latency, a fraction for shares.
    pub threshold: f64,
    /// The window.
    pub window: Duration,
}

impl AlertRule {
    /// Whether a window's `value` fires the alert (never on NaN).
    pub fn fires(&self, value: f64) -> bool {
        if self.above {
            value > self.threshold
        } else {
            value < self.threshold
        }
    }
}

/// The connection alert of `slo.db_connection_alert`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ConnectionAlert {
    /// The connections it is set at.
    pub threshold: f64,
    /// The level a connection count must exceed to reach the threshold.
    pub fires_above: f64,
}

impl Scenario {
    /// The route `id` names.
    pub fn route(&self, id: RouteId) -> &Route {
        &self.routes[id.index()]
    }

    /// The alerts evaluated: the scenario's `alerts`, else the guide's
    /// checklist from `slo` (connections reaching `db_connection_alert` per
    /// minute; errors and p95 over the SLO, AI failures and rate-limit
    /// triggers, per `slo.window`).
    pub fn alert_rules(&self) -> Vec<AlertRule> {
        if let Some(alerts) = &self.alerts {
            return alerts.clone();
        }
        let slo = &self.slo;
        let rule = |name: &str, metric, threshold, window| AlertRule {
            name: name.into(),
            metric,
            above: true,
            threshold,
            window,
        };
        let mut rules = Vec::new();
        if let Some(level) = self.db_connection_alert() {
            rules.push(rule(
                "db_connections",
                AlertMetric::DbConnections,
                level.fires_above,
                Duration::from_secs(60),
            ));
        }
        rules.push(rule(
            "error_rate",
            AlertMetric::ErrorRate,
            slo.error_rate.0,
            slo.window,
        ));
        rules.push(rule(
            "p95_latency",
            AlertMetric::P95Latency,
            slo.p95_latency.secs() * 1_000.0,
            slo.window,
        ));
        if self.ai.is_some() {
            rules.push(rule(
                "ai_failures",
                AlertMetric::AiFailures,
                0.0,
                slo.window,
            ));
        }
        if !self.rate_limits.is_empty() {
            rules.push(rule(
                "rate_limited",
                AlertMetric::RateLimited,
                0.0,
                slo.window,
            ));
        }
        rules
    }

    /// `slo.db_connection_alert` as a count of connections, if set.
    pub fn db_connection_alert(&self) -> Option<ConnectionAlert> {
        let threshold = match self.slo.db_connection_alert? {
            ConnectionThreshold::Count(count) => f64::from(count),
            ConnectionThreshold::Share(share) => {
                share.0 * f64::from(self.database.max_connections().unwrap_or(0))
            }
        };
        Some(ConnectionAlert {
            threshold,
            // "Alert at 50" fires at 50: connections are whole, so over 49.5.
            fires_above: threshold - 0.5,
        })
    }

    /// The most users a tier of this stack may have: its users and its
    /// abusive clients share the 2^32 client ids.
    pub fn max_users(&self) -> u64 {
        let ids = MAX_USERS + 1;
        let most = match self.traffic.abusive_clients.as_ref().map(|c| c.count) {
            None => ids,
            Some(ClientCount::Count(count)) => ids.saturating_sub(count),
            // users + floor(users x share) clients.
            Some(ClientCount::Share(share)) => (ids as f64 / (1.0 + share.0)).floor() as u64,
        };
        most.min(MAX_USERS)
    }

    /// The measured span, [warm-up, horizon), in seconds.
    pub fn measured_secs(&self) -> f64 {
        (self.horizon.secs() - self.warmup.secs()).max(0.0)
    }

    /// Replaces the compute: `compute: auto` runs each tier on the sizes it tries.
    pub fn set_compute(&mut self, compute: Compute) {
        self.database.compute = Some(compute);
    }
}

impl Database {
    /// Postgres `max_connections`: as set, else the compute's.
    pub fn max_connections(&self) -> Option<u32> {
        self.max_connections
            .or_else(|| self.compute.map(|c| c.size().max_connections))
    }

    /// CPUs serving queries: as set, else the compute's; `None` means
    /// queries never wait for a CPU.
    pub fn cpus(&self) -> Option<u32> {
        self.cpus.or_else(|| self.compute.map(|c| c.size().cpus))
    }

    /// The pooler's client limit: as set, else the compute's, else
    /// PgBouncer's default of 100 (FACTS.md §1).
    pub fn max_client_conn(&self) -> u32 {
        self.pooler
            .as_ref()
            .and_then(|p| p.max_client_conn)
            .or_else(|| self.compute.map(|c| c.size().pooler_clients))
            .unwrap_or(100)
    }

    /// Whether instances connect through an enabled pooler.
    pub fn pooled(&self) -> bool {
        self.pooler.as_ref().is_some_and(|p| p.enabled)
    }
}
