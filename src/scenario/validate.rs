//! Checks between keys that no single value can make alone. Names that
//! refer to other items are checked where they are resolved, in
//! [`super::compile`].

use std::collections::HashSet;

use serde_saphyr::{Location, Spanned};

use super::compose::SourceMap;
use super::schema::{
    Algorithm, Cache, CacheScope, Compute, DbAccess, FunctionModel, Judge, PoolMode, PoolerKind,
    Popularity, Route, RouteSlo, Scenario, SupabasePlan,
};
use super::units::is_zero_or_more;
use super::{CountDist, Diagnostic};
use crate::sim::NANOS_PER_SEC;

/// Collects diagnostics with their positions.
pub struct Report<'a> {
    source: &'a SourceMap,
    /// What was found, in order.
    pub found: Vec<Diagnostic>,
}

impl<'a> Report<'a> {
    /// An empty report on the files of `source`.
    pub fn new(source: &'a SourceMap) -> Self {
        Self {
            source,
            found: Vec::new(),
        }
    }

    /// Records `message` about `key`, written at `location`.
    pub fn add(&mut self, location: &Location, key: impl Into<String>, message: impl Into<String>) {
        self.found.push(Diagnostic {
            position: self.source.position(location),
            key: key.into(),
            message: message.into(),
        });
    }
}

fn check_profile(report: &mut Report, profile: &Spanned<Vec<f64>>, key: &str, hours: usize) {
    let values = &profile.value;
    if values.len() != hours {
        report.add(
            &profile.referenced,
            key,
            format!("has {} weights; it needs exactly {hours}", values.len()),
        );
    } else if !values.iter().all(|w| is_zero_or_more(*w)) {
        report.add(
            &profile.referenced,
            key,
            "weights must be finite and 0 or more",
        );
    } else if values.iter().sum::<f64>() <= 0.0 {
        report.add(
            &profile.referenced,
            key,
            "at least one weight must be above 0",
        );
    }
}

/// Records every problem in `scenario` that its values alone could not show.
pub fn check(report: &mut Report, scenario: &Scenario) {
    let name = &scenario.name;
    if name.value.trim().is_empty()
        || name.value.contains(['/', '\\'])
        || name.value == "."
        || name.value == ".."
    {
        report.add(
            &name.referenced,
            "name",
            "must be a non-empty name without slashes (it names the output folder)",
        );
    } else if name.value.chars().any(char::is_control) {
        report.add(
            &name.referenced,
            "name",
            "has a control character; it names the output folder",
        );
    } else if name.value.len() > 255 {
        report.add(
            &name.referenced,
            "name",
            format!(
                "is {} bytes long; it names the output folder, and a folder name has at most 255",
                name.value.len()
            ),
        );
    }
    if scenario.replications.value == 0 {
        report.add(
            &scenario.replications.referenced,
            "replications",
            "must be 1 or more",
        );
    }
    let horizon = scenario.horizon.value;
    if horizon.nanos() == 0 {
        report.add(
            &scenario.horizon.referenced,
            "horizon",
            "must be longer than 0",
        );
    }
    if let Some(warmup) = &scenario.warmup
        && warmup.value >= horizon
    {
        report.add(
            &warmup.referenced,
            "warmup",
            format!(
                "({}) must be shorter than the horizon ({horizon})",
                warmup.value
            ),
        );
    }
    check_tiers(report, scenario);
    check_traffic(report, scenario);
    check_functions(report, scenario);
    check_routes(report, scenario);
    check_database(report, scenario);
    check_rate_limits(report, scenario);
    check_ai(report, scenario);
    for (index, job) in scenario.jobs.iter().enumerate() {
        if job.every.is_some_and(|e| e.nanos() == 0) {
            report.add(
                &job.tasks.referenced,
                format!("jobs[{index}].every"),
                "must be longer than 0",
            );
        }
        if let Some(queue) = &job.queue
            && queue.concurrency.value == 0
        {
            report.add(
                &queue.concurrency.referenced,
                format!("jobs[{index}].queue.concurrency"),
                "must be 1 or more",
            );
        }
    }
    if let Some(images) = &scenario.images {
        if images.value.variants == 0 || images.value.ttl.nanos() == 0 {
            report.add(
                &images.referenced,
                "images",
                "needs 1 or more variants and a ttl above 0",
            );
        }
        check_popularity(
            report,
            images.value.popularity,
            &images.referenced,
            "images".into(),
        );
    }
    check_externals(report, scenario);
    check_abusive_clients(report, scenario);
    check_costs(report, scenario);
    check_alerts(report, scenario);
}

fn check_alerts(report: &mut Report, scenario: &Scenario) {
    let Some(alerts) = &scenario.alerts else {
        return;
    };
    let mut names = HashSet::new();
    for (index, alert) in alerts.value.iter().enumerate() {
        let key = |field: &str| format!("alerts[{index}].{field}");
        if !names.insert(alert.name.as_str()) {
            report.add(
                &alert.metric.referenced,
                key("name"),
                format!(
                    "`{}` is used by an earlier alert; names must differ",
                    alert.name
                ),
            );
        }
        let metric = alert.metric.value;
        match (&alert.above, &alert.below) {
            (Some(_), Some(_)) | (None, None) => report.add(
                &alert.metric.referenced,
                key("above"),
                "an alert needs exactly one of `above` and `below`",
            ),
            (Some(threshold), None) | (None, Some(threshold)) => {
                if metric.value_of(threshold.value).is_none() {
                    let field = if alert.above.is_some() {
                        "above"
                    } else {
                        "below"
                    };
                    report.add(
                        &threshold.referenced,
                        key(field),
                        format!(
                            "`{}` is compared with {}",
                            metric.name(),
                            metric.threshold_form()
                        ),
                    );
                }
            }
        }
        let window = alert.window.value.nanos();
        let minute = 60 * NANOS_PER_SEC;
        if window == 0 || window % minute != 0 {
            report.add(
                &alert.window.referenced,
                key("window"),
                "must be a whole number of minutes, 1m or more (metrics are kept per minute)",
            );
        }
    }
}

fn check_costs(report: &mut Report, scenario: &Scenario) {
    let compute = scenario.database.value.compute.as_ref();
    if let (Some(compute), Some(max)) = (compute, &scenario.database.value.max_connections)
        && compute.value == Compute::Auto
    {
        report.add(
            &max.referenced,
            "database.max_connections",
            "cannot be set with `compute: auto`, which picks the limit from the compute ladder; \
             remove one of them",
        );
    }
    let Some(costs) = &scenario.costs else {
        return;
    };
    let measured = scenario.measured_secs();
    if measured < 7.0 * 86_400.0 && !costs.value.allow_short_horizon {
        report.add(
            &costs.referenced,
            "costs",
            format!(
                "a monthly projection needs at least 7 days after warm-up (this scenario measures \
                 {:.1} days), or weekly patterns and bursts are missed; lengthen `horizon`, or set \
                 `costs.allow_short_horizon: true` to project from it anyway",
                measured / 86_400.0
            ),
        );
    }
    if costs.value.supabase.plan == SupabasePlan::Free
        && let Some(compute) = compute
        && compute.value != Compute::Nano
    {
        report.add(
            &compute.referenced,
            "database.compute",
            "the Free plan runs on Nano only (FACTS.md §2): use `compute: nano` or a paid plan",
        );
    }
    if let Some(ai) = &scenario.ai
        && ai.value.price_per_mtok.is_none()
    {
        report.add(
            &ai.referenced,
            "ai.price_per_mtok",
            "is needed for the cost projection, e.g. `{ input: 3.0, output: 15.0 }` (Sonnet 4.x, \
             FACTS.md §7)",
        );
    }
}

fn check_tiers(report: &mut Report, scenario: &Scenario) {
    if scenario.tiers.value.is_empty() {
        report.add(
            &scenario.tiers.referenced,
            "tiers",
            "must list at least one tier",
        );
    }
    let mut seen = HashSet::new();
    for (index, tier) in scenario.tiers.value.iter().enumerate() {
        if tier.users.value.0 == 0 {
            report.add(
                &tier.users.referenced,
                format!("tiers[{index}].users"),
                "must be 1 or more",
            );
        }
        if !seen.insert(tier.name.as_str()) {
            report.add(
                &tier.users.referenced,
                format!("tiers[{index}].name"),
                format!("`{}` names two tiers; tier names must be unique", tier.name),
            );
        }
    }
}

fn check_traffic(report: &mut Report, scenario: &Scenario) {
    let traffic = &scenario.traffic;
    let sessions = &traffic.sessions_per_active_user;
    if !is_zero_or_more(sessions.value) {
        report.add(
            &sessions.referenced,
            "traffic.sessions_per_active_user",
            "must be 0 or more",
        );
    }
    let per_session = &traffic.requests_per_session;
    let fewest = match per_session.value {
        CountDist::Constant(value) => value,
        CountDist::Uniform { min, .. } => min,
        CountDist::Geometric { .. } => 1,
    };
    if fewest == 0 {
        report.add(
            &per_session.referenced,
            "traffic.requests_per_session",
            "must be 1 or more per session (a session without requests is no session)",
        );
    }
    check_profile(report, &traffic.daily_profile, "traffic.daily_profile", 24);
    if let Some(weekly) = &traffic.weekly_profile {
        check_profile(report, weekly, "traffic.weekly_profile", 7);
    }
    for (index, burst) in traffic.bursts.iter().enumerate() {
        let multiplier = &burst.multiplier;
        if !is_zero_or_more(multiplier.value) {
            report.add(
                &multiplier.referenced,
                format!("traffic.bursts[{index}].multiplier"),
                "must be 0 or more (1 leaves the rate unchanged)",
            );
        }
    }
}

fn check_functions(report: &mut Report, scenario: &Scenario) {
    let functions = &scenario.functions;
    if functions.value.is_empty() {
        report.add(
            &functions.referenced,
            "functions",
            "must list at least one function",
        );
    }
    let mut seen = HashSet::new();
    for (index, function) in functions.value.iter().enumerate() {
        let key = |field: &str| format!("functions[{index}].{field}");
        if !seen.insert(function.name.value.as_str()) {
            report.add(
                &function.name.referenced,
                key("name"),
                format!(
                    "`{}` names two functions; names must be unique",
                    function.name.value
                ),
            );
        }
        match (&function.concurrency, function.model) {
            (Some(concurrency), _) if concurrency.value == 0 => {
                report.add(&concurrency.referenced, key("concurrency"), "must be 1 or more");
            }
            (Some(concurrency), FunctionModel::Classic) if concurrency.value > 1 => report.add(
                &concurrency.referenced,
                key("concurrency"),
                format!(
                    "is {}, but a classic function serves one request per instance; \
                     `model: fluid` serves several on one instance",
                    concurrency.value
                ),
            ),
            (None, FunctionModel::Fluid) => report.add(
                &function.name.referenced,
                key("concurrency"),
                "is needed with `model: fluid`: the requests one instance serves at once. \
                 Vercel publishes no maximum, so it is an assumption (10 to 200 is a plausible range)",
            ),
            _ => {}
        }
        let max = &function.max_instances;
        if max.value == 0 {
            report.add(&max.referenced, key("max_instances"), "must be 1 or more");
        }
        if let Some(min) = &function.min_instances
            && min.value > max.value
        {
            report.add(
                &min.referenced,
                key("min_instances"),
                format!(
                    "({}) must not exceed max_instances ({})",
                    min.value, max.value
                ),
            );
        }
        if let Some(rate) = &function.scale_rate
            && rate.value.count < 1.0
        {
            report.add(
                &rate.referenced,
                key("scale_rate"),
                "must allow at least 1 new instance per period",
            );
        }
        if function.max_duration.nanos() == 0 {
            report.add(
                &function.name.referenced,
                key("max_duration"),
                "must be longer than 0",
            );
        }
    }
}

fn check_routes(report: &mut Report, scenario: &Scenario) {
    let routes = &scenario.routes;
    if routes.value.is_empty() {
        report.add(&routes.referenced, "routes", "must list at least one route");
    }
    let mut names = HashSet::new();
    for (index, route) in routes.value.iter().enumerate() {
        if !names.insert(route.name.value.as_str()) {
            report.add(
                &route.name.referenced,
                format!("routes[{index}].name"),
                format!(
                    "`{}` names two routes; names must be unique",
                    route.name.value
                ),
            );
        }
    }
    let mut weighted = false;
    for (index, route) in routes.value.iter().enumerate() {
        let key = |field: &str| format!("routes[{index}].{field}");
        if let Some(weight) = &route.weight {
            if !is_zero_or_more(weight.value.0) {
                report.add(&weight.referenced, key("weight"), "must be 0 or more");
            }
            weighted |= weight.value.0 > 0.0;
        }
        check_route_cache(report, route, index);
        if route.page.is_some_and(|page| page.images > 0) && scenario.images.is_none() {
            report.add(
                &route.name.referenced,
                key("page.images"),
                "asks for optimized images, but the scenario has no `images` section \
                 (`images: { variants, ttl, size }`: how many transformed images there are, \
                 how long one stays cached and its size)",
            );
        }
        let prompt_cache = route.ai.as_ref().and_then(|ai| ai.prompt_cache);
        if prompt_cache.is_some_and(|c| c.per == CacheScope::Conversation)
            && route.per_user_per_month.is_none()
        {
            report.add(
                &route.name.referenced,
                key("ai.prompt_cache.per"),
                "is `conversation`, but the route has no conversations: give it \
                 per_user_per_month (and `conversation`), or cache `per: route`",
            );
        }
        if matches!(
            route.slo,
            Some(RouteSlo::Own {
                judge: Judge::FirstToken,
                ..
            })
        ) && route.ai.is_none()
        {
            report.add(
                &route.name.referenced,
                key("slo.judge"),
                "is `first_token`, but the route makes no AI call: judge `completion`",
            );
        }
        if let Some(app_cache) = &route.app_cache {
            let config = app_cache.value;
            if route.queries.value == 0 {
                report.add(
                    &app_cache.referenced,
                    key("app_cache"),
                    "caches the route's queries, but the route has none (queries: 0)",
                );
            }
            if config.ttl.nanos() == 0 || config.keys == 0 {
                report.add(
                    &app_cache.referenced,
                    key("app_cache"),
                    "needs a ttl above 0 and 1 or more keys",
                );
            }
            check_popularity(
                report,
                config.popularity,
                &app_cache.referenced,
                key("app_cache"),
            );
        }
    }
    if !routes.value.is_empty() && !weighted {
        report.add(
            &routes.referenced,
            "routes",
            "no route has a weight above 0, so sessions would send nothing",
        );
    }
}

fn check_route_cache(report: &mut Report, route: &Route, index: usize) {
    let Some(cache) = &route.cache else {
        return;
    };
    let Cache::Shared(shared) = cache.value else {
        return;
    };
    let key = format!("routes[{index}].cache");
    // Vercel accepts s-maxage from 1 s to one year (FACTS.md §4).
    if shared.s_maxage.nanos() < NANOS_PER_SEC {
        report.add(
            &cache.referenced,
            format!("{key}.s_maxage"),
            "must be at least 1s (Vercel's CDN accepts 1s to 365d)",
        );
    }
    if shared.keys == 0 {
        report.add(
            &cache.referenced,
            format!("{key}.keys"),
            "must be 1 or more",
        );
    }
    check_popularity(report, shared.popularity, &cache.referenced, key);
}

fn check_popularity(
    report: &mut Report,
    popularity: Option<Popularity>,
    location: &Location,
    key: String,
) {
    if let Some(popularity) = popularity
        && !is_zero_or_more(popularity.zipf)
    {
        report.add(
            location,
            format!("{key}.popularity.zipf"),
            "must be 0 or more (0 spreads requests evenly over the keys)",
        );
    }
}

fn check_rate_limits(report: &mut Report, scenario: &Scenario) {
    for (name, limiter) in &scenario.rate_limits {
        let config = &limiter.value;
        let key = |field: &str| format!("rate_limits.{name}.{field}");
        let (needed, unused): (&[&str], &[&str]) = match config.algorithm {
            Algorithm::SlidingWindow | Algorithm::FixedWindow => {
                (&["limit", "window"], &["refill_rate", "interval"])
            }
            Algorithm::TokenBucket => (&["limit", "refill_rate", "interval"], &["window"]),
        };
        let given = |field: &str| match field {
            "limit" => config.limit.is_some_and(|l| l > 0),
            "window" => config.window.is_some_and(|w| w.nanos() >= 1_000_000),
            "refill_rate" => config.refill_rate.is_some_and(|r| r > 0),
            "interval" => config.interval.is_some_and(|i| i.nanos() >= 1_000_000),
            _ => unreachable!("a known field"),
        };
        let present = |field: &str| match field {
            "window" => config.window.is_some(),
            "refill_rate" => config.refill_rate.is_some(),
            "interval" => config.interval.is_some(),
            _ => unreachable!("a known field"),
        };
        for field in needed {
            if !given(field) {
                report.add(
                    &limiter.referenced,
                    key(field),
                    format!(
                        "is required by {:?} and must be above 0 (durations at least 1ms); \
                         sliding_window and fixed_window take limit and window, \
                         token_bucket takes limit (bucket size), refill_rate and interval",
                        config.algorithm
                    ),
                );
            }
        }
        for field in unused {
            if present(field) {
                report.add(
                    &limiter.referenced,
                    key(field),
                    format!("is not used by {:?}; remove it", config.algorithm),
                );
            }
        }
    }
}

fn check_ai(report: &mut Report, scenario: &Scenario) {
    if let Some(ai) = &scenario.ai {
        let tps = &ai.value.output_tokens_per_second;
        if !(tps.value.is_finite() && tps.value > 0.0) {
            report.add(
                &tps.referenced,
                "ai.output_tokens_per_second",
                "must be above 0",
            );
        }
        if let Some(breaker) = &ai.value.circuit_breaker
            && breaker.value.failure_threshold == 0
        {
            report.add(
                &breaker.referenced,
                "ai.circuit_breaker.failure_threshold",
                "must be 1 or more",
            );
        }
        if let Some(cap) = &ai.value.max_in_flight
            && cap.value == 0
        {
            report.add(&cap.referenced, "ai.max_in_flight", "must be 1 or more");
        }
    }
    for (index, route) in scenario.routes.value.iter().enumerate() {
        let key = |field: &str| format!("routes[{index}].{field}");
        if let Some(volume) = &route.per_user_per_month {
            if !is_zero_or_more(volume.value) {
                report.add(
                    &volume.referenced,
                    key("per_user_per_month"),
                    "must be 0 or more",
                );
            }
            if route.weight.as_ref().is_some_and(|w| w.value.0 > 0.0) {
                report.add(
                    &volume.referenced,
                    key("per_user_per_month"),
                    "a route gets its volume from a session weight or from per_user_per_month, not both",
                );
            }
        } else if route.conversation.is_some() || route.heavy_users.is_some() {
            report.add(
                &route.name.referenced,
                key("per_user_per_month"),
                "is required with `conversation` or `heavy_users`: it sets their volume",
            );
        }
        if let Some(heavy) = &route.heavy_users
            && heavy.value.volume_share.0 > 0.0
            && heavy.value.share.0 == 0.0
        {
            report.add(
                &heavy.referenced,
                key("heavy_users.share"),
                "must be above 0 when heavy users send part of the volume",
            );
        }
        if route.ai.is_some() && scenario.ai.is_none() {
            report.add(
                &route.name.referenced,
                key("ai"),
                "calls an AI provider, but the scenario has no top-level `ai` to describe it",
            );
        }
    }
}

fn check_externals(report: &mut Report, scenario: &Scenario) {
    for (name, api) in &scenario.externals {
        let config = api.value;
        if config.keys == 0 || config.cache_ttl.is_some_and(|t| t.nanos() == 0) {
            report.add(
                &api.referenced,
                format!("externals.{name}"),
                "needs 1 or more keys and a cache_ttl above 0 when given",
            );
        }
        check_popularity(
            report,
            config.popularity,
            &api.referenced,
            format!("externals.{name}"),
        );
    }
}

fn check_abusive_clients(report: &mut Report, scenario: &Scenario) {
    let traffic = &scenario.traffic;
    if let Some(per_ip) = &traffic.users_per_ip
        && !(per_ip.value.is_finite() && per_ip.value >= 1.0)
    {
        report.add(
            &per_ip.referenced,
            "traffic.users_per_ip",
            "must be 1 or more (users behind one address)",
        );
    }
    let Some(clients) = &traffic.abusive_clients else {
        return;
    };
    let key = |field: &str| format!("traffic.abusive_clients.{field}");
    match (&clients.count, &clients.share) {
        (Some(_), Some(share)) => report.add(
            &share.referenced,
            key("share"),
            "give either `count` or `share`, not both",
        ),
        (None, None) => report.add(
            &clients.rate.referenced,
            key("count"),
            "give `count` (clients) or `share` (of the tier's users, rounded down)",
        ),
        _ => {}
    }
    if clients.rate.value.per_sec() <= 0.0 {
        report.add(&clients.rate.referenced, key("rate"), "must be above 0");
    }
    let active = clients.active_per_day.value.nanos();
    if active == 0 || active > 24 * 3_600 * NANOS_PER_SEC {
        report.add(
            &clients.active_per_day.referenced,
            key("active_per_day"),
            "must be above 0 and at most 24h",
        );
    }
    if clients.routes.value.is_empty() {
        report.add(
            &clients.routes.referenced,
            key("routes"),
            "must list at least one route",
        );
    }
}

fn check_database(report: &mut Report, scenario: &Scenario) {
    // A scenario without a database section: fine while nothing queries it.
    if scenario.database.referenced == Location::UNKNOWN {
        for (index, route) in scenario.routes.value.iter().enumerate() {
            if route.queries.value > 0 {
                report.add(
                    &route.queries.referenced,
                    format!("routes[{index}].queries"),
                    format!(
                        "sends {} queries a request, but the scenario has no `database` section; add one, e.g. `database: {{ compute: micro, connect_time: 8ms, query_time: 3ms }}` (or `queries: 0`)",
                        route.queries.value
                    ),
                );
            }
        }
        return;
    }
    let database = &scenario.database.value;
    let Some(max) = database.max_connections() else {
        report.add(
            &scenario.database.referenced,
            "database.max_connections",
            "is required unless database.compute gives it; Supabase Micro allows 60 (FACTS.md §2)",
        );
        return;
    };
    if let Some(platform) = &database.platform_connections
        && platform.value >= max
    {
        report.add(
            &platform.referenced,
            "database.platform_connections",
            format!(
                "({}) must leave room under max_connections ({max})",
                platform.value
            ),
        );
    }
    let positive = [
        ("cpus", &database.cpus),
        ("data_api_pool", &database.data_api_pool),
    ];
    for (field, value) in positive {
        if let Some(value) = value
            && value.value == 0
        {
            report.add(
                &value.referenced,
                format!("database.{field}"),
                "must be 1 or more",
            );
        }
    }
    if database.connections_per_instance.value == 0 {
        report.add(
            &database.connections_per_instance.referenced,
            "database.connections_per_instance",
            "must be 1 or more",
        );
    }
    if let Some(burst) = &database.cpu_burst {
        if burst.value.baseline.0 <= 0.0 {
            report.add(
                &burst.referenced,
                "database.cpu_burst.baseline",
                "must be above 0%: a CPU sustains some share of its time",
            );
        }
        let cpus = database.cpus.is_some() || database.compute.is_some();
        if !cpus {
            report.add(
                &burst.referenced,
                "database.cpu_burst",
                "needs CPUs that serve queries (`cpus`, or a `compute` that gives them)",
            );
        }
    }
    check_pooler(report, scenario);
}

/// Supabase's two poolers as documented (FACTS.md §2), and how IPv4-only
/// Vercel reaches the database.
fn check_pooler(report: &mut Report, scenario: &Scenario) {
    let database = &scenario.database.value;
    let at = &scenario.database.referenced;
    let pooler = database.pooler.as_ref().filter(|p| p.enabled);
    if let Some(pooler) = pooler {
        match pooler.kind {
            PoolerKind::Supavisor => {
                if pooler.default_pool_size.is_none() {
                    report.add(
                        at,
                        "database.pooler.default_pool_size",
                        "is needed with `kind: supavisor`: Supabase publishes no default pool \
                         size per compute (it is set in the dashboard)",
                    );
                }
                if pooler.round_trip.is_none() {
                    report.add(
                        at,
                        "database.pooler.round_trip",
                        "is needed with `kind: supavisor`: the shared pooler runs on its own \
                         servers and Supabase publishes no latency for the hop; an assumption \
                         (1ms to 5ms within a region is plausible)",
                    );
                }
            }
            PoolerKind::Pgbouncer if pooler.mode == PoolMode::Session => report.add(
                at,
                "database.pooler.mode",
                "is `session`, but Supabase's dedicated PgBouncer runs in transaction mode \
                 only; session mode is the shared pooler's (`kind: supavisor`)",
            ),
            PoolerKind::Pgbouncer => {}
        }
    }
    // Vercel reaches only IPv4 addresses; Supabase's direct connections and
    // its dedicated PgBouncer are IPv6 without the add-on. Scenarios with
    // costs are priced on these platforms, so they must say how.
    let uses_sql = scenario.routes.value.iter().any(|route| {
        route.queries.value > 0
            && route
                .db_access
                .as_ref()
                .map(|a| a.value)
                .or(database.db_access)
                .unwrap_or_default()
                == DbAccess::Sql
    });
    let over_ipv6 = pooler.is_none_or(|p| p.kind == PoolerKind::Pgbouncer);
    if scenario.costs.is_some() && uses_sql && over_ipv6 && !database.ipv4_addon {
        report.add(
            at,
            "database.ipv4_addon",
            format!(
                "is needed: Vercel is IPv4-only and Supabase's {} is IPv6 unless the project \
                 has the IPv4 add-on ($4 a month a database); set `ipv4_addon: true`, or reach \
                 the database through the shared pooler (`pooler: {{ kind: supavisor }}`)",
                if pooler.is_some() {
                    "dedicated PgBouncer"
                } else {
                    "direct connection"
                }
            ),
        );
    }
}
