//! Means over replications with Student-t confidence intervals.

use statrs::distribution::{ContinuousCDF, StudentsT};

/// A mean over replications and its 95% confidence half-width.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Estimate {
    /// The sample mean (NaN when no replication had a value).
    pub mean: f64,
    /// Half-width of the 95% Student-t interval (NaN with fewer than two values).
    pub half_width: f64,
}

/// The mean of the finite `values` and its 95% half-width.
pub fn estimate(values: &[f64]) -> Estimate {
    let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    let n = finite.len();
    if n == 0 {
        return Estimate {
            mean: f64::NAN,
            half_width: f64::NAN,
        };
    }
    let mean = finite.iter().sum::<f64>() / n as f64;
    if n < 2 {
        return Estimate {
            mean,
            half_width: f64::NAN,
        };
    }
    let variance = finite.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    let t = StudentsT::new(0.0, 1.0, (n - 1) as f64)
        .expect("degrees of freedom are positive")
        .inverse_cdf(0.975);
    Estimate {
        mean,
        half_width: t * (variance / n as f64).sqrt(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_interval() {
        let e = estimate(&[1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(e.mean, 3.0);
        // t(0.975, 4) = 2.776; s = sqrt(2.5); half = 2.776 * sqrt(2.5/5).
        assert!((e.half_width - 2.776_445 * 0.5f64.sqrt()).abs() < 1e-4);
        assert!(estimate(&[f64::NAN]).mean.is_nan());
        assert!(estimate(&[2.0]).half_width.is_nan());
    }
}
