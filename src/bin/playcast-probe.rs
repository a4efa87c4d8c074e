//! The latency probe game: an X11 window filled with one colour that changes
//! on every key press or mouse click, over a band of moving stripes so the
//! encoder has real work. Input-to-photon tests and the benchmark press a
//! key in the browser and watch for the colour to change in the video.
//!
//! It prints one line per change, `colour N RRGGBB at MICROS` (the Unix time in
//! microseconds when the event reached it), so a log shows what it saw and when:
//! the benchmark takes the one-way input latency from it.
//!
//! `--redraw 60|uncapped|still-moving` makes it a game for the benchmarks of
//! the players' path: every redraw ends with the time it was drawn, in the
//! pixel strip that `media::stamp` and the page's `stamp.js` read (34 cells of
//! 16x16 at the top left: white, black, then bits 31..0 of the time in 100 µs
//! units), so the page measures glass-to-glass from the game's own redraw.
//! Its band then also carries confetti, different at every moving redraw,
//! so that the encoder meets new detail as in a game, not only motion.
//! - `60`: redraws on a 60 Hz tick, as a game with vsync;
//! - `uncapped`: redraws as fast as the X server takes it, as a game without
//!   vsync (one round trip per redraw, so requests never pile up);
//! - `still-moving`: draws once and stays still for `--still-seconds` (30 by
//!   default) or until it gets SIGUSR1, then redraws on a 60 Hz tick; it
//!   prints `moving at MICROS` when the motion starts.
//!
//! A key press or click is redrawn at once in every behaviour. With
//! `--redraw` it also prints `redraws N` once a second (redraws in that second).

use std::io::Write;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{self, ConnectionExt as _, EventMask, ImageFormat, ImageOrder, Rectangle};
use x11rb::protocol::Event;

/// Colours far apart in every channel, so compression never confuses two.
const COLOURS: [u32; 6] = [0xff0000, 0x00ff00, 0x0000ff, 0xffff00, 0xff00ff, 0x00ffff];
const FRAME: Duration = Duration::from_micros(16_667);
/// The stamp strip, as `media::stamp` lays it out.
const CELL: u16 = 16;
const CELLS: u16 = 34;
/// The band's stripes move this many pixels per 60 Hz frame.
const SPEED: u64 = 8;
const STRIPE: u16 = 32;
/// Confetti colours per redraw (one X request each).
const CONFETTI_COLOURS: u32 = 8;

type Error = Box<dyn std::error::Error>;

/// Set by SIGUSR1: a still-moving game starts moving now.
static MOVE_NOW: AtomicBool = AtomicBool::new(false);

extern "C" fn move_now(_: nix::libc::c_int) {
    MOVE_NOW.store(true, Ordering::Relaxed);
}

/// How the game redraws.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Redraw {
    /// The probe as it always was: the band on a 60 Hz tick, no stamp.
    Plain,
    Hz60,
    Uncapped,
    StillMoving {
        still: Duration,
    },
}

impl Redraw {
    fn from_args() -> Result<Redraw, Error> {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let value = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1));
        let still = match value("--still-seconds") {
            Some(s) => Duration::from_secs_f64(s.parse::<f64>().map_err(|e| format!("--still-seconds {s}: {e}"))?),
            None => Duration::from_secs(30),
        };
        Ok(match value("--redraw").map(String::as_str) {
            None => Redraw::Plain,
            Some("60") => Redraw::Hz60,
            Some("uncapped") => Redraw::Uncapped,
            Some("still-moving") => Redraw::StillMoving { still },
            Some(other) => return Err(format!("--redraw takes 60, uncapped or still-moving, not {other}").into()),
        })
    }

    fn stamps(self) -> bool {
        self != Redraw::Plain
    }
}

fn unix_now() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}

/// The strip's pixels for `time` as a Z-pixmap image of 32-bit pixels.
fn strip_image(time: Duration, msb_first: bool) -> Vec<u8> {
    let ticks = (time.as_micros() / 100) as u32;
    let white = |cell: u16| match cell {
        0 => true,
        1 => false,
        n => ticks >> (31 - (n - 2)) & 1 == 1,
    };
    let mut row = Vec::with_capacity(usize::from(CELLS * CELL) * 4);
    for x in 0..CELLS * CELL {
        let pixel: u32 = if white(x / CELL) { 0xffffff } else { 0 };
        row.extend_from_slice(&if msb_first { pixel.to_be_bytes() } else { pixel.to_le_bytes() });
    }
    row.repeat(usize::from(CELL))
}

struct Game<C: Connection> {
    conn: C,
    window: xproto::Window,
    gc: xproto::Gcontext,
    depth: u8,
    msb_first: bool,
    width: u16,
    height: u16,
    /// The strip fits in 32-bit Z-pixmap pixels on this screen.
    strip_ok: bool,
    started: Instant,
}

impl<C: Connection> Game<C> {
    fn fill(&self, colour: u32, rects: &[Rectangle]) -> Result<(), Error> {
        self.conn.change_gc(self.gc, &xproto::ChangeGCAux::new().foreground(colour))?;
        self.conn.poly_fill_rectangle(self.window, self.gc, rects)?;
        Ok(())
    }

    fn band(&self) -> u16 {
        self.height / 4
    }

    /// The top three quarters in `colour`.
    fn field(&self, colour: u32) -> Result<(), Error> {
        self.fill(colour, &[Rectangle { x: 0, y: 0, width: self.width, height: self.height - self.band() }])
    }

    /// The bottom quarter: light stripes on dark, moved by `shift` pixels.
    fn stripes(&self, shift: i16) -> Result<(), Error> {
        let (y, band) = ((self.height - self.band()) as i16, self.band());
        self.fill(0x202020, &[Rectangle { x: 0, y, width: self.width, height: band }])?;
        let rects: Vec<Rectangle> = (-i32::from(STRIPE * 2)..i32::from(self.width))
            .step_by(usize::from(STRIPE * 2))
            .map(|x| Rectangle { x: x as i16 + shift, y, width: STRIPE, height: band })
            .collect();
        self.fill(0xe0e0e0, &rects)
    }

    /// Confetti over the band: small rectangles of random colours at random
    /// places, different for each `seed`, so that each moving frame has new
    /// detail to encode as a game's has, not only motion the encoder predicts.
    fn confetti(&self, seed: u32) -> Result<(), Error> {
        let (top, band) = (self.height - self.band(), self.band());
        let mut state = seed.wrapping_mul(0x9e37_79b9) | 1;
        let mut next = move || {
            // xorshift32
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state
        };
        let count = u32::from(self.width) * u32::from(band) / 2000;
        for _ in 0..CONFETTI_COLOURS {
            let colour = next() & 0xffffff;
            let rects: Vec<Rectangle> = (0..count / CONFETTI_COLOURS)
                .map(|_| {
                    let (r, size) = (next(), next());
                    Rectangle {
                        x: (r % u32::from(self.width.max(1))) as i16,
                        y: (top + ((r >> 16) % u32::from(band.max(1))) as u16) as i16,
                        width: 8 + (size % 33) as u16,
                        height: 8 + ((size >> 8) % 33) as u16,
                    }
                })
                .collect();
            self.fill(colour, &rects)?;
        }
        Ok(())
    }

    /// Where the stripes are at `at`: 8 pixels per 60 Hz frame, whatever the redraw rate.
    fn shift_at(&self, at: Instant) -> i16 {
        let frames = at.duration_since(self.started).as_micros() as u64 * SPEED / FRAME.as_micros() as u64;
        (frames % u64::from(STRIPE * 2)) as i16
    }

    /// The time of this redraw in the strip: drawn last, so a capture that
    /// lands inside a redraw sees an older time, never a newer one. One
    /// request, so a capture never sees half a strip.
    fn stamp(&self, time: Duration) -> Result<(), Error> {
        if self.strip_ok {
            let data = strip_image(time, self.msb_first);
            self.conn.put_image(
                ImageFormat::Z_PIXMAP,
                self.window,
                self.gc,
                CELLS * CELL,
                CELL,
                0,
                0,
                0,
                self.depth,
                &data,
            )?;
        }
        Ok(())
    }
}

fn main() -> Result<(), Error> {
    let redraw = Redraw::from_args()?;
    let (conn, screen) = x11rb::connect(None)?;
    let setup = conn.setup();
    let s = &setup.roots[screen];
    let (root, width, height, depth) = (s.root, s.width_in_pixels, s.height_in_pixels, s.root_depth);
    let strip_ok = setup.pixmap_formats.iter().any(|f| f.depth == depth && f.bits_per_pixel == 32)
        && width >= CELLS * CELL
        && height >= CELL;
    let msb_first = setup.image_byte_order == ImageOrder::MSB_FIRST;
    let window = conn.generate_id()?;
    conn.create_window(
        x11rb::COPY_DEPTH_FROM_PARENT,
        window,
        root,
        0,
        0,
        width,
        height,
        0,
        xproto::WindowClass::INPUT_OUTPUT,
        x11rb::COPY_FROM_PARENT,
        &xproto::CreateWindowAux::new().override_redirect(1).event_mask(
            EventMask::KEY_PRESS | EventMask::BUTTON_PRESS | EventMask::STRUCTURE_NOTIFY | EventMask::EXPOSURE,
        ),
    )?;
    conn.map_window(window)?;
    // Keys go to this window whatever the pointer does.
    conn.set_input_focus(xproto::InputFocus::POINTER_ROOT, window, x11rb::CURRENT_TIME)?;
    let gc = conn.generate_id()?;
    conn.create_gc(gc, window, &xproto::CreateGCAux::new())?;
    conn.flush()?;
    if redraw.stamps() && !strip_ok {
        eprintln!("playcast-probe: this screen takes no 32-bit pixels or is too small: no time strip");
    }
    let started = Instant::now();
    let mut game = Game { conn, window, gc, depth, msb_first, width, height, strip_ok, started };

    let mut colour = 0usize;
    let mut next = started;
    let moving_from = match redraw {
        Redraw::StillMoving { still } => Some(started + still),
        _ => None,
    };
    let mut moving = moving_from.is_none();
    if moving_from.is_some() {
        let action = SigAction::new(SigHandler::Handler(move_now), SaFlags::empty(), SigSet::empty());
        // SAFETY: the handler only stores to an atomic.
        unsafe { sigaction(Signal::SIGUSR1, &action) }?;
    }
    let (mut redraws, mut counted_since) = (0u32, started);
    let mut frame = 1u32;
    let mut out = std::io::stdout();
    // A full repaint (field, band and stamp) is owed.
    let mut repaint = true;
    loop {
        while let Some(event) = game.conn.poll_for_event()? {
            match event {
                Event::KeyPress(_) | Event::ButtonPress(_) => {
                    let at = unix_now();
                    colour = (colour + 1) % COLOURS.len();
                    writeln!(out, "colour {colour} {:06x} at {}", COLOURS[colour], at.as_micros())?;
                    out.flush()?;
                    repaint = true;
                }
                Event::ConfigureNotify(e) => {
                    (game.width, game.height) = (e.width, e.height);
                    repaint = true;
                }
                Event::Expose(_) => repaint = true,
                _ => {}
            }
        }
        let now = Instant::now();
        let signalled = MOVE_NOW.load(Ordering::Relaxed);
        if moving_from.is_some_and(|f| !moving && (now >= f || signalled)) {
            moving = true;
            next = now;
            writeln!(out, "moving at {}", unix_now().as_micros())?;
            out.flush()?;
        }
        let tick = moving && (redraw == Redraw::Uncapped || now >= next);
        if repaint || tick {
            let drawn_at = unix_now();
            if repaint {
                game.field(COLOURS[colour])?;
            }
            // Still, the band stays as the first frame drew it.
            game.stripes(game.shift_at(if moving { now } else { started }))?;
            if redraw.stamps() {
                game.confetti(if moving { frame } else { 0 })?;
                game.stamp(drawn_at)?;
            }
            game.conn.flush()?;
            repaint = false;
            redraws += 1;
            frame = frame.wrapping_add(1);
            if tick && redraw != Redraw::Uncapped {
                next += FRAME;
                if next < now {
                    next = now + FRAME;
                }
            }
            if redraw == Redraw::Uncapped {
                // A game without vsync still waits for its frame to be
                // drawn; here, one round trip to the X server.
                game.conn.get_input_focus()?.reply()?;
            }
        }
        if redraw.stamps() && now.duration_since(counted_since) >= Duration::from_secs(1) {
            writeln!(out, "redraws {redraws}")?;
            out.flush()?;
            (redraws, counted_since) = (0, now);
        }
        if redraw == Redraw::Uncapped && moving {
            continue;
        }
        // Sleep until the next frame, the motion or an event, whichever is first.
        let until = if moving { next } else { moving_from.unwrap_or(now + Duration::from_secs(1)) };
        let wait = until.saturating_duration_since(Instant::now()).min(Duration::from_secs(1));
        let fd = game.conn.stream().as_fd();
        let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
        let timeout = PollTimeout::try_from(wait.as_millis() as u32).unwrap_or(PollTimeout::ZERO);
        match poll(&mut fds, timeout) {
            Ok(_) | Err(nix::Error::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_strip_reads_back_as_media_stamp_reads_it() {
        let time = Duration::from_micros(1_780_000_123_456_789);
        for msb_first in [false, true] {
            let image = strip_image(time, msb_first);
            // Grey pixels: the middle byte is green either way round.
            let luma: Vec<u8> = image.chunks_exact(4).map(|p| p[1]).collect();
            let read = playcast::media::stamp::read(&luma, usize::from(CELLS * CELL));
            assert_eq!(read, Some((time.as_micros() / 100) as u32));
        }
        assert_eq!(usize::from(CELL), playcast::media::stamp::CELL);
        assert_eq!(usize::from(CELLS), playcast::media::stamp::CELLS);
    }
}
