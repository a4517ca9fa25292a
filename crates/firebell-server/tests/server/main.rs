//! The integration tests of `firebell-server`, one binary (each module a feature).
//! One binary links the crate's dependencies once instead of once per file.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// Helpers used by some modules only.
#![allow(dead_code)]

mod ack_timeout;
mod actions;
mod alertmanager;
mod amtool;
mod amtool_silences;
mod bad_input;
mod bundling;
mod chat_webhooks;
mod email;
mod escalation;
mod failed_pages;
mod faults;
mod heartbeats;
mod http_sms;
mod ingest_limits;
mod inhibition;
mod maintenance;
mod metrics;
mod nodes;
mod notification_rules;
mod pagerduty;
mod phone_line;
mod probes;
mod program;
mod rate_limits;
mod route_auth;
mod rules;
mod schedules;
mod self_alerts;
mod silences;
mod sms_replies;
mod sns;
mod support;
mod test_pages;
mod twilio_api;
mod twilio_sms;
mod twilio_voice;
mod web_ui;
mod webhook;
