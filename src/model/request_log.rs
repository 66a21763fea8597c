//! The request log a replication writes with `run --log`: one line per
//! request a user or abusive client sent, as the web server in front of the
//! app would log it, in Combined Log Format with two fields after it, the
//! request's duration in microseconds (Apache's `%D`) and what the CDN did
//! (Vercel's `x-vercel-cache`: `HIT`, `STALE`, `MISS`, or `-` for a route the
//! CDN does not cache):
//!
//! ```text
//! 10.0.3.232 - u1000 [06/Jan/2025:19:00:00.123 +0000] "GET /api/cars HTTP/1.1" 200 5120 "-" "capsim" 48211 MISS
//! ```
//!
//! Times are the request's arrival, in the scenario's zone, to the
//! millisecond (Apache: `%{%d/%b/%Y:%H:%M:%S}t.%{msec_frac}t %{%z}t`); lines
//! are written as requests end, so a line can follow one that arrived
//! later. The user field names a user (`u` and its number), `-` for abusive
//! clients; the address is the client's IP (users share one `users_per_ip`
//! to one). `capsim calibrate --request-log` reads it back.

use std::io::{self, Write};

use super::metrics::{CdnResult, Class, Outcome};
use crate::scenario::{Date, Timezone};
use crate::sim::SimTime;

/// Month names as Common Log Format writes them.
pub const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A request log being written.
pub struct RequestLog {
    out: io::BufWriter<Box<dyn Write + Send>>,
    /// Days since 1970-01-01 of the scenario's first day, and its zone.
    first_day: i64,
    offset_minutes: i32,
    /// Per route, the request line's method and path, split where a
    /// parameter (`[slug]`) takes the request's cache key.
    requests: Vec<(String, Option<String>)>,
    /// The first write error; later lines are skipped.
    error: Option<io::Error>,
    lines: u64,
}

/// One request, as the log needs it.
pub struct LoggedRequest {
    /// When it arrived and when it ended.
    pub span: (SimTime, SimTime),
    /// Its route.
    pub route: usize,
    /// Who sent it: a user or an abusive client (others are not logged).
    pub class: Class,
    /// The client's number and IP address number.
    pub client: (u32, u32),
    /// How it ended.
    pub outcome: Outcome,
    /// What the CDN did with it and its cache key, if its route is cached.
    pub cdn: Option<(CdnResult, u32)>,
    /// Bytes of its response when answered.
    pub bytes: u64,
}

impl RequestLog {
    /// A log written to `out` of a scenario starting on `start` in `zone`
    /// whose routes' request lines are `requests`: `GET /api/cars`, or a
    /// path alone (a GET), with at most one parameter such as `[slug]`.
    pub fn new(
        out: Box<dyn Write + Send>,
        (start, zone): (Date, Timezone),
        requests: &[String],
    ) -> Self {
        let requests = requests
            .iter()
            .map(|line| {
                let line = if line.starts_with('/') {
                    format!("GET {line}")
                } else {
                    line.clone()
                };
                match (line.find('['), line.find(']')) {
                    (Some(open), Some(close)) if open < close => (
                        line[..open].to_string(),
                        Some(line[close + 1..].to_string()),
                    ),
                    _ => (line, None),
                }
            })
            .collect();
        Self {
            out: io::BufWriter::with_capacity(1 << 16, out),
            first_day: start.days_since_epoch(),
            offset_minutes: zone.offset_minutes,
            requests,
            error: None,
            lines: 0,
        }
    }

    /// Writes `request`'s line.
    pub fn record(&mut self, request: &LoggedRequest) {
        if self.error.is_some() || !matches!(request.class, Class::User | Class::Abusive) {
            return;
        }
        if let Err(error) = self.write_line(request) {
            self.error = Some(error);
        }
        self.lines += 1;
    }

    fn write_line(&mut self, request: &LoggedRequest) -> io::Result<()> {
        let (arrival, end) = request.span;
        let (client, ip) = request.client;
        let millis = arrival / 1_000_000;
        let seconds = millis / 1_000;
        let day = self.first_day + (seconds / 86_400) as i64;
        let (year, month, day_of_month) = crate::scenario::civil_from_days(day);
        let second_of_day = seconds % 86_400;
        let offset = self.offset_minutes.abs();
        let sign = if self.offset_minutes < 0 { '-' } else { '+' };
        write!(
            self.out,
            "10.{}.{}.{} - ",
            (ip >> 16) & 0xff,
            (ip >> 8) & 0xff,
            ip & 0xff
        )?;
        match request.class {
            Class::User => write!(self.out, "u{client}")?,
            _ => self.out.write_all(b"-")?,
        }
        let bytes = if request.outcome == Outcome::Ok {
            request.bytes
        } else {
            0
        };
        write!(
            self.out,
            " [{day_of_month:02}/{}/{year}:{:02}:{:02}:{:02}.{:03} {sign}{:02}{:02}] \"",
            MONTHS[month as usize - 1],
            second_of_day / 3_600,
            second_of_day / 60 % 60,
            second_of_day % 60,
            millis % 1_000,
            offset / 60,
            offset % 60,
        )?;
        let (before, after) = &self.requests[request.route];
        self.out.write_all(before.as_bytes())?;
        if let Some(after) = after {
            let key = request.cdn.map_or(0, |(_, key)| key);
            write!(self.out, "{key}{after}")?;
        }
        writeln!(
            self.out,
            " HTTP/1.1\" {} {bytes} \"-\" \"capsim\" {} {}",
            status(request.outcome),
            (end - arrival) / 1_000,
            match request.cdn {
                Some((CdnResult::Fresh, _)) => "HIT",
                Some((CdnResult::Stale, _)) => "STALE",
                Some((CdnResult::Miss, _)) => "MISS",
                None => "-",
            }
        )
    }

    /// Flushes the log: its line count, or the first error writing it.
    pub fn finish(mut self) -> io::Result<u64> {
        if let Some(error) = self.error.take() {
            return Err(error);
        }
        self.out.flush()?;
        Ok(self.lines)
    }
}

/// The HTTP status a client saw for `outcome`.
pub fn status(outcome: Outcome) -> u16 {
    match outcome {
        Outcome::Ok => 200,
        Outcome::RateLimited => 429,
        Outcome::Throttled | Outcome::AiFastFailed | Outcome::ExternalQuota => 503,
        Outcome::Timeout | Outcome::DataApiTimeout => 504,
        Outcome::AiError => 502,
        Outcome::DbRefused
        | Outcome::PoolerRefused
        | Outcome::PoolerTimeout
        | Outcome::ConnectionTimeout
        | Outcome::StatementTimeout => 500,
    }
}
