//! The PostgreSQL backend's tests, one binary: the shared store contract on
//! a real server, and what only many nodes can do.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod contract;
mod nodes;
