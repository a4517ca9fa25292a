//! The command-line client: `send` and `alerts ...`, over the HTTP API.

use crate::need;
use anyhow::{Context, Result, bail};
use clap::Args;
use firebell_core::api::{
    Accepted, AlertList, AlertView, ErrorBody, NodeList, OnCallAt, OnCallNow, OneOverride,
    OneWindow, OverrideList, OverrideView, TestAnswer, WindowList, WindowView, bodies,
};
use firebell_core::config::Config;
use firebell_server::config_file;
use secrecy::ExposeSecret;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Args)]
pub struct ApiConn {
    /// Server URL.
    #[arg(long, env = "FIREBELL_URL", global = true)]
    url: Option<String>,
    /// Admin token.
    #[arg(long, env = "FIREBELL_TOKEN", global = true, hide_env_values = true)]
    token: Option<String>,
    /// Take the URL and admin token from this configuration file.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Print the server's JSON answer.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Args)]
pub struct SendArgs {
    /// Server URL.
    #[arg(long, env = "FIREBELL_URL")]
    url: Option<String>,
    /// Integration key.
    #[arg(long, env = "FIREBELL_KEY", hide_env_values = true)]
    key: Option<String>,
    /// Take the URL and the first generic integration key from this
    /// configuration file.
    #[arg(long)]
    config: Option<PathBuf>,
    /// With --config: use this service's integration.
    #[arg(long)]
    service: Option<String>,
    /// What is wrong (required for a trigger).
    #[arg(long)]
    summary: Option<String>,
    /// critical, error, warning or info.
    #[arg(long)]
    severity: Option<String>,
    /// Events with the same key collapse into one alert.
    #[arg(long)]
    dedup_key: Option<String>,
    #[arg(long)]
    source: Option<String>,
    /// A label, NAME=VALUE; may be repeated.
    #[arg(long = "label", value_name = "NAME=VALUE")]
    labels: Vec<String>,
    /// Details as a JSON object.
    #[arg(long)]
    details: Option<String>,
    /// Send a resolve for --dedup-key instead of a trigger.
    #[arg(long, conflicts_with = "acknowledge")]
    resolve: bool,
    /// Send an acknowledge for --dedup-key instead of a trigger.
    #[arg(long)]
    acknowledge: bool,
    /// Print the server's JSON answer.
    #[arg(long)]
    json: bool,
}

pub(crate) fn http() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .context("building the HTTP client")
}

fn load(path: &Option<PathBuf>) -> Result<Option<Config>> {
    match path {
        None => Ok(None),
        Some(p) => match config_file::load(p) {
            Ok(c) => Ok(Some(c)),
            Err(e) => bail!("{}: {e}", p.display()),
        },
    }
}

/// Reads a JSON answer as the API's type for it; on an error status, the
/// server's message (an [`ErrorBody`]) with each bad field.
pub(crate) async fn answer<T: DeserializeOwned>(resp: reqwest::Response) -> Result<T> {
    let status = resp.status();
    let text = resp.text().await.context("reading the answer")?;
    if status.is_success() {
        return serde_json::from_str(&text).with_context(|| {
            format!(
                "the server's answer is not the {} this client reads (client and server of different versions?)",
                std::any::type_name::<T>().rsplit("::").next().unwrap_or("answer")
            )
        });
    }
    let Ok(body) = serde_json::from_str::<ErrorBody>(&text) else {
        bail!("server answered {status}: {}", text.trim());
    };
    let mut msg = format!("server answered {status}: {}", body.error);
    for d in &body.details {
        let text = |k: &str| d.get(k).and_then(serde_json::Value::as_str).unwrap_or("");
        msg.push_str(&format!("\n  {}: {}", text("field"), text("message")));
    }
    bail!(msg)
}

/// Prints an answer as JSON (`--json`).
pub(crate) fn print_json<T: Serialize>(v: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

pub async fn send(a: SendArgs) -> Result<ExitCode> {
    let config = load(&a.config)?;
    let url = match (&a.url, &config) {
        (Some(u), _) => u.clone(),
        (None, Some(c)) => c.server.public_url.clone(),
        (None, None) => bail!("no server URL: pass --url, set FIREBELL_URL, or pass --config"),
    };
    let key = match (&a.key, &config) {
        (Some(k), _) => k.clone(),
        (None, Some(c)) => {
            let generic = c
                .services
                .values()
                .filter(|s| a.service.as_deref().is_none_or(|want| want == s.id))
                .find_map(|s| {
                    s.integrations
                        .iter()
                        .find(|i| i.kind == firebell_core::config::IntegrationKind::Generic)
                });
            let integration = need(
                generic,
                "the configuration has no service with a generic integration",
            )?;
            integration.key.expose_secret().to_string()
        }
        (None, None) => bail!("no integration key: pass --key, set FIREBELL_KEY, or pass --config"),
    };
    use firebell_core::event::{EventAction, Severity};
    let action = if a.resolve {
        EventAction::Resolve
    } else if a.acknowledge {
        EventAction::Acknowledge
    } else {
        EventAction::Trigger
    };
    let severity = match &a.severity {
        None => None,
        Some(s) => Some(
            serde_json::from_value::<Severity>(serde_json::Value::String(s.clone())).map_err(
                |_| anyhow::anyhow!("--severity {s:?}: use critical, error, warning or info"),
            )?,
        ),
    };
    let labels = if a.labels.is_empty() {
        None
    } else {
        let mut labels = std::collections::BTreeMap::new();
        for l in &a.labels {
            let Some((k, v)) = l.split_once('=') else {
                bail!("--label {l:?}: write it as NAME=VALUE");
            };
            labels.insert(k.to_string(), v.to_string());
        }
        Some(labels)
    };
    let details = match &a.details {
        Some(d) => Some(serde_json::from_str(d).context("--details is not JSON")?),
        None => None,
    };
    let event = bodies::Event {
        action,
        dedup_key: a.dedup_key.clone(),
        summary: a.summary.clone(),
        severity,
        source: a.source.clone(),
        labels,
        details,
        occurred_at: None,
    };
    let resp = http()?
        .post(format!("{}/api/v1/events", url.trim_end_matches('/')))
        .bearer_auth(key)
        .json(&event)
        .send()
        .await
        .with_context(|| format!("cannot reach {url}"))?;
    let body: Accepted = answer(resp).await?;
    if a.json {
        print_json(&body)?;
        return Ok(ExitCode::SUCCESS);
    }
    for alert in &body.alerts {
        let status = alert.status.map_or("?", |s| s.as_str());
        match alert.id {
            Some(id) => println!(
                "accepted: alert {id} ({status}{}), dedup key {}",
                if alert.duplicate { ", duplicate" } else { "" },
                alert.dedup_key,
            ),
            None => println!(
                "accepted: no open alert with dedup key {}; nothing changed",
                alert.dedup_key
            ),
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) struct Api {
    pub(crate) url: String,
    pub(crate) token: String,
    pub(crate) json: bool,
}

pub(crate) fn api(conn: &ApiConn) -> Result<Api> {
    let config = load(&conn.config)?;
    let url = match (&conn.url, &config) {
        (Some(u), _) => u.clone(),
        (None, Some(c)) => c.server.public_url.clone(),
        (None, None) => bail!("no server URL: pass --url, set FIREBELL_URL, or pass --config"),
    };
    let token = match (&conn.token, &config) {
        (Some(t), _) => t.clone(),
        (None, Some(c)) => need(
            c.server
                .admin_token
                .as_ref()
                .map(|t| t.expose_secret().to_string()),
            "the configuration sets no server.admin_token",
        )?,
        (None, None) => {
            bail!("no admin token: pass --token, set FIREBELL_TOKEN, or pass --config")
        }
    };
    Ok(Api {
        url: url.trim_end_matches('/').to_string(),
        token,
        json: conn.json,
    })
}

/// An instant as the tables show it (UTC, to the second).
pub(crate) fn short(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M:%S").to_string()
}

/// [`short`] of an instant the API gives as RFC 3339 text.
pub(crate) fn short_time(s: &str) -> String {
    s.parse::<jiff::Timestamp>()
        .map(short)
        .unwrap_or_else(|_| "-".into())
}

pub async fn list(
    conn: &ApiConn,
    status: Option<String>,
    service: Option<String>,
    limit: u32,
    before: Option<i64>,
) -> Result<ExitCode> {
    let api = api(conn)?;
    let mut query: Vec<(&str, String)> = vec![("limit", limit.to_string())];
    if let Some(s) = status {
        query.push(("status", s));
    }
    if let Some(s) = service {
        query.push(("service", s));
    }
    if let Some(b) = before {
        query.push(("before", b.to_string()));
    }
    let body: AlertList = get_json(&api, "/api/v1/alerts", &query).await?;
    if api.json {
        print_json(&body)?;
        return Ok(ExitCode::SUCCESS);
    }
    let alerts = &body.alerts;
    if alerts.is_empty() {
        println!("no alerts");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:>6}  {:<12}  {:<8}  {:<16}  {:>5}  {:<19}  SUMMARY",
        "ID", "STATUS", "SEVERITY", "SERVICE", "COUNT", "CREATED (UTC)"
    );
    for a in alerts {
        println!(
            "{:>6}  {:<12}  {:<8}  {:<16}  {:>5}  {:<19}  {}",
            a.id,
            a.status.as_str(),
            a.severity.as_str(),
            a.service,
            a.count,
            short(a.created_at),
            a.summary,
        );
    }
    if let Some(next) = body.next_before {
        println!("(more: --before {next})");
    }
    Ok(ExitCode::SUCCESS)
}

fn print_alert(body: &AlertView) {
    let a = &body.alert;
    println!(
        "alert {} [{}] {} — {}",
        a.id,
        a.status.as_str(),
        a.severity.as_str(),
        a.summary
    );
    println!(
        "  service {}, dedup key {}, count {}, created {}",
        a.service,
        a.dedup_key.as_str(),
        a.count,
        short(a.created_at)
    );
    if let Some(e) = &body.escalation {
        println!(
            "  escalation: policy {}, {} at step {} round {}{}",
            e.policy,
            e.phase.as_str(),
            e.step,
            e.loop_,
            match e.due_at {
                Some(t) => format!(", next at {}", short(t)),
                None => String::new(),
            }
        );
    }
    println!("  timeline:");
    for line in &body.timeline {
        println!(
            "    {}  {:<12}  {}",
            short(line.at),
            line.kind.as_str(),
            line.message
        );
    }
}

pub async fn show(conn: &ApiConn, id: i64) -> Result<ExitCode> {
    let api = api(conn)?;
    let body: AlertView = get_json(&api, &format!("/api/v1/alerts/{id}"), &[]).await?;
    if api.json {
        print_json(&body)?;
    } else {
        print_alert(&body);
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn answer_alert(
    conn: &ApiConn,
    id: i64,
    action: &str,
    user: Option<String>,
) -> Result<ExitCode> {
    let api = api(conn)?;
    let body: AlertView = post_json(
        &api,
        &format!("/api/v1/alerts/{id}/{action}"),
        &bodies::Answer { user },
    )
    .await?;
    if api.json {
        print_json(&body)?;
    } else {
        println!("alert {id} is now {}", body.alert.status.as_str());
    }
    Ok(ExitCode::SUCCESS)
}

/// `firebell alerts run ID ACTION`: asks for a runbook action.
pub async fn run_action(
    conn: &ApiConn,
    id: i64,
    action: &str,
    user: Option<String>,
) -> Result<ExitCode> {
    let api = api(conn)?;
    let body: firebell_core::api::ActionStarted = post_json(
        &api,
        &format!("/api/v1/alerts/{id}/actions/{action}"),
        &bodies::Answer { user },
    )
    .await?;
    if api.json {
        print_json(&body)?;
    } else {
        println!("{}", body.message);
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn post_json<T: DeserializeOwned>(
    api: &Api,
    path: &str,
    body: &impl Serialize,
) -> Result<T> {
    let resp = http()?
        .post(format!("{}{path}", api.url))
        .bearer_auth(&api.token)
        .json(body)
        .send()
        .await
        .with_context(|| format!("cannot reach {}", api.url))?;
    answer(resp).await
}

pub(crate) async fn get_json<T: DeserializeOwned>(
    api: &Api,
    path: &str,
    query: &[(&str, String)],
) -> Result<T> {
    let resp = http()?
        .get(format!("{}{path}", api.url))
        .bearer_auth(&api.token)
        .query(query)
        .send()
        .await
        .with_context(|| format!("cannot reach {}", api.url))?;
    answer(resp).await
}

/// `firebell healthcheck`: 0 when the server answers `/-/healthy` with 200.
pub async fn healthcheck(url: &str) -> Result<ExitCode> {
    let url = format!("{}/-/healthy", url.trim_end_matches('/'));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .context("building the HTTP client")?;
    match client.get(&url).send().await {
        Ok(r) if r.status().is_success() => {
            println!("healthy: {url} answered {}", r.status());
            Ok(ExitCode::SUCCESS)
        }
        Ok(r) => {
            eprintln!("unhealthy: {url} answered {}", r.status());
            Ok(ExitCode::FAILURE)
        }
        Err(e) => {
            eprintln!(
                "unhealthy: cannot reach {url}: {:#}",
                anyhow::Error::from(e)
            );
            Ok(ExitCode::FAILURE)
        }
    }
}

/// `firebell nodes`: one line per node sharing the database.
pub async fn nodes(conn: &ApiConn) -> Result<ExitCode> {
    let api = api(conn)?;
    let body: NodeList = get_json(&api, "/api/v1/nodes", &[]).await?;
    if api.json {
        print_json(&body)?;
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<2}{:<24} {:<6} {:<10} {:<20} {:<20} config",
        "", "NODE", "STATUS", "VERSION", "STARTED", "LAST SEEN"
    );
    for n in &body.nodes {
        let config = if n.same_config {
            "same".to_string()
        } else {
            let digest: String = n.config_digest.chars().take(12).collect();
            format!("DIFFERS ({digest})")
        };
        println!(
            "{:<2}{:<24} {:<6} {:<10} {:<20} {:<20} {config}",
            if n.this_node { "*" } else { "" },
            n.name,
            n.status,
            n.version,
            short_time(&n.started_at),
            short_time(&n.last_seen),
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn oncall(
    conn: &ApiConn,
    schedule: Option<String>,
    at: Option<String>,
) -> Result<ExitCode> {
    let api = api(conn)?;
    let query: Vec<(&str, String)> = at.into_iter().map(|a| ("at", a)).collect();
    let (at, rows) = match &schedule {
        Some(id) => {
            let body: OnCallAt =
                get_json(&api, &format!("/api/v1/schedules/{id}/oncall"), &query).await?;
            if api.json {
                print_json(&body)?;
                return Ok(ExitCode::SUCCESS);
            }
            (body.at, vec![(body.schedule, body.users)])
        }
        None => {
            let body: OnCallNow = get_json(&api, "/api/v1/oncall", &query).await?;
            if api.json {
                print_json(&body)?;
                return Ok(ExitCode::SUCCESS);
            }
            let rows = body
                .oncall
                .into_iter()
                .map(|e| (e.schedule, e.users))
                .collect();
            (body.at, rows)
        }
    };
    println!("on call at {}:", short(at));
    for (id, users) in rows {
        let who = if users.is_empty() {
            "(nobody)".to_string()
        } else {
            users.join(", ")
        };
        println!("  {id:<20} {who}");
    }
    Ok(ExitCode::SUCCESS)
}

fn describe_override(o: &OverrideView) -> String {
    let who = |u: &Option<String>| u.clone().unwrap_or_else(|| "?".into());
    let what = match o.kind.as_str() {
        "add" => format!("add {}", who(&o.user)),
        "remove" => format!("remove {}", who(&o.user)),
        "replace" => format!("{} replaced by {}", who(&o.from), who(&o.to)),
        other => other.to_string(),
    };
    format!(
        "{:>5}  {}  {} → {}  {what}",
        o.id,
        o.schedule,
        short(o.start),
        short(o.end),
    )
}

pub async fn override_add(
    conn: &ApiConn,
    schedule: &str,
    body: bodies::NewOverride,
) -> Result<ExitCode> {
    let api = api(conn)?;
    let body: OneOverride = post_json(
        &api,
        &format!("/api/v1/schedules/{schedule}/overrides"),
        &body,
    )
    .await?;
    if api.json {
        print_json(&body)?;
    } else {
        println!("added: {}", describe_override(&body.override_));
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn override_list(conn: &ApiConn, schedule: &str) -> Result<ExitCode> {
    let api = api(conn)?;
    let body: OverrideList = get_json(
        &api,
        &format!("/api/v1/schedules/{schedule}/overrides"),
        &[],
    )
    .await?;
    if api.json {
        print_json(&body)?;
        return Ok(ExitCode::SUCCESS);
    }
    if body.overrides.is_empty() {
        println!("no overrides");
    }
    for o in &body.overrides {
        println!("{}", describe_override(o));
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn override_delete(conn: &ApiConn, id: i64) -> Result<ExitCode> {
    let api = api(conn)?;
    let resp = http()?
        .delete(format!("{}/api/v1/overrides/{id}", api.url))
        .bearer_auth(&api.token)
        .send()
        .await
        .with_context(|| format!("cannot reach {}", api.url))?;
    if resp.status().is_success() {
        println!("override {id} deleted");
        Ok(ExitCode::SUCCESS)
    } else {
        answer::<serde_json::Value>(resp)
            .await
            .map(|_| ExitCode::FAILURE)
    }
}

/// `firebell test channel|user`: sends through the real delivery path and
/// prints each answer; fails unless every test message was delivered.
pub async fn test_send(conn: &ApiConn, path: &str, body: bodies::ChannelTest) -> Result<ExitCode> {
    let api = api(conn)?;
    let answer: TestAnswer = post_json(&api, path, &body).await?;
    if api.json {
        print_json(&answer)?;
    } else {
        for r in &answer.results {
            let line = format!(
                "{status}: {user} contact {contact} via {channel} to {address}: {said}",
                status = r.status.as_str(),
                user = r.user,
                contact = r.contact,
                channel = r.channel,
                address = r.address,
                said = r.answer.as_deref().unwrap_or("(no answer)"),
            );
            if r.status == firebell_core::notification::NotificationStatus::Delivered {
                println!("{line}");
            } else {
                eprintln!("{line}");
            }
        }
    }
    Ok(if answer.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn describe_window(w: &WindowView) -> String {
    let mut s = format!(
        "window {}: {} in maintenance {} → {}{} (by {})",
        w.id,
        w.service,
        short_time(&w.start),
        short_time(&w.end),
        if w.active { ", in force" } else { "" },
        w.created_by,
    );
    if let Some(c) = &w.comment {
        s.push_str(&format!(": {c}"));
    }
    s
}

/// `firebell maintenance start`.
pub async fn maintenance_start(conn: &ApiConn, body: bodies::NewWindow) -> Result<ExitCode> {
    let api = api(conn)?;
    let body: OneWindow = post_json(&api, "/api/v1/maintenance", &body).await?;
    if api.json {
        print_json(&body)?;
    } else {
        println!("started: {}", describe_window(&body.window));
    }
    Ok(ExitCode::SUCCESS)
}

/// `firebell maintenance list`.
pub async fn maintenance_list(
    conn: &ApiConn,
    service: Option<String>,
    active: bool,
) -> Result<ExitCode> {
    let api = api(conn)?;
    let mut query = Vec::new();
    if let Some(s) = service {
        query.push(("service", s));
    }
    if active {
        query.push(("active", "true".to_string()));
    }
    let body: WindowList = get_json(&api, "/api/v1/maintenance", &query).await?;
    if api.json {
        print_json(&body)?;
        return Ok(ExitCode::SUCCESS);
    }
    if body.windows.is_empty() {
        println!("no maintenance windows");
    }
    for w in &body.windows {
        println!("{}", describe_window(w));
    }
    Ok(ExitCode::SUCCESS)
}

/// `firebell maintenance end ID`.
pub async fn maintenance_end(conn: &ApiConn, id: i64) -> Result<ExitCode> {
    let api = api(conn)?;
    let resp = http()?
        .delete(format!("{}/api/v1/maintenance/{id}", api.url))
        .bearer_auth(&api.token)
        .send()
        .await
        .with_context(|| format!("cannot reach {}", api.url))?;
    let body: OneWindow = answer(resp).await?;
    if api.json {
        print_json(&body)?;
    } else {
        println!("ended: {}", describe_window(&body.window));
    }
    Ok(ExitCode::SUCCESS)
}
