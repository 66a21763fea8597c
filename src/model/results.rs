//! The results of one replication: named scalars per tier and route, and
//! the per-minute series, ready to be averaged over replications.

use super::alerts::{MinuteSources, push_alerts};
use super::data_path::Node;
use super::externals::ApiCounts;
use super::jobs::Job;
use super::metrics::{Metrics, Outcome};
use super::servers::Servers;
use crate::scenario::{RouteSlo, Scenario};
use crate::sim::{NANOS_PER_SEC, SimTime};
use crate::stats::Gauge;

/// Named numbers in a fixed order; NaN where a value does not apply.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Values {
    names: Vec<String>,
    values: Vec<f64>,
}

impl Values {
    /// Appends `name = value`.
    pub fn push(&mut self, name: impl Into<String>, value: f64) {
        self.names.push(name.into());
        self.values.push(value);
    }

    /// The value of `name`, NaN if absent.
    pub fn get(&self, name: &str) -> f64 {
        self.names
            .iter()
            .position(|n| n == name)
            .map_or(f64::NAN, |i| self.values[i])
    }

    /// The names, in order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The values, in the order of [`Values::names`].
    pub fn values(&self) -> &[f64] {
        &self.values
    }
}

/// One replication of one tier.
#[derive(Clone, Debug, PartialEq)]
pub struct Replication {
    /// Tier-level scalars.
    pub values: Values,
    /// Per route, in scenario order.
    pub routes: Vec<Values>,
    /// Names of the per-minute fields.
    pub minute_fields: Vec<String>,
    /// Per minute from time zero, `minute_fields.len()` values each.
    pub minutes: Vec<f64>,
    /// First minute after warm-up.
    pub first_minute: usize,
}

impl Replication {
    /// The tier-level scalar `name` (NaN if absent).
    pub fn value(&self, name: &str) -> f64 {
        self.values.get(name)
    }

    /// How many minutes the series covers.
    pub fn minute_count(&self) -> usize {
        self.minutes.len() / self.minute_fields.len().max(1)
    }

    /// Field `name` of `minute`, NaN if absent.
    pub fn minute(&self, minute: usize, name: &str) -> f64 {
        self.minute_at(minute, self.minute_field(name))
    }

    /// The index of per-minute field `name`, if the series has it.
    pub fn minute_field(&self, name: &str) -> Option<usize> {
        self.minute_fields.iter().position(|f| f == name)
    }

    /// Field `field` (an index from [`Replication::minute_field`]) of `minute`, NaN if absent.
    pub fn minute_at(&self, minute: usize, field: Option<usize>) -> f64 {
        field.map_or(f64::NAN, |i| {
            self.minutes[minute * self.minute_fields.len() + i]
        })
    }

    /// Gathers the results of a finished run.
    pub fn collect(
        scenario: &Scenario,
        end: SimTime,
        mut metrics: Metrics,
        nodes: &mut [Node],
        ai_slots: Option<&mut Servers>,
        apis: &[ApiCounts],
        jobs: &mut [Job],
    ) -> Self {
        let warmup = scenario.warmup().nanos();
        let first_minute = (warmup / (60 * NANOS_PER_SEC)) as usize;
        let (peak_instances, mean_instances) = metrics.instances.finish(end);
        let (worst_p95, worst_errors) = metrics.window.finish();

        let mut slo_met = within(worst_p95, scenario.slo.p95_latency.secs() * 1_000.0)
            && within(worst_errors, scenario.slo.error_rate.0);
        let mut routes = Vec::with_capacity(metrics.routes.len());
        let mut requests = 0u64;
        let mut outcomes = [0u64; Outcome::COUNT];
        let (mut cold, mut edge, mut origin) = (0u64, 0u64, 0u64);
        let mut cdn = [0u64; 3];
        let (mut abusive, mut abusive_limited) = (0u64, 0u64);
        let mut app_cache = [0u64; 2];
        for (route, config) in metrics.routes.iter_mut().zip(&scenario.routes.value) {
            let worst_window_p95_ms = match (&mut route.own_window, config.slo) {
                (Some(window), Some(RouteSlo::Own { p95_latency })) => {
                    let (p95, _) = window.finish();
                    slo_met &= within(p95, p95_latency.secs() * 1_000.0);
                    p95
                }
                _ => f64::NAN,
            };
            requests += route.requests;
            for (total, count) in outcomes.iter_mut().zip(route.outcomes) {
                *total += count;
            }
            for (total, count) in cdn.iter_mut().zip(route.cdn) {
                *total += count;
            }
            cold += route.cold_starts;
            edge += route.edge_requests;
            origin += route.origin_calls;
            abusive += route.abusive_requests;
            for (total, count) in app_cache.iter_mut().zip(route.app_cache) {
                *total += count;
            }
            abusive_limited += route.abusive_limited;
            let mut values = Values::default();
            values.push("requests", route.requests as f64);
            values.push("edge_requests", route.edge_requests as f64);
            values.push("p50_ms", route.latency.quantile_ms(0.50));
            values.push("p95_ms", route.latency.quantile_ms(0.95));
            values.push("p99_ms", route.latency.quantile_ms(0.99));
            push_outcomes(&mut values, route.requests, &route.outcomes);
            values.push("cold_starts", route.cold_starts as f64);
            push_cdn(&mut values, &route.cdn, route.origin_calls);
            push_app_cache(&mut values, &route.app_cache);
            values.push("abusive_requests", route.abusive_requests as f64);
            values.push("abusive_limited", route.abusive_limited as f64);
            values.push("worst_window_p95_ms", worst_window_p95_ms);
            routes.push(values);
        }

        let mut values = Values::default();
        values.push("requests", requests as f64);
        values.push(
            "peak_rps",
            metrics.arrivals.peak_from(first_minute) as f64 / 60.0,
        );
        let latency = metrics.latency();
        values.push("p50_ms", latency.quantile_ms(0.50));
        values.push("p95_ms", latency.quantile_ms(0.95));
        values.push("p99_ms", latency.quantile_ms(0.99));
        values.push("mean_latency_ms", latency.mean_ms());
        values.push("mean_wait_ms", metrics.mean_wait_ms());
        push_outcomes(&mut values, requests, &outcomes);
        values.push("cold_starts", cold as f64);
        values.push("cold_start_ratio", ratio(cold, metrics.invocations));
        values.push("invocations", metrics.invocations as f64);
        values.push("peak_instances", peak_instances as f64);
        values.push("mean_instances", mean_instances);
        values.push("peak_sessions", metrics.peak_sessions as f64);
        let minute_count = metrics.arrivals.counts().len();
        let (primary, replicas) = nodes.split_first_mut().expect("a primary");
        push_node(&mut values, "", primary, end, first_minute..minute_count);
        values.push("edge_requests", edge as f64);
        push_cdn(&mut values, &cdn, origin);
        push_app_cache(&mut values, &app_cache);
        values.push("abusive_requests", abusive as f64);
        values.push("abusive_limited", abusive_limited as f64);
        values.push("redis_commands", metrics.redis_commands as f64);
        let ai = &metrics.ai;
        values.push("ai_messages", ai.messages as f64);
        values.push("ai_input_tokens", ai.input_tokens as f64);
        values.push("ai_output_tokens", ai.output_tokens as f64);
        values.push("ai_provider_429s", ai.rate_limited as f64);
        values.push("ai_provider_529s", ai.overloaded as f64);
        values.push("ai_retries", ai.retries as f64);
        values.push("ai_breaker_opens", ai.breaker_opens as f64);
        values.push("ai_p95_ms", ai.latency.quantile_ms(0.95));
        push_line(&mut values, "ai_slots", ai_slots, end);
        for (name, counts) in scenario.externals.keys().zip(apis) {
            values.push(format!("external_{name}_calls"), counts.calls as f64);
            values.push(
                format!("external_{name}_cache_hits"),
                counts.cache_hits as f64,
            );
            values.push(
                format!("external_{name}_quota_failures"),
                counts.quota_failures as f64,
            );
            values.push(format!("external_{name}_units"), counts.units as f64);
            values.push(
                format!("external_{name}_quota_exhausted_secs"),
                counts.exhausted_secs,
            );
        }
        for (config, job) in scenario.jobs.iter().zip(jobs.iter_mut()) {
            let name = &config.name;
            let counts = job.counts;
            values.push(format!("job_{name}_runs"), counts.runs as f64);
            values.push(format!("job_{name}_tasks"), counts.tasks as f64);
            values.push(format!("job_{name}_failed"), counts.failed as f64);
            values.push(
                format!("job_{name}_peak_in_flight"),
                job.in_flight.finish(end).0 as f64,
            );
            values.push(
                format!("job_{name}_mean_run_secs"),
                if counts.finished > 0 {
                    counts.duration_secs / counts.finished as f64
                } else {
                    f64::NAN
                },
            );
        }
        for (name, (users, abusive)) in scenario.rate_limits.keys().zip(&metrics.limiters) {
            values.push(format!("limited_{name}_users"), *users as f64);
            values.push(format!("limited_{name}_abusive"), *abusive as f64);
        }
        for (index, replica) in replicas.iter_mut().enumerate() {
            let prefix = format!("replica{}_", index + 1);
            push_node(
                &mut values,
                &prefix,
                replica,
                end,
                first_minute..minute_count,
            );
        }
        values.push("worst_window_p95_ms", worst_p95);
        values.push("worst_window_error_rate", worst_errors);
        for tracker in &mut metrics.alert_windows {
            tracker.finish();
        }
        let sources = MinuteSources {
            connections: &primary.database.open,
            metrics: &metrics,
        };
        push_alerts(
            &mut values,
            scenario,
            &sources,
            &metrics.alert_windows,
            first_minute..minute_count,
        );
        values.push("slo_met", if slo_met { 1.0 } else { 0.0 });
        values.push("cpu_seconds", metrics.cpu_seconds());
        values.push("gb_seconds", metrics.gb_seconds());
        values.push("invocation_gb_seconds", metrics.invocation_gb_seconds());
        values.push("transfer_bytes", metrics.transfer_bytes as f64);

        let mut series: Vec<(&'static str, Series)> = vec![
            ("rps", Series::Count(metrics.arrivals.counts(), 60.0)),
            ("instances", Series::Gauge(&metrics.instances)),
            ("db_connections", Series::Gauge(&primary.database.open)),
            ("db_demanded", Series::Gauge(&primary.database.demanded)),
            ("errors", Series::Count(metrics.errors.counts(), 1.0)),
            ("cdn_hits", Series::Count(metrics.cdn_hits.counts(), 1.0)),
            ("rate_limited", Series::Count(metrics.limited.counts(), 1.0)),
            (
                "ai_answered",
                Series::Count(metrics.ai.answered.counts(), 1.0),
            ),
            ("ai_failed", Series::Count(metrics.ai.failed.counts(), 1.0)),
        ];
        if let Some(pooler) = &primary.pooler {
            series.push(("pooler_clients", Series::Gauge(&pooler.clients)));
            series.push(("pooler_in_use", Series::Gauge(&pooler.servers.busy)));
            series.push(("pooler_waiting", Series::Gauge(&pooler.servers.waiting)));
        }
        if let Some(cpus) = &primary.database.cpus {
            let count = f64::from(cpus.capacity());
            series.push(("db_cpu_utilisation", Series::Utilisation(&cpus.busy, count)));
            series.push(("db_cpu_waiting", Series::Gauge(&cpus.waiting)));
        }
        let mut minutes = Vec::with_capacity(minute_count * series.len());
        for minute in 0..minute_count {
            minutes.extend(series.iter().map(|(_, s)| s.at(minute)));
        }
        Self {
            values,
            routes,
            minute_fields: series.iter().map(|(name, _)| name.to_string()).collect(),
            minutes,
            first_minute,
        }
    }
}

/// A per-minute source.
enum Series<'a> {
    /// Counts per minute, divided by the given factor.
    Count(&'a [u64], f64),
    /// A gauge's maximum per minute.
    Gauge(&'a Gauge),
    /// A gauge's mean per minute over a capacity.
    Utilisation(&'a Gauge, f64),
}

impl Series<'_> {
    fn at(&self, minute: usize) -> f64 {
        match self {
            Series::Count(counts, divisor) => counts[minute] as f64 / divisor,
            Series::Gauge(gauge) => gauge.minute_maxima()[minute] as f64,
            Series::Utilisation(gauge, capacity) => gauge.minute_mean(minute) / capacity,
        }
    }
}

fn push_outcomes(values: &mut Values, requests: u64, outcomes: &[u64; Outcome::COUNT]) {
    let failed: u64 = outcomes[1..].iter().sum();
    values.push("error_rate", ratio(failed, requests));
    for (outcome, name) in Outcome::FAILURES {
        values.push(name, outcomes[outcome as usize] as f64);
    }
}

fn push_cdn(values: &mut Values, cdn: &[u64; 3], origin_calls: u64) {
    let [fresh, stale, misses] = *cdn;
    values.push(
        "cdn_hit_ratio",
        ratio(fresh + stale, fresh + stale + misses),
    );
    values.push("cdn_fresh_hits", fresh as f64);
    values.push("cdn_stale_hits", stale as f64);
    values.push("cdn_misses", misses as f64);
    values.push("origin_calls", origin_calls as f64);
}

fn push_app_cache(values: &mut Values, [hits, misses]: &[u64; 2]) {
    values.push("app_cache_hit_ratio", ratio(*hits, hits + misses));
    values.push("app_cache_hits", *hits as f64);
    values.push("app_cache_misses", *misses as f64);
}

/// Pushes the columns of one database node, each name after `prefix`:
/// connections, queries, pooler, CPUs (busiest minute among `minutes`) and
/// PostgREST's pool.
fn push_node(
    values: &mut Values,
    prefix: &str,
    node: &mut Node,
    end: SimTime,
    minutes: std::ops::Range<usize>,
) {
    let push = |values: &mut Values, name: &str, value: f64| {
        values.push(format!("{prefix}{name}"), value);
    };
    let database = &mut node.database;
    let (peak_open, mean_open) = database.open.finish(end);
    let (peak_demanded, _) = database.demanded.finish(end);
    push(values, "peak_db_connections", peak_open as f64);
    push(values, "mean_db_connections", mean_open);
    push(values, "peak_db_demanded", peak_demanded as f64);
    push(values, "db_connection_limit", f64::from(database.limit));
    push(values, "db_queries", database.queries as f64);
    let (peak_clients, refusals, timeouts, servers) = match &mut node.pooler {
        Some(pooler) => (
            pooler.clients.finish(end).0 as f64,
            pooler.refusals as f64,
            pooler.timeouts as f64,
            Some(&mut pooler.servers),
        ),
        None => (f64::NAN, f64::NAN, f64::NAN, None),
    };
    push(values, "pooler_peak_clients", peak_clients);
    push_line(values, &format!("{prefix}pooler"), servers, end);
    push(values, "pooler_wait_timeouts", timeouts);
    push(values, "pooler_client_refusals", refusals);
    let cpu_count = database
        .cpus
        .as_ref()
        .map_or(f64::NAN, |c| f64::from(c.capacity()));
    let cpu = push_line(
        values,
        &format!("{prefix}db_cpu"),
        database.cpus.as_mut(),
        end,
    );
    push(values, "db_cpus", cpu_count);
    push(values, "db_cpu_utilisation", cpu.mean_busy / cpu_count);
    let busiest_minute = database.cpus.as_ref().map_or(f64::NAN, |cpus| {
        minutes
            .map(|minute| cpus.busy.minute_mean(minute))
            .fold(0.0, f64::max)
    });
    push(
        values,
        "db_cpu_busiest_minute_utilisation",
        busiest_minute / cpu_count,
    );
    push_line(
        values,
        &format!("{prefix}data_api"),
        Some(&mut database.data_api),
        end,
    );
    push(
        values,
        "data_api_wait_timeouts",
        database.data_api_timeouts as f64,
    );
}

/// What [`push_line`] measured.
struct LineSummary {
    mean_busy: f64,
}

/// Pushes the peak busy servers, the mean, p95 and longest wait and the
/// peak line of `servers`, named after `prefix` (NaN when absent).
fn push_line(
    values: &mut Values,
    prefix: &str,
    servers: Option<&mut Servers>,
    end: SimTime,
) -> LineSummary {
    let [
        peak_busy,
        mean_busy,
        mean_wait,
        wait_p95,
        max_wait,
        peak_waiting,
    ] = match servers {
        Some(servers) => {
            let (peak_busy, mean_busy) = servers.busy.finish(end);
            let (peak_waiting, _) = servers.waiting.finish(end);
            [
                peak_busy as f64,
                mean_busy,
                servers.wait.mean_ms(),
                servers.wait.quantile_ms(0.95),
                servers.wait.quantile_ms(1.0),
                peak_waiting as f64,
            ]
        }
        None => [f64::NAN; 6],
    };
    values.push(format!("{prefix}_peak_busy"), peak_busy);
    values.push(format!("{prefix}_mean_wait_ms"), mean_wait);
    values.push(format!("{prefix}_wait_p95_ms"), wait_p95);
    values.push(format!("{prefix}_max_wait_ms"), max_wait);
    values.push(format!("{prefix}_peak_waiting"), peak_waiting);
    LineSummary { mean_busy }
}

/// Whether a worst-window value meets its limit; no qualifying window (NaN)
/// gives no evidence against it.
fn within(value: f64, limit: f64) -> bool {
    value.is_nan() || value <= limit
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        f64::NAN
    } else {
        part as f64 / whole as f64
    }
}
