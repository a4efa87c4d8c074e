//! Two nodes on one PostgreSQL and one Redis: each sees the other's sessions
//! and events, and a sign-out on one closes that sign-in's sockets on both.

mod common;

use std::time::Duration;

use futures_util::SinkExt;
use playcast::auth::Role;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_out_on_one_node_closes_the_sockets_on_another_and_events_cross() {
    let db = common::PgDatabase::create().await;
    let shared = tempfile::tempdir().unwrap();
    let prefix = format!("nodes-{}", uuid::Uuid::new_v4().simple());
    let node = |id: &'static str| {
        let (url, dir, prefix) = (db.url(), shared.path().to_owned(), prefix.clone());
        move |c: &mut playcast::config::Config| {
            c.state.database_url = playcast::config::Secret(url);
            c.cache.url = playcast::config::Secret(common::REDIS_URL.into());
            c.cache.prefix = prefix;
            // One development issuer key for both, as one deployment would share its issuer.
            c.server.data_dir = dir;
            c.node.id = id.into();
        }
    };
    let a = common::serve_in_process(node("node-a")).await;
    let b = common::serve_in_process(node("node-b")).await;

    // Signed in through A; sockets open on both nodes.
    let token = a.sign_in("alice", Role::Player).await;
    let mut on_a = common::ws_connect(&a.ws_url(), &token).await;
    let mut on_b = common::ws_connect(&b.ws_url(), &token).await;
    let mut feed_b = common::ws_connect(&format!("ws://{}/api/v1/events", b.addr), &token).await;

    // A session on A shows up in B's event feed and API.
    let res = reqwest::Client::new()
        .post(a.url("/api/v1/sessions"))
        .bearer_auth(&token)
        .json(&json!({"game": "test-pattern"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let id = res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let e = common::recv_kind(&mut feed_b, "event").await;
    assert_eq!((e["session_id"].as_str(), e["to"].as_str()), (Some(id.as_str()), Some("idle")), "{e}");
    let seen: Value = reqwest::Client::new()
        .get(b.url(&format!("/api/v1/sessions/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(seen["node"], "node-a", "{seen}");

    // Both nodes' heartbeats are in the cache.
    let admin = a.sign_in("root", Role::Admin).await;
    common::eventually("both nodes alive", WAIT, || async {
        let node: Value = reqwest::Client::new()
            .get(b.url("/api/v1/node"))
            .bearer_auth(&admin)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        (node["cache"]["live_nodes"] == json!(["node-a", "node-b"])).then_some(())
    })
    .await;
    // Admins list every node with its address, capacity and load, from any node.
    let nodes = common::eventually("both nodes listed with A's session", WAIT, || async {
        let list: Value = reqwest::Client::new()
            .get(b.url("/api/v1/nodes"))
            .bearer_auth(&admin)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        let a_node = list.as_array()?.iter().find(|n| n["node"] == "node-a")?.clone();
        (list.as_array()?.len() == 2 && a_node["sessions"] == 1).then_some(list)
    })
    .await;
    for n in nodes.as_array().unwrap() {
        assert!(n["address"].as_str().is_some_and(|a| a.starts_with("http://127.0.0.1:")), "{n}");
        assert!(n["budget"]["total"]["cpu_cores"].as_u64().is_some_and(|c| c > 0), "{n}");
        assert_eq!(n["draining"], false, "{n}");
    }
    assert_eq!(nodes[0]["node"], "node-a", "in id order: {nodes}");
    assert!(
        nodes[0]["budget"]["used"]["cpu_cores"].as_u64().is_some_and(|c| c > 0),
        "A's session holds cores: {nodes}"
    );
    // Players may not see the fleet.
    let res = reqwest::Client::new().get(a.url("/api/v1/nodes")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(res.status(), 403);

    // Signing out through A closes the sockets on B too.
    let res = reqwest::Client::new().post(a.url("/api/v1/logout")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(res.status(), 204);
    for ws in [&mut on_a, &mut on_b, &mut feed_b] {
        let e = common::recv_kind(ws, "error").await;
        assert_eq!(e["code"], "unauthorized", "{e}");
    }
    // The other sign-in (the admin's) is untouched on B.
    let mut admin_b = common::ws_connect(&b.ws_url(), &admin).await;
    admin_b.send(Message::text(json!({"type": "ping", "id": 1}).to_string())).await.unwrap();
    assert_eq!(common::recv_json(&mut admin_b).await["type"], "pong");
}
