//! `GET /api/v1/nodes`, `/-/ready` and `/metrics` on what the nodes sharing
//! the store recorded: lost nodes, and a node whose configuration differs.

use crate::support::*;
use firebell_store::NodeRecord;
use firebell_store::prelude::*;

const CONFIG: &str = concat!(
    server_section!(),
    r#"
[[users]]
id = "alice"
contacts = [ { kind = "console" } ]
"#
);

#[tokio::test]
async fn nodes_are_listed_lost_when_silent_and_a_differing_config_is_said() {
    let (app, _dir, _sink) = spawn_app(CONFIG).await;
    let me = app.engine.node_record();
    // Without credentials: refused.
    let r = app
        .client
        .get(format!("{}/api/v1/nodes", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // Alone: this node, up, same config.
    let (status, body) = app.api_get("/api/v1/nodes").await;
    assert_eq!(status, 200, "{body}");
    let nodes = body["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 1, "{body}");
    assert_eq!(nodes[0]["name"], me.name.as_str());
    assert_eq!(nodes[0]["status"], "up");
    assert_eq!(nodes[0]["this_node"], true);
    assert_eq!(nodes[0]["config_digest"].as_str().unwrap().len(), 64);

    // Two other nodes: one seen 10 s ago with the same configuration, one
    // seen 40 s ago (lost) with another.
    let store = app.engine.store();
    let other = |name: &str, ago: i64, digest: &str| NodeRecord {
        name: name.into(),
        version: "0.1.0".into(),
        started_at: t0(),
        last_seen: t0() - jiff::SignedDuration::from_secs(ago),
        config_digest: digest.into(),
    };
    store
        .node_seen(other("pager-b", 10, &me.config_digest))
        .await
        .unwrap();
    store.node_seen(other("pager-c", 40, "0000")).await.unwrap();
    app.engine.node_beat().await.unwrap();
    let (_, body) = app.api_get("/api/v1/nodes").await;
    let by_name = |n: &str| {
        body["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"] == n)
            .unwrap()
            .clone()
    };
    assert_eq!(by_name("pager-b")["status"], "up");
    assert_eq!(by_name("pager-b")["same_config"], true);
    assert_eq!(by_name("pager-c")["status"], "lost");
    assert_eq!(by_name("pager-c")["same_config"], false);
    // A lost node's differing configuration is not this node's problem.
    let ready = app
        .client
        .get(format!("{}/-/ready", app.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(ready, "Firebell is Ready.\n");

    // A live node with another configuration: ready says so, metrics too.
    store.node_seen(other("pager-d", 1, "1111")).await.unwrap();
    app.engine.node_beat().await.unwrap();
    let r = app
        .client
        .get(format!("{}/-/ready", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(
        text.contains("configuration differs from that of pager-d"),
        "{text}"
    );
    let metrics = app
        .client
        .get(format!("{}/metrics", app.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("firebell_config_mismatch 1"), "{metrics}");
}
