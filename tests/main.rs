//! Integration tests, one binary: model validation against closed forms,
//! determinism, the command line, mutation fuzzing of the scenarios, and
//! predictions against a real PostgreSQL and PgBouncer.

mod calibrate;
mod cli;
mod compose;
mod costs;
mod fuzz;
mod testbed;
mod validation;
