//! Input end to end: the service with a games catalog of its own, the client
//! page live on a session, and what the session's X display and game saw.

use std::path::{Path, PathBuf};
use std::time::Duration;

use playcast::netns::Netns;
use x11rb::connection::Connection;
use x11rb::protocol::xproto::ConnectionExt as _;

use super::{Browser, Service, SERVICE_PORT};

/// A catalog of the latency-probe game alone, at 720p30: the app's tests launch it from the library.
pub const LATENCY_PROBE: &str = r#"
[games.latency-probe]
title = "Latency probe"
pipeline = "linux-x11"
command = ["playcast-probe"]
params = { width = 1280, height = 720, framerate = 30, bitrate = 2000000 }
"#;

pub struct Setup {
    pub ns: Netns,
    pub service: Service,
    _games: tempfile::TempDir,
}

/// The service in a namespace of its own, serving the `games` catalog (TOML).
pub async fn setup(games: &str) -> Setup {
    super::require_root();
    let ns = Netns::create().expect("network namespace");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("games.toml");
    std::fs::write(&file, games).unwrap();
    let file = file.to_string_lossy().into_owned();
    let service = Service::start(
        &ns,
        &super::repo().join("pipelines"),
        &[],
        &[("PLAYCAST__SESSIONS__GAMES_FILE", file.as_str())],
    )
    .await;
    Setup { ns, service, _games: dir }
}

pub async fn create_session(service: &Service, token: &str, game: &str) -> String {
    let (status, view) =
        service.api(token, reqwest::Method::POST, "sessions", Some(serde_json::json!({ "game": game }))).await;
    assert_eq!(status, 201, "creating a `{game}` session: {view}");
    view["id"].as_str().unwrap().to_string()
}

pub async fn view(service: &Service, token: &str, id: &str) -> serde_json::Value {
    service.api(token, reqwest::Method::GET, &format!("sessions/{id}"), None).await.1
}

/// The session's input counters (`input` of its view).
pub async fn counters(service: &Service, token: &str, id: &str) -> serde_json::Value {
    let v = view(service, token, id).await;
    assert!(v["input"].is_object(), "input counters in {v}");
    v["input"].clone()
}

/// `POST /api/v1/sessions/{id}/{action}` (pause, resume, end).
pub async fn act(service: &Service, token: &str, id: &str, action: &str) -> serde_json::Value {
    service.api(token, reqwest::Method::POST, &format!("sessions/{id}/{action}"), None).await.1
}

/// Opens the client on session `id` as `user` in `browser` and waits for
/// video and input; `role=viewer` when `viewer`.
pub async fn open_as(browser: &Browser, id: &str, user: &str, viewer: bool) {
    let role = if viewer { "&role=viewer" } else { "" };
    let url = format!("http://127.0.0.1:{SERVICE_PORT}/?session={id}&user={user}&overlay=1{role}");
    browser.client.goto(&url).await.expect("open the client page");
    browser
        .wait_for(
            "window.playcast.state === 'live' && window.playcast.input.ready && (window.playcast.stats?.framesDecoded ?? 0) > 0",
            Duration::from_secs(40),
        )
        .await;
    // The colour at the middle of the picture's top half, as decoded.
    browser
        .eval(
            "(window.centre = () => { const v = document.getElementById('video'); const c = document.createElement('canvas');
               c.width = 64; c.height = 36; const g = c.getContext('2d'); g.drawImage(v, 0, 0, 64, 36);
               return Array.from(g.getImageData(32, 9, 1, 1).data.slice(0, 3)); }, true)",
        )
        .await;
}

/// A new browser with the client live on session `id` as its player `user`.
pub async fn play(ns: &Netns, id: &str, user: &str) -> Browser {
    let browser = Browser::start(ns).await;
    open_as(&browser, id, user, false).await;
    browser
}

/// Waits until the decoded picture's colour is near `rgb`.
pub async fn wait_colour(browser: &Browser, rgb: [i64; 3]) {
    let [r, g, b] = rgb;
    let near = format!(
        "(() => {{ const [r, g, b] = window.centre(); return Math.abs(r - {r}) < 60 && Math.abs(g - {g}) < 60 && Math.abs(b - {b}) < 60; }})()"
    );
    browser.wait_for(&near, Duration::from_secs(10)).await;
}

/// The session's X display, from the API.
pub async fn display(service: &Service, token: &str, id: &str) -> String {
    let v = view(service, token, id).await;
    v["input"]["display"].as_str().unwrap_or_else(|| panic!("a display in {v}")).to_string()
}

pub fn keycode_of(conn: &impl Connection, keysym: u32) -> u8 {
    let setup = conn.setup();
    let (min, max) = (setup.min_keycode, setup.max_keycode);
    let map = conn.get_keyboard_mapping(min, max - min + 1).unwrap().reply().unwrap();
    let per = usize::from(map.keysyms_per_keycode);
    let i = map.keysyms.chunks(per).position(|c| c.contains(&keysym)).expect("keysym on the display");
    min + i as u8
}

pub fn key_down(conn: &impl Connection, keycode: u8) -> bool {
    let keys = conn.query_keymap().unwrap().reply().unwrap().keys;
    keys[usize::from(keycode / 8)] & (1 << (keycode % 8)) != 0
}

pub fn game_log(data: &Path, id: &str) -> PathBuf {
    data.join("run").join(id).join("game.log")
}

/// When the latency probe game (`playcast-probe`) of session `id` received
/// each key press or click, from its log (`colour N RRGGBB at MICROS`), in
/// Unix microseconds: what reached the game itself.
pub fn probe_presses(service: &Service, id: &str) -> Vec<u64> {
    let log = std::fs::read_to_string(game_log(service.data_dir(), id)).unwrap_or_default();
    log.lines()
        .filter(|l| l.starts_with("colour "))
        .map(|l| {
            let at = l.rsplit_once(" at ").and_then(|(_, t)| t.trim().parse().ok());
            at.unwrap_or_else(|| panic!("a time in the probe's line `{l}`"))
        })
        .collect()
}
