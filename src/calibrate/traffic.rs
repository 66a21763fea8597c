//! Traffic from request logs (`capsim calibrate --request-log`): the load
//! inputs of a scenario fitted to what a web server or Vercel logged.
//!
//! Logs are read line by line, never held whole: what is kept is bounded
//! by the clients (one state each, for sessions), the days and hours seen,
//! and fixed-size uniform samples (reservoirs) of each fitted quantity.
//! A client is the log's user when it names one, else its address and user
//! agent. A page request is a client's requests that arrived in the same
//! millisecond (a route and the routes it fans out to); a session ends
//! after `session_gap` without one (the gap is stated in the report).

use std::borrow::Cow;
use std::cmp::Reverse;
use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::hash::{Hash, Hasher};
use std::io::{self, BufRead};
use std::path::{Path, PathBuf};

use rand::RngExt;
use serde::Deserialize;

use super::CalibrateError;
use crate::model::MONTHS;
use crate::report::Exporter;
use crate::scenario::{Date, Z95};
use crate::sim::{RngStream, stream};

/// Samples kept per fitted quantity: enough for quantiles to a fraction of
/// a percent, bounded whatever the log's length.
const RESERVOIR: usize = 100_000;

/// Examples of unreadable or unmapped lines kept for the report.
const EXAMPLES: usize = 5;

/// What the calibration needs besides the logs.
#[derive(Clone, Debug)]
pub struct LogOptions {
    /// The logs, read in order.
    pub logs: Vec<PathBuf>,
    /// Path patterns to route names, in order (first match wins).
    pub routes: Vec<RouteRule>,
    /// Registered users, for the share active a day.
    pub users: Option<u64>,
    /// Inactivity that ends a session, milliseconds.
    pub session_gap_ms: i64,
}

/// `METHOD /path/*/with/**` to a route: `*` matches within one path
/// segment, `**` across segments; no method matches every method.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteRule {
    /// The pattern.
    pub pattern: String,
    /// The route's name.
    pub route: String,
}

impl RouteRule {
    fn matches(&self, method: &str, path: &str) -> bool {
        let (rule_method, rule_path) = match self.pattern.split_once(' ') {
            Some((method, path)) => (Some(method), path.trim()),
            None => (None, self.pattern.as_str()),
        };
        rule_method.is_none_or(|m| m.eq_ignore_ascii_case(method)) && glob(rule_path, path)
    }
}

/// Whether `text` matches `pattern` (`*` within a segment, `**` across).
fn glob(pattern: &str, text: &str) -> bool {
    if let Some(rest) = pattern.strip_prefix("**") {
        return (0..=text.len()).any(|i| text.is_char_boundary(i) && glob(rest, &text[i..]));
    }
    if let Some(rest) = pattern.strip_prefix('*') {
        let segment = text.find('/').unwrap_or(text.len());
        return (0..=segment).any(|i| text.is_char_boundary(i) && glob(rest, &text[i..]));
    }
    match (pattern.chars().next(), text.chars().next()) {
        (None, None) => true,
        (Some(p), Some(t)) if p == t => glob(&pattern[p.len_utf8()..], &text[t.len_utf8()..]),
        _ => false,
    }
}

/// Reads a route map: a YAML list of `{ pattern, route }`.
pub fn read_route_map(path: &Path) -> Result<Vec<RouteRule>, CalibrateError> {
    let text =
        crate::scenario::read_scenario_file(path).map_err(|source| CalibrateError::Read {
            path: path.into(),
            source,
        })?;
    serde_saphyr::from_str(&text).map_err(|error| CalibrateError::Unreadable {
        path: path.into(),
        reason: format!(
            "a route map is a list of `{{ pattern: \"GET /api/cars/*\", route: cars }}`: {error}"
        ),
    })
}

/// What the CDN did, as the log says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cache {
    Hit,
    Miss,
}

/// One logged request.
struct Entry<'a> {
    /// Arrival, milliseconds since 1970 in local time (the log's offset
    /// applied), so days and hours are the log's own.
    local_ms: i64,
    client: u64,
    method: Cow<'a, str>,
    path: Cow<'a, str>,
    status: u16,
    duration_us: Option<u64>,
    cache: Option<Cache>,
}

fn hash_of(parts: &[&str]) -> u64 {
    let mut hasher = DefaultHasher::new();
    parts.hash(&mut hasher);
    hasher.finish()
}

/// A Combined Log Format line, optionally followed by a duration (an
/// integer: microseconds, Apache's `%D`; with a point: seconds, nginx's
/// `$request_time`) and a cache status (`HIT`, `STALE`, `MISS`, ...).
fn parse_combined(line: &str) -> Result<Entry<'_>, &'static str> {
    let (head, rest) = line
        .split_once(" [")
        .ok_or("no [time] after the address and user")?;
    let mut head_fields = head.split(' ');
    let address = head_fields.next().ok_or("no address")?;
    let user = head_fields.nth(1).ok_or("no user field")?;
    let (time, rest) = rest
        .split_once("] \"")
        .ok_or("no \"request\" after the time")?;
    let local_ms = parse_clf_time(time).ok_or("a time that is not dd/Mon/yyyy:HH:MM:SS +zzzz")?;
    let (request, rest) = rest.split_once('"').ok_or("an unterminated \"request\"")?;
    let mut request_parts = request.split(' ');
    let method = request_parts.next().ok_or("no method")?;
    let target = request_parts.next().ok_or("no path in the request")?;
    let path = target.split('?').next().unwrap_or(target);
    let mut fields = rest.trim_start().splitn(3, ' ');
    let status: u16 = fields
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or("no status code")?;
    let _bytes = fields.next().ok_or("no size")?;
    let rest = fields.next().unwrap_or("");
    // Combined: "referer" "user agent"; then what the format adds.
    let (agent, tail) = match rest.strip_prefix('"') {
        Some(quoted) => {
            let (_referer, after) = quoted
                .split_once("\" \"")
                .ok_or("an unterminated referer")?;
            after.split_once('"').ok_or("an unterminated user agent")?
        }
        None => ("", rest),
    };
    let mut extra = tail.split_whitespace();
    let mut duration_us = None;
    let mut cache = None;
    for field in extra.by_ref() {
        if let Ok(micros) = field.parse::<u64>() {
            duration_us = Some(micros);
        } else if let Ok(seconds) = field.parse::<f64>() {
            duration_us = Some((seconds * 1e6).round() as u64);
        } else {
            cache = cache_status(field);
        }
    }
    let client = if user == "-" {
        hash_of(&[address, agent])
    } else {
        hash_of(&[user])
    };
    Ok(Entry {
        local_ms,
        client,
        method: Cow::Borrowed(method),
        path: Cow::Borrowed(path),
        status,
        duration_us,
        cache,
    })
}

fn cache_status(field: &str) -> Option<Cache> {
    match field.trim_matches('"').to_ascii_uppercase().as_str() {
        "HIT" | "STALE" | "PRERENDER" => Some(Cache::Hit),
        "MISS" | "REVALIDATED" | "EXPIRED" => Some(Cache::Miss),
        _ => None,
    }
}

/// `06/Jan/2025:19:00:00.123 +0100` as local milliseconds since 1970.
fn parse_clf_time(text: &str) -> Option<i64> {
    let (stamp, _zone) = text.split_once(' ')?;
    let day: u32 = stamp.get(0..2)?.parse().ok()?;
    let month = MONTHS.iter().position(|m| Some(*m) == stamp.get(3..6))? as u32 + 1;
    let year: i32 = stamp.get(7..11)?.parse().ok()?;
    let hour: i64 = stamp.get(12..14)?.parse().ok()?;
    let minute: i64 = stamp.get(15..17)?.parse().ok()?;
    let second: i64 = stamp.get(18..20)?.parse().ok()?;
    // Milliseconds from the fraction's first three digits (`.1` is 100).
    let millis: i64 = match stamp.get(20..) {
        Some("") | None => 0,
        Some(fraction) => {
            let digits = fraction.strip_prefix('.')?;
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            digits
                .bytes()
                .chain(std::iter::repeat(b'0'))
                .take(3)
                .fold(0, |ms, digit| ms * 10 + i64::from(digit - b'0'))
        }
    };
    if !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let days = Date { year, month, day }.days_since_epoch();
    Some(((days * 24 + hour) * 60 + minute) * 60_000 + second * 1_000 + millis)
}

/// A Vercel log drain line (NDJSON): its `proxy` fields.
#[derive(Deserialize)]
struct VercelLine {
    proxy: Option<VercelProxy>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct VercelProxy {
    timestamp: i64,
    method: String,
    path: String,
    status_code: Option<i64>,
    client_ip: Option<String>,
    user_agent: Option<Vec<String>>,
    vercel_cache: Option<String>,
}

/// How one line was read.
enum Read<'a> {
    /// A request.
    Request(Entry<'a>),
    /// Not a request (a Vercel build or function output line, a
    /// background revalidation): skipped, counted.
    Other,
}

/// Which format a log is in, from its first line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LogFormat {
    /// Common or Combined Log Format, with optional duration and cache status.
    Combined,
    /// Vercel's log drain NDJSON.
    Vercel,
}

fn parse_vercel(line: &str) -> Result<Read<'static>, String> {
    let parsed: VercelLine =
        serde_json::from_str(line).map_err(|error| format!("not a JSON log line: {error}"))?;
    let Some(proxy) = parsed.proxy else {
        return Ok(Read::Other);
    };
    // -1: the revalidation Vercel ran in the background, not a request.
    if proxy.status_code == Some(-1) {
        return Ok(Read::Other);
    }
    let agent = proxy.user_agent.unwrap_or_default().join(" ");
    let client = hash_of(&[proxy.client_ip.as_deref().unwrap_or("-"), &agent]);
    let mut path = proxy.path;
    if let Some(query) = path.find('?') {
        path.truncate(query);
    }
    Ok(Read::Request(Entry {
        // Vercel's times are UTC.
        local_ms: proxy.timestamp,
        client,
        method: Cow::Owned(proxy.method),
        path: Cow::Owned(path),
        status: u16::try_from(proxy.status_code.unwrap_or(200)).unwrap_or(0),
        duration_us: None,
        cache: proxy.vercel_cache.as_deref().and_then(cache_status),
    }))
}

/// A uniform sample of a stream of positive values (Vitter's algorithm R),
/// with the stream's exact count and moments, of the values and of their
/// logarithms.
#[derive(Clone, Debug)]
pub struct Reservoir {
    seen: u64,
    sum: f64,
    sum_squares: f64,
    sum_logs: f64,
    sum_log_squares: f64,
    samples: Vec<f64>,
    rng: RngStream,
}

impl Reservoir {
    fn new(stream_id: u64) -> Self {
        Self {
            seen: 0,
            sum: 0.0,
            sum_squares: 0.0,
            sum_logs: 0.0,
            sum_log_squares: 0.0,
            samples: Vec::new(),
            rng: stream(0x5EED_CA11, &[stream_id]),
        }
    }

    fn add(&mut self, value: f64) {
        self.seen += 1;
        self.sum += value;
        self.sum_squares += value * value;
        let log = value.max(1e-9).ln();
        self.sum_logs += log;
        self.sum_log_squares += log * log;
        if self.samples.len() < RESERVOIR {
            self.samples.push(value);
        } else {
            let slot = self.rng.random_range(0..self.seen);
            if let Ok(slot) = usize::try_from(slot)
                && slot < RESERVOIR
            {
                self.samples[slot] = value;
            }
        }
    }

    /// Mean and standard deviation of the values, or of their logarithms.
    fn moments(&self, logs: bool) -> (f64, f64) {
        let n = self.seen as f64;
        let (sum, squares) = if logs {
            (self.sum_logs, self.sum_log_squares)
        } else {
            (self.sum, self.sum_squares)
        };
        let mean = sum / n;
        let variance = ((squares - n * mean * mean) / (n - 1.0).max(1.0)).max(0.0);
        (mean, variance.sqrt())
    }
}

/// A fitted distribution: its scenario form, the parameters with their
/// 95% confidence intervals, and how far the data is from it.
#[derive(Clone, Debug)]
pub struct Fit {
    /// What was fitted, as the report names it (`think_time`).
    pub input: String,
    /// The distribution.
    pub model: Model,
    /// Values the fit rests on.
    pub count: u64,
    /// Kolmogorov-Smirnov distance between the sample and the model.
    pub ks: f64,
    /// The sample, sorted (at most [`RESERVOIR`] values), for the QQ chart.
    pub sample: Vec<f64>,
    /// The unit the values are in (`s`, `ms`, `requests`).
    pub unit: &'static str,
}

/// A parameter and its 95% confidence interval.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Interval {
    /// The estimate.
    pub value: f64,
    /// The interval's ends.
    pub low: f64,
    /// The interval's ends.
    pub high: f64,
}

impl Interval {
    fn around(value: f64, half_width: f64) -> Self {
        Self {
            value,
            low: value - half_width,
            high: value + half_width,
        }
    }

    /// Whether `value` lies in the interval.
    pub fn contains(&self, value: f64) -> bool {
        (self.low..=self.high).contains(&value)
    }
}

/// The distributions calibrate fits.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Model {
    /// Exponential.
    Exponential {
        /// Its mean.
        mean: Interval,
    },
    /// Lognormal.
    Lognormal {
        /// Its median.
        median: Interval,
        /// Its 95th percentile.
        p95: Interval,
    },
    /// Geometric on 1, 2, 3, ...
    Geometric {
        /// Its mean.
        mean: Interval,
    },
}

const Z975: f64 = 1.959_963_984_540_054;

impl Model {
    /// The distribution's name, as a scenario's `dist` writes it.
    pub fn name(&self) -> &'static str {
        match self {
            Model::Exponential { .. } => "exponential",
            Model::Lognormal { .. } => "lognormal",
            Model::Geometric { .. } => "geometric",
        }
    }

    fn exponential(reservoir: &Reservoir) -> Self {
        let (mean, _) = reservoir.moments(false);
        let n = reservoir.seen as f64;
        Model::Exponential {
            mean: Interval::around(mean, Z975 * mean / n.sqrt()),
        }
    }

    fn geometric(reservoir: &Reservoir) -> Self {
        let (mean, sd) = reservoir.moments(false);
        let n = reservoir.seen as f64;
        Model::Geometric {
            mean: Interval::around(mean, Z975 * sd / n.sqrt()),
        }
    }

    /// The lognormal of the logarithms' mean and deviation; the intervals
    /// by the delta method (the mean's variance s²/n, the deviation's
    /// s²/2n).
    fn lognormal(reservoir: &Reservoir) -> Self {
        let (mu, sigma) = reservoir.moments(true);
        let n = reservoir.seen as f64;
        let mu_half = Z975 * sigma / n.sqrt();
        let p95_half = Z975 * sigma * (1.0 / n + Z95 * Z95 / (2.0 * n)).sqrt();
        let p95 = (mu + Z95 * sigma).exp();
        Model::Lognormal {
            median: Interval {
                value: mu.exp(),
                low: (mu - mu_half).exp(),
                high: (mu + mu_half).exp(),
            },
            p95: Interval {
                value: p95,
                low: (mu + Z95 * sigma - p95_half).exp(),
                high: (mu + Z95 * sigma + p95_half).exp(),
            },
        }
    }

    /// The model's cumulative probability at `x`.
    pub fn cdf(&self, x: f64) -> f64 {
        match *self {
            Model::Exponential { mean } => 1.0 - (-x / mean.value).exp(),
            Model::Lognormal { median, p95 } => {
                if x <= 0.0 {
                    0.0
                } else {
                    standard_normal_cdf((x / median.value).ln() / sigma(median, p95))
                }
            }
            Model::Geometric { mean } => {
                let p = 1.0 / mean.value.max(1.0);
                1.0 - (1.0 - p).powf(x.floor().max(0.0))
            }
        }
    }

    /// The model's quantile at probability `q`.
    pub fn quantile(&self, q: f64) -> f64 {
        match *self {
            Model::Exponential { mean } => -mean.value * (1.0 - q).ln(),
            Model::Lognormal { median, p95 } => {
                median.value * (sigma(median, p95) * standard_normal_quantile(q)).exp()
            }
            Model::Geometric { mean } => {
                let p = 1.0 / mean.value.max(1.0);
                ((1.0 - q).ln() / (1.0 - p).ln()).ceil().max(1.0)
            }
        }
    }
}

/// The lognormal's sigma from its median and 95th percentile.
fn sigma(median: Interval, p95: Interval) -> f64 {
    (p95.value / median.value).ln() / Z95
}

fn standard_normal_cdf(z: f64) -> f64 {
    use statrs::distribution::{ContinuousCDF, Normal};
    Normal::standard().cdf(z)
}

fn standard_normal_quantile(q: f64) -> f64 {
    use statrs::distribution::{ContinuousCDF, Normal};
    Normal::standard().inverse_cdf(q)
}

impl Fit {
    fn of(input: &str, model: Model, reservoir: &Reservoir, unit: &'static str) -> Self {
        let mut sample = reservoir.samples.clone();
        sample.sort_by(f64::total_cmp);
        let n = sample.len() as f64;
        // Over each run of equal values, the empirical CDF jumps from
        // `start / n` to `end / n`; the model's from its value just below
        // (a whole number less for the geometric) to its value there.
        let mut ks: f64 = 0.0;
        let mut start = 0;
        while start < sample.len() {
            let value = sample[start];
            let end = start + sample[start..].iter().take_while(|&&x| x == value).count();
            let below = match model {
                Model::Geometric { .. } => model.cdf(value - 1.0),
                _ => model.cdf(value),
            };
            ks = ks
                .max((model.cdf(value) - end as f64 / n).abs())
                .max((below - start as f64 / n).abs());
            start = end;
        }
        Self {
            input: input.into(),
            model,
            count: reservoir.seen,
            ks,
            sample,
            unit,
        }
    }
}

/// A client's state between its requests.
struct Client {
    /// The current page request: when it arrived and its routes (up to 4).
    group_ms: i64,
    group: [u16; 4],
    group_len: u8,
    /// Page requests in the current session so far.
    pages: u32,
    /// The local day it was last active on.
    day: i64,
}

/// What one day of the log held.
#[derive(Clone, Debug, Default)]
struct Day {
    /// Clients active, sessions started (in all and by hour), page requests.
    active: u64,
    sessions: u64,
    starts_by_hour: [u64; 24],
}

/// Per route, what the log held.
#[derive(Clone, Debug)]
struct RouteTally {
    requests: u64,
    hits: u64,
    misses: u64,
    /// Durations of its answered, uncached requests, ms.
    durations: Reservoir,
}

impl RouteTally {
    /// The tally of the route at `index`, its sample on a stream of its own.
    fn new(index: usize) -> Self {
        Self {
            requests: 0,
            hits: 0,
            misses: 0,
            durations: Reservoir::new(100 + index as u64),
        }
    }
}

/// Everything gathered from the logs, line by line.
struct Tally<'r> {
    rules: &'r [RouteRule],
    names: Vec<String>,
    routes: Vec<RouteTally>,
    clients: HashMap<u64, Client>,
    days: BTreeMap<i64, Day>,
    requests_per_session: Reservoir,
    think_time: Reservoir,
    /// Page requests by their sorted routes.
    groups: HashMap<Vec<u16>, u64>,
    session_gap_ms: i64,
    lines: u64,
    other: u64,
    malformed: u64,
    malformed_examples: Vec<String>,
    unmapped: u64,
    unmapped_paths: BTreeMap<String, u64>,
    durations_seen: bool,
    /// Requests waiting to be taken in arrival order: (arrival, line
    /// sequence, client, route).
    pending: BinaryHeap<Reverse<(i64, u64, u64, u16)>>,
    sequence: u64,
    newest_ms: i64,
}

const MS_PER_DAY: i64 = 86_400_000;

/// How far out of arrival order a log's lines may come: a request is logged
/// when it ends, and Vercel's functions run for at most 300 s by default.
const REORDER_MS: i64 = 300_000;

impl<'r> Tally<'r> {
    fn new(rules: &'r [RouteRule], session_gap_ms: i64) -> Self {
        let mut names: Vec<String> = Vec::new();
        for rule in rules {
            if !names.contains(&rule.route) {
                names.push(rule.route.clone());
            }
        }
        let routes = (0..names.len()).map(RouteTally::new).collect();
        Self {
            rules,
            names,
            routes,
            clients: HashMap::new(),
            days: BTreeMap::new(),
            requests_per_session: Reservoir::new(1),
            think_time: Reservoir::new(2),
            groups: HashMap::new(),
            session_gap_ms,
            lines: 0,
            other: 0,
            malformed: 0,
            malformed_examples: Vec::new(),
            unmapped: 0,
            unmapped_paths: BTreeMap::new(),
            durations_seen: false,
            pending: BinaryHeap::new(),
            sequence: 0,
            newest_ms: i64::MIN,
        }
    }

    /// The route `method path` maps to: by the rules, else (without rules)
    /// a route of its own named by the request.
    fn route_of(&mut self, method: &str, path: &str) -> Option<u16> {
        let name = if self.rules.is_empty() {
            format!("{method} {path}")
        } else {
            self.rules
                .iter()
                .find(|rule| rule.matches(method, path))?
                .route
                .clone()
        };
        let index = match self.names.iter().position(|n| *n == name) {
            Some(index) => index,
            None => {
                // Without rules each request line is a route: bounded, as
                // routes beyond 65,535 are refused.
                self.names.push(name);
                self.routes.push(RouteTally::new(self.routes.len()));
                self.routes.len() - 1
            }
        };
        u16::try_from(index).ok()
    }

    fn malformed(&mut self, path: &Path, line: u64, reason: &str) {
        self.malformed += 1;
        if self.malformed_examples.len() < EXAMPLES {
            self.malformed_examples
                .push(format!("{}:{line}: {reason}", path.display()));
        }
    }

    fn add(&mut self, entry: &Entry) {
        let Some(route) = self.route_of(&entry.method, &entry.path) else {
            self.unmapped += 1;
            let key = format!("{} {}", entry.method, entry.path);
            if self.unmapped_paths.len() < 1_000 || self.unmapped_paths.contains_key(&key) {
                *self.unmapped_paths.entry(key).or_default() += 1;
            }
            return;
        };
        let tally = &mut self.routes[route as usize];
        tally.requests += 1;
        match entry.cache {
            Some(Cache::Hit) => tally.hits += 1,
            Some(Cache::Miss) => tally.misses += 1,
            None => {}
        }
        if let (Some(micros), true) = (entry.duration_us, entry.status < 400) {
            self.durations_seen = true;
            if entry.cache != Some(Cache::Hit) {
                tally.durations.add(micros as f64 / 1_000.0);
            }
        }
        // Servers log a request when it ends, so a client's lines can come
        // out of arrival order: sessions are cut in arrival order, from a
        // buffer that holds each request until the log has moved
        // `REORDER_MS` past it.
        self.sequence += 1;
        self.pending.push(Reverse((
            entry.local_ms,
            self.sequence,
            entry.client,
            route,
        )));
        self.newest_ms = self.newest_ms.max(entry.local_ms);
        while let Some(&Reverse((at, _, client, route))) = self.pending.peek() {
            if at + REORDER_MS > self.newest_ms {
                break;
            }
            self.pending.pop();
            self.page(at, client, route);
        }
    }

    /// A request of `client` to `route` that arrived at `at`, in arrival order.
    fn page(&mut self, at: i64, client_id: u64, route: u16) {
        let day = at.div_euclid(MS_PER_DAY);
        let gap = self.session_gap_ms;
        let mut session_ended = None;
        let mut page_started = None;
        match self.clients.get_mut(&client_id) {
            Some(client) if client.group_ms == at => {
                if usize::from(client.group_len) < client.group.len() {
                    client.group[usize::from(client.group_len)] = route;
                    client.group_len += 1;
                }
                return;
            }
            Some(client) => {
                let group = client.group[..usize::from(client.group_len)].to_vec();
                *self.groups.entry(sorted(group)).or_default() += 1;
                let since = at - client.group_ms;
                if since > gap {
                    session_ended = Some(client.pages);
                    client.pages = 1;
                } else {
                    client.pages += 1;
                    page_started = Some(since.max(0));
                }
                client.group_ms = at;
                client.group = [route, 0, 0, 0];
                client.group_len = 1;
                if client.day != day {
                    client.day = day;
                    self.days.entry(day).or_default().active += 1;
                }
            }
            None => {
                self.clients.insert(
                    client_id,
                    Client {
                        group_ms: at,
                        group: [route, 0, 0, 0],
                        group_len: 1,
                        pages: 1,
                        day,
                    },
                );
                self.days.entry(day).or_default().active += 1;
                session_ended = Some(0);
            }
        }
        if let Some(pages) = session_ended {
            if pages > 0 {
                self.requests_per_session.add(f64::from(pages));
            }
            let record = self.days.entry(day).or_default();
            record.sessions += 1;
            record.starts_by_hour[(at.rem_euclid(MS_PER_DAY) / 3_600_000) as usize] += 1;
        }
        if let Some(think_ms) = page_started {
            self.think_time.add(think_ms as f64 / 1_000.0);
        }
    }

    /// Closes every client's open page request and session.
    fn close(&mut self) {
        while let Some(Reverse((at, _, client, route))) = self.pending.pop() {
            self.page(at, client, route);
        }
        for client in self.clients.values() {
            let group = client.group[..usize::from(client.group_len)].to_vec();
            *self.groups.entry(sorted(group)).or_default() += 1;
            self.requests_per_session.add(f64::from(client.pages));
        }
        self.clients.clear();
    }
}

fn sorted(mut routes: Vec<u16>) -> Vec<u16> {
    routes.sort_unstable();
    routes
}

/// Reads each log into `tally`, with a progress bar by bytes on a terminal.
fn read_logs(tally: &mut Tally, logs: &[PathBuf]) -> Result<(), CalibrateError> {
    let total: u64 = logs
        .iter()
        .filter_map(|path| std::fs::metadata(path).ok())
        .map(|meta| meta.len())
        .sum();
    let progress = if io::IsTerminal::is_terminal(&io::stderr()) {
        let bar = indicatif::ProgressBar::new(total);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} of request logs, {elapsed} elapsed, ~{eta} left",
            )
            .expect("valid progress template"),
        );
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    for path in logs {
        let failed = |source| CalibrateError::Read {
            path: path.clone(),
            source,
        };
        let file = std::fs::File::open(path).map_err(failed)?;
        let mut reader = io::BufReader::with_capacity(1 << 20, file);
        let mut line = String::new();
        let mut number = 0;
        let mut format = None;
        loop {
            line.clear();
            let read = match reader.read_line(&mut line) {
                Ok(read) => read,
                // Not UTF-8: a malformed line, skipped whole.
                Err(error) if error.kind() == io::ErrorKind::InvalidData => {
                    number += 1;
                    tally.lines += 1;
                    tally.malformed(path, number, "not UTF-8 text");
                    let mut skipped = Vec::new();
                    reader.read_until(b'\n', &mut skipped).map_err(failed)?;
                    continue;
                }
                Err(error) => return Err(failed(error)),
            };
            if read == 0 {
                break;
            }
            progress.inc(read as u64);
            number += 1;
            let text = line.trim_end_matches(['\n', '\r']);
            if text.trim().is_empty() {
                continue;
            }
            tally.lines += 1;
            let format = *format.get_or_insert(if text.trim_start().starts_with('{') {
                LogFormat::Vercel
            } else {
                LogFormat::Combined
            });
            match format {
                LogFormat::Combined => match parse_combined(text) {
                    Ok(entry) => tally.add(&entry),
                    Err(reason) => tally.malformed(path, number, reason),
                },
                LogFormat::Vercel => match parse_vercel(text) {
                    Ok(Read::Request(entry)) => tally.add(&entry),
                    Ok(Read::Other) => tally.other += 1,
                    Err(reason) => tally.malformed(path, number, &reason),
                },
            }
        }
    }
    progress.finish_and_clear();
    tally.close();
    Ok(())
}

/// A route as the logs show it.
#[derive(Clone, Debug)]
pub struct RouteFit {
    /// Its name (a route map's, else the request line).
    pub name: String,
    /// Requests to it.
    pub requests: u64,
    /// Its share of page requests (not counting those it arrives with as
    /// another route's fan-out): the scenario's `weight`.
    pub weight: f64,
    /// The routes that arrive with it in 95% or more of its requests: its
    /// `fan_out`.
    pub fan_out: Vec<String>,
    /// HIT and STALE over those with a cache status, when the log has them.
    pub hit_ratio: Option<f64>,
    /// Its answered, uncached requests' durations (ms), when the log has them.
    pub duration: Option<Fit>,
}

/// An hour far above what the profiles expect.
#[derive(Clone, Debug, PartialEq)]
pub struct BurstHour {
    /// The local date and hour.
    pub date: String,
    /// Sessions that started in it, and the profiles' expectation.
    pub sessions: u64,
    /// What the profiles expect.
    pub expected: f64,
}

/// A traffic calibration: what was read and what was fitted.
#[derive(Clone, Debug)]
pub struct TrafficCalibration {
    /// The logs, as named.
    pub sources: Vec<String>,
    /// Lines read, requests among them, lines that were not requests
    /// (skipped), malformed lines and examples of them, requests no rule
    /// maps and their most frequent request lines.
    pub lines: u64,
    /// Requests.
    pub requests: u64,
    /// Lines that were not requests.
    pub other: u64,
    /// Malformed lines.
    pub malformed: u64,
    /// Examples of them, `file:line: reason`.
    pub malformed_examples: Vec<String>,
    /// Requests no rule maps.
    pub unmapped: u64,
    /// The most frequent unmapped request lines with their counts.
    pub unmapped_examples: Vec<(String, u64)>,
    /// Days the fits rest on (whole days, when the log spans three or more).
    pub days: usize,
    /// The inactivity that ends a session, minutes.
    pub session_gap_minutes: f64,
    /// Registered users, if given.
    pub users: Option<u64>,
    /// Clients active a day over the users, per day's mean.
    pub daily_active_share: Option<Interval>,
    /// Sessions a day per active client; with the users, the sessions a
    /// day per user over `daily_active_share`, so that their product, the
    /// session rate capsim simulates, is the log's.
    pub sessions_per_active_user: Interval,
    /// Sessions a day per registered user, if the users are given.
    pub sessions_per_user: Option<Interval>,
    /// Page requests per session.
    pub requests_per_session: Option<Fit>,
    /// Time between a session's page requests, s: the better of an
    /// exponential and a lognormal by KS distance, and the other.
    pub think_time: Option<(Fit, Fit)>,
    /// Sessions started by hour of day, mean 1, with intervals over days.
    pub daily_profile: Vec<Interval>,
    /// Sessions started by weekday (Monday first), mean 1, when the log
    /// spans two weeks or more.
    pub weekly_profile: Option<Vec<Interval>>,
    /// The routes.
    pub routes: Vec<RouteFit>,
    /// Hours with three times the sessions the profiles expect, or more.
    pub bursts: Vec<BurstHour>,
    /// What could not be fitted, and why.
    pub unfitted: Vec<String>,
}

impl TrafficCalibration {
    /// Every fitted distribution: requests per session, think time (the
    /// better fit, then the other), each route's durations.
    pub fn fits(&self) -> Vec<&Fit> {
        let mut fits: Vec<&Fit> = Vec::new();
        fits.extend(&self.requests_per_session);
        if let Some((best, other)) = &self.think_time {
            fits.push(best);
            fits.push(other);
        }
        fits.extend(self.routes.iter().filter_map(|r| r.duration.as_ref()));
        fits
    }
}

/// The traffic calibration of `options`' logs.
pub fn calibrate_traffic(options: &LogOptions) -> Result<TrafficCalibration, CalibrateError> {
    let mut tally = Tally::new(&options.routes, options.session_gap_ms);
    read_logs(&mut tally, &options.logs)?;
    let requests: u64 = tally.routes.iter().map(|r| r.requests).sum();
    if requests == 0 {
        return Err(CalibrateError::Unreadable {
            path: options.logs.first().cloned().unwrap_or_default(),
            reason: format!(
                "no request could be read ({} lines, {} malformed, {} unmapped){}",
                tally.lines,
                tally.malformed,
                tally.unmapped,
                tally
                    .malformed_examples
                    .first()
                    .map(|e| format!("; the first: {e}"))
                    .unwrap_or_default()
            ),
        });
    }
    let mut unfitted = Vec::new();
    // Whole days: the first and last are partial in most logs.
    let all_days: Vec<(i64, Day)> = tally.days.iter().map(|(d, v)| (*d, v.clone())).collect();
    let days: Vec<(i64, Day)> = if all_days.len() >= 3 {
        all_days[1..all_days.len() - 1].to_vec()
    } else {
        unfitted.push("whole days: the log spans under three days, so its first and last (partial) days are used".into());
        all_days.clone()
    };
    let interval = |values: Vec<f64>| {
        let estimate = crate::stats::estimate(&values);
        Interval::around(estimate.mean, estimate.half_width)
    };
    let daily_active_share = options.users.map(|users| {
        interval(
            days.iter()
                .map(|(_, d)| d.active as f64 / users as f64)
                .collect(),
        )
    });
    let sessions_per_user = options.users.map(|users| {
        interval(
            days.iter()
                .map(|(_, d)| d.sessions as f64 / users as f64)
                .collect(),
        )
    });
    // capsim draws each session's user at random, so what it simulates is
    // the product of the two: keep the log's.
    let sessions_per_active_user = match (sessions_per_user, daily_active_share) {
        (Some(rate), Some(share)) => Interval {
            value: rate.value / share.value,
            low: rate.low / share.value,
            high: rate.high / share.value,
        },
        _ => interval(
            days.iter()
                .filter(|(_, d)| d.active > 0)
                .map(|(_, d)| d.sessions as f64 / d.active as f64)
                .collect(),
        ),
    };
    if options.users.is_none() {
        unfitted.push("daily_active_share: needs the registered users (--users)".into());
    }
    let hourly_mean = |d: &Day| d.sessions as f64 / 24.0;
    let daily_profile: Vec<Interval> = (0..24)
        .map(|hour| {
            interval(
                days.iter()
                    .filter(|(_, d)| d.sessions > 0)
                    .map(|(_, d)| d.starts_by_hour[hour] as f64 / hourly_mean(d))
                    .collect(),
            )
        })
        .collect();
    let mean_sessions =
        days.iter().map(|(_, d)| d.sessions as f64).sum::<f64>() / days.len().max(1) as f64;
    let weekly_profile = if days.len() >= 14 {
        Some(
            (0..7)
                .map(|weekday| {
                    interval(
                        days.iter()
                            .filter(|(day, _)| (day + 3).rem_euclid(7) as usize == weekday)
                            .map(|(_, d)| d.sessions as f64 / mean_sessions)
                            .collect(),
                    )
                })
                .collect::<Vec<_>>(),
        )
    } else {
        unfitted.push(format!(
            "weekly_profile: needs two weeks of whole days ({} here)",
            days.len()
        ));
        None
    };
    let bursts = burst_hours(
        &days,
        &daily_profile,
        weekly_profile.as_deref(),
        mean_sessions,
    );
    let requests_per_session = (tally.requests_per_session.seen > 1).then(|| {
        Fit::of(
            "requests_per_session",
            Model::geometric(&tally.requests_per_session),
            &tally.requests_per_session,
            "requests",
        )
    });
    let think_time = (tally.think_time.seen > 1).then(|| {
        let exponential = Fit::of(
            "think_time",
            Model::exponential(&tally.think_time),
            &tally.think_time,
            "s",
        );
        let lognormal = Fit::of(
            "think_time",
            Model::lognormal(&tally.think_time),
            &tally.think_time,
            "s",
        );
        if lognormal.ks < exponential.ks {
            (lognormal, exponential)
        } else {
            (exponential, lognormal)
        }
    });
    if think_time.is_none() {
        unfitted.push("think_time: no session had two page requests".into());
    }
    let routes = route_fits(&tally, &mut unfitted);
    let mut unmapped_examples: Vec<(String, u64)> = tally.unmapped_paths.into_iter().collect();
    unmapped_examples.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    unmapped_examples.truncate(EXAMPLES);
    Ok(TrafficCalibration {
        sources: options
            .logs
            .iter()
            .map(|p| p.display().to_string())
            .collect(),
        lines: tally.lines,
        requests,
        other: tally.other,
        malformed: tally.malformed,
        malformed_examples: tally.malformed_examples,
        unmapped: tally.unmapped,
        unmapped_examples,
        days: days.len(),
        session_gap_minutes: options.session_gap_ms as f64 / 60_000.0,
        users: options.users,
        daily_active_share,
        sessions_per_active_user,
        sessions_per_user,
        requests_per_session,
        think_time,
        daily_profile,
        weekly_profile,
        routes,
        bursts,
        unfitted,
    })
}

/// Hours with at least three times the sessions the profiles expect (and
/// at least 20 more), for the user to keep as `bursts` or leave out.
fn burst_hours(
    days: &[(i64, Day)],
    daily: &[Interval],
    weekly: Option<&[Interval]>,
    mean_sessions: f64,
) -> Vec<BurstHour> {
    let mut bursts = Vec::new();
    for (day, record) in days {
        let weekday = (day + 3).rem_euclid(7) as usize;
        let weight = weekly.map_or(1.0, |w| w[weekday].value);
        for (hour, &sessions) in record.starts_by_hour.iter().enumerate() {
            let expected = mean_sessions / 24.0 * weight * daily[hour].value;
            if sessions as f64 >= 3.0 * expected && sessions as f64 >= expected + 20.0 {
                let (year, month, day_of_month) = crate::scenario::civil_from_days(*day);
                bursts.push(BurstHour {
                    date: format!("{year:04}-{month:02}-{day_of_month:02} {hour:02}:00"),
                    sessions,
                    expected,
                });
            }
        }
    }
    bursts
}

fn route_fits(tally: &Tally, unfitted: &mut Vec<String>) -> Vec<RouteFit> {
    let routes = tally.routes.len();
    // A route fans out to another when 95% or more of its requests
    // arrive with it; the other's requests that arrive with it are not
    // page requests of their own.
    let mut together = vec![vec![0u64; routes]; routes];
    for (group, count) in &tally.groups {
        for &a in group {
            for &b in group {
                if a != b {
                    together[a as usize][b as usize] += count;
                }
            }
        }
    }
    let fans_out = |a: usize, b: usize| {
        let requests = tally.routes[a].requests;
        a != b && requests > 0 && together[a][b] as f64 >= 0.95 * requests as f64
            // Two routes that always arrive together: the one with fewer
            // requests of its own (else the first) fans out.
            && !(together[b][a] as f64 >= 0.95 * tally.routes[b].requests as f64
                && (tally.routes[b].requests, b) < (requests, a))
    };
    let mut pages = vec![0u64; routes];
    for (group, count) in &tally.groups {
        for &route in group {
            let child = group.iter().any(|&a| fans_out(a as usize, route as usize));
            if !child {
                pages[route as usize] += count;
            }
        }
    }
    let total_pages: u64 = pages.iter().sum();
    if !tally.durations_seen {
        unfitted.push("handler times: the logs have no request durations (add Apache's %D or nginx's $request_time)".into());
    }
    (0..routes)
        .map(|index| {
            let route = &tally.routes[index];
            let name = &tally.names[index];
            let cached = route.hits + route.misses;
            let duration = (route.durations.seen > 1).then(|| {
                Fit::of(
                    &format!("{name} duration"),
                    Model::lognormal(&route.durations),
                    &route.durations,
                    "ms",
                )
            });
            RouteFit {
                name: name.clone(),
                requests: route.requests,
                weight: pages[index] as f64 / total_pages.max(1) as f64,
                fan_out: (0..routes)
                    .filter(|&b| fans_out(index, b))
                    .map(|b| tally.names[b].clone())
                    .collect(),
                hit_ratio: (cached > 0).then(|| route.hits as f64 / cached as f64),
                duration,
            }
        })
        .collect()
}

/// A fit as a scenario writes it; values in seconds when `unit` is `s`,
/// milliseconds when `ms`.
pub fn describe(model: &Model, unit: &str) -> String {
    let duration = |value: f64| match unit {
        "s" => format!("{value:.3}s"),
        "ms" => format!("{value:.3}ms"),
        _ => format!("{value:.3}"),
    };
    match model {
        Model::Exponential { mean } => {
            format!("{{ dist: exponential, mean: {} }}", duration(mean.value))
        }
        Model::Lognormal { median, p95 } => format!(
            "{{ dist: lognormal, median: {}, p95: {} }}",
            duration(median.value),
            duration(p95.value)
        ),
        Model::Geometric { mean } => format!("{{ dist: geometric, mean: {:.3} }}", mean.value),
    }
}

/// The parameters of `model` as (name, interval).
pub fn parameters(model: &Model) -> Vec<(&'static str, Interval)> {
    match *model {
        Model::Exponential { mean } | Model::Geometric { mean } => vec![("mean", mean)],
        Model::Lognormal { median, p95 } => vec![("median", median), ("p95", p95)],
    }
}

fn weights(profile: &[Interval]) -> String {
    let values: Vec<String> = profile.iter().map(|w| format!("{:.3}", w.value)).collect();
    format!("[{}]", values.join(", "))
}

/// `calibration.yaml` of request logs: a fragment with the `traffic`
/// section, and the routes' weights, fan-out, hit ratios and durations as
/// comments (a list is replaced whole by a merge, so they are for pasting).
pub struct TrafficYaml;

impl Exporter<TrafficCalibration> for TrafficYaml {
    fn file_name(&self) -> String {
        "calibration.yaml".into()
    }

    fn write(&self, calibration: &TrafficCalibration, out: &mut dyn io::Write) -> io::Result<()> {
        let c = calibration;
        writeln!(
            out,
            "# Written by `capsim calibrate --request-log` from {} ({} requests on {} whole days;\n\
             # sessions end after {} minutes without a page request). 95% intervals in\n\
             # comments; calibration.csv has every number, qq-*.png each fit against the data.\n\
             # To run it: add `extends: <your scenario>` above `traffic:` (or paste the\n\
             # section into the scenario), then `capsim check` the file.",
            c.sources.join(", "),
            c.requests,
            c.days,
            c.session_gap_minutes
        )?;
        writeln!(out, "traffic:")?;
        match &c.daily_active_share {
            Some(share) => writeln!(
                out,
                "  daily_active_share: {:.4}   # {:.4} to {:.4}, of {} users",
                share.value,
                share.low,
                share.high,
                c.users.unwrap_or(0)
            )?,
            None => writeln!(out, "  # daily_active_share: give --users to fit it")?,
        }
        let spau = c.sessions_per_active_user;
        writeln!(
            out,
            "  sessions_per_active_user: {:.4}   # {:.4} to {:.4}",
            spau.value, spau.low, spau.high
        )?;
        if let Some(fit) = &c.requests_per_session {
            writeln!(
                out,
                "  requests_per_session: {}   # KS {:.4}",
                describe(&fit.model, fit.unit),
                fit.ks
            )?;
        }
        if let Some((best, other)) = &c.think_time {
            writeln!(
                out,
                "  think_time: {}   # KS {:.4}; the other fit, {}, KS {:.4}",
                describe(&best.model, best.unit),
                best.ks,
                describe(&other.model, other.unit),
                other.ks
            )?;
        }
        writeln!(out, "  daily_profile: {}", weights(&c.daily_profile))?;
        if let Some(weekly) = &c.weekly_profile {
            writeln!(out, "  weekly_profile: {}", weights(weekly))?;
        }
        for burst in &c.bursts {
            writeln!(
                out,
                "  # burst? {}: {} sessions started, {:.0} expected",
                burst.date, burst.sessions, burst.expected
            )?;
        }
        writeln!(out, "# routes (for pasting into your routes):")?;
        for route in &c.routes {
            let mut line = format!("#   - name: {}  weight: {:.4}", route.name, route.weight);
            if !route.fan_out.is_empty() {
                line += &format!("  fan_out: [{}]", route.fan_out.join(", "));
            }
            if let Some(ratio) = route.hit_ratio {
                line += &format!("  CDN hit ratio {ratio:.4}");
            }
            if let Some(fit) = &route.duration {
                line += &format!(
                    "  duration {} (KS {:.4}; the handler_time where nothing else adds to it)",
                    describe(&fit.model, fit.unit),
                    fit.ks
                );
            }
            writeln!(out, "{line}")?;
        }
        for reason in &c.unfitted {
            writeln!(out, "# not fitted: {reason}")?;
        }
        Ok(())
    }
}

/// `calibration.csv` of request logs: one row per fitted number.
pub struct TrafficCsv;

impl Exporter<TrafficCalibration> for TrafficCsv {
    fn file_name(&self) -> String {
        "calibration.csv".into()
    }

    fn write(&self, calibration: &TrafficCalibration, out: &mut dyn io::Write) -> io::Result<()> {
        let c = calibration;
        let mut csv = csv::Writer::from_writer(out);
        csv.write_record([
            "input",
            "parameter",
            "value",
            "ci_low",
            "ci_high",
            "count",
            "ks",
            "note",
        ])?;
        let mut row = |input: &str,
                       parameter: &str,
                       value: Interval,
                       count: u64,
                       ks: Option<f64>,
                       note: &str| {
            csv.write_record([
                input.to_string(),
                parameter.to_string(),
                format!("{:.6}", value.value),
                format!("{:.6}", value.low),
                format!("{:.6}", value.high),
                count.to_string(),
                ks.map(|k| format!("{k:.6}")).unwrap_or_default(),
                note.to_string(),
            ])
        };
        let exact = |value: f64| Interval {
            value,
            low: value,
            high: value,
        };
        row("log", "lines", exact(c.lines as f64), c.lines, None, "")?;
        row(
            "log",
            "requests",
            exact(c.requests as f64),
            c.requests,
            None,
            "",
        )?;
        row(
            "log",
            "malformed",
            exact(c.malformed as f64),
            c.malformed,
            None,
            &c.malformed_examples.join(" | "),
        )?;
        let unmapped: Vec<String> = c
            .unmapped_examples
            .iter()
            .map(|(l, n)| format!("{l} ({n})"))
            .collect();
        row(
            "log",
            "unmapped",
            exact(c.unmapped as f64),
            c.unmapped,
            None,
            &unmapped.join(" | "),
        )?;
        row(
            "log",
            "not requests",
            exact(c.other as f64),
            c.other,
            None,
            "",
        )?;
        let days = c.days as u64;
        if let Some(share) = c.daily_active_share {
            row("daily_active_share", "share", share, days, None, "")?;
        }
        row(
            "sessions_per_active_user",
            "sessions",
            c.sessions_per_active_user,
            days,
            None,
            "",
        )?;
        if let Some(rate) = c.sessions_per_user {
            row(
                "sessions per user a day",
                "sessions",
                rate,
                days,
                None,
                "daily_active_share x sessions_per_active_user",
            )?;
        }
        for fit in c.fits() {
            let model = fit.model.name();
            for (name, value) in parameters(&fit.model) {
                row(
                    &fit.input,
                    &format!("{model} {name} ({})", fit.unit),
                    value,
                    fit.count,
                    Some(fit.ks),
                    "",
                )?;
            }
        }
        for (hour, weight) in c.daily_profile.iter().enumerate() {
            row(
                "daily_profile",
                &format!("{hour:02}:00"),
                *weight,
                days,
                None,
                "",
            )?;
        }
        for (day, weight) in c.weekly_profile.iter().flatten().enumerate() {
            let names = [
                "Monday",
                "Tuesday",
                "Wednesday",
                "Thursday",
                "Friday",
                "Saturday",
                "Sunday",
            ];
            row("weekly_profile", names[day], *weight, days, None, "")?;
        }
        for route in &c.routes {
            let note = if route.fan_out.is_empty() {
                String::new()
            } else {
                format!("fan_out: {}", route.fan_out.join(" "))
            };
            row(
                &route.name,
                "weight",
                exact(route.weight),
                route.requests,
                None,
                &note,
            )?;
            if let Some(ratio) = route.hit_ratio {
                row(
                    &route.name,
                    "cdn hit ratio",
                    exact(ratio),
                    route.requests,
                    None,
                    "",
                )?;
            }
        }
        for burst in &c.bursts {
            row(
                "burst",
                &burst.date,
                exact(burst.sessions as f64),
                burst.sessions,
                None,
                &format!("{:.1} expected", burst.expected),
            )?;
        }
        for reason in &c.unfitted {
            row("not fitted", "", exact(f64::NAN), 0, None, reason)?;
        }
        csv.flush()
    }
}
