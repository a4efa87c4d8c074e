//! Editing pipeline files under a running service: valid edits apply to new
//! streams, invalid ones are reported through the API while the last good
//! version keeps serving, and running streams are never disturbed.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use playcast::config::Config;
use playcast::media::stream::StreamEvent;
use playcast::server::Service;
use playcast::session::{OpenRequest, StreamHost};
use playcast::signaling::protocol::ServerMessage;
use tokio::sync::mpsc;

fn copy_pipelines(to: &Path) {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines");
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
    }
}

/// The service's address and an admin's token (pipeline files and their
/// errors are shown to admins).
struct Api {
    base: String,
    token: String,
}

impl Api {
    async fn get(&self, name: &str) -> reqwest::Response {
        let url = format!("{}/api/v1/pipelines/{name}", self.base);
        reqwest::Client::new().get(url).bearer_auth(&self.token).send().await.unwrap()
    }
}

async fn pipeline_json(api: &Api, name: &str) -> serde_json::Value {
    api.get(name).await.json().await.unwrap()
}

/// Polls the API until `pred` holds for the pipeline's view.
async fn wait_view(api: &Api, name: &str, what: &str, pred: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let v = pipeline_json(api, name).await;
        if pred(&v) {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "pipeline {name} never {what}: {v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn small() -> OpenRequest {
    OpenRequest {
        pipeline: Some("test-pattern".into()),
        params: BTreeMap::from([("width".into(), serde_json::json!(320)), ("height".into(), serde_json::json!(240))]),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_edit_keeps_last_good_version_and_running_streams() {
    let dir = tempfile::tempdir().unwrap();
    copy_pipelines(dir.path());
    let file = dir.path().join("test-pattern.toml");
    let good = std::fs::read_to_string(&file).unwrap();

    let mut config = Config::load_with_env(None, Vec::new()).unwrap();
    config.media.pipelines_dir = dir.path().to_owned();
    let data = tempfile::tempdir().unwrap();
    config.server.data_dir = data.path().to_owned();
    let service = Service::start(config, Default::default()).await.unwrap();
    let streams = service.state.streams.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = service.state.verifier.dev_issuer().expect("the development issuer");
    let token = issuer.mint("root", playcast::auth::Role::Admin, Duration::from_secs(600)).unwrap();
    let api = Api { base: format!("http://{}", listener.local_addr().unwrap()), token };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(service.serve(listener, async move {
        let _ = stop_rx.await;
    }));

    let v = pipeline_json(&api, "test-pattern").await;
    assert_eq!((v["runnable"].as_bool(), v["error"].is_null()), (Some(true), true), "{v}");

    // A stream from the original version.
    let (tx, mut running) = mpsc::unbounded_channel();
    let first = streams.open(small(), tx).unwrap();

    // An edit with a syntax error, then one with an unknown element.
    std::fs::write(&file, good.replace("[video]", "[video")).unwrap();
    let v = wait_view(&api, "test-pattern", "reported the syntax error", |v| v["error"].is_string()).await;
    let err = v["error"].as_str().unwrap();
    assert!(err.starts_with(&format!("{}:", file.display())), "error names the file: {err}");
    assert_eq!(v["runnable"], true, "the last good version still serves: {v}");

    std::fs::write(
        &file,
        good.replace("preset = \"x264enc\"", "element = \"x264ecn\"\nprofile = \"constrained-baseline\""),
    )
    .unwrap();
    let v = wait_view(&api, "test-pattern", "reported the unknown element", |v| {
        v["error"].as_str().is_some_and(|e| e.contains("no element \"x264ecn\""))
    })
    .await;
    assert_eq!(v["encoder"], "x264enc", "{v}");

    // New streams still start, from the last good version.
    let (tx, _rx) = mpsc::unbounded_channel();
    let second = streams.open(small(), tx).expect("last good version still opens");
    let ServerMessage::Welcome { encoder, .. } = &second.welcome else { panic!() };
    assert_eq!(encoder, "x264enc");

    // A valid edit applies to new streams.
    std::fs::write(&file, good.replace("default = 1280", "default = 640").replace("Synthetic SMPTE", "Edited SMPTE"))
        .unwrap();
    let v = wait_view(&api, "test-pattern", "took the valid edit", |v| {
        v["error"].is_null() && v["description"].as_str().is_some_and(|d| d.starts_with("Edited"))
    })
    .await;
    assert_eq!(v["runnable"], true, "{v}");
    let (tx, _rx3) = mpsc::unbounded_channel();
    let third = streams.open(OpenRequest { pipeline: Some("test-pattern".into()), ..Default::default() }, tx).unwrap();
    let ServerMessage::Welcome { width, .. } = &third.welcome else { panic!() };
    assert_eq!(*width, Some(640), "the new default applies to a new stream");

    // The first stream was never told to end, and is still playing.
    while let Ok(ev) = running.try_recv() {
        assert!(!matches!(ev, StreamEvent::Ended(_)), "running stream was disturbed: {ev:?}");
    }
    assert_eq!(streams.live().len(), 3);

    // Removing the file removes the pipeline for new streams.
    std::fs::remove_file(dir.path().join("linux-x11.toml")).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while api.get("linux-x11").await.status() != 404 {
        assert!(tokio::time::Instant::now() < deadline, "removed file still listed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    for s in [first, second, third] {
        tokio::task::spawn_blocking(move || s.control.stop()).await.unwrap();
    }
    let _ = stop_tx.send(());
    server.await.unwrap();
}
