//! `[[policies]]`: escalation policies, each step's targets checked against
//! the users and schedules defined.

use super::diag::{Errors, check_id, known_list, parse_duration};
use crate::escalation::{Policy, Step, Target};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPolicy {
    id: String,
    repeat: Option<i64>,
    #[serde(default)]
    steps: Vec<RawStep>,
    /// `"policy:ID"`: where the escalation goes on when this one runs out.
    on_exhausted: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    #[serde(default)]
    targets: Vec<String>,
    wait: Option<String>,
}

/// Validates every `[[policies]]` table; problems go to `errors` as
/// `policies[N].<key>`. Targets must name one of `users` or `schedules`.
pub(super) fn validate(
    raw: &[RawPolicy],
    users: &[&String],
    schedules: &[&String],
    errors: &mut Errors,
) -> BTreeMap<String, Policy> {
    let mut policies = BTreeMap::new();
    for (i, p) in raw.iter().enumerate() {
        let path = format!("policies[{i}]");
        let id = check_id(errors, &format!("{path}.id"), &p.id);
        let repeat = match p.repeat {
            None => 1,
            Some(n) if (1..=100).contains(&n) => n as u32,
            Some(n) => {
                errors.hint(
                    format!("{path}.repeat"),
                    format!("{n} is out of range"),
                    "the step list runs 1 to 100 times",
                );
                1
            }
        };
        if p.steps.is_empty() {
            errors.hint(
                format!("{path}.steps"),
                "a policy needs at least one step",
                "steps = [ { targets = [\"user:alice\"], wait = \"5m\" } ]",
            );
        }
        let mut steps = Vec::new();
        for (j, s) in p.steps.iter().enumerate() {
            let spath = format!("{path}.steps[{j}]");
            let wait = parse_duration(errors, &format!("{spath}.wait"), s.wait.as_deref(), None);
            if s.targets.is_empty() {
                errors.hint(
                    format!("{spath}.targets"),
                    "a step needs at least one target",
                    "targets = [\"user:alice\"]",
                );
            }
            let mut targets = Vec::new();
            for (k, t) in s.targets.iter().enumerate() {
                let tpath = format!("{spath}.targets[{k}]");
                match t.parse::<Target>() {
                    Ok(target) => {
                        let (what, id, defined): (&str, &String, Vec<&String>) = match &target {
                            Target::User(id) => ("user", id, users.to_vec()),
                            Target::Schedule(id) => ("schedule", id, schedules.to_vec()),
                        };
                        if !defined.contains(&id) {
                            errors.hint(
                                tpath,
                                format!("no {what} named {id:?}"),
                                known_list(defined.into_iter()),
                            );
                        }
                        targets.push(target);
                    }
                    Err(e) => {
                        errors.hint(tpath, e, "write targets as \"user:ID\" or \"schedule:ID\"")
                    }
                }
            }
            steps.push(Step { targets, wait });
        }
        // An invalid id is reported above; the configuration will not load.
        let Some(id) = id else { continue };
        let on_exhausted = p
            .on_exhausted
            .as_deref()
            .and_then(|o| match o.split_once(':') {
                Some(("policy", next)) if !next.is_empty() => Some(next.to_string()),
                _ => {
                    errors.hint(
                        format!("{path}.on_exhausted"),
                        format!("{o:?} is not a policy to escalate to"),
                        "write on_exhausted = \"policy:ID\"",
                    );
                    None
                }
            });
        let policy = Policy {
            id,
            repeat,
            steps,
            on_exhausted,
        };
        if policies.insert(p.id.clone(), policy).is_some() {
            errors.push(
                format!("{path}.id"),
                format!("duplicate policy id {:?}", p.id),
            );
        }
    }
    // Each on_exhausted names a policy, and following them never comes back.
    for (i, p) in raw.iter().enumerate() {
        let Some(next) = policies.get(&p.id).and_then(|x| x.on_exhausted.clone()) else {
            continue;
        };
        let path = format!("policies[{i}].on_exhausted");
        if !policies.contains_key(&next) {
            errors.hint(
                path,
                format!("no policy named {next:?}"),
                known_list(policies.keys()),
            );
            continue;
        }
        let mut seen = vec![p.id.clone()];
        let mut at = Some(next);
        while let Some(id) = at {
            if seen.contains(&id) {
                seen.push(id);
                errors.push(
                    path.clone(),
                    format!("escalating on runs in a circle: {}", seen.join(" → ")),
                );
                break;
            }
            seen.push(id.clone());
            at = policies.get(&id).and_then(|x| x.on_exhausted.clone());
        }
    }
    policies
}
