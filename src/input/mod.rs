//! The player's input: the wire protocol, and its way into the game. Each
//! session has one [`Injector`], which owns the session's X connection and
//! virtual gamepads. Each stream has a handler ([`handler`]) that decodes,
//! checks the sender's role, throttles, answers pings, and injects at once on
//! the data channel's own thread: no hand-over to another thread on the way
//! in, and a flooding player is held back by their own throttle, on their own
//! stream's thread and their own X connection, never by another session.

pub mod clipboard;
pub mod drops;
pub mod evdev;
pub mod gamepad;
pub mod keymap;
pub mod protocol;
pub mod throttle;
pub mod uinput;
pub mod x11;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::media::datachannel::{InputHandler, InputPort};
use crate::sync::Locked;
use clipboard::Clipboard;
use drops::{DropCounts, DropReason};
pub use gamepad::GamepadPath;
use gamepad::Gamepads;
use protocol::{decode, encode_reply, Input, NoticeCode, Reply};
use throttle::Bucket;
use x11::X11Injector;

/// What happened to a session's input, for the API and logs.
#[derive(Debug, Default)]
pub struct Counters {
    pub injected: AtomicU64,
    /// Not a message of the protocol; each also counted in `dropped`.
    pub malformed: AtomicU64,
    /// Dropped for what it says, by reason: the malformed ones, and keys
    /// this server has no key for.
    pub dropped: DropCounts,
    pub throttled: AtomicU64,
    /// From viewers, or while paused.
    pub refused: AtomicU64,
    /// The display or device refused it.
    pub failed: AtomicU64,
}

impl Counters {
    pub fn snapshot(&self) -> serde_json::Value {
        let n = |c: &AtomicU64| c.load(Ordering::Relaxed);
        serde_json::json!({
            "injected": n(&self.injected),
            "malformed": n(&self.malformed),
            "throttled": n(&self.throttled),
            "refused": n(&self.refused),
            "failed": n(&self.failed),
            "dropped": self.dropped.snapshot(),
        })
    }
}

/// One session's way into its game.
pub struct Injector {
    target: Mutex<Target>,
    counters: Arc<Counters>,
    gamepad_path: Option<GamepadPath>,
    clipboard: Option<Clipboard>,
}

impl Injector {
    /// Connects to a session's X display (if any) and takes its virtual
    /// gamepads (if any).
    pub fn start(session: &str, display: Option<String>, gamepads: Option<Gamepads>) -> Arc<Self> {
        let gamepad_path = gamepads.as_ref().map(|g| g.path());
        let (mut x, mut clipboard) = (None, None);
        if let Some(d) = display.as_deref() {
            match X11Injector::connect(d) {
                Ok(i) => x = Some(i),
                Err(e) => tracing::warn!(%session, display = d, error = %e, "no input injection into this display"),
            }
            match Clipboard::start(d) {
                Ok(c) => clipboard = Some(c),
                Err(e) => tracing::warn!(%session, display = d, error = %e, "no clipboard for this session"),
            }
        }
        let counters = Arc::new(Counters::default());
        let target = Mutex::new(Target { x, gamepads, counters: counters.clone() });
        Arc::new(Injector { target, counters, gamepad_path, clipboard })
    }

    pub fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }

    pub fn gamepad_path(&self) -> Option<GamepadPath> {
        self.gamepad_path
    }

    /// The display's clipboard, when the session has a display.
    pub fn clipboard(&self) -> Option<&Clipboard> {
        self.clipboard.as_ref()
    }

    /// Injects one message now.
    pub fn send(&self, input: Input) {
        self.target.locked().inject(&input);
    }

    /// Lets go of every key, button and gamepad control.
    pub fn release_all(&self) {
        self.target.locked().release_all();
    }
}

struct Target {
    x: Option<X11Injector>,
    gamepads: Option<Gamepads>,
    counters: Arc<Counters>,
}

impl Target {
    fn release_all(&mut self) {
        if let Some(x) = &mut self.x {
            if let Err(e) = x.release_all() {
                tracing::warn!(error = %e, "releasing held keys");
            }
        }
        if let Some(g) = &mut self.gamepads {
            g.release_all();
        }
    }

    fn inject(&mut self, input: &Input) {
        let result = match input {
            Input::PadButton { .. } | Input::PadAxis { .. } | Input::PadConnect { .. } => match &mut self.gamepads {
                Some(g) => g.apply(input).map_err(|e| e.to_string()),
                None => Err("this session has no virtual gamepads".into()),
            },
            Input::ReleaseAll => {
                self.release_all();
                Ok(())
            }
            _ => match &mut self.x {
                Some(x) => x.inject(input).map_err(|e| e.to_string()),
                None => Err("this session has no display to inject into".into()),
            },
        };
        match result {
            Ok(()) => self.counters.injected.fetch_add(1, Ordering::Relaxed),
            Err(e) => {
                tracing::debug!(error = %e, ?input, "input not injected");
                self.counters.failed.fetch_add(1, Ordering::Relaxed)
            }
        };
    }
}

/// What the input handler asks of the session.
pub trait SessionControl: Send + Sync {
    fn paused(&self) -> bool;
    fn pause(&self);
    fn resume(&self);
    fn key_frame(&self);
    /// Input counts as activity against the idle timeout.
    fn touch(&self);
}

/// The limits one stream's input lives under.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Messages a second, sustained.
    pub rate: f64,
    /// Messages allowed at once above the rate.
    pub burst: f64,
}

impl Default for Limits {
    fn default() -> Self {
        // A 1000 Hz mouse plus a gamepad polled every frame fit comfortably.
        Limits { rate: 2000.0, burst: 400.0 }
    }
}

/// One stream's input: who sends it, where it goes.
pub struct StreamInput {
    /// The session's player; a viewer's input is refused.
    pub player: bool,
    pub injector: Arc<Injector>,
    pub session: Arc<dyn SessionControl>,
    pub limits: Limits,
}

/// The handler for a stream's data channels.
pub fn handler(input: StreamInput) -> InputHandler {
    let state = Arc::new(HandlerState {
        bucket: Mutex::new(Bucket::new(input.limits.rate, input.limits.burst)),
        last_notice: Mutex::new(None),
        input,
    });
    Arc::new(move |bytes: Option<&[u8]>, port: &InputPort| state.on_message(bytes, port))
}

struct HandlerState {
    input: StreamInput,
    bucket: Mutex<Bucket>,
    /// Notices to the client are sent at most once a second.
    last_notice: Mutex<Option<Instant>>,
}

impl HandlerState {
    fn counters(&self) -> &Counters {
        &self.input.injector.counters
    }

    fn notice(&self, port: &InputPort, code: NoticeCode, text: &str) {
        let mut last = self.last_notice.locked();
        if last.is_some_and(|t| t.elapsed() < Duration::from_secs(1)) {
            return;
        }
        *last = Some(Instant::now());
        tracing::debug!(?code, text, "input notice");
        port.reply(&encode_reply(&Reply::Notice { code, text: text.into() }));
    }

    /// Drops a message for what it says: counted by reason, logged now and
    /// then (a broken client sends the same mistake all the time), answered.
    fn drop_input(&self, port: &InputPort, reason: DropReason, code: NoticeCode, text: &str) {
        if code == NoticeCode::Malformed {
            self.counters().malformed.fetch_add(1, Ordering::Relaxed);
        }
        let n = self.counters().dropped.add(reason);
        if n.is_power_of_two() {
            tracing::warn!(reason = reason.name(), detail = text, count = n, "dropping input");
        }
        self.notice(port, code, text);
    }

    fn on_message(&self, bytes: Option<&[u8]>, port: &InputPort) {
        let Some(bytes) = bytes else {
            let text = "text messages are not part of the input protocol";
            return self.drop_input(port, DropReason::Text, NoticeCode::Malformed, text);
        };
        let input = match decode(bytes) {
            Ok(i) => i,
            Err(e) => return self.drop_input(port, e.reason(), NoticeCode::Malformed, &e.to_string()),
        };
        if let Input::Key { code, .. } = input {
            if keymap::keysym_of(code).is_none() {
                let text = format!("key code {code} is no key this server knows");
                return self.drop_input(port, DropReason::UnknownKey, NoticeCode::Unsupported, &text);
            }
        }
        if let Input::Ping { id } = input {
            return port.reply(&encode_reply(&Reply::Pong { id }));
        }
        if !self.input.player {
            self.counters().refused.fetch_add(1, Ordering::Relaxed);
            return self.notice(port, NoticeCode::Refused, "viewers send no input");
        }
        self.input.session.touch();
        let release = input.is_release();
        if !release && !self.bucket.locked().take(Instant::now()) {
            self.counters().throttled.fetch_add(1, Ordering::Relaxed);
            return self.notice(port, NoticeCode::Throttled, "input faster than this server takes; some was dropped");
        }
        match input {
            Input::Pause => self.input.session.pause(),
            Input::Resume => self.input.session.resume(),
            Input::KeyFrame => self.input.session.key_frame(),
            Input::Clipboard(text) => match self.input.injector.clipboard() {
                Some(c) => c.set(text),
                None => self.notice(port, NoticeCode::Unsupported, "this session has no display clipboard"),
            },
            Input::ClipboardGet => match self.input.injector.clipboard() {
                Some(c) => {
                    let port = port.clone();
                    c.get(Box::new(move |text| port.reply(&encode_reply(&Reply::Clipboard(text)))));
                }
                None => self.notice(port, NoticeCode::Unsupported, "this session has no display clipboard"),
            },
            _ if self.input.session.paused() && !release => {
                self.counters().refused.fetch_add(1, Ordering::Relaxed);
            }
            input => self.input.injector.send(input),
        }
    }
}
