//! The operator dashboard over a real events WebSocket: an admin's
//! subscription gets snapshots of the node, the fleet, sessions and pipelines,
//! pushed on changes and every second; everyone else is refused precisely and
//! keeps their events; the dashboard's actions (end a session, drain a node)
//! answer as the API does.

mod common;

use std::time::{Duration, Instant};

use futures_util::SinkExt;
use playcast::auth::Role;
use reqwest::Method;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

async fn send(ws: &mut common::Ws, v: Value) {
    ws.send(Message::text(v.to_string())).await.expect("send");
}

/// The next snapshot, skipping session events.
async fn snapshot(ws: &mut common::Ws) -> Value {
    common::recv_kind(ws, "dashboard").await
}

/// The first snapshot within 10 s that `pred` accepts.
async fn snapshot_where(ws: &mut common::Ws, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let s = snapshot(ws).await;
        if pred(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "no snapshot with {what}; the last: {s}");
    }
}

fn session<'a>(snap: &'a Value, id: &str) -> Option<&'a Value> {
    snap["sessions"].as_array().unwrap().iter().find(|s| s["id"] == id)
}

async fn subscribe(ws: &mut common::Ws) {
    send(ws, json!({"type": "subscribe", "topics": ["dashboard"]})).await;
    let ack = common::recv_kind(ws, "subscribed").await;
    assert_eq!(ack["topics"], json!(["dashboard"]), "{ack}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_gets_live_snapshots_of_node_fleet_sessions_and_pipelines() {
    let service = common::serve_in_process(|_| {}).await;
    let events_url = format!("ws://{}/api/v1/events", service.addr);
    let admin = service.sign_in("root", Role::Admin).await;
    let player = service.sign_in("alice", Role::Player).await;
    let mut feed = common::ws_connect(&events_url, &admin).await;
    subscribe(&mut feed).await;

    let first = snapshot(&mut feed).await;
    let node_id = first["node"]["id"].as_str().unwrap().to_string();
    // This node as GET /api/v1/node shows it, and whether it drains.
    let (status, node) = service.call(&admin, Method::GET, "/api/v1/node", None).await;
    assert_eq!(status, 200);
    for key in ["id", "budget", "containment", "cache", "gamepads"] {
        assert_eq!(first["node"][key], node[key], "{key}: {first}");
    }
    assert_eq!(first["node"]["draining"], false);
    // The fleet as GET /api/v1/nodes shows it, with each heartbeat's age.
    let fleet = first["nodes"].as_array().unwrap();
    assert_eq!(fleet.len(), 1, "{first}");
    assert_eq!(fleet[0]["node"], node_id.as_str());
    assert_eq!(fleet[0]["draining"], false);
    assert_eq!(fleet[0]["runnable"]["test-pattern"], "x264enc");
    let age = fleet[0]["heartbeat_age_ms"].as_i64().expect("a heartbeat age");
    assert!((0..5_000).contains(&age), "{age}");
    // Pipelines as an admin's GET /api/v1/pipelines shows them.
    let (_, pipelines) = service.call(&admin, Method::GET, "/api/v1/pipelines", None).await;
    let names = |v: &Value| v.as_array().unwrap().iter().map(|p| p["name"].clone()).collect::<Vec<_>>();
    assert_eq!(names(&first["pipelines"]), names(&pipelines));
    let tp = first["pipelines"].as_array().unwrap().iter().find(|p| p["name"] == "test-pattern").unwrap();
    assert_eq!(tp["runnable"], true);
    assert_eq!(tp["encoder"], "x264enc");
    assert!(tp["encoder_choice"].as_str().unwrap().starts_with("encoder x264enc"), "{tp}");
    assert_eq!(tp["error"], Value::Null);
    assert_eq!(first["sessions"], json!([]));
    assert_eq!(first["unavailable"], json!({}));

    // At least every second while nothing happens.
    let started = Instant::now();
    for _ in 0..2 {
        snapshot(&mut feed).await;
    }
    assert!(started.elapsed() < Duration::from_millis(2_800), "{:?}", started.elapsed());

    // A player's new session shows up with its owner, game, pipeline and encoder.
    let (status, created) =
        service.call(&player, Method::POST, "/api/v1/sessions", Some(json!({"game": "test-pattern"}))).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let snap = snapshot_where(&mut feed, "the new session", |s| session(s, &id).is_some()).await;
    let row = session(&snap, &id).unwrap();
    let (_, listed) = service.call(&admin, Method::GET, &format!("/api/v1/sessions/{id}"), None).await;
    for key in ["owner", "game", "pipeline", "node", "params", "created_at"] {
        assert_eq!(row[key], listed[key], "{key}: {row}");
    }
    assert_eq!(row["owner"], "alice");
    assert_eq!(row["encoder"], "x264enc", "{row}");
    assert!(["connecting", "active"].contains(&row["state"].as_str().unwrap()), "{row}");
    assert_eq!(snap["node"]["sessions"], 1, "{snap}");

    // Ended from the dashboard (the session's own route), the end shows at once.
    let (status, ended) = service.call(&admin, Method::POST, &format!("/api/v1/sessions/{id}/end"), None).await;
    assert_eq!(status, 200, "{ended}");
    let asked = Instant::now();
    let snap = snapshot_where(&mut feed, "the session ended", |s| {
        session(s, &id).is_some_and(|r| ["terminated", "cleanup"].contains(&r["state"].as_str().unwrap()))
    })
    .await;
    assert!(asked.elapsed() < Duration::from_millis(1_500), "{:?}: {snap}", asked.elapsed());

    // Unsubscribed: no more snapshots, the events and pings go on.
    send(&mut feed, json!({"type": "unsubscribe", "topics": ["dashboard"]})).await;
    common::recv_kind(&mut feed, "unsubscribed").await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    send(&mut feed, json!({"type": "ping", "id": 5})).await;
    loop {
        let m = common::recv_json(&mut feed).await;
        assert_ne!(m["type"], "dashboard", "a snapshot after unsubscribing, or one sent before it: {m}");
        if m["type"] == "pong" {
            break;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn others_are_refused_precisely_and_keep_their_events() {
    let service = common::serve_in_process(|_| {}).await;
    let events_url = format!("ws://{}/api/v1/events", service.addr);
    let player = service.sign_in("alice", Role::Player).await;
    let mut feed = common::ws_connect(&events_url, &player).await;
    let cases = [
        (json!({"type": "subscribe", "topics": ["dashboard"]}).to_string(), "forbidden", "for admins"),
        ("{not json".to_string(), "bad_json", "not JSON"),
        (json!(["subscribe"]).to_string(), "bad_request", "JSON object"),
        (json!({"type": "subscribe"}).to_string(), "bad_request", "needs `topics`"),
        (json!({"type": "subscribe", "topics": ["fleet"]}).to_string(), "bad_request", "unknown topic `fleet`"),
        (json!({"type": "watch"}).to_string(), "unknown_type", "unknown message type `watch`"),
        (json!({"type": "auth", "token": player}).to_string(), "out_of_order", "already authenticated"),
        (json!({"type": "ping", "id": "x".repeat(5_000)}).to_string(), "too_large", "at most 4096 bytes"),
    ];
    for (text, code, says) in cases {
        feed.send(Message::text(text.clone())).await.unwrap();
        let e = common::recv_json(&mut feed).await;
        assert_eq!((e["type"].as_str(), e["code"].as_str()), (Some("error"), Some(code)), "{text:.60}: {e}");
        assert!(e["message"].as_str().unwrap().contains(says), "{text:.60}: {e}");
    }
    // Still connected, still getting the events of the player's own sessions.
    let (status, created) =
        service.call(&player, Method::POST, "/api/v1/sessions", Some(json!({"game": "test-pattern"}))).await;
    assert_eq!(status, 201, "{created}");
    let e = common::recv_kind(&mut feed, "event").await;
    assert_eq!(e["session_id"], created["id"]);
    send(&mut feed, json!({"type": "ping", "id": 1})).await;
    assert_eq!(common::recv_kind(&mut feed, "pong").await["id"], 1);

    // Subscribing before authenticating says so, and closes as any refused auth does.
    let (mut early, _) = tokio_tungstenite::connect_async(&events_url).await.unwrap();
    send(&mut early, json!({"type": "subscribe", "topics": ["dashboard"]})).await;
    let e = common::recv_json(&mut early).await;
    assert_eq!(e["code"], "unauthorized", "{e}");
    assert!(e["message"].as_str().unwrap().contains("authenticate first"), "{e}");
    common::ws_closed(&mut early).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_drains_the_node_from_the_dashboard() {
    let service = common::serve_in_process(|_| {}).await;
    let events_url = format!("ws://{}/api/v1/events", service.addr);
    let admin = service.sign_in("root", Role::Admin).await;
    let player = service.sign_in("alice", Role::Player).await;
    let mut feed = common::ws_connect(&events_url, &admin).await;
    subscribe(&mut feed).await;
    let node = snapshot(&mut feed).await["node"]["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/nodes/{node}/drain");

    // Only admins; a node that is not live is named.
    let (status, refused) = service.call(&player, Method::POST, &path, None).await;
    assert_eq!((status, refused["type"].as_str()), (403, Some("https://playcast.dev/problems/forbidden")));
    let (status, missing) = service.call(&admin, Method::POST, "/api/v1/nodes/node-elsewhere/drain", None).await;
    assert_eq!(status, 404, "{missing}");
    assert_eq!(missing["type"], "https://playcast.dev/problems/no-such-node");
    assert!(missing["detail"].as_str().unwrap().contains("node-elsewhere"), "{missing}");

    let (status, drained) = service.call(&admin, Method::POST, &path, None).await;
    assert_eq!(status, 200, "{drained}");
    assert_eq!((drained["node"].as_str(), drained["draining"].as_bool()), (Some(node.as_str()), Some(true)));
    // Again is fine.
    assert_eq!(service.call(&admin, Method::POST, &path, None).await.0, 200);
    // The dashboard shows it, in this node's row and in its heartbeat.
    snapshot_where(&mut feed, "the node draining", |s| {
        s["node"]["draining"] == true && s["nodes"][0]["draining"] == true
    })
    .await;
    // The node takes no new sessions and says it is not ready.
    let (status, refused) =
        service.call(&player, Method::POST, "/api/v1/sessions", Some(json!({"game": "test-pattern"}))).await;
    assert_eq!(status, 503, "{refused}");
    assert!(refused["detail"].as_str().unwrap().contains("draining"), "{refused}");
    let ready = reqwest::get(service.url("/api/v1/ready")).await.unwrap();
    assert_eq!(ready.status(), 503);
    assert_eq!(ready.json::<Value>().await.unwrap()["draining"], true);

    // An admin undoes it (only an admin; a node that is not live is named), and the node
    // takes sessions again.
    assert_eq!(service.call(&player, Method::DELETE, &path, None).await.0, 403);
    let (status, missing) = service.call(&admin, Method::DELETE, "/api/v1/nodes/node-elsewhere/drain", None).await;
    assert_eq!((status, missing["type"].as_str()), (404, Some("https://playcast.dev/problems/no-such-node")));
    let (status, taking) = service.call(&admin, Method::DELETE, &path, None).await;
    assert_eq!(status, 200, "{taking}");
    assert_eq!((taking["node"].as_str(), taking["draining"].as_bool()), (Some(node.as_str()), Some(false)));
    assert_eq!(service.call(&admin, Method::DELETE, &path, None).await.0, 200, "undoing twice is fine");
    snapshot_where(&mut feed, "the node taking sessions again", |s| {
        s["node"]["draining"] == false && s["nodes"][0]["draining"] == false
    })
    .await;
    assert_eq!(reqwest::get(service.url("/api/v1/ready")).await.unwrap().status(), 200);
    let (status, created) =
        service.call(&player, Method::POST, "/api/v1/sessions", Some(json!({"game": "test-pattern"}))).await;
    assert_eq!(status, 201, "{created}");
}
