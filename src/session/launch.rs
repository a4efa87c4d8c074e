//! Starts and stops the processes of one game session: a private X display
//! (Xvfb), a private PulseAudio with a null sink, and the game.
//!
//! Each process leads its own process group and carries `PLAYCAST_SESSION=<id>`
//! in its environment: stopping kills whole groups (a game's children too), and
//! after a crash of the service [`reap_leftovers`] finds them by that variable.
//! Where the node has cgroups ([`super::contain`]), every process also joins the
//! session's cgroup before it runs, and stopping ends the whole cgroup: what a
//! game detached (a new session, a double fork, a cleared environment) too.
//!
//! The game starts from an empty environment, so none of the service's settings
//! (or secrets) reach it. It gets `PATH`, with the service's own folder first
//! (see [`shipped_dirs`]); `HOME=<save_dir>` with
//! `XDG_DATA_HOME=<save_dir>/.local/share` and `XDG_CONFIG_HOME=<save_dir>/.config`,
//! which persist; `XDG_CACHE_HOME=<runtime_dir>/cache` and
//! `XDG_RUNTIME_DIR=<socket dir>`, which are discarded on stop; `DISPLAY` and
//! `PULSE_SERVER` when asked for; then [`LaunchSpec::env`], which may override any
//! of these but `PLAYCAST_SESSION`. Its output goes to `<runtime_dir>/game.log`,
//! that of Xvfb and PulseAudio to `xvfb.log` and `pulse.log` beside it.
//!
//! A unix socket's path has room for 107 bytes, and `runtime_dir` lies under the
//! operator's `data_dir`, which may be of any length. So the sockets (PulseAudio's
//! `pulse/native`, the gamepads' `gamepad.sock`, and whatever the game makes in its
//! `XDG_RUNTIME_DIR`) live in a short socket dir of their own,
//! `<base>/playcast-<tag>-<random>`: `<base>` is the service's `XDG_RUNTIME_DIR`
//! when that is short enough, else `/tmp`; `<tag>` is derived from the session id
//! so that [`reap_leftovers`] finds it after a crash; the random part means nobody
//! can create it ahead of the session. It is created mode 0700 (never reused: an
//! existing one is a refusal) and removed with the runtime dir.

mod dirs;
mod error;
mod process;
mod reap;

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::UnixStream;
use tokio::process::Command;
use tokio::time::{sleep, timeout, timeout_at, Instant};

use super::contain::{Containment, Limits, SessionCgroup};
/// Kept here too: the tests and the shipped-games check look for it beside the launch.
pub use crate::files::shipped_dirs;
use crate::input::gamepad::{self, Gamepads};
use dirs::{make_dir, make_socket_dir, remove_dir};
pub use error::LaunchError;
use process::{describe, log_tail, spawn, Proc, SESSION_VAR};
pub use reap::reap_leftovers;

/// The null sink the game plays into; its monitor is what the stream captures.
pub const AUDIO_SINK: &str = "playcast";
const READY_TIMEOUT: Duration = Duration::from_secs(10);
const STOP_GRACE: Duration = Duration::from_secs(2);
const MAX_DISPLAY_SIDE: u32 = 16384;

/// What to run for one session.
#[derive(Debug, Clone)]
pub struct LaunchSpec {
    pub session_id: String,
    /// The game's argv; `None` runs no game (a test-pattern session).
    pub command: Option<Vec<String>>,
    /// Extra environment for the game.
    pub env: BTreeMap<String, String>,
    /// Width and height of a private X display for the game.
    pub display: Option<(u32, u32)>,
    /// A private PulseAudio with a null sink named [`AUDIO_SINK`].
    pub audio: bool,
    /// Virtual gamepads for the game (through the preload library here).
    pub gamepads: bool,
    /// The game's home; kept across sessions, created (0700) if missing.
    pub save_dir: PathBuf,
    /// Scratch space for this session only; created, and removed on stop. Its
    /// length does not matter: sockets live in a short dir of their own.
    pub runtime_dir: PathBuf,
    /// The node's containment and the session's limits; `None`: process groups only.
    pub containment: Option<(std::sync::Arc<Containment>, Limits)>,
}

/// The running processes of a session. [`Launched::stop`] ends them gracefully;
/// dropping it kills them outright.
pub struct Launched {
    /// The X display, like `:3`.
    pub display: Option<String>,
    /// Where PulseAudio clients connect, like `unix:/…/pulse/native`.
    pub pulse_server: Option<String>,
    /// The source that carries the game's sound, like `playcast.monitor`.
    pub audio_device: Option<String>,
    /// The game's virtual gamepads; the session's input takes them.
    pub gamepads: Option<Gamepads>,
    session_id: String,
    runtime_dir: PathBuf,
    /// The short dir for the session's unix sockets (see the module docs).
    socket_dir: PathBuf,
    /// Xvfb and PulseAudio, in start order.
    services: Vec<Proc>,
    game: Option<Proc>,
    /// Every process of the session, wherever it went; ended last on stop.
    cgroup: Option<SessionCgroup>,
}

impl Launched {
    /// Starts the display, then PulseAudio, then the game; on any failure stops
    /// what already runs.
    #[tracing::instrument(name = "launch", skip_all, fields(session_id = %spec.session_id))]
    pub async fn start(spec: LaunchSpec) -> Result<Launched, LaunchError> {
        validate(&spec)?;
        // Created so games that assume they exist can write saves at once.
        for dir in [spec.save_dir.join(".local/share"), spec.save_dir.join(".config")] {
            make_dir(&dir, "save dir")?;
        }
        make_dir(&spec.runtime_dir, "runtime dir")?;
        let socket_dir = match make_socket_dir(&spec.session_id) {
            Ok(dir) => dir,
            Err(e) => {
                remove_dir(&spec.runtime_dir);
                return Err(e);
            }
        };
        let mut launched = Launched {
            display: None,
            pulse_server: None,
            audio_device: None,
            gamepads: None,
            session_id: spec.session_id.clone(),
            runtime_dir: spec.runtime_dir.clone(),
            socket_dir,
            services: Vec::new(),
            game: None,
            cgroup: None,
        };
        let runs_something = spec.command.is_some() || spec.display.is_some() || spec.audio;
        if let Some((containment, limits)) = spec.containment.as_ref().filter(|_| runs_something) {
            // On failure, dropping `launched` removes its dirs.
            launched.cgroup = containment.session(&spec.session_id, *limits)?;
        }
        if let Err(e) = launched.launch(&spec).await {
            tracing::warn!(error = %e, "session launch failed");
            launched.shutdown().await;
            return Err(e);
        }
        tracing::info!(display = ?launched.display, pulse = ?launched.pulse_server,
            game = launched.game.is_some(), "session launched");
        Ok(launched)
    }

    async fn launch(&mut self, spec: &LaunchSpec) -> Result<(), LaunchError> {
        if let Some((w, h)) = spec.display {
            self.start_display(w, h).await?;
        }
        if spec.audio {
            self.start_audio().await?;
        }
        if let Some(argv) = &spec.command {
            self.start_game(spec, argv)?;
        }
        Ok(())
    }

    async fn start_display(&mut self, w: u32, h: u32) -> Result<(), LaunchError> {
        let log = self.runtime_dir.join("xvfb.log");
        let mut cmd = self.command("Xvfb", &log)?;
        // Xvfb claims a free display number itself and writes it to stdout once it
        // accepts connections, so there is no race on lock files.
        cmd.args(["-displayfd", "1", "-screen", "0", &format!("{w}x{h}x24"), "-nolisten", "tcp", "-noreset"]);
        cmd.stdout(Stdio::piped());
        // Listed before the wait, so a start that is abandoned midway still stops it.
        self.services.push(spawn(cmd, "Xvfb")?);
        let stdout = self.services.last_mut().and_then(|p| p.child.stdout.as_mut());
        let line = async {
            let mut line = String::new();
            BufReader::new(stdout?).read_line(&mut line).await.ok()?;
            line.trim().parse::<u32>().ok()
        };
        let ready = timeout(READY_TIMEOUT, line).await;
        match ready {
            Ok(Some(n)) => self.display = Some(format!(":{n}")),
            Ok(None) => return Err(LaunchError::Display(format!("it exited: {}", log_tail(&log)))),
            Err(_) => {
                return Err(LaunchError::Display(format!("no display after {READY_TIMEOUT:?}: {}", log_tail(&log))))
            }
        }
        Ok(())
    }

    async fn start_audio(&mut self) -> Result<(), LaunchError> {
        let dir = self.socket_dir.join("pulse");
        make_dir(&dir, "PulseAudio dir")?;
        let socket = dir.join("native");
        let log = self.runtime_dir.join("pulse.log");
        let mut cmd = self.command("pulseaudio", &log)?;
        // Everything the daemon keeps lives in this session's dir, so instances never
        // share a socket, cookie or state. `-n` skips default.pa (no hardware, D-Bus or
        // X11 modules); the sink comes before the socket so a client that connects
        // finds it. 48 kHz matches Opus.
        for var in ["HOME", "XDG_RUNTIME_DIR", "PULSE_RUNTIME_PATH", "PULSE_STATE_PATH"] {
            cmd.env(var, &dir);
        }
        cmd.args(["-n", "--daemonize=no", "--use-pid-file=no", "--exit-idle-time=-1", "--disallow-exit"]);
        cmd.args(["--realtime=no", "--high-priority=no", "--log-target=stderr", "-L"]);
        cmd.arg(format!("module-null-sink sink_name={AUDIO_SINK} rate=48000 channels=2"));
        cmd.arg("-L").arg(format!("module-native-protocol-unix socket=\"{}\" auth-anonymous=1", socket.display()));
        self.services.push(spawn(cmd, "pulseaudio")?);
        let Some(proc) = self.services.last_mut() else { unreachable!("just pushed") };
        let ready = async {
            loop {
                if UnixStream::connect(&socket).await.is_ok() {
                    return Ok(());
                }
                if let Ok(Some(status)) = proc.child.try_wait() {
                    return Err(describe(status));
                }
                sleep(Duration::from_millis(50)).await;
            }
        };
        let ready = timeout(READY_TIMEOUT, ready).await;
        match ready {
            Ok(Ok(())) => {}
            Ok(Err(how)) => return Err(LaunchError::Audio(format!("it {how}: {}", log_tail(&log)))),
            Err(_) => return Err(LaunchError::Audio(format!("no socket after {READY_TIMEOUT:?}: {}", log_tail(&log)))),
        }
        self.pulse_server = Some(format!("unix:{}", socket.display()));
        self.audio_device = Some(format!("{AUDIO_SINK}.monitor"));
        Ok(())
    }

    fn start_game(&mut self, spec: &LaunchSpec, argv: &[String]) -> Result<(), LaunchError> {
        // validate() refused an empty argv.
        let Some((program, args)) = argv.split_first() else { return Ok(()) };
        let mut cmd = self.command(program, &self.runtime_dir.join("game.log"))?;
        if let Some(cgroup) = &self.cgroup {
            cgroup.enter_as_game(&mut cmd);
        }
        cmd.args(args)
            .env("HOME", &spec.save_dir)
            .env("XDG_DATA_HOME", spec.save_dir.join(".local/share"))
            .env("XDG_CONFIG_HOME", spec.save_dir.join(".config"))
            .env("XDG_CACHE_HOME", self.runtime_dir.join("cache"))
            .env("XDG_RUNTIME_DIR", &self.socket_dir);
        if let Some(display) = &self.display {
            cmd.env("DISPLAY", display);
        }
        if let Some(server) = &self.pulse_server {
            cmd.env("PULSE_SERVER", server);
        }
        if spec.gamepads {
            // The game runs without gamepads rather than not at all.
            if let Err(e) = self.serve_gamepads(&mut cmd) {
                tracing::warn!(error = %e, "no virtual gamepads for this game");
            }
        }
        // Set again last: reaping after a crash relies on it.
        cmd.envs(&spec.env).env(SESSION_VAR, &self.session_id);
        self.game = Some(spawn(cmd, "game").map_err(|e| match e {
            LaunchError::Spawn { source, .. } if source.kind() == io::ErrorKind::NotFound => {
                LaunchError::GameNotFound(program.clone())
            }
            e => e,
        })?);
        Ok(())
    }

    /// Starts the virtual gamepads; without uinput, puts the preload library
    /// that presents them in the game's environment.
    fn serve_gamepads(&mut self, cmd: &mut Command) -> Result<(), LaunchError> {
        let pads =
            Gamepads::start(&self.socket_dir.join("gamepad.sock")).map_err(|e| LaunchError::Gamepads(e.to_string()))?;
        if let Some(socket) = pads.socket() {
            let library = gamepad::preload_library().ok_or_else(|| {
                LaunchError::Gamepads(format!("the preload library `{}` was not found", gamepad::PRELOAD_FILE))
            })?;
            cmd.env("LD_PRELOAD", library).env(gamepad::SOCKET_VAR, socket);
        }
        self.gamepads = Some(pads);
        Ok(())
    }

    /// A command for one of the session's processes, with its output in `log`.
    fn command(&self, program: &str, log: &Path) -> Result<Command, LaunchError> {
        process::command(&self.session_id, self.cgroup.as_ref(), program, log)
    }

    /// The session's short dir for unix sockets (the game's `XDG_RUNTIME_DIR`);
    /// removed on stop.
    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }

    /// Resolves when the game exits, with how it ended; never without a game.
    /// Cancel-safe, and after the exit it resolves at once every time.
    pub async fn game_exited(&mut self) -> String {
        match &mut self.game {
            Some(game) => match game.child.wait().await {
                Ok(status) => describe(status),
                Err(e) => format!("could not be waited for: {e}"),
            },
            None => std::future::pending().await,
        }
    }

    /// SIGTERM to every process group (and every process of the session's
    /// cgroup), up to 2 s to exit, then SIGKILL; then kills and removes the
    /// cgroup, and removes the runtime dir and the socket dir.
    #[tracing::instrument(name = "launch_stop", skip_all, fields(session_id = %self.session_id))]
    pub async fn stop(mut self) {
        self.shutdown().await;
    }

    async fn shutdown(&mut self) {
        let mut procs: Vec<Proc> = self.game.take().into_iter().chain(self.services.drain(..).rev()).collect();
        for proc in &procs {
            let _ = killpg(proc.pgid, Signal::SIGTERM);
        }
        if let Some(cgroup) = &self.cgroup {
            cgroup.signal_all(Signal::SIGTERM);
        }
        let deadline = Instant::now() + STOP_GRACE;
        for proc in &mut procs {
            if timeout_at(deadline, proc.child.wait()).await.is_err() {
                tracing::warn!(process = proc.name, "no exit on SIGTERM; killing");
            }
        }
        // Also hits what a process left behind in its group after it exited.
        for proc in &mut procs {
            let _ = killpg(proc.pgid, Signal::SIGKILL);
            let _ = timeout(STOP_GRACE, proc.child.wait()).await;
        }
        // Whatever left the groups: killed with the cgroup, which is then removed.
        if let Some(cgroup) = self.cgroup.take() {
            let _ = tokio::task::spawn_blocking(move || cgroup.end()).await;
        }
        remove_dir(&self.runtime_dir);
        remove_dir(&self.socket_dir);
        tracing::debug!("session processes stopped");
    }
}

impl Drop for Launched {
    fn drop(&mut self) {
        for proc in self.game.iter().chain(&self.services) {
            let _ = killpg(proc.pgid, Signal::SIGKILL);
        }
        remove_dir(&self.runtime_dir);
        remove_dir(&self.socket_dir);
    }
}

fn validate(spec: &LaunchSpec) -> Result<(), LaunchError> {
    let invalid = |m: &str| Err(LaunchError::Invalid(m.into()));
    if spec.session_id.is_empty() || spec.session_id.contains('\0') {
        return invalid("session id must be non-empty without NUL");
    }
    if spec.command.as_ref().is_some_and(|argv| argv.first().is_none_or(|p| p.is_empty())) {
        return invalid("game command is empty");
    }
    if spec.display.is_some_and(|(w, h)| !(1..=MAX_DISPLAY_SIDE).contains(&w) || !(1..=MAX_DISPLAY_SIDE).contains(&h)) {
        return invalid("display size must be 1 to 16384 pixels a side");
    }
    Ok(())
}
