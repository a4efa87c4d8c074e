//! The game-session lifecycle through the REST API and the WebSockets: states,
//! roles, the node budget, games with their own display, sound and saves, and
//! the numbered event feed.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::SinkExt;
use playcast::auth::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

const WAIT: Duration = Duration::from_secs(20);

/// Each test runs on the embedded state (SQLite, in-process cache) and on
/// PostgreSQL with Redis.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite_memory() {
                super::$name(crate::common::Backends::Embedded).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres_redis() {
                super::$name(crate::common::Backends::PostgresRedis).await
            }
        }
    )*};
}

on_both_backends!(
    a_session_goes_from_request_to_cleanup_with_every_step_recorded,
    players_can_neither_see_signal_pause_nor_end_anothers_session,
    a_request_that_does_not_fit_the_node_gets_503_with_retry_after,
    bad_session_requests_get_precise_problems,
    nobody_connecting_ends_the_session_at_the_connect_timeout,
    a_game_gets_its_own_display_and_sound_and_keeps_its_saves,
    the_game_exiting_ends_its_session,
    events_resume_after_a_sequence_number_without_loss_or_repeats,
    websockets_refuse_bad_authentication_with_a_reason,
    an_open_websocket_outlives_its_token_but_not_a_sign_out,
);

struct Api<'a> {
    service: &'a common::InProcess,
    token: String,
}

impl<'a> Api<'a> {
    async fn as_user(service: &'a common::InProcess, user: &str, role: Role) -> Api<'a> {
        Api { service, token: service.sign_in(user, role).await }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut req = reqwest::Client::new().request(method, self.service.url(path)).bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("request");
        let status = res.status();
        let text = res.text().await.expect("body");
        (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).expect("a JSON body") })
    }

    async fn ok(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let (status, v) = self.call(method.clone(), path, body).await;
        assert!(status.is_success(), "{method} {path}: {status} {v}");
        v
    }

    /// A problem+json answer with this status and type suffix.
    async fn problem(&self, method: Method, path: &str, body: Option<Value>, status: u16, kind: &str) -> Value {
        let (got, v) = self.call(method.clone(), path, body).await;
        assert_eq!(got.as_u16(), status, "{method} {path}: {v}");
        assert!(v["type"].as_str().unwrap_or_default().ends_with(kind), "{method} {path}: want {kind}: {v}");
        v
    }

    async fn create(&self, game: &str) -> Value {
        let (status, v) = self.call(Method::POST, "/api/v1/sessions", Some(json!({"game": game}))).await;
        assert_eq!(status, StatusCode::CREATED, "{v}");
        v
    }

    async fn state_of(&self, id: &str) -> Value {
        self.ok(Method::GET, &format!("/api/v1/sessions/{id}"), None).await
    }

    async fn until_cleanup(&self, id: &str) -> Value {
        common::eventually("the session's cleanup", WAIT, || async {
            let v = self.state_of(id).await;
            (v["state"] == "cleanup").then_some(v)
        })
        .await
    }
}

fn states(history: &Value) -> Vec<String> {
    history.as_array().expect("events").iter().map(|e| e["to"].as_str().unwrap_or("?").to_string()).collect()
}

async fn send(ws: &mut common::Ws, v: Value) {
    ws.send(Message::text(v.to_string())).await.expect("send");
}

async fn a_session_goes_from_request_to_cleanup_with_every_step_recorded(b: common::Backends) {
    let service = common::serve_on(b, |_| {}).await;
    let alice = Api::as_user(&service, "alice", Role::Player).await;
    let admin = Api::as_user(&service, "root", Role::Admin).await;

    let s = alice.create("test-pattern").await;
    let id = s["id"].as_str().unwrap().to_string();
    assert_eq!(s["state"], "connecting", "{s}");
    assert_eq!(s["owner"], "alice");
    assert_eq!(s["game"], "test-pattern");
    let node = admin.ok(Method::GET, "/api/v1/node", None).await;
    assert_eq!(node["sessions"], 1, "{node}");
    assert_eq!(node["budget"]["used"]["cpu_cores"], 1, "{node}");

    let listed = alice.ok(Method::GET, "/api/v1/sessions", None).await;
    assert!(listed.as_array().unwrap().iter().any(|v| v["id"] == id.as_str()), "{listed}");
    // Nobody has connected: there is nothing to pause or resume.
    for action in ["pause", "resume"] {
        let p = alice
            .problem(Method::POST, &format!("/api/v1/sessions/{id}/{action}"), None, 409, "illegal-transition")
            .await;
        assert!(p["detail"].as_str().unwrap().contains("connecting"), "{p}");
    }
    let ended = alice.ok(Method::POST, &format!("/api/v1/sessions/{id}/end"), None).await;
    assert_eq!(ended["state"], "terminated", "{ended}");
    assert_eq!(ended["reason"], "user", "{ended}");
    // The list read above is not answered again once the session changed.
    let listed = alice.ok(Method::GET, "/api/v1/sessions", None).await;
    let mine = listed.as_array().unwrap().iter().find(|v| v["id"] == id.as_str()).unwrap();
    assert!(["terminated", "cleanup"].contains(&mine["state"].as_str().unwrap()), "{listed}");
    let done = alice.until_cleanup(&id).await;
    assert_eq!(done["stats"]["ended"], "ended by the user", "{done}");
    // Final: ending again is refused, the record stays.
    alice.problem(Method::POST, &format!("/api/v1/sessions/{id}/end"), None, 409, "illegal-transition").await;
    let history = alice.ok(Method::GET, &format!("/api/v1/sessions/{id}/events"), None).await;
    assert_eq!(states(&history), ["idle", "initializing", "connecting", "terminated", "cleanup"], "{history}");
    let seqs: Vec<i64> = history.as_array().unwrap().iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    let node = admin.ok(Method::GET, "/api/v1/node", None).await;
    assert_eq!(node["sessions"], 0, "{node}");
    assert_eq!(node["budget"]["used"]["cpu_cores"], 0, "{node}");
}

async fn players_can_neither_see_signal_pause_nor_end_anothers_session(b: common::Backends) {
    let service = common::serve_on(b, |_| {}).await;
    let alice = Api::as_user(&service, "alice", Role::Player).await;
    let bob = Api::as_user(&service, "bob", Role::Player).await;
    let carol = Api::as_user(&service, "carol", Role::Viewer).await;
    let admin = Api::as_user(&service, "root", Role::Admin).await;
    let id = alice.create("test-pattern").await["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/sessions/{id}");

    // Bob and an unshared viewer cannot tell it exists.
    for who in [&bob, &carol] {
        who.problem(Method::GET, &path, None, 404, "no-such-session").await;
        who.problem(Method::GET, &format!("{path}/events"), None, 404, "no-such-session").await;
        for action in ["pause", "resume", "end"] {
            who.problem(Method::POST, &format!("{path}/{action}"), None, 404, "no-such-session").await;
        }
        who.problem(Method::DELETE, &path, None, 404, "no-such-session").await;
        who.problem(Method::PUT, &format!("{path}/viewers"), Some(json!({"viewers": ["bob"]})), 404, "no-such-session")
            .await;
        let listed = who.ok(Method::GET, "/api/v1/sessions", None).await;
        assert_eq!(listed, json!([]), "{listed}");
    }
    // Nor join its stream.
    let mut ws = common::ws_connect(&service.ws_url(), &bob.token).await;
    send(&mut ws, json!({"type": "hello", "version": 1, "session_id": id})).await;
    let e = common::recv_json(&mut ws).await;
    assert_eq!(e["code"], "unknown_session", "{e}");
    // Viewers start nothing.
    carol.problem(Method::POST, "/api/v1/sessions", Some(json!({"game": "test-pattern"})), 403, "forbidden").await;

    // Shared with Carol: she watches, and still cannot steer it.
    let shared = alice.ok(Method::PUT, &format!("{path}/viewers"), Some(json!({"viewers": ["carol"]}))).await;
    assert_eq!(shared["viewers"], json!(["carol"]));
    assert_eq!(carol.state_of(&id).await["owner"], "alice");
    // Her list (read above, and kept) shows it at once.
    let listed = carol.ok(Method::GET, "/api/v1/sessions", None).await;
    assert_eq!(listed.as_array().unwrap().iter().map(|v| &v["id"]).collect::<Vec<_>>(), [&json!(id)], "{listed}");
    for action in ["pause", "resume", "end"] {
        carol.problem(Method::POST, &format!("{path}/{action}"), None, 403, "forbidden").await;
    }
    carol.problem(Method::PUT, &format!("{path}/viewers"), Some(json!({"viewers": ["dave"]})), 403, "forbidden").await;
    let mut watch = common::ws_connect(&service.ws_url(), &carol.token).await;
    send(&mut watch, json!({"type": "hello", "version": 1, "session_id": id})).await;
    assert_eq!(common::recv_json(&mut watch).await["type"], "welcome");
    // Unshared again: her stream ends.
    alice.ok(Method::PUT, &format!("{path}/viewers"), Some(json!({"viewers": []}))).await;
    let bye = common::recv_kind(&mut watch, "bye").await;
    assert!(bye["reason"].as_str().unwrap().contains("no longer shared"), "{bye}");
    assert_eq!(carol.ok(Method::GET, "/api/v1/sessions", None).await, json!([]));

    // Admins see and end every session; the owner sees the end.
    let all = admin.ok(Method::GET, "/api/v1/sessions", None).await;
    assert!(all.as_array().unwrap().iter().any(|v| v["id"] == id.as_str()), "{all}");
    admin.ok(Method::DELETE, &path, None).await;
    assert_eq!(alice.until_cleanup(&id).await["owner"], "alice");
}

async fn a_request_that_does_not_fit_the_node_gets_503_with_retry_after(b: common::Backends) {
    let service = common::serve_on(b, |c| c.node.cpu_cores = 1).await;
    let alice = Api::as_user(&service, "alice", Role::Player).await;
    let first = alice.create("test-pattern").await["id"].as_str().unwrap().to_string();
    let res = reqwest::Client::new()
        .post(service.url("/api/v1/sessions"))
        .bearer_auth(&alice.token)
        .json(&json!({"game": "test-pattern"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["retry-after"], "10");
    let p: Value = res.json().await.unwrap();
    assert!(p["type"].as_str().unwrap().ends_with("no-room"), "{p}");
    assert!(p["detail"].as_str().unwrap().contains("1 of 1 CPU cores"), "{p}");
    // Refused requests leave no record behind.
    assert_eq!(alice.ok(Method::GET, "/api/v1/sessions", None).await.as_array().unwrap().len(), 1);
    alice.ok(Method::POST, &format!("/api/v1/sessions/{first}/end"), None).await;
    alice.until_cleanup(&first).await;
    alice.create("test-pattern").await;
}

async fn bad_session_requests_get_precise_problems(b: common::Backends) {
    let service = common::serve_on(b, |_| {}).await;
    let alice = Api::as_user(&service, "alice", Role::Player).await;
    let sessions = "/api/v1/sessions";
    let p = alice.problem(Method::POST, sessions, Some(json!({"game": "nope"})), 422, "invalid-request").await;
    assert!(p["detail"].as_str().unwrap().contains("no game named `nope`"), "{p}");
    let p =
        alice.problem(Method::POST, sessions, Some(json!({"game": "x".repeat(5000)})), 422, "invalid-request").await;
    assert!(p["detail"].as_str().unwrap().len() < 200, "the detail echoes at most a little: {p}");
    alice.problem(Method::POST, sessions, Some(json!({"game": "test-pattern", "colour": 1})), 400, "").await;
    alice.problem(Method::POST, sessions, Some(json!({"game": 7})), 400, "").await;
    alice.problem(Method::POST, sessions, Some(json!(["test-pattern"])), 400, "").await;
    let big = json!({"game": "test-pattern", "params": {"pad": "p".repeat(64 * 1024)}});
    alice.problem(Method::POST, sessions, Some(big), 413, "").await;
    let p = alice
        .problem(Method::POST, sessions, Some(json!({"game": "xev", "params": {"width": 640}})), 422, "invalid-request")
        .await;
    assert!(p["detail"].as_str().unwrap().contains("`width` is fixed by the game"), "{p}");
    let p = alice
        .problem(
            Method::POST,
            sessions,
            Some(json!({"game": "test-pattern", "params": {"width": "wide"}})),
            422,
            "invalid-request",
        )
        .await;
    assert!(p["detail"].as_str().unwrap().contains("width"), "{p}");
    alice
        .problem(Method::POST, sessions, Some(json!({"game": "test-pattern", "params": {"width": 99999}})), 422, "")
        .await;
    // Raw bodies that are not JSON at all.
    for body in ["", "{", "\u{0}\u{1}", "{\"game\": \"test-pattern\""] {
        let res = reqwest::Client::new()
            .post(service.url(sessions))
            .bearer_auth(&alice.token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        // An empty body goes without a length.
        let want = if body.is_empty() { 411 } else { 400 };
        assert_eq!(res.status(), want, "{body:?}");
        assert_eq!(res.headers()["content-type"], "application/problem+json");
    }
    alice.problem(Method::GET, "/api/v1/sessions/does-not-exist", None, 404, "no-such-session").await;
    alice.problem(Method::GET, &format!("/api/v1/sessions/{}", "z".repeat(4000)), None, 404, "").await;
    alice.problem(Method::POST, "/api/v1/sessions/does-not-exist/fly", None, 404, "").await;
    let id = alice.create("test-pattern").await["id"].as_str().unwrap().to_string();
    let viewers = format!("/api/v1/sessions/{id}/viewers");
    let many: Vec<String> = (0..33).map(|i| format!("v{i}")).collect();
    alice.problem(Method::PUT, &viewers, Some(json!({"viewers": many})), 422, "invalid-request").await;
    alice.problem(Method::PUT, &viewers, Some(json!({"viewers": [""]})), 422, "invalid-request").await;
    alice.problem(Method::PUT, &viewers, Some(json!({"viewers": "carol"})), 400, "").await;
    // Without a token nothing is answered but 401.
    let res = reqwest::Client::new().get(service.url(sessions)).send().await.unwrap();
    assert_eq!(res.status(), 401);
    // None of it disturbed the session.
    assert_eq!(alice.state_of(&id).await["state"], "connecting");
}

async fn nobody_connecting_ends_the_session_at_the_connect_timeout(b: common::Backends) {
    let service = common::serve_on(b, |c| c.sessions.connect_timeout = std::time::Duration::from_secs(1)).await;
    let alice = Api::as_user(&service, "alice", Role::Player).await;
    let id = alice.create("test-pattern").await["id"].as_str().unwrap().to_string();
    let done = alice.until_cleanup(&id).await;
    assert_eq!(done["stats"]["ended"], "the player did not connect in time", "{done}");
    let history = alice.ok(Method::GET, &format!("/api/v1/sessions/{id}/events"), None).await;
    let end = &history.as_array().unwrap()[3];
    assert_eq!(end["to"], "terminated", "{history}");
    assert_eq!(end["event"], json!({"event": "end", "reason": "connect_timeout"}), "{history}");
}

/// A games catalog with test games on the X11 pipeline, and the folder saves go to.
fn games_file(dir: &Path) -> PathBuf {
    let path = dir.join("games.toml");
    let text = r#"
[games.recorder]
title = "Writes what it was given, then waits"
pipeline = "linux-x11"
command = ["sh", "-c", "echo \"$DISPLAY|$PULSE_SERVER|$XDG_DATA_HOME|$SECRET_OF_THE_SERVICE\" > \"$HOME/env.txt\"; echo run >> \"$HOME/runs\"; exec sleep 1000"]
env = { GAME_MODE = "test" }
params = { width = 320, height = 240, framerate = 15 }

[games.quitter]
title = "Exits after a second"
pipeline = "linux-x11"
command = ["sh", "-c", "sleep 1; exit 3"]
params = { width = 320, height = 240, framerate = 15, audio = false }
"#;
    std::fs::write(&path, text).unwrap();
    path
}

async fn a_game_gets_its_own_display_and_sound_and_keeps_its_saves(b: common::Backends) {
    common::require_root();
    let dir = tempfile::tempdir().unwrap();
    let games = games_file(dir.path());
    let saves = dir.path().join("saves");
    let saves_cfg = saves.clone();
    // The service's environment does not reach the game.
    std::env::set_var("SECRET_OF_THE_SERVICE", "leaked");
    let service = common::serve_on(b, move |c| {
        c.sessions.games_file = games;
        c.sessions.saves_dir = saves_cfg;
    })
    .await;
    let alice = Api::as_user(&service, "alice", Role::Player).await;
    let s = alice.create("recorder").await;
    let id = s["id"].as_str().unwrap().to_string();
    assert_eq!(s["state"], "connecting", "{s}");
    let env_file = saves.join("alice/recorder/env.txt");
    let seen = common::eventually("the game to write its environment", WAIT, || async {
        std::fs::read_to_string(&env_file).ok().filter(|t| t.ends_with('\n'))
    })
    .await;
    let fields: Vec<&str> = seen.trim_end().split('|').collect();
    assert!(fields[0].starts_with(':'), "a display of its own: {seen}");
    assert!(fields[1].starts_with("unix:"), "a private PulseAudio: {seen}");
    assert_eq!(fields[2], saves.join("alice/recorder/.local/share").to_str().unwrap(), "{seen}");
    assert_eq!(fields[3], "", "the service's environment leaked: {seen}");
    // The display is real and the size the game asked for.
    let info = std::process::Command::new("xdpyinfo").args(["-display", fields[0]]).output().expect("xdpyinfo");
    assert!(String::from_utf8_lossy(&info.stdout).contains("320x240 pixels"), "{info:?}");
    // Xvfb, PulseAudio and the game: each marked for reaping.
    assert!(common::processes_of(&id).len() >= 3, "{:?}", common::processes_of(&id));

    alice.ok(Method::POST, &format!("/api/v1/sessions/{id}/end"), None).await;
    alice.until_cleanup(&id).await;
    assert_eq!(common::processes_of(&id), Vec::<u32>::new(), "processes outlived the session");
    // The next session of the same game finds the saves of the last one.
    let second = alice.create("recorder").await["id"].as_str().unwrap().to_string();
    let runs = saves.join("alice/recorder/runs");
    common::eventually("the second run to be saved", WAIT, || async {
        (std::fs::read_to_string(&runs).ok()? == "run\nrun\n").then_some(())
    })
    .await;
    alice.ok(Method::DELETE, &format!("/api/v1/sessions/{second}"), None).await;
    alice.until_cleanup(&second).await;
    assert_eq!(common::processes_of(&second), Vec::<u32>::new());
}

async fn the_game_exiting_ends_its_session(b: common::Backends) {
    common::require_root();
    let dir = tempfile::tempdir().unwrap();
    let games = games_file(dir.path());
    let service = common::serve_on(b, move |c| c.sessions.games_file = games).await;
    let alice = Api::as_user(&service, "alice", Role::Player).await;
    let id = alice.create("quitter").await["id"].as_str().unwrap().to_string();
    let done = alice.until_cleanup(&id).await;
    assert_eq!(done["stats"]["ended"], "the game exited", "{done}");
    assert_eq!(common::processes_of(&id), Vec::<u32>::new());
}

async fn next_event(ws: &mut common::Ws) -> Value {
    let v = common::recv_json(ws).await;
    assert_eq!(v["type"], "event", "{v}");
    v
}

async fn events_resume_after_a_sequence_number_without_loss_or_repeats(b: common::Backends) {
    let service = common::serve_on(b, |_| {}).await;
    let events_url = format!("ws://{}/api/v1/events", service.addr);
    let alice = Api::as_user(&service, "alice", Role::Player).await;
    let bob = Api::as_user(&service, "bob", Role::Player).await;
    let mut feed = common::ws_connect(&events_url, &alice.token).await;
    let mut bobs = common::ws_connect(&events_url, &bob.token).await;

    let first = alice.create("test-pattern").await["id"].as_str().unwrap().to_string();
    let mut seen = Vec::new();
    for want in ["idle", "initializing", "connecting"] {
        let e = next_event(&mut feed).await;
        assert_eq!((e["session_id"].as_str().unwrap(), e["to"].as_str().unwrap()), (first.as_str(), want));
        seen.push(e["seq"].as_i64().unwrap());
    }
    // Offline for a while: the session ends and another starts.
    drop(feed);
    alice.ok(Method::POST, &format!("/api/v1/sessions/{first}/end"), None).await;
    alice.until_cleanup(&first).await;
    let second = alice.create("test-pattern").await["id"].as_str().unwrap().to_string();

    let last = *seen.last().unwrap();
    let (mut feed, _) = tokio_tungstenite::connect_async(&events_url).await.unwrap();
    send(&mut feed, json!({"type": "auth", "token": alice.token, "after": last})).await;
    assert_eq!(common::recv_json(&mut feed).await["type"], "authenticated");
    let mut replayed = Vec::new();
    for _ in 0..5 {
        let e = next_event(&mut feed).await;
        replayed.push((e["seq"].as_i64().unwrap(), e["session_id"].as_str().unwrap().to_string(), e["to"].clone()));
    }
    let order: Vec<(&str, &str)> = replayed.iter().map(|(_, s, t)| (s.as_str(), t.as_str().unwrap())).collect();
    assert_eq!(
        order,
        [
            (first.as_str(), "terminated"),
            (first.as_str(), "cleanup"),
            (second.as_str(), "idle"),
            (second.as_str(), "initializing"),
            (second.as_str(), "connecting")
        ]
    );
    assert!(replayed.windows(2).all(|w| w[0].0 < w[1].0) && replayed[0].0 > last, "{replayed:?}");
    // Then live, with nothing repeated.
    alice.ok(Method::POST, &format!("/api/v1/sessions/{second}/end"), None).await;
    let e = next_event(&mut feed).await;
    assert_eq!(e["to"], "terminated");
    assert!(e["seq"].as_i64().unwrap() > replayed[4].0);
    // Bob saw none of it: only a ping's answer comes back.
    send(&mut bobs, json!({"type": "ping", "id": 9})).await;
    assert_eq!(common::recv_json(&mut bobs).await, json!({"type": "pong", "id": 9}));
    send(&mut bobs, json!({"type": "subscribe"})).await;
    assert_eq!(common::recv_json(&mut bobs).await["code"], "bad_request");
    // A resume point past the newest event, or below zero, is an error, not silence.
    let newest = e["seq"].as_i64().unwrap();
    for (after, says) in [
        (newest + 1000, format!("`after` is {}, but the newest event is", newest + 1000)),
        (-1, "event numbers start at 1".into()),
    ] {
        let (mut feed, _) = tokio_tungstenite::connect_async(&events_url).await.unwrap();
        send(&mut feed, json!({"type": "auth", "token": alice.token, "after": after})).await;
        assert_eq!(common::recv_json(&mut feed).await["type"], "authenticated");
        let refused = common::recv_json(&mut feed).await;
        assert_eq!(refused["code"], "bad_request", "{refused}");
        assert!(refused["message"].as_str().unwrap().contains(&says), "{refused}");
    }
}

async fn websockets_refuse_bad_authentication_with_a_reason(b: common::Backends) {
    let service = common::serve_on(b, |_| {}).await;
    let url = service.ws_url();
    let not_signed_in = service.token("alice", Role::Player);
    let cases: Vec<(String, &str)> = vec![
        (json!({"type": "hello", "version": 1}).to_string(), "auth"),
        ("not json".into(), "auth"),
        (json!({"type": "auth"}).to_string(), "token"),
        (json!({"type": "auth", "token": "abc.def.ghi"}).to_string(), ""),
        (json!({"type": "auth", "token": "x".repeat(100 * 1024)}).to_string(), ""),
        (json!({"type": "auth", "token": not_signed_in}).to_string(), "sign in first"),
        (json!({"type": "auth", "token": not_signed_in, "extra": 1}).to_string(), ""),
    ];
    for (first, says) in cases {
        let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
        ws.send(Message::text(first.clone())).await.unwrap();
        let e = common::recv_json(&mut ws).await;
        assert_eq!(e["type"], "error", "{first:.80}: {e}");
        assert!(["unauthorized", "bad_request", "too_large"].contains(&e["code"].as_str().unwrap()), "{e}");
        assert!(e["message"].as_str().unwrap().contains(says), "{first:.80}: {e}");
        common::ws_closed(&mut ws).await;
    }
    // The service is unharmed.
    let token = service.sign_in("alice", Role::Player).await;
    let mut ws = common::ws_connect(&url, &token).await;
    send(&mut ws, json!({"type": "ping", "id": 1})).await;
    assert_eq!(common::recv_json(&mut ws).await["type"], "pong");
}

async fn an_open_websocket_outlives_its_token_but_not_a_sign_out(b: common::Backends) {
    let service = common::serve_on(b, |c| c.auth.leeway = std::time::Duration::from_secs(0)).await;
    let issuer = service.state.verifier.dev_issuer().unwrap();
    let short = issuer.mint("alice", Role::Player, Duration::from_secs(2)).unwrap();
    let res = reqwest::Client::new().post(service.url("/api/v1/login")).bearer_auth(&short).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let mut ws = common::ws_connect(&service.ws_url(), &short).await;
    let events_url = format!("ws://{}/api/v1/events", service.addr);
    let mut feed = common::ws_connect(&events_url, &short).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    // REST wants a currently valid token...
    let res = reqwest::Client::new().get(service.url("/api/v1/me")).bearer_auth(&short).send().await.unwrap();
    assert_eq!(res.status(), 401);
    // ...while the sockets stay bound to the sign-in.
    send(&mut ws, json!({"type": "ping", "id": 1})).await;
    assert_eq!(common::recv_json(&mut ws).await["type"], "pong");
    send(&mut ws, json!({"type": "hello", "version": 1})).await;
    assert_eq!(common::recv_json(&mut ws).await["type"], "welcome");

    // Signing out of a second sign-in closes that sign-in's sockets only.
    let fresh = service.sign_in("alice", Role::Player).await;
    let mut other = common::ws_connect(&service.ws_url(), &fresh).await;
    let mut other_feed = common::ws_connect(&events_url, &fresh).await;
    let res = reqwest::Client::new().post(service.url("/api/v1/logout")).bearer_auth(&fresh).send().await.unwrap();
    assert_eq!(res.status(), 204);
    for socket in [&mut other, &mut other_feed] {
        let e = common::recv_kind(socket, "error").await;
        assert_eq!(e["code"], "unauthorized", "{e}");
        common::ws_closed(socket).await;
    }
    send(&mut ws, json!({"type": "ping", "id": 2})).await;
    assert_eq!(common::recv_kind(&mut ws, "pong").await["id"], 2);
    send(&mut feed, json!({"type": "ping", "id": 3})).await;
    assert_eq!(common::recv_kind(&mut feed, "pong").await["id"], 3);
    // A signed-out token opens nothing more.
    let (mut again, _) = tokio_tungstenite::connect_async(service.ws_url()).await.unwrap();
    send(&mut again, json!({"type": "auth", "token": fresh})).await;
    let e = common::recv_json(&mut again).await;
    assert!(e["message"].as_str().unwrap().contains("revoked"), "{e}");
}
