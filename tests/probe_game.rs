//! The latency probe game's redraw behaviours (`playcast-probe --redraw`) on
//! a real Xvfb: every redraw carries its time in the strip `media::stamp`
//! reads, the 60 Hz game redraws about 60 times a second and the uncapped
//! one more, the still-moving game stands still until it logs its motion,
//! and a key press is redrawn at once even while still.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Xvfb;
use playcast::media::stamp;
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{self, ConnectionExt as _};
use x11rb::protocol::xtest::ConnectionExt as _;

const STRIP: u16 = (stamp::CELL * stamp::CELLS) as u16;

/// The game on a display, its output lines collected as they come.
struct Game {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Game {
    fn start(display: &str, args: &[&str]) -> Game {
        let mut child = Command::new(env!("CARGO_BIN_EXE_playcast-probe"))
            .args(args)
            .env("DISPLAY", display)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("playcast-probe runs");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Game { child, lines }
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Waits for a line starting with `prefix`.
    fn wait_line(&self, prefix: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(l) = self.lines().into_iter().find(|l| l.starts_with(prefix)) {
                return l;
            }
            assert!(Instant::now() < deadline, "no `{prefix}` line within {timeout:?}: {:?}", self.lines());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Game {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The time in the screen's strip, in the strip's units (100 µs).
fn strip_time(conn: &impl Connection, root: xproto::Window) -> Option<u32> {
    let image = conn.get_image(xproto::ImageFormat::Z_PIXMAP, root, 0, 0, STRIP, 16, !0).ok()?.reply().ok()?;
    // 32-bit pixels, grey: any one channel is the luma.
    let luma: Vec<u8> = image.data.chunks_exact(4).map(|p| p[1]).collect();
    stamp::read(&luma, usize::from(STRIP))
}

/// Waits until the strip reads, and returns it.
fn first_strip(conn: &impl Connection, root: xproto::Window) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(t) = strip_time(conn, root) {
            return t;
        }
        assert!(Instant::now() < deadline, "the game drew no readable strip");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// How old a strip time is, in ms (the clock wraps like the strip's).
fn age_ms(t: u32) -> f64 {
    f64::from(stamp::now_ticks().wrapping_sub(t) as i32) / 10.0
}

fn connect(display: &str) -> (x11rb::rust_connection::RustConnection, xproto::Window) {
    let (conn, screen) = x11rb::connect(Some(display)).expect("connect to Xvfb");
    let root = conn.setup().roots[screen].root;
    (conn, root)
}

/// The mean of the game's `redraws N` lines after the first (partial) one.
fn redraw_rate(game: &Game) -> f64 {
    let counts: Vec<f64> =
        game.lines().iter().filter_map(|l| l.strip_prefix("redraws ")?.parse().ok()).skip(1).collect();
    assert!(!counts.is_empty(), "no redraw counts: {:?}", game.lines());
    counts.iter().sum::<f64>() / counts.len() as f64
}

#[test]
fn the_60_hz_game_stamps_each_redraw_about_60_times_a_second() {
    let x = Xvfb::start("640x360");
    let game = Game::start(&x.1, &["--redraw", "60"]);
    let (conn, root) = connect(&x.1);
    let first = first_strip(&conn, root);
    std::thread::sleep(Duration::from_millis(100));
    let later = strip_time(&conn, root).expect("a readable strip");
    assert_ne!(first, later, "the strip did not change in 100 ms");
    assert!(age_ms(later) < 100.0, "the strip is {} ms old", age_ms(later));
    std::thread::sleep(Duration::from_millis(3200));
    let rate = redraw_rate(&game);
    assert!((45.0..=65.0).contains(&rate), "{rate} redraws a second");
}

#[test]
fn the_uncapped_game_redraws_faster_than_60_hz() {
    let x = Xvfb::start("640x360");
    let game = Game::start(&x.1, &["--redraw", "uncapped"]);
    let (conn, root) = connect(&x.1);
    let t = first_strip(&conn, root);
    assert!(age_ms(t) < 100.0, "the strip is {} ms old", age_ms(t));
    std::thread::sleep(Duration::from_millis(3200));
    let rate = redraw_rate(&game);
    assert!(rate > 90.0, "{rate} redraws a second");
}

#[test]
fn the_still_game_stands_still_until_it_moves_and_redraws_a_key_at_once() {
    let x = Xvfb::start("640x360");
    let game = Game::start(&x.1, &["--redraw", "still-moving", "--still-seconds", "2"]);
    let (conn, root) = connect(&x.1);
    let first = first_strip(&conn, root);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(strip_time(&conn, root), Some(first), "a still game redrew");
    assert!(game.lines().iter().all(|l| !l.starts_with("moving at")), "it moved at once: {:?}", game.lines());

    // A key press while still: a new colour, drawn with a fresh time.
    conn.xtest_fake_input(xproto::KEY_PRESS_EVENT, 65, x11rb::CURRENT_TIME, root, 0, 0, 0).unwrap();
    conn.xtest_fake_input(xproto::KEY_RELEASE_EVENT, 65, x11rb::CURRENT_TIME, root, 0, 0, 0).unwrap();
    conn.flush().unwrap();
    game.wait_line("colour 1 ", Duration::from_secs(2));
    std::thread::sleep(Duration::from_millis(100));
    let pressed = strip_time(&conn, root).expect("a readable strip");
    assert_ne!(pressed, first, "the press was not redrawn");
    assert!(age_ms(pressed) < 250.0, "the press's redraw is {} ms old", age_ms(pressed));

    let moving = game.wait_line("moving at ", Duration::from_secs(5));
    let at_us: f64 = moving["moving at ".len()..].parse().unwrap();
    let now_us = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_micros() as f64;
    assert!(now_us - at_us < 2_000_000.0, "{moving}");
    std::thread::sleep(Duration::from_millis(100));
    let a = strip_time(&conn, root).expect("a readable strip");
    std::thread::sleep(Duration::from_millis(100));
    let b = strip_time(&conn, root).expect("a readable strip");
    assert_ne!(a, b, "the game did not move");
    assert!(age_ms(b) < 100.0, "the strip is {} ms old", age_ms(b));
}
