//! The integration tests of `firebell-sqlite`, one binary (each module a feature).
//! One binary links the crate's dependencies once instead of once per file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod backend;
mod contract;
