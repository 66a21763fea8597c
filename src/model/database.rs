//! Postgres reached over direct connections: each instance opens its own
//! connections (connect time) on its first SQL request and holds them for its
//! life. When `max_connections - platform_connections` are open, a connect
//! fails ("sorry, too many clients already", SQLSTATE 53300) and the request
//! errors; the instance tries again on its next request. A reclaimed
//! instance's connections stay open for `close_delay` (a frozen instance does
//! not close its sockets).

use crate::scenario::{Database as DatabaseConfig, DurationSampler};
use crate::sim::{SimDuration, SimTime};
use crate::stats::Gauge;

/// The database's connection slots and query timing.
#[derive(Clone, Debug)]
pub struct Database {
    /// Connection slots available to the application.
    pub limit: u32,
    /// Connections each instance opens.
    pub per_instance: u32,
    /// Time to open a connection.
    pub connect_time: DurationSampler,
    /// Time one query takes.
    pub query_time: DurationSampler,
    /// How long a reclaimed instance's connections linger.
    pub close_delay: SimDuration,
    /// Open connections over time.
    pub open: Gauge,
    /// Connections demanded over time: open, refused but still wanted, lingering.
    pub demanded: Gauge,
}

impl Database {
    /// The database of `config`, with statistics from `warmup` over `minutes` minutes.
    pub fn new(config: &DatabaseConfig, warmup: SimTime, minutes: usize) -> Self {
        let max = config.max_connections.as_ref().map_or(0, |m| m.value);
        let platform = config.platform_connections.as_ref().map_or(0, |p| p.value);
        Self {
            limit: max.saturating_sub(platform),
            per_instance: config.connections_per_instance.value,
            connect_time: config.connect_time.sampler(),
            query_time: config.query_time.sampler(),
            close_delay: config.close_delay.nanos(),
            open: Gauge::new(warmup, minutes),
            demanded: Gauge::new(warmup, minutes),
        }
    }

    /// An instance without connections wants them at `now`; `first_time`
    /// when it had never asked before. Returns whether they were opened.
    pub fn connect(&mut self, now: SimTime, first_time: bool) -> bool {
        let wanted = u64::from(self.per_instance);
        if first_time {
            self.demanded.add(now, wanted as i64);
        }
        let fits = self.open.value() + wanted <= u64::from(self.limit);
        if fits {
            self.open.add(now, wanted as i64);
        }
        fits
    }

    /// A reclaimed instance gives up `held` connections (and its demand,
    /// `wanted`); returns the delay after which they close, if any.
    pub fn release(&mut self, now: SimTime, held: u32, wanted: bool) -> Option<SimDuration> {
        let lingering = if held > 0 && self.close_delay > 0 {
            Some(self.close_delay)
        } else {
            self.open.add(now, -i64::from(held));
            None
        };
        if wanted {
            // Lingering connections stay demanded until they close.
            let still = if lingering.is_some() {
                i64::from(held)
            } else {
                0
            };
            self.demanded.add(now, still - i64::from(self.per_instance));
        }
        lingering
    }

    /// Lingering connections of a reclaimed instance close.
    pub fn close(&mut self, now: SimTime, count: u32) {
        self.open.add(now, -i64::from(count));
        self.demanded.add(now, -i64::from(count));
    }
}
