//! `capsim calibrate`: scenario inputs from a database's own statistics.
//!
//! What holds a server connection is the input the pooler's queue turns
//! into waits, so it is what the fit is for:
//!
//! - From a `pg_stat_statements` export (a CSV with the view's `query`,
//!   `calls`, `mean_exec_time`, `stddev_exec_time` and `rows` columns,
//!   times in milliseconds as Postgres reports them), the executions: the
//!   statements form one mixture, whose mean and variance are exact from
//!   each statement's calls, mean and standard deviation (capsim draws one
//!   query time per query, whichever statement it is).
//! - From PgBouncer's `SHOW STATS` (its `psql --csv` output), the
//!   transaction as PgBouncer times it, less the wait for a server
//!   connection: PgBouncer starts a transaction's clock when its first
//!   query arrives, before a server connection is assigned (`client.c`,
//!   whatever its docs say), and counts that wait on its own. What is left
//!   holds the connection: the execution, the trip between PgBouncer and
//!   Postgres and the result's transfer. PgBouncer keeps totals only, so
//!   the holding time takes its mean from PgBouncer and its spread from
//!   the executions (the overhead taken as constant).
//! - From pgbench's per-transaction logs (`-l`), the latency the client
//!   saw; less PgBouncer's transaction and wait, what neither holds nor
//!   waits for a server connection: the client and its network.
//!
//! The fit is the lognormal of that mean and standard deviation: execution
//! times are positive and right-skewed, and two moments are all the
//! statistics keep (neither view exports quantiles).

use std::fmt::Write as _;
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};

use crate::report::Exporter;
use crate::scenario::Z95;

mod traffic;

pub use traffic::{
    BurstHour, Fit, Interval, LogOptions, Model, RouteFit, RouteRule, TrafficCalibration,
    TrafficCsv, TrafficYaml, calibrate_traffic, describe, parameters, read_route_map,
};

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

/// A lognormal fitted to a mean and a standard deviation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QueryTimeFit {
    /// Executions (or transactions) behind it.
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
    /// The lognormal of `mean_ms` and `stddev_ms` (`mean_ms` above 0).
    pub fn lognormal(calls: u64, mean_ms: f64, stddev_ms: f64) -> Self {
        let sigma2 = (1.0 + (stddev_ms / mean_ms).powi(2)).ln();
        let mu = mean_ms.ln() - sigma2 / 2.0;
        // The standard normal's 95th percentile.
        Self {
            calls,
            mean_ms,
            stddev_ms,
            median_ms: mu.exp(),
            p95_ms: (mu + Z95 * sigma2.sqrt()).exp(),
        }
    }

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
        Some(Self::lognormal(calls, mean, variance.sqrt()))
    }
}

/// PgBouncer's `SHOW STATS` totals over the databases it pools (its own
/// admin database, `pgbouncer`, left out).
#[derive(Clone, Debug, PartialEq)]
pub struct PoolerStats {
    /// The export, as named on the command line.
    pub source: String,
    /// The pooled databases.
    pub databases: Vec<String>,
    /// Transactions in all (`total_xact_count`).
    pub transactions: u64,
    /// Their summed time from the first query's arrival to the end, us
    /// (`total_xact_time`; waits included).
    pub transaction_us: u64,
    /// Clients' summed wait for a server connection, us (`total_wait_time`).
    pub wait_us: u64,
}

impl PoolerStats {
    /// The mean transaction as PgBouncer reports it (waits included), ms.
    pub fn mean_transaction_ms(&self) -> f64 {
        self.transaction_us as f64 / self.transactions as f64 / 1_000.0
    }

    /// The mean time a transaction holds a server connection, ms: the
    /// transaction less its wait.
    pub fn mean_hold_ms(&self) -> f64 {
        self.transaction_us.saturating_sub(self.wait_us) as f64 / self.transactions as f64 / 1_000.0
    }

    /// The mean wait per transaction, ms.
    pub fn mean_wait_ms(&self) -> f64 {
        self.wait_us as f64 / self.transactions as f64 / 1_000.0
    }
}

/// The latencies of pgbench's per-transaction logs.
#[derive(Clone, Debug, PartialEq)]
pub struct ClientLatencies {
    /// The logs, as named on the command line.
    pub sources: Vec<String>,
    /// Transactions with a latency.
    pub transactions: u64,
    /// Transactions logged `skipped` or `failed`, without one.
    pub without_latency: u64,
    /// Their mean, ms.
    pub mean_ms: f64,
    /// Their 95th percentile, ms.
    pub p95_ms: f64,
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
    #[error("{path}: no `{column}` column; {expected}")]
    MissingColumn {
        /// The file.
        path: PathBuf,
        /// The column.
        column: &'static str,
        /// What the file should be, and how to export it.
        expected: &'static str,
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
    /// No pooled database with a transaction.
    #[error("{path}: no database but `pgbouncer` with total_xact_count above 0")]
    NoTransactions {
        /// The file.
        path: PathBuf,
    },
    /// No logged transaction with a latency.
    #[error("{path}: no transaction with a latency in the pgbench logs")]
    NoLatencies {
        /// The first log.
        path: PathBuf,
    },
    /// A route map that is not one, or request logs with no request.
    #[error("{path}: {reason}")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// What is wrong, and what would be valid.
        reason: String,
    },
}

/// What the `pg_stat_statements` export must hold.
const STATEMENTS_EXPECTED: &str = "a pg_stat_statements export needs query, calls, mean_exec_time and stddev_exec_time (rows is optional), e.g. from \\copy (SELECT query, calls, mean_exec_time, stddev_exec_time, rows FROM pg_stat_statements) TO 'statements.csv' CSV HEADER";

/// What the `SHOW STATS` export must hold.
const POOLER_STATS_EXPECTED: &str = "PgBouncer's SHOW STATS has database, total_xact_count, total_xact_time and total_wait_time, e.g. from psql -p 6432 -U pgbouncer pgbouncer --csv -c 'SHOW STATS' > stats.csv";

/// A CSV export read column by column, its errors naming file, line and
/// column.
struct Table<'a> {
    path: &'a Path,
    headers: csv::StringRecord,
    records: csv::StringRecordsIntoIter<io::BufReader<std::fs::File>>,
    expected: &'static str,
}

impl<'a> Table<'a> {
    fn open(path: &'a Path, expected: &'static str) -> Result<Self, CalibrateError> {
        let file = std::fs::File::open(path).map_err(|source| CalibrateError::Read {
            path: path.into(),
            source,
        })?;
        let mut reader = csv::Reader::from_reader(io::BufReader::new(file));
        let headers = reader
            .headers()
            .map_err(|e| Self::csv_error(path, e))?
            .clone();
        Ok(Self {
            path,
            headers,
            records: reader.into_records(),
            expected,
        })
    }

    fn csv_error(path: &Path, error: csv::Error) -> CalibrateError {
        CalibrateError::Csv {
            path: path.into(),
            message: error.to_string(),
        }
    }

    /// The index of column `name`, if the file has it.
    fn optional(&self, name: &str) -> Option<usize> {
        self.headers.iter().position(|h| h.trim() == name)
    }

    /// The index of column `name`.
    fn column(&self, name: &'static str) -> Result<usize, CalibrateError> {
        self.optional(name)
            .ok_or_else(|| CalibrateError::MissingColumn {
                path: self.path.into(),
                column: name,
                expected: self.expected,
            })
    }

    /// Calls `row` with each record until the end or an error.
    fn for_each(
        self,
        mut row: impl FnMut(&Row) -> Result<(), CalibrateError>,
    ) -> Result<(), CalibrateError> {
        for record in self.records {
            let record = record.map_err(|e| Self::csv_error(self.path, e))?;
            row(&Row {
                path: self.path,
                line: record.position().map_or(0, |p| p.line()),
                record: &record,
            })?;
        }
        Ok(())
    }
}

/// One record of a [`Table`].
struct Row<'a> {
    path: &'a Path,
    line: u64,
    record: &'a csv::StringRecord,
}

impl Row<'_> {
    fn text(&self, index: usize) -> &str {
        self.record.get(index).unwrap_or("").trim()
    }

    fn invalid(
        &self,
        index: usize,
        column: &'static str,
        expected: &'static str,
    ) -> CalibrateError {
        CalibrateError::Value {
            path: self.path.into(),
            line: self.line,
            column,
            value: self.text(index).into(),
            expected,
        }
    }

    /// A whole number of 0 or more.
    fn count(&self, index: usize, column: &'static str) -> Result<u64, CalibrateError> {
        self.text(index)
            .parse::<u64>()
            .map_err(|_| self.invalid(index, column, "a whole number of 0 or more"))
    }

    /// Milliseconds, 0 or more.
    fn millis(&self, index: usize, column: &'static str) -> Result<f64, CalibrateError> {
        self.text(index)
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0)
            .ok_or_else(|| self.invalid(index, column, "milliseconds, a number of 0 or more"))
    }
}

/// Reads the statements of the `pg_stat_statements` export at `path`.
pub fn read_statements(path: &Path) -> Result<Vec<Statement>, CalibrateError> {
    let table = Table::open(path, STATEMENTS_EXPECTED)?;
    let (query, calls, mean, stddev) = (
        table.column("query")?,
        table.column("calls")?,
        table.column("mean_exec_time")?,
        table.column("stddev_exec_time")?,
    );
    let rows = table.optional("rows");
    let mut statements = Vec::new();
    table.for_each(|row| {
        statements.push(Statement {
            query: row.text(query).into(),
            calls: row.count(calls, "calls")?,
            mean_ms: row.millis(mean, "mean_exec_time")?,
            stddev_ms: row.millis(stddev, "stddev_exec_time")?,
            rows: rows.map_or(Ok(0), |index| row.count(index, "rows"))?,
        });
        Ok(())
    })?;
    Ok(statements)
}

/// Reads PgBouncer's `SHOW STATS` export at `path`.
pub fn read_pooler_stats(path: &Path) -> Result<PoolerStats, CalibrateError> {
    let table = Table::open(path, POOLER_STATS_EXPECTED)?;
    let (database, transactions, transaction_time, wait_time) = (
        table.column("database")?,
        table.column("total_xact_count")?,
        table.column("total_xact_time")?,
        table.column("total_wait_time")?,
    );
    let mut stats = PoolerStats {
        source: path.display().to_string(),
        databases: Vec::new(),
        transactions: 0,
        transaction_us: 0,
        wait_us: 0,
    };
    table.for_each(|row| {
        // The admin console's own commands are not the application's.
        if row.text(database) == "pgbouncer" {
            return Ok(());
        }
        let count = row.count(transactions, "total_xact_count")?;
        if count > 0 {
            stats.databases.push(row.text(database).into());
            stats.transactions += count;
            stats.transaction_us += row.count(transaction_time, "total_xact_time")?;
            stats.wait_us += row.count(wait_time, "total_wait_time")?;
        }
        Ok(())
    })?;
    if stats.transactions == 0 {
        return Err(CalibrateError::NoTransactions { path: path.into() });
    }
    Ok(stats)
}

/// One line of a pgbench per-transaction log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoggedTransaction {
    /// When it ended, us since the Unix epoch.
    pub end_us: u64,
    /// Its latency, us (from the scheduled start under `-R`); none when
    /// logged `skipped` or `failed`.
    pub latency_us: Option<u64>,
}

impl ClientLatencies {
    /// The latencies of `transactions`, or `None` without one.
    pub fn of(sources: Vec<String>, transactions: &[LoggedTransaction]) -> Option<Self> {
        let mut latencies_us: Vec<u64> = transactions.iter().filter_map(|t| t.latency_us).collect();
        if latencies_us.is_empty() {
            return None;
        }
        latencies_us.sort_unstable();
        let n = latencies_us.len();
        let mean_us = latencies_us.iter().map(|&l| l as f64).sum::<f64>() / n as f64;
        // The nearest-rank 95th percentile.
        let p95_us = latencies_us[(n * 95).div_ceil(100) - 1];
        Some(Self {
            sources,
            transactions: n as u64,
            without_latency: (transactions.len() - n) as u64,
            mean_ms: mean_us / 1_000.0,
            p95_ms: p95_us as f64 / 1_000.0,
        })
    }
}

/// Reads pgbench's per-transaction logs (`-l`; one file per thread): each
/// line is `client_id transaction_no time script_no time_epoch time_us
/// [schedule_lag ...]`, `time` the latency in us (from the scheduled
/// start under `-R`) or `skipped` / `failed`, `time_epoch` and `time_us`
/// when it ended.
pub fn read_pgbench_transactions(
    paths: &[PathBuf],
) -> Result<Vec<LoggedTransaction>, CalibrateError> {
    let mut transactions = Vec::new();
    for path in paths {
        let file = std::fs::File::open(path).map_err(|source| CalibrateError::Read {
            path: path.clone(),
            source,
        })?;
        for (number, line) in io::BufReader::new(file).lines().enumerate() {
            let line = line.map_err(|source| CalibrateError::Read {
                path: path.clone(),
                source,
            })?;
            let fields: Vec<&str> = line.split_whitespace().collect();
            let field = |index: usize| fields.get(index).copied().unwrap_or("");
            let invalid = |column: &'static str, index: usize| CalibrateError::Value {
                path: path.clone(),
                line: number as u64 + 1,
                column,
                value: field(index).into(),
                expected: "a per-transaction pgbench log line (pgbench -l, without --aggregate-interval): client_id transaction_no time script_no time_epoch time_us, the latency in microseconds",
            };
            // An aggregated log's lines have as many fields; its fifth is a
            // latency, not a Unix time after 2000 with microseconds beside it.
            let epoch = field(4)
                .parse::<u64>()
                .ok()
                .filter(|&t| t >= 946_684_800)
                .ok_or_else(|| invalid("time_epoch", 4))?;
            let micros = field(5)
                .parse::<u64>()
                .ok()
                .filter(|&us| us < 1_000_000)
                .ok_or_else(|| invalid("time_us", 5))?;
            let latency = match field(2) {
                "skipped" | "failed" => None,
                latency => Some(latency.parse().map_err(|_| invalid("time", 2))?),
            };
            transactions.push(LoggedTransaction {
                end_us: epoch * 1_000_000 + micros,
                latency_us: latency,
            });
        }
    }
    Ok(transactions)
}

/// The latencies of pgbench's logs at `paths`, less the transactions that
/// ended in their first `warmup_secs` (server connections opening, clients
/// starting).
pub fn read_pgbench_logs(
    paths: &[PathBuf],
    warmup_secs: u64,
) -> Result<ClientLatencies, CalibrateError> {
    let transactions = read_pgbench_transactions(paths)?;
    let first = transactions.iter().map(|t| t.end_us).min().unwrap_or(0);
    let measured: Vec<LoggedTransaction> = transactions
        .into_iter()
        .filter(|t| t.end_us >= first + warmup_secs * 1_000_000)
        .collect();
    let sources = paths.iter().map(|p| p.display().to_string()).collect();
    ClientLatencies::of(sources, &measured).ok_or_else(|| CalibrateError::NoLatencies {
        path: paths.first().cloned().unwrap_or_default(),
    })
}

/// The exports a calibration reads.
#[derive(Clone, Debug, Default)]
pub struct Exports {
    /// A `pg_stat_statements` CSV export.
    pub pg_stat_statements: PathBuf,
    /// PgBouncer's `SHOW STATS`, if the database is behind it.
    pub pgbouncer_stats: Option<PathBuf>,
    /// pgbench's per-transaction logs of the same run, if any.
    pub pgbench_logs: Vec<PathBuf>,
    /// Seconds at the start of the logs to leave out.
    pub pgbench_warmup_secs: u64,
}

/// A calibration: where its numbers come from and the fits.
#[derive(Clone, Debug)]
pub struct Calibration {
    /// The `pg_stat_statements` export, as named on the command line.
    pub source: String,
    /// Its statements.
    pub statements: Vec<Statement>,
    /// The statements' executions.
    pub executions: QueryTimeFit,
    /// PgBouncer's totals, if given.
    pub pooler: Option<PoolerStats>,
    /// What the clients saw, if given.
    pub clients: Option<ClientLatencies>,
    /// What holds a server connection: the executions, or PgBouncer's
    /// transactions with their spread. `database.query_time`.
    pub query_time: QueryTimeFit,
}

impl Calibration {
    /// The calibration of `exports`.
    pub fn of(exports: &Exports) -> Result<Self, CalibrateError> {
        let path = &exports.pg_stat_statements;
        let statements = read_statements(path)?;
        let executions =
            QueryTimeFit::of(&statements).ok_or(CalibrateError::Empty { path: path.into() })?;
        let pooler = exports
            .pgbouncer_stats
            .as_deref()
            .map(read_pooler_stats)
            .transpose()?;
        let clients = if exports.pgbench_logs.is_empty() {
            None
        } else {
            Some(read_pgbench_logs(
                &exports.pgbench_logs,
                exports.pgbench_warmup_secs,
            )?)
        };
        let query_time = match &pooler {
            Some(pooler) => QueryTimeFit::lognormal(
                pooler.transactions,
                pooler.mean_hold_ms(),
                executions.stddev_ms,
            ),
            None => executions,
        };
        Ok(Self {
            source: path.display().to_string(),
            statements,
            executions,
            pooler,
            clients,
            query_time,
        })
    }

    /// The mean time per transaction that neither holds nor waits for a
    /// server connection (the client and its network), ms: the clients'
    /// mean latency less the holding time and PgBouncer's mean wait; at
    /// least 0.
    pub fn outside_ms(&self) -> Option<f64> {
        let clients = self.clients.as_ref()?;
        let wait = self.pooler.as_ref().map_or(0.0, PoolerStats::mean_wait_ms);
        Some((clients.mean_ms - self.query_time.mean_ms - wait).max(0.0))
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
        let executions = &calibration.executions;
        let fit = &calibration.query_time;
        let mut text = String::new();
        let _ = write!(
            text,
            "# Written by `capsim calibrate` from {} ({} statements, {} calls)",
            calibration.source,
            calibration.statements.len(),
            executions.calls
        );
        if let Some(pooler) = &calibration.pooler {
            let _ = write!(
                text,
                ",\n# {} (SHOW STATS: {} transactions)",
                pooler.source, pooler.transactions
            );
        }
        if let Some(clients) = &calibration.clients {
            let _ = write!(
                text,
                ",\n# {} (pgbench: {} transactions)",
                clients.sources.join(" "),
                clients.transactions
            );
        }
        let _ = writeln!(text, ".");
        let _ = match &calibration.pooler {
            Some(pooler) => writeln!(
                text,
                "# query_time: what holds a server connection, the lognormal with PgBouncer's\n\
                 # mean transaction less its mean wait ({:.4} - {:.4} = {:.4} ms over {}\n\
                 # transactions: PgBouncer's clock starts before the wait) and the\n\
                 # executions' standard deviation ({:.4} ms; PgBouncer keeps no spread,\n\
                 # and what it adds to an execution is taken as constant).",
                pooler.mean_transaction_ms(),
                pooler.mean_wait_ms(),
                fit.mean_ms,
                pooler.transactions,
                fit.stddev_ms
            ),
            None => writeln!(
                text,
                "# query_time: the lognormal with the calls' mean ({:.4} ms) and standard\n\
                 # deviation ({:.4} ms), the mixture of every statement's executions\n\
                 # weighted by its calls (calibration.csv lists them).",
                fit.mean_ms, fit.stddev_ms
            ),
        };
        if let (Some(outside), Some(clients)) = (calibration.outside_ms(), &calibration.clients) {
            let wait = calibration
                .pooler
                .as_ref()
                .map_or(0.0, PoolerStats::mean_wait_ms);
            let _ = writeln!(
                text,
                "# Outside the server connection (the client and its network): {outside:.4} ms\n\
                 # a transaction, pgbench's mean latency ({:.4} ms) less the holding time\n\
                 # and the mean wait for a server connection ({wait:.4} ms); it belongs in\n\
                 # the routes' handler_time.",
                clients.mean_ms
            );
        }
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

/// `calibration.csv`: each statement, PgBouncer's and pgbench's figures,
/// then the fit.
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
        let executions = &calibration.executions;
        let number = crate::report::number;
        for statement in &calibration.statements {
            csv.write_record([
                "statement".into(),
                statement.query.clone(),
                statement.calls.to_string(),
                number(statement.calls as f64 / executions.calls as f64),
                number(statement.mean_ms),
                number(statement.stddev_ms),
                statement.rows.to_string(),
                String::new(),
                String::new(),
            ])?;
        }
        // A figure with a count and a mean (and a p95), the rest empty.
        let mut figure = |row: &str, what: String, count: u64, mean: f64, p95: Option<f64>| {
            csv.write_record([
                row.into(),
                what,
                count.to_string(),
                String::new(),
                number(mean),
                String::new(),
                String::new(),
                String::new(),
                p95.map_or_else(String::new, number),
            ])
        };
        if let Some(pooler) = &calibration.pooler {
            let databases = pooler.databases.join(" ");
            let count = pooler.transactions;
            figure(
                "pgbouncer transaction",
                databases.clone(),
                count,
                pooler.mean_transaction_ms(),
                None,
            )?;
            figure(
                "pgbouncer wait",
                databases.clone(),
                count,
                pooler.mean_wait_ms(),
                None,
            )?;
            figure(
                "pgbouncer hold",
                databases,
                count,
                pooler.mean_hold_ms(),
                None,
            )?;
        }
        if let (Some(clients), Some(outside)) = (&calibration.clients, calibration.outside_ms()) {
            let sources = clients.sources.join(" ");
            let count = clients.transactions;
            figure(
                "pgbench latency",
                sources.clone(),
                count,
                clients.mean_ms,
                Some(clients.p95_ms),
            )?;
            figure("outside the connection", sources, count, outside, None)?;
        }
        let fit = &calibration.query_time;
        let (what, share) = match &calibration.pooler {
            Some(_) => ("pgbouncer transactions, executions' spread", String::new()),
            None => ("all statements", number(1.0)),
        };
        csv.write_record([
            "lognormal fit".into(),
            what.into(),
            fit.calls.to_string(),
            share,
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
