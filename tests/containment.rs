//! No process outlives its session: games that detach (`setsid`, a double
//! fork, `env -i setsid`), ignore SIGTERM or fork-bomb leave nothing behind
//! when their session is ended, when the game exits on its own, when the
//! node shuts down, and after a kill -9 of the service followed by a restart.
//! Where cgroups are writable (here, as root) each session has its own, and
//! its reservation holds: a game past its memory is OOM-killed alone, a game
//! spinning more threads than its cores gets its quota.
//!
//! The service runs as a child process on the embedded defaults; the games
//! are `tests/fixtures/escape-game.sh`. Every lasting process of a game
//! carries a mark in its argv (unique per test), so leftovers are counted by
//! scanning `/proc` as well as through the session's cgroup. Needs root and
//! cgroups: without them the test fails, it never skips.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{eventually, Proc};
use reqwest::Method;
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(30);
/// Detaching tricks, each a mode of the fixture game.
const ESCAPES: [&str; 5] = ["setsid", "double-fork", "env-clear", "ignore-term", "fork-bomb"];
/// The fork bomb's bound (the games' `max_processes`).
const MAX_PROCESSES: u32 = 64;

/// One game of the catalog a test writes: its name, its argv mark and the
/// folder where it reports.
struct Game {
    name: String,
    mark: String,
    out: PathBuf,
}

impl Game {
    fn new(dir: &Path, tag: &str, mode: &str, then: &str) -> Game {
        let name = format!("{mode}-{then}");
        let mark = format!("pcesc{tag}-{name}");
        let out = dir.join("out").join(&name);
        std::fs::create_dir_all(&out).unwrap();
        Game { name, mark, out }
    }

    fn entry(&self, mode: &str, then: &str, extra: &str) -> String {
        let script = common::repo().join("tests/fixtures/escape-game.sh");
        format!(
            "[games.{}]\ntitle = \"{}\"\npipeline = \"test-pattern\"\ncommand = [\"bash\", {:?}, {:?}, {:?}, {:?}, {:?}]\nmax_processes = {MAX_PROCESSES}\n{extra}\n\n",
            self.name,
            self.name,
            script.to_str().unwrap(),
            self.mark,
            mode,
            then,
            self.out.to_str().unwrap()
        )
    }

    async fn ready(&self) {
        let ready = self.out.join("ready");
        eventually(&format!("{} to be ready", self.name), WAIT, || async { ready.exists().then_some(()) }).await;
    }
}

/// The running (not zombie) processes whose argv holds `mark`.
fn marked(mark: &str) -> Vec<u32> {
    let me = std::process::id();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != me && !common::is_zombie(pid))
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|argv| argv.windows(mark.len()).any(|w| w == mark.as_bytes()))
        })
        .collect()
}

/// Where the cgroup hierarchy holding `controller` (`None`: v2) is mounted.
fn mount_of(controller: Option<&str>) -> PathBuf {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    info.lines()
        .find_map(|l| {
            let (head, tail) = l.split_once(" - ")?;
            let tail: Vec<&str> = tail.split_whitespace().collect();
            let ok = match controller {
                None => tail[0] == "cgroup2",
                Some(c) => tail[0] == "cgroup" && tail.get(2)?.split(',').any(|o| o == c),
            };
            ok.then(|| PathBuf::from(head.split_whitespace().nth(4).unwrap()))
        })
        .unwrap_or_else(|| panic!("no cgroup hierarchy with {controller:?} is mounted: this test needs cgroups"))
}

/// The cgroup folder of `pid` in the hierarchy of `controller` (`None`: v2).
fn cgroup_of(pid: u32, controller: Option<&str>) -> Option<PathBuf> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let path = text.lines().find_map(|l| {
        let mut parts = l.splitn(3, ':');
        let (_, list, path) = (parts.next()?, parts.next()?, parts.next()?);
        let ok = match controller {
            None => list.is_empty(),
            Some(c) => list.split(',').any(|x| x == c),
        };
        ok.then(|| path.trim_start_matches('/').to_string())
    })?;
    Some(mount_of(controller).join(path))
}

fn procs_in(dir: &Path) -> Vec<u32> {
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.parse().ok())
        .collect()
}

fn read_u64(path: &Path) -> u64 {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.trim().parse().unwrap_or_else(|_| panic!("{}: `{text}` is not a number", path.display()))
}

/// A `key value` line of a cgroup file like `cpu.stat`.
fn stat_field(path: &Path, key: &str) -> u64 {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{}: no `{key}` in {text}", path.display()))
}

/// Kills and removes, on drop, every cgroup a test saw a session in (and
/// the service's parents of them), so a failing test leaves none behind.
#[derive(Default)]
struct Sweep(Vec<PathBuf>);

impl Sweep {
    fn add(&mut self, dir: PathBuf) {
        if !self.0.contains(&dir) {
            self.0.push(dir);
        }
    }
}

impl Drop for Sweep {
    fn drop(&mut self) {
        let dirs = self.0.iter().flat_map(|d| [d.join("game"), d.clone()]);
        for dir in &dirs.collect::<Vec<_>>() {
            for _ in 0..100 {
                let pids = procs_in(dir);
                if pids.is_empty() {
                    break;
                }
                for pid in pids {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid as i32),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = std::fs::remove_dir(dir);
            // The node's folder and `playcast` above it, once empty.
            for parent in dir.ancestors().skip(1).take(2).filter(|_| !dir.ends_with("game")) {
                let _ = std::fs::remove_dir(parent);
            }
        }
    }
}

/// The service under test: its data folder outlives a kill -9, so a restart is the same node.
struct Node {
    data: tempfile::TempDir,
    games: PathBuf,
    port: u16,
    base: String,
    proc: Option<Proc>,
    settings: Vec<(&'static str, &'static str)>,
}

const SETTINGS: [(&str, &str); 4] = [
    ("PLAYCAST__SESSIONS__CONNECT_TIMEOUT", "10m"),
    ("PLAYCAST__SERVER__DRAIN", "0s"),
    // Room for every game of a test at once; the cgroups hold each to its own share.
    ("PLAYCAST__NODE__CPU_CORES", "64"),
    ("PLAYCAST__NODE__MEMORY_MB", "65536"),
];

impl Node {
    async fn start(catalog: &str) -> Node {
        Node::start_with(catalog, &[]).await
    }

    /// With settings over (or beside) [`SETTINGS`].
    async fn start_with(catalog: &str, over: &[(&'static str, &'static str)]) -> Node {
        common::require_root();
        let mut settings: Vec<_> =
            SETTINGS.iter().filter(|(k, _)| !over.iter().any(|(o, _)| o == k)).copied().collect();
        settings.extend_from_slice(over);
        let data = tempfile::tempdir().unwrap();
        let games = data.path().join("games.toml");
        std::fs::write(&games, catalog).unwrap();
        let port = common::free_port();
        let mut node = Node { base: format!("http://127.0.0.1:{port}"), data, games, port, proc: None, settings };
        node.restart().await;
        node
    }

    async fn restart(&mut self) {
        self.proc = Some(common::serve_process(self.data.path(), &self.games, self.port, &self.settings));
        common::wait_http(&format!("{}/api/v1/health", self.base), WAIT).await;
    }

    fn kill_9(&mut self) {
        let mut proc = self.proc.take().expect("a running service");
        proc.0.kill().expect("kill -9");
        proc.0.wait().unwrap();
    }

    /// SIGTERM, as an operator stops a node: it ends its sessions first.
    fn stop(&mut self) {
        let mut proc = self.proc.take().expect("a running service");
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(proc.0.id() as i32), nix::sys::signal::Signal::SIGTERM)
            .unwrap();
        let deadline = Instant::now() + WAIT;
        while proc.0.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "the service did not stop within {WAIT:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    async fn token(&self, role: &str) -> String {
        let token = common::cli_token(self.data.path(), "alice", role).await;
        let (status, _) = common::call(&self.base, &token, Method::POST, "/api/v1/login", None).await;
        assert_eq!(status, 200);
        token
    }

    async fn create(&self, token: &str, game: &Game) -> String {
        let (status, v) =
            common::call(&self.base, token, Method::POST, "/api/v1/sessions", Some(json!({"game": game.name}))).await;
        assert_eq!(status, 201, "{}: {v}", game.name);
        v["id"].as_str().unwrap().to_string()
    }

    async fn session(&self, token: &str, id: &str) -> Value {
        common::call(&self.base, token, Method::GET, &format!("/api/v1/sessions/{id}"), None).await.1
    }

    /// A session of each game, each running with its escapee: ids and cgroups.
    async fn start_each(&self, token: &str, games: &[Game], sweep: &mut Sweep) -> Vec<(String, PathBuf)> {
        let mut out = Vec::new();
        for g in games {
            let id = self.create(token, g).await;
            g.ready().await;
            let cgroup = session_cgroup(&id, g, sweep);
            out.push((id, cgroup));
        }
        out
    }

    async fn wait_cleanup(&self, token: &str, id: &str) -> Value {
        eventually(&format!("session {id} to be cleaned up"), WAIT, || async {
            let v = self.session(token, id).await;
            (v["state"] == "cleanup").then_some(v)
        })
        .await
    }
}

/// The session's v2 cgroup, checked to hold every marked process of `game`
/// (the escapees too), and every v1 cgroup they are in, for the sweep.
fn session_cgroup(id: &str, game: &Game, sweep: &mut Sweep) -> PathBuf {
    let pids = marked(&game.mark);
    assert!(!pids.is_empty(), "{}: no process carries the mark", game.name);
    let mut dir = None;
    for &pid in &pids {
        let Some(v2) = cgroup_of(pid, None) else { continue };
        for c in ["pids", "memory", "cpu", "cpuacct", "freezer"] {
            if let Some(d) = cgroup_of(pid, Some(c)) {
                // The game's CPU quota is on a cgroup of its own inside the session's.
                let d = if d.ends_with("game") { d.parent().unwrap().to_path_buf() } else { d };
                if d.ends_with(id) {
                    sweep.add(d);
                }
            }
        }
        sweep.add(v2.clone());
        assert!(
            v2.ends_with(id),
            "{}: process {pid} is in {} instead of the session's cgroup",
            game.name,
            v2.display()
        );
        dir = Some(v2);
    }
    dir.unwrap_or_else(|| panic!("{}: its processes have gone", game.name))
}

/// Nothing of `game` runs any more, counted both ways, and its cgroup is gone.
async fn assert_gone(game: &Game, cgroup: &Path, when: &str) {
    let left = eventually(&format!("{}'s processes to end {when}", game.name), Duration::from_secs(10), || async {
        let left = marked(&game.mark);
        left.is_empty().then_some(left)
    })
    .await;
    assert!(left.is_empty());
    assert!(procs_in(cgroup).is_empty(), "{}: processes in {} {when}", game.name, cgroup.display());
    assert!(!cgroup.exists(), "{}: the session's cgroup {} stayed {when}", game.name, cgroup.display());
}

/// A game of each escape that stays after it detached, and their catalog.
fn staying_escapes(dir: &Path) -> (Vec<Game>, String) {
    let tag = tag();
    let games: Vec<Game> = ESCAPES.iter().map(|mode| Game::new(dir, &tag, mode, "stay")).collect();
    let catalog = ESCAPES.iter().zip(&games).map(|(mode, g)| g.entry(mode, "stay", "")).collect();
    (games, catalog)
}

fn tag() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escaped_processes_end_with_the_session_the_game_and_the_node() {
    let dir = tempfile::tempdir().unwrap();
    let tag = tag();
    let mut catalog = String::new();
    let mut ended = Vec::new();
    let mut exiting = Vec::new();
    let mut shut_down = Vec::new();
    for mode in ESCAPES {
        for (then, list) in [("stay", &mut ended), ("exit", &mut exiting)] {
            let g = Game::new(dir.path(), &tag, mode, then);
            catalog.push_str(&g.entry(mode, then, ""));
            list.push(g);
        }
        let g = Game::new(dir.path(), &tag, mode, "node");
        catalog.push_str(&g.entry(mode, "stay", ""));
        shut_down.push(g);
    }
    let mut node = Node::start(&catalog).await;
    let mut sweep = Sweep::default();
    let token = node.token("player").await;
    let admin = node.token("admin").await;
    let (_, info) = common::call(&node.base, &admin, Method::GET, "/api/v1/node", None).await;
    assert_eq!(info["containment"]["mechanism"], "cgroup", "{info}");
    assert_eq!(info["containment"]["kill"], "cgroup-kill", "{info}");
    assert_eq!(info["containment"]["enforced"], json!(["memory", "cpu", "pids"]), "{info}");

    // Ended through the API, while the game and its escapee run.
    let mut parent = None;
    for g in &ended {
        let id = node.create(&token, g).await;
        g.ready().await;
        let cgroup = session_cgroup(&id, g, &mut sweep);
        parent = cgroup.parent().map(Path::to_path_buf);
        if g.name.starts_with("fork-bomb") {
            let pids = mount_of(Some("pids")).join(cgroup.strip_prefix(mount_of(None)).unwrap());
            let current = eventually("the fork bomb to fill its bound", WAIT, || async {
                let n = read_u64(&pids.join("pids.current"));
                (n >= u64::from(MAX_PROCESSES) / 2).then_some(n)
            })
            .await;
            assert!(current <= u64::from(MAX_PROCESSES), "{current} tasks past a bound of {MAX_PROCESSES}");
        }
        let (status, v) =
            common::call(&node.base, &token, Method::POST, &format!("/api/v1/sessions/{id}/end"), None).await;
        assert_eq!(status, 200, "{v}");
        node.wait_cleanup(&token, &id).await;
        assert_gone(g, &cgroup, "after the session ended").await;
    }

    // The game exits on its own once its escapee runs: the session ends, and the escapee with it.
    for g in &exiting {
        let id = node.create(&token, g).await;
        g.ready().await;
        let v = node.wait_cleanup(&token, &id).await;
        assert_eq!(v["stats"]["ended"], "the game exited", "{}: {v}", g.name);
        // Gone by now, perhaps: its place is beside the earlier sessions'.
        let cgroup = parent.as_ref().expect("an earlier session's cgroup").join(&id);
        assert_gone(g, &cgroup, "after the game exited").await;
    }

    // The node stops (SIGTERM): it ends every session first.
    let mut cgroups = Vec::new();
    for g in &shut_down {
        let id = node.create(&token, g).await;
        g.ready().await;
        cgroups.push(session_cgroup(&id, g, &mut sweep));
    }
    node.stop();
    for (g, cgroup) in shut_down.iter().zip(&cgroups) {
        assert_gone(g, cgroup, "after the node stopped").await;
    }
    let parent = cgroups[0].parent().unwrap();
    assert!(!parent.exists(), "the node's cgroup {} stayed after it stopped", parent.display());
    drop(node);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escaped_processes_end_when_the_session_times_out() {
    let dir = tempfile::tempdir().unwrap();
    let (games, catalog) = staying_escapes(dir.path());
    // Nobody connects: each session ends at its connect timeout.
    let node = Node::start_with(&catalog, &[("PLAYCAST__SESSIONS__CONNECT_TIMEOUT", "4s")]).await;
    let mut sweep = Sweep::default();
    let token = node.token("player").await;
    let running = node.start_each(&token, &games, &mut sweep).await;
    for (g, (id, cgroup)) in games.iter().zip(&running) {
        let v = node.wait_cleanup(&token, id).await;
        assert_eq!(v["stats"]["ended"], "the player did not connect in time", "{}: {v}", g.name);
        assert_gone(g, cgroup, "after the session timed out").await;
    }
    drop(node);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_service_leaves_no_escaped_process_after_its_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (games, catalog) = staying_escapes(dir.path());
    let mut node = Node::start(&catalog).await;
    let mut sweep = Sweep::default();
    let token = node.token("player").await;
    let sessions = node.start_each(&token, &games, &mut sweep).await;

    node.kill_9();
    // Nothing ended them: they run on, in their cgroups, until the next start.
    for (g, (_, cgroup)) in games.iter().zip(&sessions) {
        assert!(!marked(&g.mark).is_empty(), "{}: gone with the service already", g.name);
        assert!(!procs_in(cgroup).is_empty(), "{}: its cgroup {} emptied itself", g.name, cgroup.display());
    }

    node.restart().await;
    let token = node.token("player").await;
    for (g, (id, cgroup)) in games.iter().zip(&sessions) {
        let v = node.wait_cleanup(&token, id).await;
        assert_eq!(v["stats"]["reconciled"], true, "{v}");
        assert_gone(g, cgroup, "after the restart").await;
    }
    let parent = sessions[0].1.parent().unwrap();
    assert!(!parent.exists(), "the node's cgroup {} stayed with no session in it", parent.display());
    node.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_game_past_its_memory_dies_alone() {
    let dir = tempfile::tempdir().unwrap();
    let tag = tag();
    let hog = Game::new(dir.path(), &tag, "hog", "stay");
    let other = Game::new(dir.path(), &tag, "setsid", "stay");
    let catalog = hog.entry("hog", "stay", "memory_mb = 64") + &other.entry("setsid", "stay", "memory_mb = 64");
    let mut node = Node::start(&catalog).await;
    let mut sweep = Sweep::default();
    let token = node.token("player").await;
    let other_id = node.create(&token, &other).await;
    other.ready().await;
    let other_pids = marked(&other.mark);
    let hog_id = node.create(&token, &hog).await;
    hog.ready().await;
    session_cgroup(&hog_id, &hog, &mut sweep);
    session_cgroup(&other_id, &other, &mut sweep);

    // The allocation was killed (128 + SIGKILL) by the OOM killer of the session's own cgroup.
    let status = std::fs::read_to_string(hog.out.join("hog")).unwrap();
    assert_eq!(status.trim(), "137", "the 1 GiB allocation in a 64 MiB session ended with {status}");
    let game = marked(&hog.mark)[0];
    let memory = cgroup_of(game, Some("memory")).unwrap();
    assert!(memory.ends_with(&hog_id), "{}", memory.display());
    assert_eq!(read_u64(&memory.join("memory.limit_in_bytes")), 64 << 20);
    assert!(stat_field(&memory.join("memory.oom_control"), "oom_kill ") >= 1, "no OOM kill in {}", memory.display());

    // The service, the hog's own game and the other session live on.
    let (status, _) = common::call(&node.base, &token, Method::GET, "/api/v1/health", None).await;
    assert_eq!(status, 200);
    for id in [&hog_id, &other_id] {
        let v = node.session(&token, id).await;
        assert_eq!(v["state"], "connecting", "{v}");
    }
    assert_eq!(marked(&other.mark), other_pids, "the other session's processes changed");
    node.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_game_spinning_more_threads_than_its_cores_gets_its_quota() {
    let dir = tempfile::tempdir().unwrap();
    let tag = tag();
    let spin = Game::new(dir.path(), &tag, "spin", "stay");
    let mut node = Node::start(&spin.entry("spin", "stay", "cpu_cores = 1")).await;
    let mut sweep = Sweep::default();
    let token = node.token("player").await;
    let id = node.create(&token, &spin).await;
    spin.ready().await;
    session_cgroup(&id, &spin, &mut sweep);
    let game = marked(&spin.mark)[0];
    let cpu = cgroup_of(game, Some("cpu")).unwrap();
    let cpuacct = cgroup_of(game, Some("cpuacct")).unwrap();
    // The quota is the game's (its display and sound server answer the stream unthrottled).
    assert!(cpu.ends_with(Path::new(&id).join("game")), "{}", cpu.display());
    assert!(cpuacct.ends_with(&id), "{}", cpuacct.display());
    assert_eq!(read_u64(&cpu.join("cpu.cfs_quota_us")), read_u64(&cpu.join("cpu.cfs_period_us")));

    // The machine is shared (builds, browsers): the session and the service's
    // parents of it get the largest CPU weight for the measurement, so that the
    // quota, not contention, is what holds the busy loops.
    let weighted: Vec<PathBuf> = cpu.ancestors().take(4).map(Path::to_path_buf).collect();
    for dir in &weighted {
        std::fs::write(dir.join("cpu.shares"), "262144").unwrap();
    }
    // Four busy loops on a one-core reservation: one core, throttled the rest of the time.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sample = || (read_u64(&cpuacct.join("cpuacct.usage")), stat_field(&cpu.join("cpu.stat"), "nr_throttled "));
    let ((used0, throttled0), t0) = (sample(), Instant::now());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (used1, throttled1) = sample();
    let cores = (used1 - used0) as f64 / 1e9 / t0.elapsed().as_secs_f64();
    for dir in &weighted {
        std::fs::write(dir.join("cpu.shares"), "1024").unwrap();
    }
    eprintln!("four busy loops on one core's quota used {cores:.2} cores, throttled {} times", throttled1 - throttled0);
    assert!(cores <= 1.1, "{cores:.2} cores used on a one-core quota");
    assert!(cores >= 0.85, "{cores:.2} cores used by four busy loops on a one-core quota");
    assert!(throttled1 - throttled0 >= 100, "the quota never throttled: {throttled0} -> {throttled1}");
    node.stop();
}
