//! Handlers by area. Each takes the auth extractor it needs
//! ([`crate::auth`]); the router ([`crate::router`]) lists them all.

pub(crate) mod alertmanager_api;
pub(crate) mod alerts;
pub(crate) mod changes;
pub(crate) mod hooks;
pub(crate) mod ingest;
pub(crate) mod links;
pub(crate) mod maintenance;
pub(crate) mod ops;
pub(crate) mod schedules;
pub(crate) mod silences;
pub(crate) mod test_pages;
pub(crate) mod ui;
