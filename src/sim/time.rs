//! Simulated time as integer nanoseconds, so that event order never depends
//! on floating-point accumulation. 2^64 ns is about 584 years.

/// A point in simulated time, in nanoseconds since the start of the run.
pub type SimTime = u64;
/// A span of simulated time, in nanoseconds.
pub type SimDuration = u64;

/// Nanoseconds in one second.
pub const NANOS_PER_SEC: u64 = 1_000_000_000;
/// Nanoseconds in one millisecond.
pub const NANOS_PER_MILLI: u64 = 1_000_000;

/// Converts seconds to a duration, rounding to the nearest nanosecond;
/// negative and NaN inputs give zero, 2^63 ns (292 years) and more saturate.
#[inline]
pub fn duration_from_secs(secs: f64) -> SimDuration {
    let nanos = secs * NANOS_PER_SEC as f64;
    if nanos >= (1u64 << 63) as f64 {
        u64::MAX
    } else if nanos > 0.0 {
        // `f64::round` without its library call, through the signed
        // conversions (one instruction each, where the unsigned ones take
        // several): below 2^53 the fraction `nanos - whole` is exact, above
        // it `nanos` is whole; ties go up, as `round` does for positive values.
        let whole = nanos as i64;
        (whole + i64::from(nanos - whole as f64 >= 0.5)) as u64
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng, rngs::Xoshiro256PlusPlus};

    #[test]
    fn round_trips_and_clamps() {
        assert_eq!(duration_from_secs(1.5), 1_500_000_000);
        assert_eq!(duration_from_secs(2.5e-9), 3);
        assert_eq!(duration_from_secs(2.4999e-9), 2);
        assert_eq!(duration_from_secs(0.4e-9), 0);
    }

    #[test]
    fn rounds_as_the_library_does() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(11);
        for _ in 0..1_000_000 {
            // Seconds over 21 decades (up to 292 years), and exact
            // half-nanosecond ties.
            let secs = 10f64.powf(rng.random_range(-12.0..9.9));
            let tie = rng.random_range(0..1u64 << 40) as f64 / NANOS_PER_SEC as f64 + 0.5e-9;
            for secs in [secs, tie] {
                let library = (secs * NANOS_PER_SEC as f64).round() as u64;
                assert_eq!(duration_from_secs(secs), library, "{secs}");
            }
        }
        assert_eq!(duration_from_secs(-1.0), 0);
        assert_eq!(duration_from_secs(f64::NAN), 0);
        assert_eq!(duration_from_secs(1e30), u64::MAX);
        assert_eq!(duration_from_secs(9.3e9), u64::MAX);
        assert_eq!(duration_from_secs(9.2e9), 9_200_000_000_000_000_000);
    }
}
