//! The latency probe game: an X11 window filled with one colour that changes
//! on every key press or mouse click, over a band of moving stripes so the
//! encoder has real work. Input-to-photon tests and the benchmark press a
//! key in the browser and watch for the colour to change in the video.
//!
//! It prints one line per change, `colour N RRGGBB at MICROS` (the Unix time in
//! microseconds when the event reached it), so a log shows what it saw and when:
//! the benchmark takes the one-way input latency from it.

use std::io::Write;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{self, ConnectionExt as _, EventMask, Rectangle};
use x11rb::protocol::Event;

/// Colours far apart in every channel, so compression never confuses two.
const COLOURS: [u32; 6] = [0xff0000, 0x00ff00, 0x0000ff, 0xffff00, 0xff00ff, 0x00ffff];
const FRAME: Duration = Duration::from_micros(16_667);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (conn, screen) = x11rb::connect(None)?;
    let s = &conn.setup().roots[screen];
    let (root, mut width, mut height) = (s.root, s.width_in_pixels, s.height_in_pixels);
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

    let mut colour = 0usize;
    let mut frame = 0u32;
    let mut next = Instant::now();
    let mut out = std::io::stdout();
    let fill = |c: u32, r: Rectangle| -> Result<(), Box<dyn std::error::Error>> {
        conn.change_gc(gc, &xproto::ChangeGCAux::new().foreground(c))?;
        conn.poly_fill_rectangle(window, gc, &[r])?;
        Ok(())
    };
    let mut repaint = true;
    loop {
        while let Some(event) = conn.poll_for_event()? {
            match event {
                Event::KeyPress(_) | Event::ButtonPress(_) => {
                    let at = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
                    colour = (colour + 1) % COLOURS.len();
                    writeln!(out, "colour {colour} {:06x} at {}", COLOURS[colour], at.as_micros())?;
                    out.flush()?;
                    repaint = true;
                }
                Event::ConfigureNotify(e) => {
                    (width, height) = (e.width, e.height);
                    repaint = true;
                }
                Event::Expose(_) => repaint = true,
                _ => {}
            }
        }
        // The top three quarters are the colour; the bottom quarter scrolls.
        let band = height / 4;
        if repaint {
            fill(COLOURS[colour], Rectangle { x: 0, y: 0, width, height: height - band })?;
            conn.flush()?;
            repaint = false;
        }
        if Instant::now() >= next {
            let stripe = 32u16;
            let shift = (frame * 8 % u32::from(stripe * 2)) as i16;
            fill(0x202020, Rectangle { x: 0, y: (height - band) as i16, width, height: band })?;
            for x in (-i32::from(stripe * 2)..i32::from(width)).step_by(usize::from(stripe * 2)) {
                let r = Rectangle { x: x as i16 + shift, y: (height - band) as i16, width: stripe, height: band };
                fill(0xe0e0e0, r)?;
            }
            conn.flush()?;
            frame = frame.wrapping_add(1);
            next += FRAME;
            if next < Instant::now() {
                next = Instant::now() + FRAME;
            }
        }
        // Sleep until the next frame or an event, whichever is first.
        let wait = next.saturating_duration_since(Instant::now());
        let fd = conn.stream().as_fd();
        let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
        let timeout = PollTimeout::try_from(wait.as_millis().min(1000) as u32).unwrap_or(PollTimeout::ZERO);
        match poll(&mut fds, timeout) {
            Ok(_) | Err(nix::Error::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}
