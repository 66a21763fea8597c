//! `saturation.png`: users against the peak database connections demanded
//! (refused attempts included) and open, with the connection limit, and the
//! pooler's server connections when a pooler is on.

use std::io::{self, Write};

use plotters::prelude::*;

use super::{
    Area, COLOURS, DrawResult, SIZE, axis_label, count_label, draw_legend, font, legend_line,
    tier_points, users_range, write_png,
};
use crate::experiment::ScenarioRun;
use crate::report::Exporter;

/// The connection saturation chart.
pub struct SaturationPng;

impl<'a> Exporter<ScenarioRun<'a>> for SaturationPng {
    fn file_name(&self) -> String {
        "saturation.png".into()
    }

    fn write(&self, run: &ScenarioRun<'a>, out: &mut dyn Write) -> io::Result<()> {
        write_png(SIZE, out, |root| draw(run, root))
    }
}

fn draw(run: &ScenarioRun, root: &Area) -> DrawResult {
    let series = [
        (
            "peak connections demanded (refused included)",
            "peak_db_demanded",
        ),
        ("peak connections open", "peak_db_connections"),
        ("pooler server connections (peak busy)", "pooler_peak_busy"),
        ("connection limit for the app", "db_connection_limit"),
    ];
    let points: Vec<(&str, Vec<(f64, f64)>)> = series
        .iter()
        .map(|(label, name)| (*label, tier_points(run, name)))
        .filter(|(_, points)| !points.is_empty())
        .collect();
    let top = points
        .iter()
        .flat_map(|(_, p)| p.iter().map(|(_, y)| *y))
        .fold(1.0, f64::max)
        * 1.15;
    let mut chart = ChartBuilder::on(root)
        .caption(
            format!("{}: peak database connections", run.scenario.name.value),
            font(26),
        )
        .margin(20)
        .x_label_area_size(60)
        .y_label_area_size(80)
        .build_cartesian_2d(users_range(run).log_scale(), 0.0..top)?;
    chart
        .configure_mesh()
        .x_desc("users (log scale)")
        .y_desc("connections (peak over the month)")
        .x_label_formatter(&|x| count_label(*x))
        .y_label_formatter(&|y| axis_label(*y, top))
        .label_style(font(16))
        .axis_desc_style(font(18))
        .draw()?;
    for (index, (label, points)) in points.into_iter().enumerate() {
        let colour = if label.starts_with("connection limit") {
            BLACK
        } else {
            COLOURS[index]
        };
        // Wider lines first, so a series equal to a later one still shows.
        let width = 7 - 2 * index.min(2) as u32;
        chart
            .draw_series(LineSeries::new(points, colour.stroke_width(width)).point_size(5))?
            .label(label)
            .legend(legend_line(colour));
    }
    draw_legend(&mut chart, SeriesLabelPosition::UpperLeft)
}
