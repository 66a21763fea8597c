//! `capsim calibrate`: scenario inputs from a database's own statistics.
//!
//! From a `pg_stat_statements` export (a CSV with the view's `query`,
//! `calls`, `mean_exec_time`, `stddev_exec_time` and `rows` columns, times
//! in milliseconds as Postgres reports them), the query-time distribution
//! of `database.query_time`: the statements' executions form one mixture,
//! whose mean and variance are exact from each statement's calls, mean and
//! standard deviation; the lognormal with that mean and variance is the
//! fit (capsim draws one query time per query, whichever statement it is).
//! A lognormal because execution times are positive and right-skewed, and
//! two moments are all the view keeps: its quantiles are not exported.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::report::Exporter;

/// One row of `pg_stat_statements`.
#[derive(Clone, Debug, PartialEq)]
pub struct Statement {
    /// Its normalised text.
    pub query: String,
    /// Executions.
    pub calls: u64,
    /// Mean execution time, ms.
    pub mean_ms: f64,
    /// Standard deviation of the execution time, ms.
    pub stddev_ms: f64,
    /// Rows returned or affected, in all.
    pub rows: u64,
}

/// The lognormal fitted to the statements' executions.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QueryTimeFit {
    /// Executions in all.
    pub calls: u64,
    /// Their mean, ms.
    pub mean_ms: f64,
    /// Their standard deviation, ms.
    pub stddev_ms: f64,
    /// The lognormal's median, ms.
    pub median_ms: f64,
    /// Its 95th percentile, ms.
    pub p95_ms: f64,
}

impl QueryTimeFit {
    /// The mixture of `statements`' executions and its lognormal, or `None`
    /// without an execution of positive mean.
    pub fn of(statements: &[Statement]) -> Option<Self> {
        let calls: u64 = statements.iter().map(|s| s.calls).sum();
        let weight = |s: &Statement| s.calls as f64 / calls as f64;
        let mean: f64 = statements.iter().map(|s| weight(s) * s.mean_ms).sum();
        if calls == 0 || mean <= 0.0 {
            return None;
        }
        // E[X^2] of the mixture: each statement's variance plus its mean squared.
        let second: f64 = statements
            .iter()
            .map(|s| weight(s) * (s.stddev_ms * s.stddev_ms + s.mean_ms * s.mean_ms))
            .sum();
        let variance = (second - mean * mean).max(0.0);
        let sigma2 = (1.0 + variance / (mean * mean)).ln();
        let mu = mean.ln() - sigma2 / 2.0;
        // The standard normal's 95th percentile.
        const Z95: f64 = 1.644_853_626_951_472_2;
        Some(Self {
            calls,
            mean_ms: mean,
            stddev_ms: variance.sqrt(),
            median_ms: mu.exp(),
            p95_ms: (mu + Z95 * sigma2.sqrt()).exp(),
        })
    }
}

/// What went wrong reading an export.
#[derive(Debug, thiserror::Error)]
pub enum CalibrateError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The CSV itself is malformed.
    #[error("{path}: {message}")]
    Csv {
        /// The file.
        path: PathBuf,
        /// What the CSV reader said.
        message: String,
    },
    /// A column the fit needs is missing.
    #[error(
        "{path}: no `{column}` column; a pg_stat_statements export needs query, calls, mean_exec_time and stddev_exec_time (rows is optional), e.g. from \\copy (SELECT query, calls, mean_exec_time, stddev_exec_time, rows FROM pg_stat_statements) TO 'statements.csv' CSV HEADER"
    )]
    MissingColumn {
        /// The file.
        path: PathBuf,
        /// The column.
        column: &'static str,
    },
    /// A value is not what its column holds.
    #[error("{path}:{line}: `{column}` is `{value}`; {expected}")]
    Value {
        /// The file.
        path: PathBuf,
        /// Its line, from 1 (the header).
        line: u64,
        /// The column.
        column: &'static str,
        /// What was found.
        value: String,
        /// What would be valid.
        expected: &'static str,
    },
    /// No statement with an execution.
    #[error("{path}: no statement with calls above 0 and a mean time above 0 ms")]
    Empty {
        /// The file.
        path: PathBuf,
    },
}

/// Reads the statements of the `pg_stat_statements` export at `path`.
pub fn read_statements(path: &Path) -> Result<Vec<Statement>, CalibrateError> {
    let file = std::fs::File::open(path).map_err(|source| CalibrateError::Read {
        path: path.into(),
        source,
    })?;
    let csv_error = |error: csv::Error| CalibrateError::Csv {
        path: path.into(),
        message: error.to_string(),
    };
    let mut reader = csv::Reader::from_reader(io::BufReader::new(file));
    let headers = reader.headers().map_err(csv_error)?.clone();
    let column = |name: &'static str| {
        headers
            .iter()
            .position(|h| h.trim() == name)
            .ok_or(CalibrateError::MissingColumn {
                path: path.into(),
                column: name,
            })
    };
    let (query, calls, mean, stddev) = (
        column("query")?,
        column("calls")?,
        column("mean_exec_time")?,
        column("stddev_exec_time")?,
    );
    let rows = column("rows").ok();
    let mut statements = Vec::new();
    for record in reader.records() {
        let record = record.map_err(csv_error)?;
        let line = record.position().map_or(0, |p| p.line());
        let field = |index: usize| record.get(index).unwrap_or("").trim();
        let count = |index: usize, name: &'static str| {
            field(index)
                .parse::<u64>()
                .map_err(|_| CalibrateError::Value {
                    path: path.into(),
                    line,
                    column: name,
                    value: field(index).into(),
                    expected: "a whole number of 0 or more",
                })
        };
        let millis = |index: usize, name: &'static str| {
            field(index)
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v >= 0.0)
                .ok_or_else(|| CalibrateError::Value {
                    path: path.into(),
                    line,
                    column: name,
                    value: field(index).into(),
                    expected: "milliseconds, a number of 0 or more",
                })
        };
        statements.push(Statement {
            query: field(query).into(),
            calls: count(calls, "calls")?,
            mean_ms: millis(mean, "mean_exec_time")?,
            stddev_ms: millis(stddev, "stddev_exec_time")?,
            rows: rows.map_or(Ok(0), |index| count(index, "rows"))?,
        });
    }
    Ok(statements)
}

/// A calibration: where its numbers come from and the fit.
#[derive(Clone, Debug)]
pub struct Calibration {
    /// The export, as named on the command line.
    pub source: String,
    /// Its statements.
    pub statements: Vec<Statement>,
    /// The query-time fit.
    pub fit: QueryTimeFit,
}

impl Calibration {
    /// The calibration of the export at `path`.
    pub fn of_pg_stat_statements(path: &Path) -> Result<Self, CalibrateError> {
        let statements = read_statements(path)?;
        let fit =
            QueryTimeFit::of(&statements).ok_or(CalibrateError::Empty { path: path.into() })?;
        Ok(Self {
            source: path.display().to_string(),
            statements,
            fit,
        })
    }
}

/// Milliseconds as a scenario duration: microseconds when under 1 ms.
fn duration(ms: f64) -> String {
    if ms < 1.0 {
        format!("{:.0}us", (ms * 1_000.0).max(1.0))
    } else {
        format!("{ms:.3}ms")
    }
}

/// `calibration.yaml`: a scenario fragment to `extends` from or merge in.
pub struct FragmentYaml;

impl Exporter<Calibration> for FragmentYaml {
    fn file_name(&self) -> String {
        "calibration.yaml".into()
    }

    fn write(&self, calibration: &Calibration, out: &mut dyn Write) -> io::Result<()> {
        let fit = &calibration.fit;
        let mut text = String::new();
        let _ = writeln!(
            text,
            "# Written by `capsim calibrate` from {} ({} statements, {} calls).",
            calibration.source,
            calibration.statements.len(),
            fit.calls
        );
        let _ = writeln!(
            text,
            "# query_time: the lognormal with the calls' mean ({:.4} ms) and standard\n\
             # deviation ({:.4} ms), the mixture of every statement's executions\n\
             # weighted by its calls (calibration.csv lists them).",
            fit.mean_ms, fit.stddev_ms
        );
        let (median, p95) = (duration(fit.median_ms), duration(fit.p95_ms));
        // Executions without spread (at the written precision) are a constant.
        let query_time = if median == p95 {
            median
        } else {
            format!("{{ dist: lognormal, median: {median}, p95: {p95} }}")
        };
        let _ = writeln!(text, "database:\n  query_time: {query_time}");
        out.write_all(text.as_bytes())
    }
}

/// `calibration.csv`: each statement, then the fit.
pub struct CalibrationCsv;

impl Exporter<Calibration> for CalibrationCsv {
    fn file_name(&self) -> String {
        "calibration.csv".into()
    }

    fn write(&self, calibration: &Calibration, out: &mut dyn Write) -> io::Result<()> {
        let mut csv = csv::Writer::from_writer(out);
        csv.write_record([
            "row",
            "query",
            "calls",
            "call_share",
            "mean_ms",
            "stddev_ms",
            "rows",
            "median_ms",
            "p95_ms",
        ])?;
        let fit = &calibration.fit;
        let number = crate::report::number;
        for statement in &calibration.statements {
            csv.write_record([
                "statement".into(),
                statement.query.clone(),
                statement.calls.to_string(),
                number(statement.calls as f64 / fit.calls as f64),
                number(statement.mean_ms),
                number(statement.stddev_ms),
                statement.rows.to_string(),
                String::new(),
                String::new(),
            ])?;
        }
        csv.write_record([
            "lognormal fit".into(),
            "all statements".into(),
            fit.calls.to_string(),
            number(1.0),
            number(fit.mean_ms),
            number(fit.stddev_ms),
            calibration
                .statements
                .iter()
                .map(|s| s.rows)
                .sum::<u64>()
                .to_string(),
            number(fit.median_ms),
            number(fit.p95_ms),
        ])?;
        csv.flush()
    }
}
