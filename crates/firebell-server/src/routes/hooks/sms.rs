//! `GET|POST /hooks/sms/{channel}`: a text sent to an http_sms gateway's
//! number, forwarded by the gateway (Vonage, Plivo, TextAnywhere or any
//! other, per the channel's `inbound` table).
//!
//! The request must carry the gateway's signature (Vonage's `sig`, Plivo's
//! `X-Plivo-Signature-V3`) or the channel's `?token=`, else 403 and nothing
//! changes. The sender must be a user's sms or voice number, else the text
//! is ignored (and logged with the number's last four digits). A reply then
//! acts exactly as a Twilio reply does (`42a`, `42d`, `42r`, `ack`,
//! `resolve`) and is answered by a text through the same channel. A
//! gateway delivering the same text twice (its message id, or the whole
//! request when it has none) acts once.
//!
//! Parameters come from the query and from a form or JSON body.

use super::answers::{Taken, first, plain, redact_number, sms_reply, user_by_number};
use crate::Shared;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use firebell_core::channels::ChannelKind;
use firebell_core::channels::sms_inbound::{
    self, Inbound, InboundAuth, VONAGE_MAX_SKEW_SECS, number_digits,
};
use firebell_core::config::{Config, Contact};
use firebell_store::Store;
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};

/// Name and value pairs, in the order received.
type Params = Vec<(String, String)>;

fn text(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

/// The request's parameters: the query's, then the body's (a form, or a
/// JSON object whose scalar values are taken as text).
fn parameters(
    uri: &OriginalUri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(Params, Params), &'static str> {
    let query: Vec<(String, String)> = uri
        .0
        .query()
        .map(|q| {
            form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default();
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.trim_start().starts_with("application/json"));
    let body: Vec<(String, String)> = if body.is_empty() {
        Vec::new()
    } else if json {
        let value: serde_json::Value =
            serde_json::from_slice(body).map_err(|_| "the body is not JSON")?;
        let object = value.as_object().ok_or("the JSON body is not an object")?;
        object
            .iter()
            .filter_map(|(k, v)| {
                let v = match v {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Number(n) => n.to_string(),
                    serde_json::Value::Bool(b) => b.to_string(),
                    _ => return None,
                };
                Some((k.clone(), v))
            })
            .collect()
    } else {
        form_urlencoded::parse(body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    };
    Ok((query, body))
}

/// Checks the request against the channel's `inbound` auth; the error is
/// what to answer.
#[allow(clippy::too_many_arguments)]
fn authenticate(
    config: &Config,
    inbound: &Inbound,
    method: &Method,
    uri: &OriginalUri,
    headers: &HeaderMap,
    query: &[(String, String)],
    body: &[(String, String)],
    now: jiff::Timestamp,
) -> Result<(), &'static str> {
    match &inbound.auth {
        InboundAuth::Token(expected) => {
            let given = query
                .iter()
                .find(|(k, _)| k == "token")
                .map(|(_, v)| v.as_str());
            match given {
                Some(t) if sms_inbound::token_matches(expected, t) => Ok(()),
                Some(_) => Err("wrong token"),
                None => Err("missing ?token="),
            }
        }
        InboundAuth::Vonage { secret, method } => {
            let all: Vec<(String, String)> = query.iter().chain(body).cloned().collect();
            if !all.iter().any(|(k, _)| k == "sig") {
                return Err("missing the sig parameter");
            }
            if !sms_inbound::vonage_verify(secret.expose_secret(), *method, &all) {
                return Err("bad sig");
            }
            // The signed timestamp bounds a replay.
            let stamp = all
                .iter()
                .find(|(k, _)| k == "timestamp")
                .and_then(|(_, v)| v.parse::<i64>().ok());
            match stamp {
                Some(t) if (now.as_second() - t).abs() <= VONAGE_MAX_SKEW_SECS => Ok(()),
                Some(_) => Err("the signed timestamp is too far from now"),
                None => Err("missing the signed timestamp"),
            }
        }
        InboundAuth::PlivoV3 { auth_token } => {
            let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
            let (Some(sig), Some(nonce)) = (
                header("x-plivo-signature-v3"),
                header("x-plivo-signature-v3-nonce"),
            ) else {
                return Err("missing X-Plivo-Signature-V3 or its nonce");
            };
            let path = uri
                .0
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or_else(|| uri.0.path());
            let url = format!("{}{path}", config.server.public_url);
            let post = *method == Method::POST;
            if sms_inbound::plivo_v3_verify(
                auth_token.expose_secret(),
                post,
                &url,
                if post { body } else { &[] },
                nonce,
                sig,
            ) {
                Ok(())
            } else {
                Err("bad X-Plivo-Signature-V3")
            }
        }
    }
}

/// The user's contact with the sender's number (its index and E.164
/// number): the answer to their text goes there, through the channel the
/// text came in on.
fn answer_to(config: &Config, user: &str, from: &str) -> Option<(u32, String)> {
    let wanted = number_digits(from);
    config
        .users
        .get(user)?
        .contacts
        .iter()
        .enumerate()
        .find_map(|(i, c)| match c {
            Contact::Sms { number, .. } | Contact::Voice { number, .. }
                if number_digits(number) == wanted =>
            {
                Some((i as u32, number.to_string()))
            }
            _ => None,
        })
}

/// `GET|POST /hooks/sms/{channel}`.
pub(crate) async fn receive<S: Store>(
    State(state): State<Shared<S>>,
    Path(channel): Path<String>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let config = state.engine.config();
    let inbound = match config.channels.get(&channel).map(|c| &c.kind) {
        Some(ChannelKind::HttpSms(s)) if s.inbound.is_some() => s.inbound.clone(),
        _ => None,
    };
    let Some(inbound) = inbound else {
        tracing::warn!(channel, "inbound text for a channel without `inbound`");
        return plain(
            StatusCode::NOT_FOUND,
            "no http_sms channel of that name takes replies",
        );
    };
    let Ok(body) = body else {
        return plain(StatusCode::BAD_REQUEST, "unreadable body");
    };
    let (query, body) = match parameters(&uri, &headers, &body) {
        Ok(p) => p,
        Err(why) => return plain(StatusCode::BAD_REQUEST, why),
    };
    let now = state.engine.now();
    if let Err(why) = authenticate(
        &config, &inbound, &method, &uri, &headers, &query, &body, now,
    ) {
        tracing::warn!(channel, why, "inbound text refused");
        return plain(StatusCode::FORBIDDEN, why);
    }
    let params: Vec<(String, String)> = query
        .into_iter()
        .filter(|(k, _)| k != "token")
        .chain(body)
        .collect();
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let (Some(from), Some(reply)) = (get(&inbound.from_field), get(&inbound.text_field)) else {
        let missing = if get(&inbound.from_field).is_none() {
            &inbound.from_field
        } else {
            &inbound.text_field
        };
        return text(
            StatusCode::BAD_REQUEST,
            format!("missing the {missing:?} parameter (the channel's inbound fields)"),
        );
    };
    let Some(user) = user_by_number(&config, from) else {
        tracing::warn!(channel, from = %redact_number(from), "text from a number that is no user's; ignored");
        return plain(StatusCode::OK, "ignored: not a known number");
    };
    // The gateway's message id, else the whole request: a repeated delivery
    // acts once.
    let id = match inbound.id_field.as_deref().and_then(get) {
        Some(id) if !id.is_empty() => id.to_string(),
        _ => {
            let mut sorted = params.clone();
            sorted.sort();
            let mut h = Sha256::new();
            for (k, v) in &sorted {
                h.update(k.as_bytes());
                h.update([0]);
                h.update(v.as_bytes());
                h.update([0]);
            }
            h.finalize().iter().map(|b| format!("{b:02x}")).collect()
        }
    };
    let key = format!("sms-in:{channel}:{id}");
    let taken = Taken::default();
    let fresh = match first(&state, &taken, key.clone()).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let answer = match sms_reply(&state, &user, reply, fresh).await {
        Ok(a) => a,
        Err(r) => {
            taken.release(&state).await;
            return r;
        }
    };
    if fresh && let Some((index, number)) = answer_to(&config, &user, from) {
        let sent = state
            .engine
            .text_back(
                &user,
                index,
                &channel,
                number,
                answer.clone(),
                format!("answer:{key}"),
            )
            .await;
        if let Err(e) = sent {
            tracing::error!(error = %e, channel, "could not queue the answer to a text");
        }
    }
    text(StatusCode::OK, answer)
}
