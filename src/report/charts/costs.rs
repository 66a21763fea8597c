//! `costs.png`: the monthly cost projection per tier, stacked by provider,
//! with the total above each bar.

use std::io::{self, Write};

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{Area, COLOURS, DrawResult, SIZE, draw_legend, font, write_png};
use crate::costs::{self, Bill, TierCosts};
use crate::experiment::ScenarioRun;
use crate::report::{Exporter, union};
use crate::stats::estimate;

/// The stacked monthly cost chart.
pub struct CostsPng;

impl<'a> Exporter<ScenarioRun<'a>> for CostsPng {
    fn file_name(&self) -> String {
        "costs.png".into()
    }

    fn write(&self, run: &ScenarioRun<'a>, out: &mut dyn Write) -> io::Result<()> {
        write_png(SIZE, out, |root| draw(run, root))
    }
}

/// The mean over a tier's replications of what `usd` reads from each bill
/// (NaN where it does not apply), 0 where none has it.
fn mean(costs: &TierCosts, usd: impl Fn(&Bill) -> Option<f64>) -> f64 {
    let values: Vec<f64> = costs
        .bills
        .iter()
        .map(|(bill, _)| usd(bill).unwrap_or(f64::NAN))
        .collect();
    let mean = estimate(&values).mean;
    if mean.is_finite() { mean } else { 0.0 }
}

/// A provider's charge on `bill`, if it has one.
fn charge(bill: &Bill, provider: &str) -> Option<f64> {
    bill.charges
        .iter()
        .find(|charge| charge.provider == provider)
        .map(|charge| charge.usd)
}

fn draw(run: &ScenarioRun, root: &Area) -> DrawResult {
    let tiers: Vec<(String, TierCosts)> = run
        .tiers
        .iter()
        .zip(&run.stacks)
        .filter_map(|(tier, stack)| {
            let costs = costs::tier_costs(stack, &tier.replications)?;
            Some((format!("{} ({} users)", tier.name, tier.users), costs))
        })
        .collect();
    // The providers, in the order the tiers' bills first name them.
    let provider_lists: Vec<Vec<&str>> = tiers
        .iter()
        .filter_map(|(_, costs)| costs.bills.first())
        .map(|(bill, _)| bill.charges.iter().map(|c| c.provider.as_str()).collect())
        .collect();
    let providers = union(provider_lists.iter().map(Vec::as_slice));
    let top = tiers
        .iter()
        .map(|(_, costs)| mean(costs, |bill| Some(bill.total())))
        .fold(1.0, f64::max)
        * 1.2;
    let count = tiers.len() as i32;
    let mut chart = ChartBuilder::on(root)
        .caption(
            format!(
                "{}: projected monthly cost (30-day month)",
                run.scenario.name
            ),
            font(26),
        )
        .margin(20)
        .x_label_area_size(60)
        .y_label_area_size(90)
        // An integer range's segments include its end: `0..count - 1` has `count`.
        .build_cartesian_2d((0..(count - 1).max(0)).into_segmented(), 0.0..top)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_desc("tier")
        .y_desc("USD per month")
        .x_label_formatter(&|x| match x {
            SegmentValue::CenterOf(index) => tiers
                .get(*index as usize)
                .map_or(String::new(), |(label, _)| label.clone()),
            _ => String::new(),
        })
        .y_label_formatter(&|y| format!("${y:.0}"))
        .label_style(font(16))
        .axis_desc_style(font(18))
        .draw()?;
    let mut bottoms = vec![0.0; tiers.len()];
    for (index, provider) in providers.iter().enumerate() {
        let colour = COLOURS[index % COLOURS.len()];
        let bars: Vec<Rectangle<(SegmentValue<i32>, f64)>> = tiers
            .iter()
            .enumerate()
            .map(|(tier, (_, costs))| {
                let bottom = bottoms[tier];
                bottoms[tier] += mean(costs, |bill| charge(bill, provider));
                let mut bar = Rectangle::new(
                    [
                        (SegmentValue::Exact(tier as i32), bottom),
                        (SegmentValue::Exact(tier as i32 + 1), bottoms[tier]),
                    ],
                    colour.filled(),
                );
                bar.set_margin(0, 0, 30, 30);
                bar
            })
            .collect();
        chart
            .draw_series(bars)?
            .label(provider_label(run, provider))
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 16, y + 6)], colour.filled()));
    }
    chart.draw_series(tiers.iter().enumerate().map(|(tier, (_, costs))| {
        let total = mean(costs, |bill| Some(bill.total()));
        Text::new(
            format!("${total:.0}"),
            (SegmentValue::CenterOf(tier as i32), total),
            font(18).pos(Pos::new(HPos::Center, VPos::Bottom)),
        )
    }))?;
    draw_legend(&mut chart, SeriesLabelPosition::UpperLeft)
}

/// A costs.csv provider column as a legend label.
fn provider_label(run: &ScenarioRun, provider: &str) -> String {
    match provider {
        "vercel" => "Vercel".into(),
        "supabase" => "Supabase".into(),
        "upstash" => "Upstash Redis".into(),
        "ai" => match run.scenario.ai.as_ref().and_then(|ai| ai.model.as_ref()) {
            Some(model) => format!("AI ({model})"),
            None => "AI provider".into(),
        },
        other => match other.strip_prefix("external_") {
            Some(api) => format!("{api} API"),
            None => other.into(),
        },
    }
}
