//! The HTTP API of the in-process service: every answer is JSON, every error
//! is problem+json with the right status, and no input produces a 500.

mod common;

use std::time::Duration;

use playcast::auth::Role;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap()
}

/// Asserts an RFC 9457 problem with `status` and returns its body.
async fn problem(res: reqwest::Response, status: u16) -> Value {
    let url = res.url().clone();
    assert_eq!(res.status().as_u16(), status, "{url}");
    let ct = res.headers().get("content-type").map(|v| v.to_str().unwrap().to_string());
    assert_eq!(ct.as_deref(), Some("application/problem+json"), "{url}");
    let body: Value = serde_json::from_str(&res.text().await.unwrap()).expect("problem body is JSON");
    assert_eq!(body["status"], status, "{body}");
    let kind = body["type"].as_str().expect("type is a string");
    assert!(kind.starts_with("https://"), "type is a URI: {body}");
    assert!(body["title"].as_str().is_some_and(|t| !t.is_empty()), "{body}");
    assert!(body["detail"].as_str().is_some_and(|t| !t.is_empty()), "{body}");
    body
}

async fn json_ok(res: reqwest::Response) -> Value {
    let url = res.url().clone();
    assert_eq!(res.status(), 200, "{url}");
    let ct = res.headers().get("content-type").unwrap().to_str().unwrap().to_string();
    assert_eq!(ct, "application/json", "{url}");
    res.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_streams_answer_json() {
    let s = common::serve_in_process(|_| {}).await;
    let c = client();
    let health = json_ok(c.get(s.url("/api/v1/health")).send().await.unwrap()).await;
    assert_eq!(health, serde_json::json!({"status": "ok"}));
    let admin = s.token("admin", playcast::auth::Role::Admin);
    let streams = json_ok(c.get(s.url("/api/v1/streams")).bearer_auth(&admin).send().await.unwrap()).await;
    assert_eq!(streams, serde_json::json!([]));
    // Streams show every session's parameters: admins only.
    problem(c.get(s.url("/api/v1/streams")).send().await.unwrap(), 401).await;
    let player = s.token("player", playcast::auth::Role::Player);
    problem(c.get(s.url("/api/v1/streams")).bearer_auth(&player).send().await.unwrap(), 403).await;
    // Query strings are not part of these resources and change nothing.
    let health = json_ok(c.get(s.url("/api/v1/health?x=%FF%00&&==")).send().await.unwrap()).await;
    assert_eq!(health["status"], "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_prometheus_text_with_the_node_budget() {
    let s = common::serve_in_process(|_| {}).await;
    let res = client().get(s.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/plain; version=0.0.4");
    let text = res.text().await.unwrap();
    // Every sample line is `name{labels} number`, under a TYPE line of its family.
    let mut typed = std::collections::HashSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert!(["gauge", "counter"].contains(&kind), "{line}");
            typed.insert(name.to_string());
        } else if !line.starts_with("# HELP ") {
            let name = line.split(['{', ' ']).next().unwrap();
            assert!(typed.contains(name), "{line} has no TYPE");
            let value = line.rsplit(' ').next().unwrap();
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
    }
    assert!(text.contains("\nplaycast_sessions_running{node=\""), "{text}");
    assert!(text.contains("playcast_node_cpu_cores{") && text.contains("of=\"total\"} "), "{text}");
    assert!(typed.contains("playcast_stream_estimated_bits_per_second"), "{text}");
    assert!(text.contains("playcast_events_delivered_total{node=") && text.contains("via=\"database\"} "), "{text}");
    assert!(typed.contains("playcast_event_database_reads_total"), "{text}");
    // Other methods are refused as elsewhere.
    problem(client().post(s.url("/metrics")).send().await.unwrap(), 405).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelines_say_what_runs_here_and_why() {
    let s = common::serve_in_process(|_| {}).await;
    let c = client();
    let admin = s.token("root", Role::Admin);
    let list = json_ok(c.get(s.url("/api/v1/pipelines")).bearer_auth(&admin).send().await.unwrap()).await;
    let list = list.as_array().expect("an array");
    let names: Vec<&str> = list.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["linux-x11", "test-pattern", "test-pattern-webrtcsink", "windows-d3d11"]);
    let get = |name: &str| list.iter().find(|p| p["name"] == name).unwrap().clone();

    let tp = get("test-pattern");
    assert_eq!(tp["runnable"], true, "{tp}");
    assert_eq!(tp["encoder"], "x264enc", "{tp}");
    assert_eq!(tp["error"], Value::Null, "{tp}");
    assert!(tp["encoder_choice"].as_str().unwrap().starts_with("encoder x264enc"), "{tp}");
    assert_eq!(tp["path"], "test-pattern.toml", "relative to the pipelines folder: {tp}");
    assert!(tp["description"].as_str().is_some_and(|d| !d.is_empty()));
    assert!(tp["loaded_at_unix"].as_u64().is_some_and(|t| t > 1_600_000_000), "{tp}");

    let x11 = get("linux-x11");
    assert_eq!(x11["error"], Value::Null, "{x11}");
    assert!(x11["runnable"].is_boolean(), "{x11}");

    let win = get("windows-d3d11");
    assert_eq!(win["runnable"], false, "{win}");
    assert_eq!(win["encoder"], Value::Null, "{win}");
    assert_eq!(win["error"], Value::Null, "a valid file that cannot run here is not an error: {win}");
    let why = win["encoder_choice"].as_str().unwrap();
    assert!(why.starts_with("no encoder candidate can run here"), "{why}");
    for skipped in
        ["nvh264enc (not on this machine", "qsvh264enc (not on this machine", "mfh264enc (not on this machine"]
    {
        assert!(why.contains(skipped), "`{skipped}` missing from: {why}");
    }
    let notes: Vec<&str> = win["notes"].as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect();
    assert!(notes.iter().any(|n| n.contains("d3d11screencapturesrc")), "{notes:?}");

    let one = json_ok(c.get(s.url("/api/v1/pipelines/test-pattern")).bearer_auth(&admin).send().await.unwrap()).await;
    assert_eq!(one, tp);

    // Players and viewers see what runs here, not files, choices or errors.
    for role in [Role::Player, Role::Viewer] {
        let token = s.token("alice", role);
        let seen =
            json_ok(c.get(s.url("/api/v1/pipelines/test-pattern")).bearer_auth(&token).send().await.unwrap()).await;
        let mut keys: Vec<&str> = seen.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(keys, ["description", "encoder", "loaded_at_unix", "name", "runnable"], "{role:?}: {seen}");
    }
    // Without a token: 401.
    for path in ["/api/v1/pipelines", "/api/v1/pipelines/test-pattern"] {
        problem(c.get(s.url(path)).send().await.unwrap(), 401).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_file_linking_out_of_the_folder_is_not_read_or_shown() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(common::repo().join("pipelines/test-pattern.toml"), dir.path().join("test-pattern.toml")).unwrap();
    std::os::unix::fs::symlink("/proc/self/environ", dir.path().join("environ.toml")).unwrap();
    let secret = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(secret.path(), "TOPSECRET = 1\n").unwrap();
    std::os::unix::fs::symlink(secret.path(), dir.path().join("secret.toml")).unwrap();
    let folder = dir.path().to_owned();
    let s = common::serve_in_process(move |c| c.media.pipelines_dir = folder).await;
    let admin = s.token("root", Role::Admin);
    let list = json_ok(client().get(s.url("/api/v1/pipelines")).bearer_auth(&admin).send().await.unwrap()).await;
    let text = list.to_string();
    assert!(!text.contains("TOPSECRET") && !text.contains("PATH") && !text.contains("HOME"), "{text}");
    for name in ["environ", "secret"] {
        let p = list.as_array().unwrap().iter().find(|p| p["name"] == name).unwrap_or_else(|| panic!("{name}: {list}"));
        assert_eq!(p["runnable"], false, "{p}");
        assert!(p["error"].as_str().unwrap().contains("links to a file outside the pipelines folder"), "{p}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_the_element_policy_refuses_is_listed_broken_and_starts_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let pipelines = dir.path().join("pipelines");
    std::fs::create_dir(&pipelines).unwrap();
    std::fs::copy(common::repo().join("pipelines/test-pattern.toml"), pipelines.join("test-pattern.toml")).unwrap();
    let refused = pipelines.join("host-access.toml");
    std::fs::copy(common::repo().join("tests/fixtures/host-access.toml"), &refused).unwrap();
    let games = dir.path().join("games.toml");
    std::fs::write(
        &games,
        "[games.copier]\ntitle = \"Copies the picture to a host file\"\npipeline = \"host-access\"\n\n\
         [games.bars]\ntitle = \"Bars\"\npipeline = \"test-pattern\"\n",
    )
    .unwrap();
    let (folder, catalog) = (pipelines.clone(), games.clone());
    let s = common::serve_in_process(move |c| {
        c.media.pipelines_dir = folder;
        c.sessions.games_file = catalog;
    })
    .await;
    let c = client();

    // Listed like any other broken file: not runnable, the refusals as its error.
    let admin = s.token("root", Role::Admin);
    let list = json_ok(c.get(s.url("/api/v1/pipelines")).bearer_auth(&admin).send().await.unwrap()).await;
    let p = list.as_array().unwrap().iter().find(|p| p["name"] == "host-access").unwrap_or_else(|| panic!("{list}"));
    assert_eq!((p["runnable"].clone(), p["description"].clone()), (Value::Bool(false), Value::Null), "{p}");
    let error = p["error"].as_str().unwrap_or_else(|| panic!("{p}"));
    let at = refused.display();
    for line in [
        format!("{at}:11: video.source: element `filesink` is not allowed by the element policy ("),
        format!("{at}:13: video.filters: element `multifilesink` is not allowed by the element policy ("),
        format!("{at}:18: video.encoders[0].before: element `shmsink` in the value of `video-sink` is not allowed"),
        format!("{at}:23: audio.source: `file:///etc/hostname` stands where an element goes"),
    ] {
        assert!(error.lines().any(|l| l.starts_with(&line)), "`{line}` missing: {error}");
    }
    let tp = list.as_array().unwrap().iter().find(|p| p["name"] == "test-pattern").unwrap();
    assert_eq!(tp["runnable"], true, "the other file is untouched: {tp}");

    // A player cannot start it: a problem, and nothing was written.
    let player = s.sign_in("alice", Role::Player).await;
    let res = c.post(s.url("/api/v1/sessions")).bearer_auth(&player).json(&serde_json::json!({"game": "copier"}));
    let p = problem(res.send().await.unwrap(), 503).await;
    let detail = p["detail"].as_str().unwrap();
    assert!(detail.contains("element `filesink` is not allowed by the element policy"), "{p}");
    // Where the pipelines folder lies is for admins: the player's answer names the file only.
    assert!(detail.contains("host-access.toml:11: video.source:"), "{p}");
    let folder = refused.parent().unwrap().display().to_string();
    assert!(!detail.contains(&folder), "the player's answer shows the folder {folder}: {p}");
    assert!(!std::path::Path::new("/tmp/playcast-copy.raw").exists(), "a refused file never runs");
    let (status, bars) =
        s.call(&player, reqwest::Method::POST, "/api/v1/sessions", Some(serde_json::json!({"game": "bars"}))).await;
    assert_eq!(status, 201, "a file the policy passes starts: {bars}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_resources_are_problems() {
    let s = common::serve_in_process(|_| {}).await;
    let c = client();
    let token = s.token("alice", Role::Player);
    let p = problem(c.get(s.url("/api/v1/pipelines/nope")).bearer_auth(&token).send().await.unwrap(), 404).await;
    assert_eq!(p["type"], "https://playcast.dev/problems/no-such-pipeline");
    assert_eq!(p["title"], "Not Found");
    assert!(p["detail"].as_str().unwrap().contains("`nope`"), "{p}");

    for path in [
        "/does-not-exist",
        "/api",
        "/api/v1",
        "/api/v2/health",
        "/api/v1/health/extra",
        "/api/v1/pipelines/test-pattern/x",
    ] {
        let p = problem(c.get(s.url(path)).send().await.unwrap(), 404).await;
        assert_eq!(p["type"], "https://playcast.dev/problems/not-found", "{path}: {p}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_methods_are_405_problems() {
    let s = common::serve_in_process(|_| {}).await;
    let c = client();
    let p = problem(c.post(s.url("/api/v1/health")).send().await.unwrap(), 405).await;
    assert_eq!(p["title"], "Method Not Allowed");
    for (method, path) in [
        (reqwest::Method::PUT, "/api/v1/pipelines"),
        (reqwest::Method::DELETE, "/api/v1/pipelines/test-pattern"),
        (reqwest::Method::PATCH, "/api/v1/streams"),
        (reqwest::Method::POST, "/"),
    ] {
        let res = c.request(method.clone(), s.url(path)).body("{\"a\":1}").send().await.unwrap();
        problem(res, 405).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_paths_get_4xx_problems_never_500() {
    let s = common::serve_in_process(|_| {}).await;
    let c = client();
    let long_segment = format!("/api/v1/pipelines/{}", "a".repeat(10 * 1024));
    let token = s.token("alice", Role::Player);
    let p = problem(c.get(s.url(&long_segment)).bearer_auth(&token).send().await.unwrap(), 404).await;
    assert!(p["detail"].as_str().unwrap().len() < 200, "the detail does not echo 10 KB: {p}");
    let many_segments = "/x".repeat(5 * 1024);
    problem(c.get(s.url(&many_segments)).send().await.unwrap(), 404).await;
    let long_root = format!("/{}", "b".repeat(10 * 1024));
    problem(c.get(s.url(&long_root)).send().await.unwrap(), 404).await;

    for path in [
        "/api/v1/pipelines/..%2F..%2Fetc%2Fpasswd",
        "/api/v1/pipelines/%2e%2e",
        "/api/v1/pipelines/%00",
        "/api/v1/pipelines/%FF%FE",
        "/api/v1/pipelines/%E2%98%83",
        "/api/v1/pipelines/test-pattern%00",
        "/api/v1/pipelines/<script>alert(1)</script>",
        "/api/v1/pipelines/'%20OR%201=1",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/app.js%00.html",
        "/..%5c..%5cwindows",
        "/api/v1/pipelines/%",
    ] {
        let res = c.get(s.url(path)).send().await.unwrap();
        let status = res.status().as_u16();
        assert!((400..500).contains(&status), "{path}: {status}");
        problem(res, status).await;
    }

    // A plain GET on the signaling endpoint is not an upgrade.
    let res = c.get(s.url("/api/v1/signal")).send().await.unwrap();
    let p = problem(res, 400).await;
    assert!(p["detail"].as_str().unwrap().to_lowercase().contains("header"), "{p}");

    // The service is still healthy afterwards.
    json_ok(c.get(s.url("/api/v1/health")).send().await.unwrap()).await;
}

/// Bytes that are not HTTP at all: the connection is refused politely and
/// the service carries on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_on_the_socket_does_not_hurt_the_service() {
    let s = common::serve_in_process(|_| {}).await;
    for garbage in [
        &b"GARBAGE\r\n\r\n"[..],
        b"GET /api/v1/health HTTP/9.9\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
        b"\0\0\0\0\0\0\0\0",
    ] {
        let mut tcp = tokio::net::TcpStream::connect(s.addr).await.unwrap();
        tcp.write_all(garbage).await.unwrap();
        let mut reply = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut reply)).await;
        assert!(read.is_ok(), "the server neither answered nor closed for {garbage:?}");
        let text = String::from_utf8_lossy(&reply);
        assert!(!text.starts_with("HTTP/1.1 5"), "{garbage:?}: {text}");
    }
    // A connection that sends half a request and stalls does not block others.
    let mut stalled = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    stalled.write_all(b"GET /api/v1/health HTTP/1.1\r\nHo").await.unwrap();
    json_ok(client().get(s.url("/api/v1/health")).send().await.unwrap()).await;
    drop(stalled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_is_served() {
    let s = common::serve_in_process(|_| {}).await;
    let c = client();
    let res = c.get(s.url("/")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/html; charset=utf-8");
    let html = res.text().await.unwrap();
    assert!(html.to_lowercase().contains("<!doctype html>"), "{html}");
    assert!(html.contains("app.js"), "the page loads the client script");

    let res = c.get(s.url("/app.js")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/javascript; charset=utf-8");
    assert_eq!(res.headers()["cache-control"], "no-cache");
    let js = res.text().await.unwrap();
    assert!(js.contains("WebSocket") && js.contains("/api/v1/signal"), "the client speaks signaling");

    assert!(html.contains("app.css"), "the page loads its stylesheet");
    let res = c.get(s.url("/app.css")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/css; charset=utf-8");

    // The app's own routes are pages for a browser and not found for anything else.
    let res = c.get(s.url("/library")).header("accept", "text/html").send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("app.js"));
    problem(c.get(s.url("/library")).send().await.unwrap(), 404).await;
    problem(c.get(s.url("/api/v1/nope")).header("accept", "text/html").send().await.unwrap(), 404).await;

    for path in ["/APP.JS", "/app.js.map", "/client/app.js", "/../Cargo.toml", "/%2e%2e/Cargo.toml"] {
        let res = c.get(s.url(path)).send().await.unwrap();
        problem(res, 404).await;
    }
}

/// The body of a `warp::test` answer as JSON, with its status and content type.
fn answer<B: AsRef<[u8]>>(res: &warp::http::Response<B>) -> (u16, String, Value) {
    let ct = res.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    (res.status().as_u16(), ct, serde_json::from_slice(res.body().as_ref()).unwrap_or(Value::Null))
}

/// Handlers answer through `warp::test`, without a socket: a route's own
/// filter, and every route joined with the one mapping of errors to problem+json.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handlers_answer_through_warp_test() {
    let s = common::serve_in_process(|_| {}).await;
    let res = warp::test::request().path("/api/v1/health").reply(&playcast::api::filters::health()).await;
    assert_eq!(answer(&res), (200, "application/json".into(), serde_json::json!({"status": "ok"})));

    let routes = playcast::api::routes(s.state.clone());
    let player = format!("Bearer {}", s.token("alice", Role::Player));
    let viewer = format!("Bearer {}", s.token("vera", Role::Viewer));

    let res = warp::test::request().path("/api/v1/games").header("authorization", &player).reply(&routes).await;
    let (status, _, games) = answer(&res);
    assert_eq!(status, 200, "{games}");
    assert!(games.as_array().is_some_and(|g| g.iter().any(|g| g["id"] == "test-pattern")), "{games}");

    // The session layer's refusals, each as its problem.
    let res = warp::test::request()
        .path("/api/v1/sessions/no-such-session")
        .header("authorization", &player)
        .reply(&routes)
        .await;
    let (status, ct, p) = answer(&res);
    assert_eq!((status, ct.as_str()), (404, "application/problem+json"), "{p}");
    assert_eq!(p["type"], "https://playcast.dev/problems/no-such-session");
    let res = warp::test::request()
        .method("POST")
        .path("/api/v1/sessions")
        .header("authorization", &viewer)
        .json(&serde_json::json!({"game": "test-pattern"}))
        .reply(&routes)
        .await;
    let (status, _, p) = answer(&res);
    assert_eq!((status, &p["type"]), (403, &serde_json::json!("https://playcast.dev/problems/forbidden")), "{p}");
    let res = warp::test::request()
        .method("POST")
        .path("/api/v1/sessions")
        .header("authorization", &player)
        .json(&serde_json::json!({"game": "no-such-game"}))
        .reply(&routes)
        .await;
    let (status, _, p) = answer(&res);
    assert_eq!((status, &p["type"]), (422, &serde_json::json!("https://playcast.dev/problems/invalid-request")), "{p}");
    let res = warp::test::request()
        .method("POST")
        .path("/api/v1/sessions/no-such-session/rewind")
        .header("authorization", &player)
        .reply(&routes)
        .await;
    let (status, _, p) = answer(&res);
    assert_eq!(status, 404, "{p}");

    // The document served is the generated one.
    let res = warp::test::request().path("/api/v1/openapi.json").reply(&routes).await;
    let (status, ct, doc) = answer(&res);
    assert_eq!((status, ct.as_str()), (200, "application/json"));
    assert_eq!(doc, serde_json::from_str::<Value>(playcast::api::openapi::json()).unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_config_says_how_the_web_app_signs_in() {
    let c = client();
    let dev = common::serve_in_process(|_| {}).await;
    let answer = json_ok(c.get(dev.url("/api/v1/client-config")).send().await.unwrap()).await;
    assert_eq!(answer, serde_json::json!({"sign_in": "development", "clerk_publishable_key": null}));
    // No token needed; other methods are refused as elsewhere.
    problem(c.post(dev.url("/api/v1/client-config")).send().await.unwrap(), 405).await;

    let real_issuer = |key: &'static str| {
        move |config: &mut playcast::config::Config| {
            config.auth.issuers = vec!["https://example.clerk.accounts.dev".into()];
            config.auth.jwks_url = "https://example.clerk.accounts.dev/.well-known/jwks.json".into();
            config.auth.clerk_publishable_key = key.into();
        }
    };
    let clerk = common::serve_in_process(real_issuer("pk_test_ZXhhbXBsZS5jbGVyay5hY2NvdW50cy5kZXYk")).await;
    let answer = json_ok(c.get(clerk.url("/api/v1/client-config")).send().await.unwrap()).await;
    assert_eq!(
        answer,
        serde_json::json!({"sign_in": "clerk", "clerk_publishable_key": "pk_test_ZXhhbXBsZS5jbGVyay5hY2NvdW50cy5kZXYk"})
    );
    let external = common::serve_in_process(real_issuer("")).await;
    let answer = json_ok(c.get(external.url("/api/v1/client-config")).send().await.unwrap()).await;
    assert_eq!(answer, serde_json::json!({"sign_in": "external", "clerk_publishable_key": null}));
}
