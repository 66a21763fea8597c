//! capsim: a capacity-planning simulator.
pub mod scenario;
pub mod sim;
pub mod stats;
