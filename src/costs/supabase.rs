//! Supabase's bill: the plan, compute for every database node (the
//! primary and each read replica) billed by the hour less the plan's
//! compute credit, the IPv4 add-on, then egress, disk and monthly active
//! users beyond the plan's quotas (FACTS.md §2).

use super::{Line, MONTH_DAYS, Usage, beyond};
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
    /// Whether monthly active users of Supabase Auth are billed.
    pub auth: bool,
    /// Egress GB included, then USD per GB.
    pub egress: (f64, f64),
    /// Disk GB included on the primary, then USD per GB-month.
    pub disk: (f64, f64),
    /// Monthly active users included, then USD per user.
    pub mau: (f64, f64),
}

impl SupabasePrices {
    /// The plan's figures, with the scenario's overrides.
    pub fn of(config: &SupabaseCosts) -> Self {
        let (plan_price, compute_credit) = match config.plan {
            SupabasePlan::Free => (0.0, 0.0),
            SupabasePlan::Pro => (25.0, 10.0),
            SupabasePlan::Team => (599.0, 10.0),
        };
        // Free's quotas cannot be exceeded (no price); Pro and Team's are
        // 250 GB egress, 8 GB disk and 100,000 MAU, then $0.09/GB,
        // $0.125/GB-month and $0.00325 a user (FACTS.md §2).
        let (egress, disk, mau) = match config.plan {
            SupabasePlan::Free => (5.0, 0.5, 50_000.0),
            SupabasePlan::Pro | SupabasePlan::Team => (250.0, 8.0, 100_000.0),
        };
        let or =
            |value: Option<crate::scenario::Amount>, default: f64| value.map_or(default, |v| v.0);
        Self {
            plan: config.plan,
            plan_price: config.plan_price.map_or(plan_price, |p| p.0),
            compute_credit: config.compute_credit.map_or(compute_credit, |c| c.0),
            compute_hour: config.compute_hour.map(|c| c.0),
            auth: config.auth,
            egress: (egress, or(config.egress_per_gb, 0.09)),
            disk: (disk, or(config.disk_per_gb, 0.125)),
            mau: (mau, or(config.per_mau, 0.00325)),
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

    /// The month's compute for `nodes` databases on `compute`, less the
    /// plan's credit.
    pub fn compute_usd(&self, compute: Compute, nodes: u32) -> f64 {
        let hourly = self.compute_hour.unwrap_or(compute.size().hourly_usd);
        beyond(
            hourly * MONTH_DAYS * 24.0 * f64::from(nodes),
            self.compute_credit,
        )
    }

    /// The month's lines for `stack` on `compute` with `usage`; notes a
    /// Free project over its quotas and the add-on.
    pub fn bill(
        &self,
        stack: &Scenario,
        compute: Compute,
        usage: &Usage,
        notes: &mut Vec<String>,
    ) -> Vec<Line> {
        let database = &stack.database;
        let nodes = 1 + database.read_replicas;
        let ipv4 = if database.ipv4_addon {
            let addon = Self::ipv4_addon(nodes);
            notes.push(format!(
                "Supabase IPv4 add-on on {nodes} database(s): ${addon:.2}"
            ));
            addon
        } else {
            0.0
        };
        // A replica's disk is 1.25 times the primary's, billed from the first
        // GB. Disk sizes are in the scenario's GB (disks are provisioned in
        // binary units, as `8GB` is written).
        let disk_gb = database
            .disk_size
            .map_or(self.disk.0, |size| size.gigabytes());
        let replica_disk_gb = 1.25 * disk_gb * f64::from(database.read_replicas);
        let disk_usd = (beyond(disk_gb, self.disk.0) + replica_disk_gb) * self.disk.1;
        let egress_usd = beyond(usage.db_egress_gb, self.egress.0) * self.egress.1;
        let active_users = if self.auth { usage.active_users } else { 0.0 };
        let mau_usd = beyond(active_users, self.mau.0) * self.mau.1;
        if self.plan == SupabasePlan::Free && disk_usd + egress_usd + mau_usd > 0.0 {
            notes.push(
                "Supabase Free: usage beyond the quotas (egress, disk or MAU), which Free \
                 cannot buy; this needs Pro"
                    .into(),
            );
        }
        let (egress_usd, disk_usd, mau_usd) = if self.plan == SupabasePlan::Free {
            (0.0, 0.0, 0.0)
        } else {
            (egress_usd, disk_usd, mau_usd)
        };
        vec![
            Line::fixed("plan", self.plan_price),
            Line::metered("compute_beyond_credit", self.compute_usd(compute, nodes)),
            Line::metered("ipv4", ipv4),
            Line::metered("egress", egress_usd),
            Line::metered("disk", disk_usd),
            Line::metered("mau", mau_usd),
        ]
    }
}
