//! The columns of the per-replication CSVs, the one place their names live:
//! each function lists one file's columns, reading typed results by field.
//! A tier's stack decides some columns (its APIs, jobs, limiters, replicas,
//! alerts), so a file's header is the union of its tiers' lists, in order of
//! first appearance; a tier without a column leaves its cell empty.

use std::borrow::Cow;

use crate::costs::{Bill, Usage};
use crate::model::{
    AppCacheCounts, CdnCounts, Minutes, NodeResults, Outcome, Outcomes, Percentiles, Replication,
    ResourceResults, RouteResults,
};
use crate::scenario::Scenario;

/// Named numbers in a fixed order: one replication's row of a CSV. NaN is an
/// empty cell.
#[derive(Clone, Debug, Default)]
pub struct Columns {
    names: Vec<Cow<'static, str>>,
    values: Vec<f64>,
}

impl Columns {
    fn push(&mut self, name: impl Into<Cow<'static, str>>, value: f64) {
        self.names.push(name.into());
        self.values.push(value);
    }

    fn count(&mut self, name: impl Into<Cow<'static, str>>, value: u64) {
        self.push(name, value as f64);
    }

    fn maybe(&mut self, name: impl Into<Cow<'static, str>>, value: Option<f64>) {
        self.push(name, value.unwrap_or(f64::NAN));
    }

    /// The names, in order.
    pub fn names(&self) -> &[Cow<'static, str>] {
        &self.names
    }

    /// The value of column `name`, NaN if this row lacks it.
    pub fn get(&self, name: &str) -> f64 {
        self.names
            .iter()
            .position(|n| n == name)
            .map_or(f64::NAN, |i| self.values[i])
    }
}

/// The summary column of a failure.
fn failure_column(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Ok => "ok",
        Outcome::DbRefused => "db_refused",
        Outcome::PoolerRefused => "pooler_refused",
        Outcome::PoolerTimeout => "pooler_timeouts",
        Outcome::DataApiTimeout => "data_api_timeouts",
        Outcome::ConnectionTimeout => "connection_timeouts",
        Outcome::Throttled => "throttled",
        Outcome::Timeout => "timeouts",
        Outcome::RateLimited => "rate_limited",
        Outcome::AiError => "ai_errors",
        Outcome::AiFastFailed => "ai_fast_failed",
        Outcome::ExternalQuota => "external_quota_failures",
        Outcome::StatementTimeout => "statement_timeouts",
    }
}

fn push_percentiles(columns: &mut Columns, latency: &Percentiles) {
    columns.maybe("p50_ms", latency.p50_ms);
    columns.maybe("p95_ms", latency.p95_ms);
    columns.maybe("p99_ms", latency.p99_ms);
}

fn push_outcomes(columns: &mut Columns, requests: u64, outcomes: &Outcomes) {
    columns.maybe("error_rate", outcomes.error_rate(requests));
    for outcome in Outcome::FAILURES {
        columns.count(failure_column(outcome), outcomes.count(outcome));
    }
}

fn push_cdn(columns: &mut Columns, cdn: &CdnCounts) {
    columns.maybe("cdn_hit_ratio", cdn.hit_ratio());
    columns.count("cdn_fresh_hits", cdn.fresh_hits);
    columns.count("cdn_stale_hits", cdn.stale_hits);
    columns.count("cdn_misses", cdn.misses);
    columns.count("origin_calls", cdn.origin_calls);
}

fn push_app_cache(columns: &mut Columns, app_cache: &AppCacheCounts) {
    columns.maybe("app_cache_hit_ratio", app_cache.hit_ratio());
    columns.count("app_cache_hits", app_cache.hits);
    columns.count("app_cache_misses", app_cache.misses);
}

/// The columns of a resource, each name after `prefix`.
fn push_resource(columns: &mut Columns, prefix: &str, resource: Option<&ResourceResults>) {
    let count = |value: fn(&ResourceResults) -> u64| resource.map_or(f64::NAN, |l| value(l) as f64);
    let wait = |value: fn(&ResourceResults) -> Option<f64>| resource.and_then(value);
    columns.push(format!("{prefix}_peak_busy"), count(|l| l.peak_busy));
    columns.maybe(format!("{prefix}_mean_wait_ms"), wait(|l| l.mean_wait_ms));
    columns.maybe(format!("{prefix}_wait_p95_ms"), wait(|l| l.wait_p95_ms));
    columns.maybe(format!("{prefix}_max_wait_ms"), wait(|l| l.max_wait_ms));
    columns.push(format!("{prefix}_peak_waiting"), count(|l| l.peak_waiting));
}

/// The columns of one database node, each name after `prefix`:
/// connections, queries, pooler, CPUs and PostgREST's pool.
fn push_node(columns: &mut Columns, prefix: &str, node: &NodeResults) {
    let name = |name: &str| format!("{prefix}{name}");
    columns.count(name("peak_db_connections"), node.peak_connections);
    columns.maybe(name("mean_db_connections"), node.mean_connections);
    columns.count(name("peak_db_demanded"), node.peak_demanded);
    columns.push(
        name("db_connection_limit"),
        f64::from(node.connection_limit),
    );
    columns.count(name("db_queries"), node.queries);
    columns.count(name("db_statement_timeouts"), node.statement_timeouts);
    let pooler = node.pooler.as_ref();
    let pooler_count = |value: fn(&crate::model::PoolerResults) -> u64| {
        pooler.map_or(f64::NAN, |p| value(p) as f64)
    };
    columns.push(
        name("pooler_peak_clients"),
        pooler_count(|p| p.peak_clients),
    );
    push_resource(columns, &name("pooler"), pooler.map(|p| &p.servers));
    columns.push(
        name("pooler_wait_timeouts"),
        pooler_count(|p| p.wait_timeouts),
    );
    columns.push(
        name("pooler_client_refusals"),
        pooler_count(|p| p.client_refusals),
    );
    let cpus = node.cpus.as_ref();
    push_resource(columns, &name("db_cpu"), cpus.map(|c| &c.servers));
    columns.push(
        name("db_cpus"),
        cpus.map_or(f64::NAN, |c| f64::from(c.count)),
    );
    columns.maybe(name("db_cpu_utilisation"), cpus.and_then(|c| c.utilisation));
    columns.maybe(
        name("db_cpu_busiest_minute_utilisation"),
        cpus.map(|c| c.busiest_minute_utilisation),
    );
    columns.maybe(
        name("db_cpu_throttled_queries"),
        cpus.and_then(|c| c.throttled_queries).map(|q| q as f64),
    );
    columns.maybe(
        name("db_cpu_lowest_credits"),
        cpus.and_then(|c| c.lowest_credits),
    );
    push_resource(columns, &name("data_api"), Some(&node.data_api));
    columns.count(name("data_api_wait_timeouts"), node.data_api_wait_timeouts);
}

/// `summary.csv` (and `sweep.csv`): one replication of a tier that ran on `stack`.
pub fn summary_columns(stack: &Scenario, replication: &Replication) -> Columns {
    let tier = &replication.tier;
    let mut columns = Columns::default();
    columns.count("requests", tier.requests);
    columns.push("peak_rps", tier.peak_rps);
    push_percentiles(&mut columns, &tier.latency);
    columns.maybe("mean_latency_ms", tier.mean_latency_ms);
    columns.maybe("mean_wait_ms", tier.mean_wait_ms);
    push_outcomes(&mut columns, tier.requests, &tier.outcomes);
    columns.count("cold_starts", tier.cold_starts);
    columns.maybe("cold_start_ratio", tier.cold_start_ratio());
    columns.count("invocations", tier.invocations);
    columns.count("peak_instances", tier.peak_instances);
    columns.maybe("mean_instances", tier.mean_instances);
    columns.count("peak_sessions", tier.peak_sessions);
    push_node(&mut columns, "", &tier.primary);
    columns.count("edge_requests", tier.edge_requests);
    push_cdn(&mut columns, &tier.cdn);
    push_app_cache(&mut columns, &tier.app_cache);
    columns.count("abusive_requests", tier.abusive.requests);
    columns.count("abusive_limited", tier.abusive.limited);
    columns.count("redis_commands", tier.redis_commands);
    let ai = &tier.ai;
    columns.count("ai_messages", ai.messages);
    columns.count("ai_input_tokens", ai.tokens.input);
    columns.count(
        "ai_cache_write_tokens",
        ai.tokens.cache_write_5m + ai.tokens.cache_write_1h,
    );
    columns.count("ai_cache_read_tokens", ai.tokens.cache_read);
    columns.count("ai_output_tokens", ai.tokens.output);
    columns.count("ai_provider_429s", ai.provider_429s);
    columns.count("ai_spend_capped", ai.spend_capped);
    columns.maybe("ai_spend_cap_day", ai.spend_cap_day);
    columns.count("ai_provider_529s", ai.provider_529s);
    columns.count("ai_retries", ai.retries);
    columns.count("ai_breaker_opens", ai.breaker_opens);
    columns.maybe("ai_p95_ms", ai.p95_ms);
    columns.maybe("ai_ttft_p95_ms", ai.first_token_p95_ms);
    push_resource(&mut columns, "ai_slots", ai.slots.as_ref());
    for (external, api) in stack.externals.iter().zip(&tier.externals) {
        let name = &external.name;
        columns.count(format!("external_{name}_calls"), api.calls);
        columns.count(format!("external_{name}_cache_hits"), api.cache_hits);
        columns.count(
            format!("external_{name}_quota_failures"),
            api.quota_failures,
        );
        columns.count(format!("external_{name}_units"), api.units);
        columns.push(
            format!("external_{name}_quota_exhausted_secs"),
            api.exhausted_secs,
        );
    }
    for (config, job) in stack.jobs.iter().zip(&tier.jobs) {
        let name = &config.name;
        columns.count(format!("job_{name}_runs"), job.runs);
        columns.count(format!("job_{name}_tasks"), job.tasks);
        columns.count(format!("job_{name}_failed"), job.failed);
        columns.count(format!("job_{name}_peak_in_flight"), job.peak_in_flight);
        columns.maybe(format!("job_{name}_mean_run_secs"), job.mean_run_secs);
    }
    for (config, limiter) in stack.rate_limits.iter().zip(&tier.limiters) {
        let name = &config.name;
        columns.count(format!("limited_{name}_users"), limiter.users);
        columns.count(format!("limited_{name}_abusive"), limiter.abusive);
        columns.count(format!("limited_{name}_from_cache"), limiter.from_cache);
    }
    for (index, replica) in tier.replicas.iter().enumerate() {
        push_node(&mut columns, &format!("replica{}_", index + 1), replica);
    }
    columns.maybe("worst_window_p95_ms", tier.worst_window_p95_ms);
    columns.maybe("worst_window_error_rate", tier.worst_window_error_rate);
    for (rule, alert) in stack.alert_rules().iter().zip(&tier.alerts) {
        let name = &rule.name;
        columns.count(format!("alert_{name}_minutes"), alert.minutes);
        columns.maybe(format!("alert_{name}_first_minute"), alert.first_minute);
        columns.maybe(
            format!("alert_{name}_before_breach"),
            alert.before_breach.map(|b| f64::from(u8::from(b))),
        );
    }
    columns.maybe("slo_first_breach_minute", tier.slo_first_breach_minute);
    columns.push("slo_met", f64::from(u8::from(tier.slo_met)));
    columns.push("cpu_seconds", tier.cpu_seconds);
    columns.push("gb_seconds", tier.gb_seconds);
    columns.push("busy_gb_seconds", tier.busy_gb_seconds);
    columns.push("invocation_gb_seconds", tier.invocation_gb_seconds);
    columns.count("transfer_bytes", tier.transfer_bytes);
    let metered = &tier.metered;
    columns.count("origin_bytes", metered.origin_bytes);
    columns.count("db_egress_bytes", metered.db_egress_bytes);
    columns.count("page_views", metered.page_views);
    columns.count("asset_requests", metered.asset_requests);
    columns.count("image_requests", metered.images.requests);
    columns.count("image_transformations", metered.images.transformations);
    columns.count("active_users", metered.active_users);
    columns.count("redis_peak_minute_commands", metered.redis_peak_minute);
    columns.count("events", tier.events);
    columns
}

/// `routes.csv`: one route of one replication.
pub fn route_columns(route: &RouteResults) -> Columns {
    let mut columns = Columns::default();
    columns.count("requests", route.requests);
    columns.count("edge_requests", route.edge_requests);
    push_percentiles(&mut columns, &route.latency);
    push_outcomes(&mut columns, route.requests, &route.outcomes);
    columns.count("cold_starts", route.cold_starts);
    push_cdn(&mut columns, &route.cdn);
    push_app_cache(&mut columns, &route.app_cache);
    columns.count("abusive_requests", route.abusive.requests);
    columns.count("abusive_limited", route.abusive.limited);
    columns.maybe("worst_window_p95_ms", route.worst_window_p95_ms);
    columns
}

/// One replication's per-minute series, by column name.
pub type MinuteColumns<'a> = Vec<(&'static str, &'a [f64])>;

/// `timeseries.csv`: the per-minute series one replication has.
pub fn minute_columns(minutes: &Minutes) -> MinuteColumns<'_> {
    let mut columns: MinuteColumns = vec![
        ("rps", &minutes.rps),
        ("instances", &minutes.instances),
        ("db_connections", &minutes.db_connections),
        ("db_demanded", &minutes.db_demanded),
        ("errors", &minutes.errors),
        ("cdn_hits", &minutes.cdn_hits),
        ("rate_limited", &minutes.rate_limited),
        ("ai_answered", &minutes.ai_answered),
        ("ai_failed", &minutes.ai_failed),
    ];
    if let Some(busy) = &minutes.data_api {
        columns.push(("data_api_busy", busy));
    }
    if let Some(pooler) = &minutes.pooler {
        columns.push(("pooler_clients", &pooler.clients));
        columns.push(("pooler_in_use", &pooler.in_use));
        columns.push(("pooler_waiting", &pooler.waiting));
    }
    if let Some(cpu) = &minutes.db_cpu {
        columns.push(("db_cpu_utilisation", &cpu.utilisation));
        columns.push(("db_cpu_waiting", &cpu.waiting));
    }
    columns
}

/// `costs.csv`: one replication's bill on `stack`: each provider's charge,
/// `total`, then the usage behind them.
pub fn cost_columns(stack: &Scenario, bill: &Bill, usage: &Usage) -> Columns {
    let mut columns = Columns::default();
    for charge in &bill.charges {
        columns.push(charge.provider.clone(), charge.usd());
    }
    columns.push("total", bill.total());
    for charge in &bill.charges {
        if charge.lines.len() > 1 {
            for line in &charge.lines {
                columns.push(format!("{}_{}", charge.provider, line.item), line.usd);
            }
        }
    }
    columns.push("invocations", usage.invocations);
    columns.push("active_cpu_hours", usage.active_cpu_hours);
    columns.push("memory_gb_hours", usage.memory_gb_hours);
    columns.push("wall_clock_gb_hours", usage.wall_clock_gb_hours);
    columns.push("edge_requests", usage.edge_requests);
    columns.push("transfer_gb", usage.transfer_gb);
    columns.push("origin_transfer_gb", usage.origin_transfer_gb);
    columns.push("image_transformations", usage.image_transformations);
    columns.push("image_cache_reads", usage.image_cache_reads);
    columns.push("image_cache_writes", usage.image_cache_writes);
    columns.push("db_egress_gb", usage.db_egress_gb);
    columns.push("active_users", usage.active_users);
    columns.push("redis_commands", usage.redis_commands);
    columns.push("redis_peak_per_sec", usage.redis_peak_per_sec);
    columns.push("ai_input_tokens", usage.ai.input);
    columns.push(
        "ai_cache_write_tokens",
        usage.ai.cache_write_5m + usage.ai.cache_write_1h,
    );
    columns.push("ai_cache_read_tokens", usage.ai.cache_read);
    columns.push("ai_output_tokens", usage.ai.output);
    for (external, calls) in stack.externals.iter().zip(&usage.external_calls) {
        columns.push(format!("external_{}_calls", external.name), *calls);
    }
    columns
}
