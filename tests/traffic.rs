//! The request log round trip: `run --log` writes a known scenario's
//! requests, `calibrate --request-log` reads them back, and the fitted
//! inputs recover the scenario's within their confidence intervals: each
//! test's together at 95% (Bonferroni over its checks).

use std::fs;
use std::path::{Path, PathBuf};

use capsim::calibrate::{Interval, LogOptions, Model, RouteRule, calibrate_traffic};

use crate::cli::capsim;

fn scenario(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("scenarios/validation/{name}.yaml"))
}

/// Runs `name` with `--log` into `dir` and calibrates its log.
fn round_trip(name: &str, dir: &Path) -> capsim::calibrate::TrafficCalibration {
    capsim()
        .args(["run", "--log", "--out"])
        .arg(dir)
        .arg(scenario(name))
        .assert()
        .success();
    let rule = |pattern: &str, route: &str| RouteRule {
        pattern: pattern.into(),
        route: route.into(),
    };
    calibrate_traffic(&LogOptions {
        logs: vec![dir.join(format!("validation-{name}/requests-round-trip.log"))],
        routes: vec![
            rule("GET /items/*", "page"),
            rule("GET /items/*/panel", "panel"),
            rule("GET /search", "search"),
            rule("POST /items", "save"),
        ],
        users: Some(30_000),
        session_gap_ms: 30 * 60_000,
    })
    .expect("the log calibrates")
}

/// z of each check's interval so that all of a test's (at most 50: 39 and
/// 47) hold together with 95% probability (Bonferroni, 1 - 0.05 / 50
/// two-sided): with 95% intervals, one true value in twenty falls outside
/// by chance.
const Z_FAMILY: f64 = 3.290_526_731_491_926;

/// `interval` (a 95% one) widened to [`Z_FAMILY`]; in log space when
/// `positive` (lognormal parameters, whose intervals are).
fn family(interval: Interval, positive: bool) -> Interval {
    let factor = Z_FAMILY / 1.959_963_984_540_054;
    let Interval { value, low, high } = interval;
    if positive {
        Interval {
            value,
            low: value * (low / value).powf(factor),
            high: value * (high / value).powf(factor),
        }
    } else {
        Interval {
            value,
            low: value - (value - low) * factor,
            high: value + (high - value) * factor,
        }
    }
}

fn assert_within(what: &str, interval: Interval, truth: f64) {
    let interval = family(interval, what.contains("median") || what.contains("p95"));
    assert!(
        interval.contains(truth),
        "{what}: {truth} is outside {:.4}..{:.4} (fitted {:.4})",
        interval.low,
        interval.high,
        interval.value
    );
}

/// The shared part of both scenarios: session rate, profile, route mix,
/// handler times.
fn assert_common(calibration: &capsim::calibrate::TrafficCalibration) {
    assert_eq!(calibration.malformed, 0);
    assert_eq!(calibration.unmapped, 0);
    // 2% of the users a day, one session each.
    let rate = calibration.sessions_per_user.expect("users were given");
    assert_within("sessions a user a day", rate, 0.02);
    let profile = [
        0.2, 0.1, 0.1, 0.1, 0.2, 0.4, 0.8, 1.2, 1.5, 1.6, 1.6, 1.5, 1.4, 1.5, 1.6, 1.6, 1.5, 1.4,
        1.3, 1.2, 1.1, 0.9, 0.6, 0.4,
    ];
    let mean = profile.iter().sum::<f64>() / 24.0;
    for (hour, weight) in profile.iter().enumerate() {
        assert_within(
            &format!("daily_profile[{hour}]"),
            calibration.daily_profile[hour],
            weight / mean,
        );
    }
    let route = |name: &str| {
        calibration
            .routes
            .iter()
            .find(|r| r.name == name)
            .unwrap_or_else(|| panic!("route {name}"))
    };
    assert_eq!(route("page").fan_out, vec!["panel".to_string()]);
    assert!(route("panel").fan_out.is_empty());
    // Weights 5, 3, 2; panel only as page's fan-out.
    for (name, weight) in [
        ("page", 0.5),
        ("search", 0.3),
        ("save", 0.2),
        ("panel", 0.0),
    ] {
        let fitted = route(name).weight;
        // A binomial share of the page requests' 95% interval.
        let requests: f64 = calibration
            .routes
            .iter()
            .filter(|r| r.name != "panel")
            .map(|r| r.requests as f64)
            .sum();
        let half = Z_FAMILY * (weight * (1.0 - weight) / requests).sqrt();
        assert!(
            (fitted - weight).abs() <= half.max(1e-12),
            "{name}: weight {fitted:.4}, true {weight} +- {half:.4}"
        );
    }
    for (name, median, p95) in [
        ("page", 40.0, 120.0),
        ("panel", 15.0, 60.0),
        ("search", 80.0, 300.0),
        ("save", 25.0, 50.0),
    ] {
        let fit = route(name)
            .duration
            .as_ref()
            .expect("durations were logged");
        let Model::Lognormal {
            median: fitted_median,
            p95: fitted_p95,
        } = fit.model
        else {
            panic!("durations are fitted lognormal");
        };
        assert_within(&format!("{name} median"), fitted_median, median);
        assert_within(&format!("{name} p95"), fitted_p95, p95);
    }
}

#[test]
fn a_request_log_gives_back_its_scenarios_traffic() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let calibration = round_trip("traffic-round-trip", dir.path());
    assert_common(&calibration);
    let sessions = calibration.requests_per_session.as_ref().expect("fitted");
    let Model::Geometric { mean } = sessions.model else {
        panic!("requests per session are fitted geometric");
    };
    assert_within("requests_per_session mean", mean, 8.0);
    let (think, _) = calibration.think_time.as_ref().expect("fitted");
    let Model::Exponential { mean } = think.model else {
        panic!("exponential think times fit an exponential best, not {think:?}");
    };
    assert_within("think_time mean", mean, 20.0);
    assert!(think.ks < 0.01, "KS {}", think.ks);
    assert!(calibration.weekly_profile.is_some());
}

#[test]
fn heavy_tails_and_a_weekly_profile_come_back_too() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let calibration = round_trip("traffic-round-trip-heavy", dir.path());
    assert_common(&calibration);
    let sessions = calibration.requests_per_session.as_ref().expect("fitted");
    let Model::Geometric { mean } = sessions.model else {
        panic!("requests per session are fitted geometric");
    };
    // Uniform on 2..=12: its mean still comes back, and the geometric's
    // misfit shows in its KS distance.
    assert_within("requests_per_session mean", mean, 7.0);
    assert!(sessions.ks > 0.1, "KS {}", sessions.ks);
    let (think, other) = calibration.think_time.as_ref().expect("fitted");
    let Model::Lognormal { median, p95 } = think.model else {
        panic!("lognormal think times fit a lognormal best, not {think:?}");
    };
    assert_within("think_time median", median, 10.0);
    assert_within("think_time p95", p95, 120.0);
    assert!(other.ks > 10.0 * think.ks);
    let weekly = [1.3, 1.4, 1.3, 1.2, 1.0, 0.4, 0.4];
    let mean_weight = weekly.iter().sum::<f64>() / 7.0;
    let fitted = calibration.weekly_profile.as_ref().expect("26 whole days");
    for (day, weight) in weekly.iter().enumerate() {
        assert_within(
            &format!("weekly_profile[{day}]"),
            fitted[day],
            weight / mean_weight,
        );
    }
}

#[test]
fn calibrate_reports_malformed_and_unmapped_lines_and_writes_the_fit_report() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let log = dir.path().join("access.log");
    let mut text = String::new();
    for minute in 0..50 {
        text += &format!(
            "10.0.0.{} - - [06/Jan/2025:10:{minute:02}:00 +0000] \"GET /search?q=x HTTP/1.1\" 200 512 \"-\" \"ua\" 0.080 MISS\n",
            minute % 5
        );
    }
    text += "this is not a log line\n";
    text +=
        "10.0.0.9 - - [06/Jan/2025:11:00:00 +0000] \"GET /admin HTTP/1.1\" 200 1 \"-\" \"ua\"\n";
    fs::write(&log, text).expect("writable");
    let routes = dir.path().join("routes.yaml");
    fs::write(&routes, "- { pattern: \"GET /search\", route: search }\n").expect("writable");
    let out = dir.path().join("out");
    let output = capsim()
        .args(["calibrate", "--request-log"])
        .arg(&log)
        .arg("--routes")
        .arg(&routes)
        .arg("--out")
        .arg(&out)
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("1 malformed, 1 unmapped"), "{stdout}");
    assert!(stdout.contains("access.log:51: no [time]"), "{stdout}");
    assert!(
        stdout.contains("unmapped: GET /admin (1 requests)"),
        "{stdout}"
    );
    let folder = out.join("calibration-traffic");
    let yaml = fs::read_to_string(folder.join("calibration.yaml")).expect("written");
    assert!(yaml.contains("think_time:"), "{yaml}");
    assert!(yaml.contains("search  weight: 1.0000"), "{yaml}");
    assert!(
        fs::read_to_string(folder.join("calibration.csv"))
            .expect("written")
            .contains("malformed")
    );
    assert!(folder.join("qq-search-duration-lognormal.png").is_file());
}

#[test]
fn vercel_log_drain_lines_are_read_by_their_proxy_fields() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let log = dir.path().join("drain.ndjson");
    let mut text = String::new();
    // 2025-01-06 10:00 UTC, one client every 30 s, cached at the edge once in two.
    for i in 0..40u64 {
        let cache = if i % 2 == 0 { "HIT" } else { "MISS" };
        text += &format!(
            "{{\"id\":\"{i}\",\"source\":\"edge\",\"timestamp\":1736157600000,\"proxy\":{{\"timestamp\":{},\"method\":\"GET\",\"host\":\"a.vercel.app\",\"path\":\"/api/cars?page=2\",\"statusCode\":200,\"clientIp\":\"1.2.3.4\",\"userAgent\":[\"Mozilla\"],\"vercelCache\":\"{cache}\"}}}}\n",
            1_736_157_600_000 + i * 30_000
        );
    }
    text += "{\"id\":\"x\",\"source\":\"lambda\",\"type\":\"stdout\",\"message\":\"hello\",\"timestamp\":1736157600000}\n";
    text += "{\"id\":\"y\",\"source\":\"edge\",\"timestamp\":1,\"proxy\":{\"timestamp\":1736157600000,\"method\":\"GET\",\"path\":\"/api/cars\",\"statusCode\":-1}}\n";
    text += "{not json\n";
    fs::write(&log, text).expect("writable");
    let calibration = calibrate_traffic(&LogOptions {
        logs: vec![log],
        routes: vec![RouteRule {
            pattern: "GET /api/cars".into(),
            route: "cars".into(),
        }],
        users: None,
        session_gap_ms: 30 * 60_000,
    })
    .expect("calibrates");
    assert_eq!(calibration.requests, 40);
    assert_eq!(
        calibration.other, 2,
        "the function's output and the revalidation"
    );
    assert_eq!(calibration.malformed, 1);
    assert_eq!(calibration.routes[0].hit_ratio, Some(0.5));
    let (think, _) = calibration.think_time.as_ref().expect("fitted");
    assert_eq!(think.count, 39);
    assert!((think.sample[0] - 30.0).abs() < 1e-9);
}
