//! `costs.png`: the monthly cost projection per tier, stacked by bill line
//! (a provider's credit spent on its lines), each provider in its colour
//! and its lines in lighter shades of it, with the total above each bar.

use std::io::{self, Write};

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{Area, COLOURS, DrawResult, SIZE, draw_legend, font, tier_label, write_png};
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

/// A line's net charge on `bill`, if it has one.
fn line(bill: &Bill, provider: &str, item: &str) -> Option<f64> {
    bill.charges
        .iter()
        .find(|charge| charge.provider == provider)
        .and_then(|charge| {
            charge
                .net_lines()
                .iter()
                .find(|line| line.item == item)
                .map(|line| line.usd)
        })
}

/// `colour` mixed with white by `share` (0: itself).
fn lighter(colour: RGBColor, share: f64) -> RGBColor {
    let mix = |c: u8| (f64::from(c) + (255.0 - f64::from(c)) * share).round() as u8;
    RGBColor(mix(colour.0), mix(colour.1), mix(colour.2))
}

fn draw(run: &ScenarioRun, root: &Area) -> DrawResult {
    let tiers: Vec<(String, TierCosts)> = run
        .tiers
        .iter()
        .zip(&run.stacks)
        .filter_map(|(tier, stack)| {
            let costs = costs::tier_costs(stack, &tier.replications)?;
            Some((tier_label(&tier.name, tier.users), costs))
        })
        .collect();
    // The providers, in the order the tiers' bills first name them.
    let provider_lists: Vec<Vec<&str>> = tiers
        .iter()
        .filter_map(|(_, costs)| costs.bills.first())
        .map(|(bill, _)| bill.charges.iter().map(|c| c.provider.as_str()).collect())
        .collect();
    let providers = union(provider_lists.iter().map(Vec::as_slice));
    // Each provider's lines that cost something in some tier, in bill order.
    let segments: Vec<(usize, String, &'static str)> = providers
        .iter()
        .enumerate()
        .flat_map(|(index, provider)| {
            let items: Vec<&'static str> = tiers
                .iter()
                .filter_map(|(_, costs)| costs.bills.first())
                .flat_map(|(bill, _)| bill.charges.iter())
                .filter(|charge| &charge.provider == provider)
                .flat_map(|charge| charge.lines.iter().map(|line| line.item))
                .fold(Vec::new(), |mut items, item| {
                    if !items.contains(&item) {
                        items.push(item);
                    }
                    items
                });
            items
                .into_iter()
                .filter(|item| {
                    tiers
                        .iter()
                        .any(|(_, costs)| mean(costs, |bill| line(bill, provider, item)) > 0.0)
                })
                .map(move |item| (index, provider.clone(), item))
                .collect::<Vec<_>>()
        })
        .collect();
    let caption = format!(
        "{}: projected monthly cost (30-day month)",
        run.scenario.name
    );
    let root = root.titled(&caption, font(26))?;
    // Dollars, then each tier's bill as shares: on one dollar scale the
    // small tiers' bars are too thin to read.
    let (dollars, shares) = root.split_vertically(root.dim_in_pixel().1 * 62 / 100);
    draw_bars(run, &dollars, &tiers, &segments, false)?;
    draw_bars(run, &shares, &tiers, &segments, true)
}

/// The tiers' bills as bars stacked line by line on `area`: in dollars
/// with each total above its bar and the legend, or as each bill's shares.
fn draw_bars(
    run: &ScenarioRun,
    area: &Area,
    tiers: &[(String, TierCosts)],
    segments: &[(usize, String, &'static str)],
    as_shares: bool,
) -> DrawResult {
    let totals: Vec<f64> = tiers
        .iter()
        .map(|(_, costs)| mean(costs, |bill| Some(bill.total())))
        .collect();
    let top = if as_shares {
        100.0
    } else {
        totals.iter().copied().fold(1.0, f64::max) * 1.2
    };
    let count = tiers.len() as i32;
    let mut chart = ChartBuilder::on(area)
        .margin(20)
        .x_label_area_size(if as_shares { 50 } else { 30 })
        .y_label_area_size(90)
        // An integer range's segments include its end: `0..count - 1` has `count`.
        .build_cartesian_2d((0..(count - 1).max(0)).into_segmented(), 0.0..top)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_desc(if as_shares { "tier" } else { "" })
        .y_desc(if as_shares {
            "share of the bill, %"
        } else {
            "USD per month"
        })
        .x_label_formatter(&|x| match x {
            SegmentValue::CenterOf(index) if as_shares => tiers
                .get(*index as usize)
                .map_or(String::new(), |(label, _)| label.clone()),
            _ => String::new(),
        })
        .y_label_formatter(&|y| {
            if as_shares {
                format!("{y:.0}%")
            } else {
                format!("${y:.0}")
            }
        })
        .label_style(font(16))
        .axis_desc_style(font(18))
        .draw()?;
    let mut bottoms = vec![0.0; tiers.len()];
    for (position, (index, provider, item)) in segments.iter().enumerate() {
        // The provider's n-th line drawn, lighter with each.
        let shade = segments[..position]
            .iter()
            .filter(|(other, _, _)| other == index)
            .count();
        let colour = lighter(
            COLOURS[index % COLOURS.len()],
            (0.15 * shade as f64).min(0.75),
        );
        let bars: Vec<Rectangle<(SegmentValue<i32>, f64)>> = tiers
            .iter()
            .enumerate()
            .map(|(tier, (_, costs))| {
                let usd = mean(costs, |bill| line(bill, provider, item));
                let height = if as_shares {
                    100.0 * usd / totals[tier].max(f64::MIN_POSITIVE)
                } else {
                    usd
                };
                let bottom = bottoms[tier];
                bottoms[tier] += height;
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
        let series = chart.draw_series(bars)?;
        if !as_shares {
            series
                .label(format!(
                    "{} {}",
                    provider_label(run, provider),
                    item.replace('_', " ")
                ))
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 6), (x + 16, y + 6)], colour.filled())
                });
        }
    }
    if as_shares {
        return Ok(());
    }
    chart.draw_series(totals.iter().enumerate().map(|(tier, &total)| {
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
