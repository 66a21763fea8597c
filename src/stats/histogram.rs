//! Latency percentiles from an HDR histogram: bounded memory, mergeable, and
//! a known relative error (10^-significant_digits).

use hdrhistogram::Histogram;

use crate::sim::SimDuration;

/// Latencies are recorded in whole microseconds (a zero wait as 0), up to this many.
const HIGHEST_MICROS: u64 = 24 * 3_600 * 1_000_000;

/// A histogram of latencies.
#[derive(Clone, Debug)]
pub struct LatencyHistogram {
    inner: Histogram<u64>,
    /// Exact sum, so the mean carries no bucketing error.
    sum_nanos: u128,
}

impl LatencyHistogram {
    /// A histogram with `significant_digits` (1-5) of precision: values are
    /// kept within a relative error of 10^-significant_digits.
    pub fn new(significant_digits: u8) -> Self {
        Self {
            inner: Histogram::new_with_bounds(1, HIGHEST_MICROS, significant_digits)
                .expect("valid histogram bounds"),
            sum_nanos: 0,
        }
    }

    /// The relative error bound of recorded values.
    pub fn relative_error(&self) -> f64 {
        10f64.powi(-i32::from(self.inner.sigfig()))
    }

    /// Records one latency (saturating at 24 hours).
    #[inline]
    pub fn record(&mut self, latency: SimDuration) {
        let micros = (latency / 1_000).min(HIGHEST_MICROS);
        self.inner.saturating_record(micros);
        self.sum_nanos += u128::from(latency);
    }

    /// Adds every value `other` recorded (same precision): the histogram of
    /// both, count for count.
    pub fn add(&mut self, other: &LatencyHistogram) {
        self.inner
            .add(&other.inner)
            .expect("histograms of one precision and range add");
        self.sum_nanos += other.sum_nanos;
    }

    /// Number of values recorded.
    pub fn count(&self) -> u64 {
        self.inner.len()
    }

    /// The `quantile` (0-1) in milliseconds, or NaN when empty.
    pub fn quantile_ms(&self, quantile: f64) -> f64 {
        if self.inner.is_empty() {
            return f64::NAN;
        }
        self.inner.value_at_quantile(quantile) as f64 / 1_000.0
    }

    /// The mean in milliseconds, or NaN when empty.
    pub fn mean_ms(&self) -> f64 {
        if self.inner.is_empty() {
            return f64::NAN;
        }
        self.sum_nanos as f64 / self.inner.len() as f64 / 1_000_000.0
    }

    /// Empties the histogram, keeping its memory.
    pub fn reset(&mut self) {
        self.inner.reset();
        self.sum_nanos = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_within_relative_error() {
        let mut histogram = LatencyHistogram::new(3);
        for ms in 1..=1_000u64 {
            histogram.record(ms * 1_000_000);
        }
        let p95 = histogram.quantile_ms(0.95);
        assert!(
            (p95 - 950.0).abs() <= 950.0 * histogram.relative_error(),
            "{p95}"
        );
        assert!((histogram.mean_ms() - 500.5).abs() < 1.0);
    }
}
