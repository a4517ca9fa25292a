//! Firebell's domain: events, alerts, configuration and the escalation rules,
//! as plain data and pure functions. Nothing in this crate does I/O; time comes
//! in as an argument or through the [`clock::Clock`] trait.
#![forbid(unsafe_code)]

pub mod actions;
pub mod alert;
pub mod api;
pub mod bundling;
pub mod change;
pub mod channels;
pub mod clock;
pub mod config;
pub mod contacts;
pub mod escalation;
pub mod event;
/// `kind = "http_sms"` (lives with the other channel kinds).
pub use channels::http_sms;
pub mod ical;
pub mod id;
pub mod labels;
pub mod links;
pub mod matcher;
pub mod notification;
pub mod notify_rules;
pub mod probe;
pub mod render;
pub mod rules;
pub mod schedule;
pub mod silence;
pub mod sms;
pub mod templates;
pub mod twilio;

pub use jiff::{SignedDuration, Timestamp};
