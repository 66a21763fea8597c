//! Scenario files: the YAML schema, its value types, loading and validation.
//!
//! [`load`] reads a file into a [`Scenario`] and checks it whole; every
//! problem comes back as a [`Diagnostic`] naming the file, line, column and
//! key. Keys that later versions will simulate are accepted and listed by
//! [`Scenario::deferred_keys`] so that `capsim check` can warn about them.

mod calendar;
mod compute;
mod dist;
mod error;
mod key_path;
mod schema;
mod units;
mod validate;

use std::path::Path;

pub use calendar::{Date, DayTime, Timezone};
pub use compute::ComputeSize;
pub use dist::{CountDist, DurationDist, DurationSampler};
pub use error::{Diagnostic, Position, ScenarioError};
pub use schema::*;
pub use units::{Duration, Rate, Share, Size};

/// Reads and validates the scenario at `path`.
pub fn load(path: &Path) -> Result<Loaded, ScenarioError> {
    let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(path, &text)
}

/// Parses and validates scenario `text`, reporting positions in `path`.
pub fn parse(path: &Path, text: &str) -> Result<Loaded, ScenarioError> {
    let scenario: Scenario = serde_saphyr::from_str(text)
        .map_err(|error| ScenarioError::Invalid(vec![from_yaml_error(path, text, &error)]))?;
    let problems = validate::check(path, &scenario);
    if !problems.is_empty() {
        return Err(ScenarioError::Invalid(problems));
    }
    let warnings = validate::deferred(path, &scenario);
    Ok(Loaded {
        path: path.to_path_buf(),
        scenario,
        warnings,
    })
}

/// A validated scenario and what it said that is not simulated yet.
#[derive(Debug)]
pub struct Loaded {
    /// The file it came from.
    pub path: std::path::PathBuf,
    /// The scenario.
    pub scenario: Scenario,
    /// Keys accepted but not simulated yet.
    pub warnings: Vec<Diagnostic>,
}

fn from_yaml_error(path: &Path, text: &str, error: &serde_saphyr::Error) -> Diagnostic {
    let location = error.location().unwrap_or(serde_saphyr::Location::UNKNOWN);
    let rendered = error
        .without_snippet()
        .render_with_options(serde_saphyr::render_options! {
            snippets: serde_saphyr::SnippetMode::Off,
        });
    // The position is printed in front; drop the parser's own suffix.
    let message = match rendered.rfind(" at line ") {
        Some(at) => rendered[..at].to_string(),
        None => rendered,
    };
    Diagnostic {
        position: Position::at(path, &location),
        key: key_path::key_path(text, location.line(), location.column()),
        message,
    }
}
