//! Mutation fuzzing of the shipped scenarios: every mutant goes through the
//! loader, and the accepted ones through `capsim run` (one day, one
//! replication) in a subprocess under a time and memory limit. No input may
//! panic, hang, abort or allocate without bound, and every input error must
//! name its file, line and column.
//!
//! CI tries `CAPSIM_FUZZ_CASES` mutants (default 400, of which at most a
//! tenth are run) from `CAPSIM_FUZZ_SEED` (default 1); set them to fuzz
//! longer, e.g. `CAPSIM_FUZZ_CASES=20000 CAPSIM_FUZZ_SEED=7 cargo test --release fuzz`.
//! A failing mutant is kept in `target/tmp/fuzz-failures/`; `CAPSIM_FUZZ_CASE=N`
//! tries case N of the seed alone.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

/// Values that once slipped past a check, and their kin.
const NUMBERS: &[&str] = &[
    "-0",
    "0",
    "-1",
    "1",
    "0.5",
    "1e12",
    "1e308",
    "-1e308",
    ".nan",
    ".inf",
    "-.inf",
    "4294967296",
    "18446744073709551616",
    "99999999999999999999999",
    "100000000",
    "255",
    "256",
    "65536",
];
const DURATIONS: &[&str] = &[
    "0s", "-0s", "1ns", "1us", "1ms", "1000000d", "100y", "1e300s", "-1s", "nan s",
];
const SHARES: &[&str] = &["-0%", "0%", "100%", "101%", "1e-300%", "nan%", "50"];
const JUNK: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    "*a",
    "&a",
    "!!binary",
    "~",
    "''",
    "\"\\u0000\"",
    "- ",
    ": ",
    "\t",
    "#",
    "---",
    "\u{feff}",
    "é",
    "\u{0}",
];

/// Copies `from` into `to`, folder by folder.
fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("a folder");
    for entry in fs::read_dir(from).expect("a folder") {
        let path = entry.expect("an entry").path();
        let target = to.join(path.file_name().expect("a name"));
        if path.is_dir() {
            copy_tree(&path, &target);
        } else {
            fs::copy(&path, &target).expect("a copy");
        }
    }
}

/// One to three random edits of `text`.
fn mutate(text: &str, rng: &mut Xoshiro256PlusPlus) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for _ in 0..rng.random_range(1..=3) {
        if lines.is_empty() {
            break;
        }
        let at = rng.random_range(0..lines.len());
        let pick = |rng: &mut Xoshiro256PlusPlus, list: &[&str]| {
            list[rng.random_range(0..list.len())].to_string()
        };
        match rng.random_range(0..9) {
            0 => {
                lines.remove(at);
            }
            1 => {
                let line = lines[at].clone();
                lines.insert(at, line);
            }
            // A value replaced: the text after the first `: `.
            2..=5 => {
                let value = match rng.random_range(0..4) {
                    0 | 1 => pick(rng, NUMBERS),
                    2 => pick(rng, DURATIONS),
                    _ => pick(rng, SHARES),
                };
                if let Some(colon) = lines[at].find(": ") {
                    let rest = &lines[at][colon + 2..];
                    let end = rest
                        .find([',', '}', ' ', '#'])
                        .filter(|&e| e > 0)
                        .unwrap_or(rest.len());
                    let line = format!("{}{value}{}", &lines[at][..colon + 2], &rest[end..]);
                    lines[at] = line;
                }
            }
            6 => {
                let junk = pick(rng, JUNK);
                let line = &mut lines[at];
                let mut cut = rng.random_range(0..=line.len());
                while !line.is_char_boundary(cut) {
                    cut -= 1;
                }
                line.insert_str(cut, &junk);
            }
            7 => {
                let other = rng.random_range(0..lines.len());
                lines.swap(at, other);
            }
            _ => {
                let line = &mut lines[at];
                if rng.random_bool(0.5) {
                    line.insert_str(0, "  ");
                } else if line.starts_with("  ") {
                    line.drain(..2);
                }
            }
        }
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

/// Whether every line of `stderr` is an error naming file, line and column
/// (or one of the refusals that concern a run, not a place in the file).
fn located(stderr: &str) -> bool {
    stderr.lines().all(|line| {
        let Some(rest) = line.strip_prefix("error: ") else {
            return false;
        };
        if rest.starts_with("this run is estimated") || rest.contains(" users: `") {
            return true;
        }
        // `path:line:column: ...`
        let mut fields = rest.splitn(4, ':');
        let _path = fields.next();
        let numbers = [fields.next(), fields.next()];
        numbers
            .iter()
            .all(|n| n.is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())))
    })
}

/// `text` cut to one day without warm-up, so that a run is quick; keys a
/// file inherits from the one it extends are set at its end.
fn one_day(text: &str) -> String {
    let mut out = String::new();
    let (mut horizon, mut warmup, mut costs) = (false, false, false);
    for line in text.lines() {
        if line.starts_with("horizon:") {
            horizon = true;
            out.push_str("horizon: 1d\n");
        } else if line.starts_with("warmup:") {
            warmup = true;
            out.push_str("warmup: 0s\n");
        } else if line == "costs:" {
            costs = true;
            out.push_str("costs:\n  allow_short_horizon: true\n");
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    if !horizon {
        out.push_str("horizon: 1d\n");
    }
    if !warmup {
        out.push_str("warmup: 0s\n");
    }
    if !costs && text.contains("extends:") {
        out.push_str("costs:\n  allow_short_horizon: true\n");
    }
    out
}

/// The most events a fuzzed run may be estimated to have: some seconds.
const MAX_EVENTS: f64 = 2e7;

fn variable(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn mutated_scenarios_never_panic_hang_or_go_unlocated() {
    let only = std::env::var("CAPSIM_FUZZ_CASE")
        .ok()
        .and_then(|v| v.parse::<u64>().ok());
    let cases = only.map_or(variable("CAPSIM_FUZZ_CASES", 400), |case| case + 1);
    let seed = variable("CAPSIM_FUZZ_SEED", 1);
    let source = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let dir = tempfile::tempdir().expect("temporary directory");
    let root = dir.path().join("scenarios");
    copy_tree(&source, &root);
    let files = crate::shipped_scenarios(&root);
    let binary = assert_cmd::cargo::cargo_bin("capsim");
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let (mut refused, mut accepted, mut large, mut ran) = (0u64, 0u64, 0u64, 0u64);
    let mut failures = Vec::new();
    let mut failed = 0;
    for case in 0..cases {
        let file = &files[rng.random_range(0..files.len())];
        let original = fs::read_to_string(root.join(file)).expect("a shipped scenario");
        let mutant = mutate(&original, &mut rng);
        if only.is_some_and(|only| only != case) {
            continue;
        }
        // Next to the original, so that its `extends` still resolve.
        let path = root.join(file).with_file_name(format!("fuzz-{case}.yaml"));
        fs::write(&path, &mutant).expect("writable");
        match capsim::scenario::parse(&path, &mutant) {
            Err(error) => {
                refused += 1;
                let message = error.to_string();
                if !located(&message) {
                    failures.push(format!("{}: unlocated error:\n{message}", path.display()));
                }
            }
            Ok(_) => {
                accepted += 1;
                // Run a tenth of the mutants that load, one day each, and
                // only those small enough to run in seconds by capsim's own
                // estimate: the run must then take seconds.
                if ran * 10 >= cases && only.is_none() {
                    continue;
                }
                let short = one_day(&mutant);
                fs::write(&path, &short).expect("writable");
                if capsim::scenario::parse(&path, &short).is_ok_and(|loaded| {
                    let plan = capsim::experiment::Plan::tiers(&loaded);
                    let options = capsim::experiment::RunOptions {
                        replications: Some(1),
                        threads: Some(1),
                        progress: false,
                    };
                    capsim::experiment::footprint(&[plan], options).events > MAX_EVENTS
                }) {
                    large += 1;
                    continue;
                }
                ran += 1;
                let out = dir.path().join("out");
                // 60 s and 4 GB of address space: far beyond a day's run.
                let output = Command::new("sh")
                    .arg("-c")
                    .arg("ulimit -v 4000000; exec timeout 60 \"$@\"")
                    .arg("sh")
                    .arg(&binary)
                    .args(["run", "--replications", "1", "--threads", "1", "--out"])
                    .arg(&out)
                    .arg(&path)
                    .output()
                    .expect("sh runs");
                let stderr = String::from_utf8_lossy(&output.stderr);
                let fine = match output.status.code() {
                    Some(0) => true,
                    Some(1) => located(&stderr),
                    _ => false,
                };
                if !fine {
                    failures.push(format!(
                        "{}: run ended with {} (124: timeout):\n{stderr}",
                        path.display(),
                        output.status
                    ));
                }
            }
        }
        if failures.len() > failed {
            failed = failures.len();
            let kept = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz-failures");
            fs::create_dir_all(&kept).expect("a folder");
            let name = format!(
                "seed-{seed}-{}",
                path.file_name().expect("a name").display()
            );
            fs::copy(&path, kept.join(name)).expect("a copy");
        }
        let _ = fs::remove_file(&path);
        if failures.len() >= 3 {
            break;
        }
    }
    eprintln!(
        "fuzz (seed {seed}): {cases} mutants tried, {refused} refused with a located error, \
         {accepted} accepted, {ran} of them run, {large} not run as larger than {MAX_EVENTS:e} \
         events"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
