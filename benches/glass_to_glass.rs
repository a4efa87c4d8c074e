//! Glass-to-glass latency of the path players use: Playcast against a bare
//! webrtcbin baseline, both measured the same way in the same command.
//!
//! By default both play a game through the API (`POST /api/v1/sessions`),
//! on the session's own X display: the latency probe (`playcast-probe
//! --redraw …`), which ends every redraw with the time it drew, in the pixel
//! strip of `media::stamp`. Headless Chromium reads it back in
//! `requestVideoFrameCallback` when the frame is presented (the first
//! presentation of each stamp: a still screen captured again is not a new
//! picture). Playcast is the `linux-x11` pipeline file and the reference
//! client (`/?session=ID`), once per render path (`--render`): the
//! `<video>` element, and WebCodecs decoding drawn on a canvas
//! (`&render=canvas`, web/src/player/render/); the baseline grabs the same kind of display with
//! `ximagesrc` on a fixed 60 Hz tick into a bare x264enc sender
//! (`common::BARE_X11_BASELINE_PIPELINE`, the service with `--bare`), played
//! by the plain page (`baseline.html`). The game redraws in three behaviours:
//! `60hz`, `uncapped`, and `still-moving` (`--still-seconds` still, then
//! `--moving-seconds` moving at 60 Hz; the two phases are reported apart).
//!
//! Per configuration (720p60, 1080p60) and behaviour it reports latency
//! p50/p95/p99; encoded fps (the service's quality stats, each a 2 s
//! window), decoded fps (`getStats`) and presented fps (the page's frame
//! callbacks); the ladder step and the bitrate sent; the service's CPU per
//! stream and the browser's (every Chromium process), each against the
//! baseline; then each session's own processes (display, game, sound), and
//! for still-moving a time series, one row a second.
//!
//! `cargo bench --bench glass_to_glass -- [--only 720p|1080p] [--behaviour 60hz|uncapped|still-moving]
//! [--seconds N] [--still-seconds N] [--moving-seconds N] [--rounds N] [--series] [--param NAME=VALUE]…
//! [--unthrottled] [--threads] [--render video|canvas|both]` (as root: it creates network
//! namespaces). `--render` defaults to both: each round runs the baseline, then Playcast on
//! the `<video>` path, then on the canvas path, so both compare with the same baseline.
//!
//! `--pattern` runs the older streaming-core table instead: the test-pattern
//! pipeline stamped by the service at capture (`--stamp`), against a bare
//! `videotestsrc` sender: `--pattern [--seconds N] [--rounds N] [--only
//! 720p|1080p] [--scene still|moving] [--query Q] [--serve-flags F]
//! [--plain-page] [--unthrottled] [--threads]` (`--query render=canvas` runs Playcast's
//! page on the canvas path).
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

use common::{Browser, ProbeRedraw, Render, Service, SERVICE_PORT};
use playcast::netns::Netns;
use serde_json::Value;

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
    /// Game runs: frames a second the service encoded and captured (means of
    /// its quality samples), the bitrate it sent in Mbit/s, and the lowest
    /// and highest ladder step index seen (none without the ABR element).
    encoded_fps: f64,
    captured_fps: f64,
    sent_mbps: f64,
    steps: Option<(u32, u32)>,
    /// Game runs: every Chromium process together, % of one core.
    browser_cpu_pct: f64,
    /// Game runs: the session's own processes (display, game, sound) by name, % of one core.
    session_cpu: BTreeMap<String, f64>,
    /// Game runs: presented frames that showed a stamp already seen.
    repeated: f64,
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

async fn measure_pattern(setup: &Setup<'_>, case: &Case, seconds: u64, pipelines: &Path) -> Figures {
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
        ..Figures::default()
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
        threads: mean_by_name(runs.iter().map(|r| &r.threads), runs.len()),
        encoded_fps: mean(|r| r.encoded_fps),
        captured_fps: mean(|r| r.captured_fps),
        sent_mbps: mean(|r| r.sent_mbps),
        steps: runs.iter().filter_map(|r| r.steps).reduce(|a, b| (a.0.min(b.0), a.1.max(b.1))),
        browser_cpu_pct: mean(|r| r.browser_cpu_pct),
        session_cpu: mean_by_name(runs.iter().map(|r| &r.session_cpu), runs.len()),
        repeated: runs.iter().map(|r| r.repeated).sum(),
        raw,
    }
}

/// The mean over `n` runs of each name's figure (a name missing from a run counts 0).
fn mean_by_name<'a>(maps: impl Iterator<Item = &'a BTreeMap<String, f64>>, n: usize) -> BTreeMap<String, f64> {
    maps.flatten().fold(BTreeMap::new(), |mut m, (k, v)| {
        *m.entry(k.clone()).or_insert(0.0) += v / n as f64;
        m
    })
}

fn row(case: &str, run: &str, f: &Figures) -> String {
    format!(
        "| {case} | {run} | {:>6.1} | {:>6.1} | {:>6.1} | {:>6.1} | {:>7.1} | {:>6.1} | {:>5} |",
        f.p50, f.p95, f.p99, f.decoded_fps, f.presented_fps, f.cpu_pct, f.samples
    )
}

/// The test-pattern table (`--pattern`): the streaming core alone.
async fn pattern_main(args: &[String]) {
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
            base_runs.push(measure_pattern(&base_setup, case, seconds, dir.path()).await);
            our_runs.push(measure_pattern(&our_setup, case, seconds, dir.path()).await);
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

// --- the players' path: games through the API ------------------------------------------

/// A stream configuration of the game runs.
struct Config {
    label: &'static str,
    width: u32,
    height: u32,
    bitrate: u32,
}

const CONFIGS: [Config; 2] = [
    Config { label: "720p60", width: 1280, height: 720, bitrate: 6_000_000 },
    Config { label: "1080p60", width: 1920, height: 1080, bitrate: 10_000_000 },
];

/// The still-moving game stays still this long on its own; the benchmark
/// starts its motion (`common::start_probe_motion`) once its still phase
/// has been measured.
const STILL_AT_MOST: Duration = Duration::from_secs(3600);
/// From the first decoded frames to the start of the measurement.
const SETTLE: Duration = Duration::from_secs(3);
/// Frames decoded: the page is playing.
const DECODING: &str = "(await window.playcast.rawStats()).some((s) => s.type === 'inbound-rtp' && s.kind === 'video' && s.framesDecoded > 10)";
/// The page's counters now (`Page`). On the canvas path "decoded" counts the
/// page's own WebCodecs decoder (the receiver decodes every frame as well).
const PAGE: &str = "await (async () => { const v = (await window.playcast.rawStats()).find((s) => s.type === 'inbound-rtp' && s.kind === 'video') || {}; return { wall: Date.now(), decoded: window.playcastRender ? window.playcastRender.stats.decoded : (v.framesDecoded || 0), bytes: v.bytesReceived || 0, width: v.frameWidth || 0, height: v.frameHeight || 0, presented: window.stampRecorder ? window.stampRecorder.presented : 0 }; })()";
/// The canvas renderer's counters (`window.playcastRender`), null on the video path.
const RENDERER: &str = "window.playcastRender ? Object.assign({}, window.playcastRender.stats) : null";

/// What stays the same over a whole command.
struct GameOptions<'a> {
    chrome: &'a [&'a str],
    /// The measured window of the 60 Hz and uncapped games.
    seconds: Duration,
    /// The still-moving game's measured phases.
    still: Duration,
    moving: Duration,
    /// Playcast runs only: pipeline parameters (`--param`), `playcast serve`
    /// flags, the plain page instead of the reference client.
    params: serde_json::Map<String, Value>,
    extra_serve: Vec<String>,
    plain_page: bool,
    pipelines: &'a Path,
    games: &'a str,
    threads: bool,
    /// Playcast's render paths, each measured in every round.
    renders: Vec<Render>,
}

/// The page's counters at one moment (wall clock in ms since the epoch).
#[derive(Debug, Clone, Default)]
struct Page {
    wall: f64,
    decoded: f64,
    bytes: f64,
    width: f64,
    height: f64,
    presented: f64,
}

impl Page {
    fn from_json(v: &Value) -> Page {
        let n = |k: &str| v[k].as_f64().unwrap_or(0.0);
        Page {
            wall: n("wall"),
            decoded: n("decoded"),
            bytes: n("bytes"),
            width: n("width"),
            height: n("height"),
            presented: n("presented"),
        }
    }
}

/// Where a run stood at one moment: CPU ticks of the service (and its
/// threads), of Chromium's processes and of the session's own processes,
/// and the page's counters.
struct Snapshot {
    at: Instant,
    service: u64,
    threads: BTreeMap<String, (String, u64)>,
    browser: BTreeMap<u32, (String, u64)>,
    session: BTreeMap<u32, (String, u64)>,
    page: Page,
}

/// The processes that make up one run.
struct Pids<'a> {
    service: u32,
    driver: u32,
    session: &'a str,
}

fn ticks_of(pids: impl IntoIterator<Item = u32>) -> BTreeMap<u32, (String, u64)> {
    pids.into_iter().filter_map(|p| Some((p, common::process_ticks(p)?))).collect()
}

async fn snapshot(pids: &Pids<'_>, browser: &Browser, threads: bool) -> Snapshot {
    let page = Page::from_json(&browser.eval(PAGE).await);
    Snapshot {
        at: Instant::now(),
        service: cpu_ticks(pids.service),
        threads: if threads { thread_ticks(pids.service) } else { BTreeMap::new() },
        browser: ticks_of(common::process_tree(pids.driver)),
        session: ticks_of(common::processes_of(pids.session)),
        page,
    }
}

/// CPU % of one core by process name between two readings; a process that
/// started in between counts from zero, one that ended is missing.
fn processes_between(
    before: &BTreeMap<u32, (String, u64)>,
    after: &BTreeMap<u32, (String, u64)>,
    seconds: f64,
) -> BTreeMap<String, f64> {
    let mut by_name = BTreeMap::new();
    for (pid, (name, ticks)) in after {
        let start = before.get(pid).map_or(0, |(_, t)| *t);
        *by_name.entry(name.clone()).or_insert(0.0) += (ticks - start.min(*ticks)) as f64 / seconds;
    }
    by_name
}

/// A sample of the service's quality stats: when it was taken (ms since the
/// epoch) and what it says.
struct ServerSample {
    at: f64,
    q: Value,
}

impl ServerSample {
    fn num(&self, k: &str) -> Option<f64> {
        self.q[k].as_f64()
    }
}

/// One look a second: the page's counters and the service's latest quality
/// sample (taken every 2 s).
struct Tick {
    page: Page,
    server: Option<ServerSample>,
}

/// A game run: its phases' figures, one look a second, and when the game
/// started moving (still-moving only).
struct GameRun {
    phases: Vec<(&'static str, Figures)>,
    ticks: Vec<Tick>,
    motion: Option<f64>,
    /// The game's redraws a second while it moved (its own log).
    redraws: f64,
    /// Canvas path: the renderer's counters at the end (decoded, dropped, decode time, …).
    renderer: Option<Value>,
}

/// The figures of one phase, between two snapshots; latency samples and
/// quality samples by wall clock within `span` (ms since the epoch).
fn phase(a: &Snapshot, b: &Snapshot, span: (f64, f64), latency: &[(f64, f64)], server: &[&ServerSample]) -> Figures {
    let seconds = b.at.duration_since(a.at).as_secs_f64();
    let page_seconds = ((b.page.wall - a.page.wall) / 1000.0).max(1e-3);
    let mut raw: Vec<f64> = latency.iter().filter(|(at, _)| *at >= span.0 && *at < span.1).map(|(_, ms)| *ms).collect();
    raw.sort_by(f64::total_cmp);
    // Quality samples whose whole 2 s window lies in this phase.
    let inside: Vec<&ServerSample> =
        server.iter().copied().filter(|s| s.at >= span.0 + 2000.0 && s.at <= span.1).collect();
    let mean = |k: &str| {
        let v: Vec<f64> = inside.iter().filter_map(|s| s.num(k)).collect();
        if v.is_empty() {
            f64::NAN
        } else {
            v.iter().sum::<f64>() / v.len() as f64
        }
    };
    let steps = inside.iter().filter_map(|s| s.q["ladder_step"].as_u64()).map(|s| s as u32);
    let browser = processes_between(&a.browser, &b.browser, seconds);
    Figures {
        samples: raw.len() as f64,
        p50: common::percentile(&raw, 50.0),
        p95: common::percentile(&raw, 95.0),
        p99: common::percentile(&raw, 99.0),
        decoded_fps: (b.page.decoded - a.page.decoded) / page_seconds,
        presented_fps: (b.page.presented - a.page.presented) / page_seconds,
        cpu_pct: (b.service - a.service.min(b.service)) as f64 / seconds,
        threads: threads_between(&a.threads, &b.threads, seconds),
        encoded_fps: mean("fps"),
        captured_fps: mean("capture_fps"),
        sent_mbps: mean("sent_bps") / 1e6,
        steps: steps.fold(None, |m, s| Some(m.map_or((s, s), |(lo, hi): (u32, u32)| (lo.min(s), hi.max(s))))),
        browser_cpu_pct: browser.values().sum(),
        session_cpu: processes_between(&a.session, &b.session, seconds),
        raw,
        ..Figures::default()
    }
}

/// When the game's log says it started moving, ms since the epoch.
fn moving_at(log: &str) -> Option<f64> {
    log.lines()
        .find_map(|l| l.strip_prefix("moving at "))
        .and_then(|us| us.trim().parse::<f64>().ok())
        .map(|us| us / 1000.0)
}

/// The game's mean redraws a second while it moved: its `redraws N` lines
/// after the motion started, the first (partial) one left out.
fn redraw_rate(log: &str) -> f64 {
    let lines: Vec<&str> = log.lines().collect();
    let from = lines.iter().position(|l| l.starts_with("moving at ")).unwrap_or(0);
    let counts: Vec<f64> = lines[from..]
        .iter()
        .filter_map(|l| l.strip_prefix("redraws "))
        .filter_map(|n| n.trim().parse().ok())
        .skip(1)
        .collect();
    if counts.is_empty() {
        f64::NAN
    } else {
        counts.iter().sum::<f64>() / counts.len() as f64
    }
}

/// One run: the baseline (`render` None) or Playcast on a render path.
async fn game_run(render: Option<Render>, config: &Config, redraw: ProbeRedraw, o: &GameOptions<'_>) -> GameRun {
    let baseline = render.is_none();
    let ns = Netns::create().expect("network namespace (run as root)");
    let args: Vec<&str> = if baseline { vec!["--bare"] } else { o.extra_serve.iter().map(String::as_str).collect() };
    let service =
        Service::start(&ns, o.pipelines, &args, &[("RUST_LOG", "warn"), ("PLAYCAST__SESSIONS__GAMES_FILE", o.games)])
            .await;
    let token = service.dev_token("bench", "player").await;
    let mut params = serde_json::json!({
        "width": config.width, "height": config.height, "framerate": 60, "bitrate": config.bitrate
    });
    if !baseline {
        params.as_object_mut().unwrap().extend(o.params.clone());
    }
    let body = serde_json::json!({ "game": redraw.game(baseline), "params": params });
    let (status, view) = service.api(&token, reqwest::Method::POST, "sessions", Some(body)).await;
    assert_eq!(status, 201, "creating the game session: {view}");
    let id = view["id"].as_str().unwrap().to_string();
    let log_path = service.data_dir().join("run").join(&id).join("game.log");

    let browser = Browser::start_with(&ns, o.chrome).await;
    let page = if baseline || o.plain_page { "baseline.html" } else { "" };
    let canvas = render == Some(Render::Canvas);
    let render_query = if canvas { "&render=canvas" } else { "" };
    let url = format!("http://127.0.0.1:{SERVICE_PORT}/{page}?session={id}&user=bench&stamp=1{render_query}");
    browser.client.goto(&url).await.expect("open page");
    browser.wait_for(DECODING, Duration::from_secs(40)).await;
    // A page that fell back to <video> would be measured under the canvas path's name.
    assert_eq!(
        browser.eval(RENDERER).await.is_object(),
        canvas,
        "the page's render path is not {}",
        render.map_or("video", Render::name)
    );
    tokio::time::sleep(SETTLE).await;

    let pids = Pids { service: service.proc.0.id(), driver: browser.driver_pid(), session: &id };
    let mut marks = vec![snapshot(&pids, &browser, o.threads).await];
    let (mut ticks, mut motion, mut signalled) = (Vec::new(), None, None);
    let mut next_tick = marks[0].at;
    loop {
        let now = Instant::now();
        if redraw == ProbeRedraw::StillMoving && motion.is_none() {
            if let Some(ms) = moving_at(&std::fs::read_to_string(&log_path).unwrap_or_default()) {
                motion = Some((ms, now));
                marks.push(snapshot(&pids, &browser, o.threads).await);
            } else if let Some(at) = signalled {
                assert!(
                    now < at + Duration::from_secs(5),
                    "the still-moving game did not log its motion in {}",
                    log_path.display()
                );
            } else if now >= marks[0].at + o.still {
                assert!(common::start_probe_motion(&id), "no probe game in session {id}");
                signalled = Some(now);
            }
        }
        let end = match redraw {
            ProbeRedraw::StillMoving => motion.map(|(_, at)| at + o.moving),
            _ => Some(marks[0].at + o.seconds),
        };
        if end.is_some_and(|e| now >= e) {
            break;
        }
        if now >= next_tick {
            let (_, v) = service.api(&token, reqwest::Method::GET, &format!("sessions/{id}"), None).await;
            let server = v["quality"]["at"]
                .as_str()
                .and_then(|at| chrono::DateTime::parse_from_rfc3339(at).ok())
                .map(|at| ServerSample { at: at.timestamp_micros() as f64 / 1000.0, q: v["quality"].clone() });
            ticks.push(Tick { page: Page::from_json(&browser.eval(PAGE).await), server });
            next_tick += Duration::from_secs(1);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    marks.push(snapshot(&pids, &browser, o.threads).await);
    let rec = browser
        .eval("({ samples: Array.from(window.stampRecorder.samples), at: Array.from(window.stampRecorder.sampleAtMs), repeated: window.stampRecorder.repeated, undecodable: window.stampRecorder.undecodable })")
        .await;
    let renderer = Some(browser.eval(RENDERER).await).filter(Value::is_object);
    browser.close().await;
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    drop(service);

    let floats = |v: &Value| -> Vec<f64> {
        v.as_array().map(|a| a.iter().filter_map(|x| x.as_f64()).collect()).unwrap_or_default()
    };
    let latency: Vec<(f64, f64)> = floats(&rec["at"]).into_iter().zip(floats(&rec["samples"])).collect();
    // Each quality sample once, in order.
    let mut server: Vec<&ServerSample> = ticks.iter().filter_map(|t| t.server.as_ref()).collect();
    server.dedup_by(|a, b| a.at == b.at);
    let (first, last) = (&marks[0], &marks[marks.len() - 1]);
    let mut phases: Vec<(&'static str, Figures)> = match motion {
        Some((m, _)) if marks.len() == 3 => vec![
            ("still", phase(first, &marks[1], (first.page.wall, m), &latency, &server)),
            ("moving", phase(&marks[1], last, (m, last.page.wall), &latency, &server)),
        ],
        _ => vec![("", phase(first, last, (first.page.wall, last.page.wall), &latency, &server))],
    };
    if let Some((_, f)) = phases.last_mut() {
        f.repeated = rec["repeated"].as_f64().unwrap_or(0.0);
        f.undecodable = rec["undecodable"].as_f64().unwrap_or(0.0);
    }
    GameRun { phases, ticks, motion: motion.map(|(ms, _)| ms), redraws: redraw_rate(&log), renderer }
}

/// A ratio, blank when either side is missing.
fn ratio(ours: f64, base: f64) -> String {
    if ours.is_finite() && base.is_finite() && base != 0.0 {
        format!("{:.2}x", ours / base)
    } else {
        "–".into()
    }
}

fn num(v: f64, decimals: usize) -> String {
    if v.is_finite() {
        format!("{v:.decimals$}")
    } else {
        "–".into()
    }
}

/// The canvas renderer's counters at the end of a run.
fn renderer_summary(c: &Value) -> String {
    let n = |k: &str| c[k].as_f64().map_or("–".into(), |v| format!("{v:.0}"));
    format!(
        "decoded {}, dropped {}, decoder errors {}, key frames asked {}, decode {} ms (moving mean), {} ({}, {})",
        n("decoded"),
        n("dropped"),
        n("errors"),
        n("keyRequests"),
        num(c["decodeMs"].as_f64().unwrap_or(f64::NAN), 2),
        c["codec"].as_str().unwrap_or("–"),
        c["acceleration"].as_str().unwrap_or("–"),
        c["api"].as_str().unwrap_or("–"),
    )
}

fn game_row(config: &str, game: &str, run: &str, f: &Figures) -> String {
    let steps = match f.steps {
        Some((lo, hi)) if lo == hi => lo.to_string(),
        Some((lo, hi)) => format!("{lo}–{hi}"),
        None => "–".into(),
    };
    format!(
        "| {config} | {game} | {run} | {} | {} | {} | {} | {} | {} | {steps} | {} | {} | {} | {} |",
        num(f.p50, 1),
        num(f.p95, 1),
        num(f.p99, 1),
        num(f.encoded_fps, 1),
        num(f.decoded_fps, 1),
        num(f.presented_fps, 1),
        num(f.sent_mbps, 2),
        num(f.cpu_pct, 1),
        num(f.browser_cpu_pct, 1),
        f.samples
    )
}

fn ratio_row(config: &str, game: &str, run: &str, ours: &Figures, base: &Figures) -> String {
    format!(
        "| {config} | {game} | {run} | {} | {} | {} | {} | {} | {} | | {} | {} | {} | |",
        ratio(ours.p50, base.p50),
        ratio(ours.p95, base.p95),
        ratio(ours.p99, base.p99),
        ratio(ours.encoded_fps, base.encoded_fps),
        ratio(ours.decoded_fps, base.decoded_fps),
        ratio(ours.presented_fps, base.presented_fps),
        ratio(ours.sent_mbps, base.sent_mbps),
        ratio(ours.cpu_pct, base.cpu_pct),
        ratio(ours.browser_cpu_pct, base.browser_cpu_pct),
    )
}

/// The session's own processes, `name x.x %` by name.
fn session_cpu(f: &Figures) -> String {
    let parts: Vec<String> = f.session_cpu.iter().map(|(n, v)| format!("{n} {v:.1} %")).collect();
    if parts.is_empty() {
        "–".into()
    } else {
        parts.join(", ")
    }
}

/// The ladder through a still-moving run: the steps of the still phase, and
/// from when after the motion the stream stayed at the still phase's best
/// step (0 is the top of the ladder).
fn ladder_summary(run: &GameRun) -> String {
    let Some(motion) = run.motion else { return String::new() };
    let mut samples: Vec<&ServerSample> = run.ticks.iter().filter_map(|t| t.server.as_ref()).collect();
    samples.dedup_by(|a, b| a.at == b.at);
    let step = |s: &ServerSample| s.q["ladder_step"].as_u64();
    let still: Vec<u64> = samples.iter().filter(|s| s.at <= motion).filter_map(|s| step(s)).collect();
    let moving: Vec<(f64, u64)> =
        samples.iter().filter(|s| s.at > motion).filter_map(|s| Some(((s.at - motion) / 1000.0, step(s)?))).collect();
    let (Some(&best), Some(&worst)) = (still.iter().min(), still.iter().max()) else {
        return "no ladder step in the still phase (no adaptive-bitrate element)".into();
    };
    let back = match moving.iter().rposition(|&(_, s)| s > best) {
        None => format!("at step {best} or better in every sample after the motion"),
        Some(i) if i + 1 < moving.len() => {
            format!("back at step {best} from +{:.1} s after the motion", moving[i + 1].0)
        }
        Some(_) => format!("not back at step {best} by the end"),
    };
    let trace: Vec<String> = moving.iter().map(|(t, s)| format!("+{t:.1} s {s}")).collect();
    format!(
        "still: steps {best}–{worst} in {} samples; moving: {back} (samples every 2 s: {})",
        still.len(),
        trace.join(", ")
    )
}

/// One second of a run: the service's latest quality sample, and the page's
/// decoded fps, received Mbit/s and picture size over that second.
#[derive(Clone, Copy)]
struct Second<'a> {
    server: Option<&'a ServerSample>,
    decoded: f64,
    received: f64,
    picture: (f64, f64),
}

/// A run's looks by time since the motion (or the start of the window), s.
fn per_second(run: &GameRun) -> Vec<(f64, Second<'_>)> {
    let zero = run.motion.or_else(|| run.ticks.first().map(|t| t.page.wall)).unwrap_or(0.0);
    run.ticks
        .windows(2)
        .map(|w| {
            let dt = ((w[1].page.wall - w[0].page.wall) / 1000.0).max(1e-3);
            let second = Second {
                server: w[1].server.as_ref(),
                decoded: (w[1].page.decoded - w[0].page.decoded) / dt,
                received: (w[1].page.bytes - w[0].page.bytes) * 8.0 / dt / 1e6,
                picture: (w[1].page.width, w[1].page.height),
            };
            ((w[1].page.wall - zero) / 1000.0, second)
        })
        .collect()
}

/// One row a second of a Playcast run, beside the baseline's look nearest in
/// time (within half a second).
fn print_series(title: &str, ours: &GameRun, base: &GameRun) {
    println!("\n{title}: one row a second (t from the motion, or from the start of the window; server columns: its latest quality sample, a 2 s window)");
    println!("| t s | step | picture | target Mbit/s | sent Mbit/s | encoded fps | decoded fps | received Mbit/s | baseline sent Mbit/s | baseline encoded fps | baseline decoded fps |");
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    let (o, b) = (per_second(ours), per_second(base));
    let none = Second { server: None, decoded: f64::NAN, received: f64::NAN, picture: (0.0, 0.0) };
    let mbps = |s: Option<&ServerSample>, k: &str| num(s.and_then(|s| s.num(k)).map_or(f64::NAN, |v| v / 1e6), 2);
    let fps = |s: Option<&ServerSample>| num(s.and_then(|s| s.num("fps")).unwrap_or(f64::NAN), 1);
    for (t, os) in o {
        let bs = b
            .iter()
            .filter(|(tb, _)| (tb - t).abs() < 0.5)
            .min_by(|x, y| (x.0 - t).abs().total_cmp(&(y.0 - t).abs()))
            .map_or(none, |(_, s)| *s);
        let step = os.server.and_then(|s| s.q["ladder_step"].as_u64()).map_or("–".into(), |s| s.to_string());
        let picture = if os.picture.0 > 0.0 { format!("{}x{}", os.picture.0, os.picture.1) } else { "–".into() };
        println!(
            "| {t:.1} | {step} | {picture} | {} | {} | {} | {} | {} | {} | {} | {} |",
            mbps(os.server, "target_bps"),
            mbps(os.server, "sent_bps"),
            fps(os.server),
            num(os.decoded, 1),
            num(os.received, 2),
            mbps(bs.server, "sent_bps"),
            fps(bs.server),
            num(bs.decoded, 1)
        );
    }
}

/// The players' path: each configuration and behaviour, baseline and
/// Playcast alternating.
async fn game_main(args: &[String]) {
    let opt = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let secs =
        |name: &str, default: u64| Duration::from_secs(opt(name).and_then(|s| s.parse().ok()).unwrap_or(default));
    let only = opt("--only");
    let behaviours: Vec<ProbeRedraw> = match opt("--behaviour") {
        Some(b) => vec![ProbeRedraw::parse(&b).expect("--behaviour takes 60hz, uncapped or still-moving")],
        None => ProbeRedraw::ALL.to_vec(),
    };
    let rounds: Option<usize> = opt("--rounds").and_then(|s| s.parse().ok());
    let vsync = !args.iter().any(|a| a == "--unthrottled");
    let chrome: &[&str] = if vsync { &[] } else { &["--disable-gpu-vsync", "--disable-frame-rate-limit"] };
    let series_for_all = args.iter().any(|a| a == "--series");
    // `--param NAME=VALUE` (repeatable): a pipeline parameter for Playcast's sessions only.
    let params = common::pipeline_params(args);
    let (_dir, pipelines, games) = common::game_bench_files(STILL_AT_MOST);
    let (still, moving) = (secs("--still-seconds", 30), secs("--moving-seconds", 30));
    let o = GameOptions {
        chrome,
        seconds: secs("--seconds", 10),
        still,
        moving,
        params,
        extra_serve: opt("--serve-flags").unwrap_or_default().split_whitespace().map(String::from).collect(),
        plain_page: args.iter().any(|a| a == "--plain-page"),
        pipelines: &pipelines,
        games: &games,
        threads: args.iter().any(|a| a == "--threads"),
        // The plain page has no canvas path.
        renders: if args.iter().any(|a| a == "--plain-page") {
            vec![Render::Video]
        } else {
            Render::list(opt("--render").as_deref())
        },
    };

    println!(
        "glass-to-glass of the players' path: games through the API on their own X display, x264enc, headless Chromium, one stream at a time; compositor {}",
        if vsync { "on a 60 Hz tick" } else { "unthrottled" }
    );
    println!(
        "windows: 60hz and uncapped {} s; still-moving {} s still then {} s moving; rounds: {}",
        o.seconds.as_secs(),
        o.still.as_secs(),
        o.moving.as_secs(),
        rounds.map_or("2 (still-moving 1)".into(), |r| r.to_string())
    );
    println!(
        "playcast render paths: {} (canvas: WebCodecs decoding of the receiver's encoded frames, drawn at once; decoded fps counts that decoder)",
        o.renders.iter().map(|r| r.name()).collect::<Vec<_>>().join(", ")
    );
    println!("| config | game | run | p50 ms | p95 ms | p99 ms | encoded fps | decoded fps | presented fps | ladder step | Mbit/s sent | service CPU % | browser CPU % | samples |");
    println!("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    let mut notes = Vec::new();
    let (mut series, mut series_bases) = (Vec::new(), Vec::new());
    for config in &CONFIGS {
        if only.as_deref().is_some_and(|o| !config.label.starts_with(o)) {
            continue;
        }
        for &redraw in &behaviours {
            let rounds = rounds.unwrap_or(if redraw == ProbeRedraw::StillMoving { 1 } else { 2 });
            let mut base_runs = Vec::new();
            let mut our_runs: Vec<(Render, Vec<GameRun>)> = o.renders.iter().map(|&r| (r, Vec::new())).collect();
            for _ in 0..rounds {
                base_runs.push(game_run(None, config, redraw, &o).await);
                for (render, runs) in &mut our_runs {
                    runs.push(game_run(Some(*render), config, redraw, &o).await);
                }
            }
            let mean_redraws = |runs: &[GameRun]| runs.iter().map(|r| r.redraws).sum::<f64>() / runs.len() as f64;
            for (i, (name, _)) in base_runs[0].phases.iter().enumerate() {
                let pool_phase =
                    |runs: &[GameRun]| pool(&runs.iter().map(|r| r.phases[i].1.clone()).collect::<Vec<_>>());
                let base = pool_phase(&base_runs);
                let game =
                    if name.is_empty() { redraw.name().to_string() } else { format!("{}, {name}", redraw.name()) };
                println!("{}", game_row(config.label, &game, "baseline", &base));
                for (render, runs) in &our_runs {
                    let ours = pool_phase(runs);
                    let run = format!("playcast {}", render.name());
                    println!("{}", game_row(config.label, &game, &run, &ours));
                    println!("{}", ratio_row(config.label, &game, &format!("{} ratio", render.name()), &ours, &base));
                    notes.push(format!(
                        "- {} {game}, {run}: session processes (% of one core): baseline {}; playcast {}. Captured fps: baseline {}, playcast {}. Game redraws/s while moving: baseline {}, playcast {}. Stamps undecodable: baseline {}, playcast {}; repeated pictures: baseline {}, playcast {}.",
                        config.label,
                        session_cpu(&base),
                        session_cpu(&ours),
                        num(base.captured_fps, 1),
                        num(ours.captured_fps, 1),
                        num(mean_redraws(&base_runs), 0),
                        num(mean_redraws(runs), 0),
                        base.undecodable,
                        ours.undecodable,
                        base.repeated,
                        ours.repeated,
                    ));
                    if o.threads {
                        print_threads(&format!("{} {game}, {run}", config.label), &base.threads, &ours.threads);
                    }
                }
            }
            for (render, runs) in &our_runs {
                for (round, r) in runs.iter().enumerate() {
                    if r.motion.is_some() {
                        notes.push(format!(
                            "- {} {} ladder, playcast {}, round {}: {}",
                            config.label,
                            redraw.name(),
                            render.name(),
                            round + 1,
                            ladder_summary(r)
                        ));
                    }
                    if let Some(c) = &r.renderer {
                        notes.push(format!(
                            "- {} {} canvas renderer, round {}: {}",
                            config.label,
                            redraw.name(),
                            round + 1,
                            renderer_summary(c)
                        ));
                    }
                }
            }
            if redraw == ProbeRedraw::StillMoving || series_for_all {
                series_bases.push(base_runs.swap_remove(0));
                for (render, runs) in &mut our_runs {
                    series.push((
                        format!("{} {}, playcast {}", config.label, redraw.name(), render.name()),
                        runs.swap_remove(0),
                        series_bases.len() - 1,
                    ));
                }
            }
        }
    }
    println!();
    for n in &notes {
        println!("{n}");
    }
    for (title, ours, base) in &series {
        print_series(title, ours, &series_bases[*base]);
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    common::require_root();
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--pattern") {
        pattern_main(&args).await;
    } else {
        game_main(&args).await;
    }
}
