//! capsim: a capacity-planning simulator.
pub mod experiment;
pub mod model;
pub mod report;
pub mod scenario;
pub mod sim;
pub mod stats;
