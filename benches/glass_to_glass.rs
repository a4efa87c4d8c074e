//! Glass-to-glass latency: Playcast against a bare webrtcbin baseline, both
//! measured the same way in the same run.
//!
//! Each raw frame carries its capture time in a pixel strip (`media::stamp`);
//! headless Chromium reads it back in `requestVideoFrameCallback` when the
//! frame is presented. Service and browser run in a private network namespace.
//!
//! `cargo bench --bench glass_to_glass -- [--seconds N] [--rounds N] [--only 720p|1080p] [--scene still|moving] [--unthrottled] [--threads]`
//! (as root: it creates a network namespace).
//!
//! Headless Chromium composites on a 60 Hz tick, as a display does. Its phase
//! against a 60 fps source stays fixed for a whole run, so one run lands
//! anywhere in a 16.7 ms window: baseline and Playcast runs alternate,
//! `--rounds` times each, and percentiles are taken over the pooled samples.
//! `--unthrottled` composites without the tick (`--disable-gpu-vsync
//! --disable-frame-rate-limit`), a diagnostic view of the pipeline alone.
//! `--threads` adds the service's CPU by thread name for each case.

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{Browser, Service, SERVICE_PORT};
use playcast::netns::Netns;

struct Case {
    label: &'static str,
    width: u32,
    height: u32,
    bitrate: u32,
    scene: &'static str,
    motion: u32,
}

#[derive(Debug, Default, Clone)]
struct Figures {
    samples: f64,
    raw: Vec<f64>,
    p50: f64,
    p95: f64,
    p99: f64,
    decoded_fps: f64,
    presented_fps: f64,
    cpu_pct: f64,
    undecodable: f64,
    /// CPU % of one core by thread name (see `threads_between`).
    threads: BTreeMap<String, f64>,
}

/// User + system ticks and the thread or process name of a `/proc/…/stat` file.
fn stat_ticks(path: &Path) -> Option<(String, u64)> {
    let stat = std::fs::read_to_string(path).ok()?;
    let (head, rest) = stat.rsplit_once(')')?;
    let name = head.split_once('(').map(|(_, n)| n.to_string()).unwrap_or_default();
    // Fields after the command name (which may hold spaces): utime is 14th, stime 15th overall.
    let f: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| f.get(i).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
    Some((name, field(11) + field(12)))
}

fn cpu_ticks(pid: u32) -> u64 {
    stat_ticks(Path::new(&format!("/proc/{pid}/stat"))).map_or(0, |(_, t)| t)
}

/// Ticks per live thread, keyed by thread id.
fn thread_ticks(pid: u32) -> BTreeMap<String, (String, u64)> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return BTreeMap::new() };
    dir.flatten()
        .filter_map(|t| Some((t.file_name().to_string_lossy().into_owned(), stat_ticks(&t.path().join("stat"))?)))
        .collect()
}

/// CPU % of one core per thread name over a window, numbers in names folded
/// to `#` so that `queue3:src` and `queue7:src` count together. Threads that
/// ended inside the window are missing: they are short-lived here.
fn threads_between(
    before: &BTreeMap<String, (String, u64)>,
    after: &BTreeMap<String, (String, u64)>,
    seconds: f64,
) -> BTreeMap<String, f64> {
    let mut by_name = BTreeMap::new();
    for (tid, (name, ticks)) in after {
        let start = before.get(tid).map_or(0, |(_, t)| *t);
        *by_name.entry(fold_digits(name)).or_insert(0.0) +=
            (ticks - start.min(*ticks)) as f64 / 100.0 / seconds * 100.0;
    }
    by_name
}

/// A thread name with each run of digits as one `#`.
fn fold_digits(name: &str) -> String {
    let mut folded = String::with_capacity(name.len());
    for c in name.chars() {
        if !c.is_ascii_digit() {
            folded.push(c);
        } else if !folded.ends_with('#') {
            folded.push('#');
        }
    }
    folded
}

/// What a run measures beyond its case.
struct Setup<'a> {
    baseline: bool,
    chrome: &'a [&'a str],
    /// Playcast runs only: the plain page instead of the reference client.
    plain_page: bool,
    /// Playcast runs only: extra query parameters (pipeline parameters).
    extra_query: &'a str,
    /// Playcast runs only: extra `playcast serve` flags.
    extra_serve: &'a [&'a str],
}

async fn measure(setup: &Setup<'_>, case: &Case, seconds: u64, pipelines: &Path) -> Figures {
    let (baseline, chrome) = (setup.baseline, setup.chrome);
    let ns = Netns::create().expect("network namespace (run as root)");
    let mut args = vec!["--stamp"];
    if baseline {
        args.push("--bare");
    } else {
        args.extend(setup.extra_serve);
    }
    let service = Service::start(&ns, pipelines, &args, &[("RUST_LOG", "warn")]).await;
    let browser = Browser::start_with(&ns, chrome).await;
    let query = format!(
        "width={}&height={}&framerate=60&bitrate={}&pattern=smpte&motion={}",
        case.width, case.height, case.bitrate, case.motion
    );
    let url = if baseline {
        format!("http://127.0.0.1:{SERVICE_PORT}/baseline.html?pipeline=baseline&{query}")
    } else if setup.plain_page {
        format!("http://127.0.0.1:{SERVICE_PORT}/baseline.html?pipeline=test-pattern&{query}&{}", setup.extra_query)
    } else {
        format!("http://127.0.0.1:{SERVICE_PORT}/?stamp=1&{query}&{}", setup.extra_query)
    };
    browser.client.goto(&url).await.expect("open page");
    browser.wait_for("window.stampRecorder && window.stampRecorder.samples.length > 30", Duration::from_secs(40)).await;
    // Let the encoder rate control and the receiver settle.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let decoded = "(await window.playcast.rawStats()).filter(s => s.type === 'inbound-rtp' && s.kind === 'video').map(s => s.framesDecoded)[0] || 0";
    browser.eval("window.stampRecorder.reset()").await;
    let d0 = browser.eval(decoded).await.as_f64().unwrap_or(0.0);
    let pid = service.proc.0.id();
    let (c0, th0, t0) = (cpu_ticks(pid), thread_ticks(pid), Instant::now());
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let (c1, th1, elapsed) = (cpu_ticks(pid), thread_ticks(pid), t0.elapsed().as_secs_f64());
    let d1 = browser.eval(decoded).await.as_f64().unwrap_or(0.0);
    let s = browser
        .eval("Object.assign(window.stampRecorder.summary(), {undecodable: window.stampRecorder.undecodable, raw: Array.from(window.stampRecorder.samples)})")
        .await;
    browser.close().await;
    let ticks_per_sec = 100.0; // USER_HZ on Linux
    let get = |k: &str| s[k].as_f64().unwrap_or(f64::NAN);
    Figures {
        samples: get("count"),
        raw: s["raw"].as_array().map(|a| a.iter().filter_map(|v| v.as_f64()).collect()).unwrap_or_default(),
        p50: get("p50"),
        p95: get("p95"),
        p99: get("p99"),
        decoded_fps: (d1 - d0) / elapsed,
        presented_fps: get("presentedFps"),
        cpu_pct: (c1 - c0) as f64 / ticks_per_sec / elapsed * 100.0,
        undecodable: get("undecodable"),
        threads: threads_between(&th0, &th1, elapsed),
    }
}

/// Pools rounds: percentiles over all samples, rates and CPU averaged.
fn pool(runs: &[Figures]) -> Figures {
    let mut raw: Vec<f64> = runs.iter().flat_map(|r| r.raw.iter().copied()).collect();
    raw.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| common::percentile(&raw, p);
    let mean = |f: fn(&Figures) -> f64| runs.iter().map(f).sum::<f64>() / runs.len() as f64;
    Figures {
        samples: raw.len() as f64,
        p50: pct(50.0),
        p95: pct(95.0),
        p99: pct(99.0),
        decoded_fps: mean(|r| r.decoded_fps),
        presented_fps: mean(|r| r.presented_fps),
        cpu_pct: mean(|r| r.cpu_pct),
        undecodable: runs.iter().map(|r| r.undecodable).sum(),
        threads: runs.iter().flat_map(|r| &r.threads).fold(BTreeMap::new(), |mut m, (k, v)| {
            *m.entry(k.clone()).or_insert(0.0) += v / runs.len() as f64;
            m
        }),
        raw,
    }
}

fn row(case: &str, run: &str, f: &Figures) -> String {
    format!(
        "| {case} | {run} | {:>6.1} | {:>6.1} | {:>6.1} | {:>6.1} | {:>7.1} | {:>6.1} | {:>5} |",
        f.p50, f.p95, f.p99, f.decoded_fps, f.presented_fps, f.cpu_pct, f.samples
    )
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    common::require_root();
    let args: Vec<String> = std::env::args().collect();
    let opt = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let seconds: u64 = opt("--seconds").and_then(|s| s.parse().ok()).unwrap_or(20);
    let only = opt("--only");
    let scene = opt("--scene");
    let rounds: usize = opt("--rounds").and_then(|s| s.parse().ok()).unwrap_or(3);
    let vsync = !args.iter().any(|a| a == "--unthrottled");
    let chrome: &[&str] = if vsync { &[] } else { &["--disable-gpu-vsync", "--disable-frame-rate-limit"] };
    // Ablations of the Playcast run, to see what each part costs or gains.
    let plain_page = args.iter().any(|a| a == "--plain-page");
    let by_thread = args.iter().any(|a| a == "--threads");
    let extra_query = opt("--query").unwrap_or_default();
    let extra_serve_text = opt("--serve-flags").unwrap_or_default();
    let extra_serve: Vec<&str> = extra_serve_text.split_whitespace().collect();
    let base_setup = Setup { baseline: true, chrome, plain_page: false, extra_query: "", extra_serve: &[] };
    let our_setup = Setup { baseline: false, chrome, plain_page, extra_query: &extra_query, extra_serve: &extra_serve };

    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(common::repo().join("pipelines/test-pattern.toml"), dir.path().join("test-pattern.toml")).unwrap();
    std::fs::write(dir.path().join("baseline.toml"), common::BARE_BASELINE_PIPELINE).unwrap();

    let cases = [
        Case { label: "720p60", width: 1280, height: 720, bitrate: 6_000_000, scene: "still", motion: 0 },
        Case { label: "720p60", width: 1280, height: 720, bitrate: 6_000_000, scene: "moving", motion: 8 },
        Case { label: "1080p60", width: 1920, height: 1080, bitrate: 10_000_000, scene: "still", motion: 0 },
        Case { label: "1080p60", width: 1920, height: 1080, bitrate: 10_000_000, scene: "moving", motion: 8 },
    ];
    println!(
        "glass-to-glass, x264enc, headless Chromium, one stream at a time; {rounds} alternating rounds of {seconds} s each; compositor {}",
        if vsync { "on a 60 Hz tick" } else { "unthrottled" }
    );
    println!("| case | run | p50 ms | p95 ms | p99 ms | decoded fps | presented fps | service CPU % | samples |");
    println!("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for case in &cases {
        if only.as_deref().is_some_and(|o| !case.label.starts_with(o))
            || scene.as_deref().is_some_and(|s| s != case.scene)
        {
            continue;
        }
        let (mut base_runs, mut our_runs) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            base_runs.push(measure(&base_setup, case, seconds, dir.path()).await);
            our_runs.push(measure(&our_setup, case, seconds, dir.path()).await);
        }
        let (base, ours) = (pool(&base_runs), pool(&our_runs));
        let name = format!("{} {}", case.label, case.scene);
        println!("{}", row(&name, "baseline", &base));
        println!("{}", row(&name, "playcast", &ours));
        println!(
            "| {name} | ratio | {:.2}x | {:.2}x | {:.2}x | {:.2}x | {:.2}x | {:.2}x | |",
            ours.p50 / base.p50,
            ours.p95 / base.p95,
            ours.p99 / base.p99,
            ours.decoded_fps / base.decoded_fps,
            ours.presented_fps / base.presented_fps,
            ours.cpu_pct / base.cpu_pct
        );
        if ours.undecodable > 0.0 || base.undecodable > 0.0 {
            println!(
                "|  | undecodable stamps: playcast {}, baseline {} | | | | | | | |",
                ours.undecodable, base.undecodable
            );
        }
        if by_thread {
            print_threads(&name, &base.threads, &ours.threads);
        }
    }
}

/// Service CPU by thread name, largest difference first: where Playcast
/// spends what the baseline does not.
fn print_threads(case: &str, base: &BTreeMap<String, f64>, ours: &BTreeMap<String, f64>) {
    let mut names: Vec<&String> =
        base.keys().chain(ours.keys()).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    let get = |m: &BTreeMap<String, f64>, n: &str| m.get(n).copied().unwrap_or(0.0);
    names.sort_by(|a, b| {
        let d = |n: &str| get(ours, n) - get(base, n);
        d(b).total_cmp(&d(a)).then(a.cmp(b))
    });
    println!("\nservice CPU by thread, {case} (% of one core, mean over rounds)");
    println!("| thread | baseline | playcast | difference |");
    println!("| --- | ---: | ---: | ---: |");
    for n in names {
        let (b, o) = (get(base, n), get(ours, n));
        if b >= 0.05 || o >= 0.05 {
            println!("| {n} | {b:.2} | {o:.2} | {:+.2} |", o - b);
        }
    }
    println!();
}
