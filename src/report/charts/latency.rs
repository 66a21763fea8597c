//! `latency.png`: users against the month's p50, p95 and p99 latency and the
//! worst window's p95, with the scenario's p95 SLO.

use std::io::{self, Write};

use super::{
    Area, COLOURS, DrawResult, SIZE, UsersChart, draw_users_chart, tier_points, users_range,
    write_png,
};
use crate::experiment::ScenarioRun;
use crate::report::Exporter;

/// The latency chart.
pub struct LatencyPng;

impl<'a> Exporter<ScenarioRun<'a>> for LatencyPng {
    fn file_name(&self) -> String {
        "latency.png".into()
    }

    fn write(&self, run: &ScenarioRun<'a>, out: &mut dyn Write) -> io::Result<()> {
        write_png(SIZE, out, |root| draw(run, root))
    }
}

fn draw(run: &ScenarioRun, root: &Area) -> DrawResult {
    let slo_ms = run.scenario.slo.p95_latency.secs() * 1_000.0;
    let series = [
        ("p50 (month)", "p50_ms"),
        ("p95 (month)", "p95_ms"),
        ("p99 (month)", "p99_ms"),
        ("p95 of the worst window", "worst_window_p95_ms"),
    ];
    let lines = series
        .iter()
        .enumerate()
        .map(|(index, (label, name))| (label.to_string(), COLOURS[index], tier_points(run, name)))
        .collect();
    let chart = UsersChart {
        title: format!("{}: latency of answered requests", run.scenario.name.value),
        y_desc: "latency, ms",
        log_y: true,
        lines,
        reference: Some((format!("SLO: p95 at most {slo_ms:.0} ms"), slo_ms)),
    };
    draw_users_chart(root, users_range(run), chart)
}
