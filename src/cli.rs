//! Command-line interface: argument types and the commands behind them.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use capsim::breakpoints::{self, SearchOptions};
use capsim::experiment::{self, Plan, PlannedTier, RunOptions};
use capsim::report::{self, Breakpoints, BreakpointsCsv, CompareCsv, Comparison, Exporter};
use capsim::scenario::{self, Loaded, ScenarioError};

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
        let threads = self.threads.map_or_else(
            || std::thread::available_parallelism().map_or(1, usize::from),
            usize::from,
        );
        let size = experiment::footprint(plans, self.run_options(), threads);
        let available = experiment::available_memory()?;
        if self.allow_large || size.memory_bytes <= available * 0.9 {
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
    Ok(UserRange { low, high })
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

fn report_errors(errors: &[ScenarioError]) {
    for error in errors {
        eprintln!("{}", error.to_string().trim_end());
    }
}

/// Runs `command`.
pub fn execute(command: Command) -> anyhow::Result<Outcome> {
    match command {
        Command::Check { scenarios } => check(&scenarios),
        Command::Run { scenarios, common } => run(&scenarios, &common),
        Command::Compare { scenarios, common } => compare(&scenarios, &common),
        Command::Sweep {
            scenario,
            users,
            points,
            common,
        } => sweep(&scenario, users, points, &common),
        Command::Breakpoints {
            scenario,
            users,
            points_per_decade,
            steps,
            common,
        } => find_breakpoints(&scenario, users, points_per_decade, steps, &common),
    }
}

fn check(paths: &[PathBuf]) -> anyhow::Result<Outcome> {
    let mut outcome = Outcome::Success;
    for path in paths {
        match scenario::load(path) {
            Ok(loaded) => {
                print!("{}", report::check_summary(&loaded));
            }
            Err(error) => {
                report_errors(&[error]);
                outcome = Outcome::InvalidInput;
            }
        }
    }
    Ok(outcome)
}

/// Writes `exporters`' files for `input` into `dir` and lists them.
fn write<T: ?Sized>(
    input: &T,
    dir: &Path,
    exporters: &[Box<dyn Exporter<T>>],
) -> anyhow::Result<()> {
    for path in report::write_reports(input, dir, exporters)? {
        println!("  wrote {}", path.display());
    }
    Ok(())
}

fn run(paths: &[PathBuf], common: &Common) -> anyhow::Result<Outcome> {
    let loaded = match load_all(paths, common.seed) {
        Ok(loaded) => loaded,
        Err(outcome) => return Ok(outcome),
    };
    let plans: Vec<Plan> = loaded.iter().map(Plan::tiers).collect();
    if let Some(outcome) = common.refuse_too_large(&plans) {
        return Ok(outcome);
    }
    let runs =
        experiment::run(&plans, common.run_options()).context("cannot start the worker threads")?;
    for run in &runs {
        print!("{}", report::saturation_summary(run));
        let dir = common.out.join(&run.scenario.name.value);
        write(run, &dir, &report::exporters(run))?;
    }
    Ok(Outcome::Success)
}

fn sweep(path: &Path, users: UserRange, points: u32, common: &Common) -> anyhow::Result<Outcome> {
    let loaded = match load_all(&[path.to_path_buf()], common.seed) {
        Ok(mut loaded) => loaded.remove(0),
        Err(outcome) => return Ok(outcome),
    };
    let plan = Plan {
        scenario: &loaded.scenario,
        tiers: breakpoints::log_spaced(users.low, users.high, points)
            .into_iter()
            .map(|count| PlannedTier {
                name: format!("{count} users"),
                users: count,
                stack: &loaded.scenario,
            })
            .collect(),
    };
    let plans = [plan];
    if let Some(outcome) = common.refuse_too_large(&plans) {
        return Ok(outcome);
    }
    let runs =
        experiment::run(&plans, common.run_options()).context("cannot start the worker threads")?;
    let run = &runs[0];
    print!("{}", report::saturation_summary(run));
    let dir = common.out.join(&run.scenario.name.value).join("sweep");
    write(run, &dir, &report::sweep_exporters(run))?;
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
        let tiers = scenario.tiers.value.iter().map(|t| t.users.value);
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
    if let Some(outcome) = common.refuse_too_large(&[grid]) {
        return Ok(outcome);
    }
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
        scenario: scenario.name.value.clone(),
        criteria: &criteria,
        found,
        evaluations,
    };
    print!("{}", report::breakpoints_table(&report));
    let exporters: Vec<Box<dyn Exporter<Breakpoints>>> = vec![Box::new(BreakpointsCsv)];
    write(&report, &common.out.join(&scenario.name.value), &exporters)?;
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
    let users = |l: &Loaded| -> Vec<u64> {
        l.scenario
            .tiers
            .value
            .iter()
            .map(|t| t.users.value)
            .collect()
    };
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
    if let Some(outcome) = common.refuse_too_large(&plans) {
        return Ok(outcome);
    }
    let runs =
        experiment::run(&plans, common.run_options()).context("cannot start the worker threads")?;
    let names: Vec<&str> = runs
        .iter()
        .map(|r| r.scenario.name.value.as_str())
        .collect();
    let dir = common.out.join(format!("compare-{}", names.join("-vs-")));
    let comparison = Comparison { runs };
    let mut exporters: Vec<Box<dyn Exporter<Comparison>>> = vec![Box::new(CompareCsv)];
    for chart in report::compare_charts() {
        exporters.push(Box::new(chart));
    }
    print!("{}", report::comparison_summary(&comparison));
    write(&comparison, &dir, &exporters)?;
    Ok(Outcome::Success)
}
