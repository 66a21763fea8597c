//! `capsim calibrate` on pg_stat_statements exports: the mixture's moments
//! by hand, the lognormal's own moments back from its median and p95, the
//! files written, and bad exports named by line and column.

use std::fs;
use std::path::Path;

use assert_cmd::Command;
use capsim::calibrate::{QueryTimeFit, Statement};

fn statement(calls: u64, mean_ms: f64, stddev_ms: f64) -> Statement {
    Statement {
        query: "SELECT 1".into(),
        calls,
        mean_ms,
        stddev_ms,
        rows: calls,
    }
}

/// `capsim calibrate` on `export`, writing into `out`.
fn calibrate(export: &Path, out: &Path) -> Command {
    let mut command = Command::cargo_bin("capsim").expect("built");
    command
        .args(["calibrate", "--pg-stat-statements"])
        .arg(export)
        .arg("--out")
        .arg(out);
    command
}

/// Runs `command`, which must fail as invalid input saying `expected`.
fn fails_saying(command: &mut Command, expected: &str) {
    let output = command.output().expect("runs");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(expected), "{stderr}");
}

fn close(actual: f64, expected: f64, tolerance: f64) {
    assert!(
        (actual - expected).abs() <= tolerance * expected.abs().max(1e-12),
        "{actual} is not {expected}"
    );
}

#[test]
fn the_fit_keeps_the_mixture_of_executions_mean_and_variance() {
    // 3 calls of mean 2 ms (sd 1) and 1 of mean 6 ms (sd 2): the mixture's
    // mean is 3 ms and E[X^2] = (3 x 5 + 40) / 4 = 13.75, so its variance
    // is 4.75.
    let fit =
        QueryTimeFit::of(&[statement(3, 2.0, 1.0), statement(1, 6.0, 2.0)]).expect("executions");
    assert_eq!(fit.calls, 4);
    close(fit.mean_ms, 3.0, 1e-12);
    close(fit.stddev_ms, 4.75f64.sqrt(), 1e-12);
    // The lognormal of that median and p95 has the same two moments.
    let sigma = (fit.p95_ms / fit.median_ms).ln() / 1.644_853_626_951_472_2;
    let mu = fit.median_ms.ln();
    close((mu + sigma * sigma / 2.0).exp(), 3.0, 1e-9);
    close(
        ((sigma * sigma).exp() - 1.0) * (2.0 * mu + sigma * sigma).exp(),
        4.75,
        1e-9,
    );
    // One statement that always takes 5 ms: median and p95 are 5 ms.
    let constant = QueryTimeFit::of(&[statement(10, 5.0, 0.0)]).expect("executions");
    close(constant.median_ms, 5.0, 1e-12);
    close(constant.p95_ms, 5.0, 1e-12);
    // Nothing executed: no fit.
    assert!(QueryTimeFit::of(&[statement(0, 5.0, 1.0)]).is_none());
}

#[test]
fn calibrate_writes_a_fragment_a_scenario_can_extend() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let export = dir.path().join("statements.csv");
    fs::write(
        &export,
        "query,calls,total_exec_time,mean_exec_time,stddev_exec_time,rows\n\
         \"SELECT * FROM cars WHERE slug = $1\",3000,6000,2,1,3000\n\
         \"UPDATE garage SET car = $1\",1000,6000,6,2,1000\n",
    )
    .expect("writable");
    let out = dir.path().join("out");
    calibrate(&export, &out).assert().success();
    let fragment = fs::read_to_string(out.join("calibration/calibration.yaml")).expect("written");
    assert!(fragment.contains("2 statements, 4000 calls"), "{fragment}");
    assert!(
        fragment.contains("query_time: { dist: lognormal, median: 2.427ms, p95: 7.082ms }"),
        "{fragment}"
    );
    let csv = fs::read_to_string(out.join("calibration/calibration.csv")).expect("written");
    assert_eq!(csv.lines().count(), 4, "{csv}");
    assert!(
        csv.lines()
            .last()
            .expect("a fit row")
            .starts_with("lognormal fit,all statements,4000,1,3,")
    );
    // The fragment merges into a scenario: the baseline extended by it
    // checks, with the fitted query time.
    let baseline = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios/autorev-baseline.yaml");
    fs::copy(&baseline, dir.path().join("autorev-baseline.yaml")).expect("copied");
    let child = dir.path().join("calibrated.yaml");
    fs::write(
        &child,
        format!("extends: autorev-baseline.yaml\nname: calibrated\n{fragment}"),
    )
    .expect("writable");
    let loaded = capsim::scenario::load(&child).expect("the calibrated scenario loads");
    let mean = loaded.scenario.database.query_time.mean_secs();
    close(mean * 1_000.0, 3.0, 1e-3);
    // Executions without spread make a constant query time.
    fs::write(
        &export,
        "query,calls,mean_exec_time,stddev_exec_time\nSELECT 1,10,5,0\n",
    )
    .expect("writable");
    calibrate(&export, &out).assert().success();
    let fragment = fs::read_to_string(out.join("calibration/calibration.yaml")).expect("written");
    assert!(fragment.contains("query_time: 5.000ms\n"), "{fragment}");
}

#[test]
fn a_bad_export_is_named_by_line_and_column() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let check = |name: &str, text: &str, expected: &str| {
        let export = dir.path().join(name);
        fs::write(&export, text).expect("writable");
        fails_saying(&mut calibrate(&export, &dir.path().join("out")), expected);
    };
    check(
        "no-stddev.csv",
        "query,calls,mean_exec_time\nSELECT 1,1,1\n",
        "no `stddev_exec_time` column",
    );
    check(
        "bad-mean.csv",
        "query,calls,mean_exec_time,stddev_exec_time\nSELECT 1,1,1,0\nSELECT 2,1,fast,0\n",
        ":3: `mean_exec_time` is `fast`; milliseconds",
    );
    check(
        "negative-calls.csv",
        "query,calls,mean_exec_time,stddev_exec_time\nSELECT 1,-1,1,0\n",
        ":2: `calls` is `-1`; a whole number",
    );
    check(
        "empty.csv",
        "query,calls,mean_exec_time,stddev_exec_time\n",
        "no statement with calls above 0",
    );
}

#[test]
fn pgbouncer_and_pgbench_take_the_hold_apart_from_the_wait_and_the_client() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = |name: &str| dir.path().join(name);
    fs::write(
        path("statements.csv"),
        "query,calls,mean_exec_time,stddev_exec_time,rows\nSELECT pg_sleep($1),1000,10.5,5,1000\n",
    )
    .expect("writable");
    // PgBouncer's transactions average 13 ms from the query's arrival, of
    // which 2 ms waiting: 11 ms hold a server connection. Its admin
    // database's row is not the application's.
    fs::write(
        path("stats.csv"),
        "database,total_xact_count,total_query_count,total_xact_time,total_query_time,total_wait_time\n\
         bench,1000,1000,13000000,13000000,2000000\n\
         pgbouncer,5,5,0,0,0\n",
    )
    .expect("writable");
    // Two threads' logs: 20 latencies of 13.2 ms and 20 of 13.8 ms, mean
    // 13.5 ms, so 0.5 ms outside the server connection; nearest-rank p95
    // (the 38th of 40) 13.8 ms; one skipped transaction without a latency.
    let log = |first: u32, latency_us: u32| {
        (first..first + 20)
            .map(|i| format!("{} {i} {latency_us} 0 1700000000 {i}000 120\n", i % 4))
            .collect::<String>()
    };
    fs::write(path("pgbench.1"), log(0, 13_200)).expect("writable");
    fs::write(
        path("pgbench.1.1"),
        format!("{}3 99 skipped 0 1700000001 5 80\n", log(20, 13_800)),
    )
    .expect("writable");
    let out = path("out");
    let mut command = calibrate(&path("statements.csv"), &out);
    command
        .arg("--pgbouncer-stats")
        .arg(path("stats.csv"))
        .arg("--pgbench-log")
        .arg(path("pgbench.1"))
        .arg(path("pgbench.1.1"));
    let output = command.output().expect("runs");
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("mean transaction 13.0000 ms, of which waiting for a server connection 2.0000 ms and holding one 11.0000 ms"),
        "{stdout}"
    );
    assert!(
        stdout.contains("40 transactions (1 without a latency): mean 13.5000 ms, p95 13.8000 ms; outside the server connection 0.5000 ms"),
        "{stdout}"
    );
    let csv = fs::read_to_string(out.join("calibration/calibration.csv")).expect("written");
    for row in [
        "pgbouncer transaction,bench,1000,,13,",
        "pgbouncer wait,bench,1000,,2,",
        "pgbouncer hold,bench,1000,,11,",
        "outside the connection,",
        "lognormal fit,\"pgbouncer transactions, executions' spread\",1000,,11,5,1000,",
    ] {
        assert!(csv.contains(row), "{row} not in {csv}");
    }
    // The fragment's query time is the hold: mean 11 ms, the executions'
    // standard deviation.
    let fragment = fs::read_to_string(out.join("calibration/calibration.yaml")).expect("written");
    assert!(
        fragment.contains("(13.0000 - 2.0000 = 11.0000 ms over 1000"),
        "{fragment}"
    );
    assert!(fragment.contains("0.5000 ms"), "{fragment}");
    let scenario = path("calibrated.yaml");
    fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/autorev-baseline.yaml"),
        path("autorev-baseline.yaml"),
    )
    .expect("copied");
    fs::write(
        &scenario,
        format!("extends: autorev-baseline.yaml\nname: calibrated\n{fragment}"),
    )
    .expect("writable");
    let loaded = capsim::scenario::load(&scenario).expect("the calibrated scenario loads");
    close(
        loaded.scenario.database.query_time.mean_secs() * 1_000.0,
        11.0,
        1e-3,
    );
}

#[test]
fn bad_pgbouncer_and_pgbench_exports_are_named_by_line_and_column() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let statements = dir.path().join("statements.csv");
    fs::write(
        &statements,
        "query,calls,mean_exec_time,stddev_exec_time\nSELECT 1,1,1,0\n",
    )
    .expect("writable");
    let check = |flag: &str, text: &str, expected: &str| {
        let export = dir.path().join("export");
        fs::write(&export, text).expect("writable");
        let mut command = calibrate(&statements, &dir.path().join("out"));
        fails_saying(command.arg(flag).arg(&export), expected);
    };
    check(
        "--pgbouncer-stats",
        "database,total_xact_count,total_xact_time\nbench,1,1\n",
        "no `total_wait_time` column; PgBouncer's SHOW STATS",
    );
    check(
        "--pgbouncer-stats",
        "database,total_xact_count,total_xact_time,total_wait_time\nbench,1,1.5,0\n",
        ":2: `total_xact_time` is `1.5`; a whole number",
    );
    check(
        "--pgbouncer-stats",
        "database,total_xact_count,total_xact_time,total_wait_time\npgbouncer,3,0,0\n",
        "no database but `pgbouncer` with total_xact_count above 0",
    );
    // An aggregated log (--aggregate-interval) is not a per-transaction one.
    check(
        "--pgbench-log",
        "0 1 1200 0 1700000000 1\n1700000000 10 12000 14400000 1000 1400\n",
        ":2: `time_epoch` is `1000`",
    );
    check(
        "--pgbench-log",
        "0 1 fast 0 1700000000 1\n",
        ":1: `time` is `fast`; a per-transaction pgbench log line",
    );
    check(
        "--pgbench-log",
        "0 1 skipped 0 1700000000 1\n",
        "no transaction with a latency",
    );
}
