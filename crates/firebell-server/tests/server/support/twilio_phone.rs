//! Playing Twilio's side of the callbacks: posts form parameters to the
//! server, signed with `X-Twilio-Signature` the way Twilio signs them (over
//! the `public_url` address), and reads the TwiML answers.

use super::twilio_mock::{Recorded, TwilioMock};
use super::{TestApp, render_config, server_section, spawn_app_at, t0};

/// The twilio channel's auth token in these tests.
pub const TOKEN: &str = "twilio-test-token-0123456789abcdef";
/// `[server] public_url`: Twilio calls this; the tests map it to the app.
pub const PUBLIC_URL: &str = "https://pager.example.com";

/// The start of a config for these tests: `[server]` with [`PUBLIC_URL`],
/// and the twilio channel "tw" with [`TOKEN`], pointed at the mock
/// (`{TWILIO}`). What follows it may add keys to the channel first.
pub const SERVER_AND_CHANNEL: &str = concat!(
    server_section!(),
    r#"public_url = "https://pager.example.com"

[[channels]]
name = "tw"
kind = "twilio"
account_sid = "AC0123456789abcdef0123456789abcdef"
auth_token = "twilio-test-token-0123456789abcdef"
from = "+15005550006"
base_url = "{TWILIO}"
"#
);

/// An app sending through a mock Twilio, and Twilio's side of it.
pub struct World {
    pub app: TestApp,
    _dir: tempfile::TempDir,
    pub twilio: TwilioMock,
    pub phone: Phone,
    /// For numbering inbound messages.
    pub sids: std::sync::atomic::AtomicU32,
}

impl World {
    /// Starts the mock, then the app with `config` (a template, see
    /// `render_config`, and `{TWILIO}` for the mock's address).
    pub async fn start(config: &str) -> World {
        let twilio = TwilioMock::start().await;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let text = render_config(config, &data, "").replace("{TWILIO}", &twilio.base_url);
        let app = spawn_app_at(&text, &data, t0(), None).await;
        let phone = Phone::new(&app);
        World {
            app,
            _dir: dir,
            twilio,
            phone,
            sids: Default::default(),
        }
    }

    /// The messages of alert `id`'s timeline.
    pub async fn lines(&self, id: i64) -> Vec<String> {
        use firebell_store::AlertStore;
        self.app
            .engine
            .store()
            .timeline(id)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.message)
            .collect()
    }
}

/// Twilio's side of one app.
pub struct Phone {
    app_url: String,
    client: reqwest::Client,
}

pub fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

impl Phone {
    pub fn new(app: &TestApp) -> Phone {
        Phone {
            app_url: app.url.clone(),
            client: reqwest::Client::new(),
        }
    }

    /// Posts to `url` (an address under `PUBLIC_URL`, or a path), signed.
    pub async fn post(&self, url: &str, form: &[(&str, &str)]) -> (u16, String) {
        let url = public(url);
        let sig = firebell_core::twilio::signature(TOKEN, &url, &params(form));
        self.post_with_signature(&url, form, Some(&sig)).await
    }

    /// Posts with the given signature header (or none).
    pub async fn post_with_signature(
        &self,
        url: &str,
        form: &[(&str, &str)],
        signature: Option<&str>,
    ) -> (u16, String) {
        let url = public(url);
        let path = url.strip_prefix(PUBLIC_URL).unwrap();
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form.iter())
            .finish();
        let mut req = self
            .client
            .post(format!("{}{path}", self.app_url))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(s) = signature {
            req = req.header("X-Twilio-Signature", s);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap())
    }
}

fn public(url: &str) -> String {
    if url.starts_with("http") {
        url.to_string()
    } else {
        format!("{PUBLIC_URL}{url}")
    }
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The `action` of the TwiML's `<Gather>`.
pub fn gather_action(twiml: &str) -> String {
    let start = twiml.find("<Gather").expect("no <Gather> in the TwiML");
    let rest = &twiml[start..];
    let a = rest.find("action=\"").unwrap() + "action=\"".len();
    let end = rest[a..].find('"').unwrap();
    unescape(&rest[a..a + end])
}

/// Where the TwiML's `<Redirect>` goes, if it has one.
pub fn redirect(twiml: &str) -> Option<String> {
    let start = twiml.find("<Redirect")?;
    let rest = &twiml[start..];
    let a = rest.find('>')? + 1;
    let end = rest.find("</Redirect>")?;
    Some(unescape(&rest[a..end]))
}

/// Name and value pairs.
pub type Pairs = Vec<(String, String)>;

/// The TwiML's `<Dial>`: its attributes (`action`, `timeout`, `callerId`)
/// and each `<Number>` as (number, url).
pub fn dial(twiml: &str) -> Option<(Pairs, Pairs)> {
    let start = twiml.find("<Dial ")?;
    let rest = &twiml[start..];
    let head_end = rest.find('>')?;
    let attrs = |tag: &str| -> Vec<(String, String)> {
        tag.split('"')
            .collect::<Vec<_>>()
            .chunks(2)
            .filter(|c| c.len() == 2)
            .map(|c| {
                let name = c[0]
                    .trim()
                    .trim_end_matches('=')
                    .rsplit(' ')
                    .next()
                    .unwrap_or("");
                (name.to_string(), unescape(c[1]))
            })
            .collect()
    };
    let head = attrs(&rest[..head_end]);
    let body = &rest[head_end + 1..rest.find("</Dial>")?];
    let numbers = body
        .split("<Number ")
        .skip(1)
        .filter_map(|n| {
            let url = attrs(&n[..n.find('>')?])
                .into_iter()
                .find(|(k, _)| k == "url")?
                .1;
            let number = unescape(&n[n.find('>')? + 1..n.find("</Number>")?]);
            Some((number, url))
        })
        .collect();
    Some((head, numbers))
}

/// Every `<Say>` text, in order.
pub fn said(twiml: &str) -> Vec<String> {
    twiml
        .split("<Say>")
        .skip(1)
        .filter_map(|s| s.split("</Say>").next())
        .map(unescape)
        .collect()
}

/// The `<Message>` text of an SMS answer, if any.
pub fn message(twiml: &str) -> Option<String> {
    let s = twiml.split("<Message>").nth(1)?;
    Some(unescape(s.split("</Message>").next()?))
}

/// A call the mock saw: who it called, and the callback addresses.
pub struct Call {
    pub to: String,
    pub url: String,
    pub status_callback: String,
    /// A call sid for it (the callbacks carry one).
    pub sid: String,
}

pub fn calls(mock: &TwilioMock) -> Vec<Call> {
    mock.calls().iter().map(call).collect()
}

pub fn call(r: &Recorded) -> Call {
    let url = r.field("Url").unwrap().to_string();
    let nid = url.rsplit('/').next().unwrap().to_string();
    Call {
        to: r.field("To").unwrap().to_string(),
        status_callback: r.field("StatusCallback").unwrap().to_string(),
        sid: format!("CA{:0>32}", nid),
        url,
    }
}

/// The standard parameters of a call callback.
pub fn call_params<'a>(c: &'a Call, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut p = vec![
        ("AccountSid", "AC0123456789abcdef0123456789abcdef"),
        ("CallSid", c.sid.as_str()),
        ("From", "+15005550006"),
        ("To", c.to.as_str()),
        ("Direction", "outbound-api"),
    ];
    p.extend_from_slice(extra);
    p
}
