//! Ingest adapters: each turns one wire format into [`Event`]s. They only
//! translate and check; recording is the engine's `accept`.
#![forbid(unsafe_code)]

pub mod alertmanager;
pub mod generic;
pub mod pagerduty;
pub mod sns;
pub mod vtm;

pub use firebell_core::event::{Event, FieldError};

/// Why a request body was refused: the one error shape every adapter
/// returns (the server answers it in the format's own way).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IngestError {
    /// Not JSON at all.
    Malformed(String),
    /// JSON, but some fields are wrong: every one is listed.
    Invalid(Vec<FieldError>),
}

impl IngestError {
    /// One problem with the body as a whole (its shape, not a field).
    pub fn body(message: impl Into<String>) -> Self {
        IngestError::Invalid(vec![FieldError::new("body", message)])
    }

    /// The messages alone, in order (formats that answer a list of strings).
    pub fn messages(&self) -> Vec<String> {
        match self {
            IngestError::Malformed(m) => vec![format!("malformed JSON: {m}")],
            IngestError::Invalid(fields) => fields.iter().map(|f| f.message.clone()).collect(),
        }
    }
}
