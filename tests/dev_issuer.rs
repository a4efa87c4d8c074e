//! The development issuer lets whoever asks pick a name and a role, so it
//! mints tokens for loopback clients only unless an operator opens it to the
//! network with a loudly named setting; the start-up output says which auth
//! mode is in force and from where the service is reachable.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{Service, SERVICE_PORT};
use playcast::netns::Netns;

async fn mint_from(base: &str) -> (u16, serde_json::Value) {
    let res = reqwest::Client::new()
        .post(format!("{base}/api/v1/dev/token"))
        .json(&serde_json::json!({"user": "mallory", "role": "admin"}))
        .send()
        .await
        .expect("dev token request");
    (res.status().as_u16(), res.json().await.unwrap_or_default())
}

#[tokio::test]
async fn the_development_issuer_answers_loopback_only_unless_opened() {
    let ns = Netns::create().expect("namespace (run as root)");
    let pipelines = common::repo().join("pipelines");
    let service = Service::start(&ns, &pipelines, &[], &[]).await;
    // From the network (the test reaches the namespace over its veth): refused.
    let (status, problem) = mint_from(&service.base).await;
    assert_eq!(status, 403, "{problem}");
    assert_eq!(problem["type"].as_str().map(|t| t.ends_with("dev-issuer-loopback-only")), Some(true), "{problem}");
    let detail = problem["detail"].as_str().unwrap_or_default();
    assert!(detail.contains(&ns.outer.to_string()), "names the refused address: {detail}");
    assert!(detail.contains("insecure_dev_issuer_on_network"), "says how to open it: {detail}");
    // From loopback inside the namespace (where the page's browser runs): a token.
    let script = format!(
        "import json,urllib.request as u;r=u.urlopen(u.Request('http://127.0.0.1:{SERVICE_PORT}/api/v1/dev/token',\
         data=json.dumps({{'user':'alice','role':'player'}}).encode(),headers={{'content-type':'application/json'}}));\
         print(r.status, len(json.load(r)['token']) > 0)"
    );
    let out = ns.command("python3").args(["-c", &script]).output().expect("python3 in the namespace");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "200 True", "{}", String::from_utf8_lossy(&out.stderr));
    drop(service);

    // Opened on purpose: the network gets tokens.
    let open =
        Service::start(&ns, &pipelines, &[], &[("PLAYCAST__AUTH__INSECURE_DEV_ISSUER_ON_NETWORK", "true")]).await;
    let (status, minted) = mint_from(&open.base).await;
    assert_eq!(status, 200, "{minted}");
    assert!(minted["token"].as_str().is_some_and(|t| !t.is_empty()), "{minted}");
}

/// The lines `playcast serve` prints until it says where it is reachable.
fn startup_lines(listen: &str, env: &[(&str, &str)]) -> Vec<String> {
    let data = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_playcast"))
        .args(["serve", "--listen", listen])
        .current_dir(common::repo())
        .env("PLAYCAST__SERVER__DATA_DIR", data.path())
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let child_out = child.stdout.take().unwrap();
    let proc = common::Proc(child, "playcast");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(child_out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut lines = Vec::new();
    while let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        // The auth lines end with where the service can be reached.
        let last = line.contains("reachable from");
        lines.push(line);
        if last {
            break;
        }
    }
    drop(proc);
    lines
}

#[test]
fn start_up_says_the_auth_mode_and_the_reach() {
    let text = startup_lines("127.0.0.1:0", &[]).join("\n");
    assert!(
        text.contains("Auth: development issuer, signing in loopback clients only; listening on 127.0.0.1:"),
        "{text}"
    );
    assert!(text.contains("reachable from this machine only"), "{text}");

    let text = startup_lines("0.0.0.0:0", &[]).join("\n");
    assert!(text.contains("development issuer, signing in loopback clients only; listening on 0.0.0.0:"), "{text}");
    assert!(text.contains("reachable from the network"), "{text}");

    let text = startup_lines("0.0.0.0:0", &[("PLAYCAST__AUTH__INSECURE_DEV_ISSUER_ON_NETWORK", "true")]).join("\n");
    assert!(text.contains("DEVELOPMENT ISSUER OPEN TO THE NETWORK"), "{text}");
    assert!(text.contains("sign in as any user, admin included"), "{text}");
}
