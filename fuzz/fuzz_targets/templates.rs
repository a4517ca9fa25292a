//! Every message template rendered over an alert made of hostile event data
//! (summary, source, labels and details from the input): template syntax
//! in the data is text, never evaluated, and every built-in renders.
#![no_main]
use firebell_core::templates::{Templates, samples};
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;

fuzz_target!(|input: (String, String, Vec<(String, String)>, String)| {
    let (summary, source, labels, detail) = input;
    let config = firebell_fuzz::config();
    let templates = Templates::new(std::iter::empty::<(&str, &BTreeMap<String, String>)>());
    for (mut alert, notification) in samples() {
        alert.summary = summary.clone();
        alert.source = source.clone();
        alert.labels = labels.iter().cloned().collect();
        alert
            .details
            .insert("note".into(), serde_json::Value::String(detail.clone()));
        let ctx = firebell_core::render::template_context(config, &alert, &notification);
        for name in firebell_core::templates::names().split(", ") {
            let name = name.trim_matches('`');
            // A built-in always renders, whatever the data says.
            templates
                .render(&alert.service, name, &ctx)
                .unwrap_or_else(|e| panic!("built-in template {name} failed: {e}"));
        }
        let _ = firebell_core::render::console_line(&alert, &notification);
        let _ = firebell_core::render::webhook_body(&alert, &notification);
    }
});
