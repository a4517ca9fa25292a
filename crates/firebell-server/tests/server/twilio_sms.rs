//! SMS pages people answer: Firebell texts through a mock Twilio, each page
//! ends with its reply codes, and the test plays Twilio delivering the
//! person's reply to `/hooks/twilio/{channel}/sms` (signed) and reporting
//! message statuses.

use crate::support::twilio_phone::*;

/// After [`SERVER_AND_CHANNEL`].
const CONFIG: &str = r#"
[[users]]
id = "carol"
contacts = [ { kind = "sms", number = "+447700900011", channel = "tw" } ]
[[users]]
id = "erin"
contacts = [ { kind = "sms", number = "+447700900013", channel = "tw" } ]
[[users]]
id = "dave"
contacts = [ { kind = "sms", number = "+447700900012", channel = "tw" }, { kind = "console" } ]

[[policies]]
id = "web"
repeat = 1
steps = [
  { targets = ["user:carol"], wait = "5m" },
  { targets = ["user:erin"], wait = "5m" },
]
[[policies]]
id = "db"
repeat = 1
steps = [ { targets = ["user:dave"], wait = "5m" } ]

[[services]]
id = "checkout"
name = "Checkout web"
policy = "web"
integrations = [ { kind = "generic", key = "test-integration-key" } ]
[[services]]
id = "db"
policy = "db"
integrations = [ { kind = "generic", key = "db-integration-key" } ]
"#;

const CAROL: &str = "+447700900011";
const DAVE: &str = "+447700900012";
const ERIN: &str = "+447700900013";

async fn world() -> World {
    World::start(&format!("{SERVER_AND_CHANNEL}{CONFIG}")).await
}

impl World {
    async fn trigger_settled(&self, key: &str, summary: &str) -> i64 {
        let id = self.app.trigger(key, summary).await;
        self.app.settle().await;
        id
    }

    /// Texts sent to `number` so far, oldest first.
    fn texts_to(&self, number: &str) -> Vec<String> {
        self.twilio
            .messages()
            .iter()
            .filter(|m| m.field("To") == Some(number))
            .map(|m| m.field("Body").unwrap().to_string())
            .collect()
    }

    /// `from` texts `body`; returns the HTTP status and the reply text (if any).
    async fn reply_as(&self, sid: &str, from: &str, body: &str) -> (u16, Option<String>) {
        let form = [
            ("AccountSid", "AC0123456789abcdef0123456789abcdef"),
            ("Body", body),
            ("From", from),
            ("MessageSid", sid),
            ("NumMedia", "0"),
            ("SmsSid", sid),
            ("To", "+15005550006"),
        ];
        let (status, twiml) = self.phone.post("/hooks/twilio/tw/sms", &form).await;
        if status == 200 {
            assert!(twiml.contains("<Response>"), "{twiml}");
        }
        (status, message(&twiml))
    }

    /// A fresh inbound text.
    async fn reply(&self, from: &str, body: &str) -> Option<String> {
        let n = self.sids.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let sid = format!("SMin{n:030}");
        let (status, text) = self.reply_as(&sid, from, body).await;
        assert_eq!(status, 200);
        self.app.settle().await;
        text
    }

    async fn alert_status(&self, id: i64) -> String {
        self.app.alert(id).await["alert"]["status"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

/// `42d` passes, `42a` takes, `42r` resolves; late replies are told and
/// change nothing.
#[tokio::test]
async fn reply_codes_decline_accept_resolve() {
    let w = world().await;
    let id = w.trigger_settled("disk-web1", "Disk full on web1").await;
    let texts = w.texts_to(CAROL);
    assert_eq!(texts.len(), 1);
    assert!(
        texts[0].ends_with(&format!(
            "Reply {id}a to take it, {id}d to pass, {id}r to resolve"
        )),
        "{texts:?}"
    );

    assert_eq!(
        w.reply(CAROL, &format!("{id}d")).await.unwrap(),
        format!("Passing alert {id} on.")
    );
    assert_eq!(w.texts_to(ERIN).len(), 1, "the next step texted erin");
    assert_eq!(w.alert_status(id).await, "triggered");

    assert_eq!(
        w.reply(ERIN, &format!(" {id}A ")).await.unwrap(),
        format!("You have taken alert {id}: Disk full on web1")
    );
    assert_eq!(w.alert_status(id).await, "acknowledged");
    assert!(
        w.lines(id)
            .await
            .iter()
            .any(|l| l == "acknowledged by erin")
    );

    let before = w.lines(id).await;
    assert_eq!(
        w.reply(CAROL, &format!("{id}a")).await.unwrap(),
        format!("Alert {id} is already taken by erin.")
    );
    assert_eq!(w.lines(id).await, before);

    assert_eq!(
        w.reply(ERIN, &format!("{id}r")).await.unwrap(),
        format!("Alert {id} is resolved.")
    );
    assert_eq!(w.alert_status(id).await, "resolved");

    let before = w.lines(id).await;
    for code in ["a", "d", "r"] {
        assert_eq!(
            w.reply(CAROL, &format!("{id}{code}")).await.unwrap(),
            format!("Alert {id} is already resolved.")
        );
    }
    assert_eq!(w.lines(id).await, before);
    assert_eq!(w.alert_status(id).await, "resolved");
    w.app.stop().await;
}

/// `ack` and `resolve` act on the newest open alert paged to the sender.
#[tokio::test]
async fn ack_and_resolve_the_latest() {
    let w = world().await;
    let older = w.trigger_settled("disk-web1", "Disk full on web1").await;
    let newer = w.trigger_settled("cpu-web2", "CPU hot on web2").await;
    assert_eq!(w.texts_to(CAROL).len(), 2);

    assert_eq!(
        w.reply(CAROL, "ACK").await.unwrap(),
        format!("You have taken alert {newer}: CPU hot on web2")
    );
    assert_eq!(w.alert_status(newer).await, "acknowledged");
    assert_eq!(w.alert_status(older).await, "triggered");

    assert_eq!(
        w.reply(CAROL, "resolve").await.unwrap(),
        format!("Alert {newer} is resolved.")
    );
    assert_eq!(w.alert_status(newer).await, "resolved");

    assert_eq!(
        w.reply(CAROL, "accept").await.unwrap(),
        format!("You have taken alert {older}: Disk full on web1")
    );
    assert_eq!(w.alert_status(older).await, "acknowledged");

    // Someone never paged has no latest alert.
    assert_eq!(
        w.reply(DAVE, "ack").await.unwrap(),
        "No open alert was paged to you."
    );
    w.app.stop().await;
}

/// Unknown text gets help; codes for alerts the sender was not paged for,
/// texts from strangers and unsigned posts change nothing; a repeated
/// delivery acts once and answers the same.
#[tokio::test]
async fn unknown_replies_strangers_and_repeats() {
    let w = world().await;
    let id = w.trigger_settled("disk-web1", "Disk full on web1").await;
    let before = w.lines(id).await;

    let help = w.reply(CAROL, "what is this?").await.unwrap();
    assert!(help.contains("42a to take alert 42"), "{help}");
    assert!(help.contains("ack / resolve"), "{help}");
    assert_eq!(w.reply(CAROL, &format!("{id}x")).await.unwrap(), help);
    // erin is paged only by step 2, which has not fired.
    let refused = w.reply(ERIN, &format!("{id}a")).await.unwrap();
    assert!(
        refused.starts_with(&format!("Alert {id} is not one you were paged for.")),
        "{refused}"
    );
    assert!(
        w.reply(CAROL, "999a")
            .await
            .unwrap()
            .contains("not one you were paged for")
    );
    // A stranger: an empty answer.
    let (status, text) = w
        .reply_as("SMstranger", "+447700900999", &format!("{id}a"))
        .await;
    assert_eq!((status, text), (200, None));
    // Unsigned: refused.
    let (status, _) = w
        .phone
        .post_with_signature(
            "/hooks/twilio/tw/sms",
            &[("From", CAROL), ("Body", "ack"), ("MessageSid", "SMx")],
            None,
        )
        .await;
    assert_eq!(status, 403);
    w.app.settle().await;
    assert_eq!(w.lines(id).await, before);
    assert_eq!(w.alert_status(id).await, "triggered");

    // Delivered twice: one acknowledgement, the same answer both times.
    let first = w.reply_as("SMtwice", CAROL, &format!("{id}a")).await;
    let second = w.reply_as("SMtwice", CAROL, &format!("{id}a")).await;
    assert_eq!(first, second);
    assert_eq!(
        first.1.unwrap(),
        format!("You have taken alert {id}: Disk full on web1")
    );
    let lines = w.lines(id).await;
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.starts_with("acknowledged by"))
            .count(),
        1,
        "{lines:#?}"
    );
    w.app.stop().await;
}

/// A text reported undelivered: the line says so, with Twilio's error code,
/// and the person's next contact method is paged.
#[tokio::test]
async fn undelivered_texts_move_to_the_next_contact_method() {
    let w = world().await;
    let (status, body) = w
        .app
        .post_events_with_key(
            r#"{"action":"trigger","dedup_key":"db-lag","summary":"Replica lag","severity":"critical","source":"db1"}"#,
            Some("db-integration-key"),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let id = body["alerts"][0]["id"].as_i64().unwrap();
    w.app.settle().await;
    let sent: Vec<_> = w
        .twilio
        .messages()
        .into_iter()
        .filter(|m| m.field("To") == Some(DAVE))
        .collect();
    assert_eq!(sent.len(), 1);
    let callback = sent[0].field("StatusCallback").unwrap().to_string();
    assert!(w.app.pages().is_empty());

    let form = |status: &'static str| {
        let mut f = vec![
            ("AccountSid", "AC0123456789abcdef0123456789abcdef"),
            ("From", "+15005550006"),
            ("MessageSid", "SM00000000000000000000000000000001"),
            ("MessageStatus", status),
            ("To", DAVE),
        ];
        if status == "undelivered" {
            f.push(("ErrorCode", "30003"));
        }
        f
    };
    assert_eq!(w.phone.post(&callback, &form("sent")).await.0, 200);
    w.app.settle().await;
    assert!(w.app.pages().is_empty(), "sent is not a failure");
    assert_eq!(w.phone.post(&callback, &form("undelivered")).await.0, 200);
    assert_eq!(w.phone.post(&callback, &form("undelivered")).await.0, 200);
    w.app.settle().await;

    let lines = w.lines(id).await;
    assert!(
        lines.iter().any(|l| l == "text to dave: sent"),
        "{lines:#?}"
    );
    assert_eq!(
        lines
            .iter()
            .filter(|l| *l == "text to dave: undelivered (Twilio error 30003)")
            .count(),
        1,
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("paging dave via console")
                && l.contains("previous contact method failed")),
        "{lines:#?}"
    );
    let pages = w.app.pages();
    assert_eq!(pages.len(), 1);
    assert_eq!(pages[0].user, "dave");
    w.app.stop().await;
}
