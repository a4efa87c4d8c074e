//! After a kill -9 of the service, the next start closes the sessions it left
//! open and kills the processes they left running: no orphans, no lost records.

mod common;

use std::time::Duration;

use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(30);

/// The session's processes that still run (killed orphans stay zombies here).
fn running_processes_of(session: &str) -> Vec<u32> {
    common::processes_of(session).into_iter().filter(|&pid| !common::is_zombie(pid)).collect()
}

async fn signed_in(base: &str, user: &str) -> String {
    let c = reqwest::Client::new();
    let t: Value = c
        .post(format!("{base}/api/v1/dev/token"))
        .json(&json!({"user": user, "role": "player"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = t["token"].as_str().expect("a token").to_string();
    let res = c.post(format!("{base}/api/v1/login")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(res.status(), 200);
    token
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_service_leaves_no_orphans_and_no_open_sessions() {
    common::require_root();
    let data = tempfile::tempdir().unwrap();
    let games = data.path().join("games.toml");
    std::fs::write(
        &games,
        r#"
[games.sleeper]
title = "Waits"
pipeline = "linux-x11"
command = ["sh", "-c", "sleep 1000 & exec sleep 1000"]
params = { width = 320, height = 240, framerate = 15 }

[games.test-pattern]
title = "Test pattern"
pipeline = "test-pattern"
"#,
    )
    .unwrap();
    let port = common::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut first = common::serve_process(data.path(), &games, port, &[]);
    common::wait_http(&format!("{base}/api/v1/health"), WAIT).await;
    let token = signed_in(&base, "alice").await;
    let c = reqwest::Client::new();
    let mut ids = Vec::new();
    for game in ["sleeper", "test-pattern"] {
        let res = c
            .post(format!("{base}/api/v1/sessions"))
            .bearer_auth(&token)
            .json(&json!({"game": game}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201, "{game}");
        ids.push(res.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string());
    }
    let game_session = ids[0].clone();
    // Xvfb, PulseAudio, the game and its child.
    let before = running_processes_of(&game_session);
    assert!(before.len() >= 4, "{before:?}");

    first.0.kill().expect("kill -9");
    first.0.wait().unwrap();
    // Orphans now, until the next start.
    assert_eq!(running_processes_of(&game_session), before);

    let _second = common::serve_process(data.path(), &games, port, &[]);
    common::wait_http(&format!("{base}/api/v1/health"), WAIT).await;
    let token = signed_in(&base, "alice").await;
    for id in &ids {
        let v: Value = common::eventually("the session to be reconciled", WAIT, || async {
            let v: Value = c
                .get(format!("{base}/api/v1/sessions/{id}"))
                .bearer_auth(&token)
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            (v["state"] == "cleanup").then_some(v)
        })
        .await;
        assert_eq!(v["stats"]["reconciled"], true, "{v}");
        let history: Value = c
            .get(format!("{base}/api/v1/sessions/{id}/events"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let to: Vec<&str> = history.as_array().unwrap().iter().map(|e| e["to"].as_str().unwrap()).collect();
        assert_eq!(to, ["idle", "initializing", "connecting", "error", "cleanup"], "{history}");
        let why = history[3]["event"]["reason"].as_str().unwrap();
        assert!(why.contains("the service stopped while the session was connecting"), "{why}");
    }
    assert_eq!(running_processes_of(&game_session), Vec::<u32>::new(), "orphans survived the restart");
    assert!(!data.path().join("run").join(&game_session).exists(), "the runtime folder stayed");
}
