//! Command-line interface: argument types and the commands behind them.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Parser, Subcommand};

use capsim::experiment::{self, Plan, RunOptions};
use capsim::report;
use capsim::scenario::{self, Loaded, ScenarioError};

/// capsim: capacity-planning simulation of serverless web stacks.
#[derive(Debug, Parser)]
#[command(name = "capsim", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Simulate every tier of one or more scenarios and write reports.
    Run {
        /// Scenario files.
        #[arg(required = true)]
        scenarios: Vec<PathBuf>,
        /// Folder for reports; each scenario writes into <out>/<scenario name>/.
        #[arg(long, default_value = "output")]
        out: PathBuf,
        /// Replications per tier, instead of the scenario's.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        replications: Option<u32>,
        /// Worker threads (default: one per core).
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
        threads: Option<u16>,
        /// Root seed, instead of the scenario's.
        #[arg(long)]
        seed: Option<u64>,
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

/// Loads every file; reports every error of every file.
fn load_all(paths: &[PathBuf]) -> Result<Vec<Loaded>, Vec<ScenarioError>> {
    let mut loaded = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        match scenario::load(path) {
            Ok(scenario) => loaded.push(scenario),
            Err(error) => errors.push(error),
        }
    }
    if errors.is_empty() {
        Ok(loaded)
    } else {
        Err(errors)
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
        Command::Run {
            scenarios,
            out,
            replications,
            threads,
            seed,
        } => run(&scenarios, &out, replications, threads, seed),
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

fn run(
    paths: &[PathBuf],
    out: &Path,
    replications: Option<u32>,
    threads: Option<u16>,
    seed: Option<u64>,
) -> anyhow::Result<Outcome> {
    let mut loaded = match load_all(paths) {
        Ok(loaded) => loaded,
        Err(errors) => {
            report_errors(&errors);
            return Ok(Outcome::InvalidInput);
        }
    };
    for scenario in &mut loaded {
        if let Some(seed) = seed {
            scenario.set_seed(seed);
        }
    }
    let plans: Vec<Plan> = loaded.iter().map(Plan::tiers).collect();
    let options = RunOptions {
        replications,
        threads: threads.map(usize::from),
        progress: std::io::stderr().is_terminal(),
    };
    let runs = experiment::run(&plans, options).context("cannot start the worker threads")?;
    for run in &runs {
        let dir = out.join(&run.scenario.name.value);
        let written = report::write_reports(run, &dir, &report::exporters(run))?;
        print!("{}", report::saturation_summary(run));
        for path in written {
            println!("  wrote {}", path.display());
        }
    }
    Ok(Outcome::Success)
}
