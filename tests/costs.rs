//! The cost model on hand-computed cases (included amounts, overage,
//! credits, month scaling) and `compute: auto`'s choice.

use std::path::Path;

use capsim::costs::{self, Line, SupabasePrices, UpstashPrices, Usage, VercelPrices};
use capsim::experiment::{self, Plan, RunOptions, next_compute};
use capsim::model::{NodeResults, Replication, TierResults};
use capsim::scenario::{
    self, AiTokens, CdnBilling, Compute, Costs, Loaded, SupabasePlan, UpstashPlan, VercelBilling,
    VercelPlan,
};

fn usage() -> Usage {
    Usage {
        invocations: 0.0,
        active_cpu_hours: 0.0,
        memory_gb_hours: 0.0,
        wall_clock_gb_hours: 0.0,
        edge_requests: 0.0,
        transfer_gb: 0.0,
        origin_transfer_gb: 0.0,
        image_transformations: 0.0,
        image_cache_reads: 0.0,
        image_cache_writes: 0.0,
        db_egress_gb: 0.0,
        active_users: 0.0,
        redis_commands: 0.0,
        redis_peak_per_sec: 0.0,
        ai: AiTokens::default(),
        external_calls: Vec::new(),
    }
}

fn close(actual: f64, expected: f64) {
    assert!(
        (actual - expected).abs() < 1e-9,
        "{actual} is not {expected}"
    );
}

/// A minimal scenario with `extra` appended (costs, compute).
fn scenario_text(horizon: &str, extra: &str) -> String {
    format!(
        "name: costs-case
seed: 1
replications: 2
start: 2025-01-06
horizon: {horizon}
warmup: 100s
tiers:
  - {{ name: flat, users: 82080000 }}
slo: {{ p95_latency: 1s, error_rate: 1% }}
traffic:
  daily_active_share: 100%
  sessions_per_active_user: 1
  requests_per_session: {{ dist: constant, value: 1 }}
  think_time: {{ dist: constant, value: 1s }}
  daily_profile: [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]
routes:
  - name: work
    weight: 1
    function: servers
    queries: 1
    handler_time: {{ dist: exponential, mean: 100ms }}
functions:
  - name: servers
    concurrency: 1
    cold_start: {{ dist: constant, value: 0s }}
    idle_timeout: 30d
    min_instances: 100
    max_instances: 100
    overflow: reject
    max_duration: 1d
database:
  platform_connections: 10
  ipv4_addon: true
  connect_time: {{ dist: constant, value: 1ms }}
  query_time: {{ dist: constant, value: 1ms }}
{extra}"
    )
}

fn parse(text: &str) -> Loaded {
    scenario::parse(Path::new("case.yaml"), text).expect("the case is valid")
}

/// The sum of `lines`, and the line named `item`.
fn total(lines: &[Line]) -> f64 {
    lines.iter().map(|line| line.usd).sum()
}

fn item(lines: &[Line], item: &str) -> f64 {
    lines
        .iter()
        .find(|line| line.item == item)
        .unwrap_or_else(|| panic!("no line {item}"))
        .usd
}

#[test]
fn vercel_pro_bills_metered_usage_less_the_plan_credit_and_the_cdn_by_its_flat_rate_tier() {
    let prices = VercelPrices::of(&Costs::default().vercel);
    assert_eq!(prices.plan, VercelPlan::Pro);
    assert_eq!(prices.cdn, CdnBilling::FlatRate);
    let mut month = usage();
    month.active_cpu_hours = 10.0; // Pro includes none: 10 x $0.128 = $1.28
    month.memory_gb_hours = 1_000.0; // $10.60
    month.invocations = 2e6; // $1.20
    month.origin_transfer_gb = 100.0; // $6.00
    month.image_transformations = 20_000.0; // 20 x $0.05 = $1.00
    month.image_cache_reads = 5e6; // 5 x $0.40 = $2.00
    month.image_cache_writes = 1e6; // $4.00
    month.edge_requests = 15e6; // beyond the $20 tier's 10M: the $100 tier
    month.transfer_gb = 1_100.0; // beyond the included 1 TB, inside 50 TB
    let mut notes = Vec::new();
    let lines = prices.bill(&month, &mut notes);
    close(item(&lines, "plan"), 20.0);
    close(item(&lines, "functions"), 1.28 + 10.60 + 1.20);
    close(item(&lines, "origin_transfer"), 6.0);
    close(item(&lines, "images"), 7.0);
    close(item(&lines, "cdn"), 100.0);
    // The credit covers metered usage only, not the tier's fixed price.
    close(item(&lines, "credit"), -20.0);
    close(total(&lines), 20.0 + 100.0 + (26.08 - 20.0));
    assert!(notes.iter().any(|n| n.contains("$100 tier")), "{notes:?}");
    // Within the included tier and under the credit: the seat alone.
    let mut small = usage();
    small.edge_requests = 1e6;
    small.transfer_gb = 1_000.0;
    small.invocations = 1e6;
    close(total(&prices.bill(&small, &mut Vec::new())), 20.0);
    // Beyond the largest tier (150M), on demand: 199M over 1M at $2.
    let mut huge = usage();
    huge.edge_requests = 200e6;
    let lines = prices.bill(&huge, &mut notes);
    close(item(&lines, "cdn"), 398.0);
    close(item(&lines, "credit"), -20.0);
}

#[test]
fn vercel_on_demand_cdn_bills_requests_and_transfer_per_unit() {
    let mut config = Costs::default().vercel;
    config.cdn = CdnBilling::OnDemand;
    let prices = VercelPrices::of(&config);
    let mut month = usage();
    month.edge_requests = 6e6; // 5M over 1M: $10.00
    month.transfer_gb = 1_100.0; // 100 GB over 1 TB: $15.00
    let lines = prices.bill(&month, &mut Vec::new());
    close(item(&lines, "cdn"), 25.0);
    close(total(&lines), 20.0 + 25.0 - 20.0);
}

#[test]
fn vercel_legacy_bills_wall_clock_gigabyte_hours() {
    let mut config = Costs::default().vercel;
    config.billing = VercelBilling::Legacy;
    let prices = VercelPrices::of(&config);
    let mut month = usage();
    month.wall_clock_gb_hours = 1_500.0; // 500 over 1,000 at $0.18: $90
    month.active_cpu_hours = 1_000.0; // not a legacy meter
    close(
        total(&prices.bill(&month, &mut Vec::new())),
        20.0 + 90.0 - 20.0,
    );
}

#[test]
fn vercel_hobby_over_its_included_amounts_says_it_needs_pro() {
    let mut config = Costs::default().vercel;
    config.plan = VercelPlan::Hobby;
    let prices = VercelPrices::of(&config);
    let mut month = usage();
    month.invocations = 2e6; // 1M over Hobby's 1M: $0.60
    month.edge_requests = 1e6; // exactly Hobby's 1M
    month.image_transformations = 5_000.0; // exactly Hobby's 5K
    let mut notes = Vec::new();
    close(total(&prices.bill(&month, &mut notes)), 0.60);
    assert_eq!(notes.len(), 1);
    assert!(notes[0].contains("needs Pro"), "{}", notes[0]);
}

#[test]
fn supabase_bills_compute_per_node_less_the_credit_and_usage_beyond_the_quotas() {
    let mut config = Costs::default().supabase;
    let pro = SupabasePrices::of(&config);
    // Micro: $0.01344 x 720 h = $9.68, inside the $10 credit.
    close(pro.compute_usd(Compute::Micro, 1), 0.0);
    // Large and one replica: $0.1517 x 720 x 2 = $218.448, less $10.
    close(pro.compute_usd(Compute::Large, 2), 218.448 - 10.0);
    config.plan = SupabasePlan::Team;
    // Team on Small: $0.0206 x 720 - $10.
    close(
        SupabasePrices::of(&config).compute_usd(Compute::Small, 1),
        4.832,
    );
    // The IPv4 add-on: $0.0055 an hour for each database, replicas included.
    close(SupabasePrices::ipv4_addon(2), 2.0 * 0.0055 * 720.0);
    // Egress, disk and monthly active users beyond Pro's 250 GB, 8 GB and
    // 100,000; a replica's disk (1.25 x 20 GB) in full.
    let loaded = parse(&scenario_text(
        "7d",
        "  compute: micro\n  disk_size: 20GB\n  read_replicas: 1\ncosts:\n  allow_short_horizon: true\n  supabase: { auth: true }\n",
    ));
    let stack = &loaded.scenario;
    let prices = SupabasePrices::of(&stack.costs.as_ref().expect("costs").supabase);
    let mut month = usage();
    month.db_egress_gb = 350.0;
    month.active_users = 150_000.0;
    let mut notes = Vec::new();
    let lines = prices.bill(stack, Compute::Micro, &month, &mut notes);
    close(item(&lines, "plan"), 25.0);
    close(item(&lines, "egress"), 100.0 * 0.09);
    close(item(&lines, "disk"), (12.0 + 25.0) * 0.125);
    close(item(&lines, "mau"), 50_000.0 * 0.00325);
    close(item(&lines, "ipv4"), 2.0 * 0.0055 * 720.0);
}

#[test]
fn upstash_fixed_plans_bill_a_flat_price_and_say_when_they_are_cheaper_or_throttle() {
    let mut month = usage();
    month.redis_commands = 20e6; // pay as you go: 19.5M over 500K at $0.20 per 100K = $39
    month.redis_peak_per_sec = 200.0;
    let mut config = Costs::default().upstash;
    let mut notes = Vec::new();
    let lines = UpstashPrices::of(&config).bill(&month, &mut notes);
    close(total(&lines), 39.0);
    assert!(
        notes.iter().any(|n| n.contains("fixed 250 MB ($10/month")),
        "{notes:?}"
    );
    config.plan = UpstashPlan::Fixed1gb;
    let mut notes = Vec::new();
    month.redis_peak_per_sec = 12_000.0;
    close(
        total(&UpstashPrices::of(&config).bill(&month, &mut notes)),
        20.0,
    );
    assert!(notes.iter().any(|n| n.contains("throttles")), "{notes:?}");
}

/// Vercel reaches only IPv4, so a priced scenario whose SQL goes direct
/// (IPv6 without the add-on) must buy the add-on or use Supavisor.
#[test]
fn direct_connections_from_vercel_need_the_ipv4_addon() {
    let costs = "  max_connections: 100\ncosts:\n  allow_short_horizon: true\n";
    let text = scenario_text("7d", costs).replace("  ipv4_addon: true\n", "");
    let error = scenario::parse(Path::new("case.yaml"), &text)
        .expect_err("IPv6 only")
        .to_string();
    assert!(
        error.contains("`database.ipv4_addon`: is needed: Vercel is IPv4-only"),
        "{error}"
    );
    let shared = text.replace(
        "  platform_connections: 10\n",
        "  platform_connections: 10\n  pooler: { enabled: true, kind: supavisor, default_pool_size: 15, round_trip: 2ms }\n",
    );
    parse(&shared);
    let loaded = parse(&scenario_text("7d", costs));
    let usage = usage();
    let bill = costs::bill(
        loaded.scenario.costs.as_ref().expect("costs"),
        &loaded.scenario,
        &usage,
    );
    assert!(
        bill.notes
            .iter()
            .any(|n| n.contains("IPv4 add-on on 1 database(s): $3.96"))
    );
}

#[test]
fn usage_is_scaled_to_a_thirty_day_month_before_free_amounts_are_subtracted() {
    // Measured: 10,000 s less 100 s of warm-up.
    let loaded = parse(&scenario_text(
        "10000s",
        "  compute: micro\ncosts: { allow_short_horizon: true }\n",
    ));
    let stack = &loaded.scenario;
    let scale = 30.0 * 86_400.0 / 9_900.0;
    let replication = Replication {
        tier: TierResults {
            invocations: 1_000,
            cpu_seconds: 3_600.0,
            redis_commands: 5_000,
            transfer_bytes: 1_000_000_000,
            ..TierResults::default()
        },
        ..Replication::default()
    };
    let month = Usage::month(stack, &replication);
    close(month.invocations, 1_000.0 * scale);
    close(month.active_cpu_hours, scale);
    close(month.transfer_gb, scale);
    close(month.redis_commands, 5_000.0 * scale);
    // 1,309,090.9 commands a month: 809,090.9 over the free 500,000.
    let costs = stack.costs.as_ref().expect("costs").clone();
    let bill = costs::bill(&costs, stack, &month);
    let upstash = bill
        .charges
        .iter()
        .find(|c| c.provider == "upstash")
        .expect("an Upstash charge");
    close(
        upstash.usd(),
        (5_000.0 * scale - 500_000.0) / 100_000.0 * 0.20,
    );
}

#[test]
fn a_projection_from_under_a_week_must_be_asked_for() {
    let error = scenario::parse(
        Path::new("case.yaml"),
        &scenario_text("2d", "  compute: micro\ncosts: {}\n"),
    )
    .expect_err("two days are too short for a month");
    let message = error.to_string();
    assert!(message.contains("allow_short_horizon"), "{message}");
    assert!(message.contains("case.yaml:"), "{message}");
}

fn replication_demanding(limit: u32, demanded: u64, replica_demanded: u64) -> Replication {
    Replication {
        tier: TierResults {
            primary: NodeResults {
                peak_demanded: demanded,
                connection_limit: limit,
                ..NodeResults::default()
            },
            replicas: vec![NodeResults {
                peak_demanded: replica_demanded,
                ..NodeResults::default()
            }],
            ..TierResults::default()
        },
        ..Replication::default()
    }
}

#[test]
fn auto_compute_moves_to_the_cheapest_size_that_covers_the_demand() {
    // Micro: 60 less 10 for the platform = 50 for the app.
    let covered = [replication_demanding(50, 50, 3)];
    assert_eq!(next_compute(Compute::Micro, &covered), None);
    // 75 needs 85 or more: Small's 90.
    let over = [
        replication_demanding(50, 40, 3),
        replication_demanding(50, 75, 3),
    ];
    assert_eq!(next_compute(Compute::Micro, &over), Some(Compute::Small));
    // A replica's demand counts too: 150 needs 160, Large.
    let replica = [replication_demanding(50, 10, 150)];
    assert_eq!(next_compute(Compute::Micro, &replica), Some(Compute::Large));
    // Beyond the ladder: the largest.
    let beyond = [replication_demanding(50, 900, 0)];
    assert_eq!(next_compute(Compute::Micro, &beyond), Some(Compute::Xl16));
    assert_eq!(next_compute(Compute::Xl16, &beyond), None);
}

#[test]
fn auto_compute_reruns_the_tier_on_the_compute_its_connections_need() {
    // 100 instances that never expire, each holding one connection once it
    // has served a query, under 95 erlangs (950 requests/s of 100 ms): all
    // 100 connect. Micro leaves 50, Small 80, Medium 110: Medium.
    let loaded = parse(&scenario_text(
        "600s",
        "  compute: auto\ncosts: { allow_short_horizon: true }\n",
    ));
    let runs =
        experiment::run(&[Plan::tiers(&loaded)], RunOptions::default()).expect("the pool starts");
    let run = &runs[0];
    assert!(run.tiers[0].auto_compute);
    let compute = run.stacks[0].database.compute.expect("a compute");
    assert_eq!(compute, Compute::Medium);
    for replication in &run.tiers[0].replications {
        assert_eq!(replication.tier.primary.peak_demanded, 100);
        assert_eq!(replication.tier.primary.connection_limit, 110);
    }
    let projection =
        costs::tier_costs(&run.stacks[0], &run.tiers[0].replications).expect("a projection");
    assert_eq!(projection.compute, Compute::Medium);
}

#[test]
fn a_tier_on_auto_compute_cannot_be_sharded() {
    let loaded = parse(&scenario_text(
        "600s",
        "  compute: auto\ncosts: { allow_short_horizon: true }\n",
    ));
    let result = experiment::run_shard(&[Plan::tiers(&loaded)], RunOptions::default(), 0, 2);
    assert!(matches!(result, Err(experiment::ShardError::AutoCompute)));
}
