//! capsim: a capacity-planning simulator for serverless web stacks.
//!
//! A scenario file ([`scenario`], possibly extending another) describes
//! users in tiers, how they send requests, the routes with their CDN
//! caching, rate limits and app caches, the function deployments that serve
//! them, the database behind them (direct connections, a pooler or the
//! Data API; CPUs; read replicas), the external APIs and the AI provider
//! they call, and scheduled jobs. [`experiment`] simulates every tier and
//! replication in parallel; each replication drives the modelled stack
//! ([`model`]) request by request on a domain-free discrete-event kernel
//! ([`sim`]), records streaming statistics ([`stats`]) and ends as typed
//! results and per-minute series that [`report`] writes as CSV.
//!
//! ```no_run
//! use capsim::{experiment, scenario};
//!
//! let loaded = scenario::load("scenarios/autorev-baseline.yaml".as_ref())?;
//! let tier = &loaded.scenario.tiers[0];
//! let result = experiment::simulate(loaded.stack(0), tier.users, 0);
//! println!("p95 {:?} ms", result.tier.latency.p95_ms);
//! # Ok::<(), capsim::scenario::ScenarioError>(())
//! ```
#![deny(missing_docs)]

pub mod breakpoints;
pub mod calibrate;
pub mod costs;
pub mod experiment;
pub mod init;
pub mod model;
pub mod report;
pub mod scenario;
pub mod sim;
pub mod stats;
