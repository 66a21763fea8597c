//! Integration tests, one binary: model validation against closed forms,
//! determinism, and the command line.

mod cli;
mod compose;
mod costs;
mod validation;
