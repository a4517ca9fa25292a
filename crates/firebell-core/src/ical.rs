//! iCalendar (RFC 5545) output for on-call calendar feeds: a `VCALENDAR` of
//! `VEVENT`s with UTC times, escaped text, CRLF line ends and lines folded at
//! 75 octets.

use jiff::Timestamp;

/// One event of a feed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IcsEvent {
    /// Stable across renderings of the same shift, so calendar clients update
    /// rather than duplicate it.
    pub uid: String,
    pub start: Timestamp,
    pub end: Timestamp,
    pub summary: String,
    pub description: String,
}

fn utc(t: Timestamp) -> String {
    t.strftime("%Y%m%dT%H%M%SZ").to_string()
}

/// Escapes a TEXT value (RFC 5545 §3.3.11).
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Appends one content line, folded so no physical line exceeds 75 octets
/// (continuations start with a space), never splitting a UTF-8 character.
fn push_line(out: &mut String, line: &str) {
    let mut width = 0;
    for c in line.chars() {
        let n = c.len_utf8();
        if width + n > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += n;
    }
    out.push_str("\r\n");
}

/// Renders a calendar named `name`. `stamp` is the DTSTAMP of every event
/// (the time the feed was made).
pub fn calendar(name: &str, events: &[IcsEvent], stamp: Timestamp) -> String {
    let mut out = String::new();
    push_line(&mut out, "BEGIN:VCALENDAR");
    push_line(&mut out, "VERSION:2.0");
    push_line(&mut out, "PRODID:-//Firebell//On-call schedule//EN");
    push_line(&mut out, "CALSCALE:GREGORIAN");
    push_line(&mut out, "METHOD:PUBLISH");
    push_line(&mut out, &format!("X-WR-CALNAME:{}", escape(name)));
    for e in events {
        push_line(&mut out, "BEGIN:VEVENT");
        push_line(&mut out, &format!("UID:{}", escape(&e.uid)));
        push_line(&mut out, &format!("DTSTAMP:{}", utc(stamp)));
        push_line(&mut out, &format!("DTSTART:{}", utc(e.start)));
        push_line(&mut out, &format!("DTEND:{}", utc(e.end)));
        push_line(&mut out, &format!("SUMMARY:{}", escape(&e.summary)));
        if !e.description.is_empty() {
            push_line(&mut out, &format!("DESCRIPTION:{}", escape(&e.description)));
        }
        push_line(&mut out, "TRANSP:TRANSPARENT");
        push_line(&mut out, "END:VEVENT");
    }
    push_line(&mut out, "END:VCALENDAR");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_folded_escaped_and_crlf() {
        let t: Timestamp = "2026-03-02T09:00:00Z".parse().unwrap();
        let ev = IcsEvent {
            uid: "ops-0-1772442000@firebell".into(),
            start: t,
            end: "2026-03-09T09:00:00Z".parse().unwrap(),
            summary: "On call: alice, bob; ops".into(),
            description: format!("Schedule ops\n{}", "é".repeat(60)),
        };
        let text = calendar("ops", &[ev], t);
        assert!(text.contains("DTSTART:20260302T090000Z\r\n"));
        assert!(text.contains("SUMMARY:On call: alice\\, bob\\; ops\r\n"));
        assert!(text.lines().all(|l| l.len() <= 76), "{text}"); // 75 + the \r
        assert!(text.ends_with("END:VCALENDAR\r\n"));
        // Unfolding gives back the description line.
        let unfolded = text.replace("\r\n ", "");
        assert!(unfolded.contains(&format!("DESCRIPTION:Schedule ops\\n{}", "é".repeat(60))));
    }
}
