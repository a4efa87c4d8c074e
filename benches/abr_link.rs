//! Adaptive bitrate under capacity steps. The service in one network
//! namespace, headless Chromium in another, one veth link between them whose
//! server side is a token bucket (`tc … tbf`, 300 ms of queue). A stream of
//! 960x540@30 snow (incompressible: the encoder spends what it is given) with
//! an 8 Mbit/s ceiling meets capacity steps 20 → 3 → 20 and 10 → 5 Mbit/s.
//!
//! The link's queue is read every 50 ms (`tc -s -j qdisc`): what entered it
//! (sent + dropped + backlog change) is the rate the service offered, the
//! backlog over the rate is the queueing delay. The browser's `freezeCount`
//! counts frozen pictures. Each step reports: time until the offered rate
//! stays under the capacity (two 250 ms windows in a row), queueing delay p95
//! over the step's first 10 s, freezes, link utilisation over its last 5 s,
//! and, going back up, the time until the offered rate is back to 90% of
//! what it was before the drop.
//!
//! The same scenario runs with adaptation on (the default), with the element
//! estimating only (`serve --abr-estimate-only`: the encoder keeps its
//! 8 Mbit/s), and through the webrtcsink output
//! (`pipelines/test-pattern-webrtcsink.toml`) with its own congestion control.
//!
//! `cargo bench --bench abr_link [-- --only adaptive|off|webrtcsink] [--runs N]`
//! (as root: it creates network namespaces). `--runs N` repeats each mode's
//! scenario N times in a row and prints every run: a figure that must hold
//! holds in each of them, not in the best.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{offered_windows as windows, percentile, Browser, LinkReading, LinkWatch, Service, SERVICE_PORT};
use playcast::netns::Netns;

struct StepResult {
    label: String,
    below_ms: Option<f64>,
    delay_p95_ms: f64,
    freezes: f64,
    utilisation: f64,
    climb_ms: Option<f64>,
}

fn fmt_ms(v: Option<f64>) -> String {
    v.map_or("never".into(), |v| format!("{v:.0}"))
}

struct Run<'a> {
    server: &'a Netns,
    dev: String,
    browser: &'a Browser,
    watch: LinkWatch,
}

impl Run<'_> {
    fn cap(&self, mbit: u32) {
        common::tbf(self.server, &self.dev, Some(&format!("{mbit}mbit")), "32kb", "300ms");
    }

    async fn freezes(&self) -> f64 {
        let v = self
            .browser
            .eval("(await window.playcast.rawStats()).find(s => s.type === 'inbound-rtp' && s.kind === 'video')")
            .await;
        v["freezeCount"].as_f64().unwrap_or(0.0)
    }

    /// Holds `mbit` for `hold`, after `from_mbit`; measures the step.
    async fn step(&self, from_mbit: u32, mbit: u32, hold: Duration, before_bps: f64) -> StepResult {
        let f0 = self.freezes().await;
        // Counters restart with a replaced qdisc: measure from its first reading.
        self.cap(mbit);
        let t0 = Instant::now();
        tokio::time::sleep(hold).await;
        let end = Instant::now();
        let f1 = self.freezes().await;
        let r = self.watch.between(t0 + Duration::from_millis(60), end);
        let cap_bps = f64::from(mbit) * 1e6;
        let w = windows(&r, Duration::from_millis(250));
        let below_ms = w
            .windows(2)
            .find(|p| p[0].1 <= cap_bps && p[1].1 <= cap_bps)
            .map(|p| p[0].0.duration_since(t0).as_secs_f64() * 1000.0 - 250.0)
            .map(|ms| ms.max(0.0));
        let mut delays: Vec<f64> = r
            .iter()
            .filter(|x| x.at.duration_since(t0) <= Duration::from_secs(10))
            .map(|x| x.backlog as f64 * 8.0 / cap_bps * 1000.0)
            .collect();
        delays.sort_by(f64::total_cmp);
        let last5: Vec<&LinkReading> =
            r.iter().filter(|x| end.duration_since(x.at) <= Duration::from_secs(5)).collect();
        let utilisation = match (last5.first(), last5.last()) {
            (Some(a), Some(b)) if b.at > a.at => {
                b.bytes.saturating_sub(a.bytes) as f64 * 8.0 / b.at.duration_since(a.at).as_secs_f64() / cap_bps
            }
            _ => f64::NAN,
        };
        let climb_ms = (mbit > from_mbit).then(|| {
            let w1 = windows(&r, Duration::from_secs(1));
            w1.iter()
                .find(|(_, bps)| *bps >= 0.9 * before_bps)
                .map(|(at, _)| at.duration_since(t0).as_secs_f64() * 1000.0)
        });
        StepResult {
            label: format!("{from_mbit} → {mbit} Mbit/s"),
            below_ms: (mbit < from_mbit).then_some(below_ms).flatten(),
            delay_p95_ms: if delays.is_empty() { f64::NAN } else { percentile(&delays, 95.0) },
            freezes: f1 - f0,
            utilisation,
            climb_ms: climb_ms.flatten(),
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Adaptive,
    EstimateOnly,
    Webrtcsink,
}

async fn scenario(mode: Mode) -> Vec<StepResult> {
    let server = Netns::create().expect("network namespace (run as root)");
    let player = Netns::create().expect("network namespace");
    let link = server.link(&player).expect("veth link");
    let args: &[&str] = if mode == Mode::EstimateOnly { &["--abr-estimate-only"] } else { &[] };
    let service = Service::start(
        &server,
        &common::repo().join("pipelines"),
        args,
        &[("RUST_LOG", "warn"), common::DEV_ISSUER_ON_NETWORK],
    )
    .await;
    let origin = format!("http://{}:{SERVICE_PORT}", link.here);
    let browser = Browser::start_for_origin(&player, &origin).await;
    let run = Run {
        server: &server,
        dev: link.here_if.clone(),
        browser: &browser,
        watch: LinkWatch::start(&server, &link.here_if),
    };
    run.cap(20);
    let pipeline = if mode == Mode::Webrtcsink { "test-pattern-webrtcsink" } else { "test-pattern" };
    let url = format!("{origin}/?pipeline={pipeline}&width=960&height=540&framerate=30&bitrate=8000000&pattern=snow");
    browser.play(&url, 0, Duration::from_secs(40)).await;
    tokio::time::sleep(Duration::from_secs(15)).await;
    let mut out = Vec::new();
    let steady = run.watch.recent_bps(Duration::from_secs(5));
    out.push(run.step(20, 3, Duration::from_secs(20), steady).await);
    out.push(run.step(3, 20, Duration::from_secs(40), steady).await);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let steady = run.watch.recent_bps(Duration::from_secs(5));
    out.push(run.step(20, 10, Duration::from_secs(10), steady).await);
    out.push(run.step(10, 5, Duration::from_secs(20), steady).await);
    drop(run);
    browser.close().await;
    drop(service);
    drop(link);
    out
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    common::require_root();
    let args: Vec<String> = std::env::args().collect();
    let only = args.iter().position(|a| a == "--only").and_then(|i| args.get(i + 1)).cloned();
    let runs: usize = args.iter().position(|a| a == "--runs").and_then(|i| args.get(i + 1)?.parse().ok()).unwrap_or(1);
    println!("adaptive bitrate, 960x540@30 snow, 8 Mbit/s ceiling, x264enc; tbf link with 300 ms of queue");
    println!("| mode | run | step | under capacity after (ms) | queueing delay p95 (ms) | freezes | utilisation (last 5 s) | climb back (ms) |");
    println!("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |");
    let modes = [
        (Mode::Adaptive, "adaptive", "adaptive (playcastabr)"),
        (Mode::EstimateOnly, "off", "adaptation off (estimate only)"),
        (Mode::Webrtcsink, "webrtcsink", "webrtcsink output (its GCC)"),
    ];
    for (mode, key, name) in modes {
        if only.as_deref().is_some_and(|o| o != key) {
            continue;
        }
        for run in 1..=runs {
            let started = Instant::now();
            for s in scenario(mode).await {
                println!(
                    "| {name} | {run} | {} | {} | {:.0} | {:.0} | {:.0}% | {} |",
                    s.label,
                    if s.label.starts_with("3 →") || s.label.starts_with("20 → 10") {
                        "–".into()
                    } else {
                        fmt_ms(s.below_ms)
                    },
                    s.delay_p95_ms,
                    s.freezes,
                    s.utilisation * 100.0,
                    if s.label.starts_with("3 →") { fmt_ms(s.climb_ms) } else { "–".into() },
                );
            }
            eprintln!("{name}, run {run}: {:.0} s", started.elapsed().as_secs_f64());
        }
    }
}
