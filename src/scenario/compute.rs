//! Supabase's compute ladder (FACTS.md §2, from `supabase/supabase`
//! `apps/docs/content/guides/platform/compute-and-disk.mdx`): what each
//! size sets when the scenario does not say otherwise.

use super::Compute;

/// What a compute size provides.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ComputeSize {
    /// Recommended Postgres `max_connections`.
    pub max_connections: u32,
    /// CPU cores (the shared ARM sizes count their 2 cores).
    pub cpus: u32,
    /// The pooler's client connection limit.
    pub pooler_clients: u32,
    /// Price per hour, USD.
    pub hourly_usd: f64,
}

impl Compute {
    /// Every size, smallest and cheapest first.
    pub const LADDER: [Compute; 11] = [
        Compute::Nano,
        Compute::Micro,
        Compute::Small,
        Compute::Medium,
        Compute::Large,
        Compute::Xl,
        Compute::Xl2,
        Compute::Xl4,
        Compute::Xl8,
        Compute::Xl12,
        Compute::Xl16,
    ];

    /// Whether its CPUs burst: "Compute instances smaller than `Large`"
    /// (FACTS.md §2).
    pub fn bursts(self) -> bool {
        matches!(
            self,
            Compute::Nano | Compute::Micro | Compute::Small | Compute::Medium
        )
    }

    /// The name the scenario file uses.
    pub fn name(self) -> &'static str {
        match self {
            Compute::Nano => "nano",
            Compute::Micro => "micro",
            Compute::Small => "small",
            Compute::Medium => "medium",
            Compute::Large => "large",
            Compute::Xl => "xl",
            Compute::Xl2 => "2xl",
            Compute::Xl4 => "4xl",
            Compute::Xl8 => "8xl",
            Compute::Xl12 => "12xl",
            Compute::Xl16 => "16xl",
            Compute::Auto => "auto",
        }
    }

    /// The size's limits and price; `auto` has Micro's until the run picks.
    pub fn size(self) -> ComputeSize {
        let (max_connections, cpus, pooler_clients, hourly_usd) = match self {
            // Nano's CPU is "shared" with no core count: one is an assumption.
            Compute::Nano => (60, 1, 200, 0.0),
            Compute::Micro | Compute::Auto => (60, 2, 200, 0.01344),
            Compute::Small => (90, 2, 400, 0.0206),
            Compute::Medium => (120, 2, 600, 0.0822),
            Compute::Large => (160, 2, 800, 0.1517),
            Compute::Xl => (240, 4, 1_000, 0.2877),
            Compute::Xl2 => (380, 8, 1_500, 0.562),
            Compute::Xl4 => (480, 16, 3_000, 1.32),
            Compute::Xl8 => (490, 32, 6_000, 2.562),
            Compute::Xl12 => (500, 48, 9_000, 3.836),
            Compute::Xl16 => (500, 64, 12_000, 5.12),
        };
        ComputeSize {
            max_connections,
            cpus,
            pooler_clients,
            hourly_usd,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bigger_compute_is_never_smaller() {
        for pair in Compute::LADDER.windows(2) {
            let (small, big) = (pair[0].size(), pair[1].size());
            assert!(big.max_connections >= small.max_connections);
            assert!(big.cpus >= small.cpus);
            assert!(big.pooler_clients >= small.pooler_clients);
            assert!(big.hourly_usd > small.hourly_usd);
        }
    }
}
