//! Session start: from the create request to `active` (the player's peer
//! connection is up), with the `test-pattern` game and headless Chromium as
//! the player, against a baseline in the same run: the bare sender's plain
//! page, from opening it to its peer connection being up (no session, no
//! API, no sign-in beyond the page's own).
//!
//! Each Playcast start: `POST /api/v1/sessions`, then the reference client
//! opened on `?session=ID` in a browser that is already running; the clock
//! stops when `GET /api/v1/sessions/ID` says `active`. The session is then
//! ended and the page left before the next start.
//!
//! `cargo bench --bench session_start -- [--starts N]` (as root: it creates a network namespace).

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{percentile, Browser, Service, SERVICE_PORT};
use playcast::netns::Netns;

/// Times `starts` Playcast session starts: (create → connecting, create → active) in ms.
async fn playcast(service: &Service, browser: &Browser, starts: usize) -> (Vec<f64>, Vec<f64>) {
    let token = service.dev_token("bench", "player").await;
    let (mut created, mut active) = (Vec::new(), Vec::new());
    for _ in 0..starts {
        let t0 = Instant::now();
        let body = serde_json::json!({ "game": "test-pattern" });
        let (_, view) = service.api(&token, reqwest::Method::POST, "sessions", Some(body)).await;
        created.push(t0.elapsed().as_secs_f64() * 1000.0);
        let id = view["id"].as_str().unwrap_or_else(|| panic!("a session: {view}")).to_string();
        let url = format!("http://127.0.0.1:{SERVICE_PORT}/?session={id}&user=bench");
        browser.client.goto(&url).await.expect("open the client");
        loop {
            let (_, v) = service.api(&token, reqwest::Method::GET, &format!("sessions/{id}"), None).await;
            if v["state"] == "active" {
                break;
            }
            assert!(t0.elapsed() < Duration::from_secs(30), "session never became active: {v}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        active.push(t0.elapsed().as_secs_f64() * 1000.0);
        if std::env::var_os("SESSION_START_TRACE").is_some() {
            eprintln!("start: created {:.0} ms, active {:.0} ms", created.last().unwrap(), active.last().unwrap());
        }
        service.api(&token, reqwest::Method::POST, &format!("sessions/{id}/end"), None).await;
        browser.client.goto("about:blank").await.expect("leave the page");
    }
    (created, active)
}

/// Times `starts` openings of the bare sender's plain page until its peer connection is up.
async fn baseline(browser: &Browser, starts: usize) -> Vec<f64> {
    let mut out = Vec::new();
    for _ in 0..starts {
        let t0 = Instant::now();
        let url = format!("http://127.0.0.1:{SERVICE_PORT}/baseline.html?pipeline=baseline");
        browser.client.goto(&url).await.expect("open the plain page");
        browser.wait_for("window.playcast && window.playcast.state === 'live'", Duration::from_secs(30)).await;
        out.push(t0.elapsed().as_secs_f64() * 1000.0);
        if std::env::var_os("SESSION_START_TRACE").is_some() {
            eprintln!("baseline: live {:.0} ms", out.last().unwrap());
        }
        browser.client.goto("about:blank").await.expect("leave the page");
    }
    out
}

fn row(what: &str, v: &mut [f64]) -> String {
    v.sort_by(f64::total_cmp);
    format!(
        "| {what} | {:>7.1} | {:>7.1} | {:>7.1} | {:>4} |",
        percentile(v, 50.0),
        percentile(v, 95.0),
        percentile(v, 99.0),
        v.len()
    )
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    common::require_root();
    let args: Vec<String> = std::env::args().collect();
    let starts: usize = args
        .iter()
        .position(|a| a == "--starts")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(common::repo().join("pipelines/test-pattern.toml"), dir.path().join("test-pattern.toml")).unwrap();
    std::fs::write(dir.path().join("baseline.toml"), common::BARE_BASELINE_PIPELINE).unwrap();
    // The games catalog names this one too.
    std::fs::copy(common::repo().join("pipelines/linux-x11.toml"), dir.path().join("linux-x11.toml")).unwrap();

    let ns = Netns::create().expect("network namespace (run as root)");
    let browser = Browser::start(&ns).await;
    let (mut base, mut created, mut active) = (Vec::new(), Vec::new(), Vec::new());
    // Alternate in blocks, each with a fresh service, so neither gets a warmer machine.
    for round in 0..2 {
        let service = Service::start(&ns, dir.path(), &["--bare"], &[("RUST_LOG", "warn")]).await;
        base.extend(baseline(&browser, starts / 2).await);
        drop(service);
        let service = Service::start(&ns, dir.path(), &[], &[("RUST_LOG", "warn")]).await;
        let (c, a) = playcast(&service, &browser, starts / 2).await;
        created.extend(c);
        active.extend(a);
        drop(service);
        eprintln!("round {} done", round + 1);
    }
    browser.close().await;
    println!("session start, test-pattern (1280x720@60), headless Chromium already running; {starts} starts each");
    println!("| what | p50 ms | p95 ms | p99 ms | n |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    println!("{}", row("baseline: open the plain page → peer connected", &mut base));
    println!("{}", row("playcast: create → connecting (API answer)", &mut created));
    println!("{}", row("playcast: create → active (page opened, peer connected)", &mut active));
    println!(
        "| ratio create → active / baseline | {:.2}x | {:.2}x | {:.2}x | |",
        percentile(&active, 50.0) / percentile(&base, 50.0),
        percentile(&active, 95.0) / percentile(&base, 95.0),
        percentile(&active, 99.0) / percentile(&base, 99.0)
    );
}
