//! Shutdown: every stream ends with a `bye` that says why, the pipelines stop,
//! and serving returns once the connections are gone.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use playcast::config::Config;
use playcast::server::Service;
use tokio_tungstenite::tungstenite::Message;

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn next(ws: &mut Ws) -> serde_json::Value {
    let msg = tokio::time::timeout(Duration::from_secs(10), ws.next()).await.expect("a message").expect("open");
    serde_json::from_str(msg.unwrap().to_text().unwrap()).unwrap()
}

/// A served service with one signed-in player whose stream is open.
struct Served {
    addr: std::net::SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<()>,
    streams: std::sync::Arc<playcast::session::Streams>,
    store: playcast::store::Store,
    token: String,
    /// An admin's token.
    admin: String,
    ws: Ws,
    _data: tempfile::TempDir,
}

async fn serve_with_a_stream(edit: impl FnOnce(&mut Config)) -> Served {
    let mut config = Config::load_with_env(None, Vec::new()).unwrap();
    config.media.pipelines_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines");
    let data = tempfile::tempdir().unwrap();
    config.server.data_dir = data.path().to_owned();
    edit(&mut config);
    let service = Service::start(config, Default::default()).await.unwrap();
    let (streams, verifier, store) =
        (service.state.streams.clone(), service.state.verifier.clone(), service.state.store.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(service.serve(listener, async move {
        let _ = stopped.await;
    }));
    let token =
        verifier.dev_issuer().unwrap().mint("p1", playcast::auth::Role::Player, Duration::from_secs(60)).unwrap();
    let admin =
        verifier.dev_issuer().unwrap().mint("ops", playcast::auth::Role::Admin, Duration::from_secs(60)).unwrap();
    let login = reqwest::Client::new().post(format!("http://{addr}/api/v1/login")).bearer_auth(&token).send();
    assert_eq!(login.await.unwrap().status(), 200);
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/api/v1/signal")).await.unwrap();
    ws.send(Message::text(serde_json::json!({"type": "auth", "token": token}).to_string())).await.unwrap();
    assert_eq!(next(&mut ws).await["type"], "authenticated");
    let hello = r#"{"type":"hello","version":1,"params":{"width":320,"height":240,"framerate":15}}"#;
    ws.send(Message::text(hello)).await.unwrap();
    assert_eq!(next(&mut ws).await["type"], "welcome");
    assert_eq!(streams.live().len(), 1);
    Served { addr, stop, server, streams, store, token, admin, ws, _data: data }
}

/// The next `bye` on the connection.
async fn bye(ws: &mut Ws) -> serde_json::Value {
    loop {
        let m = next(ws).await;
        if m["type"] == "bye" {
            return m;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_streams_with_a_reason() {
    // `_data` keeps the state folder for the whole test.
    let Served { stop, server, streams, store, mut ws, _data, .. } = serve_with_a_stream(|_| {}).await;

    stop.send(()).unwrap();
    let bye = bye(&mut ws).await;
    assert!(bye["reason"].as_str().unwrap().contains("shutting down"), "{bye}");
    drop(ws);
    tokio::time::timeout(Duration::from_secs(15), server).await.expect("serve returns after shutdown").unwrap();
    assert!(streams.live().is_empty(), "every stream stopped");
    // The stream's session was made for it alone: it ended when the stream did, and was cleaned up.
    let sessions = store.all_sessions(10).await.unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].state_name, "cleanup", "{:?}", sessions[0]);
}

/// With a drain deadline, stopping first turns new sessions away (503 with
/// Retry-After, readiness 503 `draining`) while the running stream plays on,
/// then ends it at the deadline with the same clean `bye`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_keeps_running_sessions_until_its_deadline_and_refuses_new_ones() {
    let Served { addr, stop, server, streams, token, admin, mut ws, _data, .. } =
        serve_with_a_stream(|c| c.server.drain = std::time::Duration::from_secs(4)).await;
    let http = reqwest::Client::new();

    let t0 = std::time::Instant::now();
    stop.send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let ready = http.get(format!("http://{addr}/api/v1/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["draining"], true, "{body}");
    let create = http
        .post(format!("http://{addr}/api/v1/sessions"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"game": "test-pattern"}))
        .send()
        .await
        .unwrap();
    assert_eq!(create.status(), 503);
    assert!(create.headers().contains_key("retry-after"));
    let problem: serde_json::Value = create.json().await.unwrap();
    assert!(problem["detail"].as_str().unwrap().contains("draining"), "{problem}");
    assert_eq!(streams.live().len(), 1, "the running stream plays on while draining");
    // An admin cannot undo the drain of a stopping node.
    let node: serde_json::Value =
        http.get(format!("http://{addr}/api/v1/node")).bearer_auth(&admin).send().await.unwrap().json().await.unwrap();
    let undo = http
        .delete(format!("http://{addr}/api/v1/nodes/{}/drain", node["id"].as_str().unwrap()))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(undo.status(), 409);
    let problem: serde_json::Value = undo.json().await.unwrap();
    assert!(problem["detail"].as_str().unwrap().contains("stopping"), "{problem}");
    assert_eq!(http.get(format!("http://{addr}/api/v1/ready")).send().await.unwrap().status(), 503);

    let bye = bye(&mut ws).await;
    let waited = t0.elapsed();
    assert!(waited >= Duration::from_secs(3), "ended after {waited:?}, before the 4 s deadline");
    assert!(bye["reason"].as_str().unwrap().contains("shutting down"), "{bye}");
    drop(ws);
    tokio::time::timeout(Duration::from_secs(15), server).await.expect("serve returns after the drain").unwrap();
    assert!(streams.live().is_empty());
}
