//! Test harness: the service and a real headless Chromium inside a private
//! network namespace (WebRTC needs a non-loopback address on both ends).
#![allow(dead_code)]

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use playcast::netns::Netns;

pub mod input;
pub mod issuer;
pub mod proxy;
pub mod redis;

/// Port the service listens on inside its own namespace (the port space is private).
pub const SERVICE_PORT: u16 = 8080;
const DRIVER_PORT: u16 = 9515;

/// Media tests need root for `ip netns`; in CI a missing part must fail loudly.
pub fn require_root() {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc_geteuid() };
    assert_eq!(euid, 0, "this test creates network namespaces and must run as root (scripts/test does)");
}

extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A child process killed (and reaped) on drop.
pub struct Proc(pub Child, pub &'static str);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A private Xvfb display, `WIDTHxHEIGHT` at 24 bits, killed on drop; `.1`
/// is its name (`:N`, the number Xvfb chose).
pub struct Xvfb(pub Child, pub String);

impl Xvfb {
    pub fn start(size: &str) -> Xvfb {
        use std::io::BufRead;
        let mut child = std::process::Command::new("Xvfb")
            .args(["-displayfd", "1", "-screen", "0", &format!("{size}x24"), "-nolisten", "tcp"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb runs (scripts/setup.sh installs it)");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
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

/// For a browser in another namespace (a player across a link): the page
/// signs itself in through the development issuer, which answers only
/// loopback clients unless opened to the network like this, as on a lab network.
pub const DEV_ISSUER_ON_NETWORK: (&str, &str) = ("PLAYCAST__AUTH__INSECURE_DEV_ISSUER_ON_NETWORK", "true");

/// The playcast binary serving inside a namespace; stopped gracefully on drop.
pub struct Service {
    pub proc: Proc,
    pub base: String,
    _data: tempfile::TempDir,
}

impl Service {
    pub async fn start(ns: &Netns, pipelines: &Path, extra_args: &[&str], env: &[(&str, &str)]) -> Service {
        let data = tempfile::tempdir().expect("data folder");
        let mut cmd = ns.command(env!("CARGO_BIN_EXE_playcast"));
        cmd.env("PLAYCAST__SERVER__DATA_DIR", data.path())
            .args(["serve", "--listen", &format!("0.0.0.0:{SERVICE_PORT}"), "--pipelines"])
            .arg(pipelines)
            .args(extra_args)
            .current_dir(repo())
            .env("RUST_LOG", "playcast=debug,warn")
            .stdin(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("spawning playcast serve");
        let service =
            Service { proc: Proc(child, "playcast"), base: format!("http://{}:{SERVICE_PORT}", ns.inner), _data: data };
        wait_http(&format!("{}/api/v1/health", service.base), Duration::from_secs(60)).await;
        service
    }

    /// Asks the service to stop as an operator would (SIGTERM), so it ends
    /// its sessions and their displays and games; kills it after 15 s.
    pub fn stop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.proc.0.id() as i32);
        if nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).is_ok() {
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline && matches!(self.proc.0.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// An API call under `/api/v1/` with `token` and an optional JSON body:
    /// the status and the JSON answer (null when the answer is not JSON).
    pub async fn api(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let (status, v, _) = request(method, format!("{}/api/v1/{path}", self.base), token, body).await;
        (status, v)
    }

    /// The id of the session that becomes `active` first, as `token` sees it.
    pub async fn active_session(&self, token: &str) -> String {
        eventually("an active session", Duration::from_secs(10), || async {
            let (_, all) = self.api(token, reqwest::Method::GET, "sessions", None).await;
            all.as_array()?.iter().find(|s| s["state"] == "active").map(|s| s["id"].as_str().unwrap().to_string())
        })
        .await
    }

    /// The service's data folder (sessions' runtime folders are in `run/`).
    pub fn data_dir(&self) -> &Path {
        self._data.path()
    }

    /// A development token for `user` with `role`, minted as an operator on
    /// the host would (`playcast token`, with the service's data folder): the
    /// service's own `/api/v1/dev/token` answers loopback clients only, and
    /// the test reaches the service over the namespace's veth.
    pub async fn dev_token(&self, user: &str, role: &str) -> String {
        cli_token(self.data_dir(), user, role).await
    }
}

/// A development token for `user` with `role` from `playcast token` with the
/// data folder `data` (that of the service it is for), valid for an hour.
pub async fn cli_token(data: &Path, user: &str, role: &str) -> String {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_playcast"))
        .env("PLAYCAST__SERVER__DATA_DIR", data)
        .env("RUST_LOG", "warn")
        .current_dir(repo())
        .args(["token", "--user", user, "--role", role, "--ttl", "3600"])
        .output()
        .await
        .expect("playcast token runs");
    assert!(out.status.success(), "playcast token: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("a token is text").trim().to_string()
}

/// `playcast serve` on the embedded defaults as a child process (so a test
/// can kill -9 it), on `127.0.0.1:port` with the repository's pipelines, its
/// state in `data` and the games catalog `games`; `env` adds settings. Started
/// again on the same `data`, it is the same node (its id is kept there).
pub fn serve_process(data: &Path, games: &Path, port: u16, env: &[(&str, &str)]) -> Proc {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_playcast"));
    cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--pipelines"])
        .arg(repo().join("pipelines"))
        .env("PLAYCAST__SERVER__DATA_DIR", data)
        .env("PLAYCAST__SESSIONS__GAMES_FILE", games)
        .env("RUST_LOG", "playcast=debug,warn")
        .current_dir(repo())
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    Proc(cmd.spawn().expect("spawning playcast serve"), "playcast")
}

impl Drop for Service {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The bare sender the benchmarks measure against: x264enc
/// ultrafast/zerolatency on a test picture and nothing else (the service runs
/// it with `--bare`: no TWCC, no RTX, a plain queue; no audio).
pub const BARE_BASELINE_PIPELINE: &str = r#"
description = "Benchmark baseline: bare x264enc sender"
[params]
width = { default = 1280, min = 160, max = 3840 }
height = { default = 720, min = 120, max = 2160 }
framerate = { default = 60, min = 1, max = 144 }
bitrate = { default = 6000000, min = 250000, max = 50000000 }
pattern = { default = "smpte" }
motion = { default = 0, min = 0, max = 64 }
[video]
source = "videotestsrc is-live=true pattern=${pattern} horizontal-speed=${motion} ! video/x-raw,format=I420,width=${width},height=${height},framerate=${framerate}/1"
[[video.encoders]]
element = "x264enc"
properties = "speed-preset=ultrafast tune=zerolatency"
bitrate = { property = "bitrate", unit = "kbit/s" }
profile = "constrained-baseline"
"#;

/// The bare sender of the benchmarks of the players' path: the game's display
/// grabbed by `ximagesrc` on a fixed 60 Hz tick, x264enc
/// ultrafast/zerolatency, nothing else (the service runs it with `--bare`).
pub const BARE_X11_BASELINE_PIPELINE: &str = r#"
description = "Benchmark baseline: fixed-rate X11 capture, bare x264enc sender"
[params]
display = { default = ":0" }
width = { default = 1280, min = 160, max = 3840 }
height = { default = 720, min = 120, max = 2160 }
framerate = { default = 60, min = 1, max = 144 }
bitrate = { default = 6000000, min = 250000, max = 50000000 }
[video]
source = "ximagesrc display-name=${display} use-damage=false ! video/x-raw,framerate=${framerate}/1 ! videoscale ! videoconvert ! video/x-raw,format=I420,width=${width},height=${height}"
[[video.encoders]]
element = "x264enc"
properties = "speed-preset=ultrafast tune=zerolatency"
bitrate = { property = "bitrate", unit = "kbit/s" }
profile = "constrained-baseline"
"#;

/// How the latency probe game redraws in the benchmarks of the players' path
/// (`playcast-probe --redraw`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeRedraw {
    /// On a 60 Hz tick.
    Hz60,
    /// As fast as the X server takes it.
    Uncapped,
    /// Still, then on a 60 Hz tick.
    StillMoving,
}

impl ProbeRedraw {
    pub const ALL: [ProbeRedraw; 3] = [ProbeRedraw::Hz60, ProbeRedraw::Uncapped, ProbeRedraw::StillMoving];

    /// The benchmarks' name for it (`--behaviour`).
    pub fn name(self) -> &'static str {
        match self {
            ProbeRedraw::Hz60 => "60hz",
            ProbeRedraw::Uncapped => "uncapped",
            ProbeRedraw::StillMoving => "still-moving",
        }
    }

    pub fn parse(name: &str) -> Option<ProbeRedraw> {
        Self::ALL.into_iter().find(|b| b.name() == name)
    }

    /// Its game in [`probe_games`]: played by Playcast, or by the baseline.
    pub fn game(self, baseline: bool) -> String {
        format!("probe-{}{}", self.name(), if baseline { "-baseline" } else { "" })
    }
}

/// A games catalog with the latency probe in each [`ProbeRedraw`] behaviour,
/// once on the shipped `linux-x11` pipeline and once on the `baseline`
/// pipeline ([`BARE_X11_BASELINE_PIPELINE`]); the still-moving game stays
/// still for `still` after it starts, or until [`start_probe_motion`].
pub fn probe_games(still: Duration) -> String {
    let mut out = String::new();
    for b in ProbeRedraw::ALL {
        let redraw = match b {
            ProbeRedraw::Hz60 => "60",
            ProbeRedraw::Uncapped => "uncapped",
            ProbeRedraw::StillMoving => "still-moving",
        };
        for (baseline, pipeline) in [(false, "linux-x11"), (true, "baseline")] {
            out.push_str(&format!(
                "[games.{}]\ntitle = \"Latency probe, {} ({pipeline})\"\npipeline = \"{pipeline}\"\ncommand = [\"playcast-probe\", \"--redraw\", \"{redraw}\", \"--still-seconds\", \"{}\"]\n\n",
                b.game(baseline),
                b.name(),
                still.as_secs_f64()
            ));
        }
    }
    out
}

/// Starts the motion of the still-moving probe game of `session` (SIGUSR1);
/// false when the session runs no probe.
pub fn start_probe_motion(session: &str) -> bool {
    let probe =
        processes_of(session).into_iter().find(|&p| process_ticks(p).is_some_and(|(n, _)| n == "playcast-probe"));
    probe.is_some_and(|p| {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(p as i32), nix::sys::signal::Signal::SIGUSR1).is_ok()
    })
}

/// CPU ticks (user + system, in `USER_HZ` units) and the name of process `pid`.
pub fn process_ticks(pid: u32) -> Option<(String, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (head, rest) = stat.rsplit_once(')')?;
    let name = head.split_once('(').map(|(_, n)| n.to_string()).unwrap_or_default();
    // Fields after the command name (which may hold spaces): utime is 14th, stime 15th overall.
    let f: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| f.get(i).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
    Some((name, field(11) + field(12)))
}

/// `root` and every process below it (by parent), now.
pub fn process_tree(root: u32) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
                .filter_map(|pid| {
                    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
                    let ppid = stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()?;
                    Some((pid, ppid))
                })
                .collect()
        })
        .unwrap_or_default();
    let mut tree = vec![root];
    let mut i = 0;
    while i < tree.len() {
        let p = tree[i];
        tree.extend(parents.iter().filter(|(_, pp)| *pp == p).map(|(pid, _)| *pid));
        i += 1;
    }
    tree
}

/// Nearest-rank percentile `p` (0–100) of `sorted`; NaN when it is empty.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Polls a URL until it answers 200.
/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `method base+path` as `token` with an optional JSON body: the status and
/// the JSON answer (null when not JSON), with a `Retry-After` header copied
/// into it as `"retry-after"`.
pub async fn call(
    base: &str,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let (status, mut v, retry) = request(method, format!("{base}{path}"), token, body).await;
    if let Some(r) = retry {
        v["retry-after"] = r.into();
    }
    (status, v)
}

/// `method url` as `token` with an optional JSON body: the status, the JSON
/// answer (null when the answer is not JSON) and the Retry-After header.
async fn request(
    method: reqwest::Method,
    url: String,
    token: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value, Option<String>) {
    let mut req = reqwest::Client::new().request(method, url).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.expect("API call");
    let status = res.status().as_u16();
    let retry = res.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_string);
    (status, res.json().await.unwrap_or_default(), retry)
}

/// How a command run to its end went.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit {}\n--- stdout\n{}--- stderr\n{}", self.code, self.stdout, self.stderr)
    }
}

impl Run {
    /// `what`'s output; it must have exited (not been killed) without a panic.
    pub fn of(what: &str, out: std::process::Output) -> Run {
        let run = Run {
            code: out.status.code().unwrap_or_else(|| panic!("{what} was killed by a signal")),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        assert!(!run.stderr.contains("panicked"), "{what}: {run}");
        run
    }
}

/// Takes every `PLAYCAST*` variable of the test's own environment away from
/// `cmd`, so a developer's settings never reach the binary under test.
pub fn without_playcast_env(cmd: &mut std::process::Command) {
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("PLAYCAST") {
            cmd.env_remove(k);
        }
    }
}

/// A test-pattern session on the node at `base` itself: the request is
/// marked as forwarded, so that node serves it without placing it elsewhere.
pub async fn create_pinned(base: &str, token: &str) -> serde_json::Value {
    let res = reqwest::Client::new()
        .post(format!("{base}/api/v1/sessions"))
        .bearer_auth(token)
        .header(playcast::api::forward::FORWARDED_BY, "test")
        .json(&serde_json::json!({"game": "test-pattern"}))
        .send()
        .await
        .expect("API call");
    assert_eq!(res.status(), 201, "a pinned session on {base}");
    res.json().await.expect("JSON")
}

/// `playcast serve` as a node of a fleet on PostgreSQL (`db_url`) and the
/// shared Redis under `prefix`, listening on `listen` and advertising
/// `http://listen`; sessions wait 600 s for their player.
pub fn node_process(id: &str, listen: &str, data: &Path, db_url: &str, prefix: &str) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_playcast"));
    cmd.args(["serve", "--listen", listen, "--pipelines"])
        .arg(repo().join("pipelines"))
        .env("PLAYCAST__SERVER__DATA_DIR", data)
        .env("PLAYCAST__STATE__DATABASE_URL", db_url)
        .env("PLAYCAST__CACHE__URL", REDIS_URL)
        .env("PLAYCAST__CACHE__PREFIX", prefix)
        .env("PLAYCAST__NODE__ID", id)
        .env("PLAYCAST__NODE__ADVERTISE", format!("http://{listen}"))
        .env("PLAYCAST__SESSIONS__CONNECT_TIMEOUT", "10m")
        .current_dir(repo())
        .stdin(Stdio::null());
    cmd
}

pub async fn wait_http(url: &str, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).build().unwrap();
    loop {
        if client.get(url).send().await.is_ok_and(|r| r.status().is_success()) {
            return;
        }
        assert!(Instant::now() < deadline, "{url} did not answer within {timeout:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A child leading its own process group: dropping it kills the whole group,
/// so what it started (Chromium under chromedriver) goes too, even when a test
/// fails before it could close politely.
pub struct ProcGroup(pub Child);

impl Drop for ProcGroup {
    fn drop(&mut self) {
        if let Ok(pgid) = i32::try_from(self.0.id()) {
            let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pgid), nix::sys::signal::Signal::SIGKILL);
        }
        let _ = self.0.wait();
    }
}

/// chromedriver and headless Chromium inside the namespace.
pub struct Browser {
    pub client: fantoccini::Client,
    _driver: ProcGroup,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub async fn start(ns: &Netns) -> Browser {
        Self::start_with(ns, &[]).await
    }

    /// Starts Chromium with extra command-line switches.
    pub async fn start_with(ns: &Netns, extra: &[&str]) -> Browser {
        for bin in ["/usr/bin/chromium", "/usr/bin/chromedriver"] {
            assert!(Path::new(bin).exists(), "{bin} is missing: scripts/setup.sh test installs it");
        }
        let driver = ns
            .command("chromedriver")
            .args([
                format!("--port={DRIVER_PORT}"),
                format!("--allowed-ips={}", ns.outer),
                "--allowed-origins=*".into(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("spawning chromedriver");
        let driver = ProcGroup(driver);
        let url = format!("http://{}:{DRIVER_PORT}", ns.inner);
        wait_http(&format!("{url}/status"), Duration::from_secs(30)).await;
        let profile = tempfile::tempdir().expect("profile dir");
        let mut args: Vec<String> = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-quic",
            "--disable-features=WebRtcHideLocalIpsWithMdns",
            "--autoplay-policy=no-user-gesture-required",
            "--window-size=1920,1080",
        ]
        .into_iter()
        .map(String::from)
        .collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut caps = serde_json::Map::new();
        caps.insert("goog:chromeOptions".into(), serde_json::json!({ "binary": "/usr/bin/chromium", "args": args }));
        let client = fantoccini::ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&url)
            .await
            .expect("starting Chromium through chromedriver");
        Browser { client, _driver: driver, _profile: profile }
    }

    /// Saves what the window shows as `docs/screenshots/{name}.png`: the
    /// pictures a newcomer sees first, refreshed by every run.
    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("a screenshot");
        let dir = repo().join("docs/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    /// Clicks the first element that `css` finds (a clear failure if none).
    pub async fn click(&self, css: &str) {
        let found = self.client.find(fantoccini::Locator::Css(css)).await;
        found.unwrap_or_else(|e| panic!("`{css}` on the page: {e}")).click().await.unwrap();
    }

    /// Starts Chromium trusting `origin` (plain HTTP on a namespace's address)
    /// as a secure context, as a page on localhost would be.
    pub async fn start_for_origin(ns: &Netns, origin: &str) -> Browser {
        Self::start_with(ns, &[&format!("--unsafely-treat-insecure-origin-as-secure={origin}")]).await
    }

    /// Opens the reference client at `url` and waits until it is live and has
    /// decoded more than `frames` frames.
    pub async fn play(&self, url: &str, frames: u32, timeout: Duration) {
        self.client.goto(url).await.expect("open the client page");
        let live =
            format!("window.playcast.state === 'live' && (window.playcast.stats?.framesDecoded ?? 0) > {frames}");
        self.wait_for(&live, timeout).await;
    }

    /// Evaluates `expr` (a JS expression, awaited) in the page and returns its JSON.
    pub async fn eval(&self, expr: &str) -> serde_json::Value {
        let script = format!("const done = arguments[arguments.length - 1]; Promise.resolve((async () => ({expr}))()).then(v => done(v), e => done({{__error: String(e)}}));");
        self.client.execute_async(&script, vec![]).await.expect("script ran")
    }

    /// Waits until `expr` is truthy, returning its last value.
    pub async fn wait_for(&self, expr: &str, timeout: Duration) -> serde_json::Value {
        let deadline = Instant::now() + timeout;
        loop {
            let v = self.eval(expr).await;
            if v.as_bool() == Some(true) || (!v.is_null() && v.as_bool().is_none() && v.get("__error").is_none()) {
                return v;
            }
            if Instant::now() > deadline {
                let state = self.eval("({state: window.playcast && window.playcast.state, err: window.playcast && window.playcast.lastError})").await;
                panic!("timed out after {timeout:?} waiting for `{expr}` (last {v}); page state {state}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub async fn close(self) {
        let _ = self.client.close().await;
    }

    /// chromedriver's process id: Chromium's processes run below it.
    pub fn driver_pid(&self) -> u32 {
        self._driver.0.id()
    }
}

/// Shapes what leaves `dev` in `ns` with a token bucket (`tc … tbf`), or
/// removes the shaping when `rate` is `None`.
pub fn tbf(ns: &Netns, dev: &str, rate: Option<&str>, burst: &str, latency: &str) {
    let mut tc = ns.command("tc");
    match rate {
        Some(r) => {
            tc.args(["qdisc", "replace", "dev", dev, "root", "tbf", "rate", r, "burst", burst, "latency", latency])
        }
        None => tc.args(["qdisc", "del", "dev", dev, "root"]),
    };
    let out = tc.output().expect("tc runs (iproute2)");
    assert!(out.status.success(), "tc failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// The service running inside the test process on an ephemeral loopback port.
/// It stops when this value is dropped (or with the test's runtime).
pub struct InProcess {
    pub addr: std::net::SocketAddr,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    pub state: playcast::api::AppState,
    _stop: tokio::sync::oneshot::Sender<()>,
    _data: tempfile::TempDir,
    /// Dropped after the service (fields drop in order).
    _pg: Option<PgDatabase>,
}

impl InProcess {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/api/v1/signal", self.addr)
    }

    /// A development token for `user`, not yet signed in.
    pub fn token(&self, user: &str, role: playcast::auth::Role) -> String {
        let issuer = self.state.verifier.dev_issuer().expect("the development issuer serves the embedded defaults");
        issuer.mint(user, role, Duration::from_secs(120)).expect("minting a token")
    }

    /// `method path` as `token` with an optional JSON body: the status and
    /// the JSON answer (null when the answer is not JSON).
    pub async fn call(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let (status, v, _) = request(method, self.url(path), token, body).await;
        (status, v)
    }

    /// Signs `user` in (`POST /api/v1/login`) and returns the token.
    pub async fn sign_in(&self, user: &str, role: playcast::auth::Role) -> String {
        let token = self.token(user, role);
        let res = reqwest::Client::new().post(self.url("/api/v1/login")).bearer_auth(&token).send().await.unwrap();
        assert_eq!(res.status(), 200, "sign-in of {user}");
        token
    }

    /// The signaling WebSocket, authenticated as a freshly signed-in player.
    pub async fn signal(&self) -> Ws {
        let token = self.sign_in("player", playcast::auth::Role::Player).await;
        ws_connect(&self.ws_url(), &token).await
    }
}

pub type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens a WebSocket and authenticates with `token` (the first message).
pub async fn ws_connect(url: &str, token: &str) -> Ws {
    ws_connect_after(url, token, None).await
}

/// [`ws_connect`], resuming an events feed after `after` when given.
pub async fn ws_connect_after(url: &str, token: &str, after: Option<i64>) -> Ws {
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.expect("WebSocket upgrade");
    ws_authenticate(&mut ws, token, after).await;
    ws
}

/// Sends the `auth` message on an open WebSocket and expects `authenticated`.
pub async fn ws_authenticate(ws: &mut Ws, token: &str, after: Option<i64>) {
    use futures_util::{SinkExt, StreamExt};
    let mut auth = serde_json::json!({"type": "auth", "token": token});
    if let Some(after) = after {
        auth["after"] = after.into();
    }
    ws.send(tokio_tungstenite::tungstenite::Message::text(auth.to_string())).await.expect("send auth");
    let reply = tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .expect("an answer to auth")
        .expect("open")
        .expect("frame");
    let v: serde_json::Value = serde_json::from_str(reply.to_text().expect("text")).expect("JSON");
    assert_eq!(v["type"], "authenticated", "{v}");
}

/// Where a service under test keeps its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backends {
    /// A SQLite file and the in-process cache: the embedded defaults.
    Embedded,
    /// The real PostgreSQL (a database of its own) and Redis (a prefix of its own).
    PostgresRedis,
}

pub const PG_URL: &str = "postgres://postgres@127.0.0.1:5432";
pub const REDIS_URL: &str = "redis://127.0.0.1:6379";

/// A PostgreSQL database for one test, dropped with this value.
pub struct PgDatabase {
    pub name: String,
}

impl PgDatabase {
    pub async fn create() -> PgDatabase {
        use sea_orm::ConnectionTrait;
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        let admin = sea_orm::Database::connect(format!("{PG_URL}/test"))
            .await
            .expect("PostgreSQL at 127.0.0.1:5432 (database `test`); scripts/test starts it");
        admin.execute_unprepared(&format!("CREATE DATABASE \"{name}\"")).await.expect("CREATE DATABASE");
        PgDatabase { name }
    }

    pub fn url(&self) -> String {
        format!("{PG_URL}/{}", self.name)
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        // Drop runs outside async; a thread of its own may block.
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            use sea_orm::ConnectionTrait;
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                if let Ok(admin) = sea_orm::Database::connect(format!("{PG_URL}/test")).await {
                    let _ = admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).await;
                }
            });
        })
        .join();
    }
}

/// Starts the service on the embedded defaults with the repository's pipelines,
/// after `edit` has adjusted the configuration.
pub async fn serve_in_process(edit: impl FnOnce(&mut playcast::config::Config)) -> InProcess {
    serve_on(Backends::Embedded, edit).await
}

/// Like [`serve_in_process`], with its state on `backends`.
pub async fn serve_on(backends: Backends, edit: impl FnOnce(&mut playcast::config::Config)) -> InProcess {
    let mut config = playcast::config::Config::load_with_env(None, Vec::new()).expect("embedded defaults load");
    config.media.pipelines_dir = repo().join("pipelines");
    let data = tempfile::tempdir().expect("data folder");
    config.server.data_dir = data.path().to_owned();
    let pg = match backends {
        Backends::Embedded => None,
        Backends::PostgresRedis => {
            let db = PgDatabase::create().await;
            config.state.database_url = playcast::config::Secret(db.url());
            config.cache.url = playcast::config::Secret(REDIS_URL.into());
            config.cache.prefix = format!("t-{}", uuid::Uuid::new_v4().simple());
            Some(db)
        }
    };
    edit(&mut config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port");
    let addr = listener.local_addr().expect("local address");
    if config.node.advertise.is_empty() {
        // Where the other nodes of a test reach this one.
        config.node.advertise = format!("http://{addr}");
    }
    let service = playcast::server::Service::start(config, Default::default()).await.expect("service starts");
    let state = service.state.clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(service.serve(listener, async move {
        let _ = stopped.await;
    }));
    InProcess { addr, base: format!("http://{addr}"), state, _stop: stop, _data: data, _pg: pg }
}

/// Polls `check` every 50 ms until it returns `Some`, failing after `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Processes whose environment carries this session's mark (`PLAYCAST_SESSION`).
pub fn processes_of(session: &str) -> Vec<u32> {
    let mark = format!("PLAYCAST_SESSION={session}").into_bytes();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|env| env.split(|&b| b == 0).any(|v| v == mark))
        })
        .collect()
}

/// Exited but not yet reaped (as orphans stay where PID 1 does not reap).
pub fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| s.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('Z')))
}

const WS_WAIT: Duration = Duration::from_secs(20);

/// The next JSON text message, skipping other frames.
pub async fn recv_json(ws: &mut Ws) -> serde_json::Value {
    use futures_util::StreamExt;
    loop {
        let frame =
            tokio::time::timeout(WS_WAIT, ws.next()).await.expect("a message in time").expect("open").expect("frame");
        if let tokio_tungstenite::tungstenite::Message::Text(t) = frame {
            return serde_json::from_str(&t).expect("JSON");
        }
    }
}

/// The next message of `kind`, skipping others (offers, candidates, events).
pub async fn recv_kind(ws: &mut Ws, kind: &str) -> serde_json::Value {
    loop {
        let v = recv_json(ws).await;
        if v["type"] == kind {
            return v;
        }
    }
}

/// Waits for the server to close the connection.
pub async fn ws_closed(ws: &mut Ws) {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    loop {
        match tokio::time::timeout(WS_WAIT, ws.next()).await.expect("the close in time") {
            None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
            Some(Ok(_)) => {}
        }
    }
}

/// One reading of a shaped link's queue (`tc -s -j qdisc`).
#[derive(Clone, Copy, Debug)]
pub struct LinkReading {
    pub at: Instant,
    /// Bytes and packets the qdisc has sent, packets it dropped, bytes queued now.
    pub bytes: u64,
    pub packets: u64,
    pub drops: u64,
    pub backlog: u64,
}

/// Reads the token bucket (`tbf`) on `dev` in a namespace every 50 ms until
/// dropped: what the sender offered the link and how long its queue was.
pub struct LinkWatch {
    readings: std::sync::Arc<std::sync::Mutex<Vec<LinkReading>>>,
    child: Child,
}

impl LinkWatch {
    pub fn start(ns: &Netns, dev: &str) -> Self {
        use std::io::BufRead;
        let script = format!("while :; do tc -s -j qdisc show dev {dev}; sleep 0.05; done");
        let mut child = ns
            .command("sh")
            .args(["-c", &script])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("tc runs (iproute2)");
        let out = child.stdout.take().expect("piped stdout");
        let readings = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = readings.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
                let Some(q) = v.as_array().and_then(|a| a.iter().find(|q| q["kind"] == "tbf")) else { continue };
                let n = |k: &str| q[k].as_u64().unwrap_or(0);
                let r = LinkReading {
                    at: Instant::now(),
                    bytes: n("bytes"),
                    packets: n("packets"),
                    drops: n("drops"),
                    backlog: n("backlog"),
                };
                sink.lock().unwrap().push(r);
            }
        });
        LinkWatch { readings, child }
    }

    /// The readings taken between `from` and `to`.
    pub fn between(&self, from: Instant, to: Instant) -> Vec<LinkReading> {
        self.readings.lock().unwrap().iter().filter(|r| r.at >= from && r.at <= to).copied().collect()
    }

    /// The rate offered to the link over the last `span` (NaN before two readings).
    pub fn recent_bps(&self, span: Duration) -> f64 {
        let now = Instant::now();
        let r = self.between(now - span, now);
        match (r.first(), r.last()) {
            (Some(a), Some(b)) if b.at > a.at => offered_bps(a, b),
            _ => f64::NAN,
        }
    }
}

impl Drop for LinkWatch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Bits per second that entered the queue between two readings: sent,
/// dropped and the change in what is queued. (A `tbf` replaced by another
/// keeps its counters and its queue.)
pub fn offered_bps(a: &LinkReading, b: &LinkReading) -> f64 {
    let dt = b.at.duration_since(a.at).as_secs_f64().max(1e-3);
    let avg_packet = if b.packets > 0 { b.bytes as f64 / b.packets as f64 } else { 1200.0 };
    let entered =
        b.bytes.saturating_sub(a.bytes) as f64 + b.drops.saturating_sub(a.drops) as f64 * avg_packet + b.backlog as f64
            - a.backlog as f64;
    entered.max(0.0) * 8.0 / dt
}

/// The offered rate over consecutive windows of `span`: (end of the window, bit/s).
pub fn offered_windows(r: &[LinkReading], span: Duration) -> Vec<(Instant, f64)> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..r.len() {
        if r[i].at.duration_since(r[start].at) >= span {
            out.push((r[i].at, offered_bps(&r[start], &r[i])));
            start = i;
        }
    }
    out
}

/// `--param NAME=VALUE` arguments (repeatable) of a benchmark: pipeline
/// parameters for Playcast's sessions, a JSON value where the text is one.
pub fn pipeline_params(args: &[String]) -> serde_json::Map<String, serde_json::Value> {
    args.windows(2)
        .filter(|w| w[0] == "--param")
        .map(|w| {
            let (name, value) = w[1].split_once('=').expect("--param takes NAME=VALUE");
            let value = serde_json::from_str(value).unwrap_or_else(|_| serde_json::Value::String(value.to_string()));
            (name.to_string(), value)
        })
        .collect()
}

/// The files of a benchmark of the players' path: a pipelines folder with the
/// shipped `linux-x11` file and the bare X11 baseline, and a games catalog of
/// the probe game (`probe_games`). Returns the folder holding both, the
/// pipelines folder and the catalog's path.
pub fn game_bench_files(still_at_most: Duration) -> (tempfile::TempDir, PathBuf, String) {
    let dir = tempfile::tempdir().unwrap();
    let pipelines = dir.path().join("pipelines");
    std::fs::create_dir(&pipelines).unwrap();
    std::fs::copy(repo().join("pipelines/linux-x11.toml"), pipelines.join("linux-x11.toml")).unwrap();
    std::fs::write(pipelines.join("baseline.toml"), BARE_X11_BASELINE_PIPELINE).unwrap();
    let games = dir.path().join("games.toml");
    std::fs::write(&games, probe_games(still_at_most)).unwrap();
    let games = games.to_string_lossy().into_owned();
    (dir, pipelines, games)
}

/// How the Playcast page puts pictures on the screen (`render=` of the direct-play page).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Render {
    Video,
    Canvas,
}

impl Render {
    pub fn name(self) -> &'static str {
        match self {
            Render::Video => "video",
            Render::Canvas => "canvas",
        }
    }

    /// `--render video|canvas|both` (default both).
    pub fn list(arg: Option<&str>) -> Vec<Render> {
        match arg {
            None | Some("both") => vec![Render::Video, Render::Canvas],
            Some("video") => vec![Render::Video],
            Some("canvas") => vec![Render::Canvas],
            Some(other) => panic!("--render takes video, canvas or both, not {other}"),
        }
    }
}
