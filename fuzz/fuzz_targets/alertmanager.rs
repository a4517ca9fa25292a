//! `POST /api/v2/alerts` (what Prometheus sends) and the Alertmanager webhook
//! receiver; every accepted alert's fingerprint is recomputed.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let now = firebell_fuzz::now();
    for batch in [
        firebell_ingest::alertmanager::parse_v2(&body, "checkout", now),
        firebell_ingest::alertmanager::parse_webhook(&body, "checkout", now),
    ]
    .into_iter()
    .flatten()
    {
        for event in batch.events {
            assert_eq!(
                event.dedup_key.as_str(),
                firebell_ingest::alertmanager::fingerprint(&event.labels)
            );
        }
    }
});
