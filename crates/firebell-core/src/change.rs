//! Change events: something changed on a service (a deploy, a config push).
//! They go on the service's change timeline and page no one, so the person
//! paged later can see what changed just before.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// A change as received, before the store gives it an id.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NewChange {
    pub service: String,
    pub summary: String,
    pub source: String,
    /// When the sender says it happened (its timestamp, else receipt).
    #[schema(value_type = String, format = DateTime)]
    pub occurred_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub received_at: Timestamp,
    /// What else the sender said: custom details, links, the integration.
    #[schema(value_type = Object)]
    pub details: serde_json::Map<String, serde_json::Value>,
}

/// A stored change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Change {
    pub id: i64,
    #[serde(flatten)]
    pub change: NewChange,
}
