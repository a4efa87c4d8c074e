//! Several nodes on one PostgreSQL and one Redis: placement on the least
//! loaded node, calls and signaling reaching the node that runs a session,
//! a killed node's sessions closed by the survivors, a drain the others see,
//! and a node that loses Redis or PostgreSQL keeping its streams.

mod common;

use std::time::Duration;

use common::call;
use common::proxy::Relay;
use futures_util::SinkExt;
use playcast::auth::Role;
use reqwest::Method;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

const WAIT: Duration = Duration::from_secs(30);

/// What the nodes of one test share: a database, a cache prefix, and the
/// development issuer's key (one deployment shares its issuer).
struct Fleet {
    db: common::PgDatabase,
    shared: tempfile::TempDir,
    prefix: String,
}

impl Fleet {
    async fn new() -> Fleet {
        Fleet {
            db: common::PgDatabase::create().await,
            shared: tempfile::tempdir().unwrap(),
            prefix: format!("fleet-{}", uuid::Uuid::new_v4().simple()),
        }
    }

    /// A node in this process, reaching PostgreSQL and Redis at the given URLs.
    async fn node_via(
        &self,
        id: &str,
        db_url: String,
        redis_url: String,
        edit: impl FnOnce(&mut playcast::config::Config),
    ) -> common::InProcess {
        let (dir, prefix, id) = (self.shared.path().to_owned(), self.prefix.clone(), id.to_string());
        common::serve_in_process(move |c| {
            c.state.database_url = playcast::config::Secret(db_url);
            c.cache.url = playcast::config::Secret(redis_url);
            c.cache.prefix = prefix;
            c.server.data_dir = dir;
            c.node.id = id;
            c.sessions.connect_timeout = std::time::Duration::from_secs(600);
            // Streams opened here are never answered; they must outlast the test.
            c.signaling.answer_timeout = std::time::Duration::from_secs(600);
            edit(c);
        })
        .await
    }

    async fn node(&self, id: &str, edit: impl FnOnce(&mut playcast::config::Config)) -> common::InProcess {
        self.node_via(id, self.db.url(), common::REDIS_URL.into(), edit).await
    }

    /// A node as its own process (to kill or stop with a signal).
    async fn spawn(&self, id: &str, extra_env: &[(&str, &str)]) -> (common::Proc, String) {
        let listen = format!("127.0.0.1:{}", common::free_port());
        let mut cmd = common::node_process(id, &listen, self.shared.path(), &self.db.url(), &self.prefix);
        cmd.env("RUST_LOG", "playcast=debug,warn").envs(extra_env.iter().copied());
        let proc = common::Proc(cmd.spawn().expect("spawning playcast serve"), "playcast");
        let base = format!("http://{listen}");
        common::wait_http(&format!("{base}/api/v1/health"), WAIT).await;
        (proc, base)
    }
}

async fn create(base: &str, token: &str) -> (u16, Value) {
    call(base, token, Method::POST, "/api/v1/sessions", Some(json!({"game": "test-pattern"}))).await
}

/// Waits until the fleet as `base` publishes it has `used` cores reserved per node.
async fn until_loads(base: &str, admin: &str, used: &[(&str, u64)]) {
    common::eventually(&format!("published loads {used:?}"), WAIT, || async {
        let (_, list) = call(base, admin, Method::GET, "/api/v1/nodes", None).await;
        let list = list.as_array()?.clone();
        used.iter()
            .all(|(id, cores)| {
                list.iter().any(|n| n["node"] == *id && n["budget"]["used"]["cpu_cores"].as_u64() == Some(*cores))
            })
            .then_some(())
    })
    .await;
}

/// The next event of session `id` on an events feed.
async fn event_of(feed: &mut common::Ws, id: &str) -> Value {
    loop {
        let e = common::recv_kind(feed, "event").await;
        if e["session_id"] == id {
            return e;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_go_to_the_least_loaded_node_and_calls_reach_the_node_that_runs_them() {
    let fleet = Fleet::new().await;
    let two_cores = |c: &mut playcast::config::Config| c.node.cpu_cores = 2;
    let a = fleet.node("node-a", two_cores).await;
    let b = fleet.node("node-b", two_cores).await;
    let alice = a.sign_in("alice", Role::Player).await;
    let admin = a.sign_in("root", Role::Admin).await;
    until_loads(&a.base, &admin, &[("node-a", 0), ("node-b", 0)]).await;

    // Equal loads: the lower id first; then always the emptier node,
    // whichever node the request came to.
    let mut placed = Vec::new();
    for (via, expect, loads) in [
        (&a, "node-a", [("node-a", 1), ("node-b", 0)]),
        (&a, "node-b", [("node-a", 1), ("node-b", 1)]),
        (&b, "node-a", [("node-a", 2), ("node-b", 1)]),
        (&b, "node-b", [("node-a", 2), ("node-b", 2)]),
    ] {
        let (status, view) = create(&via.base, &alice).await;
        assert_eq!(status, 201, "{view}");
        assert_eq!(view["node"], expect, "{view}");
        placed.push(view["id"].as_str().unwrap().to_string());
        until_loads(&a.base, &admin, &loads).await;
    }
    // Full everywhere: 503 with Retry-After, saying why for each node.
    let (status, p) = create(&b.base, &alice).await;
    assert_eq!(status, 503, "{p}");
    assert_eq!(p["retry-after"], "10", "{p}");
    assert!(p["type"].as_str().unwrap().ends_with("/no-room"), "{p}");
    let detail = p["detail"].as_str().unwrap();
    assert!(detail.contains("node-a: 2 of 2 CPU cores") && detail.contains("node-b: 2 of 2 CPU cores"), "{p}");
    // /metrics counts decisions and the failure.
    let metrics = reqwest::get(b.url("/metrics")).await.unwrap().text().await.unwrap();
    assert!(metrics.contains("playcast_placement_failures_total{node=\"node-b\"} 1"), "{metrics}");
    assert!(metrics.contains("playcast_placements_forwarded_total{node=\"node-b\"} 1"), "{metrics}");
    assert!(metrics.contains("playcast_sessions{node=\"node-b\",state=\"connecting\"} 2"), "{metrics}");

    // Bob's list, read (and kept) on A before anything is shared with him.
    let bob = a.sign_in("bob", Role::Player).await;
    let (status, listed) = call(&a.base, &bob, Method::GET, "/api/v1/sessions", None).await;
    assert_eq!((status, &listed), (200, &json!([])), "{listed}");

    // A call on B's session through A is answered by B, which runs it.
    let on_b = &placed[1];
    let (status, shared) = call(
        &a.base,
        &alice,
        Method::PUT,
        &format!("/api/v1/sessions/{on_b}/viewers"),
        Some(json!({"viewers": ["bob"]})),
    )
    .await;
    assert_eq!((status, &shared["viewers"]), (200, &json!(["bob"])), "{shared}");
    // B announces the share; A drops bob's kept list well before it would expire.
    let deadline = std::time::Instant::now() + playcast::session::listing::MAX_AGE * 3 / 5;
    loop {
        let (status, listed) = call(&a.base, &bob, Method::GET, "/api/v1/sessions", None).await;
        assert_eq!(status, 200, "{listed}");
        if listed.as_array().is_some_and(|l| l.iter().any(|s| s["id"] == on_b.as_str())) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "A still lists bob's sessions as {listed}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Others' sessions stay others', through any node.
    let mallory = a.sign_in("mallory", Role::Player).await;
    let (status, p) = call(&a.base, &mallory, Method::POST, &format!("/api/v1/sessions/{on_b}/end"), None).await;
    assert_eq!(status, 404, "{p}");

    // Signaling for B's session on A: `moved`, with B's signaling URL; there it plays.
    let mut ws = common::ws_connect(&a.ws_url(), &alice).await;
    ws.send(Message::text(json!({"type": "hello", "version": 1, "session_id": on_b}).to_string())).await.unwrap();
    let moved = common::recv_kind(&mut ws, "error").await;
    assert_eq!(moved["code"], "moved", "{moved}");
    assert_eq!(moved["location"], b.ws_url(), "{moved}");
    let mut there = common::ws_connect(moved["location"].as_str().unwrap(), &alice).await;
    there.send(Message::text(json!({"type": "hello", "version": 1, "session_id": on_b}).to_string())).await.unwrap();
    let welcome = common::recv_kind(&mut there, "welcome").await;
    assert!(welcome["stream_id"].is_string(), "{welcome}");
    drop(there);

    // Ending B's session through A ends it on B, and frees B for the next one.
    let (status, ended) = call(&a.base, &alice, Method::POST, &format!("/api/v1/sessions/{on_b}/end"), None).await;
    assert_eq!((status, ended["state"].as_str()), (200, Some("terminated")), "{ended}");
    until_loads(&a.base, &admin, &[("node-a", 2), ("node-b", 1)]).await;
    let (status, view) = create(&a.base, &alice).await;
    assert_eq!((status, view["node"].as_str()), (201, Some("node-b")), "{view}");
    for id in placed.iter().chain([&view["id"].as_str().unwrap().to_string()]) {
        call(&b.base, &alice, Method::DELETE, &format!("/api/v1/sessions/{id}"), None).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_s_sessions_go_through_error_to_cleanup_on_the_survivor() {
    let fleet = Fleet::new().await;
    // The survivor first: it makes the shared issuer key the other loads.
    let b = fleet.node("node-b", |_| {}).await;
    let (mut a, a_base) = fleet.spawn("node-a", &[]).await;
    let alice = b.sign_in("alice", Role::Player).await;
    let admin = b.sign_in("root", Role::Admin).await;
    until_loads(&b.base, &admin, &[("node-a", 0), ("node-b", 0)]).await;
    let mut feed = common::ws_connect(&format!("ws://{}/api/v1/events", b.addr), &alice).await;
    let (status, view) = create(&a_base, &alice).await;
    assert_eq!((status, view["node"].as_str()), (201, Some("node-a")), "{view}");
    let id = view["id"].as_str().unwrap().to_string();
    for want in ["idle", "initializing", "connecting"] {
        assert_eq!(event_of(&mut feed, &id).await["to"], want);
    }

    a.0.kill().unwrap(); // SIGKILL: no cleanup, no last word
    a.0.wait().unwrap();
    let failed = event_of(&mut feed, &id).await;
    assert_eq!(failed["to"], "error", "{failed}");
    assert!(failed.to_string().contains("node `node-a` was lost: no heartbeat for"), "{failed}");
    assert_eq!(event_of(&mut feed, &id).await["to"], "cleanup");

    // The record is complete: every step, the reason, and who closed it.
    let (_, record) = call(&b.base, &alice, Method::GET, &format!("/api/v1/sessions/{id}"), None).await;
    assert_eq!(record["state"], "cleanup", "{record}");
    assert_eq!(record["stats"], json!({"node_lost": "node-a", "closed_by": "node-b"}), "{record}");
    let (_, history) = call(&b.base, &alice, Method::GET, &format!("/api/v1/sessions/{id}/events"), None).await;
    let steps: Vec<&str> = history.as_array().unwrap().iter().map(|e| e["to"].as_str().unwrap()).collect();
    assert_eq!(steps, ["idle", "initializing", "connecting", "error", "cleanup"]);
    common::eventually("node-a gone from the fleet", WAIT, || async {
        let (_, list) = call(&b.base, &admin, Method::GET, "/api/v1/nodes", None).await;
        (list.as_array()?.len() == 1 && list[0]["node"] == "node-b").then_some(())
    })
    .await;
    let metrics = reqwest::get(b.url("/metrics")).await.unwrap().text().await.unwrap();
    assert!(metrics.contains("playcast_lost_node_sessions_closed_total{node=\"node-b\"} 1"), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draining_node_is_skipped_by_placement_and_stops_once_its_sessions_end() {
    let fleet = Fleet::new().await;
    let b = fleet.node("node-b", |_| {}).await;
    let (mut a, a_base) = fleet.spawn("node-a", &[("PLAYCAST__SERVER__DRAIN", "2m")]).await;
    let alice = b.sign_in("alice", Role::Player).await;
    let admin = b.sign_in("root", Role::Admin).await;
    until_loads(&b.base, &admin, &[("node-a", 0), ("node-b", 0)]).await;
    let (_, on_a) = create(&b.base, &alice).await;
    assert_eq!(on_a["node"], "node-a", "{on_a}");
    until_loads(&b.base, &admin, &[("node-a", 1), ("node-b", 0)]).await;
    let (_, on_b) = create(&b.base, &alice).await;
    assert_eq!(on_b["node"], "node-b", "{on_b}");
    until_loads(&b.base, &admin, &[("node-a", 1), ("node-b", 1)]).await;

    // SIGTERM: A says at once that it drains; equal loads now go to B.
    let pid = nix::unistd::Pid::from_raw(a.0.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    common::eventually("node-a draining in the fleet", WAIT, || async {
        let (_, list) = call(&b.base, &admin, Method::GET, "/api/v1/nodes", None).await;
        list.as_array()?.iter().any(|n| n["node"] == "node-a" && n["draining"] == true).then_some(())
    })
    .await;
    let (status, next) = create(&b.base, &alice).await;
    assert_eq!((status, next["node"].as_str()), (201, Some("node-b")), "{next}");
    // A's session plays on meanwhile; ended through B, A then stops cleanly.
    let a_id = on_a["id"].as_str().unwrap();
    let (status, ended) = call(&b.base, &alice, Method::POST, &format!("/api/v1/sessions/{a_id}/end"), None).await;
    assert_eq!((status, ended["state"].as_str()), (200, Some("terminated")), "{ended}");
    let exit = tokio::task::spawn_blocking(move || {
        let status = a.0.wait().unwrap();
        std::mem::forget(a);
        status
    });
    let exit = tokio::time::timeout(WAIT, exit).await.expect("node-a stops once drained").unwrap();
    assert!(exit.success(), "{exit:?}");
    let (_, record) = call(&b.base, &alice, Method::GET, &format!("/api/v1/sessions/{a_id}"), None).await;
    assert_eq!(record["state"], "cleanup", "{record}");
    assert!(reqwest::get(format!("{a_base}/api/v1/health")).await.is_err(), "node-a is gone");
}

/// Starts a session through `node`, which places it on itself, and returns its id.
async fn session_on(node: &common::InProcess, token: &str) -> String {
    let (status, view) =
        call(&node.base, token, Method::POST, "/api/v1/sessions", Some(json!({"game": "test-pattern"}))).await;
    assert_eq!(status, 201, "{view}");
    assert_eq!(view["node"], node.state.sessions.node().as_str(), "{view}");
    view["id"].as_str().unwrap().to_string()
}

/// Opens the player's stream of session `id` on `node`: signaling up to
/// `welcome`, with the session's pipeline running.
async fn stream_of(node: &common::InProcess, token: &str, id: &str) -> common::Ws {
    let mut ws = common::ws_connect(&node.ws_url(), token).await;
    ws.send(Message::text(json!({"type": "hello", "version": 1, "session_id": id}).to_string())).await.unwrap();
    common::recv_kind(&mut ws, "welcome").await;
    assert_eq!(node.state.streams.live().len(), 1);
    ws
}

/// Several TTLs on, B still records A's session as open, and A still streams it.
async fn kept_open_for_three_ttls(
    a: &common::InProcess,
    b: &common::InProcess,
    token: &str,
    on_a: &str,
    stream: &mut common::Ws,
) {
    tokio::time::sleep(b.state.sessions.timing().ttl * 3).await;
    let (_, record) = call(&b.base, token, Method::GET, &format!("/api/v1/sessions/{on_a}"), None).await;
    assert_eq!(record["state"], "connecting", "{record}");
    assert_eq!(a.state.sessions.running(), 1);
    still_streaming(a, stream, 1).await;
}

/// The stream is still there and its signaling connection still answers.
async fn still_streaming(node: &common::InProcess, ws: &mut common::Ws, ping: u64) {
    assert_eq!(node.state.streams.live().len(), 1, "the stream is gone");
    ws.send(Message::text(json!({"type": "ping", "id": ping}).to_string())).await.unwrap();
    assert_eq!(common::recv_kind(ws, "pong").await["id"], ping);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_loses_redis_keeps_its_sessions_refuses_new_ones_and_recovers() {
    let fleet = Fleet::new().await;
    let relay = Relay::start("127.0.0.1:6379".parse().unwrap()).await;
    let one_core = |c: &mut playcast::config::Config| c.node.cpu_cores = 1;
    let a = fleet.node_via("node-a", fleet.db.url(), format!("redis://{}", relay.addr), one_core).await;
    let b = fleet.node("node-b", one_core).await;
    let alice = a.sign_in("alice", Role::Player).await;
    let admin = a.sign_in("root", Role::Admin).await;
    until_loads(&b.base, &admin, &[("node-a", 0), ("node-b", 0)]).await;
    let on_a = session_on(&a, &alice).await;
    let mut stream = stream_of(&a, &alice, &on_a).await;
    until_loads(&b.base, &admin, &[("node-a", 1), ("node-b", 0)]).await;

    relay.cut();
    // New work on A: a clear 503, as its readiness says.
    common::eventually("A refuses new sessions", WAIT, || async {
        let (status, p) = create(&a.base, &alice).await;
        (status == 503 && p["detail"].as_str()?.contains("cache")).then_some(())
    })
    .await;
    assert_eq!(reqwest::get(a.url("/api/v1/ready")).await.unwrap().status(), 503);
    // B stops seeing A's heartbeat but keeps A's session: the database
    // still hears from A. Several TTLs pass.
    common::eventually("A's heartbeat gone from Redis", WAIT, || async {
        let (_, list) = call(&b.base, &admin, Method::GET, "/api/v1/nodes", None).await;
        (list.as_array()?.len() == 1).then_some(())
    })
    .await;
    kept_open_for_three_ttls(&a, &b, &alice, &on_a, &mut stream).await;

    relay.restore();
    common::eventually("A takes sessions again", WAIT, || async {
        let (status, view) = create(&a.base, &alice).await;
        // A is full with its own session, so a new one goes to B, through A.
        (status == 201 && view["node"] == "node-b").then_some(())
    })
    .await;
    common::eventually("A ready again", WAIT, || async {
        (reqwest::get(a.url("/api/v1/ready")).await.ok()?.status() == 200).then_some(())
    })
    .await;
    still_streaming(&a, &mut stream, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_loses_postgresql_keeps_its_sessions_refuses_new_ones_and_recovers() {
    let fleet = Fleet::new().await;
    let relay = Relay::start("127.0.0.1:5432".parse().unwrap()).await;
    let via_relay = format!("postgres://postgres@{}/{}", relay.addr, fleet.db.name);
    let a = fleet.node_via("node-a", via_relay, common::REDIS_URL.into(), |c| c.node.cpu_cores = 2).await;
    let b = fleet.node("node-b", |c| c.node.cpu_cores = 1).await;
    let alice = a.sign_in("alice", Role::Player).await;
    let admin = a.sign_in("root", Role::Admin).await;
    until_loads(&b.base, &admin, &[("node-a", 0), ("node-b", 0)]).await;
    // B full, so new sessions belong on A.
    common::create_pinned(&b.base, &alice).await;
    until_loads(&a.base, &admin, &[("node-a", 0), ("node-b", 1)]).await;
    let on_a = session_on(&a, &alice).await;
    let mut stream = stream_of(&a, &alice, &on_a).await;

    relay.cut();
    let refused = common::eventually("A refuses new sessions", WAIT, || async {
        let (status, p) = create(&a.base, &alice).await;
        (status == 503).then_some(p)
    })
    .await;
    assert!(refused["type"].as_str().unwrap().ends_with("/state-unavailable"), "{refused}");
    assert!(refused["retry-after"].is_string(), "{refused}");
    assert_eq!(reqwest::get(a.url("/api/v1/ready")).await.unwrap().status(), 503);
    // Its own session is still answered (from memory) and still running;
    // B keeps it open: A's Redis heartbeat goes on.
    let (status, view) = call(&a.base, &alice, Method::GET, &format!("/api/v1/sessions/{on_a}"), None).await;
    assert_eq!((status, view["state"].as_str()), (200, Some("connecting")), "{view}");
    kept_open_for_three_ttls(&a, &b, &alice, &on_a, &mut stream).await;

    relay.restore();
    common::eventually("A's database back", WAIT, || async {
        (reqwest::get(a.url("/api/v1/ready")).await.ok()?.status() == 200).then_some(())
    })
    .await;
    // The session ends normally through A, recorded in full.
    let (status, ended) = call(&a.base, &alice, Method::POST, &format!("/api/v1/sessions/{on_a}/end"), None).await;
    assert_eq!((status, ended["state"].as_str()), (200, Some("terminated")), "{ended}");
    common::eventually("cleanup recorded", WAIT, || async {
        let (_, h) = call(&b.base, &alice, Method::GET, &format!("/api/v1/sessions/{on_a}/events"), None).await;
        let steps: Vec<String> = h.as_array()?.iter().filter_map(|e| e["to"].as_str().map(String::from)).collect();
        (steps == ["idle", "initializing", "connecting", "terminated", "cleanup"]).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_and_garbled_fleet_entries_do_not_stop_placement() {
    let fleet = Fleet::new().await;
    let b = fleet.node("node-b", |c| c.node.cpu_cores = 1).await;
    let alice = b.sign_in("alice", Role::Player).await;
    let admin = b.sign_in("root", Role::Admin).await;
    // B is full.
    common::create_pinned(&b.base, &alice).await;
    // A node that looks empty and huge but does not answer, and entries that are not heartbeats.
    let cache = playcast::store::cache::Cache::redis(common::REDIS_URL, &fleet.prefix).await.unwrap();
    let ghost = json!({
        "node": "node-0", "address": "http://127.0.0.1:9", "sessions": 0, "draining": false,
        "runnable": {"test-pattern": "x264enc"},
        "budget": {"total": {"cpu_cores": 1000, "memory_mb": 1_000_000, "gpu_slots": []},
                   "used": {"cpu_cores": 0, "memory_mb": 0, "gpu_slots": []}}
    });
    let ttl = Some(Duration::from_secs(60));
    cache.put("node/node-0", &ghost.to_string(), ttl).await.unwrap();
    cache.put("node/node-garbled", "{not json", ttl).await.unwrap();
    cache.put("node/node-odd", &json!({"node": "node-odd", "budget": "lots"}).to_string(), ttl).await.unwrap();
    // Only the ghost has room: a clear 503 saying it did not answer.
    let (status, p) = create(&b.base, &alice).await;
    assert_eq!(status, 503, "{p}");
    assert!(p["type"].as_str().unwrap().ends_with("/node-unreachable"), "{p}");
    assert!(p["detail"].as_str().unwrap().contains("127.0.0.1:9"), "{p}");
    assert!(p["retry-after"].is_string(), "{p}");
    // With a real node beside it, the ghost is tried, fails, and the next in line takes the session.
    let _a = fleet.node("node-a", |_| {}).await;
    until_loads(&b.base, &admin, &[("node-a", 0), ("node-b", 1)]).await;
    let (status, view) = create(&b.base, &alice).await;
    assert_eq!((status, view["node"].as_str()), (201, Some("node-a")), "{view}");
}
