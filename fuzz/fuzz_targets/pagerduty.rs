//! `POST /v2/enqueue` and `POST /v2/change/enqueue`: PagerDuty's Events API v2.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let now = firebell_fuzz::now();
    let _ = firebell_ingest::pagerduty::routing_key(&body);
    let _ = firebell_ingest::pagerduty::parse(&body, "checkout", now);
    let _ = firebell_ingest::pagerduty::parse_change(&body, "checkout", now);
});
