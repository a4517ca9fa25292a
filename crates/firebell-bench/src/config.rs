//! The server configuration the harness writes for each run.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;

/// Admin token written into the config.
pub const ADMIN_TOKEN: &str = "bench-admin-token";
/// Key of the one generic integration events are posted with.
pub const INTEGRATION_KEY: &str = "bench-integration-key";
/// Key of the service's alertmanager integration (`POST /api/v2/alerts`).
pub const ALERTMANAGER_KEY: &str = "bench-alertmanager-key";
/// Path the webhook sink listens on.
pub const SINK_PATH: &str = "/hook";

/// What varies between runs.
#[derive(Debug, Clone)]
pub struct ConfigParams<'a> {
    /// Where the server listens (always on 127.0.0.1).
    pub listen: SocketAddr,
    /// The fresh data directory (SQLite lives there).
    pub data_dir: &'a Path,
    /// Full URL of the webhook sink, e.g. `http://127.0.0.1:4242/hook`.
    pub sink_url: &'a str,
    /// How the one user is paged.
    pub paging: Paging,
}

/// The one user's contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paging {
    /// A webhook to the harness's sink, which times every page.
    Webhook,
    /// The console (a line on the server's stdout), as the issue that set the
    /// side-by-side workloads measured them.
    Console,
}

/// Renders the TOML configuration: one user paged by webhook, one policy with
/// a single step (so each new alert pages exactly once within a run), one
/// service with a generic and an alertmanager integration.
pub fn render(p: &ConfigParams<'_>) -> String {
    let listen = p.listen.to_string();
    let public_url = format!("http://{}", p.listen);
    let data_dir = p.data_dir.to_string_lossy();
    let mut s = String::new();
    // Writing to a String cannot fail.
    let _ = write!(
        s,
        r#"# Written by firebell-bench; safe to delete.
[server]
listen = {listen}
public_url = {public_url}
data_dir = {data_dir}
admin_token = {admin_token}

[delivery]
webhook_timeout = "10s"

[[users]]
id = "bench"
contacts = [ {contact} ]

[[policies]]
id = "p"
repeat = 1
steps = [ {{ targets = ["user:bench"], wait = "30m" }} ]

[[services]]
id = "bench"
policy = "p"
integrations = [
  {{ kind = "generic", key = {key} }},
  {{ kind = "alertmanager", key = {am_key} }},
]
"#,
        listen = toml_string(&listen),
        public_url = toml_string(&public_url),
        data_dir = toml_string(&data_dir),
        admin_token = toml_string(ADMIN_TOKEN),
        contact = match p.paging {
            Paging::Webhook => format!(
                "{{ kind = \"webhook\", url = {} }}",
                toml_string(p.sink_url)
            ),
            Paging::Console => "{ kind = \"console\" }".to_string(),
        },
        key = toml_string(INTEGRATION_KEY),
        am_key = toml_string(ALERTMANAGER_KEY),
    );
    s
}

/// A TOML basic string (double-quoted, escaped).
pub fn toml_string(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 2);
    out.push('"');
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn config_has_the_chosen_ports_and_the_contract_shape() {
        let dir = PathBuf::from("/tmp/firebell-bench-x/data");
        let text = render(&ConfigParams {
            listen: "127.0.0.1:18080".parse().unwrap(),
            data_dir: &dir,
            sink_url: "http://127.0.0.1:4242/hook",
            paging: Paging::Webhook,
        });
        let v: toml::Table = toml::from_str(&text).unwrap();

        let server = v["server"].as_table().unwrap();
        assert_eq!(server["listen"].as_str(), Some("127.0.0.1:18080"));
        assert_eq!(
            server["public_url"].as_str(),
            Some("http://127.0.0.1:18080")
        );
        assert_eq!(
            server["data_dir"].as_str(),
            Some("/tmp/firebell-bench-x/data")
        );
        assert_eq!(server["admin_token"].as_str(), Some(ADMIN_TOKEN));
        assert_eq!(v["delivery"]["webhook_timeout"].as_str(), Some("10s"));

        let user = &v["users"].as_array().unwrap()[0];
        assert_eq!(user["id"].as_str(), Some("bench"));
        let contact = &user["contacts"].as_array().unwrap()[0];
        assert_eq!(contact["kind"].as_str(), Some("webhook"));
        assert_eq!(contact["url"].as_str(), Some("http://127.0.0.1:4242/hook"));

        let policy = &v["policies"].as_array().unwrap()[0];
        assert_eq!(policy["id"].as_str(), Some("p"));
        assert_eq!(policy["repeat"].as_integer(), Some(1));
        let step = &policy["steps"].as_array().unwrap()[0];
        assert_eq!(
            step["targets"].as_array().unwrap()[0].as_str(),
            Some("user:bench")
        );
        assert_eq!(step["wait"].as_str(), Some("30m"));

        let service = &v["services"].as_array().unwrap()[0];
        assert_eq!(service["id"].as_str(), Some("bench"));
        assert_eq!(service["policy"].as_str(), Some("p"));
        let integ = &service["integrations"].as_array().unwrap()[0];
        assert_eq!(integ["kind"].as_str(), Some("generic"));
        assert_eq!(integ["key"].as_str(), Some(INTEGRATION_KEY));
        let am = &service["integrations"].as_array().unwrap()[1];
        assert_eq!(am["kind"].as_str(), Some("alertmanager"));
        assert_eq!(am["key"].as_str(), Some(ALERTMANAGER_KEY));
    }

    #[test]
    fn odd_paths_are_escaped() {
        let dir = PathBuf::from("/tmp/a \"quoted\" \\ dir\tx");
        let text = render(&ConfigParams {
            listen: "127.0.0.1:1".parse().unwrap(),
            data_dir: &dir,
            sink_url: "http://127.0.0.1:2/hook",
            paging: Paging::Console,
        });
        let console: toml::Table = toml::from_str(&text).unwrap();
        assert_eq!(
            console["users"].as_array().unwrap()[0]["contacts"]
                .as_array()
                .unwrap()[0]["kind"]
                .as_str(),
            Some("console")
        );
        let v: toml::Table = toml::from_str(&text).unwrap();
        assert_eq!(
            v["server"]["data_dir"].as_str(),
            Some("/tmp/a \"quoted\" \\ dir\tx")
        );
        assert_eq!(toml_string("\u{1}"), "\"\\u0001\"");
    }
}
