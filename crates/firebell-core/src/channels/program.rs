//! `kind = "program"`: a local executable, run directly (never through a shell).

use super::common::{Args, check_args, problem, read_kind};
use crate::config::diag::{Errors, SecretSource, parse_duration};
use jiff::SignedDuration;
use serde::Deserialize;
use std::path::PathBuf;

/// How long a program may run before it is killed, unless configured.
pub const DEFAULT_PROGRAM_TIMEOUT: SignedDuration = SignedDuration::from_secs(10);

/// `kind = "program"`: a local executable run directly (never via a shell).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramSettings {
    pub path: PathBuf,
    /// Passed as `--name=value`, in file order, before the contact's own.
    pub args: Vec<(String, String)>,
    /// Passed as `--eventtype=…`.
    pub eventtype: String,
    /// Killed when it runs longer.
    pub timeout: SignedDuration,
    /// Put stdout and stderr on the alert's timeline.
    pub verbose: bool,
}

/// A program channel's own keys.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawProgram {
    path: Option<PathBuf>,
    args: Option<Args>,
    eventtype: Option<String>,
    timeout: Option<String>,
    verbose: Option<bool>,
}

pub(crate) fn parse(
    table: toml::Table,
    path: &str,
    secrets: &dyn SecretSource,
    errors: &mut Errors,
) -> Option<ProgramSettings> {
    let c = &read_kind::<RawProgram>(errors, path, "program", table)?;
    let program_path = match &c.path {
        None => {
            problem(
                errors,
                format!("{path}.path"),
                "missing",
                Some("the absolute path of the executable, e.g. \"/usr/local/bin/sendsms\""),
            );
            PathBuf::new()
        }
        Some(p) if !p.is_absolute() => {
            problem(
                errors,
                format!("{path}.path"),
                format!("{} is not an absolute path", p.display()),
                Some("write the full path; programs are not looked up in PATH"),
            );
            p.clone()
        }
        Some(p) => {
            if let Err(e) = secrets.executable(p) {
                problem(
                    errors,
                    format!("{path}.path"),
                    format!("{}: {e}", p.display()),
                    Some("the program must exist and be executable by the user Firebell runs as"),
                );
            }
            p.clone()
        }
    };
    let args = c.args.clone().unwrap_or_default().0;
    check_args(errors, &format!("{path}.args"), &args);
    let eventtype = c
        .eventtype
        .clone()
        .unwrap_or_else(|| "Firebell".to_string());
    if eventtype.contains('\0') {
        problem(
            errors,
            format!("{path}.eventtype"),
            "contains a NUL character",
            None,
        );
    }
    let timeout = parse_duration(
        errors,
        &format!("{path}.timeout"),
        c.timeout.as_deref(),
        Some(DEFAULT_PROGRAM_TIMEOUT),
    );
    Some(ProgramSettings {
        path: program_path,
        args,
        eventtype,
        timeout,
        verbose: c.verbose.unwrap_or(false),
    })
}
