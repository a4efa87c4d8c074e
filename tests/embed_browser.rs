//! The embeddable player end to end: headless Chromium opens the example page,
//! whose `<playcast-player>` (the `playcast-player.js` module the service
//! serves) plays a test pattern of its own through the element's events.

mod common;

use std::time::Duration;

use common::{require_root, Browser, Service, SERVICE_PORT};
use playcast::netns::Netns;

const WIDTH: i64 = 640;
const HEIGHT: i64 = 360;

/// The element's shadow root, as page script reaches it.
const PLAYER: &str = "document.querySelector('playcast-player')";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_element_plays_a_stream_and_reports_it() {
    require_root();
    let ns = Netns::create().expect("network namespace");
    let service = Service::start(&ns, &common::repo().join("pipelines"), &[], &[]).await;
    let browser = Browser::start(&ns).await;
    let url = format!("http://127.0.0.1:{SERVICE_PORT}/embed-example.html?width={WIDTH}&height={HEIGHT}&framerate=30");
    browser.client.goto(&url).await.expect("open the example page");

    // `statechange` reached live, and `stats` events report decoded frames.
    browser
        .wait_for(
            "window.embed && window.embed.states.includes('live') && (window.embed.stats?.framesDecoded ?? 0) > 10",
            Duration::from_secs(40),
        )
        .await;
    let embed = browser.eval("window.embed").await;
    let states: Vec<&str> = embed["states"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
    assert_eq!(states.first(), Some(&"connecting"), "{embed}");
    assert!(embed["errors"].as_array().unwrap().is_empty(), "{embed}");
    assert_eq!(embed["stats"]["width"], WIDTH, "{embed}");
    assert_eq!(embed["stats"]["height"], HEIGHT, "{embed}");
    assert_eq!(browser.eval(&format!("{PLAYER}.state")).await, "live");

    // The picture is decoded and presented inside the element's shadow root, and
    // keeps coming; the player's styles stay there too.
    let shown = browser
        .eval(&format!(
            "(() => {{ const v = {PLAYER}.shadowRoot.querySelector('video');
                 return {{ w: v.videoWidth, h: v.videoHeight, t: v.currentTime, paused: v.paused }}; }})()"
        ))
        .await;
    assert_eq!(shown["w"], WIDTH, "{shown}");
    assert_eq!(shown["h"], HEIGHT, "{shown}");
    assert_eq!(shown["paused"], false, "{shown}");
    let decoded = |v: &serde_json::Value| v.as_f64().unwrap_or(0.0);
    let before = decoded(&browser.eval("window.embed.stats.framesDecoded").await);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = decoded(&browser.eval("window.embed.stats.framesDecoded").await);
    assert!(after - before >= 45.0, "{} frames decoded in 3 s at 30 fps", after - before);
    let leaked =
        browser.eval("document.querySelectorAll('style[data-playcast-player], .playcast-player').length").await;
    assert_eq!(leaked, 0, "the player's styles and elements stay in the shadow root");

    // The overlay property shows the figures inside the element.
    browser.eval(&format!("({PLAYER}.overlay = true, true)")).await;
    browser
        .wait_for(
            &format!("{PLAYER}.shadowRoot.querySelector('.pc-overlay').textContent.includes('decoded fps')"),
            Duration::from_secs(5),
        )
        .await;

    // close() ends the stream for good: `ended`, and the service's session goes.
    browser.eval(&format!("({PLAYER}.close(), true)")).await;
    browser.wait_for("window.embed.ended !== null", Duration::from_secs(5)).await;
    assert_eq!(browser.eval("window.embed.ended.reason").await, "closed");
    let admin = service.dev_token("root", "admin").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let (_, sessions) = service.api(&admin, reqwest::Method::GET, "sessions", None).await;
        let active = sessions.as_array().unwrap().iter().filter(|s| s["state"] == "active").count();
        if active == 0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the stream's session is still active: {sessions}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    browser.close().await;
}
