//! Session processes (`session::launch`): a private Xvfb and PulseAudio and the
//! game (`sh -c` scripts here), each in its own process group with a clean
//! environment; stopping, dropping and reaping after a crash leave nothing behind.
//!
//! Processes are found through `/proc` by their `PLAYCAST_SESSION=<id>` variable;
//! each test uses its own ids and temporary folders, so they may run at once.
//! Xvfb, PulseAudio, xdpyinfo, pactl and gst-launch-1.0 must be installed
//! (`scripts/setup.sh`): a missing one fails the test, it is never skipped.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::eventually;
use playcast::session::launch::{reap_leftovers, LaunchError, LaunchSpec, Launched, AUDIO_SINK};

const SESSION_VAR: &str = "PLAYCAST_SESSION";
/// How long processes may take to disappear after a kill.
const GONE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a game script may take to write what the test waits for.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// `launch.rs` waits this long after SIGTERM before it sends SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// Fails loudly when a program the tests run is not installed.
fn require_tools() {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for tool in ["Xvfb", "pulseaudio", "xdpyinfo", "pactl", "gst-launch-1.0", "sh", "sleep"] {
        assert!(
            std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()),
            "`{tool}` is not on PATH: scripts/setup.sh installs it (xvfb, pulseaudio, x11-utils, gstreamer1.0-tools)"
        );
    }
}

fn unique_id(tag: &str) -> String {
    format!("launch-test-{tag}-{}", uuid::Uuid::new_v4())
}

/// A session's folders inside one temporary folder: `save` (not created: the
/// launcher must), `run`, and `out`, where the game scripts report to the test.
struct Dirs {
    _tmp: tempfile::TempDir,
    save: PathBuf,
    run: PathBuf,
    out: PathBuf,
}

impl Dirs {
    fn new() -> Dirs {
        let tmp = tempfile::tempdir().expect("a temporary folder");
        let out = tmp.path().join("out");
        std::fs::create_dir(&out).expect("the out folder");
        Dirs { save: tmp.path().join("save"), run: tmp.path().join("run"), out, _tmp: tmp }
    }

    /// A spec with no game, display or audio.
    fn spec(&self, id: &str) -> LaunchSpec {
        LaunchSpec {
            session_id: id.into(),
            command: None,
            env: BTreeMap::new(),
            display: None,
            audio: false,
            gamepads: false,
            save_dir: self.save.clone(),
            runtime_dir: self.run.clone(),
            containment: None,
        }
    }

    /// A spec whose game is `sh -c SCRIPT` with the out folder as `$1` (`$OUT`). The
    /// scripts report with `put NAME VALUE`, which writes the file `$OUT/NAME`
    /// whole (through a rename) so the test never reads half of it.
    fn game(&self, id: &str, script: &str) -> LaunchSpec {
        let prelude = r#"OUT=$1; put() { printf '%s\n' "$2" > "$OUT/$1.tmp" && mv "$OUT/$1.tmp" "$OUT/$1"; }"#;
        let script = format!("{prelude}\n{script}");
        let out = self.out.to_str().expect("a UTF-8 temporary path").to_owned();
        LaunchSpec { command: Some(vec!["sh".into(), "-c".into(), script, "game".into(), out]), ..self.spec(id) }
    }

    /// Waits for the game to report `name`, and returns it without the newline.
    async fn wait_report(&self, name: &str) -> String {
        let path = self.out.join(name);
        let path = &path;
        eventually(&format!("the game to write {}", path.display()), READY_TIMEOUT, || async move {
            std::fs::read_to_string(path).ok().map(|s| s.trim_end_matches('\n').to_owned())
        })
        .await
    }

    async fn wait_pid(&self, name: &str) -> u32 {
        let text = self.wait_report(name).await;
        text.parse().unwrap_or_else(|_| panic!("the game wrote `{text}` as the pid in {name}"))
    }
}

/// Starts a session whose start must succeed.
async fn start(spec: LaunchSpec) -> Launched {
    match Launched::start(spec).await {
        Ok(launched) => launched,
        Err(e) => panic!("the session did not start: {e}"),
    }
}

/// The state letter from `/proc/PID/stat`, `None` once the pid is gone.
fn proc_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// Running, as opposed to gone or a zombie waiting for its parent to reap it
/// (the test process's PID 1 may never reap the orphans of killed groups).
fn alive(pid: u32) -> bool {
    proc_state(pid).is_some_and(|s| s != 'Z' && s != 'X')
}

/// The process group of a pid.
fn pgrp(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.split_whitespace().nth(2)?.parse().ok()
}

/// The live processes whose environment has `PLAYCAST_SESSION=<id>`, as
/// `(pid, command name)`.
fn session_procs(id: &str) -> Vec<(u32, String)> {
    let wanted = format!("{SESSION_VAR}={id}").into_bytes();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        let Ok(env) = std::fs::read(format!("/proc/{pid}/environ")) else { continue };
        if env.split(|&b| b == 0).any(|var| var == wanted.as_slice()) && alive(pid) {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            found.push((pid, comm.trim().to_owned()));
        }
    }
    found
}

/// The command names of a session's live processes, sorted.
fn session_names(id: &str) -> Vec<String> {
    let mut names: Vec<String> = session_procs(id).into_iter().map(|(_, name)| name).collect();
    names.sort();
    names
}

/// Waits until no process of the session lives.
async fn wait_session_gone(id: &str) {
    let deadline = Instant::now() + GONE_TIMEOUT;
    loop {
        let left = session_procs(id);
        if left.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "processes of session {id} still live after {GONE_TIMEOUT:?}: {left:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn wait_pid_gone(pid: u32, what: &str) {
    eventually(&format!("{what} (pid {pid}) to be gone"), GONE_TIMEOUT, || async move { (!alive(pid)).then_some(()) })
        .await;
}

/// Runs a program to completion (at most 30 s) and returns its stdout; fails
/// the test with its output if it does not succeed.
async fn run(program: &str, args: &[&str]) -> String {
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args).kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(30), cmd.output())
        .await
        .unwrap_or_else(|_| panic!("`{program} {}` did not finish within 30 s", args.join(" ")))
        .unwrap_or_else(|e| panic!("cannot run `{program}`: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "`{program} {}` failed ({}): {stdout}{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The `dimensions:` of screen 0 as xdpyinfo reports it, like `1280x720`.
async fn display_size(display: &str) -> String {
    let info = run("xdpyinfo", &["-display", display]).await;
    let line = info.lines().find(|l| l.trim_start().starts_with("dimensions:"));
    let line = line.unwrap_or_else(|| panic!("no dimensions in xdpyinfo -display {display}: {info}"));
    line.split_whitespace().nth(1).unwrap_or_default().to_owned()
}

/// The names (second column) of `pactl list short KIND`.
async fn pulse_names(server: &str, kind: &str) -> Vec<String> {
    let list = run("pactl", &["--server", server, "list", "short", kind]).await;
    list.lines().filter_map(|l| l.split('\t').nth(1)).map(str::to_owned).collect()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode() & 0o777
}

#[tokio::test]
async fn game_gets_display_audio_and_a_clean_environment() {
    require_tools();
    // In the test process only: the game must not see it.
    std::env::set_var("PLAYCAST_TEST_SECRET", "must-not-reach-the-game");
    let id = unique_id("env");
    let dirs = Dirs::new();
    let script = r#"
        cat /proc/$$/environ > "$OUT/environ.tmp" && mv "$OUT/environ.tmp" "$OUT/environ"
        xdpyinfo > "$OUT/xdpyinfo.log" 2>&1; put xdpyinfo $?
        pactl list short sinks > "$OUT/pactl.log" 2>&1; put pactl $?
        exec sleep 1000
    "#;
    let mut spec = dirs.game(&id, script);
    spec.display = Some((1280, 720));
    spec.audio = true;
    spec.env = BTreeMap::from([
        ("GAME_MODE".to_owned(), "demo".to_owned()),
        (SESSION_VAR.to_owned(), "someone-else".to_owned()),
    ]);
    let launched = start(spec).await;

    let display = launched.display.clone().expect("a display was asked for");
    assert!(display.starts_with(':') && display[1..].parse::<u32>().is_ok(), "display {display}");
    let server = launched.pulse_server.clone().expect("audio was asked for");
    let sockets = launched.socket_dir().to_path_buf();
    assert_eq!(server, format!("unix:{}", sockets.join("pulse/native").display()));
    assert_eq!(mode(&sockets), 0o700, "the socket dir is private");
    assert_eq!(launched.audio_device.as_deref(), Some(format!("{AUDIO_SINK}.monitor").as_str()));

    // Exactly the documented environment, the game's extra variables, and none of ours.
    let environ = dirs.wait_report("environ").await;
    let env: BTreeMap<&str, &str> =
        environ.split('\0').filter(|v| !v.is_empty()).filter_map(|v| v.split_once('=')).collect();
    // The service's own folders come first: programs shipped with it (the probe).
    let shipped = playcast::session::launch::shipped_dirs();
    let path = std::env::join_paths(shipped.into_iter().chain(std::env::split_paths(&std::env::var("PATH").unwrap())))
        .unwrap()
        .into_string()
        .unwrap();
    let save = dirs.save.to_str().unwrap();
    let run_dir = dirs.run.to_str().unwrap();
    let socket_dir = sockets.to_str().unwrap();
    let expected: BTreeMap<&str, String> = BTreeMap::from([
        ("PATH", path),
        ("HOME", save.to_owned()),
        ("XDG_DATA_HOME", format!("{save}/.local/share")),
        ("XDG_CONFIG_HOME", format!("{save}/.config")),
        ("XDG_CACHE_HOME", format!("{run_dir}/cache")),
        ("XDG_RUNTIME_DIR", socket_dir.to_owned()),
        ("DISPLAY", display.clone()),
        ("PULSE_SERVER", server.clone()),
        ("GAME_MODE", "demo".to_owned()),
        (SESSION_VAR, id.clone()),
    ]);
    let expected: BTreeMap<&str, &str> = expected.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(env, expected, "the game's whole environment");
    assert!(!environ.contains("PLAYCAST_TEST_SECRET"), "the test's environment leaked into the game");

    // The game reaches both through its environment alone.
    let xdpyinfo_log = || std::fs::read_to_string(dirs.out.join("xdpyinfo.log")).unwrap_or_default();
    assert_eq!(dirs.wait_report("xdpyinfo").await, "0", "xdpyinfo in the game: {}", xdpyinfo_log());
    let pactl_status = dirs.wait_report("pactl").await;
    let pactl_log = std::fs::read_to_string(dirs.out.join("pactl.log")).unwrap_or_default();
    assert_eq!(pactl_status, "0", "pactl in the game: {pactl_log}");
    assert!(pactl_log.contains(AUDIO_SINK), "the game's pactl lists no `{AUDIO_SINK}` sink: {pactl_log}");

    // And from outside: the requested screen, the sink and its monitor, which carries sound.
    assert_eq!(display_size(&display).await, "1280x720");
    assert_eq!(pulse_names(&server, "sinks").await, vec![AUDIO_SINK.to_owned()]);
    let sources = pulse_names(&server, "sources").await;
    assert!(sources.contains(&format!("{AUDIO_SINK}.monitor")), "sources: {sources:?}");
    let device = launched.audio_device.clone().unwrap();
    let server_prop = format!("server={server}");
    let device_prop = format!("device={device}");
    run("gst-launch-1.0", &["-q", "pulsesrc", &server_prop, &device_prop, "num-buffers=5", "!", "fakesink"]).await;

    let names = session_names(&id);
    for name in ["Xvfb", "pulseaudio", "sleep"] {
        assert!(names.iter().any(|n| n == name), "no {name} among the session's processes {names:?}");
    }
    assert_eq!(mode(&dirs.save), 0o700, "the save dir is created private");
    launched.stop().await;
    wait_session_gone(&id).await;
    assert!(!dirs.run.exists(), "the runtime dir is removed on stop");
    assert!(!sockets.exists(), "the socket dir {} is removed on stop", sockets.display());
}

#[tokio::test]
async fn game_env_overrides_all_but_the_session_variable() {
    require_tools();
    let id = unique_id("override");
    let dirs = Dirs::new();
    let mut spec =
        dirs.game(&id, r#"put home "$HOME"; put session "$PLAYCAST_SESSION"; put path "$PATH"; exec sleep 1000"#);
    spec.env = BTreeMap::from([
        ("HOME".to_owned(), "/nowhere".to_owned()),
        ("PATH".to_owned(), "/usr/bin:/bin".to_owned()),
        (SESSION_VAR.to_owned(), "other".to_owned()),
    ]);
    let launched = start(spec).await;
    assert_eq!(dirs.wait_report("home").await, "/nowhere");
    assert_eq!(dirs.wait_report("path").await, "/usr/bin:/bin");
    assert_eq!(dirs.wait_report("session").await, id);
    launched.stop().await;
    wait_session_gone(&id).await;
}

#[tokio::test]
async fn game_exited_reports_the_exit_status() {
    require_tools();
    let id = unique_id("exit");
    let dirs = Dirs::new();
    let mut launched =
        start(dirs.game(&id, r#"put started yes; while [ ! -e "$OUT/go" ]; do sleep 0.05; done; exit 3"#)).await;
    dirs.wait_report("started").await;
    // Still running: it does not resolve, and giving up on it is harmless.
    assert!(tokio::time::timeout(Duration::from_millis(300), launched.game_exited()).await.is_err());
    std::fs::write(dirs.out.join("go"), "").unwrap();
    let exit = tokio::time::timeout(READY_TIMEOUT, launched.game_exited()).await.expect("the game exits");
    assert_eq!(exit, "exited with status 3");
    // After the exit it resolves at once, every time.
    let again = tokio::time::timeout(Duration::from_secs(1), launched.game_exited()).await;
    assert_eq!(again.expect("resolves at once after the exit"), "exited with status 3");
    launched.stop().await;
    assert!(!dirs.run.exists(), "the runtime dir is removed on stop");
}

#[tokio::test]
async fn game_exited_reports_a_killing_signal_and_never_resolves_without_a_game() {
    require_tools();
    let id = unique_id("signal");
    let dirs = Dirs::new();
    let mut launched = start(dirs.game(&id, "kill -KILL $$")).await;
    let exit = tokio::time::timeout(READY_TIMEOUT, launched.game_exited()).await.expect("the game exits");
    assert_eq!(exit, "killed by signal 9");
    launched.stop().await;

    let dirs = Dirs::new();
    let mut launched = start(dirs.spec(&unique_id("no-game"))).await;
    assert!(launched.display.is_none() && launched.pulse_server.is_none() && launched.audio_device.is_none());
    assert!(tokio::time::timeout(Duration::from_millis(300), launched.game_exited()).await.is_err());
    launched.stop().await;
}

#[tokio::test]
async fn stop_kills_every_process_group_and_keeps_the_saves() {
    require_tools();
    let id = unique_id("stop");
    let dirs = Dirs::new();
    // Counts its launches in a save, leaves a config and a cache file, and
    // reports whether the cache of the last session survived.
    let script = r#"
        if [ -e "$XDG_CACHE_HOME/cache.txt" ]; then put cache kept; else put cache fresh; fi
        mkdir -p "$XDG_CACHE_HOME" && echo cached > "$XDG_CACHE_HOME/cache.txt"
        n=$(cat "$XDG_DATA_HOME/launches" 2>/dev/null || echo 0)
        echo $((n + 1)) > "$XDG_DATA_HOME/launches"
        echo "volume=3" > "$XDG_CONFIG_HOME/game.cfg"
        sleep 1000 &
        put background $!
        put game $$
        wait
    "#;
    let mut spec = dirs.game(&id, script);
    spec.display = Some((640, 480));
    spec.audio = true;

    for launch in 1..=2 {
        for name in ["background", "game", "cache"] {
            let _ = std::fs::remove_file(dirs.out.join(name));
        }
        let launched = start(spec.clone()).await;
        let game = dirs.wait_pid("game").await;
        let background = dirs.wait_pid("background").await;
        assert_eq!(pgrp(background), Some(game), "the background child is in the game's process group");
        assert_eq!(dirs.wait_report("cache").await, "fresh", "launch {launch}: the cache of a session is not kept");
        let names = session_names(&id);
        for name in ["Xvfb", "pulseaudio", "sh", "sleep"] {
            assert!(names.iter().any(|n| n == name), "launch {launch}: no {name} among {names:?}");
        }
        assert!(dirs.run.join("cache/cache.txt").exists());

        let stopping = Instant::now();
        launched.stop().await;
        let took = stopping.elapsed();
        // Everything here ends on SIGTERM, so stop need not wait for the grace period.
        assert!(took < STOP_GRACE, "launch {launch}: stop took {took:?} though every process ends on SIGTERM");
        assert!(!alive(game) && !alive(background), "launch {launch}: the game's group outlived stop");
        let left = session_procs(&id);
        assert!(left.is_empty(), "launch {launch}: processes outlived stop: {left:?}");
        assert!(!dirs.run.exists(), "launch {launch}: the runtime dir is removed on stop");

        let launches = std::fs::read_to_string(dirs.save.join(".local/share/launches")).expect("the save is kept");
        assert_eq!(launches.trim(), launch.to_string(), "the save counts every launch");
        let config = std::fs::read_to_string(dirs.save.join(".config/game.cfg")).expect("the config is kept");
        assert_eq!(config.trim(), "volume=3");
    }
}

#[tokio::test]
async fn stop_kills_what_a_finished_game_left_behind() {
    require_tools();
    let id = unique_id("orphan");
    let dirs = Dirs::new();
    let mut launched = start(dirs.game(&id, "sleep 1000 & put background $!; exit 0")).await;
    let background = dirs.wait_pid("background").await;
    let exit = tokio::time::timeout(READY_TIMEOUT, launched.game_exited()).await.expect("the game exits");
    assert_eq!(exit, "exited with status 0");
    assert!(alive(background), "the background child outlives the game by itself");
    launched.stop().await;
    wait_pid_gone(background, "the finished game's background child").await;
    wait_session_gone(&id).await;
}

#[tokio::test]
async fn stop_sigkills_a_game_that_ignores_sigterm() {
    require_tools();
    let id = unique_id("stubborn");
    let dirs = Dirs::new();
    let launched =
        start(dirs.game(&id, "trap '' TERM; sleep 1000 & put background $!; put game $$; while :; do sleep 1; done"))
            .await;
    let game = dirs.wait_pid("game").await;
    let background = dirs.wait_pid("background").await;

    let stopping = Instant::now();
    launched.stop().await;
    let took = stopping.elapsed();
    assert!(took >= STOP_GRACE - Duration::from_millis(100), "stop gave SIGTERM only {took:?}");
    assert!(took < STOP_GRACE * 3, "stop took {took:?}");
    assert!(!alive(game), "the game that ignores SIGTERM outlived stop");
    // Killed with its group; the signal lands a moment later for a grandchild.
    wait_pid_gone(background, "the game's child that ignores SIGTERM").await;
    wait_session_gone(&id).await;
}

#[tokio::test]
async fn dropping_a_session_kills_everything() {
    require_tools();
    let id = unique_id("drop");
    let dirs = Dirs::new();
    let mut spec = dirs.game(&id, r#"echo saved > "$HOME/save.txt"; sleep 1000 & put background $!; wait"#);
    spec.display = Some((640, 480));
    spec.audio = true;
    let launched = start(spec).await;
    let sockets = launched.socket_dir().to_path_buf();
    let background = dirs.wait_pid("background").await;
    let names = session_names(&id);
    for name in ["Xvfb", "pulseaudio", "sh", "sleep"] {
        assert!(names.iter().any(|n| n == name), "no {name} among {names:?}");
    }

    drop(launched);
    wait_pid_gone(background, "the game's background child").await;
    wait_session_gone(&id).await;
    assert!(!dirs.run.exists(), "the runtime dir is removed on drop");
    assert!(!sockets.exists(), "the socket dir is removed on drop");
    assert_eq!(std::fs::read_to_string(dirs.save.join("save.txt")).expect("the save is kept"), "saved\n");
}

#[tokio::test]
async fn reap_leftovers_kills_a_crashed_sessions_processes_only() {
    require_tools();
    assert_eq!(reap_leftovers(&[]), 0);
    assert_eq!(reap_leftovers(&[String::new()]), 0, "an empty id matches nothing");

    let crashed_id = unique_id("crashed");
    // Shares the crashed id as a prefix: only the whole value may match.
    let other_id = format!("{crashed_id}-other");
    let (crashed_dirs, other_dirs) = (Dirs::new(), Dirs::new());
    let mut spec = crashed_dirs.game(&crashed_id, "sleep 1000 & put background $!; put game $$; wait");
    spec.display = Some((640, 480));
    spec.audio = true;
    let crashed = start(spec).await;
    let other = start(other_dirs.game(&other_id, "put game $$; exec sleep 1000")).await;
    let (crashed_sockets, other_sockets) = (crashed.socket_dir().to_path_buf(), other.socket_dir().to_path_buf());
    let crashed_game = crashed_dirs.wait_pid("game").await;
    let crashed_background = crashed_dirs.wait_pid("background").await;
    let other_game = other_dirs.wait_pid("game").await;
    let before = session_procs(&crashed_id);
    assert!(before.len() >= 4, "Xvfb, pulseaudio, sh and sleep: {before:?}");

    // The service crashes: nothing stops or drops the session.
    std::mem::forget(crashed);
    let killed = reap_leftovers(&[crashed_id.clone(), unique_id("never-started")]);
    assert!(killed >= 4 && killed >= before.len(), "killed {killed} of {before:?}");
    wait_session_gone(&crashed_id).await;
    assert!(!alive(crashed_game) && !alive(crashed_background));
    assert!(!crashed_sockets.exists(), "reaping leaves the socket dir {}", crashed_sockets.display());
    assert!(other_sockets.is_dir(), "reaping {crashed_id} removed the socket dir of {other_id}");

    assert!(alive(other_game), "reaping {crashed_id} killed the game of {other_id}");
    assert_eq!(session_names(&other_id), vec!["sleep".to_owned()]);
    other.stop().await;
    wait_session_gone(&other_id).await;
    assert!(!other_sockets.exists());
}

#[tokio::test]
async fn invalid_specs_are_refused_before_anything_starts() {
    require_tools();
    let dirs = Dirs::new();
    let id = unique_id("invalid");
    let base = dirs.game(&id, "exit 0");
    let cases: Vec<(&str, LaunchSpec)> = vec![
        ("an empty command", LaunchSpec { command: Some(vec![]), ..base.clone() }),
        ("an empty program", LaunchSpec { command: Some(vec![String::new(), "-x".into()]), ..base.clone() }),
        ("an empty session id", LaunchSpec { session_id: String::new(), ..base.clone() }),
        ("a session id with NUL", LaunchSpec { session_id: "a\0b".into(), ..base.clone() }),
        ("a 0x0 display", LaunchSpec { display: Some((0, 0)), ..base.clone() }),
        ("a 20000x10 display", LaunchSpec { display: Some((20000, 10)), ..base.clone() }),
        ("a 10x20000 display", LaunchSpec { display: Some((10, 20000)), ..base.clone() }),
        ("a 640x0 display", LaunchSpec { display: Some((640, 0)), ..base.clone() }),
    ];
    for (what, spec) in cases {
        match Launched::start(spec).await {
            Err(LaunchError::Invalid(why)) => assert!(!why.is_empty(), "{what}"),
            Err(e) => panic!("{what}: expected an invalid spec, got {e}"),
            Ok(launched) => {
                launched.stop().await;
                panic!("{what} was accepted");
            }
        }
        assert!(!dirs.run.exists() && !dirs.save.exists(), "{what}: folders were created for a refused spec");
    }
    assert!(session_procs(&id).is_empty());
}

#[tokio::test]
async fn a_missing_game_stops_the_display_and_audio_it_started_with() {
    require_tools();
    for program in ["playcast-test-no-such-game", "/nonexistent/playcast/game"] {
        let id = unique_id("missing");
        let dirs = Dirs::new();
        let mut spec = dirs.spec(&id);
        spec.command = Some(vec![program.into(), "--fullscreen".into()]);
        spec.display = Some((640, 480));
        spec.audio = true;
        match Launched::start(spec).await {
            Err(LaunchError::GameNotFound(name)) => assert_eq!(name, program),
            Err(e) => panic!("{program}: expected GameNotFound, got {e}"),
            Ok(launched) => {
                launched.stop().await;
                panic!("{program}: a missing game started");
            }
        }
        // Xvfb and PulseAudio ran (the game starts last) and were stopped.
        wait_session_gone(&id).await;
        assert!(!dirs.run.exists(), "{program}: the runtime dir is left behind");
    }
}

#[tokio::test]
async fn a_game_that_cannot_be_executed_is_a_spawn_error() {
    require_tools();
    let id = unique_id("noexec");
    let dirs = Dirs::new();
    let game = dirs.out.join("game.sh");
    std::fs::write(&game, "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(&game, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut spec = dirs.spec(&id);
    spec.command = Some(vec![game.to_str().unwrap().into()]);
    spec.display = Some((640, 480));
    match Launched::start(spec).await {
        Err(LaunchError::Spawn { program, source }) => {
            assert_eq!(program, game.to_str().unwrap());
            assert_eq!(source.kind(), std::io::ErrorKind::PermissionDenied);
        }
        Err(e) => panic!("expected a spawn error, got {e}"),
        Ok(launched) => {
            launched.stop().await;
            panic!("a game without the execute bit started");
        }
    }
    wait_session_gone(&id).await;
}

#[tokio::test]
async fn two_sessions_get_their_own_display_and_audio() {
    require_tools();
    let (id_a, id_b) = (unique_id("two-a"), unique_id("two-b"));
    let (dirs_a, dirs_b) = (Dirs::new(), Dirs::new());
    let spec = |dirs: &Dirs, id: &str, size| LaunchSpec {
        display: Some(size),
        audio: true,
        ..dirs.game(id, "exec sleep 1000")
    };
    let (a, b) = tokio::join!(
        Launched::start(spec(&dirs_a, &id_a, (800, 600))),
        Launched::start(spec(&dirs_b, &id_b, (1024, 768)))
    );
    let (a, b) = match (a, b) {
        (Ok(a), Ok(b)) => (a, b),
        (a, b) => panic!("both start: {:?} / {:?}", a.err().map(|e| e.to_string()), b.err().map(|e| e.to_string())),
    };
    let (display_a, display_b) = (a.display.clone().unwrap(), b.display.clone().unwrap());
    assert_ne!(display_a, display_b);
    assert_ne!(a.pulse_server, b.pulse_server);
    assert_eq!(display_size(&display_a).await, "800x600");
    assert_eq!(display_size(&display_b).await, "1024x768");
    for (launched, id) in [(&a, &id_a), (&b, &id_b)] {
        let sinks = pulse_names(launched.pulse_server.as_deref().unwrap(), "sinks").await;
        assert_eq!(sinks, vec![AUDIO_SINK.to_owned()], "{id}");
    }

    // Stopping one leaves the other running.
    a.stop().await;
    wait_session_gone(&id_a).await;
    assert_eq!(display_size(&display_b).await, "1024x768");
    assert_eq!(session_names(&id_b), vec!["Xvfb".to_owned(), "pulseaudio".to_owned(), "sleep".to_owned()]);
    b.stop().await;
    wait_session_gone(&id_b).await;
}

#[tokio::test]
async fn a_runtime_dir_of_any_length_gets_display_audio_and_a_short_socket_dir() {
    require_tools();
    let id = unique_id("long");
    let dirs = Dirs::new();
    // Far longer than a unix socket address (108 bytes) may be.
    let runtime_dir = dirs.run.join("r".repeat(200));
    let mut spec = dirs.game(&id, r#"put runtime "$XDG_RUNTIME_DIR"; put pulse "$PULSE_SERVER"; exec sleep 1000"#);
    spec.runtime_dir = runtime_dir.clone();
    spec.display = Some((640, 480));
    spec.audio = true;
    let launched = start(spec).await;
    assert!(runtime_dir.is_dir(), "the runtime dir is made where it was asked for");
    let sockets = launched.socket_dir().to_path_buf();
    let socket = sockets.join("pulse/native");
    assert!(socket.as_os_str().len() <= 107, "the PulseAudio socket {} does not fit a unix address", socket.display());
    assert_eq!(mode(&sockets), 0o700);
    let server = launched.pulse_server.clone().expect("audio was asked for");
    assert_eq!(server, format!("unix:{}", socket.display()));
    assert_eq!(dirs.wait_report("runtime").await, sockets.to_str().unwrap(), "the game's XDG_RUNTIME_DIR");
    assert_eq!(dirs.wait_report("pulse").await, server);
    assert_eq!(pulse_names(&server, "sinks").await, vec![AUDIO_SINK.to_owned()]);
    assert_eq!(display_size(launched.display.as_deref().unwrap()).await, "640x480");

    launched.stop().await;
    wait_session_gone(&id).await;
    assert!(!runtime_dir.exists(), "the runtime dir is left behind");
    assert!(!sockets.exists(), "the socket dir {} is left behind", sockets.display());
}
