//! Voice calls people answer (the second seed): Firebell calls through a
//! mock Twilio, and the test plays Twilio's side of the call — fetching the
//! TwiML, pressing keys, reporting call statuses — with callbacks signed the
//! way Twilio signs them (and, in one test, by Twilio's own Python library).

use crate::support::twilio_phone::*;
use crate::support::*;
use serde_json::json;

/// After [`SERVER_AND_CHANNEL`]; its first line is one more key of the
/// channel "tw".
const CONFIG: &str = r#"voicemail = "This is Firebell. An alert needs someone; calling the next person."

[[users]]
id = "op1"
contacts = [ { kind = "voice", number = "+447700900001", channel = "tw" } ]
[[users]]
id = "op2"
contacts = [ { kind = "voice", number = "+447700900002", channel = "tw" } ]
[[users]]
id = "op3"
contacts = [ { kind = "voice", number = "+447700900003", channel = "tw" } ]

[[policies]]
id = "night"
repeat = 3
steps = [
  { targets = ["user:op1"], wait = "5m" },
  { targets = ["user:op2"], wait = "5m" },
  { targets = ["user:op3"], wait = "5m" },
]

[[services]]
id = "checkout"
name = "Checkout web"
policy = "night"
integrations = [ { kind = "generic", key = "test-integration-key" } ]
"#;

const OP: [&str; 3] = ["+447700900001", "+447700900002", "+447700900003"];

async fn world() -> World {
    World::start(&format!("{SERVER_AND_CHANNEL}{CONFIG}")).await
}

impl World {
    async fn trigger(&self) -> i64 {
        let (status, body) = self
            .app
            .post_events(
                r#"{"action":"trigger","dedup_key":"disk-web1","summary":"Disk full on web1","severity":"critical","source":"web1"}"#,
            )
            .await;
        assert_eq!(status, 202, "{body}");
        body["alerts"][0]["id"].as_i64().unwrap()
    }

    fn called(&self) -> Vec<String> {
        calls(&self.twilio).into_iter().map(|c| c.to).collect()
    }

    fn last_call(&self) -> Call {
        calls(&self.twilio).pop().expect("no call was made")
    }

    /// The person answers, hears the prompt, and presses `digit`.
    async fn answer_and_press(&self, c: &Call, digit: &str) -> String {
        let (status, twiml) = self
            .phone
            .post(
                &c.url,
                &call_params(c, &[("CallStatus", "in-progress"), ("AnsweredBy", "human")]),
            )
            .await;
        assert_eq!(status, 200, "{twiml}");
        let prompt = said(&twiml).join(" ");
        assert!(
            prompt.starts_with(
                "Firebell alert for service Checkout web: Disk full on web1. Triggered"
            ) && prompt.ends_with("Press 1 to take it, 2 to pass."),
            "{twiml}"
        );
        let (status, twiml) = self
            .phone
            .post(
                &gather_action(&twiml),
                &call_params(c, &[("CallStatus", "in-progress"), ("Digits", digit)]),
            )
            .await;
        assert_eq!(status, 200, "{twiml}");
        twiml
    }

    async fn status(&self, c: &Call, status: &str) -> u16 {
        let (code, body) = self
            .phone
            .post(
                &c.status_callback,
                &call_params(c, &[("CallStatus", status)]),
            )
            .await;
        assert!(body.contains("<Response>"), "{body}");
        code
    }
}

/// The second seed: op1 does not answer, op2 presses 2, op3 presses 1.
#[tokio::test]
async fn the_second_seed_end_to_end() {
    let w = world().await;
    let id = w.trigger().await;
    w.app.settle().await;
    assert_eq!(w.called(), vec![OP[0]]);

    // op1: no answer.
    let c1 = w.last_call();
    assert_eq!(w.status(&c1, "no-answer").await, 200);
    w.app.settle().await;
    assert_eq!(w.called(), vec![OP[0], OP[1]]);

    // op2 answers and presses 2.
    let c2 = w.last_call();
    let twiml = w.answer_and_press(&c2, "2").await;
    assert_eq!(said(&twiml), vec!["Passing it on. Goodbye."]);
    assert!(twiml.contains("<Hangup/>"));
    assert_eq!(w.status(&c2, "completed").await, 200);
    w.app.settle().await;
    assert_eq!(w.called(), vec![OP[0], OP[1], OP[2]]);

    // op3 answers, presses 1, and hears the details.
    let c3 = w.last_call();
    let twiml = w.answer_and_press(&c3, "1").await;
    let heard = said(&twiml).join(" ");
    assert!(
        heard.starts_with("You have taken it. Disk full on web1."),
        "{heard}"
    );
    for part in [
        "Service Checkout web",
        "severity critical",
        "source web1",
        "by text",
    ] {
        assert!(heard.contains(part), "{part:?} missing from {heard:?}");
    }
    assert_eq!(w.status(&c3, "completed").await, 200);
    w.app.settle().await;

    let alert = w.app.alert(id).await;
    assert_eq!(alert["alert"]["status"], "acknowledged", "{alert}");
    let lines = w.lines(id).await;
    assert!(
        lines.iter().any(|l| l == "acknowledged by op3"),
        "{lines:#?}"
    );
    assert!(lines.iter().any(|l| l == "op2 declined"), "{lines:#?}");
    assert!(
        lines.iter().any(|l| l == "call to op1: no-answer"),
        "{lines:#?}"
    );
    // The details went to op3 by text.
    let texts = w.twilio.messages();
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert_eq!(texts[0].field("To"), Some(OP[2]));
    let body = texts[0].field("Body").unwrap();
    assert!(body.contains("Disk full on web1"), "{body}");
    assert!(body.contains("Checkout web"), "{body}");

    // Nobody is called again.
    w.app.advance(mins(120)).await;
    assert_eq!(w.called(), vec![OP[0], OP[1], OP[2]]);
    w.app.stop().await;
}

/// Nobody answers: exactly nine calls (three rounds), then exhausted.
#[tokio::test]
async fn nobody_answers_nine_calls_then_exhausted() {
    let w = world().await;
    let id = w.trigger().await;
    w.app.settle().await;
    for i in 0..9 {
        let called = w.called();
        assert_eq!(called.len(), i + 1, "{called:?}");
        assert_eq!(called[i], OP[i % 3]);
        assert_eq!(w.status(&w.last_call(), "no-answer").await, 200);
        w.app.settle().await;
    }
    assert_eq!(w.called().len(), 9);
    let lines = w.lines(id).await;
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("escalation exhausted: policy night ran 3 time(s)")),
        "{lines:#?}"
    );
    w.app.advance(mins(240)).await;
    assert_eq!(w.called().len(), 9);
    assert_eq!(w.app.alert(id).await["alert"]["status"], "triggered");
    w.app.stop().await;
}

/// A machine answers: the voicemail is left, the person counts as not
/// reached, and the next step calls the next person.
#[tokio::test]
async fn an_answering_machine_is_not_reached() {
    let w = world().await;
    let id = w.trigger().await;
    w.app.settle().await;
    let c1 = w.last_call();
    let (status, twiml) = w
        .phone
        .post(
            &c1.url,
            &call_params(
                &c1,
                &[
                    ("CallStatus", "in-progress"),
                    ("AnsweredBy", "machine_start"),
                ],
            ),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        said(&twiml),
        vec!["This is Firebell. An alert needs someone; calling the next person."]
    );
    assert!(twiml.ends_with("<Hangup/></Response>"), "{twiml}");
    assert!(!twiml.contains("<Gather"), "{twiml}");
    // The call then completes: not counted a second time.
    assert_eq!(w.status(&c1, "completed").await, 200);
    w.app.settle().await;
    assert_eq!(w.called(), vec![OP[0], OP[1]]);
    let lines = w.lines(id).await;
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.contains("answered by a machine (machine_start)"))
            .count(),
        1,
        "{lines:#?}"
    );
    assert_eq!(
        lines
            .iter()
            .filter(|l| *l == "op1 could not be reached on any contact method")
            .count(),
        1,
        "{lines:#?}"
    );
    w.app.stop().await;
}

/// No key twice: the prompt is repeated once, then the call ends and the
/// person is not reached. A wrong key is asked again.
#[tokio::test]
async fn no_input_repeats_once_then_hangs_up() {
    let w = world().await;
    w.trigger().await;
    w.app.settle().await;
    let c = w.last_call();
    let p = call_params(&c, &[("CallStatus", "in-progress")]);
    let (_, first) = w.phone.post(&c.url, &p).await;
    let again = redirect(&first).unwrap();
    assert!(again.ends_with("?round=2"), "{first}");
    // A wrong key: told so, asked again.
    let mut wrong = p.clone();
    wrong.push(("Digits", "7"));
    let (_, sorry) = w.phone.post(&gather_action(&first), &wrong).await;
    assert_eq!(said(&sorry)[0], "Sorry, that is not an option.");
    assert!(sorry.contains("<Gather"), "{sorry}");
    // Round two, then no input.
    let (_, second) = w.phone.post(&again, &p).await;
    assert!(second.contains("<Gather"), "{second}");
    let end = redirect(&second).unwrap();
    assert!(end.contains("/noinput/"), "{second}");
    let (_, bye) = w.phone.post(&end, &p).await;
    assert_eq!(said(&bye), vec!["Goodbye."]);
    assert!(bye.contains("<Hangup/>"));
    w.app.settle().await;
    assert_eq!(w.called(), vec![OP[0], OP[1]]);
    w.app.stop().await;
}

/// Wrong or missing signatures are refused and change nothing; the same
/// callback twice acts once; unknown pages and channels get clear answers.
#[tokio::test]
async fn signatures_and_repeats() {
    let w = world().await;
    let id = w.trigger().await;
    w.app.settle().await;
    let c1 = w.last_call();
    let before = w.lines(id).await;
    let form = call_params(&c1, &[("CallStatus", "no-answer")]);

    let (status, _) = w
        .phone
        .post_with_signature(&c1.status_callback, &form, None)
        .await;
    assert_eq!(status, 403);
    let wrong =
        firebell_core::twilio::signature("not-the-token", &c1.status_callback, &params(&form));
    let (status, _) = w
        .phone
        .post_with_signature(&c1.status_callback, &form, Some(&wrong))
        .await;
    assert_eq!(status, 403);
    // Signed for other parameters (a replay with a changed status).
    let other = firebell_core::twilio::signature(
        TOKEN,
        &c1.status_callback,
        &params(&call_params(&c1, &[("CallStatus", "completed")])),
    );
    let (status, _) = w
        .phone
        .post_with_signature(&c1.status_callback, &form, Some(&other))
        .await;
    assert_eq!(status, 403);
    w.app.settle().await;
    assert_eq!(
        w.lines(id).await,
        before,
        "a refused callback changed the timeline"
    );
    assert_eq!(w.called(), vec![OP[0]]);

    // Delivered twice: acts once.
    assert_eq!(w.status(&c1, "no-answer").await, 200);
    assert_eq!(w.status(&c1, "no-answer").await, 200);
    w.app.settle().await;
    assert_eq!(w.called(), vec![OP[0], OP[1]]);
    let lines = w.lines(id).await;
    assert_eq!(
        lines
            .iter()
            .filter(|l| *l == "call to op1: no-answer")
            .count(),
        1,
        "{lines:#?}"
    );

    // A key press delivered twice: one decline, the same answer both times.
    let c2 = w.last_call();
    let first = w.answer_and_press(&c2, "2").await;
    let second = w.answer_and_press(&c2, "2").await;
    assert_eq!(first, second);
    w.app.settle().await;
    let lines = w.lines(id).await;
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.starts_with("op2 declined"))
            .count(),
        1,
        "{lines:#?}"
    );
    assert_eq!(w.called(), vec![OP[0], OP[1], OP[2]]);

    // op3 takes it; Twilio retries the key press: the same answer, nothing more.
    let c3 = w.last_call();
    let first = w.answer_and_press(&c3, "1").await;
    assert!(said(&first)[0].starts_with("You have taken it."), "{first}");
    let (_, again) = w
        .phone
        .post(
            &c3.url.replace("/voice/", "/gather/"),
            &call_params(&c3, &[("CallStatus", "in-progress"), ("Digits", "1")]),
        )
        .await;
    assert_eq!(first, again);
    w.app.settle().await;
    assert_eq!(w.twilio.messages().len(), 1, "details are texted once");
    let lines = w.lines(id).await;
    assert_eq!(
        lines.iter().filter(|l| *l == "acknowledged by op3").count(),
        1,
        "{lines:#?}"
    );

    // After it was taken, a call that is answered says so and changes nothing.
    let (_, late) = w.phone.post(&c1.url, &call_params(&c1, &[])).await;
    assert_eq!(
        said(&late),
        vec!["Alert 1 is already taken by op3. Nothing to do. Goodbye."]
    );
    assert!(!late.contains("<Gather"));

    // Unknown page: a short goodbye. Unknown channel: 404.
    let before = w.lines(id).await;
    let (status, twiml) = w
        .phone
        .post("/hooks/twilio/tw/voice/99999", &call_params(&c1, &[]))
        .await;
    assert_eq!(status, 200);
    assert!(
        twiml.contains("<Hangup/>") && twiml.contains("not known"),
        "{twiml}"
    );
    let (status, twiml) = w
        .phone
        .post(
            "/hooks/twilio/tw/status/99999",
            &call_params(&c1, &[("CallStatus", "busy")]),
        )
        .await;
    assert_eq!(status, 200);
    assert!(!twiml.contains("<Say>"), "{twiml}");
    let (status, _) = w
        .phone
        .post(
            "/hooks/twilio/nope/status/1",
            &call_params(&c1, &[("CallStatus", "busy")]),
        )
        .await;
    assert_eq!(status, 404);
    assert_eq!(w.lines(id).await, before);
    w.app.stop().await;
}

/// Signatures made by Twilio's own library (the `twilio` package's
/// RequestValidator) are accepted, and equal the project's own.
#[tokio::test]
async fn twilio_library_signatures() {
    let Some(python) = python_with(&["twilio"]) else {
        return;
    };
    let w = world().await;
    let id = w.trigger().await;
    w.app.settle().await;
    let c1 = w.last_call();
    // (token, url, params); the first is the shared test vector.
    let cases = [
        (
            "12345",
            "https://mycompany.com/myapp.php?foo=1&bar=2".to_string(),
            params(&[
                ("CallSid", "CA1234567890ABCDE"),
                ("Caller", "+12349013030"),
                ("Digits", "1234"),
                ("From", "+12349013030"),
                ("To", "+18005551212"),
            ]),
        ),
        (
            TOKEN,
            c1.url.clone(),
            params(&call_params(&c1, &[("CallStatus", "in-progress")])),
        ),
        (
            TOKEN,
            format!("{}?round=2", c1.url),
            params(&[
                ("Body", "héllo & <b> = 42a"),
                ("From", "+447700900001"),
                ("zeta", ""),
                ("Alpha", "1"),
            ]),
        ),
        (
            TOKEN,
            c1.status_callback.clone(),
            params(&call_params(&c1, &[("CallStatus", "no-answer")])),
        ),
    ];
    let input = json!({
        "cases": cases.iter().map(|(t, u, p)| json!({"token": t, "url": u, "params": p})).collect::<Vec<_>>(),
    });
    let mut child = std::process::Command::new(&python)
        .arg(python_script("twilio_sign.py"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.to_string().as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let theirs: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(theirs.len(), cases.len());
    assert_eq!(theirs[0], "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
    for ((token, url, p), sig) in cases.iter().zip(&theirs) {
        assert_eq!(
            &firebell_core::twilio::signature(token, url, p),
            sig,
            "{url}"
        );
    }
    // Posted with the library's signatures: accepted and acted on.
    let (status, twiml) = w
        .phone
        .post_with_signature(
            &c1.url,
            &call_params(&c1, &[("CallStatus", "in-progress")]),
            Some(&theirs[1]),
        )
        .await;
    assert_eq!(status, 200, "{twiml}");
    assert!(twiml.contains("<Gather"), "{twiml}");
    let (status, _) = w
        .phone
        .post_with_signature(
            &c1.status_callback,
            &call_params(&c1, &[("CallStatus", "no-answer")]),
            Some(&theirs[3]),
        )
        .await;
    assert_eq!(status, 200);
    w.app.settle().await;
    assert_eq!(w.called(), vec![OP[0], OP[1]]);
    assert!(
        w.lines(id)
            .await
            .iter()
            .any(|l| l == "call to op1: no-answer")
    );
    w.app.stop().await;
}
