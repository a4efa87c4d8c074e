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
//! The app mode is the path players take: the React app at `/`, signed in
//! once (development issuer, player role) before any timing. Each start
//! clicks the `test-pattern` game's Play button in the library; the clock
//! (the page's own, `performance.now()`) stops when the play page's `<video>`
//! has decoded its first frame. It also notes when the create request was
//! answered (the app moves to `/play/<id>`) and when the app saw the session
//! `active`. The session is then ended through the API and the app goes back
//! to the library through its own link.
//!
//! `cargo bench --bench session_start -- [--starts N]` (as root: it creates a network namespace).

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{percentile, Browser, Service, SERVICE_PORT};
use fantoccini::Locator;
use playcast::netns::Netns;

/// The library's Play button for the `test-pattern` game (its title in config/games.toml).
const PLAY: &str = "button[aria-label='Play Test pattern']";

/// Clicks Play and resolves, in the page's clock, with the ms from the click to
/// the create answer (the app navigates to `/play/<id>`), to the app seeing the
/// session `active`, and to the first decoded frame of the play page's `<video>`.
const LAUNCH: &str = r#"new Promise((resolve, reject) => {
  const button = document.querySelector("button[aria-label='Play Test pattern']");
  if (!button || button.disabled) return reject(new Error('no enabled Play button'));
  const out = {};
  const t0 = performance.now();
  const mark = (k) => { if (out[k] === undefined) out[k] = performance.now() - t0; };
  const seen = new WeakSet();
  const check = () => {
    if (location.pathname.startsWith('/play/')) { mark('created'); out.id = location.pathname.split('/')[2]; }
    if (document.body.dataset.sessionState === 'active') mark('active');
    const v = document.querySelector('.surface video');
    if (v && !seen.has(v) && v.requestVideoFrameCallback) {
      seen.add(v);
      v.requestVideoFrameCallback(() => mark('frame'));
    }
    if (v && v.getVideoPlaybackQuality().totalVideoFrames > 0) mark('frame');
    // The events socket may tell the app `active` after the first frame: wait for both.
    if (out.frame !== undefined && out.active !== undefined) {
      mark('created');
      clearInterval(timer);
      resolve(out);
    } else if (performance.now() - t0 > 25000) {
      clearInterval(timer);
      reject(new Error('no first frame and active in 25 s: ' + JSON.stringify(out) + ' ' + document.body.innerText.slice(0, 400)));
    }
  };
  const timer = setInterval(check, 2);
  button.click();
  check();
})"#;

/// App starts: (click → create answered, click → active, click → first frame) in ms.
struct AppStarts {
    created: Vec<f64>,
    active: Vec<f64>,
    frame: Vec<f64>,
}

/// Opens the app and signs in through its development form as `bench`, player.
async fn sign_in(browser: &Browser) {
    browser.client.goto(&format!("http://127.0.0.1:{SERVICE_PORT}/")).await.expect("open the app");
    let signed_in = "!!document.getElementById('signin-name') || !!document.querySelector('.who')";
    browser.wait_for(signed_in, Duration::from_secs(20)).await;
    // A token from the previous service's issuer is no good for this one: sign in afresh.
    if browser.eval("!!document.querySelector('.who')").await == true {
        browser.client.find(Locator::Css(".who button.signout")).await.expect("sign-out").click().await.unwrap();
        browser.wait_for("!!document.getElementById('signin-name')", Duration::from_secs(20)).await;
    }
    browser.client.find(Locator::Id("signin-name")).await.unwrap().send_keys("bench").await.unwrap();
    browser.client.find(Locator::Id("signin-role")).await.unwrap().select_by_value("player").await.unwrap();
    browser.client.find(Locator::Css("form button[type=submit]")).await.unwrap().click().await.unwrap();
    browser.wait_for("!!document.querySelector('.who')", Duration::from_secs(20)).await;
}

/// Times `starts` launches from the app's library, signed in once before the first.
async fn app(service: &Service, browser: &Browser, starts: usize) -> AppStarts {
    let token = service.dev_token("bench", "player").await;
    sign_in(browser).await;
    let ready = format!("!!document.querySelector(\"{PLAY}\") && !document.querySelector(\"{PLAY}\").disabled");
    let mut out = AppStarts { created: Vec::new(), active: Vec::new(), frame: Vec::new() };
    for _ in 0..starts {
        browser.wait_for(&ready, Duration::from_secs(20)).await;
        let v = browser.eval(LAUNCH).await;
        assert!(v.get("__error").is_none(), "launch from the app: {v}");
        let ms = |k: &str| v[k].as_f64().unwrap_or_else(|| panic!("`{k}` in {v}"));
        out.created.push(ms("created"));
        out.active.push(ms("active"));
        out.frame.push(ms("frame"));
        if std::env::var_os("SESSION_START_TRACE").is_some() {
            eprintln!(
                "app: created {:.0} ms, active {:.0} ms, first frame {:.0} ms",
                ms("created"),
                ms("active"),
                ms("frame")
            );
        }
        let id = v["id"].as_str().unwrap_or_else(|| panic!("a session id: {v}")).to_string();
        service.api(&token, reqwest::Method::POST, &format!("sessions/{id}/end"), None).await;
        let back = "document.querySelector(\".progress a[href='/']\")";
        browser.wait_for(&format!("!!{back}"), Duration::from_secs(20)).await;
        browser.client.find(Locator::Css(".progress a[href='/']")).await.unwrap().click().await.unwrap();
    }
    out
}

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
    let mut launched = AppStarts { created: Vec::new(), active: Vec::new(), frame: Vec::new() };
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
        let service = Service::start(&ns, dir.path(), &[], &[("RUST_LOG", "warn")]).await;
        let l = app(&service, &browser, starts / 2).await;
        launched.created.extend(l.created);
        launched.active.extend(l.active);
        launched.frame.extend(l.frame);
        browser.client.goto("about:blank").await.expect("leave the app");
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
    println!("{}", row("app: click Play → create answered (app on /play/ID)", &mut launched.created));
    println!("{}", row("app: click Play → active (as the app saw it)", &mut launched.active));
    println!("{}", row("app: click Play → first decoded frame", &mut launched.frame));
    println!(
        "| ratio click → first frame / baseline | {:.2}x | {:.2}x | {:.2}x | |",
        percentile(&launched.frame, 50.0) / percentile(&base, 50.0),
        percentile(&launched.frame, 95.0) / percentile(&base, 95.0),
        percentile(&launched.frame, 99.0) / percentile(&base, 99.0)
    );
    println!(
        "| ratio create → active / baseline | {:.2}x | {:.2}x | {:.2}x | |",
        percentile(&active, 50.0) / percentile(&base, 50.0),
        percentile(&active, 95.0) / percentile(&base, 95.0),
        percentile(&active, 99.0) / percentile(&base, 99.0)
    );
}
