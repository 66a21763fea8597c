//! The scenario file's types: one struct per YAML mapping, with the YAML's
//! key names, keeping where each value that needs checking was written.
//! Values check their own form while they are read (see [`super::units`]);
//! relations between keys are checked in [`super::validate`], and the file
//! is compiled into [`super::Scenario`] by [`super::compile`]. Types
//! without positions are shared with the compiled scenario.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_saphyr::{Location, Spanned};

use super::calendar::{Date, DayTime, Timezone};
use super::dist::{CountDist, DurationDist};
use super::units::{Amount, Count, Duration, Rate, Share, Size, Threshold, UserCount, Weight};

/// A whole scenario file.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Names the output folder.
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// Root of every random stream (1).
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Independent replications per tier (10).
    #[serde(default = "default_replications")]
    #[schemars(with = "u32")]
    pub replications: Spanned<u32>,
    /// Calendar date of day 1.
    pub start: Date,
    /// Zone of daily profiles and burst times.
    #[serde(default)]
    pub timezone: Timezone,
    /// Simulated time per replication (30 days: a month, as bills are).
    #[serde(default = "default_horizon")]
    #[schemars(with = "Duration")]
    pub horizon: Spanned<Duration>,
    /// Initial time excluded from statistics (none: every minute counts).
    #[serde(default)]
    #[schemars(with = "Option<Duration>")]
    pub warmup: Option<Spanned<Duration>>,
    /// User populations to simulate.
    #[schemars(with = "Vec<Tier>")]
    pub tiers: Spanned<Vec<Tier>>,
    /// Service-level objectives.
    pub slo: Slo,
    /// How users generate requests.
    pub traffic: Traffic,
    /// The endpoints.
    #[schemars(with = "Vec<Route>")]
    pub routes: Spanned<Vec<Route>>,
    /// Function deployments.
    #[schemars(with = "Vec<Function>")]
    pub functions: Spanned<Vec<Function>>,
    /// The Postgres database; required once a route sends queries.
    #[serde(default = "no_database")]
    #[schemars(with = "Database")]
    pub database: Spanned<Database>,
    /// Rate limiters by name, as routes refer to them.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, RateLimit>")]
    pub rate_limits: BTreeMap<String, Spanned<RateLimit>>,
    /// The Redis (Upstash) that limiters and app caches call.
    #[serde(default)]
    pub redis: Option<Redis>,
    /// The AI provider.
    #[serde(default)]
    #[schemars(with = "Option<Ai>")]
    pub ai: Option<Spanned<Ai>>,
    /// Plans and prices of the monthly cost projection; without it no
    /// `costs.csv` is written.
    #[serde(default)]
    #[schemars(with = "Option<Costs>")]
    pub costs: Option<Spanned<Costs>>,
    /// External APIs by name, as routes call them.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, External>")]
    pub externals: BTreeMap<String, Spanned<External>>,
    /// Scheduled background jobs.
    #[serde(default)]
    pub jobs: Vec<Job>,
    /// Vercel Image Optimization's cache of transformed images, which the
    /// pages' images (`routes[].page.images`) go through.
    #[serde(default)]
    #[schemars(with = "Option<Images>")]
    pub images: Option<Spanned<Images>>,
    /// Monitoring alerts, evaluated window by window on the simulated
    /// metrics (default: the guide's checklist, from `slo`).
    #[serde(default)]
    #[schemars(with = "Option<Vec<Alert>>")]
    pub alerts: Option<Spanned<Vec<Alert>>>,
}

/// One user population.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    /// Label in reports.
    pub name: String,
    /// Registered users (`50k`, `1.5M` allowed; at most 2,000,000,000, as
    /// users and abusive clients share 32-bit client ids).
    #[schemars(with = "UserCount")]
    pub users: Spanned<UserCount>,
    /// Stack changes for this tier: scenario keys merged over the scenario
    /// for this tier only (mappings key by key, lists and scalars replaced
    /// whole), e.g. `{ database: { pooler: { enabled: true } } }`.
    // Composition merges them before the file is read
    // (`Loaded::stack`), so the value itself is not read here.
    #[serde(default, rename = "set")]
    #[schemars(schema_with = "stack_changes")]
    pub _set: Option<Spanned<IgnoredAny>>,
}

/// `tiers[].set` is a part of a scenario, checked once merged: the schema
/// only says it is a mapping.
fn stack_changes(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
    })
}

/// Service-level objectives, judged on the worst window after warm-up.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Slo {
    /// Window length for SLO verdicts, a second or longer (a run closes
    /// and keeps every window).
    #[serde(
        default = "default_slo_window",
        deserialize_with = "a_second_or_longer"
    )]
    pub window: Duration,
    /// Target 95th-percentile latency of user-facing requests.
    pub p95_latency: Duration,
    /// Highest acceptable error rate.
    pub error_rate: Share,
    /// Alert threshold on open DB connections, reached at that many or more:
    /// a count or a share of `database.max_connections` (none: no connection
    /// alert or breakpoint).
    #[serde(default)]
    pub db_connection_alert: Option<ConnectionThreshold>,
}

fn a_second_or_longer<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Duration, D::Error> {
    let window = Duration::deserialize(deserializer)?;
    if window < Duration::from_secs(1) {
        return Err(serde::de::Error::custom(format!(
            "must be 1s or longer ({window} would make a run close and keep a window per {window})"
        )));
    }
    Ok(window)
}

fn default_slo_window() -> Duration {
    Duration::from_secs(300)
}

/// A connection count, or a share of the connection limit.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum ConnectionThreshold {
    /// An absolute count.
    Count(u32),
    /// A share of `max_connections`.
    Share(Share),
}

/// How users generate sessions and requests.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Traffic {
    /// Share of users active on a given day.
    pub daily_active_share: Share,
    /// Sessions per active user per day.
    #[schemars(with = "f64")]
    pub sessions_per_active_user: Spanned<f64>,
    /// Page requests in one session.
    #[schemars(with = "CountDist")]
    pub requests_per_session: Spanned<CountDist>,
    /// Time between a user's page requests.
    pub think_time: DurationDist,
    /// 24 hourly weights, normalised to mean 1.
    #[schemars(with = "Vec<f64>")]
    pub daily_profile: Spanned<Vec<f64>>,
    /// 7 daily weights, Monday first, normalised to mean 1 (none: every day
    /// alike).
    #[serde(default)]
    #[schemars(with = "Option<Vec<f64>>")]
    pub weekly_profile: Option<Spanned<Vec<f64>>>,
    /// Scheduled surges.
    #[serde(default)]
    pub bursts: Vec<Burst>,
    /// Users behind one IP address (NAT), for IP-keyed limits (1).
    #[serde(default)]
    #[schemars(with = "Option<f64>")]
    pub users_per_ip: Option<Spanned<f64>>,
    /// High-rate clients, the traffic rate limits exist for.
    #[serde(default)]
    pub abusive_clients: Option<AbusiveClients>,
}

/// Clients that send requests at a high rate, apart from the users.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AbusiveClients {
    /// How many, as a count (this or `share`).
    #[serde(default)]
    #[schemars(with = "Option<u64>")]
    pub count: Option<Spanned<u64>>,
    /// How many, as a share of the tier's users, rounded down (this or `count`).
    #[serde(default)]
    #[schemars(with = "Option<Share>")]
    pub share: Option<Spanned<Share>>,
    /// Requests per client while active.
    #[schemars(with = "Rate")]
    pub rate: Spanned<Rate>,
    /// Active time per client per day, one stretch at a random time of day.
    #[schemars(with = "Duration")]
    pub active_per_day: Spanned<Duration>,
    /// Routes they call, uniformly.
    #[schemars(with = "Vec<String>")]
    pub routes: Spanned<Vec<Spanned<String>>>,
}

/// A rate limiting algorithm of @upstash/ratelimit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Algorithm {
    /// Weighted count of the current and previous fixed windows.
    SlidingWindow,
    /// A counter per fixed window.
    FixedWindow,
    /// Tokens refilled per interval.
    TokenBucket,
}

/// What a limiter counts requests by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitKey {
    /// The signed-in user.
    User,
    /// The client IP address (users behind one NAT share it).
    Ip,
}

/// A named rate limiter.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// The algorithm.
    pub algorithm: Algorithm,
    /// Requests per window (windows), or bucket size (token bucket); required.
    #[serde(default)]
    pub limit: Option<u32>,
    /// Window length (windows: required; token bucket: not taken).
    #[serde(default)]
    pub window: Option<Duration>,
    /// Tokens added per interval (token bucket: required; windows: not taken).
    #[serde(default)]
    pub refill_rate: Option<u32>,
    /// Refill interval (token bucket: required; windows: not taken).
    #[serde(default)]
    pub interval: Option<Duration>,
    /// What requests are counted by.
    pub key: LimitKey,
    /// Whether each function instance answers identifiers it saw rejected
    /// from memory until their reset (@upstash/ratelimit's
    /// `ephemeralCache`, on unless the app passes `false`).
    #[serde(default = "ephemeral_cache_on")]
    pub ephemeral_cache: bool,
}

fn ephemeral_cache_on() -> bool {
    true
}

/// The Redis that limiters and app caches call.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Redis {
    /// Time of one call (an EVALSHA or GET) from a function.
    pub round_trip: DurationDist,
}

/// A scheduled surge: the session rate times `multiplier` for `duration`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Burst {
    /// Label.
    pub name: String,
    /// When it starts.
    pub at: DayTime,
    /// How long it lasts.
    pub duration: Duration,
    /// Factor on the session arrival rate.
    #[schemars(with = "f64")]
    pub multiplier: Spanned<f64>,
}

/// How a route reaches Postgres.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Deserialize, JsonSchema, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DbAccess {
    /// SQL over the instance's own connections.
    #[default]
    Sql,
    /// HTTP to PostgREST, whose pool holds the connections.
    DataApi,
}

/// The Postgres role a route's queries run as, which sets their statement
/// timeout (Supabase's defaults, FACTS.md §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DbRole {
    /// The Data API without a user: 3 s.
    Anon,
    /// The Data API as a signed-in user: 8 s.
    Authenticated,
    /// The Data API with the service key: 8 s (the authenticator's).
    ServiceRole,
    /// SQL as `postgres`: the global 2 minutes.
    Postgres,
}

/// Statement timeouts per role; each one set overrides Supabase's default.
#[derive(Clone, Copy, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StatementTimeouts {
    /// `anon` (Supabase's 3 s; 0s: none).
    #[serde(default)]
    pub anon: Option<Duration>,
    /// `authenticated` (Supabase's 8 s; 0s: none).
    #[serde(default)]
    pub authenticated: Option<Duration>,
    /// `service_role` (Supabase's 8 s; 0s: none).
    #[serde(default)]
    pub service_role: Option<Duration>,
    /// `postgres` (Supabase's 2 min; 0s: none).
    #[serde(default)]
    pub postgres: Option<Duration>,
}

impl StatementTimeouts {
    /// The timeout of `role`: as set, else Supabase's default (FACTS.md §2).
    pub fn of(&self, role: DbRole) -> Duration {
        match role {
            DbRole::Anon => self.anon.unwrap_or(Duration::from_secs(3)),
            DbRole::Authenticated => self.authenticated.unwrap_or(Duration::from_secs(8)),
            DbRole::ServiceRole => self.service_role.unwrap_or(Duration::from_secs(8)),
            DbRole::Postgres => self.postgres.unwrap_or(Duration::from_secs(120)),
        }
    }
}

/// A route's own SLO, or its exclusion from the scenario's.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum RouteSlo {
    /// `exclude`: not judged.
    Keyword(RouteSloKeyword),
    /// Judged on its own target.
    Own {
        /// Target p95 latency.
        p95_latency: Duration,
        /// What its latency is measured to.
        #[serde(default)]
        judge: Judge,
    },
}

/// What a route's latency is measured to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Judge {
    /// The whole response.
    #[default]
    Completion,
    /// The AI answer's first token, as a streamed chat shows it.
    FirstToken,
}

/// The keyword form of a route SLO.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteSloKeyword {
    /// Not judged against any latency SLO.
    Exclude,
}

/// An endpoint.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// Identifier used by `fan_out` and reports.
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// Method and path, for reports (none: the name alone).
    #[serde(default)]
    pub request: Option<String>,
    /// Relative share of session page requests (a number or a percentage;
    /// none: 0, reached only by `fan_out`, jobs, abusive clients or
    /// `per_user_per_month`).
    #[serde(default)]
    #[schemars(with = "Option<Weight>")]
    pub weight: Option<Spanned<Weight>>,
    /// The function deployment that serves it.
    #[schemars(with = "String")]
    pub function: Spanned<String>,
    /// Queries per request, run one after another.
    #[serde(default = "no_queries")]
    #[schemars(with = "u32")]
    pub queries: Spanned<u32>,
    /// Share of its queries that are reads, sent to a read replica when
    /// there are any (0).
    #[serde(default)]
    #[schemars(with = "Option<Share>")]
    pub read_share: Option<Spanned<Share>>,
    /// How queries reach Postgres (none: `database.db_access`).
    #[serde(default)]
    #[schemars(with = "Option<DbAccess>")]
    pub db_access: Option<Spanned<DbAccess>>,
    /// The role its queries run as (none: `database.db_role`, by default
    /// `postgres` for SQL and `authenticated` for the Data API).
    #[serde(default)]
    pub db_role: Option<DbRole>,
    /// CPU time in the handler, excluding queries and external calls.
    pub handler_time: DurationDist,
    /// Response body size (none: 0, no transfer billed).
    #[serde(default)]
    pub response_size: Option<Size>,
    /// Routes called in parallel with this one.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub fan_out: Vec<Spanned<String>>,
    /// Own latency SLO or exclusion (none: `slo.p95_latency`, judged on completion).
    #[serde(default)]
    pub slo: Option<RouteSlo>,
    /// CDN caching of its responses (none: not cached).
    #[serde(default)]
    #[schemars(with = "Option<Cache>")]
    pub cache: Option<Spanned<Cache>>,
    /// The rate limiter its handler checks first (none: not limited).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub rate_limit: Option<Spanned<String>>,
    /// Messages per user per 30-day month, instead of a session weight
    /// (none: the route is reached by its `weight`).
    #[serde(default)]
    #[schemars(with = "Option<f64>")]
    pub per_user_per_month: Option<Spanned<f64>>,
    /// How those messages group into conversations.
    #[serde(default)]
    pub conversation: Option<Conversation>,
    /// How the volume skews toward heavy users.
    #[serde(default)]
    #[schemars(with = "Option<HeavyUsers>")]
    pub heavy_users: Option<Spanned<HeavyUsers>>,
    /// The AI call the route makes after its queries.
    #[serde(default)]
    pub ai: Option<RouteAi>,
    /// Calls to external APIs after its queries, one after another.
    #[serde(default)]
    #[schemars(with = "Vec<ExternalCall>")]
    pub externals: Vec<Spanned<ExternalCall>>,
    /// A Redis cache in front of the route's queries.
    #[serde(default)]
    #[schemars(with = "Option<AppCache>")]
    pub app_cache: Option<Spanned<AppCache>>,
    /// Bytes of the request the function receives, headers included
    /// (Fast Origin Transfer; 1 KB).
    #[serde(default)]
    pub request_size: Option<Size>,
    /// Bytes its queries return in all (Supabase egress; its
    /// `response_size`).
    #[serde(default)]
    pub db_result_size: Option<Size>,
    /// The page a user's request of this route stands for: the static
    /// files and images the browser loads with it.
    #[serde(default)]
    pub page: Option<PageView>,
}

/// What the browser loads from Vercel's CDN with one page view, after its
/// own cache: each file and image is one edge request.
#[derive(Clone, Copy, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PageView {
    /// Static files (scripts, styles, fonts) requested.
    #[serde(default)]
    pub assets: u32,
    /// Their bytes in all.
    #[serde(default)]
    pub asset_bytes: Size,
    /// Optimized images requested (`next/image`).
    #[serde(default)]
    pub images: u32,
}

/// Vercel Image Optimization: each image request is a cache read while its
/// transformed image is cached, else a transformation and a cache write.
#[derive(Clone, Copy, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Images {
    /// Distinct transformed images (source images times widths).
    pub variants: u32,
    /// How requests spread over them (uniform without it).
    #[serde(default)]
    pub popularity: Option<Popularity>,
    /// How long a transformed image stays cached.
    pub ttl: Duration,
    /// Bytes of one transformed image (cache reads and writes are billed
    /// in 8 KB units).
    pub size: Size,
}

/// A scheduled job (Vercel Cron style) fanning out tasks into a route.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Job {
    /// Label.
    pub name: String,
    /// First run.
    pub at: DayTime,
    /// Time between runs (one run if absent).
    #[serde(default)]
    pub every: Option<Duration>,
    /// Tasks per run.
    #[schemars(with = "u32")]
    pub tasks: Spanned<u32>,
    /// The route each task runs as a request of.
    #[schemars(with = "String")]
    pub route: Spanned<String>,
    /// A queue in front of the tasks (Inngest, Trigger.dev); without it
    /// every task starts at once.
    #[serde(default)]
    pub queue: Option<JobQueue>,
}

/// A job queue.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JobQueue {
    /// Tasks in flight at most.
    #[schemars(with = "u32")]
    pub concurrency: Spanned<u32>,
}

/// An external API (NHTSA, EPA, YouTube Data API, an embeddings API...).
#[derive(Clone, Copy, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct External {
    /// Time of one call.
    pub latency: DurationDist,
    /// How long the app caches a response (no cache if absent).
    #[serde(default)]
    pub cache_ttl: Option<Duration>,
    /// Distinct requests (cache keys).
    #[serde(default = "one_key")]
    pub keys: u32,
    /// How calls spread over the keys (uniform if absent).
    #[serde(default)]
    pub popularity: Option<Popularity>,
    /// Units allowed per period, e.g. "10000/d" (none if absent); the count
    /// resets at each period boundary.
    #[serde(default)]
    pub quota: Option<Rate>,
    /// USD per call (read by the cost model).
    #[serde(default)]
    pub price_per_call: Amount,
}

/// A route's call to an external API.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExternalCall {
    /// The API, a key of `externals`.
    pub api: String,
    /// Quota units the call costs (YouTube: 100 for a search, 1 for a list).
    #[serde(default = "one_unit")]
    pub units: u32,
}

fn one_unit() -> u32 {
    1
}

/// Messages of one conversation and the gap between them.
#[derive(Clone, Copy, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Conversation {
    /// Messages per conversation.
    pub messages: CountDist,
    /// Time between a conversation's messages.
    pub gap: DurationDist,
}

/// A share of users sending a share of the volume.
#[derive(Clone, Copy, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HeavyUsers {
    /// Share of the users who are heavy.
    pub share: Share,
    /// Share of the messages they send.
    pub volume_share: Share,
}

/// A token count: a number or a count distribution.
#[derive(Clone, Copy, Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Tokens {
    /// Always this many.
    Fixed(u32),
    /// Drawn per call.
    Drawn(CountDist),
}

impl Tokens {
    /// The distribution.
    pub fn dist(self) -> CountDist {
        match self {
            Tokens::Fixed(value) => CountDist::Constant(value),
            Tokens::Drawn(dist) => dist,
        }
    }
}

/// A route's AI call.
#[derive(Clone, Copy, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteAi {
    /// Prompt tokens.
    pub input_tokens: Tokens,
    /// Answer tokens.
    pub output_tokens: Tokens,
    /// The prompt's cached prefix, if the app marks one with `cache_control`.
    #[serde(default)]
    pub prompt_cache: Option<PromptCache>,
}

/// A prompt prefix cached by the provider (Anthropic's prompt caching).
#[derive(Clone, Copy, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PromptCache {
    /// Share of the input tokens in the cached prefix.
    pub prefix: Share,
    /// How long an entry lives after its last use.
    #[serde(default)]
    pub ttl: CacheTtl,
    /// Whose prefix it is.
    pub per: CacheScope,
}

/// Anthropic's two cache lifetimes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema, Serialize)]
pub enum CacheTtl {
    /// 5 minutes, the default; writes cost 1.25x input.
    #[default]
    #[serde(rename = "5m")]
    FiveMinutes,
    /// 1 hour; writes cost 2x input.
    #[serde(rename = "1h")]
    OneHour,
}

/// Which calls share a cached prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheScope {
    /// Every call of the route (a system prompt and tools).
    Route,
    /// Each conversation's messages (its history so far).
    Conversation,
}

/// Anthropic's usage tiers (FACTS.md §7): each sets the rate limits and a
/// monthly spend cap.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AiTier {
    /// $500 a month.
    Start,
    /// $1,000 a month.
    Build,
    /// $200,000 a month.
    Scale,
    /// Limits arranged with Anthropic: no cap, `limits` as given.
    Custom,
}

/// Which of Anthropic's rate-limit and caching classes the model is in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelClass {
    /// Sonnet 4.x and 5.
    #[default]
    Sonnet,
    /// Haiku 4.5.
    Haiku,
    /// Opus 4.x and 5.
    Opus,
    /// Fable 5.x.
    Fable,
}

/// The AI provider: latency, limits, errors, outages, the SDK's retries and
/// the app's circuit breaker and throttle.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Ai {
    /// Model name, for reports (none: the class's name).
    #[serde(default)]
    pub model: Option<String>,
    /// Its rate-limit class, for the tier's limits and the shortest
    /// cacheable prefix.
    #[serde(default)]
    pub model_class: ModelClass,
    /// The organisation's usage tier: rate limits and monthly spend cap
    /// (none: no tier limits, only `limits`).
    #[serde(default)]
    #[schemars(with = "Option<AiTier>")]
    pub tier: Option<Spanned<AiTier>>,
    /// A monthly spend limit the organisation set below its tier's cap
    /// (none: the tier's cap alone).
    #[serde(default)]
    #[schemars(with = "Option<Amount>")]
    pub spend_limit: Option<Spanned<Amount>>,
    /// Spent already in the calendar month the scenario starts in (none: $0).
    #[serde(default)]
    pub spent_before_start: Option<Amount>,
    /// The shortest prefix the provider caches, tokens (none: the model
    /// class's published minimum).
    #[serde(default)]
    pub min_cacheable_tokens: Option<u32>,
    /// USD per million tokens (read by the cost model).
    #[serde(default)]
    pub price_per_mtok: Option<TokenPrices>,
    /// Time to the first output token.
    pub time_to_first_token: DurationDist,
    /// Output speed after the first token.
    #[schemars(with = "f64")]
    pub output_tokens_per_second: Spanned<f64>,
    /// Provider limits, token buckets refilled continuously (each one set
    /// overrides the tier's; `~` leaves the tier's).
    #[serde(default)]
    pub limits: Option<AiLimits>,
    /// Share of calls answered 529 (overloaded) (0).
    #[serde(default)]
    pub error_rate: Share,
    /// Windows in which every call is answered 529.
    #[serde(default)]
    pub outages: Vec<Outage>,
    /// The SDK's retries (none: `{ max: 2, base: 500ms, cap: 8s }`, the
    /// Anthropic SDK's).
    #[serde(default = "default_retries")]
    #[schemars(with = "Retries")]
    pub retries: Spanned<Retries>,
    /// The app's circuit breaker around the SDK call.
    #[serde(default)]
    #[schemars(with = "Option<CircuitBreaker>")]
    pub circuit_breaker: Option<Spanned<CircuitBreaker>>,
    /// The app's cap on AI calls in flight at once (a shared semaphore);
    /// calls over it wait first come, first served (none: no cap).
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    pub max_in_flight: Option<Spanned<u32>>,
}

/// Prices per million tokens.
#[derive(Clone, Copy, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenPrices {
    /// Input tokens.
    pub input: Amount,
    /// Output tokens.
    pub output: Amount,
    /// Cache writes with the 5-minute lifetime (none: 1.25x input).
    #[serde(default)]
    pub cache_write_5m: Option<Amount>,
    /// Cache writes with the 1-hour lifetime (none: 2x input).
    #[serde(default)]
    pub cache_write_1h: Option<Amount>,
    /// Cache reads (none: 0.1x input).
    #[serde(default)]
    pub cache_read: Option<Amount>,
}

/// Provider rate limits (Anthropic: requests, input and output tokens per minute).
#[derive(Clone, Copy, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AiLimits {
    /// Requests (none: the tier's).
    #[serde(default)]
    pub requests: Option<Rate>,
    /// Input tokens (none: the tier's).
    #[serde(default)]
    pub input_tokens: Option<Rate>,
    /// Output tokens (none: the tier's).
    #[serde(default)]
    pub output_tokens: Option<Rate>,
}

/// A window in which the provider answers every call with 529.
#[derive(Clone, Copy, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Outage {
    /// When it starts.
    pub at: DayTime,
    /// How long it lasts.
    pub duration: Duration,
}

/// The SDK's retries: exponential backoff with jitter, honouring retry-after.
#[derive(Clone, Copy, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Retries {
    /// Retries after the first attempt.
    pub max: u32,
    /// First backoff.
    pub base: Duration,
    /// Largest backoff.
    pub cap: Duration,
}

fn default_retries() -> Spanned<Retries> {
    Spanned::new(Retries::default(), Location::UNKNOWN, Location::UNKNOWN)
}

impl Default for Retries {
    /// The Anthropic TypeScript SDK's: 2 retries, 0.5 s doubling to 8 s (FACTS.md §7).
    fn default() -> Self {
        Self {
            max: 2,
            base: Duration(500_000_000),
            cap: Duration::from_secs(8),
        }
    }
}

/// Where a circuit breaker's state lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Deserialize, JsonSchema, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerScope {
    /// In each function instance's memory, as module-level variables are.
    #[default]
    Instance,
    /// Shared by every instance (a store such as Redis).
    Global,
}

/// A circuit breaker: open after `failure_threshold` consecutive failures,
/// half-open with one probe after `reset_timeout`.
#[derive(Clone, Copy, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CircuitBreaker {
    /// Consecutive failures that open it.
    pub failure_threshold: u32,
    /// Time open before a probe may pass.
    pub reset_timeout: Duration,
    /// Where its state lives.
    #[serde(default)]
    pub scope: BreakerScope,
}

/// How the CDN may cache a route's responses.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Cache {
    /// `private`: never stored by the CDN.
    Keyword(CacheKeyword),
    /// `s-maxage` caching.
    Shared(SharedCache),
}

/// The keyword form of `cache`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheKeyword {
    /// `Cache-Control: private`: every request reaches the function.
    Private,
}

/// `Cache-Control: s-maxage=.., stale-while-revalidate=..` over `keys` URLs.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SharedCache {
    /// Time a response stays fresh.
    pub s_maxage: Duration,
    /// Time after that it may be served stale while revalidated.
    #[serde(default)]
    pub stale_while_revalidate: Duration,
    /// Distinct cache keys (URLs) of the route.
    #[serde(default = "one_key")]
    pub keys: u32,
    /// How requests spread over the keys (uniform if absent).
    #[serde(default)]
    pub popularity: Option<Popularity>,
}

fn one_key() -> u32 {
    1
}

/// A Redis cache in front of a route's queries: a hit skips them.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AppCache {
    /// How long a stored result is served.
    pub ttl: Duration,
    /// Distinct cache keys of the route.
    #[serde(default = "one_key")]
    pub keys: u32,
    /// How requests spread over the keys (uniform if absent).
    #[serde(default)]
    pub popularity: Option<Popularity>,
}

/// A popularity law over cache keys.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Popularity {
    /// Zipf exponent: key k is requested in proportion to 1/k^zipf.
    pub zipf: f64,
}

/// Which idle instance takes a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Deserialize, JsonSchema, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reuse {
    /// The most recently created.
    #[default]
    Newest,
    /// The most recently used.
    Mru,
    /// The least recently used.
    Lru,
    /// Uniformly at random.
    Random,
}

/// What happens to a request no instance can take.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Deserialize, JsonSchema, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Overflow {
    /// Answer 503 (FUNCTION_THROTTLED).
    #[default]
    Reject,
    /// Wait, first come first served, for a free instance.
    Queue,
}

/// How a function's instances run requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Deserialize, JsonSchema, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FunctionModel {
    /// Classic serverless: one request per instance, nothing kept warm.
    #[default]
    Classic,
    /// Vercel's Fluid compute: several requests per instance sharing its
    /// vCPUs; a production deployment keeps one instance warm.
    Fluid,
}

/// A function deployment with its own instance pool.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Function {
    /// Identifier used by routes.
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// Classic or Fluid: sets the defaults of `concurrency` and `min_instances`.
    #[serde(default)]
    pub model: FunctionModel,
    /// Requests one instance serves at once (none: 1 for classic; Fluid:
    /// required).
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    pub concurrency: Option<Spanned<u32>>,
    /// Start-up time of a new instance.
    pub cold_start: DurationDist,
    /// Idle time after which an instance is reclaimed (default 10m, an
    /// assumption: Vercel publishes no number; a secondary source reports 5
    /// to 15 minutes, FACTS.md §4, and 10m is its midpoint).
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout: Duration,
    /// Which idle instance takes a request.
    #[serde(default)]
    pub reuse: Reuse,
    /// Instances kept warm (none: 0 for classic; 1 for Fluid, "scale to
    /// one").
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    pub min_instances: Option<Spanned<u32>>,
    /// Concurrency limit.
    #[serde(default = "default_max_instances")]
    #[schemars(with = "u32")]
    pub max_instances: Spanned<u32>,
    /// Burst limit on new instances (none: no limit but `max_instances`).
    #[serde(default)]
    #[schemars(with = "Option<Rate>")]
    pub scale_rate: Option<Spanned<Rate>>,
    /// Reject or queue what no instance can take.
    #[serde(default)]
    pub overflow: Overflow,
    /// Memory per instance.
    #[serde(default = "default_memory")]
    pub memory: Size,
    /// Longest a request may run (then 504).
    #[serde(default = "default_max_duration")]
    pub max_duration: Duration,
}

/// The database of a scenario without one: no route queries it (validation
/// requires a written one otherwise), so none of its numbers is used.
fn no_database() -> Spanned<Database> {
    let database = serde_saphyr::from_str::<Database>(
        "{ max_connections: 1000000, connect_time: 0s, query_time: 0s }",
    )
    .expect("a constant database that parses");
    Spanned::new(database, Location::UNKNOWN, Location::UNKNOWN)
}

fn default_idle_timeout() -> Duration {
    Duration::from_secs(600)
}

fn default_seed() -> u64 {
    1
}

fn default_replications() -> Spanned<u32> {
    Spanned::new(10, Location::UNKNOWN, Location::UNKNOWN)
}

fn default_horizon() -> Spanned<Duration> {
    Spanned::new(
        Duration::from_secs(30 * 86_400),
        Location::UNKNOWN,
        Location::UNKNOWN,
    )
}

fn no_queries() -> Spanned<u32> {
    Spanned::new(0, Location::UNKNOWN, Location::UNKNOWN)
}

fn one() -> Spanned<u32> {
    Spanned::new(1, Location::UNKNOWN, Location::UNKNOWN)
}

fn default_max_instances() -> Spanned<u32> {
    // Vercel Hobby and Pro: 30,000 concurrent executions (FACTS.md §4).
    Spanned::new(30_000, Location::UNKNOWN, Location::UNKNOWN)
}

fn default_memory() -> Size {
    // Vercel's default on every plan: "2 GB (1 vCPU)" (FACTS.md §4).
    Size(2 << 30)
}

fn default_max_duration() -> Duration {
    // Vercel's default maximum duration, all plans (FACTS.md §4).
    Duration::from_secs(300)
}

/// The Postgres database.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Database {
    /// Postgres `max_connections` (none: the `compute`'s; required without one).
    #[schemars(with = "Option<u32>")]
    pub max_connections: Option<Spanned<u32>>,
    /// Connections held by the platform's own services (0).
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    pub platform_connections: Option<Spanned<u32>>,
    /// Time to open one connection.
    pub connect_time: DurationDist,
    /// Time one query takes.
    pub query_time: DurationDist,
    /// Connections each instance opens and holds.
    #[serde(default = "one")]
    #[schemars(with = "u32")]
    pub connections_per_instance: Spanned<u32>,
    /// How long a reclaimed instance's connections stay open.
    #[serde(default)]
    pub close_delay: Duration,
    /// Compute size from the provider's ladder: sets the defaults of
    /// `max_connections`, `cpus` and the pooler's `max_client_conn` (none: those
    /// are written; `auto`: the cheapest size that holds the demand).
    #[serde(default)]
    #[schemars(with = "Option<Compute>")]
    pub compute: Option<Spanned<Compute>>,
    /// CPUs that serve queries, one at a time each (unlimited if absent).
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    pub cpus: Option<Spanned<u32>>,
    /// Read replicas, each with the primary's compute, limits and pool (0;
    /// at most 255).
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    pub read_replicas: Option<Spanned<u32>>,
    /// PostgREST's connections, for routes with `db_access: data_api` (10).
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    pub data_api_pool: Option<Spanned<u32>>,
    /// Longest a Data API request waits for one of those connections.
    #[serde(default = "default_data_api_timeout")]
    pub data_api_timeout: Duration,
    /// Longest a query waits for one of its instance's connections before
    /// the driver fails it (node-postgres `connectionTimeoutMillis`); none:
    /// it waits until the request's `max_duration`.
    #[serde(default)]
    pub connection_timeout: Option<Duration>,
    /// A connection pooler between the instances and Postgres.
    #[serde(default)]
    pub pooler: Option<Pooler>,
    /// Statement timeouts per role.
    #[serde(default)]
    pub statement_timeouts: StatementTimeouts,
    /// Burstable CPUs (computes below Large): the baseline they sustain and
    /// the credits that let them run above it.
    #[serde(default)]
    #[schemars(with = "Option<CpuBurst>")]
    pub cpu_burst: Option<Spanned<CpuBurst>>,
    /// Supabase's IPv4 add-on: a direct connection or the dedicated
    /// PgBouncer reachable from IPv4-only Vercel ($0.0055 an hour a database:
    /// $3.96 a 30-day month, "$4 per month" in Supabase's words).
    #[serde(default)]
    pub ipv4_addon: bool,
    /// How routes reach Postgres unless they say (`routes[].db_access`;
    /// `sql`): supabase-js code goes through the Data API.
    #[serde(default)]
    pub db_access: Option<DbAccess>,
    /// The role routes' queries run as unless they say (`routes[].db_role`;
    /// by access: `postgres` for SQL, `authenticated` for the Data API).
    #[serde(default)]
    pub db_role: Option<DbRole>,
    /// The primary's provisioned disk (none: the plan's included 8 GB);
    /// Supabase bills what exceeds it (a read replica's 1.25 times as much
    /// in full).
    #[serde(default)]
    pub disk_size: Option<Size>,
}

fn default_data_api_timeout() -> Duration {
    // assumption: PostgREST answers 504 after its db-pool-acquisition-timeout
    // (docs.postgrest.org, "Connection Pool"); 10 s, a value often used.
    Duration::from_secs(10)
}

/// A compute size of Supabase's ladder (FACTS.md §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compute {
    /// Free tier.
    Nano,
    /// Pro's default.
    Micro,
    /// Small.
    Small,
    /// Medium.
    Medium,
    /// Large.
    Large,
    /// XL.
    Xl,
    /// 2XL.
    #[serde(rename = "2xl")]
    Xl2,
    /// 4XL.
    #[serde(rename = "4xl")]
    Xl4,
    /// 8XL.
    #[serde(rename = "8xl")]
    Xl8,
    /// 12XL.
    #[serde(rename = "12xl")]
    Xl12,
    /// 16XL.
    #[serde(rename = "16xl")]
    Xl16,
    /// The cheapest size whose connection limit covers the connections the
    /// run demands at its peak; the run searches the ladder from Micro.
    Auto,
}

/// Pool modes of PgBouncer and Supavisor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Deserialize, JsonSchema, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PoolMode {
    /// A server connection is held for one transaction.
    #[default]
    Transaction,
    /// A server connection is held for the client connection's life.
    Session,
}

/// A PgBouncer-style connection pooler.
#[derive(Clone, Copy, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Pooler {
    /// Whether instances connect through it (else directly).
    pub enabled: bool,
    /// Supabase's dedicated PgBouncer or its shared Supavisor.
    #[serde(default)]
    pub kind: PoolerKind,
    /// When a server connection is given back.
    #[serde(default)]
    pub mode: PoolMode,
    /// Server connections the pool opens at most (PgBouncer: 20; Supavisor:
    /// required, Supabase publishes no default per compute).
    #[serde(default)]
    pub default_pool_size: Option<Count>,
    /// Extra server connections for clients that waited `reserve_pool_timeout`.
    #[serde(default)]
    pub reserve_pool_size: u32,
    /// Wait after which the reserve may be used.
    #[serde(default = "default_reserve_pool_timeout")]
    pub reserve_pool_timeout: Duration,
    /// Client connections accepted at most (default: the compute's pooler limit, else 100).
    #[serde(default)]
    pub max_client_conn: Option<u32>,
    /// Longest a query waits for a server connection before the client is
    /// dropped (PgBouncer's `query_wait_timeout`, 120 s; Supavisor's
    /// checkout timeout, 60 s).
    #[serde(default)]
    pub query_wait_timeout: Option<Duration>,
    /// Idle time after which a server connection is closed (PgBouncer
    /// 600 s; Supavisor 5 minutes).
    #[serde(default)]
    pub server_idle_timeout: Option<Duration>,
    /// Supavisor: the round trip its separate server adds to each query
    /// (required: Supabase publishes no figure).
    #[serde(default)]
    pub round_trip: Option<Duration>,
}

/// Burstable CPUs: each earns credits at `baseline` of its time and spends
/// them running queries; with too few left for a query, the query runs at
/// the baseline's speed (Supabase publishes no figures: FACTS.md §2).
#[derive(Clone, Copy, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CpuBurst {
    /// Share of each CPU sustained without credits.
    pub baseline: Share,
    /// Credits a full bank holds, as time of earning (AWS T instances: 24h).
    pub bank: Duration,
}

/// Which of Supabase's poolers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PoolerKind {
    /// The dedicated PgBouncer on the database's machine (paid plans;
    /// transaction mode; IPv6, or IPv4 with the add-on).
    #[default]
    Pgbouncer,
    /// The shared Supavisor on its own servers (IPv4 on every plan).
    Supavisor,
}

impl Pooler {
    /// Server connections the pool opens at most (PgBouncer's default 20,
    /// FACTS.md §1; Supavisor's must be given).
    pub fn pool_size(&self) -> u32 {
        self.default_pool_size.map_or(20, |c| c.0)
    }

    /// The longest wait for a server connection: as set, else PgBouncer's
    /// `query_wait_timeout` (120 s) or Supavisor's checkout timeout (60 s).
    pub fn wait_timeout(&self) -> Duration {
        self.query_wait_timeout.unwrap_or(match self.kind {
            PoolerKind::Pgbouncer => Duration::from_secs(120),
            PoolerKind::Supavisor => Duration::from_secs(60),
        })
    }

    /// Idle time before a server connection closes: as set, else
    /// PgBouncer's 600 s or Supavisor's 5 minutes (FACTS.md §2).
    pub fn idle_timeout(&self) -> Duration {
        self.server_idle_timeout.unwrap_or(match self.kind {
            PoolerKind::Pgbouncer => Duration::from_secs(600),
            PoolerKind::Supavisor => Duration::from_secs(300),
        })
    }
}

// PgBouncer's default (FACTS.md §1).
fn default_reserve_pool_timeout() -> Duration {
    Duration::from_secs(5)
}

impl Scenario {
    /// The routes' names, in order.
    pub fn route_names(&self) -> Vec<&str> {
        self.routes
            .value
            .iter()
            .map(|r| r.name.value.as_str())
            .collect()
    }

    /// The warm-up: nothing before it is measured.
    pub fn warmup(&self) -> Duration {
        self.warmup
            .as_ref()
            .map_or(Duration::from_secs(0), |w| w.value)
    }

    /// The measured span, [warm-up, horizon), in seconds.
    pub fn measured_secs(&self) -> f64 {
        (self.horizon.value.secs() - self.warmup().secs()).max(0.0)
    }
}

impl Database {
    /// Postgres `max_connections`: the explicit key, else the compute's.
    pub fn max_connections(&self) -> Option<u32> {
        self.max_connections.as_ref().map(|m| m.value).or_else(|| {
            self.compute
                .as_ref()
                .map(|c| c.value.size().max_connections)
        })
    }

    /// PostgREST's pool size: the explicit key, else 10 (assumption:
    /// PostgREST's own default `db-pool`).
    pub fn data_api_pool(&self) -> u32 {
        self.data_api_pool.as_ref().map_or(10, |p| p.value)
    }
}

/// The monthly cost projection: plans, seats and prices per provider. Every
/// price left out takes the plan's published figure (FACTS.md §2, §4, §6);
/// Claude's come from `ai.price_per_mtok`, an external API's from its
/// `price_per_call`.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Costs {
    /// Project a month from a horizon under a week (weekly patterns and
    /// bursts may be missed, so it must be asked for).
    #[serde(default)]
    pub allow_short_horizon: bool,
    /// Vercel: plan, seats, billing model and prices.
    #[serde(default)]
    pub vercel: VercelCosts,
    /// Supabase: plan and prices.
    #[serde(default)]
    pub supabase: SupabaseCosts,
    /// Upstash Redis, pay as you go.
    #[serde(default)]
    pub upstash: UpstashCosts,
}

/// Vercel's plan and meters; each price or included amount overrides the plan's.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VercelCosts {
    /// Hobby or Pro.
    #[serde(default)]
    pub plan: VercelPlan,
    /// Paid seats (Pro).
    #[serde(default = "one_seat")]
    pub seats: Count,
    /// Fluid compute (Active CPU and provisioned memory) or the legacy
    /// wall-clock GB-hours.
    #[serde(default)]
    pub billing: VercelBilling,
    /// Fluid: which part of an instance's life its memory is billed for.
    #[serde(default)]
    pub memory_billed: MemoryBilled,
    /// USD per seat per month (none: the plan's, FACTS.md §4).
    pub seat_price: Option<Amount>,
    /// Usage credit per month, USD, spent on metered usage before any is
    /// billed (the plan's, not per seat; none: the plan's, FACTS.md §4).
    pub usage_credit: Option<Amount>,
    /// How CDN requests and Fast Data Transfer are billed.
    #[serde(default)]
    pub cdn: CdnBilling,
    /// Fluid: USD per Active CPU hour (none: the plan's, FACTS.md §4).
    pub cpu_hour: Option<Amount>,
    /// Fluid: Active CPU hours included per month (none: the plan's, FACTS.md §4).
    pub included_cpu_hours: Option<Amount>,
    /// Fluid: USD per provisioned memory GB-hour (none: the plan's, FACTS.md §4).
    pub memory_gb_hour: Option<Amount>,
    /// Fluid: provisioned memory GB-hours included per month (none: the plan's, FACTS.md §4).
    pub included_memory_gb_hours: Option<Amount>,
    /// Legacy: USD per wall-clock GB-hour (none: the plan's, FACTS.md §4).
    pub legacy_gb_hour: Option<Amount>,
    /// Legacy: wall-clock GB-hours included per month (none: the plan's, FACTS.md §4).
    pub legacy_included_gb_hours: Option<Amount>,
    /// USD per million invocations (none: the plan's, FACTS.md §4).
    pub per_million_invocations: Option<Amount>,
    /// Invocations included per month (none: the plan's, FACTS.md §4).
    pub included_invocations: Option<Amount>,
    /// USD per million edge requests (none: the plan's, FACTS.md §4).
    pub per_million_edge_requests: Option<Amount>,
    /// Edge requests included per month (none: the plan's, FACTS.md §4).
    pub included_edge_requests: Option<Amount>,
    /// USD per GB of Fast Data Transfer (none: the plan's, FACTS.md §4).
    pub transfer_per_gb: Option<Amount>,
    /// GB of Fast Data Transfer included per month (none: the plan's, FACTS.md §4).
    pub included_transfer_gb: Option<Amount>,
    /// USD per GB of Fast Origin Transfer (CDN to functions and back) (none: the plan's, FACTS.md §4).
    pub origin_transfer_per_gb: Option<Amount>,
    /// USD per 1,000 image transformations (none: the plan's, FACTS.md §4).
    pub image_transformations_per_1k: Option<Amount>,
    /// USD per million image cache reads (8 KB units) (none: the plan's, FACTS.md §4).
    pub image_cache_reads_per_1m: Option<Amount>,
    /// USD per million image cache writes (8 KB units) (none: the plan's, FACTS.md §4).
    pub image_cache_writes_per_1m: Option<Amount>,
}

/// How Vercel bills CDN requests and Fast Data Transfer on Pro.
#[derive(Clone, Copy, Debug, Default, Deserialize, JsonSchema, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum CdnBilling {
    /// Flat Rate CDN: a fixed monthly tier sized to the month's requests
    /// and transfer (new Pro teams' default since 2026-09-08).
    #[default]
    FlatRate,
    /// Per request and per GB beyond the included amounts.
    OnDemand,
}

impl Default for VercelCosts {
    fn default() -> Self {
        Self {
            plan: VercelPlan::default(),
            seats: one_seat(),
            billing: VercelBilling::default(),
            memory_billed: MemoryBilled::default(),
            seat_price: None,
            usage_credit: None,
            cdn: CdnBilling::default(),
            cpu_hour: None,
            included_cpu_hours: None,
            memory_gb_hour: None,
            included_memory_gb_hours: None,
            legacy_gb_hour: None,
            legacy_included_gb_hours: None,
            per_million_invocations: None,
            included_invocations: None,
            per_million_edge_requests: None,
            included_edge_requests: None,
            transfer_per_gb: None,
            included_transfer_gb: None,
            origin_transfer_per_gb: None,
            image_transformations_per_1k: None,
            image_cache_reads_per_1m: None,
            image_cache_writes_per_1m: None,
        }
    }
}

fn one_seat() -> Count {
    Count(1)
}

/// Vercel's plans.
#[derive(Clone, Copy, Debug, Default, Deserialize, JsonSchema, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum VercelPlan {
    /// Free, non-commercial; no overage can be bought.
    Hobby,
    /// $20 per seat.
    #[default]
    Pro,
}

/// How Vercel bills function time.
#[derive(Clone, Copy, Debug, Default, Deserialize, JsonSchema, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum VercelBilling {
    /// Active CPU time plus provisioned memory over instance lifetimes.
    #[default]
    Fluid,
    /// Memory times wall-clock invocation time.
    Legacy,
}

/// Which part of an instance's life Fluid bills its memory for. Vercel's
/// pricing page says both "billed for the entire instance lifetime" and
/// "after all requests complete, the instance is paused, and no CPU or
/// memory charges apply until the next invocation" (FACTS.md §4).
#[derive(Clone, Copy, Debug, Default, Deserialize, JsonSchema, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum MemoryBilled {
    /// While it has a request in flight (its cold start included).
    #[default]
    InFlight,
    /// From its start until it is reclaimed, idle time included.
    Lifetime,
}

/// Supabase's plan; compute comes from `database.compute`.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SupabaseCosts {
    /// Free, Pro or Team.
    #[serde(default)]
    pub plan: SupabasePlan,
    /// USD per month for the plan (none: the plan's, FACTS.md §2).
    pub plan_price: Option<Amount>,
    /// Compute credit per month, USD (none: the plan's, FACTS.md §2).
    pub compute_credit: Option<Amount>,
    /// USD per compute hour, instead of the ladder's price for the compute
    /// size (none: the ladder's).
    pub compute_hour: Option<Amount>,
    /// Whether the app signs users in with Supabase Auth, whose monthly
    /// active users are billed beyond the plan's quota.
    #[serde(default)]
    pub auth: bool,
    /// USD per GB of egress beyond the plan's quota (none: the plan's).
    pub egress_per_gb: Option<Amount>,
    /// USD per GB-month of disk beyond the plan's quota (none: the plan's).
    pub disk_per_gb: Option<Amount>,
    /// USD per monthly active user beyond the plan's quota (none: the plan's).
    pub per_mau: Option<Amount>,
}

/// Supabase's plans.
#[derive(Clone, Copy, Debug, Default, Deserialize, JsonSchema, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SupabasePlan {
    /// $0, Nano compute only.
    Free,
    /// $25 with a $10 compute credit.
    #[default]
    Pro,
    /// $599 with a $10 compute credit.
    Team,
}

/// Upstash Redis: pay as you go or a fixed plan.
#[derive(Clone, Copy, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpstashCosts {
    /// The plan.
    #[serde(default)]
    pub plan: UpstashPlan,
    /// USD per 100,000 commands.
    #[serde(default = "upstash_price")]
    pub per_100k_commands: Amount,
    /// Commands free per month.
    #[serde(default = "upstash_free")]
    pub free_commands: Amount,
}

impl Default for UpstashCosts {
    fn default() -> Self {
        Self {
            plan: UpstashPlan::default(),
            per_100k_commands: upstash_price(),
            free_commands: upstash_free(),
        }
    }
}

/// Upstash Redis plans: pay as you go, or a fixed monthly price with no
/// command billing, capped in commands per second (FACTS.md §6).
#[derive(Clone, Copy, Debug, Default, Deserialize, JsonSchema, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum UpstashPlan {
    /// Per command, beyond the free commands.
    #[default]
    PayAsYouGo,
    /// 250 MB, $10.
    Fixed250mb,
    /// 1 GB, $20.
    Fixed1gb,
    /// 5 GB, $100.
    Fixed5gb,
    /// 10 GB, $200.
    Fixed10gb,
    /// 50 GB, $400.
    Fixed50gb,
    /// 100 GB, $800.
    Fixed100gb,
    /// 500 GB, $1,500.
    Fixed500gb,
}

fn upstash_price() -> Amount {
    // Upstash pay as you go: $0.20 per 100K commands (FACTS.md §6).
    Amount(0.20)
}

fn upstash_free() -> Amount {
    // Upstash free tier: 500K commands a month (FACTS.md §6).
    Amount(500_000.0)
}

/// A monitoring alert: fires in each window where its metric is above (or
/// below) the threshold.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Alert {
    /// Its name in alerts.csv.
    pub name: String,
    /// What it watches.
    #[schemars(with = "AlertMetric")]
    pub metric: Spanned<AlertMetric>,
    /// Fires when the metric is above this (this or `below`).
    #[serde(default)]
    #[schemars(with = "Option<Threshold>")]
    pub above: Option<Spanned<Threshold>>,
    /// Fires when the metric is below this (this or `above`).
    #[serde(default)]
    #[schemars(with = "Option<Threshold>")]
    pub below: Option<Spanned<Threshold>>,
    /// The window it is evaluated over (whole minutes).
    #[schemars(with = "Duration")]
    pub window: Spanned<Duration>,
}

/// The metrics an alert can watch.
#[derive(Clone, Copy, Debug, Deserialize, JsonSchema, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum AlertMetric {
    /// Open database connections (peak in the window), a number.
    DbConnections,
    /// Share of users' requests that failed in the window, a share.
    ErrorRate,
    /// p95 latency of answered requests in the window, a duration.
    P95Latency,
    /// AI messages that failed in the window, a number.
    AiFailures,
    /// CDN hits over CDN lookups in the window, a share.
    CdnHitRatio,
    /// Requests answered 429 by the rate limiters in the window, a number.
    RateLimited,
    /// Function instances alive (peak in the window), a number.
    Instances,
}

impl AlertMetric {
    /// The name the scenario file uses.
    pub fn name(self) -> &'static str {
        match self {
            AlertMetric::DbConnections => "db_connections",
            AlertMetric::ErrorRate => "error_rate",
            AlertMetric::P95Latency => "p95_latency",
            AlertMetric::AiFailures => "ai_failures",
            AlertMetric::CdnHitRatio => "cdn_hit_ratio",
            AlertMetric::RateLimited => "rate_limited",
            AlertMetric::Instances => "instances",
        }
    }

    /// Whether the metric is judged from requests' latencies and outcomes
    /// per window, rather than from the per-minute series.
    pub fn per_request(self) -> bool {
        matches!(self, AlertMetric::ErrorRate | AlertMetric::P95Latency)
    }

    /// The threshold form the metric is compared in, for messages.
    pub fn threshold_form(self) -> &'static str {
        match self {
            AlertMetric::ErrorRate | AlertMetric::CdnHitRatio => "a percentage such as \"1%\"",
            AlertMetric::P95Latency => "a duration such as \"3s\"",
            _ => "a number such as 50",
        }
    }

    /// `threshold` in the metric's unit (milliseconds for latency, a
    /// fraction for shares), if it has the metric's form.
    pub fn value_of(self, threshold: Threshold) -> Option<f64> {
        match (self, threshold) {
            (AlertMetric::ErrorRate | AlertMetric::CdnHitRatio, Threshold::Share(share)) => {
                Some(share.0)
            }
            (AlertMetric::P95Latency, Threshold::Duration(duration)) => {
                Some(duration.secs() * 1_000.0)
            }
            (
                AlertMetric::DbConnections
                | AlertMetric::AiFailures
                | AlertMetric::RateLimited
                | AlertMetric::Instances,
                Threshold::Number(number),
            ) => Some(number),
            _ => None,
        }
    }
}
