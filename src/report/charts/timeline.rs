//! `timeline-<tier>.png`: one tier's busiest day (the day of its peak
//! minute, so a burst shows), minute by minute and averaged over
//! replications: request rate, instances, database connections against the
//! limit, and errors.

use std::io::{self, Write};
use std::ops::Range;

use plotters::prelude::*;

use super::{
    Area, COLOURS, DrawResult, axis_label, below_zero, draw_legend, font, legend_line, merge_equal,
    tier_label, write_png,
};
use crate::experiment::{ScenarioRun, TierRun};
use crate::model::Minutes;
use crate::report::{Exporter, file_slug};

const MINUTES_PER_DAY: usize = 1_440;

/// The timeline of one tier.
pub struct TimelinePng {
    tier: usize,
    file_name: String,
}

impl TimelinePng {
    /// The timeline of tier `tier` of `run`, named after the tier.
    pub fn new(run: &ScenarioRun, tier: usize) -> Self {
        Self {
            tier,
            file_name: format!("timeline-{}.png", file_slug(&run.tiers[tier].name)),
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

/// A panel's series: label, colour and one value a minute.
type Series = (String, RGBColor, Vec<f64>);

/// A horizontal limit on a panel: label, value and colour.
type Limit = (&'static str, f64, RGBColor);

/// One panel: `lines` over `hours`, and `limits`. A limit within 4 times
/// the data's peak is drawn; one further up is named in the legend
/// instead, as scaling to it would flatten the data onto the axis.
fn panel(
    area: &Area,
    title: &str,
    unit: &str,
    hours: &[f64],
    lines: Vec<Series>,
    limits: &[Limit],
) -> DrawResult {
    let lines = merge_equal(lines);
    let x = hours.first().copied().unwrap_or(0.0)..hours.last().copied().unwrap_or(24.0).max(1.0);
    let data_top = lines
        .iter()
        .flat_map(|(_, _, values)| values.iter().copied())
        .filter(|v| v.is_finite())
        .fold(1.0, f64::max);
    let (near, far): (Vec<&Limit>, Vec<&Limit>) = limits
        .iter()
        .partition(|(_, value, _)| *value <= 4.0 * data_top);
    let top = near
        .iter()
        .map(|(_, value, _)| *value)
        .fold(data_top, f64::max)
        * 1.5;
    let mut chart = ChartBuilder::on(area)
        .caption(title, font(20))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(x.clone(), below_zero(top)..top)?;
    chart
        .configure_mesh()
        .x_desc("hour of the day")
        .y_desc(unit)
        .x_label_formatter(&|h| format!("{h:.0}:00"))
        .y_label_formatter(&|y| axis_label(*y, top))
        .label_style(font(14))
        .axis_desc_style(font(15))
        .draw()?;
    let count = lines.len();
    for (index, (label, colour, values)) in lines.into_iter().enumerate() {
        let label = if values.iter().all(|v| *v == 0.0) {
            format!("{label} (0 all day)")
        } else {
            label
        };
        let points = hours
            .iter()
            .zip(values)
            .filter(|(_, v)| v.is_finite())
            .map(|(h, v)| (*h, v));
        // Thin strokes: a minute's series has 1,440 points, and thick
        // polylines spike at its sharp turns. The first is wider, so a
        // nearly equal later series still shows.
        let width = if index == 0 && count > 1 { 3 } else { 1 };
        chart
            .draw_series(LineSeries::new(points, colour.stroke_width(width)))?
            .label(label)
            .legend(legend_line(colour));
    }
    for &&(label, value, colour) in &near {
        chart
            .draw_series(LineSeries::new(
                [(x.start, value), (x.end, value)],
                colour.stroke_width(2),
            ))?
            .label(format!("{label} ({})", axis_label(value, value)))
            .legend(legend_line(colour));
    }
    for &&(label, value, colour) in &far {
        chart
            .draw_series(LineSeries::new(std::iter::empty::<(f64, f64)>(), colour))?
            .label(format!(
                "{label}: {}, above this panel's scale",
                axis_label(value, value)
            ))
            .legend(legend_line(colour));
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
            "{}: {}, busiest day (day {}), mean of {} replications",
            run.scenario.name,
            tier_label(&tier.name, tier.users),
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
        vec![(
            "requests per second".into(),
            COLOURS[0],
            series(tier, |m| &m.rps, &window),
        )],
        &[],
    )?;
    panel(
        &panels[1],
        "Function instances",
        "instances (minute peak)",
        &hours,
        vec![(
            "instances alive".into(),
            COLOURS[1],
            series(tier, |m| &m.instances, &window),
        )],
        &[],
    )?;
    let mut connections = vec![
        (
            "demanded (refused included)".into(),
            COLOURS[4],
            series(tier, |m| &m.db_demanded, &window),
        ),
        (
            "open".into(),
            COLOURS[2],
            series(tier, |m| &m.db_connections, &window),
        ),
    ];
    let mut limits = vec![("limit for the app", limit, BLACK)];
    // Data API routes hold PostgREST's connections, not their own.
    if tier
        .replications
        .first()
        .is_some_and(|r| r.minutes.data_api.is_some())
    {
        let pool = f64::from(run.stacks[index].database.data_api_pool);
        connections.push((
            "Data API pool busy".into(),
            COLOURS[0],
            series(tier, |m| m.data_api.as_deref().unwrap_or(&[]), &window),
        ));
        limits.push(("Data API pool size", pool, COLOURS[6]));
    }
    panel(
        &panels[2],
        "Database connections",
        "connections (minute peak)",
        &hours,
        connections,
        &limits,
    )?;
    panel(
        &panels[3],
        "Errors",
        "failed requests per minute",
        &hours,
        vec![(
            "errors".into(),
            COLOURS[1],
            series(tier, |m| &m.errors, &window),
        )],
        &[],
    )
}
