//! The integration tests of `firebell`, one binary (each module a feature).
//! One binary links the crate's dependencies once instead of once per file.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// Helpers used by some modules only.
#![allow(dead_code)]

mod binary;
mod check_templates;
mod cluster;
mod common;
mod faults;
mod logging;
mod maintenance_cli;
mod openapi;
mod rules_cli;
mod silence_cli;
mod test_command;
mod ui;
mod vtm;
