//! The command line: exit codes, error messages, reports, determinism.

use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;

pub(crate) fn capsim() -> Command {
    Command::cargo_bin("capsim").expect("the capsim binary is built")
}

fn baseline_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/autorev-baseline.yaml")
}

fn baseline_text() -> String {
    fs::read_to_string(baseline_path()).expect("the baseline scenario is shipped")
}

/// The stack as the guide described it (classic functions, direct SQL):
/// the scenario the text-editing tests below edit.
fn classic_path() -> PathBuf {
    baseline_path().with_file_name("autorev-classic.yaml")
}

fn classic_text() -> String {
    fs::read_to_string(classic_path()).expect("the classic scenario is shipped")
}

/// Writes `text` as `name` in `dir` and returns its path.
fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, text).expect("temporary file is writable");
    path
}

#[test]
fn check_accepts_the_shipped_scenarios() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let files: Vec<PathBuf> = crate::shipped_scenarios(&dir)
        .into_iter()
        .map(|file| dir.join(file))
        .collect();
    assert!(files.len() >= 15, "the shipped scenarios are all found");
    capsim()
        .arg("check")
        .args(&files)
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "valid scenario `autorev-baseline`",
        ))
        .stdout(predicate::str::contains("so 50 for the app"))
        .stderr(predicate::str::is_empty());
}

/// Each bad edit of the baseline and the diagnostic it must produce.
const BAD_EDITS: &[(&str, &str, &str)] = &[
    (
        "horizon: 30d ",
        "horizon: -30d ",
        ":16:10: `horizon`: `-30d` is negative",
    ),
    (
        "daily_active_share: 30%",
        "daily_active_share: 130%",
        "`traffic.daily_active_share`: `130%` is outside 0%..100%",
    ),
    (
        "    weight: 30 ",
        "    wieght: 30 ",
        "`routes[0].wieght`: unknown field `wieght`, expected one of",
    ),
    (
        "replications: 10 ",
        "replications: 0 ",
        "`replications`: must be 1 or more",
    ),
    (
        "fan_out: [car_efficiency, car_safety_ratings]",
        "fan_out: [car_efficency]",
        "`routes[0].fan_out[0]`: `car_efficency` is not a route of this scenario; valid: cars_list, car_efficiency",
    ),
    (
        "    function: al\n",
        "    function: ai\n",
        "`routes[14].function`: `ai` is not a function of this scenario; valid: api, al",
    ),
    (
        "reuse: newest",
        "reuse: oldest",
        "`functions[0].reuse`: unknown variant `oldest`, expected one of newest, mru, lru, random",
    ),
    (
        "median: 30ms, p95: 120ms",
        "median: 30ms, p95: 10ms",
        "`routes[0].handler_time`: lognormal needs 0 < median < p95",
    ),
    (
        "warmup: 1h ",
        "warmup: 31d ",
        "`warmup`: (31d) must be shorter than the horizon (30d)",
    ),
    (
        "think_time: { dist: exponential, mean: 20s }",
        "think_time: { dist: exponential, mean: 20 }",
        "`traffic.think_time.mean`: `20` has no unit",
    ),
    (
        "platform_connections: 10 ",
        "platform_connections: 60 ",
        "`database.platform_connections`: (60) must leave room under max_connections (60)",
    ),
];

#[test]
fn bad_scenarios_name_file_line_column_and_key() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let baseline = classic_text();
    for (index, (from, to, expected)) in BAD_EDITS.iter().enumerate() {
        assert!(
            baseline.contains(from),
            "edit {index}: `{from}` is not in the baseline"
        );
        let path = write(
            dir.path(),
            &format!("bad-{index}.yaml"),
            &baseline.replacen(from, to, 1),
        );
        let output = capsim()
            .arg("check")
            .arg(&path)
            .output()
            .expect("capsim runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "edit {index}: {stderr}");
        let prefix = format!("error: {}:", path.display());
        assert!(
            stderr.starts_with(&prefix),
            "edit {index}: no file position in {stderr}"
        );
        assert!(
            stderr.contains(expected),
            "edit {index}: expected `{expected}` in {stderr}"
        );
    }
}

#[test]
fn no_line_deletion_makes_the_parser_panic() {
    let baseline = baseline_text();
    let lines: Vec<&str> = baseline.lines().collect();
    let path = baseline_path();
    for skip in 0..lines.len() {
        let text: String = lines
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != skip)
            .map(|(_, line)| format!("{line}\n"))
            .collect();
        if let Err(error) = capsim::scenario::parse(&path, &text) {
            assert!(
                error.to_string().starts_with("error: "),
                "line {skip}: {error}"
            );
        }
    }
}

#[test]
fn usage_errors_and_missing_files() {
    capsim().arg("frobnicate").assert().code(2);
    capsim()
        .args(["run", "--threads", "0", "x.yaml"])
        .assert()
        .code(2);
    capsim()
        .args(["check", "no-such-file.yaml"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "no-such-file.yaml: cannot read the scenario",
        ));
}

/// The baseline, shortened to two days and two small tiers.
fn short_baseline() -> String {
    baseline_text()
        .replacen("horizon: 30d ", "horizon: 2d ", 1)
        .replacen("\ncosts:\n", "\ncosts:\n  allow_short_horizon: true\n", 1)
        .replacen("  - { name: \"Tier 3\", users: 10000 }\n", "", 1)
        .replacen("  - { name: \"Tier 4\", users: 100000 }\n", "", 1)
}

fn run_into(scenario: &Path, out: &Path, threads: &str) {
    capsim()
        .args(["run", "--replications", "3", "--threads", threads, "--out"])
        .arg(out)
        .arg(scenario)
        .assert()
        .success()
        .stdout(predicate::str::contains("Tier 2 (1000 users)"));
}

#[test]
fn same_seed_gives_identical_csvs_on_one_thread_or_two() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let scenario = write(dir.path(), "short.yaml", &short_baseline());
    let (one, two) = (dir.path().join("one"), dir.path().join("two"));
    run_into(&scenario, &one, "1");
    run_into(&scenario, &two, "2");
    for file in [
        "summary.csv",
        "routes.csv",
        "timeseries.csv",
        "costs.csv",
        "alerts.csv",
    ] {
        let a = fs::read(one.join("autorev-baseline").join(file)).expect("report written");
        let b = fs::read(two.join("autorev-baseline").join(file)).expect("report written");
        assert!(!a.is_empty());
        assert!(a == b, "{file} differs between 1 and 2 threads");
    }
    // The charts: valid PNG images of their size, one timeline per tier.
    for (file, size) in [
        ("saturation.png", (1200, 800)),
        ("latency.png", (1200, 800)),
        ("costs.png", (1200, 800)),
        ("timeline-tier-1.png", (1200, 1100)),
        ("timeline-tier-2.png", (1200, 1100)),
    ] {
        let path = one.join("autorev-baseline").join(file);
        let dimensions = image::image_dimensions(&path)
            .unwrap_or_else(|error| panic!("{file} is not a readable PNG: {error}"));
        assert_eq!(dimensions, size, "{file}");
    }
    let summary = fs::read_to_string(one.join("autorev-baseline/summary.csv")).expect("summary");
    let header = summary.lines().next().expect("header");
    for column in [
        "tier",
        "users",
        "replications",
        "requests",
        "peak_rps",
        "p95_ms",
        "p95_ms_ci95",
        "error_rate",
        "cold_start_ratio",
        "peak_instances",
        "peak_db_connections",
        "db_connection_limit",
        "db_refused",
        "worst_window_p95_ms",
        "worst_window_error_rate",
        "slo_met",
    ] {
        assert!(
            header.split(',').any(|c| c == column),
            "summary.csv lacks {column}"
        );
    }
    let leftovers = fs::read_dir(one.join("autorev-baseline"))
        .expect("output folder")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        })
        .count();
    assert_eq!(leftovers, 0, "temporary files left behind");
}

#[test]
fn a_different_seed_changes_the_results() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let scenario = write(dir.path(), "short.yaml", &short_baseline());
    let out = dir.path().join("other");
    capsim()
        .args(["run", "--replications", "2", "--seed", "43", "--out"])
        .arg(&out)
        .arg(&scenario)
        .assert()
        .success();
    let base = dir.path().join("base");
    capsim()
        .args(["run", "--replications", "2", "--out"])
        .arg(&base)
        .arg(&scenario)
        .assert()
        .success();
    let a = fs::read(out.join("autorev-baseline/summary.csv")).expect("report");
    let b = fs::read(base.join("autorev-baseline/summary.csv")).expect("report");
    assert!(a != b);
}

/// Writes the baseline and `child` (which extends it) into `dir`; returns the child's path.
fn extending(dir: &Path, child: &str) -> PathBuf {
    write(dir, "autorev-baseline.yaml", &baseline_text());
    write(
        dir,
        "child.yaml",
        &format!("extends: autorev-baseline.yaml\nname: child\n{child}"),
    )
}

fn check_error(path: &Path) -> String {
    let output = capsim()
        .arg("check")
        .arg(path)
        .output()
        .expect("capsim runs");
    assert_eq!(output.status.code(), Some(1));
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn an_extending_file_is_blamed_for_what_it_sets() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let child = extending(dir.path(), "slo:\n  error_rate: 130%\n");
    let stderr = check_error(&child);
    assert!(
        stderr.contains(&format!(
            "{}:4:15: `slo.error_rate`: `130%` is outside 0%..100%",
            child.display()
        )),
        "{stderr}"
    );
}

#[test]
fn a_base_file_is_blamed_for_what_it_sets() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let base = write(dir.path(), "autorev-classic.yaml", &classic_text());
    let child = write(
        dir.path(),
        "child.yaml",
        "extends: autorev-classic.yaml\nname: child\n",
    );
    fs::write(
        &base,
        classic_text().replace("reuse: newest", "reuse: oldest"),
    )
    .expect("writable");
    let stderr = check_error(&child);
    let line = classic_text()
        .lines()
        .position(|l| l.contains("reuse: newest"))
        .expect("the classic scenario sets reuse")
        + 1;
    assert!(
        stderr.contains(&format!("{}:{line}:", base.display())),
        "{stderr}"
    );
    assert!(
        stderr.contains("`functions[0].reuse`: unknown variant `oldest`"),
        "{stderr}"
    );
}

#[test]
fn a_functions_model_decides_what_concurrency_may_be() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let model = "    model: classic                # one request";
    let concurrency = "    concurrency: 1                # classic";
    let line = classic_text()
        .lines()
        .position(|l| l.starts_with(concurrency))
        .expect("the baseline's api function is classic")
        + 1;
    let many = write(
        dir.path(),
        "many.yaml",
        &classic_text().replacen(
            concurrency,
            "    concurrency: 50               # classic",
            1,
        ),
    );
    let stderr = check_error(&many);
    assert!(
        stderr.contains(&format!(
            "{}:{line}:18: `functions[0].concurrency`: is 50, but a classic function serves \
             one request per instance; `model: fluid` serves several on one instance",
            many.display()
        )),
        "{stderr}"
    );
    let fluid = classic_text().replacen(model, "    model: fluid                  # ", 1);
    let unsaid = write(
        dir.path(),
        "unsaid.yaml",
        &fluid.replacen(concurrency, "    # ", 1),
    );
    let stderr = check_error(&unsaid);
    assert!(
        stderr.contains("`functions[0].concurrency`: is needed with `model: fluid`"),
        "{stderr}"
    );
    let fluid = write(
        dir.path(),
        "fluid.yaml",
        &fluid
            .replacen(concurrency, "    concurrency: 50 # ", 1)
            .replacen("    min_instances: 0 ", "    # ", 1),
    );
    let output = capsim()
        .arg("check")
        .arg(&fluid)
        .output()
        .expect("capsim runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains("api        Fluid, concurrency 50, 1 kept warm"),
        "{stdout}"
    );
}

/// A plain duration or number where a distribution is taken is a constant;
/// a bare number for a duration says it lacks a unit.
#[test]
fn plain_values_are_constant_distributions() {
    let path = validation_path("prewarm.yaml");
    let text = fs::read_to_string(&path).expect("shipped");
    let parse = |text: &str| capsim::scenario::parse(&path, text);
    let full = parse(&text).expect("valid").scenario;
    let plain = parse(
        &text
            .replace(
                "cold_start: { dist: constant, value: 0s }",
                "cold_start: 0s",
            )
            .replace(
                "requests_per_session: { dist: constant, value: 1 }",
                "requests_per_session: 1",
            ),
    )
    .expect("valid")
    .scenario;
    assert_eq!(plain.functions[0].cold_start, full.functions[0].cold_start);
    assert_eq!(
        plain.traffic.requests_per_session,
        full.traffic.requests_per_session
    );
    let error = parse(&text.replace(
        "handler_time: { dist: exponential, mean: 1s }",
        "handler_time: 15",
    ))
    .expect_err("no unit")
    .to_string();
    assert!(
        error
            .contains("`routes[0].handler_time`: `15` has no unit: write a duration such as 300ms"),
        "{error}"
    );
    // Seed, replications and horizon have defaults: 1, 10 and 30 days.
    let bare: String = text
        .lines()
        .filter(|l| {
            !["seed:", "replications:", "horizon:", "warmup:"]
                .iter()
                .any(|k| l.starts_with(k))
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let bare = parse(&bare).expect("valid").scenario;
    assert_eq!((bare.seed, bare.replications), (1, 10));
    assert_eq!(bare.horizon.secs(), 30.0 * 86_400.0);
}

#[test]
fn a_tier_may_not_change_the_experiment() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let child = extending(
        dir.path(),
        "tiers:\n  - { name: one, users: 10, set: { horizon: 1d } }\n",
    );
    let stderr = check_error(&child);
    assert!(
        stderr.contains(&format!("{}:4:36: `tiers[0].set.horizon`", child.display())),
        "{stderr}"
    );
}

#[test]
fn extends_cycles_and_missing_bases_are_errors() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let a = write(dir.path(), "a.yaml", "extends: b.yaml\n");
    write(dir.path(), "b.yaml", "extends: a.yaml\n");
    let stderr = check_error(&a);
    assert!(
        stderr.contains(
            "`extends`: scenarios extend each other in a cycle: a.yaml -> b.yaml -> a.yaml"
        ),
        "{stderr}"
    );
    let lonely = write(dir.path(), "lonely.yaml", "extends: nowhere.yaml\n");
    let stderr = check_error(&lonely);
    assert!(
        stderr.contains(&format!(
            "{}:1:10: `extends`: cannot read",
            lonely.display()
        )),
        "{stderr}"
    );
}

fn validation_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios/validation")
        .join(name)
}

#[test]
fn sweep_writes_one_row_per_user_count_and_the_charts() {
    let dir = tempfile::tempdir().expect("temporary directory");
    capsim()
        .args([
            "sweep",
            "--users",
            "10..1000",
            "--points",
            "3",
            "--replications",
            "2",
        ])
        .arg("--out")
        .arg(dir.path())
        .arg(validation_path("mmcc.yaml"))
        .assert()
        .success()
        .stdout(predicate::str::contains("100 users"));
    let out = dir.path().join("validation-mmcc/sweep");
    let sweep = fs::read_to_string(out.join("sweep.csv")).expect("sweep.csv written");
    let users: Vec<&str> = sweep
        .lines()
        .skip(1)
        .map(|line| line.split(',').nth(1).expect("a users column"))
        .collect();
    assert_eq!(users, ["10", "100", "1000"]);
    for chart in ["saturation.png", "latency.png"] {
        assert_eq!(
            image::image_dimensions(out.join(chart)).expect("a PNG"),
            (1200, 800)
        );
    }
    // No `costs` in the scenario: no projection.
    assert!(!out.join("costs.csv").exists());
}

#[test]
fn breakpoints_writes_its_table_and_prints_what_breaks_first() {
    let dir = tempfile::tempdir().expect("temporary directory");
    capsim()
        .args(["breakpoints", "--users", "100..1000", "--steps", "1"])
        .args(["--replications", "3", "--out"])
        .arg(dir.path())
        .arg(validation_path("breakpoint-connections.yaml"))
        .assert()
        .success()
        .stdout(predicate::str::contains("what breaks first"))
        .stdout(predicate::str::contains("not reached below 1000 users"));
    let table = fs::read_to_string(
        dir.path()
            .join("validation-breakpoint-connections/breakpoints.csv"),
    )
    .expect("breakpoints.csv written");
    let mut lines = table.lines();
    assert!(
        lines
            .next()
            .expect("a header")
            .starts_with("criterion,description,status,users_below,users_at")
    );
    let first = lines.next().expect("a first row");
    assert!(
        first.starts_with("db_connections_exhausted,"),
        "connections break first: {first}"
    );
}

#[test]
fn a_user_range_must_rise() {
    capsim()
        .args(["sweep", "--users", "1000..10"])
        .arg(validation_path("mmcc.yaml"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("LOW..HIGH"));
}

#[test]
fn breakpoints_of_an_invalid_scenario_is_an_input_error() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let broken = write(
        dir.path(),
        "broken.yaml",
        &baseline_text().replacen("replications: 10 ", "replications: ten ", 1),
    );
    capsim()
        .args(["breakpoints"])
        .arg(&broken)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("broken.yaml:"));
}

#[test]
fn an_alert_threshold_of_the_wrong_kind_names_its_line() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let text = baseline_text().replacen(
        "metric: p95_latency, above: 3s,",
        "metric: p95_latency, above: 3000,",
        1,
    );
    let line = text
        .lines()
        .position(|l| l.contains("above: 3000,"))
        .expect("the edited line")
        + 1;
    let path = write(dir.path(), "alerts.yaml", &text);
    capsim()
        .arg("check")
        .arg(&path)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!("alerts.yaml:{line}:")))
        .stderr(predicate::str::contains("alerts[2].above"))
        .stderr(predicate::str::contains("a duration such as \"3s\""));
}

#[test]
fn compare_pairs_replications_and_flags_differences_beyond_their_ci() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let text = fs::read_to_string(validation_path("mmcc.yaml")).expect("shipped");
    // Two more servers: fewer requests turned away, more instances.
    let more = text
        .replacen("name: validation-mmcc", "name: more-servers", 1)
        .replace("min_instances: 10", "min_instances: 12")
        .replace("max_instances: 10", "max_instances: 12");
    let more = write(dir.path(), "more.yaml", &more);
    capsim()
        .args(["compare", "--replications", "4", "--out"])
        .arg(dir.path())
        .arg(validation_path("mmcc.yaml"))
        .arg(&more)
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "more-servers against validation-mmcc",
        ))
        .stdout(predicate::str::contains(
            "key metrics differ but cannot be judged",
        ));
    let out = dir.path().join("compare-validation-mmcc-vs-more-servers");
    let table = fs::read_to_string(out.join("compare.csv")).expect("compare.csv written");
    let header: Vec<&str> = table.lines().next().expect("a header").split(',').collect();
    let significant = header
        .iter()
        .position(|h| *h == "more-servers_minus_validation-mmcc_significant")
        .expect("a significance column");
    let row = |metric: &str| -> Vec<String> {
        table
            .lines()
            .find(|l| l.split(',').nth(2) == Some(metric))
            .expect("a row per metric")
            .split(',')
            .map(String::from)
            .collect()
    };
    // Always 10 against 12: a difference without variance is no evidence
    // of a change, so it is left unjudged; the error rate's is judged.
    assert_eq!(row("peak_instances")[significant], "");
    assert_eq!(row("error_rate")[significant], "yes");
    assert_eq!(
        image::image_dimensions(out.join("compare-peak-db-demanded.png")).expect("a PNG"),
        (1200, 800)
    );
}

#[test]
fn compare_refuses_scenarios_with_different_tiers() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let text = fs::read_to_string(validation_path("mmcc.yaml")).expect("shipped");
    let other = write(
        dir.path(),
        "other.yaml",
        &text.replacen("users: 6048000", "users: 6000000", 1),
    );
    capsim()
        .args(["compare", "--out"])
        .arg(dir.path())
        .arg(validation_path("mmcc.yaml"))
        .arg(&other)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("the same tiers"));
}

#[test]
fn a_run_too_large_for_the_machine_is_refused_before_it_starts() {
    let dir = tempfile::tempdir().expect("temporary directory");
    // A century per replication: hundreds of gigabytes of per-minute series.
    let huge = baseline_text().replacen("horizon: 30d ", "horizon: 36500d ", 1);
    let path = write(dir.path(), "huge.yaml", &huge);
    capsim()
        .args(["run", "--out"])
        .arg(dir.path())
        .arg(&path)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("estimated to need about"))
        .stderr(predicate::str::contains("--allow-large"));
    assert!(
        !dir.path().join("autorev-baseline").exists(),
        "nothing written"
    );
}

/// The files of a report folder, sorted, with their bytes.
fn folder(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = fs::read_dir(dir)
        .expect("a report folder")
        .map(|entry| {
            let path = entry.expect("an entry").path();
            let name = path.file_name().expect("a name").to_string_lossy().into();
            (name, fs::read(&path).expect("readable"))
        })
        .collect();
    files.sort();
    files
}

#[test]
fn shards_merge_into_the_reports_of_a_single_run_byte_for_byte() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let scenario = write(dir.path(), "short.yaml", &short_baseline());
    let single = dir.path().join("single");
    capsim()
        .args(["run", "--replications", "3", "--out"])
        .arg(&single)
        .arg(&scenario)
        .assert()
        .success();
    let parts_dir = dir.path().join("parts");
    // Shard 1 reads its index as a Kubernetes Indexed Job would give it.
    for (shard, env) in [("0/3", None), ("env/3", Some("1")), ("2/3", None)] {
        let mut command = capsim();
        command
            .args(["run", "--replications", "3", "--shard", shard, "--out"])
            .arg(&parts_dir)
            .arg(&scenario)
            .env_remove("JOB_COMPLETION_INDEX")
            .env_remove("SLURM_ARRAY_TASK_ID");
        if let Some(index) = env {
            command.env("JOB_COMPLETION_INDEX", index);
        }
        command.assert().success();
    }
    let part = |k: u32| parts_dir.join(format!("part-{k}-of-3.csv"));
    let merged = dir.path().join("merged");
    capsim()
        .args(["merge", "--out"])
        .arg(&merged)
        .args([part(2), part(0), part(1)])
        .assert()
        .success();
    let expected = folder(&single.join("autorev-baseline"));
    let actual = folder(&merged.join("autorev-baseline"));
    assert!(expected.len() >= 9, "the run wrote its reports");
    assert_eq!(
        expected.iter().map(|f| &f.0).collect::<Vec<_>>(),
        actual.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    for ((name, a), (_, b)) in expected.iter().zip(&actual) {
        assert!(
            a == b,
            "{name} differs between the single run and the merge"
        );
    }
    // A missing part, a part given twice, a part of another run.
    capsim()
        .args(["merge", "--out"])
        .arg(&merged)
        .args([part(0), part(1)])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("shard 2 of 3 is missing"));
    capsim()
        .args(["merge", "--out"])
        .arg(&merged)
        .args([part(0), part(1), part(1), part(2)])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("shard 1 of 3 is given twice"));
    let other = dir.path().join("other");
    capsim()
        .args([
            "run",
            "--replications",
            "3",
            "--seed",
            "7",
            "--shard",
            "1/3",
            "--out",
        ])
        .arg(&other)
        .arg(&scenario)
        .assert()
        .success();
    capsim()
        .args(["merge", "--out"])
        .arg(&merged)
        .arg(part(0))
        .arg(other.join("part-1-of-3.csv"))
        .arg(part(2))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("different runs"));
    // A truncated part.
    let text = fs::read_to_string(part(2)).expect("a part");
    let cut = write(dir.path(), "cut.csv", &text[..text.len() / 2]);
    capsim()
        .args(["merge", "--out"])
        .arg(&merged)
        .args([part(0), part(1)])
        .arg(&cut)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("cut.csv"));
}

/// Every CSV's columns, as committed in tests/headers/*.columns (one name
/// a line): a renamed, dropped or added column fails here, not in a user's
/// spreadsheet.
#[test]
fn every_csv_keeps_its_committed_columns() {
    let headers = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/headers");
    let scenario = headers.join("headers.yaml");
    let dir = tempfile::tempdir().expect("temporary directory");
    let out = dir.path();
    let run = |args: &[&str], scenarios: &[&Path]| {
        capsim()
            .args(args)
            .arg("--out")
            .arg(out)
            .args(scenarios)
            .assert()
            .success();
    };
    run(&["run"], &[&scenario]);
    run(
        &["sweep", "--users", "100..300", "--points", "2"],
        &[&scenario],
    );
    run(
        &[
            "breakpoints",
            "--users",
            "100..300",
            "--points-per-decade",
            "1",
        ],
        &[&scenario],
    );
    run(
        &["compare"],
        &[&scenario, &headers.join("headers-pooled.yaml")],
    );
    let reports = out.join("headers");
    for (columns, csv) in [
        ("summary", reports.join("summary.csv")),
        ("summary", reports.join("sweep/sweep.csv")),
        ("routes", reports.join("routes.csv")),
        ("timeseries", reports.join("timeseries.csv")),
        ("costs", reports.join("costs.csv")),
        ("alerts", reports.join("alerts.csv")),
        ("breakpoints", reports.join("breakpoints.csv")),
        (
            "compare",
            out.join("compare-headers-vs-headers-pooled/compare.csv"),
        ),
    ] {
        let expected = fs::read_to_string(headers.join(format!("{columns}.columns")))
            .expect("committed columns");
        let written = fs::read_to_string(&csv).expect("the report is written");
        let header = written.lines().next().expect("a header").replace(',', "\n") + "\n";
        assert_eq!(
            header,
            expected,
            "{}: its columns differ from tests/headers/{columns}.columns",
            csv.display()
        );
    }
}

/// Numbers the model narrows (client ids, node ids, attempt counts) are
/// bounded where they are written, not truncated in the run.
#[test]
fn numbers_the_model_narrows_are_bounded_where_written() {
    let baseline = classic_text();
    let edits = [
        // 2^32 client ids, 0.02% of the users more as abusive clients.
        (
            "users: 100000 }",
            "users: 5000000000 }",
            "`tiers[3].users`: must be at most 4294108474 (users and abusive clients share 32-bit client ids)",
        ),
        (
            "abusive_clients: { share: 0.02%,",
            "abusive_clients: { count: 5000000000,",
            "`traffic.abusive_clients.count`: must be at most 4294967295",
        ),
        (
            "  compute: micro ",
            "  read_replicas: 256\n  compute: micro ",
            "`database.read_replicas`: must be at most 255 (a database node's id is one byte)",
        ),
        (
            "retries: { max: 2,",
            "retries: { max: 256,",
            "`ai.retries.max`: must be at most 255 (a request counts its attempts in one byte)",
        ),
        // A request's queries run one after another: 10^8 of them made one
        // fuzzed request run for hours.
        (
            "    queries: 2                    # assumption\n",
            "    queries: 100000000\n",
            "`routes[0].queries`: must be at most 10000",
        ),
    ];
    let path = classic_path();
    for (from, to, expected) in edits {
        // Each error is reported where the edit is: the line `from` is on.
        let line = baseline
            .lines()
            .position(|l| l.contains(from.trim_end_matches('\n')))
            .unwrap_or_else(|| panic!("`{from}` is not in the baseline"))
            + 1;
        let error = capsim::scenario::parse(&path, &baseline.replacen(from, to, 1))
            .expect_err("out of bounds")
            .to_string();
        assert!(
            error.contains(&format!("autorev-classic.yaml:{line}:")),
            "{to}: not at line {line}: {error}"
        );
        assert!(error.contains(expected), "{to}: {error}");
    }
    // A sweep's or a search's user counts are bounded alike: by the ids
    // alone, then by the scenario's abusive clients.
    capsim()
        .args(["sweep", "--users", "10..5000000000"])
        .arg(classic_path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("at most 4294967295"));
    capsim()
        .args(["breakpoints", "--users", "10..4294967295"])
        .arg(classic_path())
        .assert()
        .code(1)
        .stderr(predicate::str::contains("allows at most 4294108474"));
}

/// `-0` is not "0 or more": it passed the checks and then made the arrival
/// rate -0, whose gaps (-inf) hung `run`.
#[test]
fn negative_zero_is_refused_where_written() {
    let baseline = classic_text();
    let edits = [
        (
            "daily_active_share: 30%",
            "daily_active_share: -0%",
            41,
            "`traffic.daily_active_share`",
        ),
        (
            "sessions_per_active_user: 1.5",
            "sessions_per_active_user: -0",
            42,
            "`traffic.sessions_per_active_user`: must be 0 or more",
        ),
        (
            "daily_profile: [2,",
            "daily_profile: [-0,",
            46,
            "`traffic.daily_profile`: weights must be finite and 0 or more",
        ),
        (
            "weekly_profile: [1.0,",
            "weekly_profile: [-0.0,",
            47,
            "`traffic.weekly_profile`: weights must be finite and 0 or more",
        ),
        (
            "multiplier: 10 }",
            "multiplier: -0 }",
            50,
            "`traffic.bursts[0].multiplier`: must be 0 or more",
        ),
        (
            "per_user_per_month: 2.5",
            "per_user_per_month: -0",
            160,
            "per_user_per_month`: must be 0 or more",
        ),
    ];
    let path = classic_path();
    for (from, to, line, expected) in edits {
        assert!(baseline.contains(from), "`{from}` is not in the baseline");
        let error = capsim::scenario::parse(&path, &baseline.replacen(from, to, 1))
            .expect_err("-0 is refused")
            .to_string();
        assert!(
            error.contains(&format!("autorev-classic.yaml:{line}:")),
            "{to}: not at line {line}: {error}"
        );
        assert!(error.contains(expected), "{to}: {error}");
    }
}

/// A part whose content was changed (an edited number, lines added after
/// its end) is refused by `merge`, naming the part: corruption and
/// accidental edits, not forgery, are what its digest is for.
#[test]
fn merge_refuses_a_part_whose_content_was_changed() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let parts = dir.path().join("parts");
    for shard in ["0/2", "1/2"] {
        capsim()
            .args(["run", "--replications", "2", "--shard", shard, "--out"])
            .arg(&parts)
            .arg(validation_path("mmcc.yaml"))
            .env_remove("JOB_COMPLETION_INDEX")
            .env_remove("SLURM_ARRAY_TASK_ID")
            .assert()
            .success();
    }
    let part = |k: u32| parts.join(format!("part-{k}-of-2.csv"));
    let merged = dir.path().join("merged");
    let merge = |second: &Path| {
        capsim()
            .args(["merge", "--out"])
            .arg(&merged)
            .arg(part(0))
            .arg(second)
            .assert()
    };
    merge(&part(1)).success();
    let text = fs::read_to_string(part(1)).expect("a part");
    // The results are JSON in a CSV field, whose quotes are doubled.
    let key = "\"\"requests\"\":";
    let number = text.find(key).expect("a requests count") + key.len();
    let digit = &text[number..number + 1];
    let other = if digit == "1" { "2" } else { "1" };
    let edited = format!("{}{other}{}", &text[..number], &text[number + 1..]);
    let edited = write(dir.path(), "edited.csv", &edited);
    merge(&edited)
        .code(1)
        .stderr(predicate::str::contains("edited.csv"))
        .stderr(predicate::str::contains("digest"));
    let appended = write(dir.path(), "appended.csv", &format!("{text}end\n"));
    merge(&appended)
        .code(1)
        .stderr(predicate::str::contains("appended.csv"));
}

/// `--shard env/N` reads its index from the scheduler's environment; what
/// is missing or wrong there is a usage error that says what it found.
#[test]
fn a_shard_index_from_the_environment_is_checked() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let shard = |envs: &[(&str, &str)]| {
        let mut command = capsim();
        command
            .args(["run", "--replications", "2", "--shard", "env/2", "--out"])
            .arg(dir.path())
            .arg(validation_path("mmcc.yaml"))
            .env_remove("JOB_COMPLETION_INDEX")
            .env_remove("SLURM_ARRAY_TASK_ID")
            .env_remove("SLURM_ARRAY_TASK_MIN");
        for (name, value) in envs {
            command.env(name, value);
        }
        command.assert()
    };
    shard(&[])
        .code(2)
        .stderr(predicate::str::contains("neither JOB_COMPLETION_INDEX"));
    shard(&[("JOB_COMPLETION_INDEX", "abc")])
        .code(2)
        .stderr(predicate::str::contains("JOB_COMPLETION_INDEX is `abc`"));
    shard(&[("SLURM_ARRAY_TASK_ID", "3"), ("SLURM_ARRAY_TASK_MIN", "5")])
        .code(2)
        .stderr(predicate::str::contains("below SLURM_ARRAY_TASK_MIN"));
    shard(&[("SLURM_ARRAY_TASK_ID", "6"), ("SLURM_ARRAY_TASK_MIN", "5")]).success();
    assert!(dir.path().join("part-1-of-2.csv").exists());
}

/// A scenario's name is its report folder's: one no file system takes is
/// refused at `check`, and two scenarios of one run may not share one.
#[test]
fn a_name_must_make_a_folder_of_its_own() {
    let baseline = baseline_text();
    let path = baseline_path();
    let long = format!("name: {}\n", "x".repeat(256));
    for (to, expected) in [
        (long.as_str(), "256 bytes"),
        ("name: \"auto\\0rev\"\n", "control character"),
    ] {
        let text = baseline.replacen("name: autorev-baseline\n", to, 1);
        assert_ne!(text, baseline, "the baseline names itself");
        let error = capsim::scenario::parse(&path, &text)
            .expect_err("not a folder name")
            .to_string();
        assert!(error.contains("`name`"), "{error}");
        assert!(error.contains(expected), "{error}");
    }
    let dir = tempfile::tempdir().expect("temporary directory");
    let twin = write(
        dir.path(),
        "twin.yaml",
        &fs::read_to_string(validation_path("mmcc.yaml")).expect("shipped"),
    );
    capsim()
        .args(["run", "--replications", "1", "--out"])
        .arg(dir.path())
        .arg(validation_path("mmcc.yaml"))
        .arg(&twin)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("both named `validation-mmcc`"));
}

/// Reading a scenario takes bounded time and memory: aliases are counted
/// as they expand, and only regular files of bounded size are read.
#[test]
fn a_scenario_is_read_in_bounded_memory() {
    // Ten levels of ten aliases each: 10^10 values once expanded.
    let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for level in 1..10 {
        let below = level - 1;
        let aliases = vec![format!("*a{below}"); 10].join(", ");
        bomb.push_str(&format!("a{level}: &a{level} [{aliases}]\n"));
    }
    let error = capsim::scenario::parse(Path::new("bomb.yaml"), &bomb)
        .expect_err("an alias bomb is refused")
        .to_string();
    assert!(error.contains("bomb.yaml:"), "{error}");
    assert!(error.contains("200000 YAML values"), "{error}");
    let dir = tempfile::tempdir().expect("temporary directory");
    let endless = write(dir.path(), "endless.yaml", "extends: /dev/zero\n");
    let error = capsim::scenario::load(&endless)
        .expect_err("a device is no scenario")
        .to_string();
    assert!(error.contains("not a regular file"), "{error}");
    let huge = write(
        dir.path(),
        "huge.yaml",
        &format!("name: huge\ndescription: \"{}\"\n", "x".repeat(2 << 20)),
    );
    let error = capsim::scenario::load(&huge)
        .expect_err("a 2 MB scenario is refused")
        .to_string();
    assert!(error.contains("over 1048576 bytes"), "{error}");
}

/// What sizes a run's memory is bounded where it is written or counted in
/// the estimate that refuses a run too large: SLO windows of a nanosecond
/// (a window per nanosecond to close) and instances kept warm by the
/// hundred million.
#[test]
fn what_sizes_memory_is_bounded_or_estimated() {
    let baseline = classic_text();
    let path = classic_path();
    let text = baseline.replacen("  window: 5m ", "  window: 1ns ", 1);
    assert_ne!(text, baseline);
    let error = capsim::scenario::parse(&path, &text)
        .expect_err("a nanosecond window is refused")
        .to_string();
    assert!(error.contains("autorev-classic.yaml:25:"), "{error}");
    assert!(
        error.contains("`slo.window`: must be 1s or longer"),
        "{error}"
    );
    let warm = baseline
        .replacen("min_instances: 0 ", "min_instances: 100000000 ", 1)
        .replacen("max_instances: 30000 ", "max_instances: 100000000 ", 1);
    assert_ne!(warm, baseline);
    let loaded = capsim::scenario::parse(&path, &warm).expect("valid");
    let options = capsim::experiment::RunOptions::default();
    let size = capsim::experiment::footprint(&[capsim::experiment::Plan::tiers(&loaded)], options);
    assert!(
        size.memory_bytes > 1e10,
        "10^8 warm instances estimated at {} bytes",
        size.memory_bytes
    );
    // Each input the estimate missed, alone on one tier of the baseline:
    // each allocates gigabytes (or makes that many requests), so each must
    // be estimated above 10 GB where the plain tier is some megabytes.
    let one_tier = |text: &str, users: &str| {
        let text = text
            .replacen(
                "  - { name: \"Tier 1\", users: 100 }",
                &format!("  - {{ name: t, users: {users} }}"),
                1,
            )
            .replacen("  - { name: \"Tier 2\", users: 1000 }\n", "", 1)
            .replacen("  - { name: \"Tier 3\", users: 10000 }\n", "", 1)
            .replacen("  - { name: \"Tier 4\", users: 100000 }\n", "", 1);
        let loaded = capsim::scenario::parse(&path, &text).expect("valid");
        let options = capsim::experiment::RunOptions {
            replications: Some(1),
            ..Default::default()
        };
        capsim::experiment::footprint(&[capsim::experiment::Plan::tiers(&loaded)], options)
            .memory_bytes
    };
    let plain = one_tier(&baseline, "1000");
    assert!(plain < 1e9, "one plain tier estimated at {plain} bytes");
    for (what, from, to, users) in [
        (
            "10^12 messages per user",
            "per_user_per_month: 2.5 ",
            "per_user_per_month: 1e12 ",
            "1000",
        ),
        (
            "a burst x10^6",
            "multiplier: 10 }",
            "multiplier: 1e6 }",
            "100000",
        ),
        (
            "10% of 10^9 users abusive",
            "share: 0.02%",
            "share: 10%",
            "1000000000",
        ),
        ("10^9 CDN keys", "keys: 300,", "keys: 1000000000,", "1000"),
    ] {
        let text = baseline.replacen(from, to, 1);
        assert_ne!(text, baseline, "{what}");
        let size = one_tier(&text, users);
        assert!(size > 1e10, "{what}: estimated at {size} bytes");
    }
}

/// A file that `extends` names must be a scenario: one whose top level is
/// no mapping (any text file is YAML) was merged as an empty mapping.
#[test]
fn an_extended_file_must_be_a_mapping() {
    let dir = tempfile::tempdir().expect("temporary directory");
    write(
        dir.path(),
        "notes.txt",
        "root:x:0:0:root:/root:/bin/bash\nmore text\n",
    );
    let child = write(
        dir.path(),
        "child.yaml",
        "extends: notes.txt\nname: child\n",
    );
    let error = capsim::scenario::load(&child)
        .expect_err("a text file is no base scenario")
        .to_string();
    assert!(error.contains("child.yaml:1:10: `extends`"), "{error}");
    assert!(error.contains("not a scenario"), "{error}");
}

/// Hidden temporary files (`.capsim-<set>~XXXXXX.tmp`) in `dir`.
fn temporary_files(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .expect("a report folder")
        .map(|e| {
            e.expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.starts_with(".capsim-") && name.ends_with(".tmp"))
        .collect()
}

/// A one-tier, one-day baseline that runs in well under a second.
fn tiny_baseline() -> String {
    short_baseline()
        .replacen("horizon: 2d ", "horizon: 1d ", 1)
        .replacen("  - { name: \"Tier 2\", users: 1000 }\n", "", 1)
}

#[test]
fn reports_replace_a_planted_symlink_instead_of_following_it() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let scenario = write(dir.path(), "tiny.yaml", &tiny_baseline());
    let reports = dir.path().join("out/autorev-baseline");
    fs::create_dir_all(&reports).expect("a folder");
    let victim = write(dir.path(), "victim.txt", "keep me");
    // At the report's name, and at the fixed temporary name capsim once used.
    std::os::unix::fs::symlink(&victim, reports.join("summary.csv")).expect("a symlink");
    std::os::unix::fs::symlink(&victim, reports.join(".routes.csv.partial")).expect("a symlink");
    capsim()
        .args(["run", "--replications", "1", "--out"])
        .arg(dir.path().join("out"))
        .arg(&scenario)
        .assert()
        .success();
    assert_eq!(fs::read_to_string(&victim).expect("victim"), "keep me");
    let summary = reports.join("summary.csv");
    assert!(summary.symlink_metadata().expect("summary").is_file());
    assert!(temporary_files(&reports).is_empty());
}

#[test]
fn a_report_set_being_written_refuses_a_second_writer_before_it_simulates() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let scenario = write(dir.path(), "tiny.yaml", &tiny_baseline());
    let out = dir.path().join("out");
    let held = capsim::report::ReportSet::claim(&out.join("autorev-baseline"), "run")
        .expect("the set is free");
    capsim()
        .args(["run", "--replications", "1", "--out"])
        .arg(&out)
        .arg(&scenario)
        .assert()
        .code(2)
        .stdout(predicate::str::contains("p95").not())
        .stderr(predicate::str::contains(
            "another capsim is writing the run reports in",
        ));
    // Other sets of the same folder are free: breakpoints, and the sweep.
    capsim()
        .args([
            "sweep",
            "--users",
            "10..100",
            "--points",
            "2",
            "--replications",
            "1",
            "--out",
        ])
        .arg(&out)
        .arg(&scenario)
        .assert()
        .success();
    drop(held);
    capsim()
        .args(["run", "--replications", "1", "--out"])
        .arg(&out)
        .arg(&scenario)
        .assert()
        .success();
}

#[test]
fn concurrent_shards_write_their_parts_into_one_folder() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let scenario = write(dir.path(), "short.yaml", &short_baseline());
    let parts = dir.path().join("parts");
    let binary = assert_cmd::cargo::cargo_bin("capsim");
    let shards: Vec<std::process::Child> = (0..4)
        .map(|k| {
            std::process::Command::new(&binary)
                .args(["run", "--replications", "2", "--threads", "1"])
                .arg("--shard")
                .arg(format!("{k}/4"))
                .arg("--out")
                .arg(&parts)
                .arg(&scenario)
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("a shard starts")
        })
        .collect();
    for mut shard in shards {
        assert!(shard.wait().expect("a shard ends").success());
    }
    capsim()
        .args(["merge", "--out"])
        .arg(dir.path().join("merged"))
        .args((0..4).map(|k| parts.join(format!("part-{k}-of-4.csv"))))
        .assert()
        .success();
    assert!(temporary_files(&parts).is_empty());
}

#[test]
fn a_report_set_is_replaced_whole_and_other_sets_are_untouched() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let with_costs = write(dir.path(), "costs.yaml", &tiny_baseline());
    let text = tiny_baseline();
    let costs = text.find("\ncosts:\n").expect("the baseline has costs");
    let end = text[costs + 1..]
        .find("\n\n")
        .map_or(text.len(), |e| costs + 1 + e);
    let without_costs = write(
        dir.path(),
        "no-costs.yaml",
        &format!("{}{}", &text[..costs], &text[end..]),
    );
    let out = dir.path().join("out");
    let reports = out.join("autorev-baseline");
    let run = |scenario: &Path| {
        capsim()
            .args(["run", "--replications", "1", "--out"])
            .arg(&out)
            .arg(scenario)
            .assert()
            .success();
    };
    run(&with_costs);
    assert!(reports.join("costs.csv").exists());
    // Another command's file, and a killed writer's leftovers of this set
    // and of another set.
    write(&reports, "breakpoints.csv", "other command");
    write(&reports, ".capsim-run~Ab12Cd.tmp", "leftover");
    write(&reports, ".capsim-breakpoints~Ab12Cd.tmp", "live elsewhere");
    run(&without_costs);
    assert!(
        !reports.join("costs.csv").exists() && !reports.join("costs.png").exists(),
        "files of the previous set that the new one lacks are removed"
    );
    assert!(reports.join("summary.csv").exists());
    assert_eq!(
        fs::read_to_string(reports.join("breakpoints.csv")).expect("kept"),
        "other command"
    );
    assert_eq!(
        temporary_files(&reports),
        vec![".capsim-breakpoints~Ab12Cd.tmp".to_string()]
    );
}

#[test]
fn an_interrupted_run_leaves_no_temporary_files() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let out = dir.path().join("out");
    let binary = assert_cmd::cargo::cargo_bin("capsim");
    // The whole baseline: minutes of work, interrupted after half a second.
    let mut run = std::process::Command::new(binary)
        .args(["run", "--replications", "40", "--threads", "1", "--out"])
        .arg(&out)
        .arg(baseline_path())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("the run starts");
    std::thread::sleep(std::time::Duration::from_millis(500));
    let killed = std::process::Command::new("kill")
        .args(["-INT", &run.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let status = run.wait().expect("the run ends");
    assert_eq!(status.code(), Some(130), "exits as SIGINT would: {status}");
    assert!(temporary_files(&out.join("autorev-baseline")).is_empty());
}

#[test]
fn merge_finds_the_scenario_from_another_folder() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let here = dir.path().join("here");
    let elsewhere = dir.path().join("elsewhere");
    fs::create_dir_all(&here).expect("a folder");
    fs::create_dir_all(&elsewhere).expect("a folder");
    write(&here, "tiny.yaml", &tiny_baseline());
    for shard in ["0/2", "1/2"] {
        capsim()
            .current_dir(&here)
            .args([
                "run",
                "--replications",
                "2",
                "--shard",
                shard,
                "--out",
                "parts",
            ])
            .arg("tiny.yaml")
            .assert()
            .success();
    }
    capsim()
        .current_dir(&elsewhere)
        .args(["merge", "--out", "merged"])
        .args((0..2).map(|k| here.join(format!("parts/part-{k}-of-2.csv"))))
        .assert()
        .success();
    assert!(
        elsewhere
            .join("merged/autorev-baseline/summary.csv")
            .exists()
    );
}

#[test]
fn errors_point_at_the_mapping_or_file_that_is_wrong() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let baseline = baseline_text();
    let line_of = |text: &str, needle: &str| {
        text.lines()
            .position(|line| line.starts_with(needle))
            .expect("the line is there")
            + 1
    };
    // A missing key: at the mapping that lacks it, with the keys it takes
    // (the parser pointed at the mapping's last key).
    let no_start = baseline.replacen(
        "  time_to_first_token: { dist: lognormal, median: 1.5s, p95: 4s }",
        "",
        1,
    );
    let path = write(dir.path(), "no-ttft.yaml", &no_start);
    let stderr = check_error(&path);
    let ai = line_of(&no_start, "ai:");
    assert!(
        stderr.contains(&format!(
            "{}:{ai}:1: `ai`: missing field `time_to_first_token` (expected one of model,",
            path.display()
        )),
        "{stderr}"
    );
    let no_cold_start = baseline.replacen(
        "    cold_start: { dist: lognormal, median: 400ms, p95: 2s }",
        "    # none",
        1,
    );
    let path = write(dir.path(), "no-cold-start.yaml", &no_cold_start);
    let stderr = check_error(&path);
    let api = line_of(&no_cold_start, "  - name: api");
    assert!(
        stderr.contains(&format!(
            "{}:{api}:5: `functions[0]`: missing field `cold_start` (expected one of name,",
            path.display()
        )),
        "{stderr}"
    );
    // A syntax error of an extending file is reported as one.
    let child = extending(dir.path(), "ai: { model: x\n");
    let stderr = check_error(&child);
    assert!(
        stderr.contains(&format!("{}:3:", child.display())) && !stderr.contains("unknown field"),
        "{stderr}"
    );
    // An empty key would delete the base's section: refused, in the child
    // (`ai: ~` removes it on purpose).
    let child = extending(dir.path(), "ai:\n");
    let stderr = check_error(&child);
    assert!(
        stderr.contains(&format!(
            "{}:3:1: `ai`: is empty here, which would remove what",
            child.display()
        )),
        "{stderr}"
    );
    // A value the parser refuses, in a derived scenario: located.
    let child = extending(
        dir.path(),
        "database: { pooler: { enabled: true, default_pool_size: 0 } }\n",
    );
    let stderr = check_error(&child);
    assert!(
        stderr.contains(&format!(
            "{}:3:57: `database.pooler.default_pool_size`: must be 1 or more",
            child.display()
        )),
        "{stderr}"
    );
    // No programmer's hints from the YAML library; a second document and a
    // key given twice are named as such, in a plain file and an extending one.
    for (name, text, expected) in [
        (
            "twice.yaml",
            format!("{baseline}name: again\n"),
            "this key is given twice",
        ),
        (
            "second.yaml",
            format!("{baseline}---\nname: b\n"),
            "holds one YAML document",
        ),
    ] {
        let stderr = check_error(&write(dir.path(), name, &text));
        assert!(stderr.contains(expected), "{name}: {stderr}");
        assert!(
            !stderr.contains("Options") && !stderr.contains("from_str"),
            "{stderr}"
        );
    }
    let child = extending(dir.path(), "---\nname: b\n");
    assert!(check_error(&child).contains("holds one YAML document"));
}

#[test]
fn a_closed_standard_output_does_not_stop_the_reports() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let scenario = write(dir.path(), "tiny.yaml", &tiny_baseline());
    let out = dir.path().join("out");
    // As `capsim run ... | head -1` once the reader is gone: it panicked
    // on the broken pipe and aborted before writing the reports.
    let mut run = std::process::Command::new(assert_cmd::cargo::cargo_bin("capsim"))
        .args(["run", "--replications", "1", "--out"])
        .arg(&out)
        .arg(&scenario)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the run starts");
    drop(run.stdout.take());
    let output = run.wait_with_output().expect("the run ends");
    assert!(
        output.status.success(),
        "{}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(out.join("autorev-baseline/summary.csv").exists());
}

#[test]
fn an_out_folder_that_is_a_file_is_refused_before_simulating() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let scenario = write(dir.path(), "tiny.yaml", &tiny_baseline());
    let file = write(dir.path(), "a-file", "");
    let output = capsim()
        .args(["run", "--replications", "1", "--out"])
        .arg(&file)
        .arg(&scenario)
        .output()
        .expect("capsim runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    // The cause once (it was printed twice), and nothing simulated first.
    assert_eq!(stderr.matches("Not a directory").count(), 1, "{stderr}");
    assert!(!String::from_utf8_lossy(&output.stdout).contains("p95"));
}

#[test]
fn init_writes_starters_that_check_run_and_follow_the_shipped_baseline() {
    use capsim::init::Preset;
    use capsim::scenario::{DbAccess, FunctionModel, Scenario};
    let dir = tempfile::tempdir().expect("temporary directory");
    let baseline = capsim::scenario::load(&baseline_path())
        .expect("the baseline loads")
        .scenario;
    // What a starter shares with the baseline, apart from the stack's edits.
    let shared = |s: &Scenario| {
        format!(
            "{:?}{:?}{:?}{:?}{:?}{:?}{:?}{:?}{:?}",
            s.tiers, s.slo, s.traffic, s.rate_limits, s.ai, s.costs, s.images, s.alerts, s.jobs
        )
    };
    for preset in Preset::ALL {
        // A file name with a space: the scenario's name keeps to - and _.
        let file = dir.path().join(format!("{preset} app.yaml"));
        capsim()
            .args(["init", "--preset", &preset.to_string()])
            .arg(&file)
            .assert()
            .success();
        let text = std::fs::read_to_string(&file).expect("written");
        assert!(text.contains("# CHANGE: assumption:"), "{text}");
        assert!(!text.contains("CHANGE: CHANGE:"), "{text}");
        assert!(
            !text.contains("AutoRev as a team deploying it today"),
            "{text}"
        );
        capsim().arg("check").arg(&file).assert().success();
        let starter = capsim::scenario::load(&file).expect("loads").scenario;
        assert_eq!(starter.name, format!("{preset}-app"));
        assert_eq!(shared(&starter), shared(&baseline), "{preset}");
        let classic = preset == Preset::Classic;
        for function in &starter.functions {
            assert_eq!(
                function.model == FunctionModel::Classic,
                classic,
                "{preset}"
            );
            assert_eq!(function.concurrency == 1, classic, "{preset}");
        }
        for route in starter.routes.iter().filter(|r| r.queries > 0) {
            let sql = route.db_access == DbAccess::Sql;
            assert_eq!(sql, classic, "{preset}: {}", route.name);
        }
        assert_eq!(starter.database.ipv4_addon, classic, "{preset}");
        if !classic {
            let mut renamed = starter.clone();
            renamed.name.clone_from(&baseline.name);
            renamed.description.clone_from(&baseline.description);
            assert_eq!(format!("{renamed:?}"), format!("{baseline:?}"));
        }
        // It runs as it is: the smallest tier's month.
        let run = capsim::experiment::simulate(&starter, starter.tiers[0].users, 0);
        assert!(
            run.tier.outcomes.count(capsim::model::Outcome::Ok) > 1_000,
            "{preset}"
        );
        // A second init never replaces it.
        let output = capsim()
            .args(["init", "--preset", &preset.to_string()])
            .arg(&file)
            .output()
            .expect("runs");
        assert_eq!(output.status.code(), Some(1));
        assert!(
            String::from_utf8_lossy(&output.stderr)
                .contains("exists; `capsim init` never replaces a file")
        );
        assert_eq!(std::fs::read_to_string(&file).expect("kept"), text);
    }
}

#[test]
fn a_minimal_scenario_checks_and_runs_on_its_defaults() {
    // No seed, replications, horizon or warm-up; users as `50k`, a weight
    // as `50%`, plain durations where distributions go; no idle timeout;
    // no database, as no route queries one.
    let dir = tempfile::tempdir().expect("temporary directory");
    let text = "name: mini\n\
                start: 2025-01-06\n\
                tiers:\n  - { name: small, users: 50k }\n\
                traffic:\n  daily_active_share: 30%\n  sessions_per_active_user: 1\n\
                \x20 requests_per_session: 5\n  think_time: 20s\n\
                \x20 daily_profile: [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n\
                routes:\n  - { name: home, weight: 50%, function: web, handler_time: 15ms }\n\
                \x20 - { name: about, weight: 50%, function: web, handler_time: 5ms }\n\
                functions:\n  - { name: web, cold_start: 300ms }\n\
                slo: { p95_latency: 1s, error_rate: 1% }\n";
    let file = dir.path().join("mini.yaml");
    fs::write(&file, text).expect("writable");
    capsim()
        .arg("check")
        .arg(&file)
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "database: not used (no route sends queries)",
        ));
    let scenario = capsim::scenario::load(&file).expect("loads").scenario;
    assert_eq!(scenario.tiers[0].users, 50_000);
    assert_eq!(scenario.replications, 10);
    assert_eq!(scenario.routes[0].weight, 0.5);
    let run = capsim::experiment::simulate(&scenario, 50_000, 0);
    assert!(run.tier.outcomes.count(capsim::model::Outcome::Ok) > 100_000);
    // A route that queries needs the database section, said where.
    let with_queries = text.replace("handler_time: 15ms }", "handler_time: 15ms, queries: 2 }");
    fs::write(&file, with_queries).expect("writable");
    capsim()
        .arg("check")
        .arg(&file)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "mini.yaml:12:76: `routes[0].queries`: sends 2 queries a request, but the scenario has no `database` section",
        ));
}
