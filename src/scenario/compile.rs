//! From a scenario file as read to the [`Scenario`] everything downstream
//! runs on: the file is validated ([`super::validate`]), then each name is
//! resolved to a typed id and each number the model narrows is checked to
//! fit, every problem reported at its own file, line, column and key.

use std::collections::HashSet;

use serde_saphyr::{Location, Spanned};

use super::Diagnostic;
use super::calendar;
use super::compiled::{
    AbusiveClients, Ai, AiPrices, AlertRule, ApiCall, Burst, ClientCount, Database, ExternalApi,
    Function, Id, Job, MAX_AI_RETRIES, MAX_EXTERNAL_CALLS, MAX_QUERIES, MAX_READ_REPLICAS,
    MAX_USERS, RateLimiter, Route, RouteId, Scenario, SpendCap, Tier, Traffic,
};
use super::compose::SourceMap;
use super::schema as file;
use super::schema::AiLimits;
use super::units::{Duration, Rate};
use super::validate::{self, Report};

/// Compiles `scenario`, read from the files of `source`; every problem comes
/// back at once.
pub fn compile(source: &SourceMap, scenario: &file::Scenario) -> Result<Scenario, Vec<Diagnostic>> {
    let mut report = Report::new(source);
    validate::check(&mut report, scenario);
    let compiled = Compiler {
        report: &mut report,
        file: scenario,
        routes: scenario.route_names(),
        functions: scenario
            .functions
            .value
            .iter()
            .map(|f| f.name.value.as_str())
            .collect(),
        limiters: scenario.rate_limits.keys().map(String::as_str).collect(),
        apis: scenario.externals.keys().map(String::as_str).collect(),
    }
    .scenario();
    if report.found.is_empty() {
        Ok(compiled)
    } else {
        Err(report.found)
    }
}

/// Resolves and bounds one file, recording what does not resolve or fit.
struct Compiler<'r, 'a> {
    report: &'r mut Report<'a>,
    file: &'a file::Scenario,
    routes: Vec<&'a str>,
    functions: Vec<&'a str>,
    limiters: Vec<&'a str>,
    apis: Vec<&'a str>,
}

/// The id of `name` (written at `at`) among `names`, the names of `what`
/// ("a route of this scenario"); otherwise a diagnostic under `key` and a
/// stand-in id, never used: a scenario with a diagnostic is not returned.
fn resolve<T>(
    report: &mut Report,
    names: &[&str],
    what: &str,
    (name, at): (&str, &Location),
    key: String,
) -> Id<T> {
    let found = names.iter().position(|n| *n == name).and_then(Id::new);
    found.unwrap_or_else(|| {
        let valid = if names.is_empty() {
            "none defined".to_string()
        } else {
            names.join(", ")
        };
        report.add(at, key, format!("`{name}` is not {what}; valid: {valid}"));
        Id::stand_in()
    })
}

/// A name and where it was written.
fn named(name: &Spanned<String>) -> (&str, &Location) {
    (&name.value, &name.referenced)
}

impl Compiler<'_, '_> {
    fn route_id(&mut self, name: &Spanned<String>, key: String) -> RouteId {
        const ROUTE: &str = "a route of this scenario";
        resolve(self.report, &self.routes, ROUTE, named(name), key)
    }

    /// Reports a list longer than ids can number.
    fn fits_ids(&mut self, count: usize, location: &Location, key: &str) {
        if count > Id::<()>::LIMIT {
            self.report.add(
                location,
                key,
                format!(
                    "has {count} entries; at most {} are supported",
                    Id::<()>::LIMIT
                ),
            );
        }
    }

    /// Reports `value` over `max` at `location` under `key`.
    fn at_most(&mut self, value: u64, max: u64, location: &Location, key: String, why: &str) {
        if value > max {
            self.report
                .add(location, key, format!("must be at most {max} ({why})"));
        }
    }

    fn scenario(&mut self) -> Scenario {
        let file = self.file;
        self.fits_ids(file.routes.value.len(), &file.routes.referenced, "routes");
        self.fits_ids(
            file.functions.value.len(),
            &file.functions.referenced,
            "functions",
        );
        if let Some(limiter) = file.rate_limits.values().nth(Id::<()>::LIMIT) {
            self.fits_ids(file.rate_limits.len(), &limiter.referenced, "rate_limits");
        }
        if let Some(api) = file.externals.values().nth(Id::<()>::LIMIT) {
            self.fits_ids(file.externals.len(), &api.referenced, "externals");
        }
        if let Some(job) = file.jobs.get(Id::<()>::LIMIT) {
            self.fits_ids(file.jobs.len(), &job.tasks.referenced, "jobs");
        }
        let tiers = file
            .tiers
            .value
            .iter()
            .map(|tier| Tier {
                name: tier.name.clone(),
                users: tier.users.value.0,
            })
            .collect();
        let routes: Vec<Route> = file
            .routes
            .value
            .iter()
            .enumerate()
            .map(|(index, route)| self.route(index, route))
            .collect();
        self.check_fan_out_cycles(&routes);
        let jobs = file
            .jobs
            .iter()
            .enumerate()
            .map(|(index, job)| Job {
                name: job.name.clone(),
                at: job.at,
                every: job.every,
                tasks: job.tasks.value,
                route: self.route_id(&job.route, format!("jobs[{index}].route")),
                queue_concurrency: job.queue.as_ref().map(|q| q.concurrency.value),
            })
            .collect();
        let scenario = Scenario {
            name: file.name.value.clone(),
            description: file.description.clone(),
            seed: file.seed,
            replications: file.replications.value,
            start: file.start,
            timezone: file.timezone,
            horizon: file.horizon.value,
            warmup: file.warmup(),
            tiers,
            slo: file.slo.clone(),
            traffic: self.traffic(),
            routes,
            functions: file.functions.value.iter().map(function).collect(),
            database: self.database(),
            rate_limits: file
                .rate_limits
                .iter()
                .map(|(name, limit)| RateLimiter {
                    name: name.clone(),
                    limit: limit.value.clone(),
                })
                .collect(),
            redis: file.redis.clone(),
            ai: file.ai.as_ref().map(|ai| self.ai(ai)),
            costs: file.costs.as_ref().map(|costs| costs.value.clone()),
            externals: file
                .externals
                .iter()
                .map(|(name, api)| ExternalApi {
                    name: name.clone(),
                    api: api.value,
                })
                .collect(),
            jobs,
            images: file.images.as_ref().map(|images| images.value),
            alerts: file.alerts.as_ref().map(|alerts| {
                alerts
                    .value
                    .iter()
                    .filter_map(alert_rule)
                    .collect::<Vec<AlertRule>>()
            }),
        };
        let max_users = scenario.max_users();
        for (index, tier) in file.tiers.value.iter().enumerate() {
            self.at_most(
                tier.users.value.0,
                max_users,
                &tier.users.referenced,
                format!("tiers[{index}].users"),
                "users and abusive clients share 32-bit client ids",
            );
        }
        scenario
    }

    fn traffic(&mut self) -> Traffic {
        let traffic = &self.file.traffic;
        let abusive_clients = traffic.abusive_clients.as_ref().map(|clients| {
            let key = |field: &str| format!("traffic.abusive_clients.{field}");
            let count = match (&clients.count, &clients.share) {
                (Some(count), _) => {
                    self.at_most(
                        count.value,
                        MAX_USERS,
                        &count.referenced,
                        key("count"),
                        "users and abusive clients share 32-bit client ids",
                    );
                    ClientCount::Count(count.value)
                }
                (None, Some(share)) => ClientCount::Share(share.value),
                // Validation reports a missing count.
                (None, None) => ClientCount::Count(0),
            };
            AbusiveClients {
                count,
                rate: clients.rate.value,
                active_per_day: clients.active_per_day.value,
                routes: clients
                    .routes
                    .value
                    .iter()
                    .enumerate()
                    .map(|(index, route)| self.route_id(route, key(&format!("routes[{index}]"))))
                    .collect(),
            }
        });
        Traffic {
            daily_active_share: traffic.daily_active_share,
            sessions_per_active_user: traffic.sessions_per_active_user.value,
            requests_per_session: traffic.requests_per_session.value,
            think_time: traffic.think_time,
            daily_profile: traffic.daily_profile.value.clone(),
            weekly_profile: traffic.weekly_profile.as_ref().map(|w| w.value.clone()),
            bursts: traffic.bursts.iter().map(burst).collect(),
            users_per_ip: traffic.users_per_ip.as_ref().map_or(1.0, |u| u.value),
            abusive_clients,
        }
    }

    fn route(&mut self, index: usize, route: &file::Route) -> Route {
        let key = |field: &str| format!("routes[{index}].{field}");
        let function = resolve(
            self.report,
            &self.functions,
            "a function of this scenario",
            named(&route.function),
            key("function"),
        );
        let rate_limit = route.rate_limit.as_ref().map(|limiter| {
            resolve(
                self.report,
                &self.limiters,
                "a limiter of `rate_limits`",
                named(limiter),
                key("rate_limit"),
            )
        });
        let fan_out = route
            .fan_out
            .iter()
            .enumerate()
            .map(|(position, target)| self.route_id(target, key(&format!("fan_out[{position}]"))))
            .collect();
        self.at_most(
            u64::from(route.queries.value),
            u64::from(MAX_QUERIES),
            &route.queries.referenced,
            key("queries"),
            "they run one after another, each an event of its own",
        );
        if route.externals.len() > MAX_EXTERNAL_CALLS {
            self.report.add(
                &route.name.referenced,
                key("externals"),
                format!(
                    "has {} calls; at most {MAX_EXTERNAL_CALLS} are supported",
                    route.externals.len()
                ),
            );
        }
        let externals = route
            .externals
            .iter()
            .enumerate()
            .map(|(position, call)| ApiCall {
                api: resolve(
                    self.report,
                    &self.apis,
                    "an API of `externals`",
                    (&call.value.api, &call.referenced),
                    key(&format!("externals[{position}].api")),
                ),
                units: call.value.units,
            })
            .collect();
        let db_access = route
            .db_access
            .as_ref()
            .map(|a| a.value)
            .or(self.file.database.value.db_access)
            .unwrap_or_default();
        Route {
            name: route.name.value.clone(),
            request: route.request.clone(),
            weight: route.weight.as_ref().map_or(0.0, |w| w.value.0),
            function,
            queries: route.queries.value,
            read_share: route.read_share.as_ref().map_or(0.0, |s| s.value.0),
            db_access,
            statement_timeout: self.file.database.value.statement_timeouts.of(route
                .db_role
                .or(self.file.database.value.db_role)
                .unwrap_or(match db_access {
                    file::DbAccess::Sql => file::DbRole::Postgres,
                    file::DbAccess::DataApi => file::DbRole::Authenticated,
                })),
            handler_time: route.handler_time,
            response_size: route.response_size,
            fan_out,
            slo: route.slo,
            cache: route.cache.as_ref().map(|c| c.value),
            rate_limit,
            per_user_per_month: route.per_user_per_month.as_ref().map(|v| v.value),
            conversation: route.conversation,
            heavy_users: route.heavy_users.as_ref().map(|h| h.value),
            ai: route.ai,
            externals,
            app_cache: route.app_cache.as_ref().map(|c| c.value),
            // assumption: about 1 KB of headers and a small body.
            request_size: route.request_size.map_or(1 << 10, |size| size.0),
            db_result_size: route
                .db_result_size
                .or(route.response_size)
                .map_or(0, |size| size.0),
            page: route.page,
        }
    }

    /// A route that fans out to itself, directly or not, would never
    /// finish; checked once every name resolved.
    fn check_fan_out_cycles(&mut self, routes: &[Route]) {
        if !self.report.found.is_empty() {
            return;
        }
        for (start, route) in routes.iter().enumerate() {
            let mut stack: Vec<usize> = route.fan_out.iter().map(|t| t.index()).collect();
            let mut visited = HashSet::new();
            while let Some(next) = stack.pop() {
                if next == start {
                    let name = &self.file.routes.value[start].name;
                    self.report.add(
                        &name.referenced,
                        format!("routes[{start}].fan_out"),
                        format!(
                            "`{}` fans out to itself (directly or through other routes)",
                            name.value
                        ),
                    );
                    break;
                }
                if visited.insert(next) {
                    stack.extend(routes[next].fan_out.iter().map(|t| t.index()));
                }
            }
        }
    }

    fn database(&mut self) -> Database {
        let database = &self.file.database.value;
        let read_replicas = database.read_replicas.as_ref().map_or(0, |replicas| {
            self.at_most(
                u64::from(replicas.value),
                u64::from(MAX_READ_REPLICAS),
                &replicas.referenced,
                "database.read_replicas".into(),
                "a database node's id is one byte",
            );
            replicas.value
        });
        Database {
            max_connections: database.max_connections.as_ref().map(|m| m.value),
            cpus: database.cpus.as_ref().map(|c| c.value),
            platform_connections: database
                .platform_connections
                .as_ref()
                .map_or(0, |p| p.value),
            connect_time: database.connect_time,
            query_time: database.query_time,
            connections_per_instance: database.connections_per_instance.value,
            close_delay: database.close_delay,
            compute: database.compute.as_ref().map(|c| c.value),
            read_replicas,
            data_api_pool: database.data_api_pool(),
            data_api_timeout: database.data_api_timeout,
            connection_timeout: database.connection_timeout,
            pooler: database.pooler,
            ipv4_addon: database.ipv4_addon,
            cpu_burst: database.cpu_burst.as_ref().map(|b| b.value),
            disk_size: database.disk_size,
        }
    }

    fn ai(&mut self, ai: &Spanned<file::Ai>) -> Ai {
        let config = &ai.value;
        self.at_most(
            u64::from(config.retries.value.max),
            u64::from(MAX_AI_RETRIES),
            &config.retries.referenced,
            "ai.retries.max".into(),
            "a request counts its attempts in one byte",
        );
        let tier = config.tier.as_ref().map(|t| t.value);
        let prices = config.price_per_mtok.map(|p| {
            // Anthropic: 5-minute writes 1.25x, 1-hour writes 2x, reads 0.1x
            // the input price (FACTS.md §7).
            let input = p.input.0;
            AiPrices {
                input,
                output: p.output.0,
                cache_write_5m: p.cache_write_5m.map_or(1.25 * input, |a| a.0),
                cache_write_1h: p.cache_write_1h.map_or(2.0 * input, |a| a.0),
                cache_read: p.cache_read.map_or(0.1 * input, |a| a.0),
            }
        });
        let tier_cap = tier.and_then(tier_spend_cap);
        let spend_cap = match (&config.spend_limit, tier_cap) {
            (Some(limit), Some(cap)) if limit.value.0 > cap => {
                self.report.add(
                    &limit.referenced,
                    "ai.spend_limit",
                    format!(
                        "(${}) must not exceed the tier's monthly cap (${cap}): \
                         Anthropic: \"Your spend limit cannot exceed your current tier's cap\"",
                        limit.value.0
                    ),
                );
                None
            }
            (Some(limit), _) => Some(SpendCap {
                usd: limit.value.0,
                own: true,
            }),
            (None, cap) => cap.map(|usd| SpendCap { usd, own: false }),
        };
        if spend_cap.is_some() && prices.is_none() {
            self.report.add(
                &ai.referenced,
                "ai.price_per_mtok",
                "is needed to count spend against the monthly cap of `ai.tier` or `ai.spend_limit`",
            );
        }
        let class = config.model_class;
        let tier_limits = tier.map(|t| tier_limits(t, class)).unwrap_or_default();
        let set = config.limits.unwrap_or_default();
        let limits = AiLimits {
            requests: set.requests.or(tier_limits.requests),
            input_tokens: set.input_tokens.or(tier_limits.input_tokens),
            output_tokens: set.output_tokens.or(tier_limits.output_tokens),
        };
        Ai {
            model: config.model.clone(),
            tier,
            prices,
            spend_cap,
            spent_before_start: config.spent_before_start.map_or(0.0, |a| a.0),
            month_starts: calendar::utc_month_starts(
                self.file.start,
                self.file.timezone,
                self.file.horizon.value.nanos(),
            ),
            min_cacheable_tokens: config
                .min_cacheable_tokens
                .unwrap_or_else(|| min_cacheable_tokens(class)),
            time_to_first_token: config.time_to_first_token,
            output_tokens_per_second: config.output_tokens_per_second.value,
            limits,
            error_rate: config.error_rate,
            outages: config.outages.clone(),
            retries: config.retries.value,
            circuit_breaker: config.circuit_breaker.as_ref().map(|b| b.value),
            max_in_flight: config.max_in_flight.as_ref().map(|c| c.value),
        }
    }
}

/// A tier's monthly spend cap, USD (FACTS.md §7).
fn tier_spend_cap(tier: file::AiTier) -> Option<f64> {
    match tier {
        file::AiTier::Start => Some(500.0),
        file::AiTier::Build => Some(1_000.0),
        file::AiTier::Scale => Some(200_000.0),
        file::AiTier::Custom => None,
    }
}

/// A tier's per-minute limits for a model class: requests, input and
/// output tokens (FACTS.md §7; Custom: none, the scenario gives them).
fn tier_limits(tier: file::AiTier, class: file::ModelClass) -> AiLimits {
    let (requests, input, output) = match (tier, class) {
        (file::AiTier::Custom, _) => return AiLimits::default(),
        (file::AiTier::Start, file::ModelClass::Fable) => (1_000.0, 500_000.0, 100_000.0),
        (file::AiTier::Build, file::ModelClass::Fable) => (2_000.0, 1_500_000.0, 300_000.0),
        (file::AiTier::Scale, file::ModelClass::Fable) => (4_000.0, 4_000_000.0, 800_000.0),
        (file::AiTier::Start, _) => (1_000.0, 2_000_000.0, 400_000.0),
        (file::AiTier::Build, _) => (5_000.0, 5_000_000.0, 1_000_000.0),
        (file::AiTier::Scale, _) => (10_000.0, 10_000_000.0, 2_000_000.0),
    };
    let per_minute = |count: f64| {
        Some(Rate {
            count,
            per: Duration::from_secs(60),
        })
    };
    AiLimits {
        requests: per_minute(requests),
        input_tokens: per_minute(input),
        output_tokens: per_minute(output),
    }
}

/// The shortest cacheable prompt prefix of a model class, tokens
/// (FACTS.md §7: Sonnet 4.5/4.6/5 and Opus 4.8 1,024; Haiku 4.5 4,096;
/// Fable 5 and 5.1 512).
fn min_cacheable_tokens(class: file::ModelClass) -> u32 {
    match class {
        file::ModelClass::Sonnet | file::ModelClass::Opus => 1_024,
        file::ModelClass::Haiku => 4_096,
        file::ModelClass::Fable => 512,
    }
}

fn function(function: &file::Function) -> Function {
    Function {
        name: function.name.value.clone(),
        model: function.model,
        concurrency: function.concurrency.as_ref().map_or(1, |c| c.value),
        cold_start: function.cold_start,
        idle_timeout: function.idle_timeout,
        reuse: function.reuse,
        // Fluid keeps one instance of a production deployment warm: Vercel's
        // "scale to one" (FACTS.md §4). Set 0 for a preview deployment.
        min_instances: function.min_instances.as_ref().map_or(
            match function.model {
                file::FunctionModel::Classic => 0,
                file::FunctionModel::Fluid => 1,
            },
            |m| m.value,
        ),
        max_instances: function.max_instances.value,
        scale_rate: function.scale_rate.as_ref().map(|r| r.value),
        overflow: function.overflow,
        memory: function.memory,
        max_duration: function.max_duration,
    }
}

fn burst(burst: &file::Burst) -> Burst {
    Burst {
        name: burst.name.clone(),
        at: burst.at,
        duration: burst.duration,
        multiplier: burst.multiplier.value,
    }
}

/// An alert with its threshold in its metric's unit (validation reports
/// one of the wrong form, or with both or neither side).
fn alert_rule(alert: &file::Alert) -> Option<AlertRule> {
    let (above, threshold) = match (&alert.above, &alert.below) {
        (Some(above), None) => (true, above.value),
        (None, Some(below)) => (false, below.value),
        _ => return None,
    };
    Some(AlertRule {
        name: alert.name.clone(),
        metric: alert.metric.value,
        above,
        threshold: alert.metric.value.value_of(threshold)?,
        window: alert.window.value,
    })
}
