//! Sessions launch whatever the length of `server.data_dir`: the sockets that a
//! unix address limits to 107 bytes live in a short socket dir of their own,
//! which goes when the session does.
//!
//! Xvfb, PulseAudio and pactl must be installed (`scripts/setup.sh`): a missing
//! one fails the test, it is never skipped.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use playcast::auth::Role;
use reqwest::Method;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(20);
/// The length of the data dir under test, in bytes.
const DATA_DIR_LEN: usize = 200;

/// A game on the X11 pipeline (with its sound) that reports where its sockets are.
fn games_file(dir: &Path) -> PathBuf {
    let path = dir.join("games.toml");
    let text = r#"
[games.reporter]
title = "Writes its runtime dir and sound server, then waits"
pipeline = "linux-x11"
command = ["sh", "-c", "echo \"$XDG_RUNTIME_DIR|$PULSE_SERVER\" > \"$HOME/env.tmp\" && mv \"$HOME/env.tmp\" \"$HOME/env.txt\"; exec sleep 1000"]
params = { width = 320, height = 240, framerate = 15 }
"#;
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_with_a_200_character_data_dir_runs_with_sound_and_leaves_no_socket_dir() {
    common::require_root();
    let tmp = tempfile::tempdir().unwrap();
    let games = games_file(tmp.path());
    let base = tmp.path().as_os_str().len() + 1;
    assert!(base < DATA_DIR_LEN, "the temporary folder {} is too long for this test", tmp.path().display());
    let data_dir = tmp.path().join("d".repeat(DATA_DIR_LEN - base));
    assert_eq!(data_dir.as_os_str().len(), DATA_DIR_LEN);
    let data_cfg = data_dir.clone();
    let service = common::serve_in_process(move |c| {
        c.server.data_dir = data_cfg;
        c.sessions.games_file = games;
    })
    .await;
    let token = service.sign_in("alice", Role::Player).await;

    let (status, created) =
        service.call(&token, Method::POST, "/api/v1/sessions", Some(json!({"game": "reporter"}))).await;
    assert_eq!(status, 201, "the session starts under a {DATA_DIR_LEN}-byte data dir: {created}");
    assert_eq!(created["state"], "connecting", "{created}");
    let id = created["id"].as_str().expect("an id").to_owned();
    let run_dir = data_dir.join("run").join(&id);
    assert!(run_dir.is_dir(), "the runtime dir is under the data dir: {}", run_dir.display());

    let env_file = data_dir.join("saves/alice/reporter/env.txt");
    let seen = common::eventually("the game to write its environment", WAIT, || async {
        std::fs::read_to_string(&env_file).ok().filter(|t| t.ends_with('\n'))
    })
    .await;
    let (runtime, server) = seen.trim_end().split_once('|').expect("two fields");
    let socket_dir = PathBuf::from(runtime);
    assert!(socket_dir.is_absolute() && socket_dir.is_dir(), "the game's XDG_RUNTIME_DIR: {seen}");
    assert!(!socket_dir.starts_with(&data_dir), "the socket dir is not under the long data dir: {seen}");
    assert_eq!(server, format!("unix:{}", socket_dir.join("pulse/native").display()), "{seen}");

    // The sound is on: the session's PulseAudio answers with its sink.
    let out = std::process::Command::new("pactl")
        .args(["--server", server, "list", "short", "sinks"])
        .output()
        .expect("pactl runs (scripts/setup.sh installs pulseaudio-utils)");
    let sinks = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && sinks.contains("playcast"), "pactl: {out:?}");
    let (_, view) = service.call(&token, Method::GET, &format!("/api/v1/sessions/{id}"), None).await;
    assert_eq!(view["state"], "connecting", "the session runs on: {view}");
    assert!(common::processes_of(&id).len() >= 3, "Xvfb, PulseAudio and the game: {:?}", common::processes_of(&id));

    let (status, ended) = service.call(&token, Method::POST, &format!("/api/v1/sessions/{id}/end"), None).await;
    assert!((200..300).contains(&status), "end: {status} {ended}");
    common::eventually("the session's cleanup", WAIT, || async {
        let (_, v) = service.call(&token, Method::GET, &format!("/api/v1/sessions/{id}"), None).await;
        (v["state"] == "cleanup").then_some(())
    })
    .await;
    common::eventually("the session's processes to go", WAIT, || async {
        common::processes_of(&id).into_iter().all(common::is_zombie).then_some(())
    })
    .await;
    assert!(!socket_dir.exists(), "the socket dir {} outlived the session", socket_dir.display());
    assert!(!run_dir.exists(), "the runtime dir {} outlived the session", run_dir.display());
}
