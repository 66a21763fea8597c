//! The one-screen summary `capsim check` prints for a valid scenario.

use std::fmt::Write;

use crate::experiment::{Plan, RunOptions, footprint, requests_per_page};
use crate::model::ArrivalRate;
use crate::scenario::{
    Algorithm, Cache, ClientCount, DbAccess, Loaded, PoolMode, PoolerKind, Scenario,
};

/// One line on the database: connections, CPUs, pooler.
fn write_database(text: &mut String, scenario: &Scenario) {
    if scenario.routes.iter().all(|route| route.queries == 0) {
        let _ = writeln!(text, "  database: not used (no route sends queries)");
        return;
    }
    let database = &scenario.database;
    let max = database.max_connections().unwrap_or(0);
    let platform = database.platform_connections;
    let app = max.saturating_sub(platform);
    let _ = write!(
        text,
        "  database: max_connections {max}, {platform} held by the platform, so {app} for the app"
    );
    match database.pooler.filter(|p| p.enabled) {
        Some(pooler) => {
            let _ = write!(
                text,
                "; {} in {} mode: {} clients, pool of {} (+{} reserve), waits up to {}{}",
                match pooler.kind {
                    PoolerKind::Pgbouncer => "dedicated PgBouncer",
                    PoolerKind::Supavisor => "shared Supavisor",
                },
                match pooler.mode {
                    PoolMode::Transaction => "transaction",
                    PoolMode::Session => "session",
                },
                database.max_client_conn(),
                pooler.pool_size(),
                pooler.reserve_pool_size,
                pooler.wait_timeout(),
                pooler
                    .round_trip
                    .map_or_else(String::new, |r| format!(", {r} more a query"))
            );
        }
        None if scenario
            .routes
            .iter()
            .any(|r| r.queries > 0 && r.db_access == DbAccess::Sql) =>
        {
            let per_instance = database.connections_per_instance.max(1);
            let _ = write!(
                text,
                " ({per_instance} per instance: at most {} instances with connections)",
                app / per_instance
            );
        }
        None => {}
    }
    if scenario
        .routes
        .iter()
        .any(|r| r.queries > 0 && r.db_access == DbAccess::DataApi)
    {
        let _ = write!(
            text,
            "; the Data API's pool of {} (waits up to {})",
            database.data_api_pool, database.data_api_timeout
        );
    }
    if let Some(cpus) = database.cpus() {
        let _ = write!(text, "; {cpus} CPUs serve queries");
        if let Some(burst) = database.cpu_burst {
            let _ = write!(
                text,
                ", burstable: {:.0}% sustained, a bank of {} of earnings",
                burst.baseline.0 * 100.0,
                burst.bank
            );
        }
    }
    match database.read_replicas {
        0 => text.push('\n'),
        replicas => {
            let _ = writeln!(text, "; {replicas} read replicas alike");
        }
    }
}

/// Tiers, expected load, functions and limits of a valid scenario.
pub fn check_summary(loaded: &Loaded) -> String {
    let scenario = &loaded.scenario;
    let mut text = String::new();
    let _ = writeln!(
        text,
        "{}: valid scenario `{}` ({} from {}, warm-up {}, {} replications, seed {})",
        loaded.path.display(),
        scenario.name,
        scenario.horizon,
        scenario.start,
        // Zero reads better as "0s" than as Duration's "0ms".
        if scenario.warmup.nanos() == 0 {
            "0s".to_string()
        } else {
            scenario.warmup.to_string()
        },
        scenario.replications,
        scenario.seed
    );
    let per_session = scenario.traffic.requests_per_session.mean() * requests_per_page(scenario);
    let _ = writeln!(
        text,
        "  tiers ({per_session:.1} requests per session, fan-out included):"
    );
    // The sessions' peak hour, and at most that times the largest burst's
    // multiplier (a burst multiplies the session rate while it lasts, at
    // whatever hour it falls).
    let burst = scenario.traffic.largest_burst();
    let _ = writeln!(
        text,
        "    {:<12} {:>9} {:>14} {:>16} {:>18} {:>17}",
        "tier", "users", "sessions/day", "requests/day", "peak-hour req/s", "burst: at most"
    );
    for tier in &scenario.tiers {
        let rate = ArrivalRate::new(scenario, tier.users);
        let sessions = rate.mean_sessions_per_day();
        let peak = rate.peak_hour_per_sec() * per_session;
        let _ = writeln!(
            text,
            "    {:<12} {:>9} {:>14.0} {:>16.0} {:>18.2} {:>17}",
            tier.name,
            tier.users,
            sessions,
            sessions * per_session,
            peak,
            if burst > 1.0 {
                format!("{:.2}", peak * burst)
            } else {
                "no burst".to_string()
            }
        );
    }
    let _ = writeln!(text, "  functions:");
    for function in &scenario.functions {
        let _ = writeln!(
            text,
            "    {:<10} {}, concurrency {}, {} kept warm, max {} instances{}, idle timeout {}, \
             cold start mean {:.0} ms, {}",
            function.name,
            match function.model {
                crate::scenario::FunctionModel::Classic => "classic",
                crate::scenario::FunctionModel::Fluid => "Fluid",
            },
            function.concurrency,
            function.min_instances,
            function.max_instances,
            function
                .scale_rate
                .map_or_else(String::new, |r| format!(" (+{} per {})", r.count, r.per)),
            function.idle_timeout,
            function.cold_start.mean_secs() * 1_000.0,
            match function.overflow {
                crate::scenario::Overflow::Reject => "overflow rejected (503)",
                crate::scenario::Overflow::Queue => "overflow queued",
            }
        );
    }
    write_database(&mut text, scenario);
    let cached: Vec<&str> = scenario
        .routes
        .iter()
        .filter(|r| matches!(r.cache, Some(Cache::Shared(_))))
        .map(|r| r.name.as_str())
        .collect();
    if !cached.is_empty() {
        let _ = writeln!(text, "  CDN caches: {}", cached.join(", "));
    }
    for limiter in &scenario.rate_limits {
        let (name, limit) = (&limiter.name, &limiter.limit);
        let _ = writeln!(
            text,
            "  rate limit `{name}`: {} by {}, {}",
            yaml_word(&limit.algorithm),
            yaml_word(&limit.key),
            match limit.algorithm {
                Algorithm::TokenBucket => format!(
                    "{} tokens, +{} per {}",
                    limit.limit.unwrap_or(0),
                    limit.refill_rate.unwrap_or(0),
                    limit.interval.unwrap_or_default()
                ),
                _ => format!(
                    "{} per {}",
                    limit.limit.unwrap_or(0),
                    limit.window.unwrap_or_default()
                ),
            }
        );
    }
    if let Some(clients) = &scenario.traffic.abusive_clients {
        let count = match clients.count {
            ClientCount::Count(count) => count.to_string(),
            ClientCount::Share(share) => format!("{:.4}% of users", share.0 * 100.0),
        };
        let _ = writeln!(
            text,
            "  abusive clients: {count}, {} req/s each for {} a day",
            clients.rate.per_sec(),
            clients.active_per_day
        );
    }
    if let Some(ai) = &scenario.ai {
        let limits = &ai.limits;
        let limit = |rate: Option<crate::scenario::Rate>| {
            rate.map_or_else(
                || "unlimited".to_string(),
                |r| format!("{}/{}", r.count, r.per),
            )
        };
        let _ = writeln!(
            text,
            "  AI: {}, limits {} requests, {} input and {} output tokens, {} retries, {}, {}",
            ai.model.as_deref().unwrap_or("a model"),
            limit(limits.requests),
            limit(limits.input_tokens),
            limit(limits.output_tokens),
            ai.retries.max,
            ai.circuit_breaker.map_or_else(
                || "no circuit breaker".to_string(),
                |b| format!(
                    "breaker after {} failures for {} (scope {})",
                    b.failure_threshold,
                    b.reset_timeout,
                    yaml_word(&b.scope)
                )
            ),
            ai.max_in_flight.map_or_else(
                || "no cap in flight".to_string(),
                |cap| format!("at most {cap} in flight")
            )
        );
        let tier = match ai.tier {
            None => "no usage tier named",
            Some(crate::scenario::AiTier::Start) => "usage tier Start",
            Some(crate::scenario::AiTier::Build) => "usage tier Build",
            Some(crate::scenario::AiTier::Scale) => "usage tier Scale",
            Some(crate::scenario::AiTier::Custom) => "usage tier Custom",
        };
        let _ = writeln!(
            text,
            "      {tier}; {}",
            ai.spend_cap.map_or_else(
                || "no monthly spend cap".to_string(),
                |cap| format!(
                    "spend capped at ${} a calendar month ({}), ${} spent before the start",
                    cap.usd,
                    if cap.own {
                        "a limit the organisation set: answered 400"
                    } else {
                        "the tier's: answered 429 until 00:00 UTC on the 1st"
                    },
                    ai.spent_before_start
                )
            )
        );
    }
    for external in &scenario.externals {
        let api = &external.api;
        let _ = writeln!(
            text,
            "  external `{}`: {}{}",
            external.name,
            api.quota.map_or_else(
                || "no quota".to_string(),
                |q| format!("quota {}/{}", q.count, q.per)
            ),
            api.cache_ttl
                .map_or_else(String::new, |ttl| format!(", responses cached {ttl}"))
        );
    }
    for job in &scenario.jobs {
        let _ = writeln!(
            text,
            "  job `{}`: {} tasks into {} from {}{}, {}",
            job.name,
            job.tasks,
            scenario.route(job.route).name,
            job.at,
            job.every
                .map_or_else(String::new, |e| format!(" every {e}")),
            job.queue_concurrency.map_or_else(
                || "all at once".to_string(),
                |concurrency| format!("{concurrency} at a time")
            )
        );
    }
    for route in &scenario.routes {
        if let Some(volume) = &route.per_user_per_month {
            let _ = writeln!(
                text,
                "  {}: {} messages per user per month",
                route.name, volume
            );
        }
    }
    for (index, stack) in loaded.tier_stacks.iter().enumerate() {
        if let Some(stack) = stack {
            let _ = write!(
                text,
                "  {} runs on its own stack:",
                scenario.tiers[index].name
            );
            let mut line = String::new();
            write_database(&mut line, stack);
            text.push_str(line.trim_start_matches("  database:"));
        }
    }
    let _ = writeln!(
        text,
        "  slo: p95 {} and errors {:.2}% over the worst {} window",
        scenario.slo.p95_latency,
        scenario.slo.error_rate.0 * 100.0,
        scenario.slo.window
    );
    let options = RunOptions::default();
    let threads = options.worker_threads();
    let size = footprint(&[Plan::tiers(loaded)], options);
    let _ = writeln!(
        text,
        "  run: {} tier x replication items, about {:.3e} requests and {:.3e} events, \
         about {:.0} MB of memory on {threads} threads",
        size.work_items,
        size.requests,
        size.events,
        size.memory_bytes / 1e6
    );
    text
}

/// A choice as the scenario writes it (`sliding_window`, not `SlidingWindow`).
fn yaml_word<T: serde::Serialize>(choice: &T) -> String {
    match serde_json::to_value(choice) {
        Ok(serde_json::Value::String(word)) => word,
        _ => "?".into(),
    }
}
