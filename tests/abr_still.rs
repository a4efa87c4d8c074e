//! A still picture is application-limited, not a slow link. The service in
//! one network namespace, headless Chromium in another, one veth link between
//! them shaped with a token bucket (`tc … tbf`, 300 ms of queue), as in
//! `benches/abr_link.rs`. The stream is the test pattern at 960x540@30 with
//! an 8 Mbit/s ceiling whose source plays 30 s of snow (noise: the encoder
//! spends what it is given), 60 s of still bars (0.15 Mbit/s with the sound) and
//! snow again. What the link offered is read from the queue every 50 ms.
//!
//! - On a link that stays at 20 Mbit/s, with a delay spike in the middle of
//!   the still minute (the rate falls to 64 kbit/s for 200 ms), the ladder
//!   step never goes down, and within a second of the motion's return the
//!   stream sends what it sent before, on the same step or a better one.
//! - On a link that falls to 3 Mbit/s during the still minute (nothing the
//!   still stream sends can show it), the motion's return finds the drop at
//!   once: the sent rate goes under the link and the ladder steps down.

mod common;

use std::time::{Duration, Instant};

use common::{offered_bps, offered_windows, require_root, Browser, LinkWatch, Service, SERVICE_PORT};
use playcast::netns::{Link, Netns};

const SNOW_S: u64 = 30;
const STILL_S: u64 = 60;
const FPS: u64 = 30;

/// The shipped test pattern with a source of snow, then bars, then snow.
fn still_then_motion_file() -> String {
    let text = std::fs::read_to_string(common::repo().join("pipelines/test-pattern.toml")).unwrap();
    let caps = "video/x-raw,format=I420,width=${width},height=${height},framerate=${framerate}/1";
    // Non-live sources one after another (concat), paced by the clock. The
    // bars are `smpte75`: `smpte` has a corner of noise, which is motion.
    let source = format!(
        "videotestsrc num-buffers={} pattern=snow ! {caps} ! concat name=phases \
         videotestsrc num-buffers={} pattern=smpte75 ! {caps} ! phases. \
         videotestsrc pattern=snow ! {caps} ! phases. phases. ! clocksync",
        SNOW_S * FPS,
        STILL_S * FPS
    );
    let start = text.find("source = \"videotestsrc").expect("test-pattern has a videotestsrc source");
    let end = start + text[start..].find('\n').unwrap();
    format!("{}source = \"{source}\"{}", &text[..start], &text[end..])
}

/// The service with that file, Chromium playing it across a 20 Mbit/s link.
struct Stage {
    server: Netns,
    _player: Netns,
    link: Link,
    watch: LinkWatch,
    service: Service,
    browser: Browser,
    _files: tempfile::TempDir,
}

impl Stage {
    async fn start() -> Stage {
        require_root();
        // The shipped files, and this one.
        let files = tempfile::tempdir().unwrap();
        for e in std::fs::read_dir(common::repo().join("pipelines")).unwrap() {
            let p = e.unwrap().path();
            std::fs::copy(&p, files.path().join(p.file_name().unwrap())).unwrap();
        }
        std::fs::write(files.path().join("still-then-motion.toml"), still_then_motion_file()).unwrap();
        let server = Netns::create().expect("network namespace");
        let player = Netns::create().expect("network namespace");
        let link = server.link(&player).expect("veth link between the namespaces");
        let service =
            Service::start(&server, files.path(), &[], &[("RUST_LOG", "warn"), common::DEV_ISSUER_ON_NETWORK]).await;
        let origin = format!("http://{}:{SERVICE_PORT}", link.here);
        let browser = Browser::start_for_origin(&player, &origin).await;
        let stage = Stage {
            watch: LinkWatch::start(&server, &link.here_if),
            server,
            _player: player,
            link,
            service,
            browser,
            _files: files,
        };
        stage.cap("20mbit");
        let url = format!("{origin}/?pipeline=still-then-motion&width=960&height=540&framerate={FPS}&bitrate=8000000");
        stage.browser.play(&url, 0, Duration::from_secs(40)).await;
        stage
    }

    fn cap(&self, rate: &str) {
        common::tbf(&self.server, &self.link.here_if, Some(rate), "32kb", "300ms");
    }

    /// The session's quality sample (the monitor takes one every 2 s).
    async fn quality(&self) -> serde_json::Value {
        let admin = self.service.dev_token("root", "admin").await;
        let id = self.service.active_session(&admin).await;
        let (_, v) = self.service.api(&admin, reqwest::Method::GET, &format!("sessions/{id}"), None).await;
        v["quality"].clone()
    }

    /// Waits for the snow at full rate; returns its offered rate and the step.
    async fn full_motion(&self) -> (f64, u64) {
        let q = common::eventually("the full rate on a 20 Mbit/s link", Duration::from_secs(20), || async {
            let q = self.quality().await;
            (q["sent_bps"].as_f64()? > 5_000_000.0 && q["estimate_bps"].as_f64()? > 5_000_000.0).then_some(q)
        })
        .await;
        // Two more samples: the step settles after the start-up's cuts.
        tokio::time::sleep(Duration::from_secs(4)).await;
        let q2 = self.quality().await;
        let rate = self.watch.recent_bps(Duration::from_secs(3));
        eprintln!("moving: offered {:.2} Mbit/s; {q} then {q2}", rate / 1e6);
        (rate, q2["ladder_step"].as_u64().expect("a ladder step"))
    }

    /// Waits until the picture stands still; returns when it did.
    async fn still(&self) -> Instant {
        common::eventually("a still picture", Duration::from_secs(SNOW_S + 10), || async {
            (self.watch.recent_bps(Duration::from_millis(600)) < 1_500_000.0).then(Instant::now)
        })
        .await
    }

    /// Samples the quality every second for `span`; returns the samples.
    async fn sample(&self, span: Duration) -> Vec<serde_json::Value> {
        let end = Instant::now() + span;
        let mut out = Vec::new();
        while Instant::now() < end {
            out.push(self.quality().await);
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        out
    }

    /// Waits for the motion to return (a 250 ms window over 3 Mbit/s after
    /// `since`); returns the end of that window.
    async fn motion(&self, since: Instant) -> Instant {
        common::eventually("the motion's return", Duration::from_secs(STILL_S), || async {
            let r = self.watch.between(since, Instant::now());
            offered_windows(&r, Duration::from_millis(250)).into_iter().find(|&(_, bps)| bps > 3_000_000.0).map(|w| w.0)
        })
        .await
    }

    /// The rate offered between two instants (from the readings nearest them).
    fn offered(&self, from: Instant, to: Instant) -> f64 {
        let r = self.watch.between(from, to);
        match (r.first(), r.last()) {
            (Some(a), Some(b)) if b.at > a.at => offered_bps(a, b),
            _ => f64::NAN,
        }
    }

    async fn close(self) {
        self.browser.close().await;
    }
}

fn steps(samples: &[serde_json::Value]) -> Vec<u64> {
    samples.iter().filter_map(|q| q["ladder_step"].as_u64()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_still_minute_with_a_delay_spike_keeps_the_step_and_motion_gets_the_rate_back_at_once() {
    let stage = Stage::start().await;
    let (before_bps, before_step) = stage.full_motion().await;
    let still_at = stage.still().await;
    let early = stage.sample(Duration::from_secs(20)).await;
    // A delay spike: for 200 ms the link carries 64 kbit/s, so what the still
    // picture sends meanwhile queues up to 200 ms (the token bucket keeps its
    // queue when its rate changes).
    stage.cap("64kbit");
    tokio::time::sleep(Duration::from_millis(200)).await;
    stage.cap("20mbit");
    let late = stage.sample(Duration::from_secs(20)).await;
    let moving_at = stage.motion(still_at + Duration::from_secs(STILL_S - 15)).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after_bps = stage.offered(moving_at, moving_at + Duration::from_secs(1));
    let still_bps = stage.offered(still_at + Duration::from_secs(5), still_at + Duration::from_secs(15));
    let after = stage.sample(Duration::from_secs(3)).await;
    eprintln!(
        "still {:.2} Mbit/s; still steps {:?} then {:?} (estimates {:?}); after {:.2} Mbit/s (before {:.2}), {after:?}",
        still_bps / 1e6,
        steps(&early),
        steps(&late),
        early.iter().chain(&late).map(|q| q["estimate_bps"].as_f64().unwrap_or(0.0) / 1e6).collect::<Vec<_>>(),
        after_bps / 1e6,
        before_bps / 1e6,
    );
    assert!(still_bps < 1_000_000.0, "the still picture sent {still_bps:.0} bit/s");
    // No step down while still, spike or not (0 is the best step).
    let during = steps(&early).into_iter().chain(steps(&late)).collect::<Vec<_>>();
    assert!(during.iter().all(|&s| s <= before_step), "steps {during:?} while still (step {before_step} before)");
    // Within a second of the motion's return: the rate it sent before, on the same step.
    assert!(
        after_bps >= 0.9 * before_bps,
        "{after_bps:.0} bit/s in the first second of motion, {before_bps:.0} before"
    );
    let after_steps = steps(&after);
    assert!(after_steps.iter().all(|&s| s <= before_step), "steps {after_steps:?} after the motion returned");
    stage.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_that_fell_to_3_mbits_while_still_is_found_when_motion_returns() {
    let stage = Stage::start().await;
    let (before_bps, before_step) = stage.full_motion().await;
    let still_at = stage.still().await;
    let early = stage.sample(Duration::from_secs(20)).await;
    stage.cap("3mbit");
    let late = stage.sample(Duration::from_secs(20)).await;
    let during = steps(&early).into_iter().chain(steps(&late)).collect::<Vec<_>>();
    // The still stream fits the smaller link: nothing shows the drop yet.
    assert!(during.iter().all(|&s| s <= before_step), "steps {during:?} while still (step {before_step} before)");
    let moving_at = stage.motion(still_at + Duration::from_secs(STILL_S - 15)).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    // Under the link within a second and a half: two 250 ms windows in a row.
    let r = stage.watch.between(moving_at, Instant::now());
    let w = offered_windows(&r, Duration::from_millis(250));
    let under = w.windows(2).find(|p| p[0].1 <= 3_000_000.0 && p[1].1 <= 3_000_000.0).map(|p| p[0].0 - moving_at);
    eprintln!(
        "before {:.2} Mbit/s on step {before_step}; after the motion returned: {:?}",
        before_bps / 1e6,
        w.iter()
            .map(|(at, bps)| (at.duration_since(moving_at).as_millis(), (bps / 1e5).round() / 10.0))
            .collect::<Vec<_>>()
    );
    let under = under.unwrap_or_else(|| panic!("never under 3 Mbit/s: {w:?}"));
    assert!(under <= Duration::from_millis(1500), "under the link only after {under:?}");
    // And the ladder steps down (the monitor samples every 2 s).
    let q = common::eventually("a step down", Duration::from_secs(6), || async {
        let q = stage.quality().await;
        (q["ladder_step"].as_u64()? > during.iter().copied().max().unwrap_or(before_step)).then_some(q)
    })
    .await;
    assert!(q["estimate_bps"].as_f64().unwrap() < 3_600_000.0, "{q}");
    let frames = stage
        .browser
        .eval("(await window.playcast.rawStats()).find(s => s.type === 'inbound-rtp' && s.kind === 'video').framesDecoded")
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let frames2 = stage
        .browser
        .eval("(await window.playcast.rawStats()).find(s => s.type === 'inbound-rtp' && s.kind === 'video').framesDecoded")
        .await;
    assert!(
        frames2.as_f64().unwrap_or(0.0) - frames.as_f64().unwrap_or(0.0) >= 30.0,
        "frames stopped: {frames} then {frames2}"
    );
    stage.close().await;
}
