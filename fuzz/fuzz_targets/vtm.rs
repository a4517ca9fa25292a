//! Traffic-manager events: `POST /api/v1/vtm` bodies, bare event lines, and
//! `firebell vtm-action`'s command line (arguments split at NUL bytes).
#![no_main]
use firebell_ingest::vtm;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = vtm::parse(data, "checkout", firebell_fuzz::now());
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = vtm::parse_line(text);
        let argv: Vec<String> = text.split('\0').map(str::to_string).collect();
        if let Ok(args) = vtm::ActionArgs::parse(&argv) {
            // The line is the last argument, and only that.
            if let Some(line) = &args.line {
                assert_eq!(argv.last(), Some(line));
            }
        }
    }
});
