//! capsim against real software: a private PostgreSQL cluster and a
//! PgBouncer in transaction mode on loopback ports, loaded by pgbench.
//!
//! The tests install nothing. Without PostgreSQL's server binaries,
//! PgBouncer or pgbench they skip with a message, unless
//! `CAPSIM_REQUIRE_TESTBED=1` (set by `.ci/run`, which installs them), under
//! which a missing testbed fails. Run as root (as in CI), the servers run as
//! the `postgres` user. Servers are stopped when their guard drops, on a
//! failed assertion too.
//!
//! The workload is one statement, `pg_sleep` of a lognormal time (median
//! 15 ms, sigma 0.5, drawn by the server): it holds its connection without
//! using a CPU, so what is checked is PgBouncer's queue for server
//! connections, the model under test, and not how two shared cores
//! schedule the servers, the client and the rest of the test suite.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use capsim::calibrate::{
    Calibration, ClientLatencies, Exports, LoggedTransaction, QueryTimeFit,
    read_pgbench_transactions, read_pooler_stats,
};
use capsim::experiment::simulate;

use crate::validation::replications;
use capsim::model::{Outcome, Replication};
use capsim::scenario::{self, Scenario};
use capsim::stats::{Estimate, estimate};

/// The transaction pgbench sends: a lognormal sleep by Box-Muller on the
/// server (`1 - random()` is never 0). `pg_sleep` waits in whole
/// milliseconds, rounded up, so the holding time is a little longer and
/// lumpier than the draw: the calibration measures what it is.
const TRANSACTION: &str =
    "SELECT pg_sleep(0.015 * exp(0.5 * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random())));\n";

/// pgbench's clients: far more than the transactions in flight near
/// utilisation 0.9, so a transaction never waits for a free client.
const CLIENTS: u32 = 100;

/// The programs the testbed runs.
struct Tools {
    /// PostgreSQL's server binaries (initdb, postgres).
    server_bin: PathBuf,
    pgbouncer: PathBuf,
    psql: PathBuf,
    pgbench: PathBuf,
}

/// The first existing file of `candidates`.
fn first_existing(candidates: impl IntoIterator<Item = PathBuf>) -> Option<PathBuf> {
    candidates.into_iter().find(|p| p.is_file())
}

impl Tools {
    /// The installed tools, or why the testbed cannot run.
    fn find() -> Result<Self, String> {
        // Debian installs each major version under /usr/lib/postgresql/N/bin.
        let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .map(|dir| dir.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        versions.sort();
        let server_bin = versions
            .iter()
            .rev()
            .map(|v| v.join("bin"))
            .find(|bin| bin.join("postgres").is_file() && bin.join("initdb").is_file())
            .ok_or("no PostgreSQL server under /usr/lib/postgresql (Debian: postgresql)")?;
        let in_path = |name: &str| {
            let mut candidates: Vec<PathBuf> = std::env::var_os("PATH")
                .map(|path| std::env::split_paths(&path).map(|d| d.join(name)).collect())
                .unwrap_or_default();
            candidates.push(server_bin.join(name));
            candidates.push(Path::new("/usr/sbin").join(name));
            first_existing(candidates)
        };
        Ok(Self {
            pgbouncer: in_path("pgbouncer").ok_or("no pgbouncer (Debian: pgbouncer)")?,
            psql: in_path("psql").ok_or("no psql (Debian: postgresql-client)")?,
            pgbench: in_path("pgbench").ok_or("no pgbench (Debian: postgresql-client)")?,
            server_bin,
        })
    }
}

/// The tools, or `None` after saying why the test skips; a missing testbed
/// fails under `CAPSIM_REQUIRE_TESTBED=1`.
fn testbed_tools(test: &str) -> Option<Tools> {
    match Tools::find() {
        Ok(tools) => Some(tools),
        Err(why) => {
            assert!(
                std::env::var("CAPSIM_REQUIRE_TESTBED").as_deref() != Ok("1"),
                "{test}: the testbed is required (CAPSIM_REQUIRE_TESTBED=1) but {why}"
            );
            eprintln!("{test}: skipped, {why}; .ci/run installs the testbed");
            None
        }
    }
}

/// A free loopback port.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// The `postgres` user's uid and gid when running as root: PostgreSQL and
/// PgBouncer refuse to run as root.
fn server_user() -> Option<(u32, u32)> {
    let id = |flag: &str| {
        let out = Command::new("id").args([flag]).output().expect("id runs");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse::<u32>()
            .ok()
    };
    if id("-u") != Some(0) {
        return None;
    }
    let of_postgres = |flag: &str| {
        let out = Command::new("id")
            .args([flag, "postgres"])
            .output()
            .expect("id runs");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse::<u32>()
            .expect("running as root, the testbed needs a `postgres` user (Debian's postgresql package makes it)")
    };
    Some((of_postgres("-u"), of_postgres("-g")))
}

/// `program` as the servers' user.
fn as_server_user(program: &Path, user: Option<(u32, u32)>) -> Command {
    use std::os::unix::process::CommandExt;
    let mut command = Command::new(program);
    if let Some((uid, gid)) = user {
        command.uid(uid).gid(gid);
    }
    command
}

/// Niceness of the testbed's processes when run as root: ahead of the rest
/// of the suite, whose simulations keep both cores busy. What is measured
/// is the servers' queue, and a server kept waiting for a core adds noise
/// (a run's 95% CI went from ±2.6% alone to ±5.8% beside the suite).
const TESTBED_NICENESS: &str = "-10";

/// Raises process `pid` (and the threads and processes it starts from now
/// on) ahead of the suite, when running as root; elsewhere leaves it.
fn prioritise(pid: u32, user: Option<(u32, u32)>) {
    if user.is_some() {
        let _ = Command::new("renice")
            .args(["-n", TESTBED_NICENESS, "-p", &pid.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Runs `command` to completion; panics with its output if it fails.
fn run(command: &mut Command, what: &str) -> String {
    let output = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        output.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Stops a server process: SIGQUIT (PostgreSQL's immediate shutdown;
/// PgBouncer exits too), then SIGKILL if it lingers.
fn stop(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-QUIT", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// `program` (psql) to `database` on `port` as `postgres`, CSV output.
fn psql(program: &Path, port: u16, database: &str, sql: &str) -> Command {
    let mut command = Command::new(program);
    command
        .env("PGCONNECT_TIMEOUT", "10")
        .args([
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "--csv",
            "-h",
            "127.0.0.1",
        ])
        .args([
            "-p",
            &port.to_string(),
            "-U",
            "postgres",
            "-d",
            database,
            "-c",
            sql,
        ]);
    command
}

/// Waits up to 60 s until `sql` runs on `port`'s `database`; panics with
/// the server's `log` if `server` exits first or the time runs out.
fn wait_ready(
    psql_program: &Path,
    server: &mut Child,
    (port, database, sql): (u16, &str, &str),
    log: &Path,
) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let log = || std::fs::read_to_string(log).unwrap_or_default();
    while !psql(psql_program, port, database, sql)
        .output()
        .is_ok_and(|o| o.status.success())
    {
        if let Ok(Some(status)) = server.try_wait() {
            panic!("the server exited ({status}): {}", log());
        }
        assert!(Instant::now() < deadline, "not ready in 60 s: {}", log());
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A private PostgreSQL cluster on a loopback port, with a `bench`
/// database, pg_stat_statements, and a login role `app` (no superuser).
struct Cluster {
    tools: Tools,
    dir: tempfile::TempDir,
    user: Option<(u32, u32)>,
    port: u16,
    postgres: Child,
}

impl Cluster {
    fn start(tools: Tools, max_connections: u32) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let user = server_user();
        if let Some((uid, gid)) = user {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).expect("chown");
        }
        let data = dir.path().join("data");
        run(
            as_server_user(&tools.server_bin.join("initdb"), user)
                .current_dir(dir.path())
                .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
                .arg(&data),
            "initdb",
        );
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("postgres.log")).expect("log file");
        let postgres = as_server_user(&tools.server_bin.join("postgres"), user)
            .current_dir(dir.path())
            .arg("-D")
            .arg(&data)
            .args(["-c", "listen_addresses=127.0.0.1"])
            .args(["-c", &format!("port={port}")])
            .arg("-c")
            .arg(format!("unix_socket_directories={}", dir.path().display()))
            .args(["-c", &format!("max_connections={max_connections}")])
            // No slots kept back for superusers: `app` may use them all.
            .args(["-c", "superuser_reserved_connections=0"])
            .args(["-c", "shared_preload_libraries=pg_stat_statements"])
            .args(["-c", "fsync=off"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("postgres starts");
        // Backends fork from the postmaster per connection, inheriting this.
        prioritise(postgres.id(), user);
        let mut postgres = postgres;
        wait_ready(
            &tools.psql,
            &mut postgres,
            (port, "postgres", "SELECT 1"),
            &dir.path().join("postgres.log"),
        );
        let cluster = Self {
            tools,
            dir,
            user,
            port,
            postgres,
        };
        cluster.sql("postgres", "CREATE DATABASE bench");
        cluster.sql("postgres", "CREATE ROLE app LOGIN");
        cluster.sql("bench", "CREATE EXTENSION pg_stat_statements;");
        cluster
    }

    /// psql to `database` on `port` as `postgres`, CSV output.
    fn psql(&self, port: u16, database: &str, sql: &str) -> Command {
        psql(&self.tools.psql, port, database, sql)
    }

    /// Runs `sql` in `database`; its CSV output.
    fn sql(&self, database: &str, sql: &str) -> String {
        run(&mut self.psql(self.port, database, sql), sql)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes the `bench` database's pg_stat_statements to `name`, as a
    /// team would export it.
    fn export_statements(&self, name: &str) -> PathBuf {
        self.export(
            (self.port, "bench"),
            "SELECT query, calls, mean_exec_time, stddev_exec_time, rows FROM pg_stat_statements \
             WHERE dbid = (SELECT oid FROM pg_database WHERE datname = 'bench')",
            name,
        )
    }

    /// Writes what `sql` returns from `port`'s `database`, as CSV, to file
    /// `name` in the cluster's folder.
    fn export(&self, (port, database): (u16, &str), sql: &str, name: &str) -> PathBuf {
        let csv = run(&mut self.psql(port, database, sql), sql);
        let path = self.path(name);
        std::fs::write(&path, csv).expect("writable");
        path
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        stop(&mut self.postgres);
    }
}

/// A PgBouncer in transaction mode in front of a cluster's `bench`.
struct Bouncer {
    port: u16,
    process: Child,
}

impl Bouncer {
    fn start(cluster: &Cluster, pool_size: u32, max_client_conn: u32) -> Self {
        let port = free_port();
        let users = cluster.path("userlist.txt");
        std::fs::write(&users, "\"postgres\" \"\"\n\"app\" \"\"\n").expect("writable");
        let config = cluster.path(&format!("pgbouncer-{port}.ini"));
        std::fs::write(
            &config,
            format!(
                "[databases]\n\
                 bench = host=127.0.0.1 port={} dbname=bench\n\
                 [pgbouncer]\n\
                 listen_addr = 127.0.0.1\n\
                 listen_port = {port}\n\
                 unix_socket_dir =\n\
                 auth_type = trust\n\
                 auth_file = {}\n\
                 admin_users = postgres\n\
                 pool_mode = transaction\n\
                 default_pool_size = {pool_size}\n\
                 reserve_pool_size = 0\n\
                 max_client_conn = {max_client_conn}\n\
                 server_idle_timeout = 3600\n\
                 logfile = {}\n",
                cluster.port,
                users.display(),
                cluster.path(&format!("pgbouncer-{port}.log")).display()
            ),
        )
        .expect("writable");
        if let Some((uid, gid)) = cluster.user {
            for path in [&users, &config] {
                std::os::unix::fs::chown(path, Some(uid), Some(gid)).expect("chown");
            }
        }
        let process = as_server_user(&cluster.tools.pgbouncer, cluster.user)
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("pgbouncer starts");
        prioritise(process.id(), cluster.user);
        let mut bouncer = Self { port, process };
        wait_ready(
            &cluster.tools.psql,
            &mut bouncer.process,
            (port, "pgbouncer", "SHOW VERSION"),
            &cluster.path(&format!("pgbouncer-{port}.log")),
        );
        bouncer
    }

    /// Writes `SHOW STATS` to `name` in the cluster's folder.
    fn export_stats(&self, cluster: &Cluster, name: &str) -> PathBuf {
        cluster.export((self.port, "pgbouncer"), "SHOW STATS", name)
    }
}

impl Drop for Bouncer {
    fn drop(&mut self) {
        stop(&mut self.process);
    }
}

/// pgbench at `rate` transactions a second (Poisson; latency from the
/// scheduled start) for `seconds` through `bouncer`, as `app`; returns its
/// per-transaction logs (one per thread).
fn pgbench(
    cluster: &Cluster,
    bouncer: &Bouncer,
    rate: f64,
    seconds: u32,
    name: &str,
) -> Vec<PathBuf> {
    let script = cluster.path("transaction.sql");
    std::fs::write(&script, TRANSACTION).expect("writable");
    run(
        // Its threads start after exec, so it is niced before: `nice`.
        Command::new(if cluster.user.is_some() {
            "nice"
        } else {
            "env"
        })
        .args(if cluster.user.is_some() {
            vec!["-n", TESTBED_NICENESS]
        } else {
            vec![]
        })
        .arg(&cluster.tools.pgbench)
        .current_dir(cluster.dir.path())
        .args(["-n", "-f"])
        .arg(&script)
        .args(["-c", &CLIENTS.to_string(), "-j", "2"])
        .args(["-R", &format!("{rate:.3}"), "-T", &seconds.to_string()])
        .arg("-l")
        .arg(format!("--log-prefix={}", cluster.path(name).display()))
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &bouncer.port.to_string(),
            "-U",
            "app",
            "bench",
        ]),
        "pgbench",
    );
    let mut logs: Vec<PathBuf> = std::fs::read_dir(cluster.dir.path())
        .expect("readable")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            // pgbench names them <prefix>.<pid>[.<thread>].
            p.file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_prefix(&format!("{name}.")))
                .is_some_and(|rest| rest.chars().all(|c| c.is_ascii_digit() || c == '.'))
        })
        .collect();
    logs.sort();
    assert!(!logs.is_empty(), "pgbench wrote no log");
    logs
}

/// Calibrates from a light-load run of `seconds` (utilisation about 0.3 of
/// a pool of 8 at the workload's nominal 18 ms): pg_stat_statements, SHOW
/// STATS and pgbench's log, through `capsim calibrate` as a team would run
/// it. Its length sets the holding time's precision, which near
/// saturation moves the waits several times over: 60 s are about 8,000
/// transactions, a mean within 1.1% (95%; the executions' coefficient of
/// variation is about 0.5).
fn calibrate(cluster: &Cluster, seconds: u32) -> Calibration {
    let bouncer = Bouncer::start(cluster, 8, 200);
    cluster.sql("bench", "SELECT pg_stat_statements_reset()");
    let logs = pgbench(cluster, &bouncer, 0.3 * 8.0 / 0.018, seconds, "calibration");
    let exports = Exports {
        pg_stat_statements: cluster.export_statements("statements.csv"),
        pgbouncer_stats: Some(bouncer.export_stats(cluster, "stats.csv")),
        pgbench_logs: logs,
        pgbench_warmup_secs: 5,
    };
    let out = cluster.path("calibrated");
    let mut command = assert_cmd::Command::cargo_bin("capsim").expect("built");
    command
        .arg("calibrate")
        .arg("--pg-stat-statements")
        .arg(&exports.pg_stat_statements)
        .arg("--pgbouncer-stats")
        .arg(exports.pgbouncer_stats.as_ref().expect("given"))
        .arg("--pgbench-warmup")
        .arg("5")
        .arg("--pgbench-log")
        .args(&exports.pgbench_logs)
        .arg("--out")
        .arg(&out);
    let output = command.output().expect("capsim calibrate runs");
    assert!(output.status.success(), "{output:?}");
    eprintln!("{}", String::from_utf8_lossy(&output.stdout));
    Calibration::of(&exports).expect("the testbed's exports calibrate")
}

/// A load point: a pool size and an arrival rate.
#[derive(Clone, Copy, Debug)]
struct Point {
    pool_size: u32,
    /// The utilisation aimed at, of the calibrated holding time.
    utilisation: f64,
}

impl Point {
    fn rate(self, calibration: &Calibration) -> f64 {
        self.utilisation * f64::from(self.pool_size) / (calibration.query_time.mean_ms / 1_000.0)
    }
}

/// The testbed as a capsim scenario: Poisson arrivals at `rate` (users /
/// 86,400 s, one request a day each, a flat profile) to one instance that
/// holds a client connection per pgbench client; each request spends the
/// calibrated outside time (as its handler), then runs one query through
/// PgBouncer in transaction mode, holding a server connection for the
/// calibrated holding time.
fn scenario_text(calibration: &Calibration, point: Point, rate: f64) -> String {
    let fit = &calibration.query_time;
    let outside_us = (calibration.outside_ms().expect("pgbench logs given") * 1_000.0).round();
    let users = (rate * 86_400.0).round() as u64;
    format!(
        "name: testbed-pgbouncer\n\
         seed: 5\n\
         replications: 10\n\
         start: 2025-01-06\n\
         horizon: 1800s\n\
         warmup: 60s\n\
         tiers:\n  - {{ name: testbed, users: {users} }}\n\
         slo: {{ p95_latency: 10s, error_rate: 1% }}\n\
         traffic:\n  daily_active_share: 100%\n  sessions_per_active_user: 1\n\
         \x20 requests_per_session: {{ dist: constant, value: 1 }}\n\
         \x20 think_time: {{ dist: constant, value: 1s }}\n\
         \x20 daily_profile: [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n\
         routes:\n  - name: transaction\n    weight: 1\n    function: pgbench\n    queries: 1\n\
         \x20   handler_time: {{ dist: constant, value: {outside_us}us }}\n\
         functions:\n  - name: pgbench\n    model: fluid\n    concurrency: 100000\n\
         \x20   cold_start: {{ dist: constant, value: 0s }}\n    idle_timeout: 30d\n\
         \x20   min_instances: 1\n    max_instances: 1\n    overflow: queue\n    max_duration: 1d\n\
         database:\n  max_connections: 100\n  connections_per_instance: {CLIENTS}\n\
         \x20 connect_time: {{ dist: constant, value: 3ms }}\n\
         \x20 query_time: {{ dist: lognormal, median: {:.4}ms, p95: {:.4}ms }}\n\
         \x20 statement_timeouts: {{ postgres: 0s }}\n\
         \x20 pooler:\n    enabled: true\n    mode: transaction\n    default_pool_size: {}\n\
         \x20   max_client_conn: 1000\n    query_wait_timeout: 1d\n    server_idle_timeout: 1d\n",
        fit.median_ms, fit.p95_ms, point.pool_size
    )
}

/// Loads scenario `text` through a file, as a user's would be.
fn load_text(dir: &Path, text: &str) -> Scenario {
    let path = dir.join("testbed-scenario.yaml");
    std::fs::write(&path, text).expect("writable");
    scenario::load(&path)
        .unwrap_or_else(|e| panic!("{e}\n{text}"))
        .scenario
}

/// capsim's mean and p95 latency, ms, over replications.
/// `calibration` with its holding time's mean set to `hold_ms` (the same
/// spread).
fn with_hold(calibration: &Calibration, hold_ms: f64) -> Calibration {
    let fit = calibration.query_time;
    let mut other = calibration.clone();
    other.query_time = QueryTimeFit::lognormal(fit.calls, hold_ms, fit.stddev_ms);
    other
}

/// The 95% confidence interval of the calibrated mean holding time, ms.
fn hold_interval(calibration: &Calibration) -> (f64, f64) {
    let fit = calibration.query_time;
    let half = 1.96 * fit.stddev_ms / (fit.calls as f64).sqrt();
    (fit.mean_ms - half, fit.mean_ms + half)
}

fn predict(
    cluster: &Cluster,
    calibration: &Calibration,
    point: Point,
    rate: f64,
) -> (Estimate, Estimate) {
    let scenario = load_text(cluster.dir.path(), &scenario_text(calibration, point, rate));
    let runs = replications(&scenario);
    let of = |measure: fn(&Replication) -> Option<f64>| {
        estimate(
            &runs
                .iter()
                .map(|r| measure(r).unwrap_or(f64::NAN))
                .collect::<Vec<_>>(),
        )
    };
    (
        of(|r| r.tier.mean_latency_ms),
        of(|r| r.tier.latency.p95_ms),
    )
}

/// What pgbench measured in a run, with the noise of its mean and p95 by
/// batch means: the run cut into 10 equal spans of time, each span's mean
/// and p95 a sample (spans of seconds are far longer than the queue's
/// memory below utilisation 0.9).
struct Measured {
    latencies: ClientLatencies,
    mean_ms: Estimate,
    p95_ms: Estimate,
}

impl Measured {
    fn of(logs: &[PathBuf], warmup_secs: u64) -> Self {
        let all = read_pgbench_transactions(logs).expect("pgbench's logs read");
        let first = all.iter().map(|t| t.end_us).min().expect("transactions");
        let from = first + warmup_secs * 1_000_000;
        let to = all.iter().map(|t| t.end_us).max().expect("transactions") + 1;
        let kept: Vec<LoggedTransaction> = all.into_iter().filter(|t| t.end_us >= from).collect();
        let latencies = ClientLatencies::of(Vec::new(), &kept).expect("latencies");
        const BATCHES: u64 = 10;
        let batch = |i: u64| {
            let (start, end) = (
                from + (to - from) * i / BATCHES,
                from + (to - from) * (i + 1) / BATCHES,
            );
            let spans: Vec<LoggedTransaction> = kept
                .iter()
                .copied()
                .filter(|t| (start..end).contains(&t.end_us))
                .collect();
            ClientLatencies::of(Vec::new(), &spans).expect("every span has transactions")
        };
        let batches: Vec<ClientLatencies> = (0..BATCHES).map(batch).collect();
        let of = |value: fn(&ClientLatencies) -> f64| {
            let mut estimate = estimate(&batches.iter().map(value).collect::<Vec<_>>());
            // Centred on the whole run's figure; the half-width is the batches'.
            estimate.mean = value(&latencies);
            estimate
        };
        Self {
            mean_ms: of(|l| l.mean_ms),
            p95_ms: of(|l| l.p95_ms),
            latencies,
        }
    }
}

/// One point measured on the testbed and predicted by capsim.
struct Comparison {
    point: Point,
    rate: f64,
    measured: Measured,
    predicted_mean: Estimate,
    predicted_p95: Estimate,
    /// PgBouncer's mean hold in this run, ms: how far the calibration's is
    /// from what this run's transactions held.
    hold_ms: f64,
}

impl Comparison {
    /// (what, measured, predicted), mean and p95.
    fn figures(&self) -> [(&'static str, Estimate, Estimate); 2] {
        [
            ("mean", self.measured.mean_ms, self.predicted_mean),
            ("p95", self.measured.p95_ms, self.predicted_p95),
        ]
    }

    fn row(&self) -> String {
        let mut row = format!(
            "| {} | {:.2} | {:.1} | {:.2} | {} |",
            self.point.pool_size,
            self.point.utilisation,
            self.rate,
            self.hold_ms,
            self.measured.latencies.transactions
        );
        for (_, measured, predicted) in self.figures() {
            row += &format!(
                " {:.2} ± {:.2} | {:.2} ± {:.2} ({:+.1}%) |",
                measured.mean,
                measured.half_width,
                predicted.mean,
                predicted.half_width,
                (predicted.mean / measured.mean - 1.0) * 100.0
            );
        }
        row
    }
}

/// Measures `point` on the testbed for `seconds` (after 10 s left out)
/// and predicts it.
fn compare(
    cluster: &Cluster,
    calibration: &Calibration,
    point: Point,
    seconds: u32,
    name: &str,
) -> Comparison {
    let rate = point.rate(calibration);
    let (measured, hold_ms) = {
        let bouncer = Bouncer::start(cluster, point.pool_size, 200);
        let logs = pgbench(cluster, &bouncer, rate, seconds + 10, name);
        let stats = read_pooler_stats(&bouncer.export_stats(cluster, &format!("{name}-stats.csv")))
            .expect("SHOW STATS reads");
        (Measured::of(&logs, 10), stats.mean_hold_ms())
    };
    let (predicted_mean, predicted_p95) = predict(cluster, calibration, point, rate);
    Comparison {
        point,
        rate,
        measured,
        predicted_mean,
        predicted_p95,
        hold_ms,
    }
}

const TABLE_HEADER: &str = "| pool | utilisation | rate /s | run's hold ms | transactions | mean ms: measured | capsim | p95 ms: measured | capsim |\n|---|---|---|---|---|---|---|---|---|";

/// What a point says of capsim's figure (mean or p95).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Verdict {
    /// Within 10% of the testbed: the relative error.
    Within(f64),
    /// Further off: the relative error.
    Off(f64),
    /// The run's own 95% CI exceeds 5% of its value (given): too short to
    /// tell 10% from its noise, so it judges nothing.
    NotJudged(f64),
}

/// The verdicts on `comparison`'s mean and p95, at utilisation up to 0.8.
fn verdicts(comparison: &Comparison) -> [(&'static str, Verdict); 2] {
    comparison.figures().map(|(what, measured, predicted)| {
        let noise = measured.half_width / measured.mean;
        let error = predicted.mean / measured.mean - 1.0;
        let verdict = if noise > 0.05 {
            Verdict::NotJudged(noise)
        } else if error.abs() <= 0.10 {
            Verdict::Within(error)
        } else {
            Verdict::Off(error)
        };
        (what, verdict)
    })
}

/// Requires capsim within 10% of `comparison`, judged.
fn assert_within_ten_percent(comparison: &Comparison) {
    for (what, verdict) in verdicts(comparison) {
        assert!(
            matches!(verdict, Verdict::Within(_)),
            "{what} latency at pool {} utilisation {}: {verdict:?} (a run whose CI exceeds 5% must run longer): {}",
            comparison.point.pool_size,
            comparison.point.utilisation,
            comparison.row()
        );
    }
}

/// Prints the comparisons as the README's table.
fn print_table(calibration: &Calibration, comparisons: &[Comparison]) {
    eprintln!(
        "calibrated holding time {:.3} ms (sd {:.3} ms), outside the connection {:.3} ms",
        calibration.query_time.mean_ms,
        calibration.query_time.stddev_ms,
        calibration.outside_ms().unwrap_or(f64::NAN)
    );
    eprintln!("{TABLE_HEADER}");
    for comparison in comparisons {
        eprintln!("{}", comparison.row());
    }
}

/// Measures `points` one after another, `seconds` each; their files are
/// named `<prefix><index>`.
fn measure(
    cluster: &Cluster,
    calibration: &Calibration,
    points: &[Point],
    seconds: u32,
    prefix: &str,
) -> Vec<Comparison> {
    points
        .iter()
        .enumerate()
        .map(|(i, &point)| {
            compare(
                cluster,
                calibration,
                point,
                seconds,
                &format!("{prefix}{i}"),
            )
        })
        .collect()
}

/// The CI's three points after a 45-s calibration: pools of 8 and 16 at
/// utilisation 0.5 and 0.7, 60 s each but the pool of 8 at 0.7, 120 s:
/// long enough for a 95% CI under 5% even beside the rest of the suite.
/// Its p95 at 60 s came out within ±3.8% in most runs but ±7.0% in one
/// (batch means of 10 spans estimate their own spread loosely), so it
/// runs twice as long (±5% / sqrt 2 at that worst). A pool of 8 at 0.8
/// came out at ±5.8% in one such run; a pool of 2 needs minutes: the grid
/// below.
#[test]
fn capsim_predicts_pgbouncer_transaction_mode_latency() {
    let Some(tools) = testbed_tools("capsim_predicts_pgbouncer_transaction_mode_latency") else {
        return;
    };
    let cluster = Cluster::start(tools, 50);
    let calibration = calibrate(&cluster, 45);
    let point = |pool_size, utilisation| Point {
        pool_size,
        utilisation,
    };
    let comparisons: Vec<Comparison> = [
        (point(8, 0.5), 60),
        (point(16, 0.7), 60),
        (point(8, 0.7), 120),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, (point, seconds))| {
        compare(&cluster, &calibration, point, seconds, &format!("point{i}"))
    })
    .collect();
    print_table(&calibration, &comparisons);
    comparisons.iter().for_each(assert_within_ten_percent);
}

/// The grid to utilisation 0.8 (about 30 minutes; the README's table):
/// pools of 2, 4 and 8 at utilisation 0.3 to 0.8, 2 minutes each, within
/// 10% wherever a run's CI is under 5% (the others are listed as not
/// judged: a pool of 2 near 0.8 would need some 20 minutes a point). Run
/// with the next one by `cargo test --release testbed::grid -- --ignored
/// --nocapture`.
#[test]
#[ignore = "30 minutes; the README's testbed grid"]
fn grid_to_utilisation_0_8() {
    let Some(tools) = testbed_tools("grid_to_utilisation_0_8") else {
        return;
    };
    let cluster = Cluster::start(tools, 50);
    let calibration = calibrate(&cluster, 120);
    let grid: Vec<Point> = [2, 4, 8]
        .into_iter()
        .flat_map(|pool_size| {
            [0.3, 0.5, 0.7, 0.8].map(|utilisation| Point {
                pool_size,
                utilisation,
            })
        })
        .collect();
    let comparisons = measure(&cluster, &calibration, &grid, 120, "grid");
    print_table(&calibration, &comparisons);
    let mut failures: Vec<String> = Vec::new();
    for comparison in &comparisons {
        for (what, verdict) in verdicts(comparison) {
            let point = comparison.point;
            match verdict {
                Verdict::Within(_) => {}
                Verdict::Off(error) => failures.push(format!(
                    "pool {} at {}: capsim's {what} off by {:+.1}%",
                    point.pool_size,
                    point.utilisation,
                    error * 100.0
                )),
                Verdict::NotJudged(noise) => eprintln!(
                    "pool {} at {}: {what} not judged, the run's CI is ±{:.1}%",
                    point.pool_size,
                    point.utilisation,
                    noise * 100.0
                ),
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Near saturation (about 15 minutes): utilisation 0.9 with pools of 4
/// and 8, three 2-minute repeats each. There the calibration's own error
/// matters: its mean holding time is known to within its 95% interval
/// (about ±0.8% from 2 minutes), and 1% of holding time moves the waits by
/// over 10%. So capsim predicts at both ends of that interval, and the
/// band between must meet the repeats' range. capsim at each run's own
/// holding time (PgBouncer's, in that run) is printed beside, to tell the
/// queue model's error from the calibration's.
#[test]
#[ignore = "15 minutes; the README's testbed grid"]
fn grid_near_saturation() {
    let Some(tools) = testbed_tools("grid_near_saturation") else {
        return;
    };
    let cluster = Cluster::start(tools, 50);
    let calibration = calibrate(&cluster, 120);
    let points: Vec<Point> = [4, 8]
        .into_iter()
        .flat_map(|pool_size| {
            [Point {
                pool_size,
                utilisation: 0.9,
            }; 3]
        })
        .collect();
    let repeats = measure(&cluster, &calibration, &points, 120, "repeat");
    print_table(&calibration, &repeats);
    let (low_hold, high_hold) = hold_interval(&calibration);
    eprintln!("calibrated holding time's 95% interval: {low_hold:.3} to {high_hold:.3} ms");
    let mut failures: Vec<String> = Vec::new();
    for runs in repeats.chunks(3) {
        let point = runs[0].point;
        let rate = runs[0].rate;
        let band = [low_hold, high_hold]
            .map(|hold| predict(&cluster, &with_hold(&calibration, hold), point, rate));
        for figure in 0..2 {
            let values: Vec<f64> = runs.iter().map(|r| r.figures()[figure].1.mean).collect();
            let (low, high) = values
                .iter()
                .fold((f64::MAX, f64::MIN), |(l, h), &v| (l.min(v), h.max(v)));
            let (what, _, predicted) = runs[0].figures()[figure];
            let pick = |(mean, p95): (Estimate, Estimate)| if figure == 0 { mean } else { p95 };
            let (band_low, band_high) = (pick(band[0]).mean, pick(band[1]).mean);
            let own: Vec<f64> = runs
                .iter()
                .map(|r| {
                    pick(predict(
                        &cluster,
                        &with_hold(&calibration, r.hold_ms),
                        point,
                        rate,
                    ))
                    .mean
                })
                .collect();
            eprintln!(
                "pool {} at 0.9: {what} repeats {values:.2?} (spread {:.1}% of the lowest); capsim {:.2}, {band_low:.2} to {band_high:.2} over the holding time's interval; at each run's own holding time {own:.2?}",
                point.pool_size,
                (high / low - 1.0) * 100.0,
                predicted.mean
            );
            if band_high < low || band_low > high {
                failures.push(format!(
                    "pool {} at 0.9: capsim's {what} band {band_low:.2} to {band_high:.2} misses the repeats' {values:.2?}",
                    point.pool_size
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// What a server answered a connection's startup.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Startup {
    /// Ready for queries: the connection is open.
    Ready,
    /// An ErrorResponse: its SQLSTATE and message.
    Refused { code: String, message: String },
}

/// Opens a connection to `port` as `user` on `database` speaking
/// PostgreSQL's protocol (version 3, trust authentication), and says what
/// the server answered; the stream stays open while it is held.
fn open(port: u16, user: &str, database: &str) -> (TcpStream, Startup) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("the server listens");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("a timeout");
    let mut body = 196_608u32.to_be_bytes().to_vec();
    for (key, value) in [("user", user), ("database", database)] {
        body.extend(key.as_bytes());
        body.push(0);
        body.extend(value.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut message = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    message.extend(body);
    stream.write_all(&message).expect("startup sent");
    loop {
        let mut header = [0u8; 5];
        stream.read_exact(&mut header).expect("the server answers");
        let length = u32::from_be_bytes(header[1..].try_into().expect("4 bytes")) as usize;
        let mut body = vec![0; length - 4];
        stream.read_exact(&mut body).expect("the whole message");
        match header[0] {
            b'Z' => return (stream, Startup::Ready),
            b'R' => assert_eq!(&body[..4], &[0, 0, 0, 0], "trust authentication"),
            b'E' => {
                // Fields: a type byte and a NUL-terminated string each.
                let field = |kind: u8| {
                    body.split(|&b| b == 0)
                        .find(|f| f.first() == Some(&kind))
                        .map(|f| String::from_utf8_lossy(&f[1..]).into_owned())
                        .unwrap_or_default()
                };
                let refused = Startup::Refused {
                    code: field(b'C'),
                    message: field(b'M'),
                };
                return (stream, refused);
            }
            // Parameter statuses, the backend key, notices.
            _ => {}
        }
    }
}

/// Opens `count` connections one after another and holds them; returns
/// the refusals.
fn refusals_holding(port: u16, database: &str, count: u64) -> Vec<Startup> {
    let mut held = Vec::new();
    let mut refused = Vec::new();
    for _ in 0..count {
        match open(port, "app", database) {
            (stream, Startup::Ready) => held.push(stream),
            (_, refusal) => refused.push(refusal),
        }
    }
    refused
}

/// capsim's clients that connect and hold: Poisson arrivals over an hour
/// (about 30), each on an instance of its own (one request at a time) whose
/// query holds its connection for 3 days, so no connection is ever given
/// back; `database` is the scenario's database section.
fn predicted_refusals(dir: &Path, database: &str, outcome: Outcome) -> (u64, u64) {
    let text = format!(
        "name: testbed-refusals\n\
         seed: 9\n\
         replications: 1\n\
         start: 2025-01-06\n\
         horizon: 1h\n\
         tiers:\n  - {{ name: clients, users: 720 }}\n\
         slo: {{ p95_latency: 10d, error_rate: 100% }}\n\
         traffic:\n  daily_active_share: 100%\n  sessions_per_active_user: 1\n\
         \x20 requests_per_session: {{ dist: constant, value: 1 }}\n\
         \x20 think_time: {{ dist: constant, value: 1s }}\n\
         \x20 daily_profile: [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n\
         routes:\n  - {{ name: hold, weight: 1, function: api, queries: 1, handler_time: {{ dist: constant, value: 1ms }} }}\n\
         functions:\n  - {{ name: api, concurrency: 1, cold_start: {{ dist: constant, value: 0s }}, idle_timeout: 30d, max_duration: 7d }}\n\
         database:\n  connect_time: {{ dist: constant, value: 1ms }}\n  query_time: {{ dist: constant, value: 3d }}\n\
         \x20 statement_timeouts: {{ postgres: 0s }}\n{database}"
    );
    let scenario = load_text(dir, &text);
    let run = simulate(&scenario, scenario.tiers[0].users, 0);
    (run.tier.requests, run.tier.outcomes.count(outcome))
}

/// Runs capsim's held clients against `database` (a scenario's database
/// section), then opens as many connections to `port` and holds them:
/// the server refuses as many as capsim's `outcome` counts, each with
/// `code` and `message`.
fn assert_refused_as_predicted(
    cluster: &Cluster,
    port: u16,
    database: &str,
    outcome: Outcome,
    (code, message): (&str, &str),
) {
    let (clients, refused) = predicted_refusals(cluster.dir.path(), database, outcome);
    assert!(
        refused > 0 && clients > refused,
        "{clients} clients, {refused} refused"
    );
    let refusals = refusals_holding(port, "bench", clients);
    eprintln!(
        "{clients} clients: capsim {refused} refused ({outcome:?}), the server {}: {:?}",
        refusals.len(),
        refusals.first()
    );
    assert_eq!(refusals.len() as u64, refused);
    let expected = Startup::Refused {
        code: code.into(),
        message: message.into(),
    };
    assert!(refusals.iter().all(|r| *r == expected), "{refusals:?}");
}

#[test]
fn connections_over_the_limits_are_refused_as_capsim_predicts() {
    let Some(tools) = testbed_tools("connections_over_the_limits_are_refused_as_capsim_predicts")
    else {
        return;
    };
    let cluster = Cluster::start(tools, 10);
    // Direct connections: Postgres refuses the 11th with 53300.
    assert_refused_as_predicted(
        &cluster,
        cluster.port,
        "  max_connections: 10\n  connections_per_instance: 1\n",
        Outcome::DbRefused,
        ("53300", "sorry, too many clients already"),
    );
    // Through PgBouncer: it refuses clients over max_client_conn at once,
    // whatever its pool (08P01, PgBouncer's default SQLSTATE).
    let bouncer = Bouncer::start(&cluster, 2, 8);
    assert_refused_as_predicted(
        &cluster,
        bouncer.port,
        "  max_connections: 10\n  connections_per_instance: 1\n  pooler: { enabled: true, mode: transaction, default_pool_size: 2, max_client_conn: 8, query_wait_timeout: 1d }\n",
        Outcome::PoolerRefused,
        ("08P01", "no more connections allowed (max_client_conn)"),
    );
}
