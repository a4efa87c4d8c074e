//! Input-to-photon latency: a key pressed in headless Chromium, sent over the
//! stream's data channel, injected into the latency probe game's display, and
//! seen as a colour change in a presented frame
//! (`web/src/player/measure/photon.ts`). Playcast as shipped (the `linux-x11`
//! pipeline file and the reference client), once per render path
//! (`--render`: the `<video>` element, and WebCodecs decoding drawn on a
//! canvas, `&render=canvas`), against the bare baseline of the glass-to-glass benchmark: a fixed
//! 60 Hz `ximagesrc` capture, x264enc ultrafast/zerolatency, no extras, and the
//! plain page; both play the same probe game through the API and press the
//! same way.
//!
//! The game redraws in three behaviours (`playcast-probe --redraw`): `60hz`,
//! `uncapped`, and `still-moving`: still for `--still-seconds` (30), then
//! moving at 60 Hz for `--moving-seconds` (30); the page presses throughout
//! and each phase is reported apart (by when each press was sent). The game
//! redraws a press at once in every behaviour.
//!
//! It also reports the one-way latency from the browser to the game: each
//! press's wall-clock send time against the time the probe logged the key.
//!
//! `--breakdown` also records the game's own redraw stamps in both pages (as
//! the glass-to-glass benchmark does) and prints the redraw-to-display part
//! of the latency. `--param NAME=VALUE` sets a pipeline parameter of
//! Playcast's sessions (for example `--param encoder_threads=0`), to compare
//! settings.
//!
//! `cargo bench --bench input_to_photon -- [--presses N] [--rounds N] [--only 720p|1080p]
//! [--behaviour 60hz|uncapped|still-moving] [--still-seconds N] [--moving-seconds N] [--breakdown] [--param NAME=VALUE]…
//! [--render video|canvas|both]` (as root: it creates network namespaces). Rounds default to 2, 1 for
//! still-moving. `--render` defaults to both: each round runs the baseline, then Playcast on the
//! `<video>` path, then on the canvas path, so both compare with the same baseline.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{percentile, Browser, ProbeRedraw, Render, Service, SERVICE_PORT};
use playcast::netns::Netns;

/// The still-moving game stays still this long on its own; the benchmark
/// starts its motion (`common::start_probe_motion`) once the page has
/// pressed through the still phase.
const STILL_AT_MOST: Duration = Duration::from_secs(3600);

struct Case {
    label: &'static str,
    width: u32,
    height: u32,
    bitrate: u32,
}

/// What stays the same over a whole command.
struct Options<'a> {
    presses: u32,
    moving: Duration,
    still: Duration,
    breakdown: bool,
    pipelines: &'a std::path::Path,
    games: &'a str,
    /// Pipeline parameters of Playcast's sessions.
    extra: serde_json::Map<String, serde_json::Value>,
    /// Playcast's render paths, each measured in every round.
    renders: Vec<Render>,
}

#[derive(Default)]
struct Run {
    samples: Vec<f64>,
    one_way: Vec<f64>,
    presses: u64,
    lost: u64,
    /// Presses whose one-way time could not be paired with the game's log.
    unpaired: u64,
    /// With `--breakdown`: redraw-to-display latency of every new picture.
    glass: Vec<f64>,
}

/// A run's phases by name ("" when the run is one phase).
type Phases = Vec<(&'static str, Run)>;

/// A run's presses by when they were sent (wall clock, ms since the epoch),
/// to be cut into phases.
#[derive(Default)]
struct Timed {
    /// (press sent, latency) of each press that was seen.
    samples: Vec<(f64, f64)>,
    /// (press sent, one-way latency) of each press the game logged.
    one_way: Vec<(f64, f64)>,
    sent: Vec<f64>,
    unpaired: u64,
    /// (displayed at, latency) of each new picture.
    glass: Vec<(f64, f64)>,
    /// When the game started moving (still-moving).
    motion: Option<f64>,
}

impl Timed {
    /// The presses sent in `[from, to)`: those sent but not seen are lost
    /// (a press still outstanding at the end of the run counts too).
    fn between(&self, from: f64, to: f64) -> Run {
        let inside = |t: f64| t >= from && t < to;
        let pick = |v: &[(f64, f64)]| v.iter().filter(|(t, _)| inside(*t)).map(|(_, x)| *x).collect::<Vec<_>>();
        let samples = pick(&self.samples);
        let presses = self.sent.iter().filter(|t| inside(**t)).count() as u64;
        Run {
            lost: presses.saturating_sub(samples.len() as u64),
            samples,
            one_way: pick(&self.one_way),
            presses,
            unpaired: 0,
            glass: pick(&self.glass),
        }
    }

    /// The run as a whole, or its still and moving phases.
    /// (Presses that could not be paired with the game's log count in the last phase.)
    fn phases(&self) -> Vec<(&'static str, Run)> {
        let mut phases = match self.motion {
            None => vec![("", self.between(f64::MIN, f64::MAX))],
            Some(m) => vec![("still", self.between(f64::MIN, m)), ("moving", self.between(m, f64::MAX))],
        };
        if let Some((_, last)) = phases.last_mut() {
            last.unpaired = self.unpaired;
        }
        phases
    }
}

/// One run: the baseline (`render` None) or Playcast on a render path.
async fn measure(render: Option<Render>, case: &Case, redraw: ProbeRedraw, o: &Options<'_>) -> Timed {
    let baseline = render.is_none();
    let ns = Netns::create().expect("network namespace (run as root)");
    let args: &[&str] = if baseline { &["--bare"] } else { &[] };
    let service =
        Service::start(&ns, o.pipelines, args, &[("RUST_LOG", "warn"), ("PLAYCAST__SESSIONS__GAMES_FILE", o.games)])
            .await;
    let token = service.dev_token("bench", "player").await;
    let mut params =
        serde_json::json!({ "width": case.width, "height": case.height, "framerate": 60, "bitrate": case.bitrate });
    if !baseline {
        params.as_object_mut().unwrap().extend(o.extra.clone());
    }
    let body = serde_json::json!({ "game": redraw.game(baseline), "params": params });
    let (status, view) = service.api(&token, reqwest::Method::POST, "sessions", Some(body)).await;
    assert_eq!(status, 201, "creating the probe session: {view}");
    let id = view["id"].as_str().unwrap().to_string();
    let log_path = service.data_dir().join("run").join(&id).join("game.log");

    let browser = Browser::start(&ns).await;
    let page = if baseline { "baseline.html" } else { "" };
    let stamp = if o.breakdown { "&stamp=1" } else { "" };
    let canvas = render == Some(Render::Canvas);
    let render_query = if canvas { "&render=canvas" } else { "" };
    // The still-moving run presses until the end of its moving phase.
    let presses = if redraw == ProbeRedraw::StillMoving { String::new() } else { format!("&presses={}", o.presses) };
    let url = format!(
        "http://127.0.0.1:{SERVICE_PORT}/{page}?session={id}&user=bench&photon=1{presses}{stamp}{render_query}"
    );
    browser.client.goto(&url).await.expect("open page");
    browser.wait_for("window.photon && window.photon.presses > 0", Duration::from_secs(60)).await;
    // A page that fell back to <video> would be measured under the canvas path's name.
    assert_eq!(
        browser.eval("!!window.playcastRender").await.as_bool(),
        Some(canvas),
        "the page's render path is not {}",
        render.map_or("video", Render::name)
    );
    if redraw == ProbeRedraw::StillMoving {
        // The page presses from 3 s after its first picture: the still phase
        // runs `still` from then, the moving phase `moving` after the motion.
        tokio::time::sleep(o.still).await;
        assert!(common::start_probe_motion(&id), "no probe game in session {id}");
        let deadline = Instant::now() + Duration::from_secs(5);
        let motion = loop {
            if let Some(at) = std::fs::read_to_string(&log_path).ok().and_then(|l| moving_at(&l)) {
                break at;
            }
            assert!(
                Instant::now() < deadline,
                "the still-moving game did not log its motion in {}",
                log_path.display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let left = Duration::from_secs_f64((motion / 1000.0 + o.moving.as_secs_f64() - unix_secs()).max(0.0));
        tokio::time::sleep(left).await;
        // No press left on its way, so that each pairs with the game's log.
        browser.eval("window.photon.stop()").await;
        browser.wait_for("window.photon.done", Duration::from_secs(5)).await;
    } else {
        let timeout = Duration::from_secs(60 + u64::from(o.presses));
        browser.wait_for("window.photon && window.photon.done", timeout).await;
    }
    let p = browser.eval("({ samples: window.photon.samples, at: window.photon.sampleSentAtMs, sent: window.photon.sentAtMs, glass: window.stampRecorder ? Array.from(window.stampRecorder.samples) : [], glassAt: window.stampRecorder ? Array.from(window.stampRecorder.sampleAtMs) : [] })").await;
    browser.close().await;
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    drop(service);

    let floats = |v: &serde_json::Value| -> Vec<f64> {
        v.as_array().map(|a| a.iter().filter_map(|x| x.as_f64()).collect()).unwrap_or_default()
    };
    let received: Vec<f64> = log
        .lines()
        .filter(|l| l.starts_with("colour "))
        .filter_map(|l| l.rsplit_once(" at ").and_then(|(_, us)| us.trim().parse::<f64>().ok()))
        .map(|us| us / 1000.0)
        .collect();
    let sent = floats(&p["sent"]);
    // Each press is one line of the probe's log, in order; a count that does
    // not match means a press never reached the game, and pairing would lie.
    let (one_way, unpaired) = if received.len() == sent.len() {
        (sent.iter().zip(&received).map(|(s, r)| (*s, r - s)).collect(), 0)
    } else {
        (Vec::new(), sent.len() as u64)
    };
    Timed {
        samples: floats(&p["at"]).into_iter().zip(floats(&p["samples"])).collect(),
        one_way,
        sent,
        unpaired,
        glass: floats(&p["glassAt"]).into_iter().zip(floats(&p["glass"])).collect(),
        motion: moving_at(&log),
    }
}

fn unix_secs() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs_f64()
}

/// When the game's log says it started moving, ms since the epoch.
fn moving_at(log: &str) -> Option<f64> {
    log.lines()
        .find_map(|l| l.strip_prefix("moving at "))
        .and_then(|us| us.trim().parse::<f64>().ok())
        .map(|us| us / 1000.0)
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

fn row(case: &str, game: &str, run: &str, r: &Run) -> String {
    let (s, o) = (&r.samples, &r.one_way);
    format!(
        "| {case} | {game} | {run} | {:>6.1} | {:>6.1} | {:>6.1} | {:>5} | {:>4} | {:>6.2} | {:>6.2} | {:>6.2} |",
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
    let secs =
        |name: &str, default: u64| Duration::from_secs(opt(name).and_then(|s| s.parse().ok()).unwrap_or(default));
    let rounds: Option<usize> = opt("--rounds").and_then(|s| s.parse().ok());
    let only = opt("--only");
    let behaviours: Vec<ProbeRedraw> = match opt("--behaviour") {
        Some(b) => vec![ProbeRedraw::parse(&b).expect("--behaviour takes 60hz, uncapped or still-moving")],
        None => ProbeRedraw::ALL.to_vec(),
    };
    // `--param NAME=VALUE` (repeatable): a pipeline parameter for Playcast's sessions only.
    let extra = common::pipeline_params(&args);
    let (_dir, pipelines, games) = common::game_bench_files(STILL_AT_MOST);
    let still = secs("--still-seconds", 30);
    let o = Options {
        presses: opt("--presses").and_then(|s| s.parse().ok()).unwrap_or(100),
        moving: secs("--moving-seconds", 30),
        still,
        breakdown: args.iter().any(|a| a == "--breakdown"),
        pipelines: &pipelines,
        games: &games,
        extra,
        renders: Render::list(opt("--render").as_deref()),
    };

    let cases = [
        Case { label: "720p60", width: 1280, height: 720, bitrate: 6_000_000 },
        Case { label: "1080p60", width: 1920, height: 1080, bitrate: 10_000_000 },
    ];
    println!(
        "input-to-photon, x264enc, headless Chromium, latency probe game through the API; {} presses a round (still-moving: {} s still, {} s moving); rounds {}",
        o.presses,
        o.still.as_secs(),
        o.moving.as_secs(),
        rounds.map_or("2 (still-moving 1)".into(), |r| r.to_string())
    );
    println!(
        "playcast render paths: {} (canvas: WebCodecs decoding of the receiver's encoded frames, drawn at once)",
        o.renders.iter().map(|r| r.name()).collect::<Vec<_>>().join(", ")
    );
    println!(
        "| case | game | run | p50 ms | p95 ms | p99 ms | presses | lost | one-way p50 ms | one-way p95 ms | one-way p99 ms |"
    );
    println!("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    let mut notes = Vec::new();
    for case in &cases {
        if only.as_deref().is_some_and(|o| !case.label.starts_with(o)) {
            continue;
        }
        for &redraw in &behaviours {
            let rounds = rounds.unwrap_or(if redraw == ProbeRedraw::StillMoving { 1 } else { 2 });
            let mut base_runs = Vec::new();
            let mut our_runs: Vec<(Render, Vec<Phases>)> = o.renders.iter().map(|&r| (r, Vec::new())).collect();
            for _ in 0..rounds {
                base_runs.push(measure(None, case, redraw, &o).await.phases());
                for (render, runs) in &mut our_runs {
                    runs.push(measure(Some(*render), case, redraw, &o).await.phases());
                }
            }
            let names: Vec<&'static str> = base_runs[0].iter().map(|(n, _)| *n).collect();
            for (i, name) in names.into_iter().enumerate() {
                let pool_phase = |runs: &mut Vec<Phases>| {
                    pool(&runs.iter_mut().map(|r| std::mem::take(&mut r[i].1)).collect::<Vec<_>>())
                };
                let base = pool_phase(&mut base_runs);
                let game =
                    if name.is_empty() { redraw.name().to_string() } else { format!("{}, {name}", redraw.name()) };
                println!("{}", row(case.label, &game, "baseline", &base));
                let mut rows = vec![("baseline".to_string(), base)];
                for (render, runs) in &mut our_runs {
                    let ours = pool_phase(runs);
                    let run = format!("playcast {}", render.name());
                    println!("{}", row(case.label, &game, &run, &ours));
                    let ratio = |p: f64| percentile(&ours.samples, p) / percentile(&rows[0].1.samples, p);
                    println!(
                        "| {} | {game} | {} ratio | {:.2}x | {:.2}x | {:.2}x | | | | | |",
                        case.label,
                        render.name(),
                        ratio(50.0),
                        ratio(95.0),
                        ratio(99.0)
                    );
                    rows.push((run, ours));
                }
                for (run, r) in &rows {
                    if o.breakdown {
                        let g = &r.glass;
                        notes.push(format!(
                            "- {} {game}, {run}: redraw-to-display p50 {:.1} ms, p99 {:.1} ms ({} pictures)",
                            case.label,
                            percentile(g, 50.0),
                            percentile(g, 99.0),
                            g.len()
                        ));
                    }
                    if r.unpaired > 0 {
                        notes.push(format!(
                            "- {} {game}, {run}: {} presses not paired with the game's log (a press never reached it)",
                            case.label, r.unpaired
                        ));
                    }
                }
            }
        }
    }
    if !notes.is_empty() {
        println!();
        for n in notes {
            println!("{n}");
        }
    }
}
