//! Virtual gamepads for a session's game.
//!
//! Where the kernel offers `/dev/uinput` the pads are real kernel devices
//! (`uinput.rs`); where it does not (containers, and this project's CI) a preload
//! library (`preload/gamepad`) in the game's environment presents
//! `/dev/input/js0..3` and `/dev/input/event0..3` itself and reads their
//! events from the per-session unix socket served here.
//!
//! The socket speaks in packets (SOCK_SEQPACKET): the library opens one
//! connection per device it opens and sends `[format, pad]` (format 0 is the
//! joystick API, 1 is evdev); the reply is `[1]` when that pad is connected,
//! `[0]` otherwise; then every packet is one `js_event` (8 bytes) or one
//! `input_event` (24 bytes) exactly as the kernel would deliver it.
//!
//! Pads arrive in the browser's standard mapping and are presented as an
//! Xbox 360 pad as Linux's xpad driver lays it out (8 axes, 11 buttons),
//! which games know best.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use nix::sys::socket::{self, AddressFamily, Backlog, MsgFlags, SockFlag, SockType, UnixAddr};

use serde::Serialize;

use super::evdev::{input_event, ABS_CODES, BTN_CODES, EV_ABS, EV_KEY, EV_SYN, JS_AXES, JS_BUTTONS};
use super::protocol::{Input, MAX_PADS};
use super::uinput::{self, UinputPad};
use crate::sync::Locked;

/// The preload library's file name, and the variable that tells it the socket.
pub const PRELOAD_FILE: &str = "libplaycast_gamepad.so";
pub const SOCKET_VAR: &str = "PLAYCAST_GAMEPAD_SOCKET";
/// Overrides where the preload library is looked for.
pub const PRELOAD_VAR: &str = "PLAYCAST_GAMEPAD_PRELOAD";

/// The preload library: `PLAYCAST_GAMEPAD_PRELOAD`, else beside the service
/// ([`shipped_dirs`](crate::files::shipped_dirs)), else the
/// system-wide install folder.
pub fn preload_library() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(PRELOAD_VAR) {
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    let dirs = crate::files::shipped_dirs().into_iter().chain([PathBuf::from("/usr/lib/playcast")]);
    dirs.map(|d| d.join(PRELOAD_FILE)).find(|p| p.is_file())
}

const JS_EVENT_BUTTON: u8 = 0x01;
const JS_EVENT_AXIS: u8 = 0x02;
const JS_EVENT_INIT: u8 = 0x80;

/// How gamepads reach the game.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GamepadPath {
    /// Kernel virtual devices through `/dev/uinput`.
    Uinput,
    /// A preload library in the game's environment presents the devices.
    Preload,
}

impl GamepadPath {
    /// The way this machine offers: uinput when this process can use it.
    pub fn on_this_machine() -> Self {
        if uinput::available() {
            GamepadPath::Uinput
        } else {
            GamepadPath::Preload
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GamepadError {
    #[error("gamepad socket `{path}`: {source}")]
    Socket { path: PathBuf, source: nix::Error },
    #[error("cannot start the gamepad thread: {0}")]
    Thread(std::io::Error),
    #[error("cannot create a uinput device: {0}")]
    Uinput(std::io::Error),
    #[error("gamepad {0} is not connected")]
    NotConnected(u8),
}

/// Where a control of the browser's standard mapping lands on the xpad layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Button(usize),
    /// An analog trigger: 0..=255 becomes an axis from -32767 to 32767.
    Trigger(usize),
    /// A d-pad button: the hat axis, and the direction it pushes.
    Hat(usize, i16),
}

/// Standard-mapping button `b` on the xpad layout.
pub fn button_target(b: u8) -> Option<Target> {
    Some(match b {
        0..=5 => Target::Button(usize::from(b)),
        6 => Target::Trigger(2),
        7 => Target::Trigger(5),
        8 => Target::Button(6),
        9 => Target::Button(7),
        10 => Target::Button(9),
        11 => Target::Button(10),
        12 => Target::Hat(7, -1),
        13 => Target::Hat(7, 1),
        14 => Target::Hat(6, -1),
        15 => Target::Hat(6, 1),
        16 => Target::Button(8),
        _ => return None,
    })
}

/// Standard-mapping axis `a` (left x, left y, right x, right y) on the js axes.
pub fn axis_target(a: u8) -> Option<usize> {
    Some(match a {
        0 => 0,
        1 => 1,
        2 => 3,
        3 => 4,
        _ => return None,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Joystick,
    Evdev,
}

#[derive(Debug, Clone, Copy, Default)]
struct Pad {
    connected: bool,
    axes: [i16; JS_AXES],
    buttons: [bool; JS_BUTTONS],
}

impl Pad {
    fn rest() -> Self {
        let mut p = Pad::default();
        // Triggers rest at their minimum.
        p.axes[2] = -32767;
        p.axes[5] = -32767;
        p
    }
}

struct Client {
    fd: OwnedFd,
    pad: u8,
    format: Format,
}

struct Shared {
    pads: [Pad; MAX_PADS as usize],
    /// Preload: the library's open devices.
    clients: Vec<Client>,
    /// uinput: one kernel device per connected pad; `None` when preloading.
    devices: Option<[Option<UinputPad>; MAX_PADS as usize]>,
}

/// One session's virtual gamepads: kernel devices through uinput, or devices
/// the preload library presents, served on a socket.
pub struct Gamepads {
    socket: Option<PathBuf>,
    shared: Arc<Mutex<Shared>>,
    epoch: Instant,
    listener: Option<Arc<OwnedFd>>,
}

impl Gamepads {
    /// Kernel devices where `/dev/uinput` can be used, else the preload
    /// library's, served on `socket`.
    pub fn start(socket: &Path) -> Result<Self, GamepadError> {
        if uinput::available() {
            let shared = Shared {
                pads: [Pad::rest(); MAX_PADS as usize],
                clients: Vec::new(),
                devices: Some(Default::default()),
            };
            return Ok(Gamepads {
                socket: None,
                shared: Arc::new(Mutex::new(shared)),
                epoch: Instant::now(),
                listener: None,
            });
        }
        Self::serve(socket)
    }

    /// Serves the preload library's devices on `socket` (created here).
    pub fn serve(socket: &Path) -> Result<Self, GamepadError> {
        let err = |source| GamepadError::Socket { path: socket.to_path_buf(), source };
        let _ = std::fs::remove_file(socket);
        let fd = socket::socket(AddressFamily::Unix, SockType::SeqPacket, SockFlag::SOCK_CLOEXEC, None).map_err(err)?;
        socket::bind(fd.as_raw_fd(), &UnixAddr::new(socket).map_err(err)?).map_err(err)?;
        socket::listen(&fd, Backlog::new(16).map_err(err)?).map_err(err)?;
        let shared =
            Arc::new(Mutex::new(Shared { pads: [Pad::rest(); MAX_PADS as usize], clients: Vec::new(), devices: None }));
        let listener = Arc::new(fd);
        let gamepads = Gamepads {
            socket: Some(socket.to_path_buf()),
            shared,
            epoch: Instant::now(),
            listener: Some(listener.clone()),
        };
        let (shared, epoch) = (gamepads.shared.clone(), gamepads.epoch);
        std::thread::Builder::new()
            .name("gamepad-accept".into())
            .spawn(move || accept_loop(&listener, &shared, epoch))
            .map_err(GamepadError::Thread)?;
        Ok(gamepads)
    }

    pub fn path(&self) -> GamepadPath {
        if self.listener.is_some() {
            GamepadPath::Preload
        } else {
            GamepadPath::Uinput
        }
    }

    /// The socket the preload library connects to (none with uinput).
    pub fn socket(&self) -> Option<&Path> {
        self.socket.as_deref()
    }

    /// Applies one gamepad message and sends the resulting events.
    pub fn apply(&mut self, input: &Input) -> Result<(), GamepadError> {
        let mut shared = self.shared.locked();
        let time = self.epoch.elapsed();
        match *input {
            Input::PadConnect { pad, connected } => {
                if !connected {
                    shared.pads[usize::from(pad)] = Pad::rest();
                    // Its open devices go away, as an unplugged pad's do.
                    shared.clients.retain(|c| c.pad != pad);
                    if let Some(devices) = &mut shared.devices {
                        devices[usize::from(pad)] = None;
                    }
                } else if !shared.pads[usize::from(pad)].connected {
                    if let Some(devices) = &mut shared.devices {
                        devices[usize::from(pad)] = Some(UinputPad::create(pad).map_err(GamepadError::Uinput)?);
                    }
                    shared.pads[usize::from(pad)].connected = true;
                }
            }
            Input::PadButton { pad, button, value } => {
                if !shared.pads[usize::from(pad)].connected {
                    return Err(GamepadError::NotConnected(pad));
                }
                let Some(target) = button_target(button) else { return Ok(()) };
                let change = shared.pads[usize::from(pad)].press(target, value);
                if let Some(change) = change {
                    shared.send(pad, change, time);
                }
            }
            Input::PadAxis { pad, axis, value } => {
                if !shared.pads[usize::from(pad)].connected {
                    return Err(GamepadError::NotConnected(pad));
                }
                let Some(a) = axis_target(axis) else { return Ok(()) };
                if shared.pads[usize::from(pad)].axes[a] != value {
                    shared.pads[usize::from(pad)].axes[a] = value;
                    shared.send(pad, Change::Axis(a, value), time);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Returns every connected pad to rest (buttons up, sticks centred).
    pub fn release_all(&mut self) {
        let mut shared = self.shared.locked();
        let time = self.epoch.elapsed();
        for pad in 0..MAX_PADS {
            let before = shared.pads[usize::from(pad)];
            if !before.connected {
                continue;
            }
            let rest = Pad { connected: true, ..Pad::rest() };
            shared.pads[usize::from(pad)] = rest;
            for a in 0..JS_AXES {
                if before.axes[a] != rest.axes[a] {
                    shared.send(pad, Change::Axis(a, rest.axes[a]), time);
                }
            }
            for b in 0..JS_BUTTONS {
                if before.buttons[b] {
                    shared.send(pad, Change::Button(b, false), time);
                }
            }
        }
    }
}

impl Drop for Gamepads {
    fn drop(&mut self) {
        // Wakes the accept thread (it sees the error and ends) and removes the socket.
        if let (Some(listener), Some(socket)) = (&self.listener, &self.socket) {
            let _ = socket::shutdown(listener.as_raw_fd(), socket::Shutdown::Both);
            let _ = std::fs::remove_file(socket);
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Change {
    Button(usize, bool),
    Axis(usize, i16),
}

impl Pad {
    fn press(&mut self, target: Target, value: u8) -> Option<Change> {
        match target {
            Target::Button(b) => {
                let down = value >= 128;
                (self.buttons[b] != down).then(|| {
                    self.buttons[b] = down;
                    Change::Button(b, down)
                })
            }
            Target::Trigger(a) => {
                let v = (i32::from(value) * 65534 / 255 - 32767) as i16;
                (self.axes[a] != v).then(|| {
                    self.axes[a] = v;
                    Change::Axis(a, v)
                })
            }
            Target::Hat(a, dir) => {
                let v = if value >= 128 { dir * 32767 } else { 0 };
                // Releasing one direction leaves the hat alone if the other is held.
                if v == 0 && self.axes[a].signum() != dir {
                    return None;
                }
                (self.axes[a] != v).then(|| {
                    self.axes[a] = v;
                    Change::Axis(a, v)
                })
            }
        }
    }
}

fn evdev(change: Change, time: std::time::Duration) -> Vec<u8> {
    let (kind, code, value) = match change {
        Change::Button(b, down) => (EV_KEY, BTN_CODES[b], i32::from(down)),
        Change::Axis(a, v) => (EV_ABS, ABS_CODES[a], i32::from(v)),
    };
    input_event(time, kind, code, value)
}

impl Shared {
    fn send(&mut self, pad: u8, change: Change, time: std::time::Duration) {
        if let Some(Some(device)) = self.devices.as_mut().map(|d| &mut d[usize::from(pad)]) {
            if let Err(e) = device.write_events(&[evdev(change, time)]) {
                tracing::debug!(pad, error = %e, "uinput write");
            }
        }
        self.clients.retain(|c| {
            if c.pad != pad {
                return true;
            }
            let packets = match c.format {
                Format::Joystick => vec![js_event(time, change, 0)],
                Format::Evdev => vec![evdev(change, time), input_event(time, EV_SYN, 0, 0)],
            };
            packets.iter().all(|p| deliver(&c.fd, p))
        });
    }
}

/// Sends one packet; `false` when the reader is gone. A reader that does not
/// keep up loses events, as it would with a full kernel buffer.
fn deliver(fd: &OwnedFd, packet: &[u8]) -> bool {
    match socket::send(fd.as_raw_fd(), packet, MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL) {
        Ok(_) | Err(nix::Error::EAGAIN) => true,
        Err(_) => false,
    }
}

fn js_event(time: std::time::Duration, change: Change, flags: u8) -> Vec<u8> {
    let (value, kind, number) = match change {
        Change::Button(b, down) => (i16::from(down), JS_EVENT_BUTTON, b),
        Change::Axis(a, v) => (v, JS_EVENT_AXIS, a),
    };
    let mut p = Vec::with_capacity(8);
    p.extend((time.as_millis() as u32).to_ne_bytes());
    p.extend(value.to_ne_bytes());
    p.push(kind | flags);
    p.push(number as u8);
    p
}

fn accept_loop(listener: &OwnedFd, shared: &Mutex<Shared>, epoch: Instant) {
    loop {
        let fd = match socket::accept(listener.as_raw_fd()) {
            // SAFETY: accept returned a new descriptor that nothing else owns.
            Ok(fd) => unsafe { OwnedFd::from_raw_fd(fd) },
            Err(nix::Error::EINTR) => continue,
            Err(_) => return,
        };
        let mut hello = [0u8; 2];
        let format = match socket::recv(fd.as_raw_fd(), &mut hello, MsgFlags::empty()) {
            Ok(2) if hello[0] == 0 => Format::Joystick,
            Ok(2) if hello[0] == 1 => Format::Evdev,
            _ => continue,
        };
        let pad = hello[1];
        let mut shared = shared.locked();
        let Some(state) = shared.pads.get(usize::from(pad)).copied().filter(|p| p.connected) else {
            let _ = socket::send(fd.as_raw_fd(), &[0], MsgFlags::MSG_NOSIGNAL);
            continue;
        };
        if socket::send(fd.as_raw_fd(), &[1], MsgFlags::MSG_NOSIGNAL).is_err() {
            continue;
        }
        if format == Format::Joystick {
            // The joystick API starts every reader with the state of each control.
            let time = epoch.elapsed();
            for b in 0..JS_BUTTONS {
                deliver(&fd, &js_event(time, Change::Button(b, state.buttons[b]), JS_EVENT_INIT));
            }
            for a in 0..JS_AXES {
                deliver(&fd, &js_event(time, Change::Axis(a, state.axes[a]), JS_EVENT_INIT));
            }
        }
        tracing::debug!(pad, ?format, "a game opened a virtual gamepad");
        shared.clients.push(Client { fd, pad, format });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_mapping_lands_on_xpad() {
        assert_eq!(button_target(0), Some(Target::Button(0)));
        assert_eq!(button_target(6), Some(Target::Trigger(2)));
        assert_eq!(button_target(9), Some(Target::Button(7)));
        assert_eq!(button_target(15), Some(Target::Hat(6, 1)));
        assert_eq!(button_target(17), None);
        assert_eq!(axis_target(2), Some(3));
        assert_eq!(axis_target(4), None);
    }

    #[test]
    fn triggers_and_hats() {
        let mut p = Pad::rest();
        assert_eq!(p.press(Target::Trigger(2), 255), Some(Change::Axis(2, 32767)));
        assert_eq!(p.press(Target::Trigger(2), 0), Some(Change::Axis(2, -32767)));
        assert_eq!(p.press(Target::Hat(6, -1), 255), Some(Change::Axis(6, -32767)));
        // Releasing right while left is held changes nothing.
        assert_eq!(p.press(Target::Hat(6, 1), 0), None);
        assert_eq!(p.press(Target::Hat(6, -1), 0), Some(Change::Axis(6, 0)));
        assert_eq!(p.press(Target::Button(3), 200), Some(Change::Button(3, true)));
        assert_eq!(p.press(Target::Button(3), 255), None);
    }

    #[test]
    fn events_have_the_kernel_layout() {
        let js = js_event(std::time::Duration::from_millis(1500), Change::Axis(3, -2), JS_EVENT_INIT);
        assert_eq!(js.len(), 8);
        assert_eq!(u32::from_ne_bytes(js[0..4].try_into().unwrap()), 1500);
        assert_eq!(i16::from_ne_bytes([js[4], js[5]]), -2);
        assert_eq!(js[6], JS_EVENT_AXIS | JS_EVENT_INIT);
        assert_eq!(js[7], 3);
        let ev = input_event(std::time::Duration::from_millis(1500), EV_KEY, 0x130, 1);
        assert_eq!(ev.len(), 24);
        assert_eq!(u16::from_ne_bytes([ev[16], ev[17]]), EV_KEY);
        assert_eq!(u16::from_ne_bytes([ev[18], ev[19]]), 0x130);
        assert_eq!(i32::from_ne_bytes(ev[20..24].try_into().unwrap()), 1);
    }
}
