//! Input-to-photon latency: a key pressed in headless Chromium, sent over the
//! stream's data channel, injected into the latency probe game's display, and
//! seen as a colour change in a presented frame (`src/client/photon.js`).
//! Playcast as shipped (the `linux-x11` pipeline file and the reference
//! client) against the bare baseline of the glass-to-glass benchmark: a fixed
//! 60 Hz `ximagesrc` capture, x264enc ultrafast/zerolatency, no extras, and the
//! plain page; both play the same probe game and press the same way.
//!
//! It also reports the one-way latency from the browser to the game: each
//! press's wall-clock send time against the time the probe logged the key.
//!
//! `--breakdown` also stamps each frame's capture time (as the glass-to-glass
//! benchmark does) and prints the capture-to-display part of the latency.
//! `--param NAME=VALUE` sets a pipeline parameter of Playcast's sessions
//! (for example `--param encoder_threads=0`), to compare settings.
//!
//! `cargo bench --bench input_to_photon -- [--presses N] [--rounds N] [--only 720p|1080p] [--breakdown] [--param NAME=VALUE]…`
//! (as root: it creates a network namespace).

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Duration;

use common::{percentile, Browser, Service, SERVICE_PORT};
use playcast::netns::Netns;

/// The baseline: fixed-rate capture of the game's display and a bare x264enc
/// sender (the service runs with `--bare`: no TWCC, no RTX, a plain queue).
const BASELINE: &str = r#"
description = "Benchmark baseline: fixed-rate X11 capture, bare x264enc sender"
[params]
display = { default = ":0" }
width = { default = 1280, min = 160, max = 3840 }
height = { default = 720, min = 120, max = 2160 }
framerate = { default = 60, min = 1, max = 144 }
bitrate = { default = 6000000, min = 250000, max = 50000000 }
[video]
source = "ximagesrc display-name=${display} use-damage=false ! video/x-raw,framerate=${framerate}/1 ! videoscale ! videoconvert ! video/x-raw,format=I420,width=${width},height=${height}"
[[video.encoders]]
element = "x264enc"
properties = "speed-preset=ultrafast tune=zerolatency"
bitrate = { property = "bitrate", unit = "kbit/s" }
profile = "constrained-baseline"
"#;

const GAMES: &str = r#"
[games.probe]
title = "Latency probe"
pipeline = "linux-x11"
command = ["playcast-probe"]

[games.probe-baseline]
title = "Latency probe, baseline sender"
pipeline = "baseline"
command = ["playcast-probe"]
"#;

struct Case {
    label: &'static str,
    width: u32,
    height: u32,
    bitrate: u32,
}

#[derive(Default)]
struct Run {
    samples: Vec<f64>,
    one_way: Vec<f64>,
    presses: u64,
    lost: u64,
    /// Presses whose one-way time could not be paired with the game's log.
    unpaired: u64,
    /// With `--breakdown`: capture-to-display latency of every frame.
    glass: Vec<f64>,
}

async fn measure(
    baseline: bool,
    case: &Case,
    presses: u32,
    breakdown: bool,
    pipelines: &std::path::Path,
    games: &str,
    extra: &serde_json::Map<String, serde_json::Value>,
) -> Run {
    let ns = Netns::create().expect("network namespace (run as root)");
    let mut args = Vec::new();
    if baseline {
        args.push("--bare");
    }
    if breakdown {
        args.push("--stamp");
    }
    let args = args.as_slice();
    let service =
        Service::start(&ns, pipelines, args, &[("RUST_LOG", "warn"), ("PLAYCAST__SESSIONS__GAMES_FILE", games)]).await;
    let token = service.dev_token("bench", "player").await;
    let game = if baseline { "probe-baseline" } else { "probe" };
    let mut params =
        serde_json::json!({ "width": case.width, "height": case.height, "framerate": 60, "bitrate": case.bitrate });
    if !baseline {
        params.as_object_mut().unwrap().extend(extra.clone());
    }
    let body = serde_json::json!({ "game": game, "params": params });
    let (status, view) = service.api(&token, reqwest::Method::POST, "sessions", Some(body)).await;
    assert_eq!(status, 201, "creating the probe session: {view}");
    let id = view["id"].as_str().unwrap().to_string();

    let browser = Browser::start(&ns).await;
    let page = if baseline { "baseline.html" } else { "" };
    let stamp = if breakdown { "&stamp=1" } else { "" };
    let url =
        format!("http://127.0.0.1:{SERVICE_PORT}/{page}?session={id}&user=bench&photon=1&presses={presses}{stamp}");
    browser.client.goto(&url).await.expect("open page");
    let timeout = Duration::from_secs(60 + u64::from(presses));
    browser.wait_for("window.photon && window.photon.done", timeout).await;
    let p = browser.eval("({ samples: window.photon.samples, sent: window.photon.sentAtMs, lost: window.photon.lost, presses: window.photon.presses, glass: window.stampRecorder ? Array.from(window.stampRecorder.samples) : [] })").await;
    browser.close().await;

    let floats = |v: &serde_json::Value| -> Vec<f64> {
        v.as_array().map(|a| a.iter().filter_map(|x| x.as_f64()).collect()).unwrap_or_default()
    };
    let log = std::fs::read_to_string(service.data_dir().join("run").join(&id).join("game.log")).unwrap_or_default();
    let received: Vec<f64> = log
        .lines()
        .filter_map(|l| l.rsplit_once(" at ").and_then(|(_, us)| us.trim().parse::<f64>().ok()))
        .map(|us| us / 1000.0)
        .collect();
    let sent = floats(&p["sent"]);
    // Each press is one line of the probe's log, in order; a count that does
    // not match means a press never reached the game, and pairing would lie.
    let (one_way, unpaired) = if received.len() == sent.len() {
        (sent.iter().zip(&received).map(|(s, r)| r - s).collect(), 0)
    } else {
        (Vec::new(), sent.len() as u64)
    };
    Run {
        samples: floats(&p["samples"]),
        one_way,
        presses: p["presses"].as_u64().unwrap_or(0),
        lost: p["lost"].as_u64().unwrap_or(0),
        unpaired,
        glass: floats(&p["glass"]),
    }
}

fn pool(runs: &[Run]) -> Run {
    let mut out = Run::default();
    for r in runs {
        out.samples.extend(&r.samples);
        out.one_way.extend(&r.one_way);
        out.presses += r.presses;
        out.lost += r.lost;
        out.unpaired += r.unpaired;
        out.glass.extend(&r.glass);
    }
    out.glass.sort_by(f64::total_cmp);
    out.samples.sort_by(f64::total_cmp);
    out.one_way.sort_by(f64::total_cmp);
    out
}

fn row(case: &str, run: &str, r: &Run) -> String {
    let (s, o) = (&r.samples, &r.one_way);
    format!(
        "| {case} | {run} | {:>6.1} | {:>6.1} | {:>6.1} | {:>5} | {:>4} | {:>6.2} | {:>6.2} | {:>6.2} |",
        percentile(s, 50.0),
        percentile(s, 95.0),
        percentile(s, 99.0),
        r.presses,
        r.lost,
        percentile(o, 50.0),
        percentile(o, 95.0),
        percentile(o, 99.0),
    )
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    common::require_root();
    let args: Vec<String> = std::env::args().collect();
    let opt = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let presses: u32 = opt("--presses").and_then(|s| s.parse().ok()).unwrap_or(100);
    let rounds: usize = opt("--rounds").and_then(|s| s.parse().ok()).unwrap_or(2);
    let only = opt("--only");
    let breakdown = args.iter().any(|a| a == "--breakdown");
    // `--param NAME=VALUE` (repeatable): a pipeline parameter for Playcast's sessions only.
    let extra: serde_json::Map<String, serde_json::Value> = args
        .windows(2)
        .filter(|w| w[0] == "--param")
        .map(|w| {
            let (name, value) = w[1].split_once('=').expect("--param takes NAME=VALUE");
            let value = serde_json::from_str(value).unwrap_or_else(|_| serde_json::Value::String(value.to_string()));
            (name.to_string(), value)
        })
        .collect();

    let dir = tempfile::tempdir().unwrap();
    let pipelines = dir.path().join("pipelines");
    std::fs::create_dir(&pipelines).unwrap();
    std::fs::copy(common::repo().join("pipelines/linux-x11.toml"), pipelines.join("linux-x11.toml")).unwrap();
    std::fs::write(pipelines.join("baseline.toml"), BASELINE).unwrap();
    let games = dir.path().join("games.toml");
    std::fs::write(&games, GAMES).unwrap();
    let games = games.to_string_lossy().into_owned();

    let cases = [
        Case { label: "720p60", width: 1280, height: 720, bitrate: 6_000_000 },
        Case { label: "1080p60", width: 1920, height: 1080, bitrate: 10_000_000 },
    ];
    println!(
        "input-to-photon, x264enc, headless Chromium, latency probe game; {rounds} alternating rounds of {presses} presses"
    );
    println!(
        "| case | run | p50 ms | p95 ms | p99 ms | presses | lost | one-way p50 ms | one-way p95 ms | one-way p99 ms |"
    );
    println!("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for case in &cases {
        if only.as_deref().is_some_and(|o| !case.label.starts_with(o)) {
            continue;
        }
        let (mut base_runs, mut our_runs) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            base_runs.push(measure(true, case, presses, breakdown, &pipelines, &games, &extra).await);
            our_runs.push(measure(false, case, presses, breakdown, &pipelines, &games, &extra).await);
        }
        let (base, ours) = (pool(&base_runs), pool(&our_runs));
        println!("{}", row(case.label, "baseline", &base));
        println!("{}", row(case.label, "playcast", &ours));
        let ratio = |p: f64| percentile(&ours.samples, p) / percentile(&base.samples, p);
        println!(
            "| {} | ratio | {:.2}x | {:.2}x | {:.2}x | | | | | |",
            case.label,
            ratio(50.0),
            ratio(95.0),
            ratio(99.0)
        );
        for (name, r) in [("baseline", &base), ("playcast", &ours)] {
            if breakdown {
                let g = &r.glass;
                println!(
                    "|  | {name}: capture-to-display p50 {:.1} ms, p99 {:.1} ms ({} frames) | | | | | | | | |",
                    percentile(g, 50.0),
                    percentile(g, 99.0),
                    g.len()
                );
            }
            if r.unpaired > 0 {
                println!("|  | {name}: {} presses not paired with the game's log (a press never reached it) | | | | | | | | |", r.unpaired);
            }
        }
    }
}
