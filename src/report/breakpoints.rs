//! `breakpoints.csv` and the terminal table: each criterion's bracket of
//! user counts, ordered by the count at which it is first crossed, so the
//! first row answers "what breaks first".

use std::fmt::Write as _;
use std::io::{self, Write};

use super::{Exporter, number};
use crate::breakpoints::{Criterion, Evaluations, Found};
use crate::experiment::TierRun;
use crate::stats::Estimate;

/// A finished breakpoint search.
pub struct Breakpoints<'a> {
    /// The scenario's name.
    pub scenario: String,
    /// The criteria searched.
    pub criteria: &'a [Criterion],
    /// Where each was first crossed.
    pub found: Vec<Found>,
    /// Every simulated user count.
    pub evaluations: Evaluations,
}

impl Breakpoints<'_> {
    /// Criterion indices ordered by the count at which each is crossed;
    /// those not reached, then those that do not apply, last.
    fn order(&self) -> Vec<usize> {
        let key = |found: &Found| match found {
            Found::AtOrBelow(users) => (0, *users),
            Found::Between { at, .. } => (0, *at),
            Found::NotReached(_) => (1, 0),
            Found::NotApplicable => (2, 0),
        };
        let mut order: Vec<usize> = (0..self.found.len()).collect();
        order.sort_by_key(|&i| key(&self.found[i]));
        order
    }

    /// The simulated tiers at the bracket's ends (below, at).
    fn ends(&self, found: &Found) -> (Option<&TierRun>, Option<&TierRun>) {
        let tier = |users: &u64| self.evaluations.get(users);
        match found {
            Found::Between { below, at } => (tier(below), tier(at)),
            Found::AtOrBelow(at) => (None, tier(at)),
            Found::NotReached(below) => (tier(below), None),
            Found::NotApplicable => (None, None),
        }
    }
}

/// "3/10": replications that crossed, of those it applies to.
fn crossings(criterion: &Criterion, tier: Option<&TierRun>) -> String {
    tier.map_or(String::new(), |tier| {
        let (crossed, applies) = criterion.crossings(tier);
        format!("{crossed}/{applies}")
    })
}

fn status(found: &Found) -> &'static str {
    match found {
        Found::Between { .. } => "crossed",
        Found::AtOrBelow(_) => "crossed at the lowest count",
        Found::NotReached(_) => "not reached",
        Found::NotApplicable => "not applicable",
    }
}

fn users(tier: Option<&TierRun>) -> String {
    tier.map_or(String::new(), |t| t.users.to_string())
}

/// The breakpoints table as CSV.
pub struct BreakpointsCsv;

impl<'a> Exporter<Breakpoints<'a>> for BreakpointsCsv {
    fn file_name(&self) -> String {
        "breakpoints.csv".into()
    }

    fn write(&self, report: &Breakpoints<'a>, out: &mut dyn Write) -> io::Result<()> {
        let mut csv = csv::Writer::from_writer(out);
        csv.write_record([
            "criterion",
            "description",
            "status",
            "users_below",
            "users_at",
            "crossed_below",
            "crossed_at",
            "value_below",
            "value_below_ci95",
            "value_at",
            "value_at_ci95",
            "peak_rps_at",
            "peak_rps_at_ci95",
            "peak_sessions_at",
            "peak_sessions_at_ci95",
        ])?;
        for index in report.order() {
            let (criterion, found) = (&report.criteria[index], &report.found[index]);
            let (below, at) = report.ends(found);
            let mut row = vec![
                criterion.name.to_string(),
                criterion.description.clone(),
                status(found).to_string(),
                users(below),
                users(at),
                crossings(criterion, below),
                crossings(criterion, at),
            ];
            let mut push = |estimate: Option<Estimate>| {
                row.push(estimate.map_or(String::new(), |e| number(e.mean)));
                row.push(estimate.map_or(String::new(), |e| number(e.half_width)));
            };
            push(below.map(|t| criterion.value(t)));
            push(at.map(|t| criterion.value(t)));
            let (rps, sessions) = at.map(peak_load).unzip();
            push(rps);
            push(sessions);
            csv.write_record(&row)?;
        }
        csv.flush()
    }
}

/// A simulated count's peak request rate and open sessions.
fn peak_load(tier: &TierRun) -> (Estimate, Estimate) {
    (
        tier.estimate(|r| Some(r.tier.peak_rps)),
        tier.estimate(|r| Some(r.tier.peak_sessions as f64)),
    )
}

/// The breakpoints as a terminal table, first crossed first.
pub fn breakpoints_table(report: &Breakpoints) -> String {
    let mut text = String::new();
    let _ = writeln!(text, "{}: what breaks first", report.scenario);
    for index in report.order() {
        let (criterion, found) = (&report.criteria[index], &report.found[index]);
        let (_, at) = report.ends(found);
        let when = match found {
            Found::Between { below, at } => format!("{below}..{at} users"),
            Found::AtOrBelow(at) => format!("at or below {at} users"),
            Found::NotReached(high) => format!("not reached below {high} users"),
            Found::NotApplicable => "not applicable".to_string(),
        };
        let _ = write!(text, "  {when:<32} {}", criterion.description);
        if let Some(tier) = at {
            let (rps, sessions) = peak_load(tier);
            let _ = write!(
                text,
                " ({} of replications; peak {:.1} req/s, {:.0} sessions open)",
                crossings(criterion, Some(tier)),
                rps.mean,
                sessions.mean
            );
        }
        text.push('\n');
    }
    text
}
