//! `kind = "smtp"`: the mail server email pages go through.

use super::common::{problem, read_kind};
use crate::config::diag::{Errors, SecretSource, resolve_secret};
use secrecy::SecretString;
use serde::Deserialize;

/// `kind = "smtp"`: the mail server pages are sent through.
#[derive(Debug, Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password: Option<SecretString>,
    /// The From header, e.g. `Firebell <pager@example.com>` (parses as a
    /// `lettre::message::Mailbox`: checked at load).
    pub from: String,
    /// PEM certificates trusted besides the public roots (`ca_file`): a
    /// relay with a private CA. Read at load.
    pub ca_pem: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain SMTP (a local relay).
    None,
    /// Plain connection upgraded with STARTTLS (port 587).
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
}

/// An smtp channel's own keys.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSmtp {
    host: Option<String>,
    port: Option<u16>,
    tls: Option<String>,
    username: Option<String>,
    password: Option<String>,
    from: Option<String>,
    ca_file: Option<String>,
}

pub(crate) fn parse(
    table: toml::Table,
    path: &str,
    secrets: &dyn SecretSource,
    errors: &mut Errors,
) -> Option<SmtpSettings> {
    let c = &read_kind::<RawSmtp>(errors, path, "smtp", table)?;
    let host = match c.host.as_deref() {
        Some(h) if !h.trim().is_empty() => h.trim().to_string(),
        _ => {
            problem(
                errors,
                format!("{path}.host"),
                "missing",
                Some("the mail server's host name, e.g. host = \"smtp.example.com\""),
            );
            String::new()
        }
    };
    let tls = match c.tls.as_deref() {
        None | Some("starttls") => SmtpTls::Starttls,
        Some("tls") => SmtpTls::Tls,
        Some("none") => SmtpTls::None,
        Some(other) => {
            problem(
                errors,
                format!("{path}.tls"),
                format!("unknown TLS mode {other:?}"),
                Some("one of \"none\", \"starttls\" (the default) or \"tls\""),
            );
            SmtpTls::Starttls
        }
    };
    let port = c.port.unwrap_or(match tls {
        SmtpTls::None => 25,
        SmtpTls::Starttls => 587,
        SmtpTls::Tls => 465,
    });
    if port == 0 {
        problem(errors, format!("{path}.port"), "must not be 0", None);
    }
    let password = c
        .password
        .as_deref()
        .and_then(|p| resolve_secret(errors, &format!("{path}.password"), p, secrets));
    if c.password.is_some() && c.username.is_none() {
        problem(
            errors,
            format!("{path}.username"),
            "missing; a password is set",
            Some("give both username and password, or neither"),
        );
    }
    if c.username.is_some() && c.password.is_none() {
        problem(
            errors,
            format!("{path}.password"),
            "missing; a username is set",
            Some("password = \"env:SMTP_PASSWORD\""),
        );
    }
    let from = match c.from.as_deref() {
        Some(f) if f.parse::<lettre::message::Mailbox>().is_ok() => f.to_string(),
        Some(f) => {
            problem(
                errors,
                format!("{path}.from"),
                format!("{f:?} is not an email address"),
                Some("such as \"Firebell <pager@example.com>\""),
            );
            String::new()
        }
        None => {
            problem(
                errors,
                format!("{path}.from"),
                "missing",
                Some("such as \"Firebell <pager@example.com>\""),
            );
            String::new()
        }
    };
    let ca_pem = c.ca_file.as_deref().and_then(|file| {
        let cpath = format!("{path}.ca_file");
        if tls == SmtpTls::None {
            problem(errors, cpath, "applies only with tls = \"starttls\" or \"tls\"", None);
            return None;
        }
        match secrets.file(file) {
            Ok(pem) if pem.contains("-----BEGIN CERTIFICATE-----") => Some(pem),
            Ok(_) => {
                problem(
                    errors,
                    cpath,
                    format!("{file} holds no PEM certificate"),
                    Some("the CA certificate(s) that signed the server's, in PEM (-----BEGIN CERTIFICATE-----)"),
                );
                None
            }
            Err(e) => {
                problem(errors, cpath, format!("cannot read {file}: {e}"), None);
                None
            }
        }
    });
    Some(SmtpSettings {
        host,
        port,
        tls,
        username: c.username.clone(),
        password,
        from,
        ca_pem,
    })
}
