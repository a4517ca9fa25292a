//! The configuration loader on hostile files: it answers with a
//! configuration or with errors, and never panics.
#![no_main]
use firebell_core::config::MapSecrets;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &str| {
    let secrets =
        MapSecrets::default().with_env("FIREBELL_ADMIN_TOKEN", "fuzzing-admin-token-0123456789");
    if let Err(errors) = firebell_core::config::parse(data, &secrets) {
        let _ = errors.to_string();
    }
});
