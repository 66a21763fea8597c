//! `capsim compare`: the same tiers under several scenarios, side by side.
//! The scenarios share their random streams (same seed, users and
//! replication), so each replication of B is paired with the same
//! replication of A: the paired difference's CI is far tighter than the two
//! CIs apart, and a difference larger than its CI is reported as such.

use std::io::{self, Write};

use super::charts::{COLOURS, SIZE, UsersChart, draw_users_chart, users_range, write_png};
use super::{Exporter, number, push_estimate};
use crate::costs;
use crate::experiment::ScenarioRun;
use crate::model::{Outcome, TierResults};
use crate::stats::estimate;

/// Several scenarios run on the same tiers; the first is the reference.
pub struct Comparison<'a> {
    /// One run per scenario, tiers in the same order with the same users.
    pub runs: Vec<ScenarioRun<'a>>,
}

/// How a compared metric is read from a tier's replications.
#[derive(Clone, Copy)]
enum Measure {
    /// From each replication's tier results (`None` where it does not apply).
    Tier(fn(&TierResults) -> Option<f64>),
    /// From each replication's projected bill.
    MonthlyCost,
}

/// A compared metric: its compare.csv name, its label and how it is read.
#[derive(Clone, Copy)]
pub struct Metric {
    name: &'static str,
    label: &'static str,
    measure: Measure,
}

const fn metric(name: &'static str, label: &'static str, measure: Measure) -> Metric {
    Metric {
        name,
        label,
        measure,
    }
}

/// The charted metrics, by name.
const WORST_WINDOW_P95: Metric = metric(
    "worst_window_p95_ms",
    "worst-window p95 latency, ms",
    Measure::Tier(|t| t.worst_window_p95_ms),
);

const WORST_WINDOW_ERRORS: Metric = metric(
    "worst_window_error_rate",
    "worst-window error rate",
    Measure::Tier(|t| t.worst_window_error_rate),
);

const PEAK_DB_DEMANDED: Metric = metric(
    "peak_db_demanded",
    "peak database connections demanded",
    Measure::Tier(|t| Some(t.primary.peak_demanded as f64)),
);

const MONTHLY_COST: Metric = metric(
    "monthly_cost",
    "projected monthly cost, USD",
    Measure::MonthlyCost,
);

/// Every compared metric.
const METRICS: [Metric; 13] = [
    WORST_WINDOW_P95,
    WORST_WINDOW_ERRORS,
    metric(
        "p95_ms",
        "p95 latency over the month, ms",
        Measure::Tier(|t| t.latency.p95_ms),
    ),
    metric(
        "error_rate",
        "error rate over the month",
        Measure::Tier(TierResults::error_rate),
    ),
    PEAK_DB_DEMANDED,
    metric(
        "peak_db_connections",
        "peak database connections open",
        Measure::Tier(|t| Some(t.primary.peak_connections as f64)),
    ),
    metric(
        "db_refused",
        "requests refused a database connection",
        Measure::Tier(|t| Some(t.outcomes.count(Outcome::DbRefused) as f64)),
    ),
    metric(
        "peak_instances",
        "peak function instances",
        Measure::Tier(|t| Some(t.peak_instances as f64)),
    ),
    metric(
        "cold_start_ratio",
        "cold starts per invocation",
        Measure::Tier(TierResults::cold_start_ratio),
    ),
    metric(
        "pooler_wait_p95_ms",
        "pooler wait p95, ms",
        Measure::Tier(|t| t.primary.pooler.and_then(|p| p.servers.wait_p95_ms)),
    ),
    metric(
        "ai_provider_429s",
        "AI provider 429s",
        Measure::Tier(|t| Some(t.ai.provider_429s as f64)),
    ),
    metric(
        "ai_errors",
        "AI messages failed",
        Measure::Tier(|t| Some(t.outcomes.count(Outcome::AiError) as f64)),
    ),
    MONTHLY_COST,
];

/// The metrics with a chart each, and whether its scale is logarithmic.
const CHARTED: [(Metric, bool); 4] = [
    (WORST_WINDOW_P95, true),
    (WORST_WINDOW_ERRORS, false),
    (PEAK_DB_DEMANDED, false),
    (MONTHLY_COST, false),
];

/// Per replication, `metric` of tier `tier` of `run` (NaN where absent).
fn values(run: &ScenarioRun, tier: usize, metric: &Metric) -> Vec<f64> {
    let replications = &run.tiers[tier].replications;
    match metric.measure {
        Measure::Tier(measure) => replications
            .iter()
            .map(|r| measure(&r.tier).unwrap_or(f64::NAN))
            .collect(),
        Measure::MonthlyCost => match costs::tier_costs(&run.stacks[tier], replications) {
            Some(costs) => costs.bills.iter().map(|(bill, _)| bill.total()).collect(),
            None => vec![f64::NAN; replications.len()],
        },
    }
}

/// The reference's values of `metric` at tier `tier` and the paired
/// difference `run` minus the reference (mean and CI).
fn paired(
    reference: &ScenarioRun,
    run: &ScenarioRun,
    tier: usize,
    metric: &Metric,
) -> (Vec<f64>, crate::stats::Estimate) {
    let base = values(reference, tier, metric);
    let differences: Vec<f64> = values(run, tier, metric)
        .iter()
        .zip(&base)
        .map(|(b, a)| b - a)
        .collect();
    (base, estimate(&differences))
}

/// What a paired difference says.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Change {
    /// Its 95% interval excludes zero.
    Significant,
    /// Its 95% interval includes zero.
    NotSignificant,
    /// Fewer than 3 pairs, or no variance: no interval to judge by.
    Unjudged,
}

/// Whether the `difference` of `pairs` paired replications is evidence of
/// a change: only with 3 pairs or more and some variance.
fn judge(difference: &crate::stats::Estimate, pairs: usize) -> Change {
    if pairs < 3 || !difference.half_width.is_finite() || difference.half_width == 0.0 {
        Change::Unjudged
    } else if difference.mean.abs() > difference.half_width {
        Change::Significant
    } else {
        Change::NotSignificant
    }
}

impl Comparison<'_> {
    fn reference(&self) -> &ScenarioRun<'_> {
        &self.runs[0]
    }

    fn name<'r>(run: &'r ScenarioRun) -> &'r str {
        &run.scenario.name
    }
}

/// compare.csv: per tier and metric, each scenario's mean and CI, and each
/// scenario's paired difference from the first with its CI.
pub struct CompareCsv;

impl<'a> Exporter<Comparison<'a>> for CompareCsv {
    fn file_name(&self) -> String {
        "compare.csv".into()
    }

    fn write(&self, comparison: &Comparison<'a>, out: &mut dyn Write) -> io::Result<()> {
        let reference = comparison.reference();
        let base = Comparison::name(reference);
        let mut header = vec!["tier".to_string(), "users".into(), "metric".into()];
        for run in &comparison.runs {
            let name = Comparison::name(run);
            header.extend([name.to_string(), format!("{name}_ci95")]);
        }
        for run in &comparison.runs[1..] {
            let name = Comparison::name(run);
            header.extend([
                format!("{name}_minus_{base}"),
                format!("{name}_minus_{base}_ci95"),
                format!("{name}_minus_{base}_significant"),
            ]);
        }
        let mut csv = csv::Writer::from_writer(out);
        csv.write_record(&header)?;
        for (index, tier) in reference.tiers.iter().enumerate() {
            for metric in &METRICS {
                let mut row = vec![
                    tier.name.clone(),
                    tier.users.to_string(),
                    metric.name.into(),
                ];
                for run in &comparison.runs {
                    push_estimate(&mut row, &values(run, index, metric));
                }
                for run in &comparison.runs[1..] {
                    let (base, difference) = paired(reference, run, index, metric);
                    row.push(number(difference.mean));
                    row.push(number(difference.half_width));
                    row.push(
                        match judge(&difference, base.len()) {
                            Change::Significant => "yes",
                            Change::NotSignificant => "no",
                            Change::Unjudged => "",
                        }
                        .into(),
                    );
                }
                csv.write_record(&row)?;
            }
        }
        csv.flush()
    }
}

/// `compare-<metric>.png`: the metric against users, one line per scenario.
pub struct CompareChart {
    metric: Metric,
    log_y: bool,
}

/// One chart per charted metric.
pub fn compare_charts() -> Vec<CompareChart> {
    CHARTED
        .iter()
        .map(|&(metric, log_y)| CompareChart { metric, log_y })
        .collect()
}

impl<'a> Exporter<Comparison<'a>> for CompareChart {
    fn file_name(&self) -> String {
        format!("compare-{}.png", self.metric.name.replace('_', "-"))
    }

    fn write(&self, comparison: &Comparison<'a>, out: &mut dyn Write) -> io::Result<()> {
        let lines = comparison
            .runs
            .iter()
            .enumerate()
            .map(|(index, run)| {
                let points = (0..run.tiers.len())
                    .map(|tier| {
                        let mean = estimate(&values(run, tier, &self.metric)).mean;
                        (run.tiers[tier].users as f64, mean)
                    })
                    .filter(|(_, value)| value.is_finite())
                    .collect();
                (
                    Comparison::name(run).to_string(),
                    COLOURS[index % COLOURS.len()],
                    points,
                )
            })
            .collect();
        let chart = UsersChart {
            title: format!("{} by scenario", self.metric.label),
            y_desc: self.metric.label,
            log_y: self.log_y,
            lines,
            limits: Vec::new(),
            reference: None,
        };
        let users = users_range(comparison.reference());
        write_png(SIZE, out, |root| draw_users_chart(root, users, chart))
    }
}

/// A few lines per tier: the key metrics that changed beyond their CI.
pub fn comparison_summary(comparison: &Comparison) -> String {
    use std::fmt::Write as _;
    let reference = comparison.reference();
    let base = Comparison::name(reference);
    let mut text = String::new();
    for run in &comparison.runs[1..] {
        let _ = writeln!(text, "{} against {base}:", Comparison::name(run));
        for (index, tier) in reference.tiers.iter().enumerate() {
            let mut changes = Vec::new();
            let mut unjudged = 0;
            for metric in &METRICS {
                let (base_values, difference) = paired(reference, run, index, metric);
                match judge(&difference, base_values.len()) {
                    Change::Significant => {
                        let before = estimate(&base_values).mean;
                        changes.push(format!(
                            "{} {} -> {} ({}{} ± {})",
                            metric.label,
                            number(before),
                            number(before + difference.mean),
                            if difference.mean > 0.0 { "+" } else { "" },
                            number(difference.mean),
                            number(difference.half_width)
                        ));
                    }
                    Change::Unjudged if difference.mean != 0.0 => unjudged += 1,
                    _ => {}
                }
            }
            let _ = writeln!(text, "  {} ({} users):", tier.name, tier.users);
            if unjudged > 0 {
                let _ = writeln!(
                    text,
                    "    {unjudged} key metrics differ but cannot be judged: a change needs at \
                     least 3 replications and some variance between them (see compare.csv)"
                );
            }
            if changes.is_empty() && unjudged == 0 {
                let _ = writeln!(text, "    no key metric changed beyond its CI");
            }
            for change in changes {
                let _ = writeln!(text, "    {change}");
            }
        }
    }
    text
}
