//! AWS SNS deliveries: the message envelope, its certificate and subscribe
//! URLs (checked before anything is fetched), and CloudWatch alarms inside.
#![no_main]
use firebell_core::config::InsufficientData;
use firebell_ingest::sns;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = sns::check_cert_url(text);
        let _ = sns::check_subscribe_url(text);
    }
    let Ok(message) = sns::parse(data) else {
        return;
    };
    let _ = sns::check_cert_url(&message.signing_cert_url);
    for mode in [
        InsufficientData::Ignore,
        InsufficientData::Trigger,
        InsufficientData::Resolve,
    ] {
        let _ = sns::to_event(&message, "checkout", mode, firebell_fuzz::now());
    }
});
