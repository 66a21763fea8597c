//! Checks between keys that no single value can make alone, and the list of
//! keys accepted but not simulated yet.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use serde_saphyr::{Location, Spanned};

use super::{CountDist, DbAccess, Deferred, Diagnostic, Position, Scenario};

/// Collects diagnostics with their positions.
struct Report<'a> {
    path: &'a Path,
    found: Vec<Diagnostic>,
}

impl Report<'_> {
    fn add(&mut self, location: &Location, key: impl Into<String>, message: impl Into<String>) {
        self.found.push(Diagnostic {
            position: Position::at(self.path, location),
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
    } else if values.iter().any(|w| !w.is_finite() || *w < 0.0) {
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

/// Every problem in `scenario` that its values alone could not show.
pub fn check(path: &Path, scenario: &Scenario) -> Vec<Diagnostic> {
    let mut report = Report {
        path,
        found: Vec::new(),
    };
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
    check_tiers(&mut report, scenario);
    if scenario.slo.window.nanos() == 0 {
        report.add(&Location::UNKNOWN, "slo.window", "must be longer than 0");
    }
    check_traffic(&mut report, scenario);
    check_functions(&mut report, scenario);
    check_routes(&mut report, scenario);
    check_database(&mut report, scenario);
    report.found
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
        if tier.users.value == 0 {
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
    if !sessions.value.is_finite() || sessions.value < 0.0 {
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
        if !multiplier.value.is_finite() || multiplier.value < 0.0 {
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
        if function.concurrency.value == 0 {
            report.add(
                &function.concurrency.referenced,
                key("concurrency"),
                "must be 1 or more",
            );
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
    let functions: Vec<&str> = scenario
        .functions
        .value
        .iter()
        .map(|f| f.name.value.as_str())
        .collect();
    let mut by_name: HashMap<&str, usize> = HashMap::new();
    for (index, route) in routes.value.iter().enumerate() {
        if by_name.insert(route.name.value.as_str(), index).is_some() {
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
        if !functions.contains(&route.function.value.as_str()) {
            report.add(
                &route.function.referenced,
                key("function"),
                format!(
                    "`{}` is not a function of this scenario; valid: {}",
                    route.function.value,
                    functions.join(", ")
                ),
            );
        }
        if let Some(weight) = &route.weight {
            if !weight.value.is_finite() || weight.value < 0.0 {
                report.add(&weight.referenced, key("weight"), "must be 0 or more");
            }
            weighted |= weight.value > 0.0;
        }
        if let Some(access) = &route.db_access
            && access.value == DbAccess::DataApi
        {
            report.add(
                &access.referenced,
                key("db_access"),
                "`data_api` is not implemented yet; use `sql` for now",
            );
        }
        for (position, target) in route.fan_out.iter().enumerate() {
            if !by_name.contains_key(target.value.as_str()) {
                let names: Vec<&str> = routes.value.iter().map(|r| r.name.value.as_str()).collect();
                report.add(
                    &target.referenced,
                    key(&format!("fan_out[{position}]")),
                    format!(
                        "`{}` is not a route of this scenario; valid: {}",
                        target.value,
                        names.join(", ")
                    ),
                );
            }
        }
    }
    if !routes.value.is_empty() && !weighted {
        report.add(
            &routes.referenced,
            "routes",
            "no route has a weight above 0, so sessions would send nothing",
        );
    }
    if report.found.is_empty() {
        check_fan_out_cycles(report, scenario, &by_name);
    }
}

/// A route that fans out to itself, directly or not, would never finish.
fn check_fan_out_cycles(report: &mut Report, scenario: &Scenario, by_name: &HashMap<&str, usize>) {
    let routes = &scenario.routes.value;
    for (start, route) in routes.iter().enumerate() {
        let mut stack: Vec<usize> = route
            .fan_out
            .iter()
            .filter_map(|t| by_name.get(t.value.as_str()).copied())
            .collect();
        let mut visited = HashSet::new();
        while let Some(next) = stack.pop() {
            if next == start {
                report.add(
                    &route.name.referenced,
                    format!("routes[{start}].fan_out"),
                    format!(
                        "`{}` fans out to itself (directly or through other routes)",
                        route.name.value
                    ),
                );
                break;
            }
            if visited.insert(next) {
                stack.extend(
                    routes[next]
                        .fan_out
                        .iter()
                        .filter_map(|t| by_name.get(t.value.as_str()).copied()),
                );
            }
        }
    }
}

fn check_database(report: &mut Report, scenario: &Scenario) {
    let database = &scenario.database;
    let Some(max) = &database.max_connections else {
        report.add(
            &Location::UNKNOWN,
            "database.max_connections",
            "is required (database.compute does not set it yet); Supabase Micro allows 60 (FACTS.md §2)",
        );
        return;
    };
    if let Some(platform) = &database.platform_connections
        && platform.value >= max.value
    {
        report.add(
            &platform.referenced,
            "database.platform_connections",
            format!(
                "({}) must leave room under max_connections ({})",
                platform.value, max.value
            ),
        );
    }
    if database.connections_per_instance.value == 0 {
        report.add(
            &database.connections_per_instance.referenced,
            "database.connections_per_instance",
            "must be 1 or more",
        );
    }
}

/// One warning per key accepted but not simulated yet.
pub fn deferred(path: &Path, scenario: &Scenario) -> Vec<Diagnostic> {
    let mut report = Report {
        path,
        found: Vec::new(),
    };
    let mut note = |key: String, value: &Deferred| {
        if let Some(spanned) = value {
            report.add(
                &spanned.referenced,
                key,
                "accepted but not simulated yet: it has no effect on the results",
            );
        }
    };
    note("rate_limits".into(), &scenario.rate_limits);
    note("ai".into(), &scenario.ai);
    note("costs".into(), &scenario.costs);
    note(
        "traffic.users_per_ip".into(),
        &scenario.traffic.users_per_ip,
    );
    note(
        "traffic.abusive_clients".into(),
        &scenario.traffic.abusive_clients,
    );
    for (index, tier) in scenario.tiers.value.iter().enumerate() {
        note(format!("tiers[{index}].set"), &tier.set);
    }
    for (index, route) in scenario.routes.value.iter().enumerate() {
        let fields = [
            ("cache", &route.cache),
            ("rate_limit", &route.rate_limit),
            ("per_user_per_month", &route.per_user_per_month),
            ("conversation", &route.conversation),
            ("heavy_users", &route.heavy_users),
            ("ai", &route.ai),
            ("app_cache", &route.app_cache),
        ];
        for (field, value) in fields {
            note(format!("routes[{index}].{field}"), value);
        }
    }
    let database = &scenario.database;
    let fields = [
        ("compute", &database.compute),
        ("cpus", &database.cpus),
        ("read_replicas", &database.read_replicas),
        ("data_api_pool", &database.data_api_pool),
        ("pooler", &database.pooler),
    ];
    for (field, value) in fields {
        note(format!("database.{field}"), value);
    }
    report.found
}
