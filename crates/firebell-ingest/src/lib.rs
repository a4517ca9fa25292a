//! Ingest adapters: each turns one wire format into [`Event`]s. They only
//! translate and check; recording is the engine's `accept`.
#![forbid(unsafe_code)]

pub mod alertmanager;
pub mod generic;
pub mod pagerduty;
pub mod sns;
pub mod vtm;

pub use firebell_core::event::{Event, FieldError};

/// Why a request body was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IngestError {
    /// Not JSON at all.
    Malformed(String),
    /// JSON, but some fields are wrong: every one is listed.
    Invalid(Vec<FieldError>),
}
