//! `firebell silence add|list|expire`: silences through `/api/v1/silences`.

use crate::client::{ApiConn, answer, api, get_json, http, post_json, print_json, short_time};
use anyhow::{Context, Result};
use clap::Subcommand;
use firebell_core::api::{OneSilence, SilenceCreated, SilenceList, SilenceView, bodies};
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

fn describe(s: &SilenceView) -> String {
    let mut line = format!(
        "{id} {state} {{{matchers}}} {start} → {end} by {by}: {comment}",
        id = s.id,
        state = s.state,
        matchers = s.matchers.join(", "),
        start = short_time(&s.starts_at),
        end = short_time(&s.ends_at),
        by = s.created_by,
        comment = s.comment,
    );
    if s.expire_on_resolve {
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
            let body = bodies::NewSilence {
                matchers,
                starts_at: start,
                ends_at: until,
                duration,
                comment: Some(comment),
                created_by: Some(author),
                expire_on_resolve,
            };
            let answer: SilenceCreated = post_json(&api, "/api/v1/silences", &body).await?;
            if api.json {
                print_json(&answer)?;
            } else {
                println!("silenced: {}", describe(&answer.silence));
            }
            for w in &answer.warnings {
                eprintln!("warning: {w}");
            }
        }
        SilenceCommand::List { state } => {
            let query: Vec<(&str, String)> = state.into_iter().map(|s| ("state", s)).collect();
            let body: SilenceList = get_json(&api, "/api/v1/silences", &query).await?;
            if api.json {
                print_json(&body)?;
                return Ok(ExitCode::SUCCESS);
            }
            if body.silences.is_empty() {
                println!("no silences");
            }
            for s in &body.silences {
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
            let body: OneSilence = answer(resp).await?;
            if api.json {
                print_json(&body)?;
            } else {
                println!("expired: {}", describe(&body.silence));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
