//! Command-line interface: argument types and the commands behind them.

use std::io::{self, IsTerminal};
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use capsim::breakpoints::{self, SearchOptions};
use capsim::calibrate::{
    Calibration, CalibrationCsv, Exports, FragmentYaml, LogOptions, TrafficCalibration, TrafficCsv,
    TrafficYaml, calibrate_traffic, read_route_map,
};
use capsim::experiment::part::{self, RunIdentity, ScenarioIdentity};
use capsim::experiment::{self, Plan, PlannedTier, RunOptions, ScenarioRun, ShardError};
use capsim::init::{self, Preset};
use capsim::report::{
    self, Breakpoints, BreakpointsCsv, CompareCsv, Comparison, Exporter, PartFile, ReportError,
    ReportSet, ShardResults,
};
use capsim::scenario::json_schema::{self, Form};
use capsim::scenario::{self, Loaded, ScenarioError};

/// Prints a line to standard output, ignoring a closed one (`capsim run |
/// head`): the reports are the output that matters, and are still written.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// As [`say!`], without the line's end.
macro_rules! say_text {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), $($arg)*);
    }};
}

/// capsim: capacity-planning simulation of serverless web stacks.
#[derive(Debug, Parser)]
#[command(name = "capsim", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every simulating command shares.
#[derive(Debug, Args)]
pub struct Common {
    /// Folder for reports; each scenario writes into <out>/<scenario name>/.
    #[arg(long, default_value = "output")]
    out: PathBuf,
    /// Replications per tier or user count, instead of the scenario's.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    replications: Option<u32>,
    /// Worker threads (default: one per core).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    threads: Option<u16>,
    /// Root seed, instead of the scenario's.
    #[arg(long)]
    seed: Option<u64>,
    /// Run even when the estimated memory exceeds what this machine has
    /// available (see `capsim check` for the estimate).
    #[arg(long)]
    allow_large: bool,
}

impl Common {
    /// Refuses (`Some(InvalidInput)`) a run of `plans` estimated to need
    /// more memory than is available, unless `--allow-large`.
    fn refuse_too_large(&self, plans: &[Plan]) -> Option<Outcome> {
        let options = self.run_options();
        let size = experiment::footprint(plans, options);
        let available = experiment::available_memory().unwrap_or(f64::INFINITY);
        if self.allow_large || size.memory_bytes <= available * 0.9 {
            say!(
                "{} tier x replication items, about {:.3e} requests, about {:.0} MB of memory on \
                 {} threads (estimated)",
                size.work_items,
                size.requests,
                size.memory_bytes / 1e6,
                options.worker_threads().min(size.work_items as usize)
            );
            return None;
        }
        eprintln!(
            "error: this run is estimated to need about {:.0} MB of memory ({} tier x replication \
             items of {:.3e} requests and {:.3e} events in all), more than the {:.0} MB this \
             machine has available; use fewer tiers, replications or threads or a shorter \
             horizon, or pass --allow-large to run it anyway",
            size.memory_bytes / 1e6,
            size.work_items,
            size.requests,
            size.events,
            available / 1e6
        );
        Some(Outcome::InvalidInput)
    }

    /// Refuses (`Some(InvalidInput)`) a user count of `plans` whose users
    /// and abusive clients would not fit the 32-bit client ids.
    fn refuse_too_many_users(plans: &[Plan]) -> Option<Outcome> {
        let (plan, tier) = plans.iter().find_map(|plan| {
            let tier = plan.tiers.iter().find(|t| t.users > t.stack.max_users())?;
            Some((plan, tier))
        })?;
        eprintln!(
            "error: {} users: `{}` allows at most {} (users and its abusive clients share \
             32-bit client ids)",
            tier.users,
            plan.scenario.name,
            tier.stack.max_users()
        );
        Some(Outcome::InvalidInput)
    }

    fn run_options(&self) -> RunOptions {
        RunOptions {
            replications: self.replications,
            threads: self.threads.map(usize::from),
            progress: std::io::stderr().is_terminal(),
        }
    }
}

/// A range of user counts, "10..100000".
#[derive(Clone, Copy, Debug)]
pub struct UserRange {
    low: u64,
    high: u64,
}

fn user_range(text: &str) -> Result<UserRange, String> {
    let help = "a user range is LOW..HIGH with 1 <= LOW < HIGH, e.g. 10..100000";
    let (low, high) = text
        .split_once("..")
        .ok_or_else(|| format!("`{text}` is not a range: {help}"))?;
    let parse = |part: &str| {
        part.trim()
            .replace('_', "")
            .parse::<u64>()
            .map_err(|_| format!("`{part}` is not a whole number: {help}"))
    };
    let (low, high) = (parse(low)?, parse(high)?);
    if low == 0 || low >= high {
        return Err(format!("`{text}`: {help}"));
    }
    if high > scenario::MAX_USERS {
        return Err(format!(
            "`{text}`: at most {} users (users have 32-bit client ids)",
            scenario::MAX_USERS
        ));
    }
    Ok(UserRange { low, high })
}

/// Which shard of the work this process runs: K of N, or K from the
/// scheduler's environment.
#[derive(Clone, Copy, Debug)]
pub struct ShardSpec {
    index: Option<u32>,
    count: u32,
}

fn shard_spec(text: &str) -> Result<ShardSpec, String> {
    let help = "a shard is K/N with 0 <= K < N (e.g. 0/4), or env/N to read K from \
                JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID";
    let (index, count) = text
        .split_once('/')
        .ok_or_else(|| format!("`{text}`: {help}"))?;
    let count: u32 = count
        .parse()
        .ok()
        .filter(|c| *c >= 1)
        .ok_or_else(|| format!("`{text}`: {help}"))?;
    let index = if index == "env" {
        None
    } else {
        let index: u32 = index.parse().map_err(|_| format!("`{text}`: {help}"))?;
        if index >= count {
            return Err(format!("`{text}`: {help}"));
        }
        Some(index)
    };
    Ok(ShardSpec { index, count })
}

impl ShardSpec {
    /// K: given, or from a Kubernetes Indexed Job or a Slurm job array.
    fn index(self) -> Result<u32, String> {
        // A variable that is set must hold an index; one that is not is None.
        let from_env = |name: &str| -> Result<Option<u32>, String> {
            match std::env::var(name) {
                Ok(value) => value.trim().parse().map(Some).map_err(|_| {
                    format!("--shard env/N: {name} is `{value}`, not a shard index (0, 1, 2, ...)")
                }),
                Err(_) => Ok(None),
            }
        };
        let index = match self.index {
            Some(index) => index,
            None => match (
                from_env("JOB_COMPLETION_INDEX")?,
                from_env("SLURM_ARRAY_TASK_ID")?,
            ) {
                (Some(index), _) => index,
                (None, Some(task)) => {
                    let min = from_env("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
                    task.checked_sub(min).ok_or_else(|| {
                        format!(
                            "--shard env/N: SLURM_ARRAY_TASK_ID ({task}) is below \
                             SLURM_ARRAY_TASK_MIN ({min})"
                        )
                    })?
                }
                (None, None) => {
                    return Err(
                        "--shard env/N: neither JOB_COMPLETION_INDEX (Kubernetes Indexed \
                                Job) nor SLURM_ARRAY_TASK_ID (Slurm job array) is set"
                            .into(),
                    );
                }
            },
        };
        if index >= self.count {
            return Err(format!(
                "shard index {index} is not below the shard count {}",
                self.count
            ));
        }
        Ok(index)
    }
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Simulate every tier of one or more scenarios and write reports.
    Run {
        /// Scenario files.
        #[arg(required = true)]
        scenarios: Vec<PathBuf>,
        #[command(flatten)]
        common: Common,
        /// Run only shard K of N (K from 0) of the tier x replication work
        /// and write <out>/part-K-of-N.csv for `capsim merge`; `env/N`
        /// takes K from JOB_COMPLETION_INDEX (a Kubernetes Indexed Job) or
        /// SLURM_ARRAY_TASK_ID (a Slurm job array, less SLURM_ARRAY_TASK_MIN).
        #[arg(long, value_parser = shard_spec)]
        shard: Option<ShardSpec>,
        /// Also write each tier's request log of its first replication,
        /// <out>/<scenario>/requests-<tier>.log: Combined Log Format with
        /// the duration (microseconds) and the CDN's cache status, as
        /// `capsim calibrate --request-log` reads.
        #[arg(long, conflicts_with = "shard")]
        log: bool,
    },
    /// Simulate the scenario's stack at log-spaced user counts instead of
    /// its tiers; writes <out>/<scenario>/sweep/ (sweep.csv and the charts).
    Sweep {
        /// Scenario file.
        scenario: PathBuf,
        /// The user counts to span.
        #[arg(long, value_parser = user_range)]
        users: UserRange,
        /// How many user counts, log-spaced, both ends included.
        #[arg(long, default_value_t = 9, value_parser = clap::value_parser!(u32).range(2..=200))]
        points: u32,
        #[command(flatten)]
        common: Common,
        /// Run only shard K of N of the work, as `run --shard`.
        #[arg(long, value_parser = shard_spec)]
        shard: Option<ShardSpec>,
    },
    /// Write the reports of a sharded `run` or `sweep` from all its part
    /// files, byte for byte those a single run writes.
    Merge {
        /// The part files, one per shard.
        #[arg(required = true)]
        parts: Vec<PathBuf>,
        /// Folder for reports, as for `run`.
        #[arg(long, default_value = "output")]
        out: PathBuf,
    },
    /// Find the user count at which each resource and SLO is first crossed;
    /// writes <out>/<scenario>/breakpoints.csv and prints what breaks first.
    Breakpoints {
        /// Scenario file.
        scenario: PathBuf,
        /// The user counts to search (default: a tenth of the smallest tier
        /// to the largest tier).
        #[arg(long, value_parser = user_range)]
        users: Option<UserRange>,
        /// Grid points per tenfold increase of users, before bisection.
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=20))]
        points_per_decade: u32,
        /// Bisection steps inside each bracket (each halves it, in log scale).
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(0..=10))]
        steps: u32,
        #[command(flatten)]
        common: Common,
    },
    /// Fit scenario inputs to a database's own statistics: from a
    /// pg_stat_statements CSV export (and PgBouncer's SHOW STATS, and
    /// pgbench's logs of the same run), `database.query_time`; writes
    /// <out>/calibration/ (calibration.yaml, a fragment to extend from or
    /// merge into a scenario, and calibration.csv).
    Calibrate {
        /// The export: `\copy (SELECT query, calls, mean_exec_time,
        /// stddev_exec_time, rows FROM pg_stat_statements) TO 'x.csv' CSV HEADER`.
        #[arg(long, required_unless_present = "request_log")]
        pg_stat_statements: Option<PathBuf>,
        /// PgBouncer's `SHOW STATS` as CSV (`psql -p 6432 -U pgbouncer
        /// pgbouncer --csv -c 'SHOW STATS'`): the query time becomes the
        /// transaction as PgBouncer times it, the server connection's hold.
        #[arg(long)]
        pgbouncer_stats: Option<PathBuf>,
        /// pgbench's per-transaction logs (`-l`, one per thread) of the same
        /// run: what the clients saw, to take the time outside the server
        /// connection apart.
        #[arg(long, num_args = 1..)]
        pgbench_log: Vec<PathBuf>,
        /// Seconds at the start of the pgbench logs to leave out (server
        /// connections opening, clients starting).
        #[arg(long, default_value_t = 0)]
        pgbench_warmup: u64,
        /// Request logs to fit the traffic to: Combined Log Format (with an
        /// optional duration, Apache's %D or nginx's $request_time, and cache
        /// status after it) or Vercel log drain NDJSON; writes
        /// <out>/calibration-traffic/.
        #[arg(long, num_args = 1..)]
        request_log: Vec<PathBuf>,
        /// A YAML list of `{ pattern: "GET /api/cars/*", route: cars }` naming
        /// the routes of request lines (`*` within a path segment, `**` across);
        /// without it each request line is a route of its own.
        #[arg(long, requires = "request_log")]
        routes: Option<PathBuf>,
        /// Registered users, for the share active a day.
        #[arg(long, requires = "request_log")]
        users: Option<u64>,
        /// Minutes without a page request that end a client's session.
        #[arg(long, default_value_t = 30.0, requires = "request_log")]
        session_gap: f64,
        /// Folder for the files.
        #[arg(long, default_value = "output")]
        out: PathBuf,
    },
    /// Run the same tiers under two or more scenarios (the first is the
    /// reference) with shared random streams; writes
    /// <out>/compare-<A>-vs-<B>/ (compare.csv and one chart per key metric).
    Compare {
        /// Scenario files; their tiers must have the same user counts.
        #[arg(required = true, num_args = 2..)]
        scenarios: Vec<PathBuf>,
        #[command(flatten)]
        common: Common,
    },
    /// Write a commented starter scenario for a stack, to edit into your
    /// app's: the shipped AutoRev scenario with the app's guesses marked
    /// `CHANGE:` and the platforms' numbers with their sources.
    Init {
        /// The stack.
        #[arg(long, value_enum, default_value_t = Preset::VercelSupabase)]
        preset: Preset,
        /// The file to write (never replaced); its name is the scenario's.
        #[arg(default_value = "my-app.yaml")]
        file: PathBuf,
    },
    /// Print the JSON Schema of scenario files (as committed in `schema/`
    /// for editors) or the format reference generated from it.
    Schema {
        /// The schema of a part of a scenario (a file that `extends` another):
        /// the same keys, none required.
        #[arg(long)]
        part: bool,
        /// The format reference in Markdown instead, as the README has it.
        #[arg(long, conflicts_with = "part")]
        markdown: bool,
    },
    /// Validate scenario files and summarise them.
    Check {
        /// Scenario files.
        #[arg(required = true)]
        scenarios: Vec<PathBuf>,
    },
}

/// How a command ended.
pub enum Outcome {
    /// Done.
    Success,
    /// The input was invalid (reported on standard error).
    InvalidInput,
}

/// Loads every file, with `seed` if given; reports every error of every file.
fn load_all(paths: &[PathBuf], seed: Option<u64>) -> Result<Vec<Loaded>, Outcome> {
    let mut loaded = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        match scenario::load(path) {
            Ok(mut scenario) => {
                if let Some(seed) = seed {
                    scenario.set_seed(seed);
                }
                loaded.push(scenario);
            }
            Err(error) => errors.push(error),
        }
    }
    if errors.is_empty() {
        Ok(loaded)
    } else {
        report_errors(&errors);
        Err(Outcome::InvalidInput)
    }
}

/// Refuses (`Some(InvalidInput)`) scenarios of one run that share a name:
/// each one's reports go to a folder named after it.
fn refuse_shared_names(loaded: &[Loaded]) -> Option<Outcome> {
    let (index, later) = loaded.iter().enumerate().find(|(index, later)| {
        loaded[..*index]
            .iter()
            .any(|l| l.scenario.name == later.scenario.name)
    })?;
    let earlier = loaded[..index]
        .iter()
        .find(|l| l.scenario.name == later.scenario.name)?;
    eprintln!(
        "error: {} and {} are both named `{}`: their reports would share a folder; give each \
         its own `name`",
        earlier.path.display(),
        later.path.display(),
        later.scenario.name
    );
    Some(Outcome::InvalidInput)
}

fn report_errors(errors: &[ScenarioError]) {
    for error in errors {
        eprintln!("{}", error.to_string().trim_end());
    }
}

/// Runs `command`.
pub fn execute(command: Command) -> anyhow::Result<Outcome> {
    match command {
        Command::Check { scenarios } => check(&scenarios),
        Command::Init { preset, file } => init(preset, &file),
        Command::Schema { part, markdown } => {
            let form = if part { Form::Part } else { Form::Whole };
            let schema = json_schema::generate(form);
            let text = if markdown {
                json_schema::reference(&schema)
            } else {
                json_schema::to_text(&schema)
            };
            print!("{text}");
            Ok(Outcome::Success)
        }
        Command::Run {
            scenarios,
            common,
            shard,
            log,
        } => simulate(&scenarios, Mode::Tiers { log }, &common, shard),
        Command::Merge { parts, out } => merge(&parts, &out),
        Command::Compare { scenarios, common } => compare(&scenarios, &common),
        Command::Sweep {
            scenario,
            users,
            points,
            common,
            shard,
        } => simulate(&[scenario], Mode::Sweep { users, points }, &common, shard),
        Command::Breakpoints {
            scenario,
            users,
            points_per_decade,
            steps,
            common,
        } => find_breakpoints(&scenario, users, points_per_decade, steps, &common),
        Command::Calibrate {
            pg_stat_statements,
            pgbouncer_stats,
            pgbench_log,
            pgbench_warmup,
            request_log,
            routes,
            users,
            session_gap,
            out,
        } => {
            if let Some(pg_stat_statements) = pg_stat_statements {
                let exports = Exports {
                    pg_stat_statements,
                    pgbouncer_stats,
                    pgbench_logs: pgbench_log,
                    pgbench_warmup_secs: pgbench_warmup,
                };
                if let Outcome::InvalidInput = calibrate(&exports, &out)? {
                    return Ok(Outcome::InvalidInput);
                }
            }
            if request_log.is_empty() {
                return Ok(Outcome::Success);
            }
            if !(session_gap.is_finite() && session_gap > 0.0) {
                eprintln!(
                    "error: --session-gap is minutes, above 0 (30 is usual), not {session_gap}"
                );
                return Ok(Outcome::InvalidInput);
            }
            let routes = match routes.as_deref().map(read_route_map).transpose() {
                Ok(routes) => routes.unwrap_or_default(),
                Err(error) => {
                    eprintln!("error: {error}");
                    return Ok(Outcome::InvalidInput);
                }
            };
            let options = LogOptions {
                logs: request_log,
                routes,
                users,
                session_gap_ms: (session_gap * 60_000.0).round() as i64,
            };
            calibrate_from_logs(&options, &out)
        }
    }
}

/// `calibrate --request-log`: fits, the report on the terminal, the files.
fn calibrate_from_logs(options: &LogOptions, out: &Path) -> anyhow::Result<Outcome> {
    let set = ReportSet::claim(&out.join("calibration-traffic"), "calibrate-traffic")?;
    let calibration = match calibrate_traffic(options) {
        Ok(calibration) => calibration,
        Err(error) => {
            eprintln!("error: {error}");
            return Ok(Outcome::InvalidInput);
        }
    };
    let c = &calibration;
    say!(
        "{} lines: {} requests, {} not requests (skipped), {} malformed, {} unmapped; {} whole days",
        c.lines,
        c.requests,
        c.other,
        c.malformed,
        c.unmapped,
        c.days
    );
    for example in &c.malformed_examples {
        say!("  malformed: {example}");
    }
    for (line, count) in &c.unmapped_examples {
        say!("  unmapped: {line} ({count} requests)");
    }
    if let Some(share) = c.daily_active_share {
        say!(
            "daily_active_share: {:.4} (95% CI {:.4} to {:.4})",
            share.value,
            share.low,
            share.high
        );
    }
    if let Some(rate) = c.sessions_per_user {
        say!(
            "sessions a day per user: {:.4} (95% CI {:.4} to {:.4})",
            rate.value,
            rate.low,
            rate.high
        );
    }
    let spau = c.sessions_per_active_user;
    say!(
        "sessions_per_active_user: {:.4} (95% CI {:.4} to {:.4}; sessions end after {} minutes idle)",
        spau.value,
        spau.low,
        spau.high,
        c.session_gap_minutes
    );
    for fit in c.fits() {
        let parameters: Vec<String> = capsim::calibrate::parameters(&fit.model)
            .iter()
            .map(|(name, v)| {
                format!(
                    "{name} {:.4} (95% CI {:.4} to {:.4}) {}",
                    v.value, v.low, v.high, fit.unit
                )
            })
            .collect();
        say!(
            "{}: {} {}; KS distance {:.4} over {} values",
            fit.input,
            fit.model.name(),
            parameters.join(", "),
            fit.ks,
            fit.count
        );
    }
    for route in &c.routes {
        say!(
            "route {}: {} requests, weight {:.4}{}{}",
            route.name,
            route.requests,
            route.weight,
            if route.fan_out.is_empty() {
                String::new()
            } else {
                format!(", fan_out [{}]", route.fan_out.join(", "))
            },
            route
                .hit_ratio
                .map(|r| format!(", CDN hit ratio {r:.4}"))
                .unwrap_or_default()
        );
    }
    for burst in &c.bursts {
        say!(
            "burst? {}: {} sessions started, {:.0} expected",
            burst.date,
            burst.sessions,
            burst.expected
        );
    }
    for reason in &c.unfitted {
        say!("not fitted: {reason}");
    }
    let mut exporters: Vec<Box<dyn Exporter<TrafficCalibration>>> =
        vec![Box::new(TrafficYaml), Box::new(TrafficCsv)];
    exporters.extend(report::qq_charts(c));
    write(&calibration, &set, &exporters)?;
    Ok(Outcome::Success)
}

fn calibrate(exports: &Exports, out: &Path) -> anyhow::Result<Outcome> {
    let calibration = match Calibration::of(exports) {
        Ok(calibration) => calibration,
        Err(error) => {
            eprintln!("error: {error}");
            return Ok(Outcome::InvalidInput);
        }
    };
    let executions = &calibration.executions;
    say!(
        "{}: {} statements, {} calls: execution mean {:.4} ms, standard deviation {:.4} ms",
        calibration.source,
        calibration.statements.len(),
        executions.calls,
        executions.mean_ms,
        executions.stddev_ms
    );
    if let Some(pooler) = &calibration.pooler {
        say!(
            "{}: {} transactions: mean transaction {:.4} ms, of which waiting for a server connection {:.4} ms and holding one {:.4} ms",
            pooler.source,
            pooler.transactions,
            pooler.mean_transaction_ms(),
            pooler.mean_wait_ms(),
            pooler.mean_hold_ms()
        );
    }
    if let (Some(clients), Some(outside)) = (&calibration.clients, calibration.outside_ms()) {
        say!(
            "pgbench: {} transactions ({} without a latency): mean {:.4} ms, p95 {:.4} ms; outside the server connection {:.4} ms",
            clients.transactions,
            clients.without_latency,
            clients.mean_ms,
            clients.p95_ms,
            outside
        );
    }
    let fit = &calibration.query_time;
    say!(
        "query_time: lognormal of mean {:.4} ms and standard deviation {:.4} ms: median {:.4} ms, p95 {:.4} ms",
        fit.mean_ms,
        fit.stddev_ms,
        fit.median_ms,
        fit.p95_ms
    );
    let set = ReportSet::claim(&out.join("calibration"), "calibrate")?;
    let exporters: Vec<Box<dyn Exporter<Calibration>>> =
        vec![Box::new(FragmentYaml), Box::new(CalibrationCsv)];
    write(&calibration, &set, &exporters)?;
    Ok(Outcome::Success)
}

fn init(preset: Preset, file: &Path) -> anyhow::Result<Outcome> {
    match init::write_starter(preset, file) {
        Ok(schema_written) => {
            say!(
                "wrote {}: the {preset} starter (from capsim's {}); edit the lines marked CHANGE: and the routes, then `capsim check {}`",
                file.display(),
                init::SOURCE_FILE,
                file.display()
            );
            let schema = file.with_file_name(Form::Whole.file_name());
            if schema_written {
                say!(
                    "wrote {}: the scenario format's JSON Schema, which the starter's first line names, so editors with YAML support complete and check its keys",
                    schema.display()
                );
            } else {
                say!(
                    "left {} as it was: the starter's first line names it for editors; `capsim schema > {}` brings it up to date",
                    schema.display(),
                    schema.display()
                );
            }
            Ok(Outcome::Success)
        }
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {
            eprintln!(
                "error: {} exists; `capsim init` never replaces a file: name another (e.g. `capsim init --preset {preset} my-app-2.yaml`) or remove it",
                file.display()
            );
            Ok(Outcome::InvalidInput)
        }
        Err(error) => Err(error).with_context(|| format!("writing {}", file.display())),
    }
}

fn check(paths: &[PathBuf]) -> anyhow::Result<Outcome> {
    let mut outcome = Outcome::Success;
    for path in paths {
        match scenario::load(path) {
            Ok(loaded) => {
                say_text!("{}", report::check_summary(&loaded));
            }
            Err(error) => {
                report_errors(&[error]);
                outcome = Outcome::InvalidInput;
            }
        }
    }
    Ok(outcome)
}

/// Writes `exporters`' files for `input` as `set` and lists them.
fn write<T: ?Sized>(
    input: &T,
    set: &ReportSet,
    exporters: &[Box<dyn Exporter<T>>],
) -> anyhow::Result<()> {
    for path in set.write(input, exporters)? {
        say!("  wrote {}", path.display());
    }
    Ok(())
}

/// What a run simulates: the scenarios' tiers, or a sweep of user counts.
#[derive(Clone, Copy, Debug)]
enum Mode {
    /// The scenarios' tiers, with each tier's request log or not.
    Tiers {
        log: bool,
    },
    Sweep {
        users: UserRange,
        points: u32,
    },
}

impl Mode {
    /// How a part file records it.
    fn record(self) -> Vec<String> {
        match self {
            Mode::Tiers { .. } => vec!["run".into()],
            Mode::Sweep { users, points } => vec![
                "sweep".into(),
                users.low.to_string(),
                users.high.to_string(),
                points.to_string(),
            ],
        }
    }

    /// The mode a part file recorded.
    fn from_record(record: &[String]) -> Option<Self> {
        match record {
            [run] if run == "run" => Some(Mode::Tiers { log: false }),
            [sweep, low, high, points] if sweep == "sweep" => Some(Mode::Sweep {
                users: UserRange {
                    low: low.parse().ok()?,
                    high: high.parse().ok()?,
                },
                points: points.parse().ok()?,
            }),
            _ => None,
        }
    }

    fn plans(self, loaded: &[Loaded]) -> Vec<Plan<'_>> {
        match self {
            Mode::Tiers { .. } => loaded.iter().map(Plan::tiers).collect(),
            Mode::Sweep { users, points } => loaded
                .iter()
                .map(|l| Plan {
                    scenario: &l.scenario,
                    tiers: breakpoints::log_spaced(users.low, users.high, points)
                        .into_iter()
                        .map(|count| PlannedTier {
                            name: format!("{count} users"),
                            users: count,
                            stack: &l.scenario,
                        })
                        .collect(),
                })
                .collect(),
        }
    }

    /// Claims the report sets of each scenario under `out` (its reports,
    /// and its request logs if asked), before any of them is simulated.
    fn claim(self, loaded: &[Loaded], out: &Path) -> Result<Vec<Sets>, ReportError> {
        loaded
            .iter()
            .map(|l| {
                let dir = out.join(&l.scenario.name);
                Ok(match self {
                    Mode::Tiers { log } => Sets {
                        reports: ReportSet::claim(&dir, "run")?,
                        logs: log.then(|| ReportSet::claim(&dir, "log")).transpose()?,
                    },
                    Mode::Sweep { .. } => Sets {
                        reports: ReportSet::claim(&dir.join("sweep"), "sweep")?,
                        logs: None,
                    },
                })
            })
            .collect()
    }

    /// Prints each run's summary and writes its reports as its set, then
    /// its request logs as theirs.
    fn report(self, runs: &[ScenarioRun], sets: &[Sets]) -> anyhow::Result<()> {
        for (run, sets) in runs.iter().zip(sets) {
            say_text!("{}", report::saturation_summary(run));
            match self {
                Mode::Tiers { .. } => write(run, &sets.reports, &report::exporters(run))?,
                Mode::Sweep { .. } => write(run, &sets.reports, &report::sweep_exporters(run))?,
            }
        }
        for (run, sets) in runs.iter().zip(sets) {
            if let Some(logs) = &sets.logs {
                say!(
                    "writing the request logs of {} (each tier's first replication, simulated again)",
                    run.scenario.name
                );
                write(run, logs, &report::request_logs(run))?;
            }
        }
        Ok(())
    }
}

/// A scenario's claimed report sets.
struct Sets {
    reports: ReportSet,
    /// Its request logs' (`run --log`).
    logs: Option<ReportSet>,
}

/// The identity a part file records for `loaded` run in `mode`.
fn run_identity(
    loaded: &[Loaded],
    mode: Mode,
    replications: Option<u32>,
    count: u32,
) -> RunIdentity {
    RunIdentity {
        version: env!("CARGO_PKG_VERSION").to_string(),
        mode: mode.record(),
        replications,
        scenarios: loaded
            .iter()
            .map(|l| ScenarioIdentity {
                // Absolute, so that `merge` finds it from any folder.
                path: std::path::absolute(&l.path)
                    .unwrap_or_else(|_| l.path.clone())
                    .display()
                    .to_string(),
                name: l.scenario.name.clone(),
                seed: l.scenario.seed,
                fingerprint: part::fingerprint(&format!("{:?}{:?}", l.scenario, l.tier_stacks)),
            })
            .collect(),
        count,
    }
}

/// `run` and `sweep`: simulate (all of it, or one shard) and report.
fn simulate(
    paths: &[PathBuf],
    mode: Mode,
    common: &Common,
    shard: Option<ShardSpec>,
) -> anyhow::Result<Outcome> {
    let loaded = match load_all(paths, common.seed) {
        Ok(loaded) => loaded,
        Err(outcome) => return Ok(outcome),
    };
    if let Some(outcome) = refuse_shared_names(&loaded) {
        return Ok(outcome);
    }
    let plans = mode.plans(&loaded);
    if let Some(outcome) =
        Common::refuse_too_many_users(&plans).or_else(|| common.refuse_too_large(&plans))
    {
        return Ok(outcome);
    }
    let Some(shard) = shard else {
        let sets = mode.claim(&loaded, &common.out)?;
        let runs = match mode {
            Mode::Tiers { .. } => experiment::run(&plans, common.run_options()),
            // A sweep spends replications where a verdict is in doubt.
            Mode::Sweep { .. } => plans
                .iter()
                .map(|plan| breakpoints::adaptive_run(plan, common.run_options()))
                .collect(),
        }
        .context("cannot start the worker threads")?;
        mode.report(&runs, &sets)?;
        return Ok(Outcome::Success);
    };
    // The index comes from the command line or its environment: a usage error.
    let index = shard.index().map_err(anyhow::Error::msg)?;
    // Each shard's part is a set of its own: shards share the folder.
    let set = ReportSet::claim(&common.out, &format!("part-{index}-of-{}", shard.count))?;
    let results = match experiment::run_shard(&plans, common.run_options(), index, shard.count) {
        Ok(results) => results,
        Err(error @ ShardError::AutoCompute) => {
            eprintln!("error: {error}");
            return Ok(Outcome::InvalidInput);
        }
        Err(error) => return Err(error.into()),
    };
    let part = ShardResults {
        identity: run_identity(&loaded, mode, common.replications, shard.count),
        shard: index,
        results,
    };
    let exporters: Vec<Box<dyn Exporter<ShardResults>>> = vec![Box::new(PartFile {
        shard: index,
        count: shard.count,
    })];
    say!(
        "shard {index} of {}: {} work items simulated",
        shard.count,
        part.results.len()
    );
    write(&part, &set, &exporters)?;
    Ok(Outcome::Success)
}

/// `merge`: the reports of a sharded run from all its part files.
fn merge(paths: &[PathBuf], out: &Path) -> anyhow::Result<Outcome> {
    let fail = |message: String| {
        eprintln!("error: {message}");
        Ok(Outcome::InvalidInput)
    };
    let mut parts = Vec::new();
    for path in paths {
        let name = path.display().to_string();
        let file = match std::fs::File::open(path) {
            Ok(file) => file,
            Err(error) => return fail(format!("{name}: {error}")),
        };
        match part::read_part(io::BufReader::new(file)) {
            Ok(part) => parts.push((name, part)),
            Err(error) => return fail(format!("{name}: not a complete part file: {error}")),
        }
    }
    let identity = match part::check_parts(&parts) {
        Ok(identity) => identity.clone(),
        Err(error) => return fail(error.to_string()),
    };
    let count = identity.count;
    let first_path = &parts[0].0;
    let Some(mode) = Mode::from_record(&identity.mode) else {
        return fail(format!("{}: an unknown kind of run", first_path));
    };
    let mut loaded = Vec::new();
    for scenario in &identity.scenarios {
        match scenario::load(Path::new(&scenario.path)) {
            Ok(mut l) => {
                l.set_seed(scenario.seed);
                loaded.push(l);
            }
            Err(error) => {
                report_errors(&[error]);
                return Ok(Outcome::InvalidInput);
            }
        }
    }
    let current = run_identity(&loaded, mode, identity.replications, count);
    if let Some((now, then)) = current
        .scenarios
        .iter()
        .zip(&identity.scenarios)
        .find(|(now, then)| now.fingerprint != then.fingerprint)
    {
        return fail(format!(
            "{} has changed since the run (it is not the scenario `{}` the parts were made from)",
            now.path, then.name
        ));
    }
    let sets = mode.claim(&loaded, out)?;
    let plans = mode.plans(&loaded);
    let options = RunOptions {
        replications: identity.replications,
        ..RunOptions::default()
    };
    let mut results = Vec::new();
    for (path, part) in parts {
        let mine = experiment::shard_items(&plans, options, part.shard, count);
        let got: Vec<experiment::Item> = part.results.iter().map(|(item, _)| *item).collect();
        if got != mine {
            return fail(format!(
                "{}: its work items are not those of shard {} of {count}",
                path, part.shard
            ));
        }
        results.extend(part.results);
    }
    let runs = experiment::assemble(&plans, results);
    mode.report(&runs, &sets)?;
    Ok(Outcome::Success)
}

fn find_breakpoints(
    path: &Path,
    users: Option<UserRange>,
    points_per_decade: u32,
    steps: u32,
    common: &Common,
) -> anyhow::Result<Outcome> {
    let loaded = match load_all(&[path.to_path_buf()], common.seed) {
        Ok(mut loaded) => loaded.remove(0),
        Err(outcome) => return Ok(outcome),
    };
    let scenario = &loaded.scenario;
    let users = users.unwrap_or_else(|| {
        let tiers = scenario.tiers.iter().map(|t| t.users);
        UserRange {
            low: (tiers.clone().min().unwrap_or(10) / 10).max(1),
            high: tiers.max().unwrap_or(100_000).max(2),
        }
    });
    // The grid is the search's largest batch.
    let grid = Plan {
        scenario,
        tiers: breakpoints::grid(users.low, users.high, points_per_decade)
            .into_iter()
            .map(|count| PlannedTier {
                name: format!("{count} users"),
                users: count,
                stack: scenario,
            })
            .collect(),
    };
    if let Some(outcome) = Common::refuse_too_many_users(std::slice::from_ref(&grid))
        .or_else(|| common.refuse_too_large(std::slice::from_ref(&grid)))
    {
        return Ok(outcome);
    }
    let set = ReportSet::claim(&common.out.join(&scenario.name), "breakpoints")?;
    let criteria = breakpoints::criteria(scenario);
    let options = SearchOptions {
        low: users.low,
        high: users.high,
        points_per_decade,
        steps,
        run: common.run_options(),
    };
    let (found, evaluations) = breakpoints::search(scenario, scenario, &criteria, options)
        .context("cannot start the worker threads")?;
    let report = Breakpoints {
        scenario: scenario.name.clone(),
        criteria: &criteria,
        found,
        evaluations,
    };
    say_text!("{}", report::breakpoints_table(&report));
    let exporters: Vec<Box<dyn Exporter<Breakpoints>>> = vec![Box::new(BreakpointsCsv)];
    write(&report, &set, &exporters)?;
    Ok(Outcome::Success)
}

fn compare(paths: &[PathBuf], common: &Common) -> anyhow::Result<Outcome> {
    let mut loaded = match load_all(paths, common.seed) {
        Ok(loaded) => loaded,
        Err(outcome) => return Ok(outcome),
    };
    // One seed for all, so that the scenarios share their random streams.
    let seed = loaded[0].scenario.seed;
    for scenario in &mut loaded {
        scenario.set_seed(seed);
    }
    let users = |l: &Loaded| -> Vec<u64> { l.scenario.tiers.iter().map(|t| t.users).collect() };
    let reference = &loaded[0];
    for other in &loaded[1..] {
        if users(other) != users(reference) {
            eprintln!(
                "error: {} has tiers of {:?} users and {} of {:?}: compared scenarios need the same \
                 tiers (the same user counts, in the same order)",
                reference.path.display(),
                users(reference),
                other.path.display(),
                users(other)
            );
            return Ok(Outcome::InvalidInput);
        }
    }
    let plans: Vec<Plan> = loaded.iter().map(Plan::tiers).collect();
    if let Some(outcome) =
        Common::refuse_too_many_users(&plans).or_else(|| common.refuse_too_large(&plans))
    {
        return Ok(outcome);
    }
    let names: Vec<&str> = loaded.iter().map(|l| l.scenario.name.as_str()).collect();
    let set = ReportSet::claim(
        &common.out.join(format!("compare-{}", names.join("-vs-"))),
        "compare",
    )?;
    let runs =
        experiment::run(&plans, common.run_options()).context("cannot start the worker threads")?;
    let comparison = Comparison { runs };
    let mut exporters: Vec<Box<dyn Exporter<Comparison>>> = vec![Box::new(CompareCsv)];
    for chart in report::compare_charts() {
        exporters.push(Box::new(chart));
    }
    say_text!("{}", report::comparison_summary(&comparison));
    write(&comparison, &set, &exporters)?;
    Ok(Outcome::Success)
}
