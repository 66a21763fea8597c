//! Scenario composition: `extends` and `tiers[].set` merge key by key,
//! lists are replaced whole, and each tier runs on its own stack.

use std::fs;
use std::path::PathBuf;

use capsim::experiment::simulate;
use capsim::scenario;

fn baseline_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/autorev-baseline.yaml")
}

/// `child` as a file next to the baseline that extends it.
fn load_child(child: &str) -> scenario::Loaded {
    let text = format!("extends: autorev-baseline.yaml\nname: child\n{child}");
    scenario::parse(&baseline_path().with_file_name("child.yaml"), &text).expect("valid child")
}

#[test]
fn mappings_merge_and_lists_replace() {
    let loaded = load_child(
        "traffic:\n  bursts: []\n  daily_active_share: 10%\ndatabase: { max_connections: 90 }\n",
    );
    let scenario = &loaded.scenario;
    assert!(
        scenario.traffic.bursts.is_empty(),
        "the list is replaced whole"
    );
    assert_eq!(scenario.traffic.daily_active_share.0, 0.1);
    // Untouched keys of a merged mapping stay the base's.
    assert_eq!(scenario.traffic.sessions_per_active_user, 1.5);
    assert_eq!(scenario.database.max_connections(), Some(90));
    assert_eq!(scenario.database.cpus(), Some(2), "compute: micro stays");
    assert_eq!(scenario.routes.len(), 15);
    let base = scenario::load(&baseline_path()).expect("baseline loads");
    assert_eq!(base.scenario.name, "autorev-baseline");
    assert_eq!(scenario.name, "child");
}

#[test]
fn each_tier_runs_on_the_stack_its_set_makes() {
    let loaded = load_child(
        "database: { db_access: sql, ipv4_addon: true }\ntiers:\n  - { name: direct, users: 1000 }\n  - name: pooled\n    users: 1000\n    set: { database: { pooler: { enabled: true, default_pool_size: 4 } } }\n",
    );
    assert!(!loaded.stack(0).database.pooled());
    assert!(loaded.stack(1).database.pooled());
    assert!(
        !loaded.scenario.database.pooled(),
        "the scenario itself is unchanged"
    );
    let direct = simulate(loaded.stack(0), 1000, 0);
    let pooled = simulate(loaded.stack(1), 1000, 0);
    // Same users, same replication: the same traffic reaches both stacks.
    assert_eq!(direct.tier.requests, pooled.tier.requests);
    assert!(direct.tier.primary.pooler.is_none());
    let pooler = pooled.tier.primary.pooler.expect("a pooler");
    assert!(pooler.servers.peak_busy <= 4);
    assert!(pooler.peak_clients >= 1);
}

#[test]
fn the_shipped_pooler_scenario_switches_the_pooler_on_from_tier_3() {
    let path = baseline_path().with_file_name("autorev-pooler.yaml");
    let loaded = scenario::load(&path).expect("shipped scenario loads");
    let pooled: Vec<bool> = (0..4).map(|t| loaded.stack(t).database.pooled()).collect();
    assert_eq!(pooled, [false, false, true, true]);
    assert!(
        fs::read_to_string(&path)
            .expect("readable")
            .contains("extends: autorev-baseline.yaml")
    );
}
