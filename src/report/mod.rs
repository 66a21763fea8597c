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
mod request_log;
mod routes_csv;
mod summary_csv;
mod terminal;
mod timeseries_csv;

use std::io::{self, Write};
use std::path::PathBuf;

use crate::experiment::ScenarioRun;

pub use alerts_csv::AlertsCsv;
pub use breakpoints::{Breakpoints, BreakpointsCsv, breakpoints_table};
pub use charts::{CostsPng, LATENCY_PNG, SATURATION_PNG, TierLinesPng, TimelinePng, qq_charts};
pub use check::check_summary;
pub use compare::{CompareChart, CompareCsv, Comparison, compare_charts, comparison_summary};
pub use costs_csv::CostsCsv;
pub use output::{ReportSet, remove_temporary_files};
pub use part_file::{PartFile, ShardResults};
pub use request_log::request_logs;
pub use routes_csv::RoutesCsv;
pub use summary_csv::SummaryCsv;
pub use terminal::saturation_summary;
pub use timeseries_csv::TimeseriesCsv;

/// A name as it appears in file names: `Tier 1` is `tier-1`.
pub fn file_slug(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

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

/// Significant digits a CSV number keeps.
const SIGNIFICANT_DIGITS: i32 = 6;

/// Formats a number for CSV: empty for NaN, integers without decimals,
/// others to 6 significant digits without trailing zeros (a ratio of
/// 0.001225 and its CI keep their value), in exponent form below 1e-6;
/// output is stable and byte-comparable.
pub fn number(value: f64) -> String {
    if !value.is_finite() {
        return String::new();
    }
    if value.fract() == 0.0 && value.abs() < 1e15 {
        return format!("{value:.0}");
    }
    let magnitude = value.abs().log10().floor() as i32;
    if magnitude < -6 {
        let text = format!("{value:.*e}", (SIGNIFICANT_DIGITS - 1) as usize);
        let (mantissa, exponent) = text.split_once('e').expect("exponent form");
        return format!("{}e{exponent}", trim_zeros(mantissa));
    }
    let decimals = (SIGNIFICANT_DIGITS - 1 - magnitude).max(0) as usize;
    trim_zeros(&format!("{value:.decimals$}")).to_string()
}

/// `text` without the trailing zeros of its fraction (nor a bare point).
fn trim_zeros(text: &str) -> &str {
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::number;

    #[test]
    fn numbers_keep_six_significant_digits_at_any_magnitude() {
        assert_eq!(number(f64::NAN), "");
        assert_eq!(number(42.0), "42");
        assert_eq!(number(1_993.931_84), "1993.93");
        assert_eq!(number(0.001_225), "0.001225");
        assert_eq!(number(0.000_04), "0.00004");
        assert_eq!(number(0.5), "0.5");
        assert_eq!(number(-0.012_345_67), "-0.0123457");
        assert_eq!(number(12_345_678.9), "12345679");
        assert_eq!(number(0.999_999_9), "1");
        assert_eq!(number(1.234_567e-9), "1.23457e-9");
    }
}
