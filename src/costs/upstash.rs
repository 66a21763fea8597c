//! Upstash Redis's bill: pay as you go per command beyond the free ones,
//! or a fixed plan's monthly price with no command billing but a cap on
//! commands per second (FACTS.md §6).

use super::{Line, Usage, beyond};
use crate::scenario::{UpstashCosts, UpstashPlan};

/// The fixed plans: (plan, name, USD per month, commands per second).
const FIXED: [(UpstashPlan, &str, f64, f64); 7] = [
    (UpstashPlan::Fixed250mb, "fixed 250 MB", 10.0, 10_000.0),
    (UpstashPlan::Fixed1gb, "fixed 1 GB", 20.0, 10_000.0),
    (UpstashPlan::Fixed5gb, "fixed 5 GB", 100.0, 10_000.0),
    (UpstashPlan::Fixed10gb, "fixed 10 GB", 200.0, 10_000.0),
    (UpstashPlan::Fixed50gb, "fixed 50 GB", 400.0, 10_000.0),
    (UpstashPlan::Fixed100gb, "fixed 100 GB", 800.0, 16_000.0),
    (UpstashPlan::Fixed500gb, "fixed 500 GB", 1_500.0, 16_000.0),
];

/// Upstash's prices for the scenario's plan.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct UpstashPrices {
    /// The plan.
    pub plan: UpstashPlan,
    /// Pay as you go: USD per 100,000 commands.
    pub per_100k_commands: f64,
    /// Pay as you go: commands free per month.
    pub free_commands: f64,
}

impl UpstashPrices {
    /// The scenario's plan and prices.
    pub fn of(config: &UpstashCosts) -> Self {
        Self {
            plan: config.plan,
            per_100k_commands: config.per_100k_commands.0,
            free_commands: config.free_commands.0,
        }
    }

    /// The month's lines for `usage`, noting a fixed plan whose command
    /// rate the busiest minute exceeds, and a fixed plan cheaper than pay
    /// as you go.
    pub fn bill(&self, usage: &Usage, notes: &mut Vec<String>) -> Vec<Line> {
        let peak = usage.redis_peak_per_sec;
        let fits = |cap: f64| peak <= cap;
        match FIXED.iter().find(|plan| plan.0 == self.plan) {
            Some(&(_, name, usd, cap)) => {
                if !fits(cap) {
                    notes.push(format!(
                        "Upstash {name}: the busiest minute sends more than the plan's \
                         {cap:.0} commands/s; Upstash throttles above it"
                    ));
                }
                vec![Line::fixed("plan", usd)]
            }
            None => {
                let usd = beyond(usage.redis_commands, self.free_commands) / 100_000.0
                    * self.per_100k_commands;
                if let Some(&(_, name, fixed, _)) =
                    FIXED.iter().find(|plan| plan.2 < usd && fits(plan.3))
                {
                    notes.push(format!(
                        "Upstash: {name} (${fixed:.0}/month, no command billing) would cost \
                         less than pay as you go"
                    ));
                }
                vec![Line::metered("commands", usd)]
            }
        }
    }
}
