//! PNG charts, drawn with plotters into memory and encoded as PNG, so they
//! go through the same all-or-nothing writing as the CSVs. Text uses the
//! embedded DejaVu Sans (assets/fonts, with its licence): the charts render
//! on a machine with no fonts installed.

mod costs;
mod qq;
mod tier_lines;
mod timeline;

use std::error::Error;
use std::io::{self, Write};
use std::ops::Range;
use std::sync::OnceLock;

use image::ImageEncoder;
use image::codecs::png::PngEncoder;
use plotters::coord::Shift;
use plotters::coord::combinators::LogCoord;
use plotters::prelude::*;

use crate::experiment::ScenarioRun;
use crate::model::TierResults;

pub use costs::CostsPng;
pub use qq::qq_charts;
pub use tier_lines::{LATENCY_PNG, SATURATION_PNG, TierLinesPng};
pub use timeline::TimelinePng;

/// DejaVu Sans, from Debian's fonts-dejavu-core (licence beside it).
static FONT: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");

/// The family name the embedded font is registered under.
const FAMILY: &str = "sans-serif";

/// Width and height of the summary charts, pixels.
pub(super) const SIZE: (u32, u32) = (1200, 800);

/// A drawing area on the in-memory bitmap.
pub(super) type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

/// What drawing returns: plotters' errors, boxed.
pub(super) type DrawResult = Result<(), Box<dyn Error>>;

/// Series colours, distinguishable in print and for common colour blindness
/// (Okabe and Ito's palette).
pub(super) const COLOURS: [RGBColor; 7] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(120, 120, 120),
];

/// Registers the embedded font once; an error if it cannot be read.
fn font_ready() -> io::Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let registered = *REGISTERED
        .get_or_init(|| plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_ok());
    if registered {
        Ok(())
    } else {
        Err(io::Error::other(
            "the embedded font is not a readable TrueType font",
        ))
    }
}

/// Draws a `width` x `height` chart with `draw` and writes it to `out` as PNG.
pub(super) fn write_png(
    (width, height): (u32, u32),
    out: &mut dyn Write,
    draw: impl FnOnce(&Area) -> DrawResult,
) -> io::Result<()> {
    font_ready()?;
    let mut pixels = vec![0u8; width as usize * height as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (width, height)).into_drawing_area();
        let drawn = root
            .fill(&WHITE)
            .map_err(Box::<dyn Error>::from)
            .and_then(|()| draw(&root))
            .and_then(|()| root.present().map_err(Box::<dyn Error>::from));
        drawn.map_err(|error| io::Error::other(format!("cannot draw the chart: {error}")))?;
    }
    PngEncoder::new(out)
        .write_image(&pixels, width, height, image::ColorType::Rgb8)
        .map_err(io::Error::other)
}

/// A text style of the embedded font at `size` pixels.
fn font(size: u32) -> TextStyle<'static> {
    (FAMILY, size).into_font().into()
}

/// A log-scale axis range around the tiers' user counts.
pub(super) fn users_range(run: &ScenarioRun) -> Range<f64> {
    let users = run.tiers.iter().map(|t| t.users as f64);
    let low = users.clone().fold(f64::INFINITY, f64::min).max(1.0);
    let high = users.fold(0.0, f64::max).max(low);
    low / 1.5..high * 1.5
}

/// "100", "10k", "1.5M": user counts on an axis.
fn count_label(value: f64) -> String {
    let (scaled, suffix) = if value >= 1e6 {
        (value / 1e6, "M")
    } else if value >= 1e3 {
        (value / 1e3, "k")
    } else {
        (value, "")
    };
    if (scaled - scaled.round()).abs() < 1e-9 {
        format!("{scaled:.0}{suffix}")
    } else {
        format!("{scaled:.1}{suffix}")
    }
}

/// An axis label for a value on an axis that reaches `top`: as many
/// decimals as ticks about a tenth of the axis apart need to differ (an
/// axis to 0.014 reads 0.002, 0.004, ..., not 0.0 every time).
fn axis_label(value: f64, top: f64) -> String {
    let step = top / 10.0;
    let decimals = if step > 0.0 && step.is_finite() {
        (-step.log10().floor()).clamp(0.0, 6.0) as usize
    } else {
        0
    };
    format!("{value:.decimals$}")
}

/// The room below zero on a linear axis reaching `top`, so a line at zero
/// is drawn whole above the axis rather than half into its labels.
fn below_zero(top: f64) -> f64 {
    -0.015 * top
}

/// A tier's name for a chart, with its users unless the name says them
/// (a sweep's counts are named "1000 users").
pub(super) fn tier_label(name: &str, users: u64) -> String {
    if name == format!("{users} users") {
        name.into()
    } else {
        format!("{name} ({users} users)")
    }
}

/// `lines` with each line equal to an earlier one (the same points)
/// folded into it, its label joined with " = ": two equal lines drawn
/// apart would hide one another.
pub(super) fn merge_equal<P: PartialEq>(
    lines: Vec<(String, RGBColor, P)>,
) -> Vec<(String, RGBColor, P)> {
    let mut merged: Vec<(String, RGBColor, P)> = Vec::new();
    for (label, colour, points) in lines {
        match merged.iter_mut().find(|(_, _, earlier)| *earlier == points) {
            Some((earlier_label, _, _)) => {
                earlier_label.push_str(" = ");
                earlier_label.push_str(&label);
            }
            None => merged.push((label, colour, points)),
        }
    }
    merged
}

/// The tiers' (users, mean of what `measure` reads) points where the mean
/// is finite.
fn tier_points(run: &ScenarioRun, measure: Measure) -> Vec<(f64, f64)> {
    run.tiers
        .iter()
        .map(|tier| (tier.users as f64, tier.estimate(|r| measure(&r.tier)).mean))
        .filter(|(_, value)| value.is_finite())
        .collect()
}

/// A value of a tier's results (`None` where it does not apply).
type Measure = fn(&TierResults) -> Option<f64>;

/// One line of a chart: label, colour and (users, value) points.
pub(super) type Line = (String, RGBColor, Vec<(f64, f64)>);

/// A chart of series over user counts (log scale).
pub(super) struct UsersChart<'a> {
    /// The caption.
    pub(super) title: String,
    /// The y axis' description.
    pub(super) y_desc: &'a str,
    /// Log-scale y axis (else linear from 0).
    pub(super) log_y: bool,
    /// Label, colour and (users, value) points of each line.
    pub(super) lines: Vec<Line>,
    /// Limits as lines: drawn when within 4 times the data's peak, named
    /// in the legend otherwise (scaling to them would flatten the data).
    pub(super) limits: Vec<Line>,
    /// A horizontal reference line: label and value.
    pub(super) reference: Option<(String, f64)>,
}

/// Draws `chart` on `root` over `users`.
pub(super) fn draw_users_chart(
    root: &Area,
    users: Range<f64>,
    mut chart: UsersChart,
) -> DrawResult {
    chart.lines = merge_equal(std::mem::take(&mut chart.lines));
    if chart.log_y {
        // A log axis has no zero: such points are left out, and said so.
        for (label, _, points) in &mut chart.lines {
            let zeros = points.iter().filter(|(_, y)| *y <= 0.0).count();
            if zeros > 0 {
                points.retain(|(_, y)| *y > 0.0);
                let tiers = if zeros == 1 { "tier" } else { "tiers" };
                label.push_str(&format!(" (0 at {zeros} {tiers}: no point on a log axis)"));
            }
        }
    }
    let data_top = chart
        .lines
        .iter()
        .flat_map(|(_, _, points)| points.iter().map(|(_, y)| *y))
        .filter(|y| y.is_finite())
        .fold(0.0, f64::max);
    let (near, far): (Vec<Line>, Vec<Line>) = std::mem::take(&mut chart.limits)
        .into_iter()
        .partition(|(_, _, points)| points.iter().all(|(_, y)| *y <= 4.0 * data_top));
    chart.lines.extend(near);
    for (label, colour, points) in far {
        let value = points.iter().map(|(_, y)| *y).fold(0.0, f64::max);
        let label = format!(
            "{label}: {}, above this chart's scale",
            axis_label(value, value)
        );
        chart.lines.push((label, colour, Vec::new()));
    }
    let values = || {
        chart
            .lines
            .iter()
            .flat_map(|(_, _, points)| points.iter().map(|(_, y)| *y))
            .chain(chart.reference.iter().map(|(_, y)| *y))
            .filter(|y| y.is_finite())
    };
    let top = values().fold(f64::MIN_POSITIVE, f64::max);
    let mut builder = ChartBuilder::on(root);
    builder
        .caption(&chart.title, font(26))
        .margin(20)
        .x_label_area_size(60)
        .y_label_area_size(80);
    let x = users.clone().log_scale();
    if chart.log_y {
        let low = values().filter(|v| *v > 0.0).fold(top, f64::min) / 2.0;
        // Headroom above the data for the legend.
        let mut context = builder.build_cartesian_2d(x, (low.max(1e-3)..top * 8.0).log_scale())?;
        context
            .configure_mesh()
            .x_desc("users (log scale)")
            .y_desc(format!("{} (log scale)", chart.y_desc))
            .x_label_formatter(&|x| count_label(*x))
            .y_label_formatter(&|y| value_label(*y))
            .label_style(font(16))
            .axis_desc_style(font(18))
            .draw()?;
        draw_lines(&mut context, users, &chart)
    } else {
        // Headroom above the data for the legend.
        let top = top * 1.4;
        let mut context = builder.build_cartesian_2d(x, below_zero(top)..top)?;
        context
            .configure_mesh()
            .x_desc("users (log scale)")
            .y_desc(chart.y_desc)
            .x_label_formatter(&|x| count_label(*x))
            .y_label_formatter(&|y| axis_label(*y, top))
            .label_style(font(16))
            .axis_desc_style(font(18))
            .draw()?;
        draw_lines(&mut context, users, &chart)
    }
}

/// The lines and reference of `chart`, then the legend.
fn draw_lines<'a, Y>(
    context: &mut ChartContext<'a, BitMapBackend<'a>, Cartesian2d<LogCoord<f64>, Y>>,
    users: Range<f64>,
    chart: &UsersChart,
) -> DrawResult
where
    Y: plotters::coord::ranged1d::Ranged<ValueType = f64>,
{
    for (index, (label, colour, points)) in chart.lines.iter().enumerate() {
        // Wider lines first, so a line equal to a later one still shows.
        let width = 7 - 2 * index.min(2) as u32;
        context
            .draw_series(
                LineSeries::new(points.iter().copied(), colour.stroke_width(width)).point_size(5),
            )?
            .label(label)
            .legend(legend_line(*colour));
    }
    if let Some((label, value)) = &chart.reference {
        context
            .draw_series(LineSeries::new(
                [(users.start, *value), (users.end, *value)],
                BLACK.stroke_width(2),
            ))?
            .label(label)
            .legend(legend_line(BLACK));
    }
    draw_legend(context, SeriesLabelPosition::UpperLeft)
}

/// A value on a log axis without needless decimals.
fn value_label(value: f64) -> String {
    if value < 0.01 {
        format!("{value:.4}")
    } else if value < 10.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.0}")
    }
}

/// The legend mark of a line series in `colour`.
fn legend_line(colour: RGBColor) -> impl Fn((i32, i32)) -> PathElement<(i32, i32)> {
    move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], colour.stroke_width(3))
}

/// Draws the legend of `chart` in its upper left corner.
fn draw_legend<'a, X, Y>(
    chart: &mut ChartContext<'a, BitMapBackend<'a>, Cartesian2d<X, Y>>,
    position: SeriesLabelPosition,
) -> DrawResult
where
    X: plotters::coord::ranged1d::Ranged,
    Y: plotters::coord::ranged1d::Ranged,
{
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(font(16))
        .draw()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_ticks_keep_the_digits_that_tell_them_apart() {
        // An error-rate axis to 1.4%: ticks 0.002 apart, not "0.0" each.
        assert_eq!(axis_label(0.002, 0.014), "0.002");
        assert_eq!(axis_label(0.4, 1.5), "0.4");
        assert_eq!(axis_label(50.0, 75.0), "50");
        assert_eq!(axis_label(2000.0, 6000.0), "2000");
        assert_eq!(axis_label(0.0, 0.0), "0");
    }

    #[test]
    fn equal_lines_are_drawn_once_under_both_names() {
        let (a, b) = (COLOURS[0], COLOURS[1]);
        let lines = vec![
            ("demanded".to_string(), a, vec![0.0, 1.0]),
            ("open".to_string(), b, vec![0.0, 1.0]),
            ("busy".to_string(), b, vec![0.0, 2.0]),
        ];
        let merged = merge_equal(lines);
        assert_eq!(merged.len(), 2);
        assert_eq!(merged[0].0, "demanded = open");
        assert_eq!(merged[1].0, "busy");
    }

    #[test]
    fn a_tier_named_by_its_users_is_not_named_twice() {
        assert_eq!(tier_label("1000 users", 1000), "1000 users");
        assert_eq!(tier_label("Tier 2", 1000), "Tier 2 (1000 users)");
    }
}
