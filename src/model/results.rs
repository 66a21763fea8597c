//! The results of one replication as typed records: per tier, per route,
//! per database node, per external API, job, limiter and alert, and the
//! per-minute series, ready to be averaged over replications.
//!
//! What does not apply (no pooler, no read replica, a percentile of no
//! request) is `None`, never a sentinel number. Column names are not here:
//! src/report/columns.rs lists each CSV's columns, reading these fields.

use serde::{Deserialize, Serialize};

use super::alerts::{MinuteSources, alert_results};
use super::database::Node;
use super::externals::ApiCounts;
use super::images::ImageCounts;
use super::jobs::Job;
use super::metrics::{Metrics, Outcome, TokenCounts};
use super::resource::Resource;
use crate::scenario::{DbAccess, RouteSlo, Scenario, utc_day_of_month};
use crate::sim::{NANOS_PER_SEC, SimTime};
use crate::stats::{Gauge, LatencyHistogram};

/// One replication of one tier.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Replication {
    /// The tier as a whole.
    pub tier: TierResults,
    /// Per route, in scenario order.
    pub routes: Vec<RouteResults>,
    /// Per minute from time zero.
    pub minutes: Minutes,
    /// First minute after warm-up.
    pub first_minute: usize,
}

/// Users' requests by how they ended ([`Outcome`] as index).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcomes(pub [u64; Outcome::COUNT]);

impl Outcomes {
    /// How many ended with `outcome`.
    pub fn count(&self, outcome: Outcome) -> u64 {
        self.0[outcome as usize]
    }

    /// Failed requests (every outcome but `Ok`) per request.
    pub fn error_rate(&self, requests: u64) -> Option<f64> {
        ratio(self.0[1..].iter().sum(), requests)
    }
}

/// Answered requests' latency percentiles, ms (none without an answer).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    /// Median.
    pub p50_ms: Option<f64>,
    /// 95th percentile.
    pub p95_ms: Option<f64>,
    /// 99th percentile.
    pub p99_ms: Option<f64>,
}

impl Percentiles {
    fn of(latency: &LatencyHistogram) -> Self {
        Self {
            p50_ms: known(latency.quantile_ms(0.50)),
            p95_ms: known(latency.quantile_ms(0.95)),
            p99_ms: known(latency.quantile_ms(0.99)),
        }
    }
}

/// What the CDN did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CdnCounts {
    /// Fresh hits.
    pub fresh_hits: u64,
    /// Stale hits.
    pub stale_hits: u64,
    /// Blocking misses.
    pub misses: u64,
    /// Calls that reached the function behind the CDN (misses and revalidations).
    pub origin_calls: u64,
}

impl CdnCounts {
    /// Hits (fresh or stale) per lookup.
    pub fn hit_ratio(&self) -> Option<f64> {
        let hits = self.fresh_hits + self.stale_hits;
        ratio(hits, hits + self.misses)
    }

    fn add(&mut self, other: &CdnCounts) {
        self.fresh_hits += other.fresh_hits;
        self.stale_hits += other.stale_hits;
        self.misses += other.misses;
        self.origin_calls += other.origin_calls;
    }
}

/// What the app cache answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AppCacheCounts {
    /// Hits.
    pub hits: u64,
    /// Misses.
    pub misses: u64,
}

impl AppCacheCounts {
    /// Hits per lookup.
    pub fn hit_ratio(&self) -> Option<f64> {
        ratio(self.hits, self.hits + self.misses)
    }
}

/// Abusive clients' requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AbusiveCounts {
    /// Sent.
    pub requests: u64,
    /// Of those, rejected by a rate limiter.
    pub limited: u64,
}

/// One route's results.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RouteResults {
    /// Users' requests.
    pub requests: u64,
    /// Requests that reached the CDN (users and abusive clients).
    pub edge_requests: u64,
    /// Users' answered requests.
    pub latency: Percentiles,
    /// Users' requests by outcome.
    pub outcomes: Outcomes,
    /// Requests that waited for a cold start.
    pub cold_starts: u64,
    /// The CDN in front of it.
    pub cdn: CdnCounts,
    /// Its app cache.
    pub app_cache: AppCacheCounts,
    /// Abusive clients' requests.
    pub abusive: AbusiveCounts,
    /// The p95 of its worst window, when it has its own SLO and a window counted.
    pub worst_window_p95_ms: Option<f64>,
}

/// A resource (CPUs, pool connections, AI slots): its peak use and waits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ResourceResults {
    /// Most servers busy at once.
    pub peak_busy: u64,
    /// Mean wait of those served, ms.
    pub mean_wait_ms: Option<f64>,
    /// The waits' p95, ms.
    pub wait_p95_ms: Option<f64>,
    /// The longest wait, ms.
    pub max_wait_ms: Option<f64>,
    /// Most requests waiting at once.
    pub peak_waiting: u64,
}

impl ResourceResults {
    /// Closes `servers` at `end`; also returns their time-average busy count.
    fn of(servers: &mut Resource, end: SimTime) -> (Self, f64) {
        let (peak_busy, mean_busy) = servers.busy.finish(end);
        let (peak_waiting, _) = servers.waiting.finish(end);
        let resource = Self {
            peak_busy,
            mean_wait_ms: known(servers.wait.mean_ms()),
            wait_p95_ms: known(servers.wait.quantile_ms(0.95)),
            max_wait_ms: known(servers.wait.quantile_ms(1.0)),
            peak_waiting,
        };
        (resource, mean_busy)
    }
}

/// A node's pooler.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PoolerResults {
    /// Most client connections at once.
    pub peak_clients: u64,
    /// Its server connections.
    pub servers: ResourceResults,
    /// Clients dropped after `query_wait_timeout`.
    pub wait_timeouts: u64,
    /// Clients refused (`max_client_conn`).
    pub client_refusals: u64,
    /// Client connections allowed.
    pub max_clients: u32,
}

/// A node's CPUs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CpuResults {
    /// How many.
    pub count: u32,
    /// The CPUs as a resource: their use and the queries' waits.
    pub servers: ResourceResults,
    /// Mean share busy over the run.
    pub utilisation: Option<f64>,
    /// Mean share busy in the busiest minute after warm-up.
    pub busiest_minute_utilisation: f64,
    /// Burstable CPUs: queries run at the baseline's speed for want of credits.
    pub throttled_queries: Option<u64>,
    /// Burstable CPUs: the lowest credit balance, as a share of a full bank.
    pub lowest_credits: Option<f64>,
}

/// One database node: the primary or a read replica.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeResults {
    /// Most connections open at once.
    pub peak_connections: u64,
    /// Time-average connections open.
    pub mean_connections: Option<f64>,
    /// Most connections demanded at once, refused ones included.
    pub peak_demanded: u64,
    /// Connections the app may open (the platform's taken off).
    pub connection_limit: u32,
    /// Queries run.
    pub queries: u64,
    /// Queries cancelled by their statement timeout (SQLSTATE 57014).
    pub statement_timeouts: u64,
    /// Its pooler, when enabled.
    pub pooler: Option<PoolerResults>,
    /// Its CPUs, when modelled.
    pub cpus: Option<CpuResults>,
    /// PostgREST's pool (the Data API).
    pub data_api: ResourceResults,
    /// Its connections.
    pub data_api_pool: u32,
    /// Data API requests that found no pool connection in time.
    pub data_api_wait_timeouts: u64,
}

impl NodeResults {
    /// Closes `node` at `end`; the busiest CPU minute is sought among `minutes`.
    fn of(node: &mut Node, end: SimTime, minutes: std::ops::Range<usize>) -> Self {
        let database = &mut node.database;
        let (peak_connections, mean_connections) = database.open.finish(end);
        let (peak_demanded, _) = database.demanded.finish(end);
        let pooler = node.pooler.as_mut().map(|pooler| PoolerResults {
            peak_clients: pooler.clients.finish(end).0,
            servers: ResourceResults::of(&mut pooler.servers, end).0,
            wait_timeouts: pooler.timeouts,
            client_refusals: pooler.refusals,
            max_clients: pooler.max_clients,
        });
        let cpus = database.cpus.as_mut().map(|cpus| {
            let count = cpus.capacity();
            let (servers, mean_busy) = ResourceResults::of(cpus, end);
            let busiest = minutes
                .map(|minute| cpus.busy.minute_mean(minute))
                .fold(0.0, f64::max);
            CpuResults {
                count,
                servers,
                utilisation: known(mean_busy / f64::from(count)),
                busiest_minute_utilisation: busiest / f64::from(count),
                throttled_queries: database.credits.as_ref().map(|c| c.throttled),
                lowest_credits: database.credits.as_ref().map(|c| c.lowest),
            }
        });
        Self {
            peak_connections,
            mean_connections: known(mean_connections),
            peak_demanded,
            connection_limit: database.limit,
            queries: database.queries,
            statement_timeouts: database.cancelled,
            pooler,
            cpus,
            data_api_pool: database.data_api.capacity(),
            data_api: ResourceResults::of(&mut database.data_api, end).0,
            data_api_wait_timeouts: database.data_api_timeouts,
        }
    }
}

/// The AI calls.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AiResults {
    /// Messages that reached the AI stage.
    pub messages: u64,
    /// Tokens of successful calls, by how they are billed.
    pub tokens: TokenCounts,
    /// Attempts answered 429 by a per-minute limit.
    pub provider_429s: u64,
    /// Attempts refused by the monthly spend cap (429) or limit (400).
    pub spend_capped: u64,
    /// When the spend cap was first reached: the UTC day of the month,
    /// with the time of day as a fraction.
    pub spend_cap_day: Option<f64>,
    /// Attempts answered 529.
    pub provider_529s: u64,
    /// Retries the SDK made.
    pub retries: u64,
    /// Times a breaker opened.
    pub breaker_opens: u64,
    /// p95 from the start of the AI stage to the answer, ms.
    pub p95_ms: Option<f64>,
    /// p95 from the start of the AI stage to the answer's first token, ms.
    pub first_token_p95_ms: Option<f64>,
    /// The app's cap on calls in flight, when it has one.
    pub slots: Option<ResourceResults>,
}

/// One job's runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct JobResults {
    /// Runs started.
    pub runs: u64,
    /// Tasks finished.
    pub tasks: u64,
    /// Of those, failed.
    pub failed: u64,
    /// Most tasks in flight at once.
    pub peak_in_flight: u64,
    /// Mean duration of a finished run, seconds.
    pub mean_run_secs: Option<f64>,
}

/// Requests one limiter rejected.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimiterResults {
    /// Users' requests.
    pub users: u64,
    /// Abusive clients' requests.
    pub abusive: u64,
    /// Of both, those an instance's cache of blocked identifiers answered
    /// (no Redis command).
    pub from_cache: u64,
}

/// One monitoring alert over the run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AlertResults {
    /// Minutes it fired.
    pub minutes: u64,
    /// When it first fired (its window's end, minutes since time zero).
    pub first_minute: Option<f64>,
    /// Whether it fired by the end of the first SLO-breaking window (none
    /// without a breach).
    pub before_breach: Option<bool>,
}

/// The tier as a whole.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TierResults {
    /// Users' requests.
    pub requests: u64,
    /// The busiest minute's arrivals per second, after warm-up.
    pub peak_rps: f64,
    /// Answered requests on routes the scenario SLO judges.
    pub latency: Percentiles,
    /// Their mean latency, ms.
    pub mean_latency_ms: Option<f64>,
    /// Users' mean wait for a slot and cold start, ms.
    pub mean_wait_ms: Option<f64>,
    /// Users' requests by outcome.
    pub outcomes: Outcomes,
    /// Requests that waited for a cold start.
    pub cold_starts: u64,
    /// Requests that got a slot on an instance.
    pub invocations: u64,
    /// Most instances alive at once.
    pub peak_instances: u64,
    /// Time-average instances alive.
    pub mean_instances: Option<f64>,
    /// Most user sessions open at once.
    pub peak_sessions: u64,
    /// The primary database.
    pub primary: NodeResults,
    /// Requests that reached the CDN.
    pub edge_requests: u64,
    /// The CDN, every route.
    pub cdn: CdnCounts,
    /// The app cache, every route.
    pub app_cache: AppCacheCounts,
    /// Abusive clients' requests.
    pub abusive: AbusiveCounts,
    /// Redis commands sent.
    pub redis_commands: u64,
    /// The AI calls.
    pub ai: AiResults,
    /// Per external API, in scenario order.
    pub externals: Vec<ApiCounts>,
    /// Per job, in scenario order.
    pub jobs: Vec<JobResults>,
    /// Per rate limiter, in scenario order.
    pub limiters: Vec<LimiterResults>,
    /// Per read replica.
    pub replicas: Vec<NodeResults>,
    /// The worst SLO window's p95, ms (none without a window that counted).
    pub worst_window_p95_ms: Option<f64>,
    /// The worst SLO window's error rate.
    pub worst_window_error_rate: Option<f64>,
    /// Per alert, in the order of the scenario's alert rules.
    pub alerts: Vec<AlertResults>,
    /// The end of the first SLO-breaking window, minutes since time zero.
    pub slo_first_breach_minute: Option<f64>,
    /// Whether every SLO held in every window.
    pub slo_met: bool,
    /// Handler CPU seconds.
    pub cpu_seconds: f64,
    /// Instance memory x lifetime, GiB-seconds.
    pub gb_seconds: f64,
    /// Instance memory x the time it had a request in flight, GiB-seconds.
    pub busy_gb_seconds: f64,
    /// Memory x wall-clock invocation time, GiB-seconds.
    pub invocation_gb_seconds: f64,
    /// Bytes of answered responses.
    pub transfer_bytes: u64,
    /// What else the providers meter.
    pub metered: MeteredUsage,
    /// Events the kernel handled.
    pub events: u64,
}

/// What the providers meter beyond requests and compute, from warm-up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MeteredUsage {
    /// Bytes between the CDN and the functions (Fast Origin Transfer).
    pub origin_bytes: u64,
    /// Bytes the database returned (Supabase egress).
    pub db_egress_bytes: u64,
    /// Users' requests that stand for a page view.
    pub page_views: u64,
    /// Static files those pages loaded from the CDN.
    pub asset_requests: u64,
    /// Their bytes.
    pub asset_bytes: u64,
    /// The optimizer's images: requests, transformations, cache units.
    pub images: ImageCounts,
    /// Bytes of the images delivered.
    pub image_bytes: u64,
    /// Distinct users with a session or a message.
    pub active_users: u64,
    /// Redis commands in the busiest minute.
    pub redis_peak_minute: u64,
}

impl TierResults {
    /// Cold starts per invocation.
    pub fn cold_start_ratio(&self) -> Option<f64> {
        ratio(self.cold_starts, self.invocations)
    }

    /// Failed requests per request.
    pub fn error_rate(&self) -> Option<f64> {
        self.outcomes.error_rate(self.requests)
    }

    /// Every database node: the primary, then the replicas.
    pub fn nodes(&self) -> impl Iterator<Item = &NodeResults> {
        std::iter::once(&self.primary).chain(&self.replicas)
    }
}

/// The primary's pooler, per minute.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PoolerMinutes {
    /// Client connections (minute peak).
    pub clients: Vec<f64>,
    /// Server connections in use (minute peak).
    pub in_use: Vec<f64>,
    /// Clients waiting (minute peak).
    pub waiting: Vec<f64>,
}

/// The primary's CPUs, per minute.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CpuMinutes {
    /// Mean share busy.
    pub utilisation: Vec<f64>,
    /// Queries waiting (minute peak).
    pub waiting: Vec<f64>,
}

/// The per-minute series, one value per minute from time zero.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Minutes {
    /// Requests arriving per second (users and abusive clients).
    pub rps: Vec<f64>,
    /// Instances alive (minute peak).
    pub instances: Vec<f64>,
    /// The primary's open connections (minute peak).
    pub db_connections: Vec<f64>,
    /// The primary's connections demanded (minute peak).
    pub db_demanded: Vec<f64>,
    /// Users' failed requests.
    pub errors: Vec<f64>,
    /// Requests answered by the CDN.
    pub cdn_hits: Vec<f64>,
    /// Requests rejected by rate limiters.
    pub rate_limited: Vec<f64>,
    /// AI attempts answered.
    pub ai_answered: Vec<f64>,
    /// AI messages failed.
    pub ai_failed: Vec<f64>,
    /// The primary's pooler, when enabled.
    pub pooler: Option<PoolerMinutes>,
    /// The Data API pool's connections in use (minute peak), when a route
    /// goes through it.
    pub data_api: Option<Vec<f64>>,
    /// The primary's CPUs, when modelled.
    pub db_cpu: Option<CpuMinutes>,
}

impl Minutes {
    /// How many minutes the series cover.
    pub fn count(&self) -> usize {
        self.rps.len()
    }
}

/// Counts per minute divided by `divisor`.
fn per_minute(counts: &[u64], divisor: f64) -> Vec<f64> {
    counts.iter().map(|&count| count as f64 / divisor).collect()
}

/// A gauge's maximum per minute.
fn minute_peaks(gauge: &Gauge) -> Vec<f64> {
    gauge
        .minute_maxima()
        .iter()
        .map(|&max| max as f64)
        .collect()
}

impl Replication {
    /// Gathers the results of a finished run; `events` is the kernel's count.
    #[allow(clippy::too_many_arguments)]
    pub fn collect(
        scenario: &Scenario,
        end: SimTime,
        mut metrics: Metrics,
        nodes: &mut [Node],
        ai_slots: Option<&mut Resource>,
        apis: &[ApiCounts],
        jobs: &mut [Job],
        events: u64,
    ) -> Self {
        let warmup = scenario.warmup.nanos();
        let first_minute = (warmup / (60 * NANOS_PER_SEC)) as usize;
        let (peak_instances, mean_instances) = metrics.instances.finish(end);
        let (worst_p95, worst_errors) = metrics.window.finish();

        let mut slo_met = within(worst_p95, scenario.slo.p95_latency.secs() * 1_000.0)
            && within(worst_errors, scenario.slo.error_rate.0);
        let mut routes = Vec::with_capacity(metrics.routes.len());
        let mut requests = 0u64;
        let mut outcomes = [0u64; Outcome::COUNT];
        let (mut cold_starts, mut edge_requests) = (0u64, 0u64);
        let mut cdn = CdnCounts::default();
        let mut abusive = AbusiveCounts::default();
        let mut app_cache = AppCacheCounts::default();
        for (route, config) in metrics.routes.iter_mut().zip(&scenario.routes) {
            let worst_window_p95_ms = match (&mut route.own_window, config.slo) {
                (Some(window), Some(RouteSlo::Own { p95_latency, .. })) => {
                    let (p95, _) = window.finish();
                    slo_met &= within(p95, p95_latency.secs() * 1_000.0);
                    known(p95)
                }
                _ => None,
            };
            let [fresh_hits, stale_hits, misses] = route.cdn;
            let route_cdn = CdnCounts {
                fresh_hits,
                stale_hits,
                misses,
                origin_calls: route.origin_calls,
            };
            let [hits, misses] = route.app_cache;
            let route_app_cache = AppCacheCounts { hits, misses };
            let route_abusive = AbusiveCounts {
                requests: route.abusive_requests,
                limited: route.abusive_limited,
            };
            requests += route.requests;
            for (total, count) in outcomes.iter_mut().zip(route.outcomes) {
                *total += count;
            }
            cdn.add(&route_cdn);
            cold_starts += route.cold_starts;
            edge_requests += route.edge_requests;
            abusive.requests += route_abusive.requests;
            abusive.limited += route_abusive.limited;
            app_cache.hits += hits;
            app_cache.misses += misses;
            routes.push(RouteResults {
                requests: route.requests,
                edge_requests: route.edge_requests,
                latency: Percentiles::of(&route.latency),
                outcomes: Outcomes(route.outcomes),
                cold_starts: route.cold_starts,
                cdn: route_cdn,
                app_cache: route_app_cache,
                abusive: route_abusive,
                worst_window_p95_ms,
            });
        }

        let minute_count = metrics.arrivals.counts().len();
        let measured = first_minute..minute_count;
        let latency = metrics.latency();
        let (primary_node, replica_nodes) = nodes.split_first_mut().expect("a primary");
        let primary = NodeResults::of(primary_node, end, measured.clone());
        let ai = &metrics.ai;
        let spend_cap_day = ai
            .spend_cap_reached_at
            .map(|at| utc_day_of_month(scenario.start, scenario.timezone, at));
        let ai = AiResults {
            messages: ai.messages,
            tokens: ai.tokens,
            provider_429s: ai.rate_limited,
            spend_capped: ai.spend_capped,
            spend_cap_day,
            provider_529s: ai.overloaded,
            retries: ai.retries,
            breaker_opens: ai.breaker_opens,
            p95_ms: known(ai.latency.quantile_ms(0.95)),
            first_token_p95_ms: known(ai.first_token.quantile_ms(0.95)),
            slots: ai_slots.map(|slots| ResourceResults::of(slots, end).0),
        };
        let jobs = jobs
            .iter_mut()
            .map(|job| {
                let counts = job.counts;
                JobResults {
                    runs: counts.runs,
                    tasks: counts.tasks,
                    failed: counts.failed,
                    peak_in_flight: job.in_flight.finish(end).0,
                    mean_run_secs: (counts.finished > 0)
                        .then(|| counts.duration_secs / counts.finished as f64),
                }
            })
            .collect();
        let limiters = metrics.limiters.clone();
        let replicas = replica_nodes
            .iter_mut()
            .map(|replica| NodeResults::of(replica, end, measured.clone()))
            .collect();
        for tracker in &mut metrics.alert_windows {
            tracker.finish();
        }
        let sources = MinuteSources {
            connections: &primary_node.database.open,
            metrics: &metrics,
        };
        let (alerts, slo_first_breach_minute) =
            alert_results(scenario, &sources, &metrics.alert_windows, measured.clone());
        let tier = TierResults {
            requests,
            peak_rps: metrics.arrivals.peak_from(first_minute) as f64 / 60.0,
            latency: Percentiles::of(&latency),
            mean_latency_ms: known(latency.mean_ms()),
            mean_wait_ms: known(metrics.mean_wait_ms()),
            outcomes: Outcomes(outcomes),
            cold_starts,
            invocations: metrics.invocations,
            peak_instances,
            mean_instances: known(mean_instances),
            peak_sessions: metrics.peak_sessions,
            primary,
            edge_requests,
            cdn,
            app_cache,
            abusive,
            redis_commands: metrics.redis_commands,
            ai,
            externals: apis.to_vec(),
            jobs,
            limiters,
            replicas,
            worst_window_p95_ms: known(worst_p95),
            worst_window_error_rate: known(worst_errors),
            alerts,
            slo_first_breach_minute,
            slo_met,
            cpu_seconds: metrics.cpu_seconds(),
            gb_seconds: metrics.gb_seconds(),
            busy_gb_seconds: metrics.busy_gb_seconds(),
            invocation_gb_seconds: metrics.invocation_gb_seconds(),
            transfer_bytes: metrics.transfer_bytes,
            metered: MeteredUsage {
                active_users: metrics
                    .active_users
                    .iter()
                    .map(|word| u64::from(word.count_ones()))
                    .sum(),
                redis_peak_minute: metrics.redis_per_minute.peak_from(first_minute),
                ..metrics.metered
            },
            events,
        };

        let database = &primary_node.database;
        let minutes = Minutes {
            rps: per_minute(metrics.arrivals.counts(), 60.0),
            instances: minute_peaks(&metrics.instances),
            db_connections: minute_peaks(&database.open),
            db_demanded: minute_peaks(&database.demanded),
            errors: per_minute(metrics.errors.counts(), 1.0),
            cdn_hits: per_minute(metrics.cdn_hits.counts(), 1.0),
            rate_limited: per_minute(metrics.limited.counts(), 1.0),
            ai_answered: per_minute(metrics.ai.answered.counts(), 1.0),
            ai_failed: per_minute(metrics.ai.failed.counts(), 1.0),
            pooler: primary_node.pooler.as_ref().map(|pooler| PoolerMinutes {
                clients: minute_peaks(&pooler.clients),
                in_use: minute_peaks(&pooler.servers.busy),
                waiting: minute_peaks(&pooler.servers.waiting),
            }),
            data_api: scenario
                .routes
                .iter()
                .any(|route| route.queries > 0 && route.db_access == DbAccess::DataApi)
                .then(|| minute_peaks(&database.data_api.busy)),
            db_cpu: database.cpus.as_ref().map(|cpus| {
                let count = f64::from(cpus.capacity());
                CpuMinutes {
                    utilisation: (0..minute_count)
                        .map(|minute| cpus.busy.minute_mean(minute) / count)
                        .collect(),
                    waiting: minute_peaks(&cpus.waiting),
                }
            }),
        };
        Self {
            tier,
            routes,
            minutes,
            first_minute,
        }
    }
}

/// A statistic that may have no data (NaN) as an option.
fn known(value: f64) -> Option<f64> {
    (!value.is_nan()).then_some(value)
}

/// Whether a worst-window value meets its limit; no qualifying window (NaN)
/// gives no evidence against it.
fn within(value: f64, limit: f64) -> bool {
    value.is_nan() || value <= limit
}

fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole != 0).then(|| part as f64 / whole as f64)
}
