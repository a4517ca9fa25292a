//! Twilio's inbound side as pure functions: request signatures, SMS reply
//! codes, and the TwiML Firebell answers with.
//!
//! - Every callback Twilio makes carries `X-Twilio-Signature`:
//!   base64(HMAC-SHA1(auth token, full URL + each POST parameter, sorted by
//!   name, as name + value)). [`signature`] computes it, [`verify`] checks one
//!   in constant time.
//! - A page sent by SMS ends with [`reply_footer`]; an answer is read with
//!   [`parse_reply`].
//! - [`Twiml`] writes the small XML documents a call or an inbound text is
//!   answered with; every piece of text is escaped, since it is user data.

use crate::alert::AlertId;
use crate::escalation::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha1::Sha1;

type HmacSha1 = Hmac<Sha1>;

/// The last line of a page sent by SMS: how to answer it.
pub fn reply_footer(alert_id: AlertId) -> String {
    format!("Reply {alert_id}a to take it, {alert_id}d to pass, {alert_id}r to resolve")
}

/// The footer of a page about `alert` sent by SMS: the reply codes, then
/// the alert's runbook actions (`42x3: Drain web1`) while the footer fits in
/// one segment, so actions never crowd out the alert or the codes.
pub fn page_footer(config: &crate::config::Config, alert: &crate::alert::Alert) -> String {
    let mut footer = reply_footer(alert.id);
    for a in config.actions.for_alert(alert) {
        let more = format!("{footer}; {}x{}: {}", alert.id, a.key, a.label_for(alert));
        if crate::sms::segments(&more) > 1 {
            break;
        }
        footer = more;
    }
    footer
}

/// What the help reply says.
pub fn help_text() -> String {
    "Firebell: reply with the alert number and a letter: 42a to take alert 42, 42d to pass, \
     42r to resolve it; or ack / resolve for the latest alert paged to you."
        .to_string()
}

/// An inbound text, understood.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply {
    /// `42a`, `42d`, `42r`: an answer for one alert.
    Code {
        alert_id: AlertId,
        response: Response,
    },
    /// `ack`/`accept` or `resolve`: an answer for the latest open alert paged
    /// to the sender.
    Latest(Response),
    /// `42x3`: run the action on key 3 of alert 42 (a runbook action).
    Action { alert_id: AlertId, key: char },
    /// Anything else: the sender gets [`help_text`].
    Help,
}

/// Reads an SMS reply (trimmed, case-insensitive).
pub fn parse_reply(text: &str) -> Reply {
    let t = text.trim().to_ascii_lowercase();
    match t.as_str() {
        "ack" | "accept" => return Reply::Latest(Response::Accept),
        "resolve" => return Reply::Latest(Response::Resolve),
        _ => {}
    }
    // `42x3`: an action's key after an `x`.
    if let Some((id, key)) = t.rsplit_once('x') {
        let id = id.strip_prefix('#').unwrap_or(id).trim();
        let key = key.trim();
        return match (id.parse::<AlertId>(), key.len() == 1) {
            (Ok(alert_id), true)
                if alert_id > 0
                    && id.bytes().all(|b| b.is_ascii_digit())
                    && crate::actions::KEYS.contains(key) =>
            {
                Reply::Action {
                    alert_id,
                    key: key.chars().next().unwrap_or('3'),
                }
            }
            _ => Reply::Help,
        };
    }
    let Some(letter) = t.chars().last() else {
        return Reply::Help;
    };
    let response = match letter {
        'a' => Response::Accept,
        'd' => Response::Decline,
        'r' => Response::Resolve,
        _ => return Reply::Help,
    };
    let digits = &t[..t.len() - 1];
    let digits = digits.strip_prefix('#').unwrap_or(digits).trim();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Reply::Help;
    }
    match digits.parse::<AlertId>() {
        Ok(alert_id) if alert_id > 0 => Reply::Code { alert_id, response },
        _ => Reply::Help,
    }
}

/// The string Twilio signs: the URL, then each parameter sorted by name (then
/// value; a repeated identical pair counts once, as in Twilio's libraries) as
/// name + value.
fn signed_string(url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    sorted.dedup();
    let mut s = String::from(url);
    for (name, value) in sorted {
        s.push_str(name);
        s.push_str(value);
    }
    s
}

/// HMAC-SHA1 of the signed string. (HMAC takes a key of any length, so
/// this is `None` never in practice.)
fn mac(auth_token: &str, url: &str, params: &[(String, String)]) -> Option<HmacSha1> {
    let mut mac = HmacSha1::new_from_slice(auth_token.as_bytes()).ok()?;
    mac.update(signed_string(url, params).as_bytes());
    Some(mac)
}

/// The `X-Twilio-Signature` value for a request to `url` (with its query, as
/// received) with the POST `params`.
pub fn signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    mac(auth_token, url, params)
        .map(|m| STANDARD.encode(m.finalize().into_bytes()))
        .unwrap_or_default()
}

/// Whether `given` is the right signature, compared in constant time.
pub fn verify(auth_token: &str, url: &str, params: &[(String, String)], given: &str) -> bool {
    let Ok(raw) = STANDARD.decode(given.trim()) else {
        return false;
    };
    mac(auth_token, url, params).is_some_and(|m| m.verify_slice(&raw).is_ok())
}

/// [`verify`] with a twilio channel's auth token.
pub fn verify_for(
    settings: &crate::channels::TwilioSettings,
    url: &str,
    params: &[(String, String)],
    given: &str,
) -> bool {
    use secrecy::ExposeSecret;
    verify(settings.auth_token.expose_secret(), url, params, given)
}

/// Whether Twilio's answering-machine detection (`AnsweredBy`) says a machine
/// or a fax took the call.
pub fn answered_by_machine(answered_by: &str) -> bool {
    answered_by.starts_with("machine") || answered_by == "fax"
}

/// Call statuses that mean the person was not reached.
pub fn call_not_reached(status: &str) -> bool {
    matches!(status, "busy" | "no-answer" | "failed" | "canceled")
}

/// Message statuses that mean the text did not arrive.
pub fn message_not_delivered(status: &str) -> bool {
    matches!(status, "failed" | "undelivered")
}

/// Escapes text for XML content and attribute values, dropping characters XML
/// 1.0 cannot carry.
pub fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// A TwiML document, built verb by verb.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Twiml {
    body: String,
}

impl Twiml {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn say(mut self, text: &str) -> Self {
        self.body
            .push_str(&format!("<Say>{}</Say>", xml_escape(text)));
        self
    }

    /// `<Gather>` one digit, posted to `action`, around a `<Say>`.
    pub fn gather_digit(mut self, action: &str, timeout_secs: u32, prompt: &str) -> Self {
        self.body.push_str(&format!(
            "<Gather numDigits=\"1\" action=\"{}\" method=\"POST\" timeout=\"{timeout_secs}\"><Say>{}</Say></Gather>",
            xml_escape(action),
            xml_escape(prompt)
        ));
        self
    }

    pub fn redirect(mut self, url: &str) -> Self {
        self.body.push_str(&format!(
            "<Redirect method=\"POST\">{}</Redirect>",
            xml_escape(url)
        ));
        self
    }

    pub fn hangup(mut self) -> Self {
        self.body.push_str("<Hangup/>");
        self
    }

    /// `<Dial>` the caller through to `numbers` at once (the first to pick
    /// up takes the call), ringing `timeout_secs`, shown as `caller_id`;
    /// each number's `url` is asked when that person answers, and `action`
    /// when the dial ends (`DialCallStatus`).
    pub fn dial(
        mut self,
        action: &str,
        timeout_secs: u32,
        caller_id: &str,
        numbers: &[(String, String)],
    ) -> Self {
        self.body.push_str(&format!(
            "<Dial action=\"{}\" method=\"POST\" timeout=\"{timeout_secs}\" callerId=\"{}\">",
            xml_escape(action),
            xml_escape(caller_id)
        ));
        for (number, url) in numbers {
            self.body.push_str(&format!(
                "<Number url=\"{}\" method=\"POST\">{}</Number>",
                xml_escape(url),
                xml_escape(number)
            ));
        }
        self.body.push_str("</Dial>");
        self
    }

    /// An SMS answer to an inbound text.
    pub fn message(mut self, text: &str) -> Self {
        self.body
            .push_str(&format!("<Message>{}</Message>", xml_escape(text)));
        self
    }

    pub fn render(&self) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response>{}</Response>",
            self.body
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn shared_test_vector() {
        let p = params(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ]);
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        assert_eq!(signature("12345", url, &p), "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
        assert!(verify("12345", url, &p, "0/KCTR6DLpKmkAf8muzZqo1nDgQ="));
        // Order of the params as posted does not matter.
        let mut reversed = p.clone();
        reversed.reverse();
        assert!(verify(
            "12345",
            url,
            &reversed,
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        ));
    }

    #[test]
    fn wrong_signatures_fail() {
        let p = params(&[("Digits", "1")]);
        let url = "https://x.example/hooks/twilio/tw/gather/1";
        let good = signature("tok", url, &p);
        assert!(verify("tok", url, &p, &good));
        assert!(!verify("other", url, &p, &good));
        assert!(!verify("tok", url, &params(&[("Digits", "2")]), &good));
        assert!(!verify("tok", &format!("{url}?round=2"), &p, &good));
        assert!(!verify("tok", url, &p, ""));
        assert!(!verify("tok", url, &p, "not base64!"));
    }

    #[test]
    fn replies() {
        use Response::*;
        assert_eq!(
            parse_reply(" 42a "),
            Reply::Code {
                alert_id: 42,
                response: Accept
            }
        );
        assert_eq!(
            parse_reply("42D"),
            Reply::Code {
                alert_id: 42,
                response: Decline
            }
        );
        assert_eq!(
            parse_reply("#7r"),
            Reply::Code {
                alert_id: 7,
                response: Resolve
            }
        );
        assert_eq!(parse_reply("ACK"), Reply::Latest(Accept));
        assert_eq!(parse_reply("accept"), Reply::Latest(Accept));
        assert_eq!(parse_reply("Resolve\n"), Reply::Latest(Resolve));
        assert_eq!(
            parse_reply(" 42x3 "),
            Reply::Action {
                alert_id: 42,
                key: '3'
            }
        );
        assert_eq!(
            parse_reply("#7X9"),
            Reply::Action {
                alert_id: 7,
                key: '9'
            }
        );
        for help in [
            "",
            "a",
            "42",
            "42x",
            "42x1",
            "42x2",
            "42x33",
            "x3",
            "0x3",
            "4 2x3",
            "hello",
            "0a",
            "4 2a",
            "-1a",
            "99999999999999999999a",
        ] {
            assert_eq!(parse_reply(help), Reply::Help, "{help:?}");
        }
    }

    #[test]
    fn footer_names_the_codes() {
        assert_eq!(
            reply_footer(42),
            "Reply 42a to take it, 42d to pass, 42r to resolve"
        );
        for code in ["42a", "42d", "42r"] {
            assert!(matches!(
                parse_reply(code),
                Reply::Code { alert_id: 42, .. }
            ));
        }
    }

    #[test]
    fn twiml_escapes_user_text() {
        let t = Twiml::new()
            .gather_digit("https://x/g?a=1&b=2", 8, "Disk <full> & \"hot\"")
            .redirect("https://x/v?round=2")
            .render();
        assert_eq!(
            t,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Gather numDigits=\"1\" action=\"https://x/g?a=1&amp;b=2\" method=\"POST\" timeout=\"8\"><Say>Disk &lt;full&gt; &amp; &quot;hot&quot;</Say></Gather><Redirect method=\"POST\">https://x/v?round=2</Redirect></Response>"
        );
        assert_eq!(
            Twiml::new().message("a\u{7}b").render(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Message>ab</Message></Response>"
        );
    }

    #[test]
    fn machine_and_status_words() {
        for m in [
            "machine_start",
            "machine_end_beep",
            "machine_end_silence",
            "fax",
        ] {
            assert!(answered_by_machine(m));
        }
        for h in ["human", "unknown", ""] {
            assert!(!answered_by_machine(h));
        }
        assert!(call_not_reached("no-answer"));
        assert!(!call_not_reached("completed"));
        assert!(message_not_delivered("undelivered"));
        assert!(!message_not_delivered("delivered"));
    }

    /// The footer keeps the codes whole and adds actions only while it
    /// stays one segment.
    #[test]
    fn actions_join_the_footer_while_it_fits_one_segment() {
        let mut text = String::from(
            "[[users]]\nid = \"a\"\ncontacts = [ { kind = \"console\" } ]\n\
             [[policies]]\nid = \"p\"\nsteps = [ { targets = [\"user:a\"], wait = \"5m\" } ]\n\
             [[channels]]\nname = \"run\"\nkind = \"webhook\"\nurl = \"http://127.0.0.1:9/\"\n\
             [[services]]\nid = \"web\"\npolicy = \"p\"\n",
        );
        for (key, label) in [
            ('3', "Drain {{ labels.node }} from pool {{ labels.pool }}"),
            ('4', "Restart every node of pool {{ labels.pool }}"),
            ('5', "Fail pool {{ labels.pool }} over to the standby site"),
        ] {
            text.push_str(&format!(
                "[[services.actions]]\nid = \"a{key}\"\nkey = \"{key}\"\nlabel = \"{label}\"\nrun = {{ channel = \"run\" }}\n"
            ));
        }
        let config = crate::config::parse(&text, &crate::config::MapSecrets::default())
            .unwrap_or_else(|e| panic!("{e}"));
        let mut alert = crate::templates::samples().remove(0).0;
        alert.service = "web".into();
        alert.labels = [("pool", "web"), ("node", "10.0.0.5:80")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let footer = page_footer(&config, &alert);
        assert_eq!(
            footer,
            "Reply 42a to take it, 42d to pass, 42r to resolve; 42x3: Drain 10.0.0.5:80 from pool web; 42x4: Restart every node of pool web"
        );
        assert_eq!(crate::sms::segments(&footer), 1);
    }
}
