//! Line charts of summary columns against the tiers' user counts:
//! `saturation.png` (peak connections demanded, refused included, and open,
//! the pooler's busy server connections, the Data API pool's busy
//! connections and its size, and the connection limit) and
//! `latency.png` (the month's p50, p95, p99 and the worst window's p95, with
//! the p95 SLO).

use std::io::{self, Write};

use plotters::style::{BLACK, RGBColor};

use super::{
    COLOURS, Measure, SIZE, UsersChart, draw_users_chart, tier_points, users_range, write_png,
};
use crate::experiment::ScenarioRun;
use crate::report::Exporter;

/// A chart of some summary columns, one line each, over the tiers.
pub struct TierLinesPng {
    file_name: &'static str,
    /// The caption after the scenario's name.
    title: &'static str,
    y_desc: &'static str,
    log_y: bool,
    /// (label, value) per line; lines no tier has a value for are left out.
    lines: &'static [(&'static str, Measure)],
    /// Limits, drawn last (the first in black, the second in grey).
    limits: &'static [(&'static str, Measure)],
    /// Whether to draw the scenario's p95 SLO.
    p95_slo: bool,
}

/// `saturation.png`.
pub const SATURATION_PNG: TierLinesPng = TierLinesPng {
    file_name: "saturation.png",
    title: "peak database connections",
    y_desc: "connections (peak over the month)",
    log_y: false,
    lines: &[
        ("peak connections demanded (refused included)", |t| {
            Some(t.primary.peak_demanded as f64)
        }),
        ("peak connections open", |t| {
            Some(t.primary.peak_connections as f64)
        }),
        ("pooler server connections (peak busy)", |t| {
            t.primary.pooler.map(|p| p.servers.peak_busy as f64)
        }),
        // Only where requests went through the Data API.
        ("Data API pool connections (peak busy)", |t| {
            let busy = t.primary.data_api.peak_busy;
            (busy > 0).then_some(busy as f64)
        }),
        ("Data API pool size", |t| {
            (t.primary.data_api.peak_busy > 0).then_some(f64::from(t.primary.data_api_pool))
        }),
        ("pooler client connections (peak)", |t| {
            t.primary.pooler.map(|p| p.peak_clients as f64)
        }),
    ],
    limits: &[
        ("connection limit for the app", |t| {
            Some(f64::from(t.primary.connection_limit))
        }),
        ("pooler client limit (max_client_conn)", |t| {
            t.primary.pooler.map(|p| f64::from(p.max_clients))
        }),
    ],
    p95_slo: false,
};

/// `latency.png`.
pub const LATENCY_PNG: TierLinesPng = TierLinesPng {
    file_name: "latency.png",
    title: "latency of answered requests",
    y_desc: "latency, ms",
    log_y: true,
    lines: &[
        ("p50 (month)", |t| t.latency.p50_ms),
        ("p95 (month)", |t| t.latency.p95_ms),
        ("p99 (month)", |t| t.latency.p99_ms),
        ("p95 of the worst window", |t| t.worst_window_p95_ms),
    ],
    limits: &[],
    p95_slo: true,
};

impl<'a> Exporter<ScenarioRun<'a>> for TierLinesPng {
    fn file_name(&self) -> String {
        self.file_name.into()
    }

    fn write(&self, run: &ScenarioRun<'a>, out: &mut dyn Write) -> io::Result<()> {
        let points = |lines: &mut dyn Iterator<Item = (&(&str, Measure), RGBColor)>| {
            lines
                .map(|((label, measure), colour)| {
                    (label.to_string(), colour, tier_points(run, *measure))
                })
                .filter(|(_, _, points)| !points.is_empty())
                .collect()
        };
        let lines = points(&mut self.lines.iter().zip(COLOURS));
        let limits = points(&mut self.limits.iter().zip([BLACK, COLOURS[6]]));
        let slo_ms = run.scenario.slo.p95_latency.secs() * 1_000.0;
        let chart = UsersChart {
            title: format!("{}: {}", run.scenario.name, self.title),
            y_desc: self.y_desc,
            log_y: self.log_y,
            lines,
            limits,
            reference: self
                .p95_slo
                .then(|| (format!("SLO: p95 at most {slo_ms:.0} ms"), slo_ms)),
        };
        let users = users_range(run);
        write_png(SIZE, out, |root| draw_users_chart(root, users, chart))
    }
}
