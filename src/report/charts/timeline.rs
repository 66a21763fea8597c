//! `timeline-<tier>.png`: one tier's busiest day (the day of its peak
//! minute, so a burst shows), minute by minute and averaged over
//! replications: request rate, instances, database connections against the
//! limit, and errors.

use std::io::{self, Write};
use std::ops::Range;

use plotters::prelude::*;

use super::{Area, COLOURS, DrawResult, axis_label, draw_legend, font, legend_line, write_png};
use crate::experiment::{ScenarioRun, TierRun};
use crate::model::Minutes;
use crate::report::Exporter;

const MINUTES_PER_DAY: usize = 1_440;

/// The timeline of one tier.
pub struct TimelinePng {
    tier: usize,
    file_name: String,
}

impl TimelinePng {
    /// The timeline of tier `tier` of `run`, named after the tier.
    pub fn new(run: &ScenarioRun, tier: usize) -> Self {
        let slug: String = run.tiers[tier]
            .name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .collect();
        Self {
            tier,
            file_name: format!("timeline-{slug}.png"),
        }
    }
}

impl<'a> Exporter<ScenarioRun<'a>> for TimelinePng {
    fn file_name(&self) -> String {
        self.file_name.clone()
    }

    fn write(&self, run: &ScenarioRun<'a>, out: &mut dyn Write) -> io::Result<()> {
        write_png((1200, 1100), out, |root| draw(run, self.tier, root))
    }
}

/// The means over replications of the series `field` reads, over the
/// minutes of `window`.
fn series(tier: &TierRun, field: fn(&Minutes) -> &[f64], window: &Range<usize>) -> Vec<f64> {
    window
        .clone()
        .map(|minute| tier.minute_mean(minute, field))
        .collect()
}

/// The minutes of the day holding the peak minute of `rps` after warm-up.
fn busiest_day(tier: &TierRun) -> Range<usize> {
    let Some(first) = tier.replications.first() else {
        return 0..0;
    };
    let measured = first.first_minute..first.minutes.count();
    let rps = series(tier, |m| &m.rps, &measured);
    let peak = rps
        .iter()
        .enumerate()
        .fold(
            (0, f64::MIN),
            |best, (i, v)| if *v > best.1 { (i, *v) } else { best },
        )
        .0
        + measured.start;
    let day = peak / MINUTES_PER_DAY;
    let start = (day * MINUTES_PER_DAY).max(measured.start);
    start..((day + 1) * MINUTES_PER_DAY).min(measured.end)
}

/// One panel: `lines` of (label, values, colour) over `hours`.
fn panel(
    area: &Area,
    title: &str,
    unit: &str,
    hours: &[f64],
    lines: &[(&str, Vec<f64>, RGBColor)],
) -> DrawResult {
    let x = hours.first().copied().unwrap_or(0.0)..hours.last().copied().unwrap_or(24.0).max(1.0);
    let top = lines
        .iter()
        .flat_map(|(_, values, _)| values.iter().copied())
        .filter(|v| v.is_finite())
        .fold(1.0, f64::max)
        * 1.5;
    let mut chart = ChartBuilder::on(area)
        .caption(title, font(20))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(x, 0.0..top)?;
    chart
        .configure_mesh()
        .x_desc("hour of the day")
        .y_desc(unit)
        .x_label_formatter(&|h| format!("{h:.0}:00"))
        .y_label_formatter(&|y| axis_label(*y, top))
        .label_style(font(14))
        .axis_desc_style(font(15))
        .draw()?;
    for (index, (label, values, colour)) in lines.iter().enumerate() {
        let points = hours
            .iter()
            .zip(values)
            .filter(|(_, v)| v.is_finite())
            .map(|(h, v)| (*h, *v));
        chart
            // Wider lines first, so a series equal to a later one still shows.
            .draw_series(LineSeries::new(
                points,
                colour.stroke_width(if index == 0 && lines.len() > 1 { 5 } else { 2 }),
            ))?
            .label(*label)
            .legend(legend_line(*colour));
    }
    draw_legend(&mut chart, SeriesLabelPosition::UpperLeft)
}

fn draw(run: &ScenarioRun, index: usize, root: &Area) -> DrawResult {
    let tier = &run.tiers[index];
    let window = busiest_day(tier);
    let day = window.start / MINUTES_PER_DAY;
    let hours: Vec<f64> = window
        .clone()
        .map(|m| (m - day * MINUTES_PER_DAY) as f64 / 60.0)
        .collect();
    let root = root.titled(
        &format!(
            "{}: {} ({} users), busiest day (day {}), mean of {} replications",
            run.scenario.name,
            tier.name,
            tier.users,
            day + 1,
            tier.replications.len()
        ),
        font(24),
    )?;
    let panels = root.split_evenly((4, 1));
    let limit = tier
        .estimate(|r| Some(f64::from(r.tier.primary.connection_limit)))
        .mean;
    panel(
        &panels[0],
        "Request rate",
        "requests/s (minute mean)",
        &hours,
        &[(
            "requests per second",
            series(tier, |m| &m.rps, &window),
            COLOURS[0],
        )],
    )?;
    panel(
        &panels[1],
        "Function instances",
        "instances (minute peak)",
        &hours,
        &[(
            "instances alive",
            series(tier, |m| &m.instances, &window),
            COLOURS[1],
        )],
    )?;
    let mut connections = vec![
        (
            "demanded (refused included)",
            series(tier, |m| &m.db_demanded, &window),
            COLOURS[4],
        ),
        (
            "open",
            series(tier, |m| &m.db_connections, &window),
            COLOURS[2],
        ),
        ("limit for the app", vec![limit; hours.len()], BLACK),
    ];
    // Data API routes hold PostgREST's connections, not their own.
    if tier
        .replications
        .first()
        .is_some_and(|r| r.minutes.data_api.is_some())
    {
        let pool = f64::from(run.stacks[index].database.data_api_pool);
        connections.push((
            "Data API pool busy",
            series(tier, |m| m.data_api.as_deref().unwrap_or(&[]), &window),
            COLOURS[0],
        ));
        connections.push(("Data API pool size", vec![pool; hours.len()], COLOURS[6]));
    }
    panel(
        &panels[2],
        "Database connections",
        "connections (minute peak)",
        &hours,
        &connections,
    )?;
    panel(
        &panels[3],
        "Errors",
        "failed requests per minute",
        &hours,
        &[("errors", series(tier, |m| &m.errors, &window), COLOURS[1])],
    )
}
