//! The `capsim` command: parse arguments, run the library, map the outcome
//! to an exit code (0 done, 1 invalid input, 2 usage or internal error).

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    remove_temporary_files_on_signals();
    match cli::execute(args.command) {
        Ok(cli::Outcome::Success) => ExitCode::SUCCESS,
        Ok(cli::Outcome::InvalidInput) => ExitCode::from(1),
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// On SIGINT, SIGTERM or SIGHUP, removes the reports' temporary files (after
/// a commit in progress) and exits as the signal would (128 + its number).
fn remove_temporary_files_on_signals() {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    // Without the handler the signals keep their default: exit at once.
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
        return;
    };
    std::thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            capsim::report::remove_temporary_files();
            std::process::exit(128 + signal);
        }
    });
}
