//! `playcastx11src`'s pace against a real Xvfb: test games redrawing at 1000,
//! 144, 60 and 30 Hz and not at all, captured at a 60 (and 30) fps stream. Each
//! asserts the delivered frame rate (never above the stream's), the keep-alive
//! of a still screen, and the delay from each change to the grab that holds it:
//! at once when the frame slot is free, when the slot opens when it comes early.
//!
//! The figures go to stdout (`cargo test -p gst-plugin-playcast-x11capture
//! --test pacing -- --nocapture`).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use gst::prelude::*;
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{self, ConnectionExt as _};

struct Xvfb(Child, String);

impl Xvfb {
    fn start() -> Xvfb {
        let mut child = Command::new("Xvfb")
            .args(["-displayfd", "1", "-screen", "0", "320x240x24", "-nolisten", "tcp"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb runs (scripts/setup.sh installs it)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let display = format!(":{}", line.trim());
        Xvfb(child, display)
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn init() {
    gst::init().unwrap();
    gstplaycastx11capture::plugin_register_static().unwrap();
}

fn pull(sink: &gst::Element, timeout: Duration) -> Option<gst::Sample> {
    sink.emit_by_name::<Option<gst::Sample>>("try-pull-sample", &[&(timeout.as_nanos() as u64)])
}

/// BGRx of the pixel at (x, y) in a 320-wide frame.
fn pixel(sample: &gst::Sample, x: usize, y: usize) -> [u8; 3] {
    let map = sample.buffer().unwrap().map_readable().unwrap();
    let i = (y * 320 + x) * 4;
    [map[i + 2], map[i + 1], map[i]]
}

/// The pacing tests measure time; one at a time, so they do not load each other.
static TIMED: Mutex<()> = Mutex::new(());

/// How a test game redraws.
#[derive(Debug, Clone, Copy)]
enum Redraw {
    /// Every this long, on a fixed schedule (a game without vsync: 1 ms).
    Every(Duration),
    /// Once, then never again.
    Still,
}

/// A test game: one window over the whole screen, filled in one request
/// with a colour that numbers the redraw (redraw n is 0xRRGGBB = n), so a
/// grab shows which redraw it holds. Returns when each redraw was sent,
/// on `clock` (`drawn[n - 1]` for redraw n), and when the game stopped.
fn game(display: &str, redraw: Redraw, run: Duration, clock: &gst::Clock) -> Played {
    let (conn, screen) = x11rb::connect(Some(display)).unwrap();
    let s = &conn.setup().roots[screen];
    let (root, width, height) = (s.root, s.width_in_pixels, s.height_in_pixels);
    let win = conn.generate_id().unwrap();
    let aux = xproto::CreateWindowAux::new().background_pixel(0).override_redirect(1);
    let class = xproto::WindowClass::INPUT_OUTPUT;
    conn.create_window(0, win, root, 0, 0, width, height, 0, class, 0, &aux).unwrap();
    conn.map_window(win).unwrap();
    let gc = conn.generate_id().unwrap();
    conn.create_gc(gc, win, &xproto::CreateGCAux::new()).unwrap();
    conn.get_input_focus().unwrap().reply().unwrap();
    let whole = xproto::Rectangle { x: 0, y: 0, width, height };
    let mut drawn = Vec::new();
    let mut draw = |n: u32| {
        conn.change_gc(gc, &xproto::ChangeGCAux::new().foreground(n)).unwrap();
        drawn.push(clock.time());
        conn.poly_fill_rectangle(win, gc, &[whole]).unwrap();
        conn.flush().unwrap();
    };
    let end = Instant::now() + run;
    draw(1);
    match redraw {
        Redraw::Still => std::thread::sleep(run),
        Redraw::Every(period) => {
            let mut next = Instant::now() + period;
            let mut n = 1;
            while next < end {
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
                n += 1;
                draw(n);
                next += period;
                // A game that fell behind (a loaded machine) skips, it does not burst.
                if next < Instant::now() {
                    next = Instant::now() + period;
                }
            }
        }
    }
    // Every redraw is on the screen before the game says it is done.
    conn.get_input_focus().unwrap().reply().unwrap();
    Played { drawn, ended: clock.time() }
}

/// What a test game did.
struct Played {
    drawn: Vec<gst::ClockTime>,
    ended: gst::ClockTime,
}

/// One grab: when it was taken (its timestamp, on the pipeline clock), when
/// the appsink handed it over, and the redraw it holds (0: none yet).
#[derive(Debug, Clone, Copy)]
struct Grab {
    at: gst::ClockTime,
    got: gst::ClockTime,
    redraw: u32,
}

/// Runs a game on a fresh Xvfb for `run` under a capture at `fps`; returns the grabs and what the game did.
fn play(redraw: Redraw, fps: u32, run: Duration) -> (Vec<Grab>, Played) {
    let x = Xvfb::start();
    init();
    let desc = format!(
        "playcastx11src display-name={} ! video/x-raw,framerate={fps}/1 ! appsink name=sink sync=false max-buffers=1000",
        x.1
    );
    let pipeline = gst::parse::launch(&desc).unwrap().downcast::<gst::Pipeline>().unwrap();
    let sink = pipeline.by_name("sink").unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let first = pull(&sink, Duration::from_secs(5)).expect("the first frame at once");
    let caps = first.caps().unwrap().structure(0).unwrap().to_owned();
    assert_eq!(caps.get::<gst::Fraction>("framerate").unwrap(), gst::Fraction::new(fps as i32, 1));
    let (clock, base) = (pipeline.clock().unwrap(), pipeline.base_time().unwrap());
    let display = x.1.clone();
    let game_clock = clock.clone();
    let game = std::thread::spawn(move || game(&display, redraw, run, &game_clock));
    let mut grabs = Vec::new();
    let mut done = None;
    // Pull as they come, so the grabs' shared segments go back to the capture.
    while done.is_none_or(|d: Instant| d.elapsed() < Duration::from_millis(300)) {
        if let Some(s) = pull(&sink, Duration::from_millis(20)) {
            let [r, g, b] = pixel(&s, 160, 120);
            let redraw = u32::from_be_bytes([0, r, g, b]);
            let (at, got) = (base + s.buffer().unwrap().pts().unwrap(), clock.time());
            grabs.push(Grab { at, got, redraw });
        }
        if done.is_none() && game.is_finished() {
            done = Some(Instant::now());
        }
    }
    let played = game.join().unwrap();
    pipeline.set_state(gst::State::Null).unwrap();
    (grabs, played)
}

/// What the grabs of one run show, over the run less its first half second.
#[derive(Debug)]
struct Figures {
    /// Frames a second delivered.
    fps: f64,
    /// Redraws a second the game made.
    game_fps: f64,
    /// The least time between two grabs' timestamps, over the whole run.
    least_gap: Duration,
    /// How far any 30 consecutive grabs fall short of spanning 29 intervals.
    crowded: Duration,
    /// From a change that came while the slot was free to its grab.
    free: Vec<Duration>,
    /// From a change that came before the slot opened to its grab.
    early: Vec<Duration>,
    /// From the slot opening to the grab of an early change.
    after_slot: Vec<Duration>,
    /// Grabs that hold no new redraw (keep-alives, or a change grabbed twice).
    repeats: usize,
    /// Redraws that were on screen only between two grabs: replaced before the next slot.
    coalesced: usize,
    /// Grabs that miss a redraw sent more than 10 ms before them: not the
    /// latest picture (a loaded Xvfb may still hold a redraw a few ms).
    stale: usize,
    /// From a grab's timestamp to the test holding it: the timestamp is no promise.
    handed: Vec<Duration>,
}

fn figures(grabs: &[Grab], played: &Played, fps: u32) -> Figures {
    let (drawn, to) = (&played.drawn, played.ended);
    let interval = Duration::from_nanos(1_000_000_000 / u64::from(fps));
    let from = drawn[0] + gst::ClockTime::from_mseconds(500);
    let seconds = (to - from).seconds_f64();
    let in_window = |t: gst::ClockTime| t >= from && t < to;
    let ns = |t: gst::ClockTime| Duration::from_nanos(t.nseconds());
    let mut f = Figures {
        fps: grabs.iter().filter(|g| in_window(g.at)).count() as f64 / seconds,
        game_fps: drawn.iter().filter(|&&d| in_window(d)).count() as f64 / seconds,
        least_gap: grabs.windows(2).map(|w| ns(w[1].at) - ns(w[0].at)).min().unwrap(),
        crowded: grabs
            .windows(30)
            .map(|w| (interval * 29).saturating_sub(ns(w[29].at) - ns(w[0].at)))
            .max()
            .unwrap_or_default(),
        free: Vec::new(),
        early: Vec::new(),
        after_slot: Vec::new(),
        repeats: 0,
        coalesced: 0,
        stale: 0,
        handed: Vec::new(),
    };
    // The game's window goes with it: later grabs show the bare screen (and
    // one stamped up to 2 ms before its readback may show it gone).
    let during = grabs.iter().position(|g| g.at + gst::ClockTime::from_mseconds(5) >= to).unwrap_or(grabs.len());
    for w in grabs[..during].windows(2) {
        let (prev, grab) = (w[0], w[1]);
        assert!(grab.redraw >= prev.redraw, "a grab went back in time: {prev:?} then {grab:?}");
        if !in_window(grab.at) || prev.redraw == 0 {
            continue;
        }
        f.handed.push(ns(grab.got).saturating_sub(ns(grab.at)));
        let settled = grab.at.saturating_sub(gst::ClockTime::from_mseconds(10));
        if drawn.get(grab.redraw as usize).is_some_and(|&next| next < settled) {
            f.stale += 1;
        }
        if grab.redraw == prev.redraw {
            f.repeats += 1;
            continue;
        }
        f.coalesced += (grab.redraw - prev.redraw - 1) as usize;
        // The first change after the last grab waited longest for this one.
        let change = ns(drawn[prev.redraw as usize]);
        let slot = ns(prev.at) + interval;
        let delay = ns(grab.at).saturating_sub(change);
        if change >= slot {
            f.free.push(delay);
        } else {
            f.early.push(delay);
            f.after_slot.push(ns(grab.at).saturating_sub(slot));
        }
    }
    f
}

/// The `q` quantile (0..=1) of `v`, in milliseconds.
fn ms(v: &[Duration], q: f64) -> f64 {
    let mut v = v.to_vec();
    v.sort();
    v.get(((v.len().saturating_sub(1)) as f64 * q).round() as usize).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

fn report(name: &str, f: &Figures) {
    println!(
        "{name}: {:.1} fps delivered for {:.1} redraws/s; least gap {:.2} ms; repeats {}, coalesced {}, stale {}; \
         free slot: {} changes, delay median {:.2} p90 {:.2} max {:.2} ms; early: {} changes, delay median {:.2} \
         p90 {:.2} max {:.2} ms, after the slot median {:.2} p90 {:.2} max {:.2} ms; handed over after median \
         {:.2} p90 {:.2} ms",
        f.fps,
        f.game_fps,
        f.least_gap.as_secs_f64() * 1000.0,
        f.repeats,
        f.coalesced,
        f.stale,
        f.free.len(),
        ms(&f.free, 0.5),
        ms(&f.free, 0.9),
        ms(&f.free, 1.0),
        f.early.len(),
        ms(&f.early, 0.5),
        ms(&f.early, 0.9),
        ms(&f.early, 1.0),
        ms(&f.after_slot, 0.5),
        ms(&f.after_slot, 0.9),
        ms(&f.after_slot, 1.0),
        ms(&f.handed, 0.5),
        ms(&f.handed, 0.9),
    );
}

/// Runs one game under one stream rate and checks what every run must show.
fn paced(name: &str, redraw: Redraw, fps: u32) -> Figures {
    let _one = TIMED.lock().unwrap_or_else(|e| e.into_inner());
    let (grabs, played) = play(redraw, fps, Duration::from_millis(3500));
    let f = figures(&grabs, &played, fps);
    report(name, &f);
    let interval = Duration::from_nanos(1_000_000_000 / u64::from(fps));
    // The cap, exactly: timestamps are the grab times the pacing keeps to
    // (due an interval apart, each at most one interval early, never two
    // within half an interval).
    assert!(f.least_gap >= interval / 2, "{name}: two grabs {:?} apart at {fps} fps", f.least_gap);
    assert!(f.crowded <= interval, "{name}: 30 grabs short of 29 intervals by {:?}", f.crowded);
    assert!(f.fps <= f64::from(fps) + 0.5, "{name}: {:.1} fps delivered at {fps} fps", f.fps);
    assert!(ms(&f.handed, 0.5) <= 3.0, "{name}: grabs reach the sink long after their timestamps");
    let grabbed = f.free.len() + f.early.len() + f.repeats;
    assert!(f.stale * 10 <= grabbed, "{name}: {} of {grabbed} grabs miss a redraw sent 10 ms before them", f.stale);
    // A change in a free slot is grabbed at once; an early one when the slot
    // opens (judged where they are more than a few, not on one odd change).
    if f.free.len() >= 20 {
        assert!(
            ms(&f.free, 0.5) <= 3.0 && ms(&f.free, 0.9) <= 12.0,
            "{name}: grabs of changes in a free slot came late"
        );
    }
    if f.after_slot.len() >= 20 {
        let (median, p90) = (ms(&f.after_slot, 0.5), ms(&f.after_slot, 0.9));
        assert!(median <= 3.0 && p90 <= 12.0, "{name}: early changes were grabbed late after their slot opened");
        let most = interval.as_secs_f64() * 1000.0 + 12.0;
        assert!(ms(&f.early, 0.9) <= most, "{name}: early changes waited more than an interval");
    }
    f
}

#[test]
fn an_uncapped_game_is_capped_at_the_stream_rate() {
    let f = paced("1000 Hz at 60 fps", Redraw::Every(Duration::from_millis(1)), 60);
    assert!(f.game_fps > 300.0, "the game redrew only {:.0} times a second", f.game_fps);
    assert!(f.fps >= 50.0, "{:.1} fps for a game redrawing all the time", f.fps);
    assert!(f.early.len() > f.free.len() * 4, "changes keep coming before the slot: most wait for it");
    let f = paced("1000 Hz at 30 fps", Redraw::Every(Duration::from_millis(1)), 30);
    assert!((26.0..=30.5).contains(&f.fps), "{:.1} fps at 30 fps", f.fps);
}

#[test]
fn a_144_hz_game_is_capped_and_each_change_waits_at_most_a_frame() {
    let f = paced("144 Hz at 60 fps", Redraw::Every(Duration::from_nanos(1_000_000_000 / 144)), 60);
    assert!(f.fps >= 50.0, "{:.1} fps for a 144 Hz game", f.fps);
    assert!(f.coalesced > 0, "redraws between two slots ride in one grab");
}

#[test]
fn a_60_hz_game_at_60_fps_gets_each_redraw() {
    let f = paced("60 Hz at 60 fps", Redraw::Every(Duration::from_nanos(1_000_000_000 / 60)), 60);
    assert!(f.fps >= 0.85 * f.game_fps, "{:.1} fps for {:.1} redraws a second", f.fps, f.game_fps);
    // Grabbed as each redraw comes, not at a delay a fixed tick would add.
    let all: Vec<Duration> = f.free.iter().chain(&f.early).copied().collect();
    assert!(ms(&all, 0.5) <= 4.0, "60 Hz redraws grabbed a median {:.2} ms after they came", ms(&all, 0.5));
}

#[test]
fn a_30_hz_game_at_60_fps_is_grabbed_once_per_redraw_at_once() {
    let f = paced("30 Hz at 60 fps", Redraw::Every(Duration::from_nanos(1_000_000_000 / 30)), 60);
    assert!((0.9 * f.game_fps..=f.game_fps + 0.5).contains(&f.fps), "{:.1} fps for {:.1} redraws", f.fps, f.game_fps);
    assert!(f.repeats <= 3, "{} grabs of a picture already sent", f.repeats);
    assert!(f.free.len() >= f.early.len() * 9, "changes 33 ms apart find the slot free");
}

#[test]
fn a_still_screen_is_sent_at_the_keep_alive_rate() {
    let f = paced("still at 60 fps", Redraw::Still, 60);
    // idle-interval 100 ms: ten frames a second.
    assert!((8.0..=10.5).contains(&f.fps), "{:.1} fps of a still screen", f.fps);
}
