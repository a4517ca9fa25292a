//! One-click link tokens and calendar-feed tokens as they arrive in URLs:
//! nothing but a token the server signed is taken.
#![no_main]
use firebell_core::links::{LinkAction, LinkSigner};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &str| {
    let config = firebell_fuzz::config();
    let signer = LinkSigner::from_config(config).expect("the admin token signs links");
    for action in [
        LinkAction::Acknowledge,
        LinkAction::Resolve,
        LinkAction::Run("drain".into()),
    ] {
        if let Ok(claim) = signer.verify(data, 42, &action, firebell_fuzz::now()) {
            // Only a token the signer made verifies.
            assert_eq!(signer.sign(&claim), data);
        }
    }
    for feed in ["schedule:weekdays", "user:alice"] {
        if config.feed_token_ok(feed, data) {
            assert_eq!(config.feed_token(feed).as_deref(), Some(data));
        }
    }
});
