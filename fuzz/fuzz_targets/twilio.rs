//! Twilio callbacks: the form body, its signature check, the caller's and
//! sender's numbers, and SMS reply codes.
#![no_main]
use firebell_core::twilio;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let params: Vec<(String, String)> = form_urlencoded::parse(data)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let field = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let url = "https://firebell.example.com/hooks/twilio/phone/sms";
    let token = "twilio-auth-token";
    let given = field("X-Twilio-Signature").unwrap_or("");
    if twilio::verify(token, url, &params, given) {
        // Only the real signature passes.
        assert_eq!(given, twilio::signature(token, url, &params));
    }
    if let Some(body) = field("Body") {
        let _ = twilio::parse_reply(body);
    }
    for name in ["From", "To", "Caller"] {
        if let Some(number) = field(name) {
            let _ = firebell_core::sms::parse_number(number, Some("GB"));
        }
    }
    let _ = twilio::answered_by_machine(field("AnsweredBy").unwrap_or(""));
    let _ = twilio::call_not_reached(field("CallStatus").unwrap_or(""));
    let _ = twilio::message_not_delivered(field("MessageStatus").unwrap_or(""));
});
