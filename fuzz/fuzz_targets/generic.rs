//! `POST /api/v1/events`: Firebell's own event JSON, one event or a batch.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = firebell_ingest::generic::parse(data, "checkout", firebell_fuzz::now());
});
