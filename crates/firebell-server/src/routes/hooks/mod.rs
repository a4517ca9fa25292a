//! Provider callbacks: each request is authenticated by the provider's own
//! signature, not by a Firebell key.

pub(crate) mod sns;
pub(crate) mod twilio;
