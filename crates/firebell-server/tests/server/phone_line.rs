//! The on-call line: a caller dials the line's Twilio number; the test
//! plays Twilio asking Firebell what to do (signed callbacks), and checks
//! the TwiML: the greeting, then a `<Dial>` to whoever the policy would page
//! now, the next step's person when nobody answers, and the alert and its
//! timeline saying what happened.

use crate::support::twilio_phone::*;

/// After [`SERVER_AND_CHANNEL`]: op1 then op2 on the checkout policy, and
/// the "ops" line opening alerts there.
const CONFIG: &str = r#"
[[users]]
id = "op1"
contacts = [ { kind = "voice", number = "+447700900001", channel = "tw" } ]
[[users]]
id = "op2"
contacts = [ { kind = "sms", number = "+447700900012", channel = "tw" }, { kind = "voice", number = "+447700900002", channel = "tw" } ]

[[policies]]
id = "night"
steps = [
  { targets = ["user:op1"], wait = "1m" },
  { targets = ["user:op2"], wait = "2m" },
]

[[services]]
id = "checkout"
name = "Checkout web"
policy = "night"
integrations = [ { kind = "generic", key = "test-integration-key" } ]

[[phone_lines]]
id = "ops"
number = "+441234567890"
service = "checkout"
greeting = "You have reached the Checkout on-call line."
calls_per_caller = "2/10m"
"#;

const CALLER: &str = "+447700900999";

fn inbound(sid: &str, from: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AccountSid", "AC0123456789abcdef0123456789abcdef".into()),
        ("ApiVersion", "2010-04-01".into()),
        ("CallSid", sid.into()),
        ("CallStatus", "ringing".into()),
        ("Direction", "inbound".into()),
        ("From", from.into()),
        ("To", "+441234567890".into()),
    ]
}

async fn post(w: &World, url: &str, params: &[(&str, String)]) -> (u16, String) {
    let form: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    w.phone.post(url, &form).await
}

fn attr(head: &[(String, String)], name: &str) -> String {
    head.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_call_to_the_line_rings_the_policy_step_by_step() {
    let w = World::start(&format!("{SERVER_AND_CHANNEL}{CONFIG}")).await;
    let sid = "CA00000000000000000000000000000001";

    // Unsigned: refused, nothing opens.
    let form: Vec<(&str, String)> = inbound(sid, CALLER);
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, _) = w
        .phone
        .post_with_signature("/hooks/twilio/tw/inbound/ops", &pairs, None)
        .await;
    assert_eq!(status, 403);
    assert!(w.app.all_alerts().await.is_empty());

    // The call: the greeting, and op1's phone rings for step 1's wait.
    let (status, twiml) = post(&w, "/hooks/twilio/tw/inbound/ops", &form).await;
    assert_eq!(status, 200, "{twiml}");
    assert_eq!(
        said(&twiml),
        vec![
            "You have reached the Checkout on-call line.",
            "Connecting you to the person on call."
        ]
    );
    let (head, numbers) = dial(&twiml).expect("a <Dial>");
    assert_eq!(attr(&head, "timeout"), "60");
    assert_eq!(attr(&head, "callerId"), "+441234567890");
    assert_eq!(
        attr(&head, "action"),
        format!("{PUBLIC_URL}/hooks/twilio/tw/dial/ops?alert=1&step=0")
    );
    assert_eq!(
        numbers,
        vec![(
            "+447700900001".to_string(),
            format!("{PUBLIC_URL}/hooks/twilio/tw/answered/ops?alert=1&user=op1")
        )]
    );
    // Twilio asking again for the same call: the same answer, one alert.
    let (_, again) = post(&w, "/hooks/twilio/tw/inbound/ops", &form).await;
    assert_eq!(again, twiml);
    w.app.settle().await;
    let alerts = w.app.all_alerts().await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(
        alerts[0]["summary"],
        "Inbound call from +447700900999 on the ops line"
    );
    assert_eq!(alerts[0]["service"], "checkout");
    assert_eq!(alerts[0]["status"], "triggered");
    // The call rings people; nobody is paged besides.
    assert!(w.twilio.calls().is_empty() && w.twilio.messages().is_empty());

    // op1 does not answer: op2's phone rings for step 2's wait.
    let mut done = form.clone();
    done.push(("DialCallStatus", "no-answer".into()));
    done.push(("DialCallSid", "CA00000000000000000000000000000002".into()));
    let (status, twiml) = post(&w, &attr(&head, "action"), &done).await;
    assert_eq!(status, 200, "{twiml}");
    assert_eq!(
        said(&twiml),
        vec!["Nobody answered. Trying the next person."]
    );
    let (head2, numbers2) = dial(&twiml).expect("a <Dial> to op2");
    assert_eq!(attr(&head2, "timeout"), "120");
    assert_eq!(numbers2[0].0, "+447700900002");

    // op2 picks up: they take the alert and hear what it is.
    let child = vec![
        (
            "AccountSid",
            "AC0123456789abcdef0123456789abcdef".to_string(),
        ),
        ("CallSid", "CA00000000000000000000000000000003".to_string()),
        ("CallStatus", "in-progress".to_string()),
        ("From", "+441234567890".to_string()),
        ("To", "+447700900002".to_string()),
    ];
    let (_, twiml) = post(&w, &numbers2[0].1, &child).await;
    assert_eq!(
        said(&twiml),
        vec!["A call on the ops on-call line, alert 1. Connecting you now."]
    );
    let (_, repeat) = post(&w, &numbers2[0].1, &child).await;
    assert_eq!(repeat, twiml);
    let alert = w.app.alert(1).await;
    assert_eq!(alert["alert"]["status"], "acknowledged");

    // They talk for 42 s.
    let mut done = form.clone();
    done.push(("DialCallStatus", "completed".into()));
    done.push(("DialCallDuration", "42".into()));
    let (_, twiml) = post(&w, &attr(&head2, "action"), &done).await;
    assert!(twiml.contains("<Hangup/>"), "{twiml}");
    let lines = w.lines(1).await;
    for want in [
        "call from +447700900999 on the ops line: ringing op1 (step 1) for 60 s",
        "step 1 did not take the call (no-answer); ringing op2 (step 2)",
        "op2 answered the call on the ops line",
        "the call on the ops line was put through and lasted 42 s",
    ] {
        assert_eq!(
            lines.iter().filter(|l| l.as_str() == want).count(),
            1,
            "{want:?} once in {lines:#?}"
        );
    }
    w.app.stop().await;
}

#[tokio::test]
async fn a_caller_is_limited_and_nobody_to_ring_is_said() {
    let config = format!("{SERVER_AND_CHANNEL}{CONFIG}")
        .replace("steps = [\n  { targets = [\"user:op1\"], wait = \"1m\" },\n  { targets = [\"user:op2\"], wait = \"2m\" },\n]", "steps = [ { targets = [\"user:op1\"], wait = \"1m\" } ]");
    let w = World::start(&config).await;
    let call = |n: u32| inbound(&format!("CA{n:032}"), CALLER);
    let (_, first) = post(&w, "/hooks/twilio/tw/inbound/ops", &call(1)).await;
    assert!(dial(&first).is_some());
    let (_, second) = post(&w, "/hooks/twilio/tw/inbound/ops", &call(2)).await;
    assert!(dial(&second).is_some());
    // A third call in ten minutes: told, hung up on, nothing opens.
    let (status, third) = post(&w, "/hooks/twilio/tw/inbound/ops", &call(3)).await;
    assert_eq!(status, 200);
    assert_eq!(
        said(&third),
        vec!["You have called this line too often. Please try again later. Goodbye."]
    );
    assert!(dial(&third).is_none());
    assert_eq!(w.app.all_alerts().await.len(), 2);
    // Another caller is not held back by the first; op1 does not answer and
    // there is no next step.
    let other = inbound("CA00000000000000000000000000000009", "+447700900888");
    let (_, twiml) = post(&w, "/hooks/twilio/tw/inbound/ops", &other).await;
    let (head, _) = dial(&twiml).unwrap();
    let mut done = other.clone();
    done.push(("DialCallStatus", "busy".into()));
    let (_, twiml) = post(&w, &attr(&head, "action"), &done).await;
    assert_eq!(
        said(&twiml),
        vec!["Nobody could take your call. It is recorded as alert 3. Goodbye."]
    );
    let a = w.app.alert(3).await;
    assert_eq!(a["alert"]["status"], "triggered");
    // A line Firebell does not know.
    let (status, twiml) = post(&w, "/hooks/twilio/tw/inbound/sales", &call(4)).await;
    assert_eq!(status, 200);
    assert_eq!(
        said(&twiml),
        vec!["This number is not in service. Goodbye."]
    );
    w.app.stop().await;
}
