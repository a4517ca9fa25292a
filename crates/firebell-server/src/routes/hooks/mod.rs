//! Provider callbacks: each request is authenticated by the provider's own
//! signature, not by a Firebell key.

mod answers;
pub(crate) mod phone;
pub(crate) mod sms;
pub(crate) mod sns;
pub(crate) mod twilio;
