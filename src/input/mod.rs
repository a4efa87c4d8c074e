//! The player's input: the wire protocol, and its way into the game. Each
//! session has one [`Injector`], a thread that owns the X connection and the
//! virtual gamepads, fed through a bounded queue so a flooding client fills
//! only its own queue. Each stream has a handler ([`handler`]) that decodes,
//! checks the sender's role, throttles, and answers pings at once.

pub mod clipboard;
pub mod gamepad;
pub mod keymap;
pub mod protocol;
pub mod throttle;
pub mod uinput;
pub mod x11;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::media::datachannel::{InputHandler, InputPort};
use clipboard::Clipboard;
use gamepad::Gamepads;
use protocol::{decode, encode_reply, Input, NoticeCode, Reply};
use throttle::Bucket;
use x11::X11Injector;

/// Messages a session's injector queues before it drops new ones.
const QUEUE: usize = 512;

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

/// What happened to a session's input, for the API and logs.
#[derive(Debug, Default)]
pub struct Counters {
    pub injected: AtomicU64,
    pub malformed: AtomicU64,
    pub throttled: AtomicU64,
    /// From viewers, or while paused.
    pub refused: AtomicU64,
    /// The session's queue was full.
    pub dropped: AtomicU64,
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
            "dropped": n(&self.dropped),
            "failed": n(&self.failed),
        })
    }
}

enum Job {
    Input(Input),
    /// Only wakes the thread: a release is flagged, so it is never lost to a full queue.
    Wake,
}

/// One session's way into its game.
pub struct Injector {
    tx: SyncSender<Job>,
    release: Arc<AtomicBool>,
    counters: Arc<Counters>,
    gamepad_path: Option<GamepadPath>,
    clipboard: Option<Clipboard>,
}

impl Injector {
    /// Starts the injector thread for a session's X display (if any) and
    /// virtual gamepads (if any).
    pub fn start(session: &str, display: Option<String>, gamepads: Option<Gamepads>) -> Arc<Self> {
        let (tx, rx) = sync_channel(QUEUE);
        let counters = Arc::new(Counters::default());
        let release = Arc::new(AtomicBool::new(false));
        let gamepad_path = gamepads.as_ref().map(|g| g.path());
        let clipboard = display.as_deref().and_then(|d| match Clipboard::start(d) {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(%session, display = d, error = %e, "no clipboard for this session");
                None
            }
        });
        let worker = Worker { display, x: None, gamepads, counters: counters.clone(), release: release.clone() };
        let name = format!("input-{}", session.chars().take(8).collect::<String>());
        let session = session.to_string();
        if let Err(e) = std::thread::Builder::new().name(name).spawn(move || worker.run(rx)) {
            tracing::error!(%session, error = %e, "cannot start the input thread; input is dropped");
        }
        Arc::new(Injector { tx, release, counters, gamepad_path, clipboard })
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

    /// Queues a message; a full queue drops it (counted).
    pub fn send(&self, input: Input) {
        match self.tx.try_send(Job::Input(input)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.counters.dropped.fetch_add(1, Ordering::Relaxed);
            }
            Err(TrySendError::Disconnected(_)) => {
                self.counters.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Lets go of every key, button and gamepad control, before anything queued after.
    pub fn release_all(&self) {
        self.release.store(true, Ordering::SeqCst);
        let _ = self.tx.try_send(Job::Wake);
    }
}

struct Worker {
    display: Option<String>,
    x: Option<X11Injector>,
    gamepads: Option<Gamepads>,
    counters: Arc<Counters>,
    release: Arc<AtomicBool>,
}

impl Worker {
    fn run(mut self, rx: Receiver<Job>) {
        if let Some(d) = self.display.clone() {
            match X11Injector::connect(&d) {
                Ok(x) => self.x = Some(x),
                Err(e) => tracing::warn!(display = %d, error = %e, "no input injection into this display"),
            }
        }
        while let Ok(job) = rx.recv() {
            if self.release.swap(false, Ordering::SeqCst) {
                self.release_all();
            }
            if let Job::Input(input) = job {
                self.inject(&input);
            }
        }
        self.release_all();
    }

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
        let mut last = self.last_notice.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_some_and(|t| t.elapsed() < Duration::from_secs(1)) {
            return;
        }
        *last = Some(Instant::now());
        tracing::debug!(?code, text, "input notice");
        port.reply(&encode_reply(&Reply::Notice { code, text: text.into() }));
    }

    fn on_message(&self, bytes: Option<&[u8]>, port: &InputPort) {
        let Some(bytes) = bytes else {
            self.counters().malformed.fetch_add(1, Ordering::Relaxed);
            return self.notice(port, NoticeCode::Malformed, "text messages are not part of the input protocol");
        };
        let input = match decode(bytes) {
            Ok(i) => i,
            Err(e) => {
                let n = self.counters().malformed.fetch_add(1, Ordering::Relaxed) + 1;
                if n.is_power_of_two() {
                    tracing::warn!(reason = %e, malformed = n, "dropping malformed input");
                }
                return self.notice(port, NoticeCode::Malformed, &e.to_string());
            }
        };
        if let Input::Ping { id } = input {
            return port.reply(&encode_reply(&Reply::Pong { id }));
        }
        if !self.input.player {
            self.counters().refused.fetch_add(1, Ordering::Relaxed);
            return self.notice(port, NoticeCode::Refused, "viewers send no input");
        }
        self.input.session.touch();
        let release = input.is_release();
        if !release && !self.bucket.lock().unwrap_or_else(|e| e.into_inner()).take(Instant::now()) {
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
            input if self.input.session.paused() && !release => {
                self.counters().refused.fetch_add(1, Ordering::Relaxed);
                let _ = input;
            }
            input => self.input.injector.send(input),
        }
    }
}
