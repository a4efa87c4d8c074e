//! End to end: the service and headless Chromium in a private network
//! namespace; the reference client plays the test pattern over WebRTC.

mod common;

use std::time::Duration;

use common::{require_root, Browser, Service, SERVICE_PORT};
use playcast::netns::Netns;

const WIDTH: i64 = 1280;
const HEIGHT: i64 = 720;
const FPS: i64 = 60;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_decodes_the_stream_with_audio() {
    require_root();
    let ns = Netns::create().expect("network namespace");
    let service = Service::start(&ns, &common::repo().join("pipelines"), &[], &[]).await;
    let browser = Browser::start(&ns).await;
    let url = format!("http://127.0.0.1:{SERVICE_PORT}/?width={WIDTH}&height={HEIGHT}&framerate={FPS}&overlay=1");
    browser.client.goto(&url).await.expect("open the client page");

    browser.wait_for("window.playcast && window.playcast.state === 'live' && window.playcast.stats && window.playcast.stats.framesDecoded > 0", Duration::from_secs(30)).await;
    let welcome = browser.eval("window.playcast.welcome").await;
    assert_eq!(welcome["encoder"], "x264enc", "{welcome}");

    let inbound = "(await window.playcast.rawStats()).filter(s => s.type === 'inbound-rtp')";
    let before = browser.eval(inbound).await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    let after = browser.eval(inbound).await;

    let pick = |v: &serde_json::Value, kind: &str, field: &str| {
        v.as_array()
            .unwrap()
            .iter()
            .find(|s| s["kind"] == kind)
            .map(|s| s[field].as_f64().unwrap_or(0.0))
            .unwrap_or(0.0)
    };
    let decoded = pick(&after, "video", "framesDecoded") - pick(&before, "video", "framesDecoded");
    let expected = (FPS * 10) as f64;
    assert!(
        decoded >= 0.9 * expected,
        "decoded {decoded} frames in 10 s, expected at least 90% of {expected}; stats {after}"
    );
    assert_eq!(pick(&after, "video", "frameWidth") as i64, WIDTH, "{after}");
    assert_eq!(pick(&after, "video", "frameHeight") as i64, HEIGHT, "{after}");
    let audio = pick(&after, "audio", "packetsReceived") - pick(&before, "audio", "packetsReceived");
    // Opus at 10 ms frames: 100 packets a second.
    assert!(audio >= 500.0, "only {audio} audio packets in 10 s; stats {after}");

    // The session's quality monitor reads the browser's receiver reports.
    let admin = service.dev_token("root", "admin").await;
    let (_, sessions) = service.api(&admin, reqwest::Method::GET, "sessions", None).await;
    let live = sessions.as_array().unwrap().iter().find(|s| s["state"] == "active").cloned();
    let live = live.unwrap_or_else(|| panic!("an active session: {sessions}"));
    let rtt = live["quality"]["rtt_ms"].as_f64().unwrap_or_else(|| panic!("a round-trip time: {live}"));
    assert!((0.0..1000.0).contains(&rtt), "{live}");
    assert!(live["quality"]["loss"].as_f64().is_some(), "{live}");

    // Active ⇄ Paused with a real peer: frames stop, then come back.
    let id = live["id"].as_str().unwrap();
    let (svc, admin) = (&service, admin.as_str());
    let act = |action: &'static str| async move {
        svc.api(admin, reqwest::Method::POST, &format!("sessions/{id}/{action}"), None).await.1
    };
    let frames = || async { pick(&browser.eval(inbound).await, "video", "framesDecoded") };
    assert_eq!(act("pause").await["state"], "paused");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let f1 = frames().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let f2 = frames().await;
    assert!(f2 - f1 < 10.0, "{} frames decoded in 2 s while paused", f2 - f1);
    assert_eq!(act("resume").await["state"], "active");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let f3 = frames().await;
    assert!(f3 - f2 > 60.0, "only {} frames in 2 s after resuming", f3 - f2);

    let overlay = browser.eval("document.body.innerText").await;
    assert!(overlay.as_str().unwrap_or_default().contains("x264enc"), "overlay shows the encoder: {overlay}");

    // The service goes away and comes back: the page reconnects by itself.
    drop(service);
    browser.wait_for("window.playcast.state !== 'live'", Duration::from_secs(20)).await;
    let _service = Service::start(&ns, &common::repo().join("pipelines"), &[], &[]).await;
    browser
        .wait_for(
            "window.playcast.reconnects > 0 && window.playcast.state === 'live' && window.playcast.stats && window.playcast.stats.framesDecoded > 30",
            Duration::from_secs(40),
        )
        .await;
    browser.close().await;
}

/// Shapes all traffic inside the namespace (the service and the browser talk
/// over its loopback device) with a token bucket, or removes the shaping.
fn shape(ns: &Netns, rate: Option<&str>) {
    let mut tc = ns.command("tc");
    match rate {
        Some(r) => {
            tc.args(["qdisc", "replace", "dev", "lo", "root", "tbf", "rate", r, "burst", "64kb", "latency", "600ms"])
        }
        None => tc.args(["qdisc", "del", "dev", "lo", "root"]),
    };
    let out = tc.output().expect("tc runs (iproute2)");
    assert!(out.status.success(), "tc failed: {}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_congested_link_raises_a_quality_alert_and_recovery_clears_it() {
    require_root();
    let ns = Netns::create().expect("network namespace");
    let service = Service::start(&ns, &common::repo().join("pipelines"), &[], &[]).await;
    let browser = Browser::start(&ns).await;
    // Noise does not compress: the encoder really sends its 3 Mbit/s.
    let url =
        format!("http://127.0.0.1:{SERVICE_PORT}/?width=640&height=360&framerate=30&bitrate=3000000&pattern=snow");
    browser.client.goto(&url).await.expect("open the client page");
    browser
        .wait_for(
            "window.playcast.state === 'live' && (window.playcast.stats?.framesDecoded ?? 0) > 0",
            Duration::from_secs(30),
        )
        .await;
    let admin = service.dev_token("root", "admin").await;
    let (svc, admin) = (&service, admin.as_str());
    let get = |path: String| async move { svc.api(admin, reqwest::Method::GET, &path, None).await.1 };
    let id = common::eventually("an active session", Duration::from_secs(10), || async {
        let all = get("sessions".into()).await;
        all.as_array()?.iter().find(|s| s["state"] == "active").map(|s| s["id"].as_str().unwrap().to_string())
    })
    .await;
    let alerts = |history: &serde_json::Value, alert: &str| {
        history.as_array().map_or(0, |h| {
            h.iter().filter(|e| e["event"]["event"] == "quality" && e["event"]["alert"] == alert).count()
        })
    };

    // A link of 1 Mbit/s under a 3 Mbit/s stream: queues fill, delay and loss climb.
    shape(&ns, Some("1mbit"));
    let history = common::eventually("a `degraded` quality alert", Duration::from_secs(40), || async {
        let h = get(format!("sessions/{id}/events")).await;
        (alerts(&h, "degraded") > 0).then_some(h)
    })
    .await;
    let view = get(format!("sessions/{id}")).await;
    assert_eq!(view["state"], "active", "an alert does not end the session: {view}");

    // The link recovers: so does the session, with a `recovered` alert.
    shape(&ns, None);
    common::eventually("a `recovered` quality alert", Duration::from_secs(40), || async {
        let h = get(format!("sessions/{id}/events")).await;
        (alerts(&h, "recovered") > 0).then_some(())
    })
    .await;
    assert_eq!(alerts(&history, "recovered"), 0, "no recovery before the link recovered: {history}");
    browser.close().await;
}
