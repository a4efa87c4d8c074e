//! Redis restarting under a running session: the session carries on, its live
//! state is rebuilt in the cache, and the event feed loses nothing.

mod common;

use std::time::Duration;

use common::redis::PrivateRedis;
use futures_util::SinkExt;
use playcast::auth::Role;
use playcast::store::cache::Cache;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

const WAIT: Duration = Duration::from_secs(20);

async fn call(service: &common::InProcess, token: &str, method: reqwest::Method, path: &str) -> Value {
    let res = reqwest::Client::new().request(method, service.url(path)).bearer_auth(token).send().await.unwrap();
    assert!(res.status().is_success(), "{path}: {}", res.status());
    res.json().await.unwrap()
}

async fn next_event(ws: &mut common::Ws) -> Value {
    let v = common::recv_json(ws).await;
    assert_eq!(v["type"], "event", "{v}");
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_survives_a_redis_restart_and_its_state_is_rebuilt() {
    let mut redis = PrivateRedis::start();
    let prefix = "restart-test";
    let url = redis.url();
    let service = common::serve_in_process(|c| {
        c.cache.url = playcast::config::Secret(url.clone());
        c.cache.prefix = prefix.into();
    })
    .await;
    let token = service.sign_in("alice", Role::Player).await;
    let mut feed = common::ws_connect(&format!("ws://{}/api/v1/events", service.addr), &token).await;
    let created = reqwest::Client::new()
        .post(service.url("/api/v1/sessions"))
        .bearer_auth(&token)
        .json(&json!({"game": "test-pattern"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let id = created.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let mut seqs = Vec::new();
    for _ in 0..3 {
        seqs.push(next_event(&mut feed).await["seq"].as_i64().unwrap());
    }
    let key = format!("session/{id}");
    let cache = Cache::redis(&url, prefix).await.unwrap();
    let live = common::eventually("the session in the cache", WAIT, || async { cache.get(&key).await.ok()? }).await;
    assert_eq!(serde_json::from_str::<Value>(&live).unwrap()["state"], "connecting");

    redis.kill();
    // The database keeps answering; the session goes on.
    assert_eq!(
        call(&service, &token, reqwest::Method::GET, &format!("/api/v1/sessions/{id}")).await["state"],
        "connecting"
    );
    let ready = reqwest::get(service.url("/api/v1/ready")).await.unwrap();
    assert_eq!(ready.status(), 503, "readiness reports the cache down");

    redis.spawn();
    // The heartbeat refills what the restart erased.
    let rebuilt =
        common::eventually("the session's state rebuilt", WAIT, || async { cache.get(&key).await.ok()? }).await;
    assert_eq!(serde_json::from_str::<Value>(&rebuilt).unwrap()["id"], id.as_str());
    let admin = service.sign_in("root", Role::Admin).await;
    let node = call(&service, &admin, reqwest::Method::GET, "/api/v1/node").await;
    assert_eq!(node["cache"]["backend"], "redis", "{node}");
    assert_eq!(node["sessions"], 1, "{node}");
    common::eventually("the node's heartbeat", WAIT, || async {
        let node = call(&service, &admin, reqwest::Method::GET, "/api/v1/node").await;
        (node["cache"]["live_nodes"].as_array()?.len() == 1).then_some(())
    })
    .await;

    // Events after the restart arrive, numbered on from the ones before.
    call(&service, &token, reqwest::Method::POST, &format!("/api/v1/sessions/{id}/end")).await;
    for want in ["terminated", "cleanup"] {
        let e = next_event(&mut feed).await;
        assert_eq!(e["to"], want, "{e}");
        seqs.push(e["seq"].as_i64().unwrap());
    }
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "a gap or repeat: {seqs:?}");
    common::eventually("the finished session gone from the cache", WAIT, || async {
        cache.get(&key).await.ok()?.is_none().then_some(())
    })
    .await;
    feed.send(Message::text(json!({"type": "ping", "id": 1}).to_string())).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_recorded_while_redis_is_down_are_delivered_in_order() {
    let mut redis = PrivateRedis::start();
    let url = redis.url();
    let service = common::serve_in_process(|c| {
        c.cache.url = playcast::config::Secret(url.clone());
        c.cache.prefix = "outage-test".into();
    })
    .await;
    let token = service.sign_in("alice", Role::Player).await;
    let mut feed = common::ws_connect(&format!("ws://{}/api/v1/events", service.addr), &token).await;
    let create = || async {
        reqwest::Client::new()
            .post(service.url("/api/v1/sessions"))
            .bearer_auth(&token)
            .json(&json!({"game": "test-pattern"}))
            .send()
            .await
            .unwrap()
    };
    let (mut ids, mut last) = (Vec::new(), 0);
    for _ in 0..2 {
        let res = create().await;
        assert_eq!(res.status(), 201);
        ids.push(res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string());
        for _ in 0..3 {
            last = next_event(&mut feed).await["seq"].as_i64().unwrap();
        }
    }
    redis.kill();
    // No new work without the cache (placement cannot see the fleet)…
    let refused = create().await;
    assert_eq!(refused.status(), 503);
    assert!(refused.headers().contains_key("retry-after"));
    // …but the running sessions are the node's own: they end while nothing can be published.
    for id in &ids {
        call(&service, &token, reqwest::Method::POST, &format!("/api/v1/sessions/{id}/end")).await;
        // Cleaned up before the next one ends, so their events do not interleave.
        let path = format!("/api/v1/sessions/{id}");
        common::eventually("the cleanup", WAIT, || async {
            (call(&service, &token, reqwest::Method::GET, &path).await["state"] == "cleanup").then_some(())
        })
        .await;
    }
    // Every transition reaches the feed, from the database, in order.
    let mut got = Vec::new();
    for _ in 0..4 {
        let e = next_event(&mut feed).await;
        got.push((e["seq"].as_i64().unwrap(), e["session_id"].as_str().unwrap().to_string(), e["to"].clone()));
    }
    assert_eq!(got[0].0, last + 1, "{got:?}");
    assert!(got.windows(2).all(|w| w[1].0 == w[0].0 + 1), "{got:?}");
    for (i, id) in ids.iter().enumerate() {
        let states: Vec<&str> = got[i * 2..i * 2 + 2]
            .iter()
            .map(|(_, s, t)| {
                assert_eq!(s, id);
                t.as_str().unwrap()
            })
            .collect();
        assert_eq!(states, ["terminated", "cleanup"]);
    }
    redis.spawn();
}
