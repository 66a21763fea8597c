//! Per-minute time series: counts per minute and gauges' maxima per minute.

use crate::sim::{NANOS_PER_SEC, SimTime};

const MINUTE: SimTime = 60 * NANOS_PER_SEC;

fn minute_of(at: SimTime) -> usize {
    (at / MINUTE) as usize
}

/// A level that changes over time (instances, open connections), with its
/// overall peak, its time integral, and its maximum and mean in each minute.
#[derive(Clone, Debug)]
pub struct Gauge {
    from: SimTime,
    value: u64,
    since: SimTime,
    /// `minute_of(since)`, kept to spare a division per change.
    since_minute: usize,
    peak: u64,
    area: f64,
    minute_max: Vec<u64>,
    /// Level x nanoseconds in each minute.
    minute_area: Vec<f64>,
}

impl Gauge {
    /// A gauge at 0 whose statistics start at `from` and cover `minutes` minutes.
    pub fn new(from: SimTime, minutes: usize) -> Self {
        Self {
            from,
            value: 0,
            since: 0,
            since_minute: 0,
            peak: 0,
            area: 0.0,
            minute_max: vec![0; minutes],
            minute_area: vec![0.0; minutes],
        }
    }

    /// Sets the level at time `now`.
    #[inline]
    pub fn set(&mut self, now: SimTime, value: u64) {
        if now > self.from {
            let start = self.since.max(self.from);
            self.area += self.value as f64 * (now - start) as f64;
        }
        // The old level held in every minute from `since` to `now`.
        let now_minute = minute_of(now);
        let last = now_minute.min(self.minute_max.len().saturating_sub(1));
        let first = if self.minute_max.is_empty() {
            last + 1
        } else {
            self.since_minute
        };
        for minute in first..=last {
            let (start, end) = (minute as SimTime * MINUTE, (minute as SimTime + 1) * MINUTE);
            let held = now.min(end).saturating_sub(self.since.max(start));
            self.minute_max[minute] = self.minute_max[minute].max(self.value);
            self.minute_area[minute] += self.value as f64 * held as f64;
        }
        self.value = value;
        if now >= self.since {
            self.since = now;
            self.since_minute = now_minute;
        }
        if now >= self.from {
            self.peak = self.peak.max(value);
            if let Some(slot) = self.minute_max.get_mut(now_minute) {
                *slot = (*slot).max(value);
            }
        }
    }

    /// Adds `delta` (may be negative) at time `now`.
    #[inline]
    pub fn add(&mut self, now: SimTime, delta: i64) {
        let value = self.value.saturating_add_signed(delta);
        self.set(now, value);
    }

    /// The current level.
    pub fn value(&self) -> u64 {
        self.value
    }

    /// Closes the gauge at `end`; returns (peak, time average over [from, end)).
    pub fn finish(&mut self, end: SimTime) -> (u64, f64) {
        let value = self.value;
        self.set(end, value);
        let span = end.saturating_sub(self.from) as f64;
        let mean = if span > 0.0 {
            self.area / span
        } else {
            f64::NAN
        };
        (self.peak, mean)
    }

    /// Maximum level in each minute.
    pub fn minute_maxima(&self) -> &[u64] {
        &self.minute_max
    }

    /// Time-average level in `minute` (complete once the gauge is finished).
    pub fn minute_mean(&self, minute: usize) -> f64 {
        self.minute_area[minute] / MINUTE as f64
    }
}

/// A count per minute.
#[derive(Clone, Debug)]
pub struct MinuteSeries {
    counts: Vec<u64>,
}

impl MinuteSeries {
    /// `minutes` zeroed minutes.
    pub fn new(minutes: usize) -> Self {
        Self {
            counts: vec![0; minutes],
        }
    }

    /// Adds one at time `now`.
    #[inline]
    pub fn bump(&mut self, now: SimTime) {
        self.add(now, 1);
    }

    /// Adds `count` at time `now`.
    #[inline]
    pub fn add(&mut self, now: SimTime, count: u64) {
        if let Some(slot) = self.counts.get_mut(minute_of(now)) {
            *slot += count;
        }
    }

    /// The counts.
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    /// The largest count among minutes from `first`.
    pub fn peak_from(&self, first: usize) -> u64 {
        self.counts
            .get(first..)
            .into_iter()
            .flatten()
            .copied()
            .max()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauge_tracks_peak_average_and_minutes() {
        let mut gauge = Gauge::new(0, 3);
        gauge.set(0, 2);
        gauge.set(30 * NANOS_PER_SEC, 6);
        gauge.set(45 * NANOS_PER_SEC, 1);
        gauge.set(150 * NANOS_PER_SEC, 0);
        let (peak, mean) = gauge.finish(180 * NANOS_PER_SEC);
        assert_eq!(peak, 6);
        // 2*30 + 6*15 + 1*105 = 255 over 180 s.
        assert!((mean - 255.0 / 180.0).abs() < 1e-9);
        assert_eq!(gauge.minute_maxima(), &[6, 1, 1]);
        // Minute 0: 2 for 30 s, 6 for 15 s, 1 for 15 s; minute 2: 1 for 30 s.
        assert!((gauge.minute_mean(0) - 165.0 / 60.0).abs() < 1e-9);
        assert!((gauge.minute_mean(1) - 1.0).abs() < 1e-9);
        assert!((gauge.minute_mean(2) - 0.5).abs() < 1e-9);
    }
}
