//! Integration tests, one binary: model validation against closed forms,
//! determinism, the command line, mutation fuzzing of the scenarios, and
//! predictions against a real PostgreSQL and PgBouncer.

mod calibrate;
mod cli;
mod compose;
mod costs;
mod fuzz;
mod schema;
mod testbed;
mod traffic;
mod validation;

use std::path::{Path, PathBuf};

/// The shipped scenario files, relative to `root` (`scenarios/`).
fn shipped_scenarios(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for folder in ["", "validation", "bench", "sensitivity"] {
        for entry in std::fs::read_dir(root.join(folder)).expect("a scenario folder") {
            let path = entry.expect("an entry").path();
            if path.extension().is_some_and(|e| e == "yaml") {
                files.push(path.strip_prefix(root).expect("under root").to_path_buf());
            }
        }
    }
    files.sort();
    files
}
