//! Reports: CSV files behind a small [`Exporter`] trait (one file per
//! format) and the terminal summary. A command's files are written as one
//! [`ReportSet`]: all of them replace the previous ones, or none does.

mod alerts_csv;
mod breakpoints;
mod charts;
mod check;
mod columns;
mod compare;
mod costs_csv;
mod output;
mod part_file;
mod routes_csv;
mod summary_csv;
mod terminal;
mod timeseries_csv;

use std::io::{self, Write};
use std::path::PathBuf;

use crate::experiment::ScenarioRun;

pub use alerts_csv::AlertsCsv;
pub use breakpoints::{Breakpoints, BreakpointsCsv, breakpoints_table};
pub use charts::{CostsPng, LATENCY_PNG, SATURATION_PNG, TierLinesPng, TimelinePng};
pub use check::check_summary;
pub use compare::{CompareChart, CompareCsv, Comparison, compare_charts, comparison_summary};
pub use costs_csv::CostsCsv;
pub use output::{ReportSet, remove_temporary_files};
pub use part_file::{PartFile, ShardResults};
pub use routes_csv::RoutesCsv;
pub use summary_csv::SummaryCsv;
pub use terminal::saturation_summary;
pub use timeseries_csv::TimeseriesCsv;

/// Writes one report file from `T`: a scenario run, or a search's results.
pub trait Exporter<T: ?Sized> {
    /// The file name, such as `summary.csv`.
    fn file_name(&self) -> String;
    /// Writes the report.
    fn write(&self, input: &T, out: &mut dyn Write) -> io::Result<()>;
}

/// The exporters `capsim run` writes for `run`: the CSVs and charts, costs
/// only when the scenario has `costs`, and one timeline per tier.
pub fn exporters<'a>(run: &ScenarioRun<'a>) -> Vec<Box<dyn Exporter<ScenarioRun<'a>>>> {
    let mut exporters: Vec<Box<dyn Exporter<ScenarioRun<'a>>>> = vec![
        Box::new(SummaryCsv::named("summary.csv")),
        Box::new(RoutesCsv),
        Box::new(TimeseriesCsv),
        Box::new(AlertsCsv),
        Box::new(SATURATION_PNG),
        Box::new(LATENCY_PNG),
    ];
    if run.scenario.costs.is_some() {
        exporters.push(Box::new(CostsCsv));
        exporters.push(Box::new(CostsPng));
    }
    for tier in 0..run.tiers.len() {
        exporters.push(Box::new(TimelinePng::new(run, tier)));
    }
    exporters
}

/// The exporters `capsim sweep` writes: the summary as sweep.csv, the
/// summary charts, and costs when the scenario has them.
pub fn sweep_exporters<'a>(run: &ScenarioRun<'a>) -> Vec<Box<dyn Exporter<ScenarioRun<'a>>>> {
    let mut exporters: Vec<Box<dyn Exporter<ScenarioRun<'a>>>> = vec![
        Box::new(SummaryCsv::named("sweep.csv")),
        Box::new(SATURATION_PNG),
        Box::new(LATENCY_PNG),
    ];
    if run.scenario.costs.is_some() {
        exporters.push(Box::new(CostsCsv));
        exporters.push(Box::new(CostsPng));
    }
    exporters
}

/// Errors while writing reports.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A file could not be written.
    // The cause is the error's source: printed after it, once.
    #[error("cannot write {}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// Another process is writing the same report set.
    #[error(
        "another capsim is writing the {set} reports in {} (it holds .capsim-{set}.lock there); \
         wait for it to finish, or write to another --out folder",
        dir.display()
    )]
    Busy {
        /// The folder.
        dir: PathBuf,
        /// The report set.
        set: String,
    },
}

/// The names of several lists, each once, in order of first appearance.
fn union<'a, S: AsRef<str> + 'a>(lists: impl Iterator<Item = &'a [S]>) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for list in lists {
        for name in list {
            if !names.iter().any(|n| n == name.as_ref()) {
                names.push(name.as_ref().to_string());
            }
        }
    }
    names
}

/// Header cells `name, name_ci95` for each of `names`.
fn estimate_header<'a>(names: impl Iterator<Item = &'a str>) -> Vec<String> {
    names
        .flat_map(|name| [name.to_string(), format!("{name}_ci95")])
        .collect()
}

/// Appends the mean over replications of `values` and its 95% half-width.
fn push_estimate(row: &mut Vec<String>, values: &[f64]) {
    let estimate = crate::stats::estimate(values);
    row.push(number(estimate.mean));
    row.push(number(estimate.half_width));
}

/// Formats a number for CSV: empty for NaN, integers without decimals,
/// others with 4 decimals, so output is stable and byte-comparable.
pub fn number(value: f64) -> String {
    if !value.is_finite() {
        String::new()
    } else if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        format!("{value:.4}")
    }
}
