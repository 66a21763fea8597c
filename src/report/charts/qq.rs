//! `qq-<input>.png` (`calibrate --request-log`): a fitted distribution's
//! quantiles against the log's, one point per percentile (and the 99.5th
//! and 99.9th), with the line where they agree: points on it mean the fit
//! holds there; the Kolmogorov-Smirnov distance in the title.

use std::io::{self, Write};

use plotters::prelude::*;

use super::{Area, COLOURS, DrawResult, axis_label, font, write_png};
use crate::calibrate::{Fit, TrafficCalibration};
use crate::report::{Exporter, file_slug};

/// The QQ chart of one fit of a traffic calibration.
pub struct QqPng {
    /// Which fit, in [`TrafficCalibration::fits`] order.
    index: usize,
    file_name: String,
}

/// The QQ charts of `calibration`, one per fit.
pub fn qq_charts(calibration: &TrafficCalibration) -> Vec<Box<dyn Exporter<TrafficCalibration>>> {
    calibration
        .fits()
        .iter()
        .enumerate()
        .map(|(index, fit)| {
            Box::new(QqPng {
                index,
                file_name: format!("qq-{}-{}.png", file_slug(&fit.input), fit.model.name()),
            }) as Box<dyn Exporter<TrafficCalibration>>
        })
        .collect()
}

impl Exporter<TrafficCalibration> for QqPng {
    fn file_name(&self) -> String {
        self.file_name.clone()
    }

    fn write(&self, calibration: &TrafficCalibration, out: &mut dyn Write) -> io::Result<()> {
        let fits = calibration.fits();
        write_png((900, 800), out, |root| draw(fits[self.index], root))
    }
}

fn draw(fit: &Fit, root: &Area) -> DrawResult {
    let n = fit.sample.len();
    let mut probabilities: Vec<f64> = (1..100).map(|p| f64::from(p) / 100.0).collect();
    probabilities.extend([0.995, 0.999]);
    let points: Vec<(f64, f64)> = probabilities
        .iter()
        .map(|&q| {
            let index = ((q * n as f64).ceil() as usize).clamp(1, n) - 1;
            (fit.model.quantile(q), fit.sample[index])
        })
        .collect();
    let top = points
        .iter()
        .flat_map(|&(x, y)| [x, y])
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max)
        .max(1e-9)
        * 1.05;
    let model = crate::calibrate::describe(&fit.model, fit.unit);
    let mut chart = ChartBuilder::on(root)
        .caption(
            format!(
                "{}: the {} fit against the log (KS {:.4}, {} values)",
                fit.input,
                fit.model.name(),
                fit.ks,
                fit.count
            ),
            font(22),
        )
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d(0.0..top, 0.0..top)?;
    chart
        .configure_mesh()
        .x_desc(format!("quantile of {model} ({})", fit.unit))
        .y_desc(format!("the log's quantile ({})", fit.unit))
        .x_label_formatter(&|v| axis_label(*v, top))
        .y_label_formatter(&|v| axis_label(*v, top))
        .label_style(font(16))
        .axis_desc_style(font(18))
        .draw()?;
    chart
        .draw_series(LineSeries::new(
            [(0.0, 0.0), (top, top)],
            COLOURS[6].stroke_width(1),
        ))?
        .label("agreement")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], COLOURS[6]));
    chart
        .draw_series(
            points
                .iter()
                .map(|&(x, y)| Circle::new((x, y), 4, COLOURS[0].filled())),
        )?
        .label("percentiles 1 to 99, 99.5, 99.9")
        .legend(|(x, y)| Circle::new((x + 10, y), 4, COLOURS[0].filled()));
    chart
        .configure_series_labels()
        .label_font(font(16))
        .background_style(WHITE)
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()?;
    Ok(())
}
