//! Injects keys, buttons, motion and wheel into an X display through the
//! XTEST extension, and remembers what it holds so it can let go of all of it.

use std::collections::BTreeSet;

use x11rb::connection::{Connection, RequestConnection};
use x11rb::protocol::xproto::{self, ConnectionExt as _};
use x11rb::protocol::xtest::ConnectionExt as _;
use x11rb::rust_connection::RustConnection;

use super::keymap::{keysym_of, Keymap};
use super::protocol::Input;

#[derive(Debug, thiserror::Error)]
pub enum X11Error {
    #[error("cannot connect to X display `{display}`: {message}")]
    Connect { display: String, message: String },
    #[error("X display `{0}` has no XTEST extension")]
    NoXtest(String),
    #[error("X protocol: {0}")]
    Protocol(String),
}

fn protocol(e: impl std::fmt::Display) -> X11Error {
    X11Error::Protocol(e.to_string())
}

/// One wheel notch, in the protocol's units.
const NOTCH: i32 = 120;

pub struct X11Injector {
    conn: RustConnection,
    root: xproto::Window,
    width: u16,
    height: u16,
    keymap: Keymap,
    held_keys: BTreeSet<u8>,
    held_buttons: BTreeSet<u8>,
    /// Scroll not yet worth a whole notch, per axis.
    wheel: (i32, i32),
}

impl X11Injector {
    pub fn connect(display: &str) -> Result<Self, X11Error> {
        let connect_err =
            |e: &dyn std::fmt::Display| X11Error::Connect { display: display.into(), message: e.to_string() };
        let (conn, screen) = x11rb::connect(Some(display)).map_err(|e| connect_err(&e))?;
        if conn.extension_information(x11rb::protocol::xtest::X11_EXTENSION_NAME).map_err(protocol)?.is_none() {
            return Err(X11Error::NoXtest(display.into()));
        }
        let s = conn.setup().roots.get(screen).ok_or_else(|| connect_err(&"no such screen"))?;
        let (root, width, height) = (s.root, s.width_in_pixels, s.height_in_pixels);
        let (min, max) = (conn.setup().min_keycode, conn.setup().max_keycode);
        let reply = conn.get_keyboard_mapping(min, max - min + 1).map_err(protocol)?.reply().map_err(protocol)?;
        let keymap = Keymap::new(min, usize::from(reply.keysyms_per_keycode), &reply.keysyms);
        Ok(X11Injector {
            conn,
            root,
            width,
            height,
            keymap,
            held_keys: BTreeSet::new(),
            held_buttons: BTreeSet::new(),
            wheel: (0, 0),
        })
    }

    pub fn size(&self) -> (u16, u16) {
        (self.width, self.height)
    }

    /// Injects one message. Messages that are not for X (gamepads, control)
    /// are ignored; a key with no keysym is reported.
    pub fn inject(&mut self, input: &Input) -> Result<(), X11Error> {
        match *input {
            Input::Key { code, down } => {
                let keycode = self.keycode(code)?;
                if down {
                    self.held_keys.insert(keycode);
                } else if !self.held_keys.remove(&keycode) {
                    return Ok(()); // a release of a key we never pressed
                }
                self.fake(if down { xproto::KEY_PRESS_EVENT } else { xproto::KEY_RELEASE_EVENT }, keycode, 0, 0)?;
            }
            Input::Button { button, down } => {
                let b = button.x_number();
                if down {
                    self.held_buttons.insert(b);
                } else if !self.held_buttons.remove(&b) {
                    return Ok(());
                }
                self.fake(if down { xproto::BUTTON_PRESS_EVENT } else { xproto::BUTTON_RELEASE_EVENT }, b, 0, 0)?;
            }
            Input::MoveAbs { x, y } => {
                let scale = |v: u16, size: u16| ((u32::from(v) * u32::from(size.saturating_sub(1))) / 65535) as i16;
                self.fake(xproto::MOTION_NOTIFY_EVENT, 0, scale(x, self.width), scale(y, self.height))?;
            }
            // detail 1: the coordinates are relative to where the pointer is.
            Input::MoveRel { dx, dy } => self.fake(xproto::MOTION_NOTIFY_EVENT, 1, dx, dy)?,
            Input::Wheel { dx, dy } => {
                self.wheel.0 += i32::from(dx);
                self.wheel.1 += i32::from(dy);
                // Buttons 4/5 scroll up/down, 6/7 left/right.
                let (x_clicks, y_clicks) = (self.wheel.0 / NOTCH, self.wheel.1 / NOTCH);
                self.wheel = (self.wheel.0 % NOTCH, self.wheel.1 % NOTCH);
                for (clicks, less, more) in [(y_clicks, 4, 5), (x_clicks, 6, 7)] {
                    let b = if clicks < 0 { less } else { more };
                    for _ in 0..clicks.unsigned_abs().min(20) {
                        self.fake(xproto::BUTTON_PRESS_EVENT, b, 0, 0)?;
                        self.fake(xproto::BUTTON_RELEASE_EVENT, b, 0, 0)?;
                    }
                }
            }
            Input::ReleaseAll => return self.release_all(),
            _ => return Ok(()),
        }
        self.conn.flush().map_err(protocol)
    }

    /// Lets go of every key and button this injector holds.
    pub fn release_all(&mut self) -> Result<(), X11Error> {
        for k in std::mem::take(&mut self.held_keys) {
            self.fake(xproto::KEY_RELEASE_EVENT, k, 0, 0)?;
        }
        for b in std::mem::take(&mut self.held_buttons) {
            self.fake(xproto::BUTTON_RELEASE_EVENT, b, 0, 0)?;
        }
        self.wheel = (0, 0);
        self.conn.flush().map_err(protocol)
    }

    pub fn holds_anything(&self) -> bool {
        !self.held_keys.is_empty() || !self.held_buttons.is_empty()
    }

    fn fake(&self, kind: u8, detail: u8, x: i16, y: i16) -> Result<(), X11Error> {
        self.conn.xtest_fake_input(kind, detail, x11rb::CURRENT_TIME, self.root, x, y, 0).map_err(protocol)?;
        Ok(())
    }

    /// The display's key code for a Linux key code; a keysym the display's
    /// keymap lacks is bound to a spare key code first.
    fn keycode(&mut self, code: u16) -> Result<u8, X11Error> {
        let sym = keysym_of(code).ok_or_else(|| X11Error::Protocol(format!("key code {code} has no X keysym")))?;
        if let Some(k) = self.keymap.keycode(sym) {
            return Ok(k);
        }
        let k = self
            .keymap
            .assign_spare(sym)
            .ok_or_else(|| X11Error::Protocol(format!("no free key code for keysym 0x{sym:x}")))?;
        self.conn.change_keyboard_mapping(1, k, 1, &[sym]).map_err(protocol)?;
        tracing::debug!(code, keysym = sym, keycode = k, "bound a spare key code");
        Ok(k)
    }
}

impl Drop for X11Injector {
    fn drop(&mut self) {
        let _ = self.release_all();
    }
}
