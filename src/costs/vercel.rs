//! Vercel's bill: seats, then usage beyond each included amount, less the
//! seats' usage credit (FACTS.md §4).

use super::{Usage, beyond};
use crate::scenario::{VercelBilling, VercelCosts, VercelPlan};

/// Vercel's prices and included amounts for one plan, overrides applied.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VercelPrices {
    /// The plan.
    pub plan: VercelPlan,
    /// Seats.
    pub seats: u32,
    /// Fluid or legacy.
    pub billing: VercelBilling,
    /// USD per seat.
    pub seat_price: f64,
    /// USD of usage each seat includes.
    pub usage_credit_per_seat: f64,
    /// USD per Active CPU hour.
    pub cpu_hour: f64,
    /// Active CPU hours included.
    pub included_cpu_hours: f64,
    /// USD per provisioned memory GB-hour.
    pub memory_gb_hour: f64,
    /// Provisioned memory GB-hours included.
    pub included_memory_gb_hours: f64,
    /// USD per legacy wall-clock GB-hour.
    pub legacy_gb_hour: f64,
    /// Legacy wall-clock GB-hours included.
    pub legacy_included_gb_hours: f64,
    /// USD per million invocations.
    pub per_million_invocations: f64,
    /// Invocations included.
    pub included_invocations: f64,
    /// USD per million edge requests.
    pub per_million_edge_requests: f64,
    /// Edge requests included.
    pub included_edge_requests: f64,
    /// USD per GB of Fast Data Transfer.
    pub transfer_per_gb: f64,
    /// GB of Fast Data Transfer included.
    pub included_transfer_gb: f64,
}

impl VercelPrices {
    /// The plan's figures, with the scenario's overrides.
    pub fn of(config: &VercelCosts) -> Self {
        let pro = config.plan == VercelPlan::Pro;
        let pick = |plan: f64, hobby: f64| if pro { plan } else { hobby };
        let or =
            |value: Option<crate::scenario::Amount>, default: f64| value.map_or(default, |v| v.0);
        Self {
            plan: config.plan,
            seats: config.seats.0,
            billing: config.billing,
            // Pro: $20 per seat with $20 of usage credit (FACTS §4, secondary).
            seat_price: or(config.seat_price, pick(20.0, 0.0)),
            usage_credit_per_seat: or(config.usage_credit_per_seat, pick(20.0, 0.0)),
            // iad1 prices, the default region (FACTS §4).
            cpu_hour: or(config.cpu_hour, 0.128),
            included_cpu_hours: or(config.included_cpu_hours, pick(16.0, 4.0)),
            memory_gb_hour: or(config.memory_gb_hour, 0.0106),
            included_memory_gb_hours: or(config.included_memory_gb_hours, pick(1_440.0, 360.0)),
            legacy_gb_hour: or(config.legacy_gb_hour, 0.18),
            legacy_included_gb_hours: or(config.legacy_included_gb_hours, pick(1_000.0, 100.0)),
            per_million_invocations: or(config.per_million_invocations, 0.60),
            included_invocations: or(config.included_invocations, 1e6),
            // Edge requests and Fast Data Transfer (FACTS §4, Apr 2024 pricing).
            per_million_edge_requests: or(config.per_million_edge_requests, 2.00),
            included_edge_requests: or(config.included_edge_requests, pick(10e6, 1e6)),
            transfer_per_gb: or(config.transfer_per_gb, 0.15),
            included_transfer_gb: or(config.included_transfer_gb, pick(1_000.0, 100.0)),
        }
    }

    /// Usage beyond the included amounts, USD, before the seats' credit.
    pub fn usage_charges(&self, usage: &Usage) -> f64 {
        let compute = match self.billing {
            VercelBilling::Fluid => {
                beyond(usage.active_cpu_hours, self.included_cpu_hours) * self.cpu_hour
                    + beyond(usage.memory_gb_hours, self.included_memory_gb_hours)
                        * self.memory_gb_hour
            }
            VercelBilling::Legacy => {
                beyond(usage.wall_clock_gb_hours, self.legacy_included_gb_hours)
                    * self.legacy_gb_hour
            }
        };
        compute
            + beyond(usage.invocations, self.included_invocations) / 1e6
                * self.per_million_invocations
            + beyond(usage.edge_requests, self.included_edge_requests) / 1e6
                * self.per_million_edge_requests
            + beyond(usage.transfer_gb, self.included_transfer_gb) * self.transfer_per_gb
    }

    /// The month's Vercel charge for `usage`; notes a Hobby project over its
    /// included amounts, which Hobby cannot buy more of.
    pub fn bill(&self, usage: &Usage, notes: &mut Vec<String>) -> f64 {
        let seats = f64::from(self.seats);
        let overage = self.usage_charges(usage);
        if self.plan == VercelPlan::Hobby && overage > 0.0 {
            notes.push(format!(
                "Vercel Hobby: usage beyond the included amounts (${overage:.2} at Pro prices); \
                 Hobby cannot buy more, so this needs Pro"
            ));
        }
        seats * self.seat_price + beyond(overage, seats * self.usage_credit_per_seat)
    }
}
