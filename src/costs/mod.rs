//! The monthly cost projection: each provider's bill from the usage a
//! replication measured.
//!
//! Usage is what the simulation counted over [warm-up, horizon), scaled to a
//! 30-day month; included amounts and credits are subtracted after scaling,
//! as a provider's invoice would. Prices and included amounts are the plans'
//! published figures (FACTS.md §2, §4, §6, §7) unless the scenario's `costs`
//! overrides them.

mod supabase;
mod vercel;

use crate::model::Replication;
use crate::scenario::{AiTokens, Compute, Costs, MemoryBilled, Scenario};

pub use supabase::SupabasePrices;
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
    /// Requests that reached Vercel's edge.
    pub edge_requests: f64,
    /// GB of answered responses (10^9 bytes).
    pub transfer_gb: f64,
    /// Redis commands (limiters and the app cache).
    pub redis_commands: f64,
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
            edge_requests: month(tier.edge_requests),
            transfer_gb: month(tier.transfer_bytes) / 1e9,
            redis_commands: month(tier.redis_commands),
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

/// One provider's monthly charge.
#[derive(Clone, Debug, PartialEq)]
pub struct Charge {
    /// The provider, as a costs.csv column: `vercel`, `supabase`, `upstash`,
    /// `ai`, or `external_<name>`.
    pub provider: String,
    /// USD per month.
    pub usd: f64,
}

/// A month's bill for one replication.
#[derive(Clone, Debug, PartialEq)]
pub struct Bill {
    /// Per provider, in a fixed order.
    pub charges: Vec<Charge>,
    /// The Supabase compute the bill prices.
    pub compute: Compute,
    /// What a reader must know: plan limits crossed, assumptions made.
    pub notes: Vec<String>,
}

impl Bill {
    /// The month's total, USD.
    pub fn total(&self) -> f64 {
        self.charges.iter().map(|c| c.usd).sum()
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
    let nodes = 1 + stack.database.read_replicas;
    let mut supabase_usd = supabase.bill(compute, nodes);
    if stack.database.ipv4_addon {
        let addon = SupabasePrices::ipv4_addon(nodes);
        supabase_usd += addon;
        notes.push(format!(
            "Supabase IPv4 add-on on {nodes} database(s): ${addon:.2}"
        ));
    }
    let upstash = &costs.upstash;
    let upstash_usd = beyond(usage.redis_commands, upstash.free_commands.0) / 100_000.0
        * upstash.per_100k_commands.0;
    let mut charges = vec![
        Charge {
            provider: "vercel".into(),
            usd: vercel,
        },
        Charge {
            provider: "supabase".into(),
            usd: supabase_usd,
        },
        Charge {
            provider: "upstash".into(),
            usd: upstash_usd,
        },
    ];
    // A scenario with costs and an AI provider prices its tokens (validation
    // requires `price_per_mtok`).
    if let Some(prices) = stack.ai.as_ref().and_then(|ai| ai.prices) {
        charges.push(Charge {
            provider: "ai".into(),
            usd: prices.usd(&usage.ai),
        });
    }
    for (external, calls) in stack.externals.iter().zip(&usage.external_calls) {
        charges.push(Charge {
            provider: format!("external_{}", external.name),
            usd: calls * external.api.price_per_call.0,
        });
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
