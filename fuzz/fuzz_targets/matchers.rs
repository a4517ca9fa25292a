//! Label matchers as people and clients write them: one matcher, a list,
//! Alertmanager's `filter` parameter and silence bodies; whatever parses is
//! matched against a label set and printed back.
#![no_main]
use firebell_core::matcher::Matcher;
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;

fuzz_target!(|data: &str| {
    let labels: BTreeMap<String, String> = [
        ("alertname", "DiskFull"),
        ("instance", "web1:9100"),
        ("severity", "critical"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    if let Ok(m) = Matcher::parse(data) {
        let _ = firebell_core::matcher::all_match(std::slice::from_ref(&m), &labels);
        // What is printed parses again to the same matcher.
        let again = Matcher::parse(&m.to_string()).expect("a printed matcher parses");
        assert_eq!(again.to_string(), m.to_string());
    }
    if let Ok(list) = Matcher::parse_list(data) {
        let _ = firebell_core::matcher::all_match(&list, &labels);
    }
    if let Ok(list) = Matcher::parse_filter(data) {
        let _ = firebell_core::matcher::all_match(&list, &labels);
    }
    let items: Vec<String> = data.split('\n').map(str::to_string).collect();
    let _ = firebell_core::silence::parse_matchers("matchers", &items);
});
