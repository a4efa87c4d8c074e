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
    // Opus at 20 ms frames (the file's default): 50 packets a second.
    assert!(audio >= 450.0, "only {audio} audio packets in 10 s; stats {after}");

    // The session's quality monitor reads the browser's receiver reports.
    let admin = service.dev_token("root", "admin").await;
    let (_, sessions) = service.api(&admin, reqwest::Method::GET, "sessions", None).await;
    let live = sessions.as_array().unwrap().iter().find(|s| s["state"] == "active").cloned();
    let live = live.unwrap_or_else(|| panic!("an active session: {sessions}"));
    let rtt = live["quality"]["rtt_ms"].as_f64().unwrap_or_else(|| panic!("a round-trip time: {live}"));
    assert!((0.0..1000.0).contains(&rtt), "{live}");
    assert!(live["quality"]["loss"].as_f64().is_some(), "{live}");
    let jitter = live["quality"]["jitter_ms"].as_f64().unwrap_or_else(|| panic!("the remote jitter: {live}"));
    assert!((0.0..1000.0).contains(&jitter), "{live}");

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_congested_link_raises_a_quality_alert_and_recovery_clears_it() {
    require_root();
    let ns = Netns::create().expect("network namespace");
    let service = Service::start(&ns, &common::repo().join("pipelines"), &[], &[]).await;
    let browser = Browser::start(&ns).await;
    // Noise does not compress: the encoder really sends its 3 Mbit/s.
    let url =
        format!("http://127.0.0.1:{SERVICE_PORT}/?width=640&height=360&framerate=30&bitrate=3000000&pattern=snow");
    browser.play(&url, 0, Duration::from_secs(30)).await;
    let admin = service.dev_token("root", "admin").await;
    let id = service.active_session(&admin).await;
    let (svc, admin) = (&service, admin.as_str());
    let get = |path: String| async move { svc.api(admin, reqwest::Method::GET, &path, None).await.1 };
    let alerts = |history: &serde_json::Value, alert: &str| {
        history.as_array().map_or(0, |h| {
            h.iter().filter(|e| e["event"]["event"] == "quality" && e["event"]["alert"] == alert).count()
        })
    };

    // A link of 200 kbit/s, under even the adaptive bitrate's floor (300
    // kbit/s of video and the audio): queues fill, delay and loss climb.
    // (The service and the browser talk over the namespace's loopback.)
    common::tbf(&ns, "lo", Some("200kbit"), "64kb", "600ms");
    let history = common::eventually("a `degraded` quality alert", Duration::from_secs(40), || async {
        let h = get(format!("sessions/{id}/events")).await;
        (alerts(&h, "degraded") > 0).then_some(h)
    })
    .await;
    let view = get(format!("sessions/{id}")).await;
    assert_eq!(view["state"], "active", "an alert does not end the session: {view}");

    // The link recovers: so does the session, with a `recovered` alert.
    common::tbf(&ns, "lo", None, "", "");
    common::eventually("a `recovered` quality alert", Duration::from_secs(40), || async {
        let h = get(format!("sessions/{id}/events")).await;
        (alerts(&h, "recovered") > 0).then_some(())
    })
    .await;
    assert_eq!(alerts(&history, "recovered"), 0, "no recovery before the link recovered: {history}");
    browser.close().await;
}

/// The service in one namespace, Chromium in another, one veth link between
/// them shaped with a token bucket from 20 to 3 Mbit/s and back: the
/// adaptive-bitrate element brings what is sent under the cap, frames keep
/// arriving, and the rate climbs again when the capacity returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adaptive_bitrate_follows_a_link_from_20_to_3_mbits_and_back() {
    require_root();
    let server_ns = Netns::create().expect("network namespace");
    let player_ns = Netns::create().expect("network namespace");
    let link = server_ns.link(&player_ns).expect("veth link between the namespaces");
    let service =
        Service::start(&server_ns, &common::repo().join("pipelines"), &[], &[common::DEV_ISSUER_ON_NETWORK]).await;
    let origin = format!("http://{}:{SERVICE_PORT}", link.here);
    let browser = Browser::start_for_origin(&player_ns, &origin).await;
    // The link as the media sees it: only the server's sending side is capped.
    let cap = |rate: &str| common::tbf(&server_ns, &link.here_if, Some(rate), "32kb", "300ms");
    cap("20mbit");
    // Noise does not compress: the encoder really spends what it is given.
    let url = format!("{origin}/?width=960&height=540&framerate=30&bitrate=8000000&pattern=snow&overlay=1");
    browser.play(&url, 0, Duration::from_secs(40)).await;
    let admin = service.dev_token("root", "admin").await;
    let id = service.active_session(&admin).await;
    let (svc, admin) = (&service, admin.as_str());
    let get = |path: String| async move { svc.api(admin, reqwest::Method::GET, &path, None).await.1 };
    let quality = |field: &'static str| {
        let id = id.clone();
        move |v: &serde_json::Value| v["quality"][field].as_f64().unwrap_or_else(|| panic!("{field} of {id}: {v}"))
    };
    let (sent, estimate) = (quality("sent_bps"), quality("estimate_bps"));
    let frames = || async {
        let v = browser
            .eval("(await window.playcast.rawStats()).find(s => s.type === 'inbound-rtp' && s.kind === 'video')")
            .await;
        v["framesDecoded"].as_f64().unwrap_or(0.0)
    };

    // At 20 Mbit/s the stream sends what it was asked for (8 Mbit/s of snow).
    let high = common::eventually("the full rate on a 20 Mbit/s link", Duration::from_secs(30), || async {
        let v = get(format!("sessions/{id}")).await;
        // (The first seconds' burst of key frame and start-up can cost a cut.)
        (v["quality"]["sent_bps"].as_f64()? > 5_000_000.0 && v["quality"]["estimate_bps"].as_f64()? > 5_000_000.0)
            .then_some(v)
    })
    .await;
    assert!(estimate(&high) > 5_000_000.0, "{high}");

    cap("3mbit");
    let capped_at = std::time::Instant::now();
    let low = common::eventually("sending under a 3 Mbit/s cap", Duration::from_secs(20), || async {
        let v = get(format!("sessions/{id}")).await;
        (v["quality"]["sent_bps"].as_f64()? < 3_000_000.0 && v["quality"]["estimate_bps"].as_f64()? < 3_000_000.0)
            .then_some(v)
    })
    .await;
    eprintln!("under the cap after {:?}: {low}", capped_at.elapsed());
    // Frames keep coming while capped.
    let f0 = frames().await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    let f1 = frames().await;
    let during = get(format!("sessions/{id}")).await;
    assert!(f1 - f0 >= 60.0, "{} frames decoded in 6 s under the cap: {during}", f1 - f0);
    assert!(sent(&during) < 3_000_000.0, "{during}");
    assert_eq!(during["state"], "active", "{during}");
    // Prometheus sees the same figures.
    let metrics = reqwest::get(format!("{}/metrics", service.base)).await.unwrap().text().await.unwrap();
    let series = |name: &str| {
        let prefix = format!("{name}{{");
        metrics
            .lines()
            .find(|l| l.starts_with(&prefix) && l.contains(&format!("session=\"{id}\"")))
            .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .unwrap_or_else(|| panic!("{name} for {id} missing from:\n{metrics}"))
    };
    // The estimate probes a little above the link before each cut (8 % a
    // second), so at any one moment it may stand just over the cap; what is
    // sent (asserted above) stays under it.
    let probing = 1.2 * 3_000_000.0;
    assert!(series("playcast_stream_estimated_bits_per_second") < probing, "{metrics}");
    assert!(series("playcast_stream_fps") > 10.0, "{metrics}");
    assert!(series("playcast_stream_packets_sent_total") > 1000.0, "{metrics}");
    // And the player's page, through signaling's `quality` messages, in its overlay.
    let seen = browser.eval("window.playcast.server").await;
    assert!(seen["estimate_bps"].as_f64().is_some_and(|e| e < probing), "{seen}");
    let overlay = browser.eval("document.getElementById('overlay').textContent").await;
    let overlay = overlay.as_str().unwrap_or_default();
    assert!(overlay.lines().any(|l| l.starts_with("estimate") && l.contains("bit/s")), "{overlay}");

    cap("20mbit");
    let back = common::eventually("climbing back on a 20 Mbit/s link", Duration::from_secs(60), || async {
        let v = get(format!("sessions/{id}")).await;
        (v["quality"]["sent_bps"].as_f64()? > 4_500_000.0).then_some(v)
    })
    .await;
    eprintln!("back up: {back}");
    let f2 = frames().await;
    assert!(f2 > f1, "frames stopped after the link recovered");
    browser.close().await;
    drop(link);
}

/// The second output: a pipeline file with `output = "webrtcsink"` plays in
/// the same reference client through Playcast's signaling, auth and session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webrtcsink_output_plays_in_the_reference_client() {
    require_root();
    let ns = Netns::create().expect("network namespace");
    let service = Service::start(&ns, &common::repo().join("pipelines"), &[], &[]).await;
    let browser = Browser::start(&ns).await;
    let url = format!(
        "http://127.0.0.1:{SERVICE_PORT}/?pipeline=test-pattern-webrtcsink&width=640&height=360&framerate=30&overlay=1"
    );
    browser.play(&url, 60, Duration::from_secs(60)).await;
    let welcome = browser.eval("window.playcast.welcome").await;
    assert_eq!(welcome["encoder"], "webrtcsink", "{welcome}");
    assert_eq!(welcome["pipeline"], "test-pattern-webrtcsink", "{welcome}");
    let stats = browser.eval("window.playcast.stats").await;
    assert_eq!(stats["width"], 640, "{stats}");
    // It is a session like any other: the API sees it active.
    let admin = service.dev_token("root", "admin").await;
    let (_, sessions) = service.api(&admin, reqwest::Method::GET, "sessions", None).await;
    let live = sessions.as_array().unwrap().iter().find(|s| s["state"] == "active").cloned();
    let live = live.unwrap_or_else(|| panic!("an active session: {sessions}"));
    assert_eq!(live["pipeline"], "test-pattern-webrtcsink", "{live}");
    let f0 = browser.eval("window.playcast.stats.framesDecoded").await.as_f64().unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let f1 = browser.eval("window.playcast.stats.framesDecoded").await.as_f64().unwrap();
    assert!(f1 - f0 > 45.0, "{} frames in 3 s at 30 fps", f1 - f0);
    browser.close().await;
}
