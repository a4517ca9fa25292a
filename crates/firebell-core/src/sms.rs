//! Phone numbers and SMS text.
//!
//! Numbers are parsed with the `phonenumber` crate (Google's libphonenumber
//! metadata), must be valid or at least of a possible length for their
//! country, and are stored as E.164 (`+447700900123`): a national number such as
//! `07700 900123` needs a region (`GB`) — the user's `region`, else
//! `[server] default_region` — which is the first seed's "add the country
//! code" done properly.
//!
//! [`text`] makes a page readable on a phone: tabs and control characters
//! become line breaks and spaces, it starts with what fired and where, and it
//! is cut to a number of segments with an ellipsis, never cutting the footer.
//!
//! [`segments`] counts what a network counts: a text that is all GSM-7
//! (the GSM 03.38 basic set, 1 septet each, and its extension table
//! `^{}\[~]|€`, 2 septets each) takes 160 septets in one segment or 153 per
//! segment when split; anything else is sent as UCS-2 and takes 70 UTF-16
//! code units, or 67 per segment when split. An extension character or a
//! surrogate pair is never split across segments.

use phonenumber::country::Id;
use phonenumber::{Mode, PhoneNumber};
use std::str::FromStr;

/// Segments a text may take unless the channel says otherwise.
pub const DEFAULT_MAX_SEGMENTS: u8 = 3;

/// The GSM 03.38 basic character set, without the escape to the extension
/// table (1 septet each).
const GSM_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";

/// The GSM 03.38 extension table (escape + character: 2 septets each).
const GSM_EXTENSION: &str = "^{}\\[~]|€\u{0c}";

/// How a text goes over the air.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmsEncoding {
    /// GSM 03.38, 7 bits per character.
    Gsm7,
    /// UTF-16, for anything GSM-7 cannot carry (emoji, most scripts).
    Ucs2,
}

/// The encoding a text needs: GSM-7 when every character has a septet.
pub fn encoding(text: &str) -> SmsEncoding {
    if text
        .chars()
        .all(|c| GSM_BASIC.contains(c) || GSM_EXTENSION.contains(c))
    {
        SmsEncoding::Gsm7
    } else {
        SmsEncoding::Ucs2
    }
}

/// The length of a text in its encoding's units: septets for GSM-7, UTF-16
/// code units for UCS-2.
pub fn units(text: &str) -> (SmsEncoding, usize) {
    let enc = encoding(text);
    (enc, text.chars().map(|c| unit_cost(enc, c)).sum())
}

fn unit_cost(enc: SmsEncoding, c: char) -> usize {
    match enc {
        SmsEncoding::Gsm7 if GSM_EXTENSION.contains(c) => 2,
        SmsEncoding::Gsm7 => 1,
        SmsEncoding::Ucs2 => c.len_utf16(),
    }
}

/// How many segments a network sends `text` as (at least 1).
pub fn segments(text: &str) -> usize {
    let (enc, total) = units(text);
    let (single, part) = match enc {
        SmsEncoding::Gsm7 => (160, 153),
        SmsEncoding::Ucs2 => (70, 67),
    };
    if total <= single {
        return 1;
    }
    // Fill parts in order; a character that does not fit starts the next.
    let mut count = 1;
    let mut used = 0;
    for c in text.chars() {
        let cost = unit_cost(enc, c);
        if used + cost > part {
            count += 1;
            used = 0;
        }
        used += cost;
    }
    count
}

/// Checks a region code (ISO 3166-1 alpha-2, such as `GB` or `US`) and
/// returns it upper-cased.
pub fn parse_region(region: &str) -> Result<String, String> {
    let upper = region.trim().to_ascii_uppercase();
    match Id::from_str(&upper) {
        Ok(_) if upper.len() == 2 => Ok(upper),
        _ => Err(format!(
            "{region:?} is not a region code; use a two-letter ISO 3166 code such as \"GB\" or \"US\""
        )),
    }
}

/// Parses `number` (international `+44…`, or national with `region`) into
/// E.164. The error says what is wrong, quoting the number.
pub fn parse_number(number: &str, region: Option<&str>) -> Result<String, String> {
    let trimmed = number.trim();
    let international = trimmed.starts_with('+') || trimmed.starts_with("00");
    let id = match region {
        Some(r) => Some(Id::from_str(r).map_err(|_| format!("{r:?} is not a region code"))?),
        None => None,
    };
    if id.is_none() && !international {
        return Err(format!(
            "{number:?} has no country code and no region is set"
        ));
    }
    let not_valid = || match region {
        Some(r) => format!("{number:?} is not a valid phone number for region {r}"),
        None => format!("{number:?} is not a valid phone number"),
    };
    let parsed: PhoneNumber = phonenumber::parse(id, trimmed).map_err(|_| not_valid())?;
    if !(phonenumber::is_valid(&parsed) || possible(&parsed)) {
        return Err(not_valid());
    }
    Ok(parsed.format().mode(Mode::E164).to_string())
}

/// Whether the number has a length mobile or fixed-line numbers of its
/// country have: what
/// libphonenumber calls a possible number. Accepts numbers in ranges that are
/// not (yet) assigned, such as Ofcom's drama range `07700 900xxx`.
fn possible(n: &PhoneNumber) -> bool {
    let len = n.national().to_string().len();
    let code = n.code().value();
    phonenumber::metadata::DATABASE
        .by_code(&code)
        .unwrap_or_default()
        .iter()
        .any(|m| {
            let d = m.descriptors();
            [Some(d.general()), d.mobile(), d.fixed_line()]
                .into_iter()
                .flatten()
                .any(|d| d.possible_length().iter().any(|l| usize::from(*l) == len))
        })
}

/// The SMS text: `header:` on the first line (what fired, e.g. the
/// traffic manager's event type or the service), then `line` with each tab
/// and line break starting a new line and other control characters as
/// spaces, then `footer` (a reply hint such as `Reply 12a to take it, …`) if
/// any. When it takes more than `max_segments` segments, the body is cut
/// and ends with an ellipsis (`...` while the text is GSM-7, so cutting
/// never turns it into UCS-2; `…` otherwise); the header and footer are kept.
pub fn text(header: &str, line: &str, footer: Option<&str>, max_segments: u8) -> String {
    let header = format!("{}:", clean_inline(header.trim()));
    let body: Vec<String> = line
        .split(['\t', '\n', '\r'])
        .map(|part| clean_inline(part).trim().to_string())
        .filter(|part| !part.is_empty())
        .collect();
    let body = body.join("\n");
    let footer = footer.map(|f| clean_inline(f.trim()));
    let compose = |body: &str| {
        let mut out = header.clone();
        if !body.is_empty() {
            out.push('\n');
            out.push_str(body);
        }
        if let Some(f) = &footer {
            out.push('\n');
            out.push_str(f);
        }
        out
    };
    let max = usize::from(max_segments.max(1));
    let whole = compose(&body);
    if segments(&whole) <= max {
        return whole;
    }
    // The first `k` characters of the body and an ellipsis.
    let chars: Vec<char> = body.chars().collect();
    let cut = |k: usize| {
        let kept: String = chars[..k].iter().collect();
        let kept = kept.trim_end();
        let gsm = encoding(&compose(kept)) == SmsEncoding::Gsm7;
        compose(&format!("{kept}{}", if gsm { "..." } else { "…" }))
    };
    // The longest cut that fits: more body never takes fewer segments.
    let (mut lo, mut hi) = (0, chars.len());
    if segments(&cut(0)) > max {
        return compose("");
    }
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if segments(&cut(mid)) <= max {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    cut(lo)
}

/// Control characters become spaces.
fn clean_inline(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn national_numbers_get_the_country_code() {
        assert_eq!(
            parse_number("07700 900123", Some("GB")).as_deref(),
            Ok("+447700900123")
        );
        assert_eq!(
            parse_number("+44 7700 900123", None).as_deref(),
            Ok("+447700900123")
        );
        assert_eq!(
            parse_number("(201) 555-0123", Some("US")).as_deref(),
            Ok("+12015550123")
        );
        // An international number ignores the region.
        assert_eq!(
            parse_number("+33 6 12 34 56 78", Some("GB")).as_deref(),
            Ok("+33612345678")
        );
    }

    #[test]
    fn bad_numbers_say_why() {
        assert_eq!(
            parse_number("12", Some("GB")),
            Err("\"12\" is not a valid phone number for region GB".to_string())
        );
        assert_eq!(
            parse_number("07700 900123", None),
            Err("\"07700 900123\" has no country code and no region is set".to_string())
        );
        assert!(parse_number("call me", Some("GB")).is_err());
    }

    #[test]
    fn regions_are_checked() {
        assert_eq!(parse_region("gb").as_deref(), Ok("GB"));
        assert!(parse_region("Britain").is_err());
        assert!(parse_region("XX").is_err());
    }

    const GATEWAY: &str = r#"
[[channels]]
name = "gateway"
kind = "http_sms"
url = "http://127.0.0.1:9/send"
fields = { to = "{{ to }}", text = "{{ body }}" }
"#;

    fn config(server: &str, users: &str) -> Result<crate::config::Config, Vec<String>> {
        let text = format!("[server]\n{server}\n{GATEWAY}\n{users}");
        crate::config::parse(&text, &crate::config::MapSecrets::default())
            .map_err(|e| e.0.iter().map(|e| e.to_string()).collect())
    }

    #[test]
    fn sms_contacts_are_stored_as_e164_with_the_users_or_servers_region() {
        let c = config(
            "default_region = \"GB\"",
            r#"
[[users]]
id = "alice"
contacts = [ { kind = "sms", number = "07700 900123" } ]
[[users]]
id = "bob"
region = "us"
contacts = [ { kind = "sms", number = "(201) 555-0123", channel = "gateway" } ]
"#,
        )
        .unwrap();
        assert_eq!(c.server.default_region.as_deref(), Some("GB"));
        assert_eq!(
            c.users["alice"].contacts,
            vec![crate::config::Contact::Sms {
                number: crate::contacts::E164Number::parse("+447700900123", None).unwrap(),
                channel: "gateway".into()
            }]
        );
        assert_eq!(c.users["bob"].contacts[0].address(), "+12015550123");
    }

    #[test]
    fn bad_sms_contacts_name_the_user_and_field() {
        let errs = config(
            "",
            r#"
[[users]]
id = "alice"
region = "GB"
contacts = [ { kind = "console" }, { kind = "sms", number = "12" } ]
[[users]]
id = "bob"
contacts = [ { kind = "sms", number = "07700 900123" }, { kind = "sms", number = "+447700900123", channel = "nope" }, { kind = "sms" } ]
[[users]]
id = "carol"
region = "Britain"
contacts = [ { kind = "sms", number = "+447700900123", address = "x@example.com" } ]
"#,
        )
        .unwrap_err();
        let text = errs.join("\n");
        for want in [
            "users[0].contacts[1].number: \"12\" is not a valid phone number for region GB",
            "users[1].contacts[0].number: \"07700 900123\" has no country code and no region is set",
            "users[1].contacts[1].channel: no channel named \"nope\" (hint: SMS channels: gateway)",
            "users[1].contacts[2].number: missing",
            "users[2].region: \"Britain\" is not a region code",
            "users[2].contacts[0].address: sms contacts take no address",
        ] {
            assert!(text.contains(want), "{want:?} not in\n{text}");
        }
        let errs = config("default_region = \"XX\"", "").unwrap_err();
        assert!(
            errs[0].starts_with("server.default_region: \"XX\" is not a region code"),
            "{errs:?}"
        );
    }

    #[test]
    fn the_seed_event_reads_well_on_a_phone() {
        // The first seed: event type "SMS Events", the event line with tabs;
        // the event's tag (vsstart) is left out by the caller.
        let line = "INFO\tvservers/Olympus\tVirtual server started on port 80";
        insta::assert_snapshot!(text("SMS Events", line, None, DEFAULT_MAX_SEGMENTS), @r"
        SMS Events:
        INFO
        vservers/Olympus
        Virtual server started on port 80
        ");
    }

    #[test]
    fn long_texts_are_cut_but_keep_the_footer() {
        let footer = "Reply 12a to take it, 12d to pass, 12r to resolve";
        let line = format!("FATAL\tservices/web\t{}", "disk full ".repeat(60));
        let t = text("Web", &line, Some(footer), 1);
        assert_eq!(units(&t), (SmsEncoding::Gsm7, 160), "{t}");
        assert!(t.starts_with("Web:\nFATAL\nservices/web\ndisk full"), "{t}");
        assert!(t.ends_with(&format!("...\n{footer}")), "{t}");
        // Two segments: as much as 2 × 153 septets hold.
        let t = text("Web", &line, Some(footer), 2);
        assert_eq!(segments(&t), 2);
        assert!(units(&t).1 > 300 && units(&t).1 <= 306, "{t}");
        assert!(t.ends_with(&format!("...\n{footer}")), "{t}");
        // Short enough: nothing is cut.
        let t = text("Web", "disk full", Some(footer), 1);
        assert_eq!(t, format!("Web:\ndisk full\n{footer}"));
        // UCS-2 text is cut at 70 code units, with a one-character ellipsis.
        let t = text("Web", &"Диск заполнен ".repeat(20), Some("Reply 1a"), 1);
        assert_eq!(units(&t), (SmsEncoding::Ucs2, 70), "{t}");
        assert!(t.ends_with("…\nReply 1a"), "{t}");
        // Control characters never reach the phone.
        let t = text("A\u{7}B", "x\u{1b}[31my", None, 1);
        assert_eq!(t, "A B:\nx [31my");
    }

    #[test]
    fn segments_count_gsm7_extension_and_ucs2_units() {
        let a = |n: usize| "a".repeat(n);
        // GSM-7: 160 in one segment, then 153 per segment.
        assert_eq!(segments(&a(160)), 1);
        assert_eq!(segments(&a(161)), 2);
        assert_eq!(segments(&a(306)), 2);
        assert_eq!(segments(&a(307)), 3);
        assert_eq!(segments("@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ¡ÄÖÑÜ§¿äöñüà"), 1);
        assert_eq!(units("Hello, world!").0, SmsEncoding::Gsm7);
        // Extension characters take two septets each.
        assert_eq!(units("{x}[€]~^|\\"), (SmsEncoding::Gsm7, 19));
        assert_eq!(segments(&"€".repeat(80)), 1);
        assert_eq!(segments(&"€".repeat(81)), 2);
        // ...and are never split: 152 septets then an escape pair starts part 2.
        assert_eq!(segments(&format!("{}€{}", a(152), a(7))), 2);
        assert_eq!(segments(&format!("{}€{}", a(152), a(152))), 3);
        // Anything else (an emoji, Cyrillic, a curly quote) makes it UCS-2.
        assert_eq!(units("disk full 🔥"), (SmsEncoding::Ucs2, 12));
        assert_eq!(units("it’s"), (SmsEncoding::Ucs2, 4));
        assert_eq!(segments(&"ж".repeat(70)), 1);
        assert_eq!(segments(&"ж".repeat(71)), 2);
        assert_eq!(segments(&"ж".repeat(134)), 2);
        assert_eq!(segments(&"ж".repeat(135)), 3);
        // An emoji is two UTF-16 units and never split: 66 + 🔥 does not fit 67.
        assert_eq!(
            segments(&format!("{}🔥{}", "ж".repeat(66), "ж".repeat(67))),
            3
        );
        assert_eq!(segments(&format!("{}🔥", "ж".repeat(68))), 1);
        assert_eq!(segments(&format!("{}🔥", "ж".repeat(69))), 2);
        assert_eq!(segments(""), 1);
    }
}
