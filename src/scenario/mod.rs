//! Scenario files: the YAML schema, its value types, loading and validation.
//!
//! [`load`] reads a file (merged over the files it `extends`, and with each
//! tier's `set` applied to that tier's stack), checks it whole and compiles
//! it into a [`Loaded`] [`Scenario`]: names resolved to typed ids, defaults
//! applied, bounds checked. Every problem comes back as a [`Diagnostic`]
//! naming the file, line, column and key.

mod calendar;
mod compile;
mod compiled;
mod compose;
mod compute;
mod dist;
mod error;
pub mod json_schema;
mod key_path;
mod schema;
mod units;
mod validate;

use std::path::Path;

pub use calendar::{Date, DayTime, Timezone, civil_from_days, utc_day_of_month};
pub use compiled::{
    AbusiveClients, Ai, AiPrices, AiTokens, AlertRule, ApiCall, ApiId, Burst, ClientCount,
    ConnectionAlert, Database, ExternalApi, Function, FunctionId, Id, Job, LimiterId,
    MAX_AI_RETRIES, MAX_EXTERNAL_CALLS, MAX_READ_REPLICAS, MAX_USERS, RateLimiter, Route, RouteId,
    Scenario, SpendCap, Tier, Traffic,
};
pub use compose::read_scenario_file;
use compose::{ReadError, SourceMap, Tree};
pub use compute::ComputeSize;
pub use dist::{CountDist, DurationDist, DurationSampler, Z95};
pub use error::{Diagnostic, Position, ScenarioError};
pub use schema::{
    AiLimits, AiTier, AlertMetric, Algorithm, AppCache, BreakerScope, Cache, CacheKeyword,
    CacheScope, CacheTtl, CdnBilling, CircuitBreaker, Compute, ConnectionThreshold, Conversation,
    Costs, CpuBurst, DbAccess, External, FunctionModel, HeavyUsers, Images, Judge, LimitKey,
    MemoryBilled, ModelClass, Outage, Overflow, PageView, PoolMode, Pooler, PoolerKind, Popularity,
    RateLimit, Redis, Retries, Reuse, RouteAi, RouteSlo, RouteSloKeyword, SharedCache, Slo,
    SupabaseCosts, SupabasePlan, TokenPrices, Tokens, UpstashCosts, UpstashPlan, VercelBilling,
    VercelCosts, VercelPlan,
};
pub use units::{Amount, Count, Duration, Rate, Share, Size, Threshold};

/// Reads and validates the scenario at `path`, with the files it extends.
pub fn load(path: &Path) -> Result<Loaded, ScenarioError> {
    let text = compose::read_scenario_file(path).map_err(|source| ScenarioError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(path, &text)
}

/// Parses and validates scenario `text`, reporting positions in `path`
/// (and in the files it extends, read relative to it).
pub fn parse(path: &Path, text: &str) -> Result<Loaded, ScenarioError> {
    let tree = match Tree::from_text(path, text) {
        Ok(tree) => tree,
        // serde-saphyr words syntax errors best (its parser is the same);
        // read into no particular type, so that only the syntax can fail.
        Err(ReadError::Syntax(problems)) => {
            return Err(ScenarioError::Invalid(
                match serde_saphyr::from_str::<serde::de::IgnoredAny>(text) {
                    Err(error) => vec![from_yaml_error(&SourceMap::file(path), text, &error)],
                    Ok(_) => problems,
                },
            ));
        }
        Err(ReadError::Invalid(problems)) => return Err(ScenarioError::Invalid(problems)),
    };
    if !tree.composes() {
        let source = SourceMap::file(path);
        let scenario = document(&source, text)?;
        return Ok(Loaded {
            path: path.to_path_buf(),
            scenario,
            tier_stacks: Vec::new(),
        });
    }
    let composed = tree.scenario();
    let scenario = document(&composed.map, &composed.text)?;
    let mut problems = Vec::new();
    let mut tier_stacks: Vec<Option<Scenario>> = Vec::new();
    match tree.tier_stacks() {
        Ok(stacks) => {
            tier_stacks.resize_with(scenario.tiers.len(), || None);
            for (tier, stack) in stacks {
                match document(&stack.map, &stack.text) {
                    Ok(stack) => tier_stacks[tier] = Some(stack),
                    Err(ScenarioError::Invalid(found)) => problems.extend(found),
                    Err(other) => return Err(other),
                }
            }
        }
        Err(found) => problems.extend(found),
    }
    if !problems.is_empty() {
        problems.dedup();
        return Err(ScenarioError::Invalid(problems));
    }
    Ok(Loaded {
        path: path.to_path_buf(),
        scenario,
        tier_stacks,
    })
}

/// Reads one YAML document, validates it and compiles it.
fn document(source: &SourceMap, text: &str) -> Result<Scenario, ScenarioError> {
    let file: schema::Scenario = serde_saphyr::from_str(text)
        .map_err(|error| ScenarioError::Invalid(vec![from_yaml_error(source, text, &error)]))?;
    compile::compile(source, &file).map_err(ScenarioError::Invalid)
}

/// A validated scenario, with the stack each tier runs on.
#[derive(Debug)]
pub struct Loaded {
    /// The file it came from.
    pub path: std::path::PathBuf,
    /// The scenario.
    pub scenario: Scenario,
    /// Per tier, the stack its `set` makes (`None`: the scenario's own);
    /// empty when no tier sets anything.
    pub tier_stacks: Vec<Option<Scenario>>,
}

impl Loaded {
    /// The stack tier `tier` runs on.
    pub fn stack(&self, tier: usize) -> &Scenario {
        self.tier_stacks
            .get(tier)
            .and_then(Option::as_ref)
            .unwrap_or(&self.scenario)
    }

    /// Replaces the root seed of the scenario and of every tier's stack.
    pub fn set_seed(&mut self, seed: u64) {
        self.scenario.seed = seed;
        for stack in self.tier_stacks.iter_mut().flatten() {
            stack.seed = seed;
        }
    }
}

fn from_yaml_error(source: &SourceMap, text: &str, error: &serde_saphyr::Error) -> Diagnostic {
    let location = error.location().unwrap_or(serde_saphyr::Location::UNKNOWN);
    let rendered = error
        .without_snippet()
        .render_with_options(serde_saphyr::render_options! {
            snippets: serde_saphyr::SnippetMode::Off,
        });
    // The position is printed in front; drop the parser's own suffix, and
    // its hints to a programmer.
    let message = match rendered.rfind(" at line ") {
        Some(at) => rendered[..at].to_string(),
        None => rendered,
    };
    let message = if message.starts_with("duplicate mapping key") {
        "this key is given twice in its mapping; keep one".to_string()
    } else if message.starts_with("multiple YAML documents") {
        "a scenario file holds one YAML document; this is a second one (after `---`)".to_string()
    } else {
        message
    };
    if let Some(field) = message.strip_prefix("missing field ") {
        // The parser points at the mapping's last key; point at the mapping.
        if let Some(mapping) = compose::mapping_holding(text, location.line(), location.column()) {
            let expected = serde_saphyr::from_str::<schema::Scenario>(&mapping.probed)
                .err()
                .map(|error| error.without_snippet().to_string())
                .and_then(|probe| {
                    let unknown = format!("unknown field `{}`, expected ", compose::PROBE_KEY);
                    let list = &probe[probe.find(&unknown)? + unknown.len()..];
                    Some(list[..list.find(" at line ").unwrap_or(list.len())].to_string())
                });
            return Diagnostic {
                position: source.position_of(mapping.line, mapping.column),
                key: mapping.key,
                message: match expected {
                    Some(keys) => format!("missing field {field} (expected {keys})"),
                    None => format!("missing field {field}"),
                },
            };
        }
    }
    Diagnostic {
        position: source.position(&location),
        key: key_path::key_path(text, location.line(), location.column()),
        message,
    }
}
