//! Vercel's bill: the plan's seats, then metered usage beyond each included
//! amount (functions, Fast Origin Transfer, image optimization) less the
//! plan's usage credit, and CDN requests with Fast Data Transfer on a Flat
//! Rate CDN tier or on demand (FACTS.md §4).

use super::{Line, Usage, beyond};
use crate::scenario::{Amount, CdnBilling, VercelBilling, VercelCosts, VercelPlan};

/// Flat Rate CDN's tiers on Pro: (USD per month, CDN requests, GB of Fast
/// Data Transfer); the first is included with Pro (FACTS.md §4).
const FLAT_RATE_TIERS: [(f64, f64, f64); 4] = [
    (0.0, 1e6, 1_000.0),
    (20.0, 10e6, 50_000.0),
    (100.0, 50e6, 50_000.0),
    (300.0, 150e6, 50_000.0),
];

/// Vercel's prices and included amounts for one plan, overrides applied.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VercelPrices {
    /// The plan.
    pub plan: VercelPlan,
    /// Seats.
    pub seats: u32,
    /// Fluid or legacy.
    pub billing: VercelBilling,
    /// Flat Rate CDN or on demand (Pro).
    pub cdn: CdnBilling,
    /// USD per seat.
    pub seat_price: f64,
    /// USD of metered usage the plan includes.
    pub usage_credit: f64,
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
    /// USD per million edge requests (on demand).
    pub per_million_edge_requests: f64,
    /// Edge requests included (Flat Rate CDN: the included tier's).
    pub included_edge_requests: f64,
    /// USD per GB of Fast Data Transfer (on demand).
    pub transfer_per_gb: f64,
    /// GB of Fast Data Transfer included (Flat Rate CDN: the included tier's).
    pub included_transfer_gb: f64,
    /// USD per GB of Fast Origin Transfer.
    pub origin_transfer_per_gb: f64,
    /// Image transformations, cache reads and writes (8 KB units) included.
    pub included_images: (f64, f64, f64),
    /// USD per 1,000 transformations, per million reads, per million writes.
    pub image_prices: (f64, f64, f64),
}

impl VercelPrices {
    /// The plan's figures, with the scenario's overrides.
    pub fn of(config: &VercelCosts) -> Self {
        let pro = config.plan == VercelPlan::Pro;
        let pick = |plan: f64, hobby: f64| if pro { plan } else { hobby };
        let or = |value: Option<Amount>, default: f64| value.map_or(default, |v| v.0);
        Self {
            plan: config.plan,
            seats: config.seats.0,
            billing: config.billing,
            cdn: config.cdn,
            // Pro: a $20 platform fee with one seat, $20 a further seat, and
            // $20 of usage credit a month for the team (FACTS §4).
            seat_price: or(config.seat_price, pick(20.0, 0.0)),
            usage_credit: or(config.usage_credit, pick(20.0, 0.0)),
            // iad1 prices, the default region. Pro includes no function
            // usage today ("Usage-based"); Hobby's free amounts (FACTS §4).
            cpu_hour: or(config.cpu_hour, 0.128),
            included_cpu_hours: or(config.included_cpu_hours, pick(0.0, 4.0)),
            memory_gb_hour: or(config.memory_gb_hour, 0.0106),
            included_memory_gb_hours: or(config.included_memory_gb_hours, pick(0.0, 360.0)),
            legacy_gb_hour: or(config.legacy_gb_hour, 0.18),
            legacy_included_gb_hours: or(config.legacy_included_gb_hours, pick(1_000.0, 100.0)),
            per_million_invocations: or(config.per_million_invocations, 0.60),
            included_invocations: or(config.included_invocations, pick(0.0, 1e6)),
            // Pro includes Flat Rate CDN's first tier, 1M requests and 1 TB;
            // Hobby 1M and 100 GB (FACTS §4).
            per_million_edge_requests: or(config.per_million_edge_requests, 2.00),
            included_edge_requests: or(config.included_edge_requests, 1e6),
            transfer_per_gb: or(config.transfer_per_gb, 0.15),
            included_transfer_gb: or(config.included_transfer_gb, pick(1_000.0, 100.0)),
            origin_transfer_per_gb: or(config.origin_transfer_per_gb, 0.06),
            included_images: if pro {
                (0.0, 0.0, 0.0)
            } else {
                (5_000.0, 300_000.0, 100_000.0)
            },
            image_prices: (
                or(config.image_transformations_per_1k, 0.05),
                or(config.image_cache_reads_per_1m, 0.40),
                or(config.image_cache_writes_per_1m, 4.00),
            ),
        }
    }

    /// Function usage beyond the included amounts, USD.
    pub fn functions(&self, usage: &Usage) -> f64 {
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
    }

    /// CDN requests and Fast Data Transfer per unit beyond the included amounts, USD.
    fn cdn_on_demand(&self, usage: &Usage) -> f64 {
        beyond(usage.edge_requests, self.included_edge_requests) / 1e6
            * self.per_million_edge_requests
            + beyond(usage.transfer_gb, self.included_transfer_gb) * self.transfer_per_gb
    }

    /// Image optimization beyond the included amounts, USD.
    pub fn images(&self, usage: &Usage) -> f64 {
        let (transformations, reads, writes) = self.included_images;
        let (per_1k, per_read_1m, per_write_1m) = self.image_prices;
        beyond(usage.image_transformations, transformations) / 1e3 * per_1k
            + beyond(usage.image_cache_reads, reads) / 1e6 * per_read_1m
            + beyond(usage.image_cache_writes, writes) / 1e6 * per_write_1m
    }

    /// The CDN's line: on Pro with Flat Rate CDN, the smallest tier that
    /// holds the month's requests and transfer (Vercel moves a team up a
    /// tier the cycle after it outgrows one, so a steady month is billed
    /// at the tier that holds it), on demand above the largest (noted);
    /// else per unit. Returns (USD, whether it is metered usage).
    fn cdn(&self, usage: &Usage, notes: &mut Vec<String>) -> (f64, bool) {
        if self.plan == VercelPlan::Hobby || self.cdn == CdnBilling::OnDemand {
            return (self.cdn_on_demand(usage), true);
        }
        let mut tiers = FLAT_RATE_TIERS;
        tiers[0].1 = self.included_edge_requests;
        tiers[0].2 = self.included_transfer_gb;
        let (requests, gb) = (usage.edge_requests, usage.transfer_gb);
        match tiers.iter().find(|t| requests <= t.1 && gb <= t.2) {
            Some(&(usd, tier_requests, tier_gb)) => {
                if usd > 0.0 {
                    notes.push(format!(
                        "Vercel Flat Rate CDN: the month's CDN requests and transfer need the \
                         ${usd:.0} tier ({:.0}M requests, {:.0} TB)",
                        tier_requests / 1e6,
                        tier_gb / 1e3,
                    ));
                }
                (usd, false)
            }
            None => {
                notes.push(
                    "Vercel Flat Rate CDN: the month's CDN requests or transfer exceed the \
                     largest tier, so they are billed on demand"
                        .into(),
                );
                (self.cdn_on_demand(usage), true)
            }
        }
    }

    /// The month's lines for `usage`: seats, CDN, functions, origin
    /// transfer, images and the credit, which pays the metered ones; notes a
    /// Hobby project over its included amounts, which Hobby cannot buy.
    pub fn bill(&self, usage: &Usage, notes: &mut Vec<String>) -> Vec<Line> {
        let (cdn, cdn_metered) = self.cdn(usage, notes);
        let mut lines = vec![
            Line::fixed("plan", f64::from(self.seats) * self.seat_price),
            if cdn_metered {
                Line::metered("cdn", cdn)
            } else {
                Line::fixed("cdn", cdn)
            },
            Line::metered("functions", self.functions(usage)),
            Line::metered(
                "origin_transfer",
                usage.origin_transfer_gb * self.origin_transfer_per_gb,
            ),
            Line::metered("images", self.images(usage)),
        ];
        let metered: f64 = lines.iter().filter(|l| l.metered).map(|l| l.usd).sum();
        if self.plan == VercelPlan::Hobby && metered > 0.0 {
            notes.push(format!(
                "Vercel Hobby: usage beyond the included amounts (${metered:.2} at Pro prices); \
                 Hobby cannot buy more, so this needs Pro"
            ));
        }
        lines.push(Line::fixed("credit", -metered.min(self.usage_credit)));
        lines
    }
}
