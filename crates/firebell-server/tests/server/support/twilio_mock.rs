//! A local stand-in for Twilio's REST API (2010-04-01): records every request
//! (path, form fields in order, basic auth) and answers the way Twilio does —
//! 201 with a `sid` (`CA…` for calls, `SM…` for messages) and `status`
//! `queued`, or an error body `{"code", "message", "more_info", "status"}`.
//!
//! ```ignore
//! let twilio = TwilioMock::start().await;        // base_url = twilio.base_url
//! twilio.set_answers(vec![Answer::status(500), Answer::Created]);
//! ... page someone ...
//! let call = &twilio.calls()[0];
//! assert_eq!(call.field("To"), Some("+447700900123"));
//! ```

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use base64::Engine as _;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// One request as the mock received it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    /// The form body's pairs, in order (repeated names stay repeated).
    pub form: Vec<(String, String)>,
    /// HTTP basic credentials (user, password), if any were sent.
    pub auth: Option<(String, String)>,
}

impl Recorded {
    /// The first value of a form field.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a (repeated) form field, in order.
    pub fn fields(&self, name: &str) -> Vec<&str> {
        self.form
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn is_call(&self) -> bool {
        self.path.ends_with("/Calls.json")
    }

    pub fn is_message(&self) -> bool {
        self.path.ends_with("/Messages.json")
    }
}

/// How the mock answers a request.
#[derive(Clone, Debug)]
pub enum Answer {
    /// 201 with a fresh sid and status `queued`.
    Created,
    /// A Twilio error: `status` with `{"code", "message", "more_info", "status"}`.
    Error {
        status: u16,
        code: u32,
        message: String,
    },
    /// Any status and body.
    Raw { status: u16, body: String },
}

impl Answer {
    /// An error answer with a generic Twilio error body for `status`.
    pub fn status(status: u16) -> Answer {
        Answer::Error {
            status,
            code: 20500,
            message: "Internal Server Error".to_string(),
        }
    }
}

#[derive(Clone)]
struct MockState {
    requests: Arc<Mutex<Vec<Recorded>>>,
    /// Given in turn; the last one is repeated.
    answers: Arc<Mutex<VecDeque<Answer>>>,
}

pub struct TwilioMock {
    /// Put this in the channel's `base_url`.
    pub base_url: String,
    state: MockState,
}

impl TwilioMock {
    /// Starts on a free loopback port, answering `Created` to everything.
    pub async fn start() -> TwilioMock {
        let state = MockState {
            requests: Arc::new(Mutex::new(Vec::new())),
            answers: Arc::new(Mutex::new(VecDeque::from([Answer::Created]))),
        };
        let app = Router::new()
            .fallback(
                |State(st): State<MockState>,
                 method: Method,
                 uri: Uri,
                 headers: HeaderMap,
                 body: Bytes| async move { answer(st, method, uri, headers, body) },
            )
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        TwilioMock {
            base_url: format!("http://{addr}"),
            state,
        }
    }

    /// Answers every request from now on with `a`.
    pub fn set_answer(&self, a: Answer) {
        self.set_answers(vec![a]);
    }

    /// Answers the next requests with these, in turn; the last is repeated.
    pub fn set_answers(&self, answers: Vec<Answer>) {
        assert!(!answers.is_empty(), "give at least one answer");
        *self.state.answers.lock().unwrap() = answers.into();
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().unwrap().clone()
    }

    /// The Calls API requests so far.
    pub fn calls(&self) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.is_call())
            .collect()
    }

    /// The Messages API requests so far.
    pub fn messages(&self) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.is_message())
            .collect()
    }
}

fn answer(
    st: MockState,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, [(&'static str, &'static str); 1], String) {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| {
            s.split_once(':')
                .map(|(u, p)| (u.to_string(), p.to_string()))
        });
    let form: Vec<(String, String)> = form_urlencoded::parse(&body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let path = uri.path().to_string();
    let n = {
        let mut requests = st.requests.lock().unwrap();
        requests.push(Recorded {
            method: method.to_string(),
            path: path.clone(),
            form,
            auth,
        });
        requests.len()
    };
    let a = {
        let mut answers = st.answers.lock().unwrap();
        if answers.len() > 1 {
            answers.pop_front().unwrap()
        } else {
            answers.front().cloned().unwrap()
        }
    };
    let json = [("content-type", "application/json")];
    match a {
        Answer::Created => {
            let prefix = if path.ends_with("/Calls.json") {
                "CA"
            } else {
                "SM"
            };
            let account = path
                .split('/')
                .skip_while(|p| *p != "Accounts")
                .nth(1)
                .unwrap_or_default()
                .to_string();
            let body = serde_json::json!({
                "sid": format!("{prefix}{n:032x}"),
                "account_sid": account,
                "status": "queued",
                "api_version": "2010-04-01",
            });
            (StatusCode::CREATED, json, body.to_string())
        }
        Answer::Error {
            status,
            code,
            message,
        } => {
            let body = serde_json::json!({
                "code": code,
                "message": message,
                "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
                "status": status,
            });
            (
                StatusCode::from_u16(status).unwrap(),
                json,
                body.to_string(),
            )
        }
        Answer::Raw { status, body } => (StatusCode::from_u16(status).unwrap(), json, body),
    }
}
