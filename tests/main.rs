//! Integration tests, one binary: model validation against closed forms,
//! determinism, the command line, and mutation fuzzing of the scenarios.

mod calibrate;
mod cli;
mod compose;
mod costs;
mod fuzz;
mod validation;
