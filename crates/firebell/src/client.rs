//! The command-line client: `send` and `alerts ...`, over the HTTP API.

use crate::need;
use anyhow::{Context, Result, bail};
use clap::Args;
use firebell_core::config::Config;
use firebell_server::config_file;
use secrecy::ExposeSecret;
use serde_json::{Map, Value, json};
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

/// Reads a JSON answer; on an error status prints the server's message.
pub(crate) async fn answer(resp: reqwest::Response) -> Result<Value> {
    let status = resp.status();
    let text = resp.text().await.context("reading the answer")?;
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    if status.is_success() {
        return Ok(body);
    }
    let mut msg = format!(
        "server answered {status}: {}",
        body.get("error").and_then(Value::as_str).unwrap_or("")
    );
    if let Some(details) = body.get("details").and_then(Value::as_array) {
        for d in details {
            let field = d.get("field").and_then(Value::as_str).unwrap_or("");
            let message = d.get("message").and_then(Value::as_str).unwrap_or("");
            msg.push_str(&format!("\n  {field}: {message}"));
        }
    }
    bail!(msg)
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
    let action = if a.resolve {
        "resolve"
    } else if a.acknowledge {
        "acknowledge"
    } else {
        "trigger"
    };
    let mut event = Map::new();
    event.insert("action".into(), json!(action));
    for (name, v) in [
        ("summary", &a.summary),
        ("severity", &a.severity),
        ("dedup_key", &a.dedup_key),
        ("source", &a.source),
    ] {
        if let Some(v) = v {
            event.insert(name.into(), json!(v));
        }
    }
    if !a.labels.is_empty() {
        let mut labels = Map::new();
        for l in &a.labels {
            let Some((k, v)) = l.split_once('=') else {
                bail!("--label {l:?}: write it as NAME=VALUE");
            };
            labels.insert(k.to_string(), json!(v));
        }
        event.insert("labels".into(), Value::Object(labels));
    }
    if let Some(d) = &a.details {
        let v: Value = serde_json::from_str(d).context("--details is not JSON")?;
        event.insert("details".into(), v);
    }
    let resp = http()?
        .post(format!("{}/api/v1/events", url.trim_end_matches('/')))
        .bearer_auth(key)
        .json(&Value::Object(event))
        .send()
        .await
        .with_context(|| format!("cannot reach {url}"))?;
    let body = answer(resp).await?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&body)?);
        return Ok(ExitCode::SUCCESS);
    }
    for alert in body["alerts"].as_array().into_iter().flatten() {
        match alert["id"].as_i64() {
            Some(id) => println!(
                "accepted: alert {id} ({}{}), dedup key {}",
                alert["status"].as_str().unwrap_or("?"),
                if alert["duplicate"].as_bool() == Some(true) {
                    ", duplicate"
                } else {
                    ""
                },
                alert["dedup_key"].as_str().unwrap_or("?"),
            ),
            None => println!(
                "accepted: no open alert with dedup key {}; nothing changed",
                alert["dedup_key"].as_str().unwrap_or("?")
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

pub(crate) fn short_time(v: &Value) -> String {
    v.as_str()
        .and_then(|s| s.parse::<jiff::Timestamp>().ok())
        .map(|t| t.strftime("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| "-".into())
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
    let body = get_json(&api, "/api/v1/alerts", &query).await?;
    if api.json {
        println!("{}", serde_json::to_string_pretty(&body)?);
        return Ok(ExitCode::SUCCESS);
    }
    let alerts = body["alerts"].as_array().cloned().unwrap_or_default();
    if alerts.is_empty() {
        println!("no alerts");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:>6}  {:<12}  {:<8}  {:<16}  {:>5}  {:<19}  SUMMARY",
        "ID", "STATUS", "SEVERITY", "SERVICE", "COUNT", "CREATED (UTC)"
    );
    for a in &alerts {
        println!(
            "{:>6}  {:<12}  {:<8}  {:<16}  {:>5}  {:<19}  {}",
            a["id"].as_i64().unwrap_or_default(),
            a["status"].as_str().unwrap_or("?"),
            a["severity"].as_str().unwrap_or("?"),
            a["service"].as_str().unwrap_or("?"),
            a["count"].as_i64().unwrap_or_default(),
            short_time(&a["created_at"]),
            a["summary"].as_str().unwrap_or(""),
        );
    }
    if let Some(next) = body["next_before"].as_i64() {
        println!("(more: --before {next})");
    }
    Ok(ExitCode::SUCCESS)
}

fn print_alert(body: &Value) {
    let a = &body["alert"];
    println!(
        "alert {} [{}] {} — {}",
        a["id"],
        a["status"].as_str().unwrap_or("?"),
        a["severity"].as_str().unwrap_or("?"),
        a["summary"].as_str().unwrap_or("")
    );
    println!(
        "  service {}, dedup key {}, count {}, created {}",
        a["service"].as_str().unwrap_or("?"),
        a["dedup_key"].as_str().unwrap_or("?"),
        a["count"],
        short_time(&a["created_at"])
    );
    if let Some(e) = body["escalation"].as_object() {
        println!(
            "  escalation: policy {}, {} at step {} round {}{}",
            e["policy"].as_str().unwrap_or("?"),
            e["phase"].as_str().unwrap_or("?"),
            e["step"],
            e["loop"],
            match e.get("due_at").and_then(Value::as_str) {
                Some(t) => format!(", next at {}", short_time(&json!(t))),
                None => String::new(),
            }
        );
    }
    println!("  timeline:");
    for line in body["timeline"].as_array().into_iter().flatten() {
        println!(
            "    {}  {:<12}  {}",
            short_time(&line["at"]),
            line["kind"].as_str().unwrap_or("?"),
            line["message"].as_str().unwrap_or("")
        );
    }
}

pub async fn show(conn: &ApiConn, id: i64) -> Result<ExitCode> {
    let api = api(conn)?;
    let body = get_json(&api, &format!("/api/v1/alerts/{id}"), &[]).await?;
    if api.json {
        println!("{}", serde_json::to_string_pretty(&body)?);
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
    let body = match user {
        Some(u) => json!({ "user": u }),
        None => json!({}),
    };
    let body = post_json(&api, &format!("/api/v1/alerts/{id}/{action}"), &body).await?;
    if api.json {
        println!("{}", serde_json::to_string_pretty(&body)?);
    } else {
        println!(
            "alert {id} is now {}",
            body["alert"]["status"].as_str().unwrap_or("?")
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn post_json(api: &Api, path: &str, body: &Value) -> Result<Value> {
    let resp = http()?
        .post(format!("{}{path}", api.url))
        .bearer_auth(&api.token)
        .json(body)
        .send()
        .await
        .with_context(|| format!("cannot reach {}", api.url))?;
    answer(resp).await
}

pub(crate) async fn get_json(api: &Api, path: &str, query: &[(&str, String)]) -> Result<Value> {
    let resp = http()?
        .get(format!("{}{path}", api.url))
        .bearer_auth(&api.token)
        .query(query)
        .send()
        .await
        .with_context(|| format!("cannot reach {}", api.url))?;
    answer(resp).await
}

/// `firebell nodes`: one line per node sharing the database.
pub async fn nodes(conn: &ApiConn) -> Result<ExitCode> {
    let api = api(conn)?;
    let body = get_json(&api, "/api/v1/nodes", &[]).await?;
    if api.json {
        println!("{}", serde_json::to_string_pretty(&body)?);
        return Ok(ExitCode::SUCCESS);
    }
    let nodes = body["nodes"].as_array().cloned().unwrap_or_default();
    println!(
        "{:<2}{:<24} {:<6} {:<10} {:<20} {:<20} config",
        "", "NODE", "STATUS", "VERSION", "STARTED", "LAST SEEN"
    );
    for n in &nodes {
        let text = |k: &str| n[k].as_str().unwrap_or("?").to_string();
        let config = if n["same_config"].as_bool() == Some(true) {
            "same".to_string()
        } else {
            format!(
                "DIFFERS ({})",
                &text("config_digest")[..12.min(text("config_digest").len())]
            )
        };
        println!(
            "{:<2}{:<24} {:<6} {:<10} {:<20} {:<20} {config}",
            if n["this_node"].as_bool() == Some(true) {
                "*"
            } else {
                ""
            },
            text("name"),
            text("status"),
            text("version"),
            short_time(&n["started_at"]),
            short_time(&n["last_seen"]),
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
    let body = match &schedule {
        Some(id) => get_json(&api, &format!("/api/v1/schedules/{id}/oncall"), &query).await?,
        None => get_json(&api, "/api/v1/oncall", &query).await?,
    };
    if api.json {
        println!("{}", serde_json::to_string_pretty(&body)?);
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<(String, Vec<String>)> = match &schedule {
        Some(id) => vec![(id.clone(), strings(&body["users"]))],
        None => body["oncall"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| {
                (
                    e["schedule"].as_str().unwrap_or("?").to_string(),
                    strings(&e["users"]),
                )
            })
            .collect(),
    };
    println!("on call at {}:", short_time(&body["at"]));
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

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|u| u.as_str().map(str::to_string))
        .collect()
}

fn describe_override(o: &Value) -> String {
    let what = match o["kind"].as_str() {
        Some("add") => format!("add {}", o["user"].as_str().unwrap_or("?")),
        Some("remove") => format!("remove {}", o["user"].as_str().unwrap_or("?")),
        Some("replace") => format!(
            "{} replaced by {}",
            o["from"].as_str().unwrap_or("?"),
            o["to"].as_str().unwrap_or("?")
        ),
        _ => "?".to_string(),
    };
    format!(
        "{:>5}  {}  {} → {}  {what}",
        o["id"].as_i64().unwrap_or_default(),
        o["schedule"].as_str().unwrap_or("?"),
        short_time(&o["start"]),
        short_time(&o["end"]),
    )
}

pub async fn override_add(
    conn: &ApiConn,
    schedule: &str,
    start: &str,
    end: &str,
    mut body: Value,
) -> Result<ExitCode> {
    let api = api(conn)?;
    body["start"] = json!(start);
    body["end"] = json!(end);
    let body = post_json(
        &api,
        &format!("/api/v1/schedules/{schedule}/overrides"),
        &body,
    )
    .await?;
    if api.json {
        println!("{}", serde_json::to_string_pretty(&body)?);
    } else {
        println!("added: {}", describe_override(&body["override"]));
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn override_list(conn: &ApiConn, schedule: &str) -> Result<ExitCode> {
    let api = api(conn)?;
    let body = get_json(
        &api,
        &format!("/api/v1/schedules/{schedule}/overrides"),
        &[],
    )
    .await?;
    if api.json {
        println!("{}", serde_json::to_string_pretty(&body)?);
        return Ok(ExitCode::SUCCESS);
    }
    let list = body["overrides"].as_array().cloned().unwrap_or_default();
    if list.is_empty() {
        println!("no overrides");
    }
    for o in &list {
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
        answer(resp).await.map(|_| ExitCode::FAILURE)
    }
}

/// `firebell test channel|user`: sends through the real delivery path and
/// prints each answer; fails unless every test message was delivered.
pub async fn test_send(conn: &ApiConn, path: &str, body: Value) -> Result<ExitCode> {
    let api = api(conn)?;
    let answer = post_json(&api, path, &body).await?;
    if api.json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
    } else {
        for r in answer["results"].as_array().into_iter().flatten() {
            let line = format!(
                "{status}: {user} contact {contact} via {channel} to {address}: {said}",
                status = r["status"].as_str().unwrap_or("?"),
                user = r["user"].as_str().unwrap_or("?"),
                contact = r["contact"].as_i64().unwrap_or_default(),
                channel = r["channel"].as_str().unwrap_or("?"),
                address = r["address"].as_str().unwrap_or("?"),
                said = r["answer"].as_str().unwrap_or("(no answer)"),
            );
            if r["status"] == "delivered" {
                println!("{line}");
            } else {
                eprintln!("{line}");
            }
        }
    }
    Ok(if answer["ok"] == true {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn describe_window(w: &Value) -> String {
    let mut s = format!(
        "window {}: {} in maintenance {} → {}{} (by {})",
        w["id"],
        w["service"].as_str().unwrap_or("?"),
        short_time(&w["start"]),
        short_time(&w["end"]),
        if w["active"] == true {
            ", in force"
        } else {
            ""
        },
        w["created_by"].as_str().unwrap_or("?"),
    );
    if let Some(c) = w["comment"].as_str() {
        s.push_str(&format!(": {c}"));
    }
    s
}

/// `firebell maintenance start`.
pub async fn maintenance_start(conn: &ApiConn, body: Value) -> Result<ExitCode> {
    let api = api(conn)?;
    let body = post_json(&api, "/api/v1/maintenance", &body).await?;
    if api.json {
        println!("{}", serde_json::to_string_pretty(&body)?);
    } else {
        println!("started: {}", describe_window(&body["window"]));
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
    let body = get_json(&api, "/api/v1/maintenance", &query).await?;
    if api.json {
        println!("{}", serde_json::to_string_pretty(&body)?);
        return Ok(ExitCode::SUCCESS);
    }
    let list = body["windows"].as_array().cloned().unwrap_or_default();
    if list.is_empty() {
        println!("no maintenance windows");
    }
    for w in &list {
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
    let body = answer(resp).await?;
    if api.json {
        println!("{}", serde_json::to_string_pretty(&body)?);
    } else {
        println!("ended: {}", describe_window(&body["window"]));
    }
    Ok(ExitCode::SUCCESS)
}
