//! Supabase's bill: the plan, then compute for every database node (the
//! primary and each read replica) billed by the hour, less the plan's
//! compute credit (FACTS.md §2).

use super::{MONTH_DAYS, beyond};
use crate::scenario::{Compute, Scenario, SupabaseCosts, SupabasePlan};

/// Supabase's prices for one plan, overrides applied.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SupabasePrices {
    /// The plan.
    pub plan: SupabasePlan,
    /// USD per month for the plan.
    pub plan_price: f64,
    /// USD of compute the plan includes each month.
    pub compute_credit: f64,
    /// USD per compute hour instead of the ladder's, if set.
    pub compute_hour: Option<f64>,
}

impl SupabasePrices {
    /// The plan's figures, with the scenario's overrides.
    pub fn of(config: &SupabaseCosts) -> Self {
        let (plan_price, compute_credit) = match config.plan {
            SupabasePlan::Free => (0.0, 0.0),
            SupabasePlan::Pro => (25.0, 10.0),
            SupabasePlan::Team => (599.0, 10.0),
        };
        Self {
            plan: config.plan,
            plan_price: config.plan_price.map_or(plan_price, |p| p.0),
            compute_credit: config.compute_credit.map_or(compute_credit, |c| c.0),
            compute_hour: config.compute_hour.map(|c| c.0),
        }
    }

    /// The compute `stack` runs on; without `database.compute`, the plan's
    /// default size (noted).
    pub fn compute(&self, stack: &Scenario, notes: &mut Vec<String>) -> Compute {
        match stack.database.compute {
            Some(compute) => compute,
            None => {
                let default = if self.plan == SupabasePlan::Free {
                    Compute::Nano
                } else {
                    Compute::Micro
                };
                notes.push(format!(
                    "database.compute not set: priced as {}, the plan's default",
                    default.name()
                ));
                default
            }
        }
    }

    /// The month's charge for the IPv4 add-on on `nodes` databases: "$0.0055
    /// per hour ($4 per month)" for each, replicas included (FACTS.md §2).
    pub fn ipv4_addon(nodes: u32) -> f64 {
        0.0055 * MONTH_DAYS * 24.0 * f64::from(nodes)
    }

    /// The month's Supabase charge for `nodes` databases on `compute`.
    pub fn bill(&self, compute: Compute, nodes: u32) -> f64 {
        let hourly = self.compute_hour.unwrap_or(compute.size().hourly_usd);
        let compute_usd = hourly * MONTH_DAYS * 24.0 * f64::from(nodes);
        self.plan_price + beyond(compute_usd, self.compute_credit)
    }
}
