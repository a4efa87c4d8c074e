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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_streams_with_a_reason() {
    let mut config = Config::load_with_env(None, Vec::new()).unwrap();
    config.media.pipelines_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines");
    let data = tempfile::tempdir().unwrap();
    config.server.data_dir = data.path().to_owned();
    let service = Service::start(config, Default::default()).await.unwrap();
    let streams = service.state.streams.clone();
    let verifier = service.state.verifier.clone();
    let store = service.state.store.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(service.serve(listener, async move {
        let _ = stopped.await;
    }));

    let token =
        verifier.dev_issuer().unwrap().mint("p1", playcast::auth::Role::Player, Duration::from_secs(60)).unwrap();
    let login = reqwest::Client::new().post(format!("http://{addr}/api/v1/login")).bearer_auth(&token).send();
    assert_eq!(login.await.unwrap().status(), 200);
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/api/v1/signal")).await.unwrap();
    ws.send(Message::text(serde_json::json!({"type": "auth", "token": token}).to_string())).await.unwrap();
    assert_eq!(next(&mut ws).await["type"], "authenticated");
    let hello = r#"{"type":"hello","version":1,"params":{"width":320,"height":240,"framerate":15}}"#;
    ws.send(Message::text(hello)).await.unwrap();
    assert_eq!(next(&mut ws).await["type"], "welcome");
    assert_eq!(streams.live().len(), 1);

    stop.send(()).unwrap();
    let bye = loop {
        let m = next(&mut ws).await;
        if m["type"] == "bye" {
            break m;
        }
    };
    assert!(bye["reason"].as_str().unwrap().contains("shutting down"), "{bye}");
    drop(ws);
    tokio::time::timeout(Duration::from_secs(15), server).await.expect("serve returns after shutdown").unwrap();
    assert!(streams.live().is_empty(), "every stream stopped");
    // The stream's session was made for it alone: it ended when the stream did, and was cleaned up.
    let sessions = store.all_sessions(10).await.unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].state_name, "cleanup", "{:?}", sessions[0]);
}
