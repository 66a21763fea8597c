//! The monthly cost projection: each provider's bill from the usage a
//! replication measured.
//!
//! Usage is what the simulation counted over [warm-up, horizon), scaled to a
//! 30-day month; included amounts and credits are subtracted after scaling,
//! as a provider's invoice would. Prices and included amounts are the plans'
//! published figures (FACTS.md §2, §4, §6, §7) unless the scenario's `costs`
//! overrides them.

mod supabase;
mod upstash;
mod vercel;

use crate::model::Replication;
use crate::scenario::{AiTokens, Compute, Costs, MemoryBilled, Scenario};

pub use supabase::SupabasePrices;
pub use upstash::UpstashPrices;
pub use vercel::VercelPrices;

/// Days in the projected month.
pub const MONTH_DAYS: f64 = 30.0;

/// What one replication used, scaled to a 30-day month.
#[derive(Clone, Debug, PartialEq)]
pub struct Usage {
    /// Function invocations, 429s and errors included.
    pub invocations: f64,
    /// Handler CPU hours (Fluid's Active CPU: I/O waits are not billed).
    pub active_cpu_hours: f64,
    /// Fluid's provisioned memory GB-hours, over the part of instance
    /// lives `costs.vercel.memory_billed` names.
    pub memory_gb_hours: f64,
    /// Memory GB-hours over wall-clock invocation time (legacy billing).
    pub wall_clock_gb_hours: f64,
    /// Requests that reached Vercel's CDN: API calls, pages' static files
    /// and images.
    pub edge_requests: f64,
    /// GB (10^9 bytes) the CDN sent to browsers: answered responses,
    /// static files and images (Fast Data Transfer).
    pub transfer_gb: f64,
    /// GB between the CDN and the functions (Fast Origin Transfer).
    pub origin_transfer_gb: f64,
    /// Image transformations (optimizer cache misses).
    pub image_transformations: f64,
    /// Image cache reads, 8 KB units.
    pub image_cache_reads: f64,
    /// Image cache writes, 8 KB units.
    pub image_cache_writes: f64,
    /// GB the database returned (Supabase egress).
    pub db_egress_gb: f64,
    /// Distinct users active over the measured days: monthly active users
    /// when those days are a month (not scaled: a user counts once).
    pub active_users: f64,
    /// Redis commands.
    pub redis_commands: f64,
    /// Redis commands per second over the busiest minute (not scaled).
    pub redis_peak_per_sec: f64,
    /// AI tokens by how they are billed.
    pub ai: AiTokens,
    /// Calls sent to each external API, in the scenario's order.
    pub external_calls: Vec<f64>,
}

impl Usage {
    /// The usage `replication` measured on `stack`, scaled to a month.
    pub fn month(stack: &Scenario, replication: &Replication) -> Self {
        let scale = MONTH_DAYS * 86_400.0 / stack.measured_secs();
        let tier = &replication.tier;
        let metered = &tier.metered;
        let month = |count: u64| count as f64 * scale;
        Self {
            invocations: month(tier.invocations),
            active_cpu_hours: tier.cpu_seconds * scale / 3_600.0,
            memory_gb_hours: match stack.costs.as_ref().map(|c| c.vercel.memory_billed) {
                Some(MemoryBilled::Lifetime) => tier.gb_seconds,
                Some(MemoryBilled::InFlight) | None => tier.busy_gb_seconds,
            } * scale
                / 3_600.0,
            wall_clock_gb_hours: tier.invocation_gb_seconds * scale / 3_600.0,
            edge_requests: month(
                tier.edge_requests + metered.asset_requests + metered.images.requests,
            ),
            transfer_gb: month(tier.transfer_bytes + metered.asset_bytes + metered.image_bytes)
                / 1e9,
            origin_transfer_gb: month(metered.origin_bytes) / 1e9,
            image_transformations: month(metered.images.transformations),
            image_cache_reads: month(metered.images.read_units),
            image_cache_writes: month(metered.images.write_units),
            db_egress_gb: month(metered.db_egress_bytes) / 1e9,
            active_users: metered.active_users as f64,
            redis_commands: month(tier.redis_commands),
            redis_peak_per_sec: metered.redis_peak_minute as f64 / 60.0,
            ai: AiTokens {
                input: month(tier.ai.tokens.input),
                cache_write_5m: month(tier.ai.tokens.cache_write_5m),
                cache_write_1h: month(tier.ai.tokens.cache_write_1h),
                cache_read: month(tier.ai.tokens.cache_read),
                output: month(tier.ai.tokens.output),
            },
            external_calls: tier.externals.iter().map(|api| month(api.calls)).collect(),
        }
    }
}

/// One line of a provider's charge.
#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    /// What it is for, as a costs.csv column after the provider's name:
    /// `plan`, `functions`, `cdn`, `egress`, `credit` and so on.
    pub item: &'static str,
    /// USD per month; a credit is negative.
    pub usd: f64,
    /// Whether it is usage billed per unit, which a plan's usage credit
    /// pays before anything is billed (a plan's or tier's fixed price is not).
    pub metered: bool,
}

impl Line {
    /// A fixed monthly price, or a credit.
    pub fn fixed(item: &'static str, usd: f64) -> Self {
        Self {
            item,
            usd,
            metered: false,
        }
    }

    /// Usage billed per unit.
    pub fn metered(item: &'static str, usd: f64) -> Self {
        Self {
            item,
            usd,
            metered: true,
        }
    }
}

/// One provider's monthly charge, line by line.
#[derive(Clone, Debug, PartialEq)]
pub struct Charge {
    /// The provider, as a costs.csv column: `vercel`, `supabase`, `upstash`,
    /// `ai`, or `external_<name>`.
    pub provider: String,
    /// Its lines, in a fixed order.
    pub lines: Vec<Line>,
}

impl Charge {
    fn new(provider: impl Into<String>, lines: Vec<Line>) -> Self {
        Self {
            provider: provider.into(),
            lines,
        }
    }

    /// USD per month, all lines.
    pub fn usd(&self) -> f64 {
        self.lines.iter().map(|line| line.usd).sum()
    }

    /// The lines without the credit, which is spent on the metered lines
    /// from the last, so that none is negative (for stacking in a chart).
    pub fn net_lines(&self) -> Vec<Line> {
        let mut credit: f64 = -self
            .lines
            .iter()
            .filter(|l| l.usd < 0.0)
            .map(|l| l.usd)
            .sum::<f64>();
        let mut net: Vec<Line> = self
            .lines
            .iter()
            .filter(|l| l.usd >= 0.0)
            .cloned()
            .collect();
        for line in net.iter_mut().rev().filter(|line| line.metered) {
            let spent = credit.min(line.usd);
            line.usd -= spent;
            credit -= spent;
        }
        net
    }
}

/// A month's bill for one replication.
#[derive(Clone, Debug, PartialEq)]
pub struct Bill {
    /// Per provider, in a fixed order.
    pub charges: Vec<Charge>,
    /// The Supabase compute the bill prices.
    pub compute: Compute,
    /// What a reader must know: plan limits crossed, tiers chosen,
    /// cheaper plans, assumptions made.
    pub notes: Vec<String>,
}

impl Bill {
    /// The month's total, USD.
    pub fn total(&self) -> f64 {
        self.charges.iter().map(Charge::usd).sum()
    }
}

/// Usage beyond an included amount.
fn beyond(used: f64, included: f64) -> f64 {
    (used - included).max(0.0)
}

/// The month's bill of `stack` (its `costs`, database and AI prices) for `usage`.
pub fn bill(costs: &Costs, stack: &Scenario, usage: &Usage) -> Bill {
    let mut notes = Vec::new();
    let vercel = VercelPrices::of(&costs.vercel).bill(usage, &mut notes);
    let supabase = SupabasePrices::of(&costs.supabase);
    let compute = supabase.compute(stack, &mut notes);
    let supabase = supabase.bill(stack, compute, usage, &mut notes);
    let upstash = UpstashPrices::of(&costs.upstash).bill(usage, &mut notes);
    let mut charges = vec![
        Charge::new("vercel", vercel),
        Charge::new("supabase", supabase),
        Charge::new("upstash", upstash),
    ];
    // A scenario with costs and an AI provider prices its tokens (validation
    // requires `price_per_mtok`).
    if let Some(prices) = stack.ai.as_ref().and_then(|ai| ai.prices) {
        let t = &usage.ai;
        let none = AiTokens::default();
        let line = |item, tokens: AiTokens| Line::metered(item, prices.usd(&tokens));
        charges.push(Charge::new(
            "ai",
            vec![
                line(
                    "input",
                    AiTokens {
                        input: t.input,
                        ..none
                    },
                ),
                line(
                    "cache_writes",
                    AiTokens {
                        cache_write_5m: t.cache_write_5m,
                        cache_write_1h: t.cache_write_1h,
                        ..none
                    },
                ),
                line(
                    "cache_reads",
                    AiTokens {
                        cache_read: t.cache_read,
                        ..none
                    },
                ),
                line(
                    "output",
                    AiTokens {
                        output: t.output,
                        ..none
                    },
                ),
            ],
        ));
    }
    for (external, calls) in stack.externals.iter().zip(&usage.external_calls) {
        charges.push(Charge::new(
            format!("external_{}", external.name),
            vec![Line::metered(
                "calls",
                calls * external.api.price_per_call.0,
            )],
        ));
    }
    Bill {
        charges,
        compute,
        notes,
    }
}

/// A tier's monthly projection: one bill per replication.
#[derive(Clone, Debug)]
pub struct TierCosts {
    /// Per replication, its bill and the usage it prices.
    pub bills: Vec<(Bill, Usage)>,
    /// The compute priced.
    pub compute: Compute,
    /// Notes of every replication, each once.
    pub notes: Vec<String>,
}

/// The projection of a tier that ran `replications` on `stack`, or `None`
/// when the stack has no `costs`.
pub fn tier_costs(stack: &Scenario, replications: &[Replication]) -> Option<TierCosts> {
    let costs = stack.costs.as_ref()?;
    let mut notes: Vec<String> = Vec::new();
    let mut compute = Compute::Micro;
    let bills = replications
        .iter()
        .map(|replication| {
            let usage = Usage::month(stack, replication);
            let bill = bill(costs, stack, &usage);
            compute = bill.compute;
            for note in &bill.notes {
                if !notes.contains(note) {
                    notes.push(note.clone());
                }
            }
            (bill, usage)
        })
        .collect();
    Some(TierCosts {
        bills,
        compute,
        notes,
    })
}
