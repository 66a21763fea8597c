//! Streaming statistics: latency histograms, SLO windows, per-minute series
//! and the aggregation of replications into means with confidence intervals.
//! Memory is bounded by the horizon and the number of routes, never by the
//! number of requests.

mod histogram;
mod replications;
mod series;
mod window;

pub use histogram::LatencyHistogram;
pub use replications::{Estimate, estimate};
pub use series::{Gauge, MinuteSeries};
pub use window::{WindowTracker, WindowValues};
