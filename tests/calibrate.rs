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
        let output = calibrate(&export, &dir.path().join("out"))
            .output()
            .expect("runs");
        assert_eq!(output.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{stderr}");
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
