//! The worst fixed window of a run: SLOs are judged on it, not on the
//! whole-run average, so a short burst can break an SLO.

use super::LatencyHistogram;
use crate::sim::{SimDuration, SimTime};

/// One closed window: its p95 latency (ms) and error rate, NaN where it had
/// too few requests.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WindowValues {
    /// p95 latency of the window's answered requests, ms.
    pub p95_ms: f64,
    /// Failed over finished requests.
    pub error_rate: f64,
}

/// Tracks latency p95 and error rate per consecutive window: every window's
/// values, and the worst.
#[derive(Clone, Debug)]
pub struct WindowTracker {
    start: SimTime,
    length: SimDuration,
    min_requests: u64,
    index: u64,
    /// Where window `index` ends: time only moves forward, so one
    /// comparison per request tells whether a window closed.
    index_end: SimTime,
    latencies: LatencyHistogram,
    requests: u64,
    errors: u64,
    worst_p95_ms: f64,
    worst_error_rate: f64,
    windows: Vec<WindowValues>,
}

impl WindowTracker {
    /// Windows of `length` from `start`; a window's p95 counts only when it
    /// has at least `min_requests` successful requests.
    pub fn new(start: SimTime, length: SimDuration, min_requests: u64) -> Self {
        Self {
            start,
            length: length.max(1),
            min_requests,
            index: 0,
            index_end: start.saturating_add(length.max(1)),
            latencies: LatencyHistogram::new(2),
            requests: 0,
            errors: 0,
            worst_p95_ms: f64::NAN,
            worst_error_rate: f64::NAN,
            windows: Vec::new(),
        }
    }

    fn roll_to(&mut self, now: SimTime) {
        if now < self.index_end {
            return;
        }
        // Past the window's end, so a later window.
        self.close();
        self.index = (now - self.start) / self.length;
        self.index_end = self
            .start
            .saturating_add((self.index + 1).saturating_mul(self.length));
    }

    fn close(&mut self) {
        let mut values = WindowValues {
            p95_ms: f64::NAN,
            error_rate: f64::NAN,
        };
        if self.latencies.count() >= self.min_requests.max(1) {
            values.p95_ms = self.latencies.quantile_ms(0.95);
            self.worst_p95_ms = self.worst_p95_ms.max(values.p95_ms);
        }
        if self.requests >= self.min_requests.max(1) {
            values.error_rate = self.errors as f64 / self.requests as f64;
            self.worst_error_rate = self.worst_error_rate.max(values.error_rate);
        }
        // Windows with no request at all before this one are empty.
        let empty = WindowValues {
            p95_ms: f64::NAN,
            error_rate: f64::NAN,
        };
        self.windows.resize(self.index as usize, empty);
        self.windows.push(values);
        self.latencies.reset();
        self.requests = 0;
        self.errors = 0;
    }

    /// Records a request that ended at `now`: its latency when it succeeded.
    #[inline]
    pub fn record(&mut self, now: SimTime, latency: Option<SimDuration>) {
        self.roll_to(now);
        self.requests += 1;
        match latency {
            Some(latency) => self.latencies.record(latency),
            None => self.errors += 1,
        }
    }

    /// Closes the last window and returns (worst p95 in ms, worst error rate);
    /// NaN when no window had enough requests.
    pub fn finish(&mut self) -> (f64, f64) {
        self.close();
        (self.worst_p95_ms, self.worst_error_rate)
    }

    /// Every window from the start, in order (after [`WindowTracker::finish`]).
    pub fn windows(&self) -> &[WindowValues] {
        &self.windows
    }

    /// The windows' length.
    pub fn length(&self) -> SimDuration {
        self.length
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::NANOS_PER_SEC;

    #[test]
    fn keeps_the_worst_window() {
        let minute = 60 * NANOS_PER_SEC;
        let mut tracker = WindowTracker::new(0, minute, 5);
        for i in 0..10 {
            tracker.record(i * NANOS_PER_SEC, Some(NANOS_PER_SEC / 10));
        }
        for i in 0..10 {
            let latency = if i % 2 == 0 {
                None
            } else {
                Some(2 * NANOS_PER_SEC)
            };
            tracker.record(minute + i * NANOS_PER_SEC, latency);
        }
        let (p95, errors) = tracker.finish();
        assert!((p95 - 2_000.0).abs() < 25.0, "{p95}");
        assert_eq!(errors, 0.5);
    }
}
