//! `saturation.png`: users against the peak database connections demanded
//! (refused attempts included) and open, with the connection limit, and the
//! pooler's server connections when a pooler is on.

use std::io::{self, Write};

use plotters::prelude::*;

use super::{
    Area, COLOURS, DrawResult, SIZE, UsersChart, draw_users_chart, tier_points, users_range,
    write_png,
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
    let lines = series
        .iter()
        .enumerate()
        .map(|(index, (label, name))| {
            let colour = if name == &"db_connection_limit" {
                BLACK
            } else {
                COLOURS[index]
            };
            (label.to_string(), colour, tier_points(run, name))
        })
        .filter(|(_, _, points)| !points.is_empty())
        .collect();
    let chart = UsersChart {
        title: format!("{}: peak database connections", run.scenario.name.value),
        y_desc: "connections (peak over the month)",
        log_y: false,
        lines,
        reference: None,
    };
    draw_users_chart(root, users_range(run), chart)
}
