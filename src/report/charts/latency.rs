//! `latency.png`: users against the month's p50, p95 and p99 latency and the
//! worst window's p95, with the scenario's p95 SLO.

use std::io::{self, Write};

use plotters::prelude::*;

use super::{
    Area, COLOURS, DrawResult, SIZE, count_label, draw_legend, font, legend_line, tier_points,
    users_range, write_png,
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
    let points: Vec<(&str, Vec<(f64, f64)>)> = series
        .iter()
        .map(|(label, name)| (*label, tier_points(run, name)))
        .collect();
    let values = || points.iter().flat_map(|(_, p)| p.iter().map(|(_, y)| *y));
    let low = values().filter(|v| *v > 0.0).fold(slo_ms, f64::min) / 2.0;
    let high = values().fold(slo_ms, f64::max) * 2.0;
    let users = users_range(run);
    let mut chart = ChartBuilder::on(root)
        .caption(
            format!("{}: latency of answered requests", run.scenario.name.value),
            font(26),
        )
        .margin(20)
        .x_label_area_size(60)
        .y_label_area_size(80)
        .build_cartesian_2d(users.clone().log_scale(), (low.max(0.1)..high).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("users (log scale)")
        .y_desc("latency, ms (log scale)")
        .x_label_formatter(&|x| count_label(*x))
        .y_label_formatter(&|y| ms_label(*y))
        .label_style(font(16))
        .axis_desc_style(font(18))
        .draw()?;
    for (index, (label, points)) in points.into_iter().enumerate() {
        let colour = COLOURS[index];
        chart
            .draw_series(LineSeries::new(points, colour.stroke_width(3)).point_size(5))?
            .label(label)
            .legend(legend_line(colour));
    }
    chart
        .draw_series(LineSeries::new(
            [(users.start, slo_ms), (users.end, slo_ms)],
            BLACK.stroke_width(2),
        ))?
        .label(format!("SLO: p95 at most {} ms", ms_label(slo_ms)))
        .legend(legend_line(BLACK));
    draw_legend(&mut chart, SeriesLabelPosition::UpperLeft)
}

/// Milliseconds without needless decimals.
fn ms_label(ms: f64) -> String {
    if ms < 10.0 {
        format!("{ms:.1}")
    } else {
        format!("{ms:.0}")
    }
}
