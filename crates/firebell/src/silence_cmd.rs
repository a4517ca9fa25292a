//! `firebell silence add|list|expire`: silences through `/api/v1/silences`.

use crate::client::{ApiConn, answer, api, get_json, http, post_json, short_time};
use anyhow::{Context, Result};
use clap::Subcommand;
use serde_json::{Value, json};
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum SilenceCommand {
    /// Silence alerts matching every --matcher: they are recorded, with their
    /// timelines, but page no one until the silence ends.
    Add {
        /// An Alertmanager-style matcher, e.g. 'service="checkout"',
        /// 'alertname=~"Disk.*"', 'host!="db1"'. Repeat for several (all
        /// must match).
        #[arg(long = "matcher", required = true, value_name = "MATCHER")]
        matchers: Vec<String>,
        /// How long, e.g. "2h" or "90m".
        #[arg(long, conflicts_with = "until", required_unless_present = "until")]
        duration: Option<String>,
        /// End (RFC 3339).
        #[arg(long, value_name = "TIME")]
        until: Option<String>,
        /// Start (RFC 3339) instead of now.
        #[arg(long, value_name = "TIME")]
        start: Option<String>,
        /// Why: shown in the list and on the held alerts' timelines.
        #[arg(long)]
        comment: String,
        /// End the silence once every alert it matched has resolved.
        #[arg(long)]
        expire_on_resolve: bool,
        /// Who silences (defaults to $USER).
        #[arg(long)]
        author: Option<String>,
    },
    /// List silences, oldest first.
    List {
        /// Only active, pending or expired ones.
        #[arg(long)]
        state: Option<String>,
    },
    /// Expire a silence now: what it held pages at once.
    Expire { id: String },
}

fn describe(s: &Value) -> String {
    let matchers: Vec<&str> = s["matchers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let mut line = format!(
        "{id} {state} {{{matchers}}} {start} → {end} by {by}: {comment}",
        id = s["id"].as_str().unwrap_or("?"),
        state = s["state"].as_str().unwrap_or("?"),
        matchers = matchers.join(", "),
        start = short_time(&s["starts_at"]),
        end = short_time(&s["ends_at"]),
        by = s["created_by"].as_str().unwrap_or("?"),
        comment = s["comment"].as_str().unwrap_or(""),
    );
    if s["expire_on_resolve"] == true {
        line.push_str(" (expires when its alerts resolve)");
    }
    line
}

pub async fn run(conn: &ApiConn, command: SilenceCommand) -> Result<ExitCode> {
    let api = api(conn)?;
    match command {
        SilenceCommand::Add {
            matchers,
            duration,
            until,
            start,
            comment,
            expire_on_resolve,
            author,
        } => {
            let author = author
                .or_else(|| std::env::var("USER").ok())
                .unwrap_or_else(|| "cli".to_string());
            let mut body = json!({
                "matchers": matchers,
                "comment": comment,
                "created_by": author,
                "expire_on_resolve": expire_on_resolve,
            });
            if let Some(d) = duration {
                body["duration"] = json!(d);
            }
            if let Some(u) = until {
                body["ends_at"] = json!(u);
            }
            if let Some(s) = start {
                body["starts_at"] = json!(s);
            }
            let answer = post_json(&api, "/api/v1/silences", &body).await?;
            if api.json {
                println!("{}", serde_json::to_string_pretty(&answer)?);
            } else {
                println!("silenced: {}", describe(&answer["silence"]));
            }
            for w in answer["warnings"].as_array().into_iter().flatten() {
                eprintln!("warning: {}", w.as_str().unwrap_or("?"));
            }
        }
        SilenceCommand::List { state } => {
            let query: Vec<(&str, String)> = state.into_iter().map(|s| ("state", s)).collect();
            let body = get_json(&api, "/api/v1/silences", &query).await?;
            if api.json {
                println!("{}", serde_json::to_string_pretty(&body)?);
                return Ok(ExitCode::SUCCESS);
            }
            let list = body["silences"].as_array().cloned().unwrap_or_default();
            if list.is_empty() {
                println!("no silences");
            }
            for s in &list {
                println!("{}", describe(s));
            }
        }
        SilenceCommand::Expire { id } => {
            let resp = http()?
                .delete(format!("{}/api/v1/silences/{id}", api.url))
                .bearer_auth(&api.token)
                .send()
                .await
                .with_context(|| format!("cannot reach {}", api.url))?;
            let body = answer(resp).await?;
            if api.json {
                println!("{}", serde_json::to_string_pretty(&body)?);
            } else {
                println!("expired: {}", describe(&body["silence"]));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
