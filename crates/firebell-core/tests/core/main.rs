//! The integration tests of `firebell-core`, one binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod layering;
mod schedule;
