//! Containment: every process a session starts, directly or not, ends with it.
//!
//! Each session gets a cgroup of its own, named from its id, under a parent the
//! service owns in each hierarchy it uses:
//! `<mount>/<the service's own cgroup>/playcast/<node id>/<session>`. Its
//! processes enter it between fork and exec, so nothing they do afterwards (a
//! new session or process group, a cleared environment, a double fork) takes
//! them out of it. Ending a session kills the whole cgroup; after a kill -9 of
//! the service, the next start with the same node id kills every cgroup left
//! under its parent ([`Containment::reap_leftovers`]).
//!
//! What the kernel offers is found at start-up ([`Containment::detect`]):
//! - tracking and killing: cgroup v2 (`cgroup.kill`, atomic even against a fork
//!   bomb), else the v1 freezer (freeze, SIGKILL each, thaw), else a v1 `pids`
//!   cgroup (SIGKILL each until none is left, `pids.max` bounding the forks);
//! - reservations, in v1 controllers where mounted: `memory.limit_in_bytes`
//!   (a session past its memory is OOM-killed inside its own cgroup), CFS
//!   quota (`cpu_cores` × period), `pids.max`, and `cpuacct` accounting.
//!
//! Where no cgroup can be written (not root, no mount), sessions fall back to
//! process groups and the `PLAYCAST_SESSION` variable (see `launch`), which a
//! game can leave; [`ContainmentView`] says which mechanism is in force.

use std::fs;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde::Serialize;

/// The folder under the service's own cgroup that holds its nodes' sessions.
const PARENT: &str = "playcast";
/// CFS period the CPU quota is a multiple of: short, so a game at its quota
/// waits at most this long for more and keeps an even frame pace (the usual
/// 100 ms would stall a frame for up to tens of milliseconds).
const CPU_PERIOD_US: u64 = 10_000;
/// The game's own cgroup inside the session's `cpu` cgroup: the quota holds the
/// game, while the display and the sound server the stream captures are free
/// to answer it at once.
const GAME_CPU: &str = "game";
/// How long killing a cgroup may take before it is reported as stuck.
const KILL_TIMEOUT: Duration = Duration::from_secs(5);

/// What a session may use, enforced where the controllers exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub cpu_cores: u32,
    pub memory_mb: u64,
    /// Processes and threads together (`pids.max`).
    pub max_processes: u32,
}

/// How a session's processes are killed together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KillVia {
    /// cgroup v2 `cgroup.kill`.
    CgroupKill,
    /// cgroup v1 freezer: freeze, SIGKILL each, thaw.
    Freezer,
    /// SIGKILL each process of a v1 `pids` cgroup until none is left.
    PidsSignals,
    /// No cgroup: process groups and the session's variable (a game can leave both).
    ProcessGroup,
}

/// The mechanism in force, as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainmentView {
    /// `cgroup` or `process-group`.
    pub mechanism: &'static str,
    pub kill: KillVia,
    /// The reservations the kernel enforces: `memory`, `cpu`, `pids`.
    pub enforced: Vec<&'static str>,
    /// Why cgroups are not in force, when they are not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback_reason: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ContainError {
    #[error("cannot set up the session's cgroup `{}`: {source}", path.display())]
    Setup { path: PathBuf, source: io::Error },
}

/// One hierarchy's part in containment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// The v2 hierarchy: tracking and `cgroup.kill`.
    Unified,
    Freezer,
    Pids,
    Memory,
    Cpu,
    Cpuacct,
}

#[derive(Debug, Clone)]
struct Hierarchy {
    role: Role,
    /// `<mount>/<own cgroup>/playcast/<node>`: sessions are its children.
    node_dir: PathBuf,
}

/// The containment of one node's sessions.
#[derive(Debug)]
pub struct Containment {
    hierarchies: Vec<Hierarchy>,
    kill: KillVia,
    fallback_reason: Option<String>,
}

impl Containment {
    /// Finds what this kernel offers for `node` (whose id names the parent, so a
    /// restart finds its leftovers) and logs it once.
    pub fn detect(node: &str) -> Arc<Containment> {
        let c = Self::detect_in(Path::new("/proc/self/mountinfo"), Path::new("/proc/self/cgroup"), node);
        let view = c.view();
        match &view.fallback_reason {
            None => tracing::info!(mechanism = view.mechanism, kill = ?view.kill, enforced = ?view.enforced,
                "session containment: a cgroup per session"),
            Some(why) => tracing::warn!(mechanism = view.mechanism, reason = %why,
                "session containment: no writable cgroups; a game that leaves its process group or clears \
                 its environment can outlive its session"),
        }
        Arc::new(c)
    }

    fn detect_in(mountinfo: &Path, own: &Path, node: &str) -> Containment {
        let fallback = |why: String| Containment {
            hierarchies: Vec::new(),
            kill: KillVia::ProcessGroup,
            fallback_reason: Some(why),
        };
        if node.is_empty()
            || !node.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            || node.starts_with('.')
        {
            return fallback(format!("node id `{node}` cannot name a cgroup"));
        }
        let mounts = fs::read_to_string(mountinfo).unwrap_or_default();
        let own = fs::read_to_string(own).unwrap_or_default();
        let mut found = Vec::new();
        for (kind, mount, root) in cgroup_mounts(&mounts) {
            let roles: Vec<Role> = match &kind {
                None => vec![Role::Unified],
                Some(controllers) => controllers
                    .iter()
                    .filter_map(|c| match c.as_str() {
                        "freezer" => Some(Role::Freezer),
                        "pids" => Some(Role::Pids),
                        "memory" => Some(Role::Memory),
                        "cpu" => Some(Role::Cpu),
                        "cpuacct" => Some(Role::Cpuacct),
                        _ => None,
                    })
                    .collect(),
            };
            let Some(path) = own_path(&own, kind.as_deref()) else { continue };
            // Paths in /proc/self/cgroup are from the hierarchy's root; a mount may show a subtree.
            let Ok(rel) = Path::new(&path).strip_prefix(&root) else { continue };
            let node_dir = mount.join(rel).join(PARENT).join(node);
            for role in roles {
                if usable(&node_dir, role) {
                    found.push(Hierarchy { role, node_dir: node_dir.clone() });
                }
            }
        }
        let has = |r: Role| found.iter().any(|h| h.role == r);
        let kill = if has(Role::Unified) {
            KillVia::CgroupKill
        } else if has(Role::Freezer) {
            KillVia::Freezer
        } else if has(Role::Pids) {
            KillVia::PidsSignals
        } else {
            return fallback(
                "no cgroup hierarchy that can kill a session (v2 cgroup.kill, v1 freezer or pids) is writable here"
                    .into(),
            );
        };
        Containment { hierarchies: found, kill, fallback_reason: None }
    }

    pub fn view(&self) -> ContainmentView {
        let has = |r: Role| self.hierarchies.iter().any(|h| h.role == r);
        let enforced = [(Role::Memory, "memory"), (Role::Cpu, "cpu"), (Role::Pids, "pids")]
            .into_iter()
            .filter(|(r, _)| has(*r))
            .map(|(_, n)| n)
            .collect();
        ContainmentView {
            mechanism: if self.kill == KillVia::ProcessGroup { "process-group" } else { "cgroup" },
            kill: self.kill,
            enforced,
            fallback_reason: self.fallback_reason.clone(),
        }
    }

    /// Creates the session's cgroups with `limits` set; `None` without cgroups.
    pub fn session(self: &Arc<Self>, session_id: &str, limits: Limits) -> Result<Option<SessionCgroup>, ContainError> {
        if self.kill == KillVia::ProcessGroup {
            return Ok(None);
        }
        let name = cgroup_name(session_id);
        let mut cg =
            SessionCgroup { containment: self.clone(), dirs: Vec::new(), procs: Vec::new(), game_procs: Vec::new() };
        for h in &self.hierarchies {
            let dir = h.node_dir.join(&name);
            let setup = |e: io::Error| ContainError::Setup { path: dir.clone(), source: e };
            create_fresh(&dir).map_err(setup)?;
            // Listed at once, so a failure below still removes what was made.
            cg.dirs.push((h.role, dir.clone()));
            match h.role {
                Role::Memory => {
                    let bytes = limits.memory_mb.saturating_mul(1 << 20).to_string();
                    write_file(&dir.join("memory.limit_in_bytes"), &bytes).map_err(setup)?;
                    // With swap, memory + swap is held to the same figure (absent without swap accounting).
                    let memsw = dir.join("memory.memsw.limit_in_bytes");
                    if memsw.exists() {
                        write_file(&memsw, &bytes).map_err(setup)?;
                    }
                }
                Role::Cpu => {
                    let game = dir.join(GAME_CPU);
                    fs::create_dir(&game).map_err(setup)?;
                    write_file(&game.join("cpu.cfs_period_us"), &CPU_PERIOD_US.to_string()).map_err(setup)?;
                    let quota = u64::from(limits.cpu_cores.max(1)) * CPU_PERIOD_US;
                    write_file(&game.join("cpu.cfs_quota_us"), &quota.to_string()).map_err(setup)?;
                    let procs = fs::OpenOptions::new().write(true).open(game.join("cgroup.procs")).map_err(setup)?;
                    cg.game_procs.push(OwnedFd::from(procs));
                }
                Role::Pids => {
                    write_file(&dir.join("pids.max"), &limits.max_processes.max(1).to_string()).map_err(setup)?
                }
                Role::Unified | Role::Freezer | Role::Cpuacct => {}
            }
            let procs = fs::OpenOptions::new().write(true).open(dir.join("cgroup.procs")).map_err(setup)?;
            cg.procs.push(OwnedFd::from(procs));
        }
        tracing::debug!(session = session_id, cgroups = ?cg.dirs.iter().map(|(_, d)| d).collect::<Vec<_>>(), "session cgroups made");
        Ok(Some(cg))
    }

    /// Kills every session cgroup left under this node's parent (a service that
    /// was killed cannot have ended them) and removes them; returns how many
    /// processes they held.
    pub fn reap_leftovers(&self) -> usize {
        let mut names: Vec<std::ffi::OsString> = Vec::new();
        for h in &self.hierarchies {
            for entry in fs::read_dir(&h.node_dir).into_iter().flatten().flatten() {
                if entry.file_type().is_ok_and(|t| t.is_dir()) && !names.contains(&entry.file_name()) {
                    names.push(entry.file_name());
                }
            }
        }
        let mut killed = 0;
        for name in names {
            let dirs: Vec<(Role, PathBuf)> =
                self.hierarchies.iter().map(|h| (h.role, h.node_dir.join(&name))).filter(|(_, d)| d.is_dir()).collect();
            killed += count_procs(&dirs);
            tracing::warn!(cgroup = %name.to_string_lossy(), "killing the cgroup of a session of an earlier run");
            if let Err(e) = kill_and_remove(self.kill, &dirs) {
                tracing::error!(cgroup = %name.to_string_lossy(), error = %e, "a leftover session cgroup could not be ended");
            }
        }
        self.remove_parents();
        killed
    }

    /// Removes the node's parent folders when no session is left in them.
    fn remove_parents(&self) {
        for h in &self.hierarchies {
            if fs::remove_dir(&h.node_dir).is_ok() {
                if let Some(parent) = h.node_dir.parent() {
                    let _ = fs::remove_dir(parent);
                }
            }
        }
    }
}

/// A session's cgroups; [`SessionCgroup::end`] kills what is in them and removes them.
#[derive(Debug)]
pub struct SessionCgroup {
    containment: Arc<Containment>,
    dirs: Vec<(Role, PathBuf)>,
    /// Each cgroup's `cgroup.procs`, opened before any fork: a child joins by
    /// writing to them between fork and exec, where opening files is not safe.
    procs: Vec<OwnedFd>,
    /// Likewise for the game's own cgroups (its CPU quota).
    game_procs: Vec<OwnedFd>,
}

impl SessionCgroup {
    /// Makes every process `cmd` starts join the session's cgroups before it runs.
    pub fn enter_on_spawn(&self, cmd: &mut tokio::process::Command) {
        join_on_spawn(cmd, &self.procs);
    }

    /// Also makes the game `cmd` starts join the game's own cgroups (after
    /// [`SessionCgroup::enter_on_spawn`]).
    pub fn enter_as_game(&self, cmd: &mut tokio::process::Command) {
        join_on_spawn(cmd, &self.game_procs);
    }

    /// The processes in the session now.
    pub fn pids(&self) -> Vec<u32> {
        procs_of(&self.tracking_dir())
    }

    /// Sends `signal` to every process in the session now.
    pub fn signal_all(&self, signal: Signal) {
        for pid in self.pids() {
            if let Ok(pid) = i32::try_from(pid) {
                let _ = kill(Pid::from_raw(pid), signal);
            }
        }
    }

    /// The folder of the hierarchy that kills the session, where its processes are listed.
    fn tracking_dir(&self) -> PathBuf {
        let role = tracking_role(self.containment.kill);
        self.dirs.iter().find(|(r, _)| Some(*r) == role).map(|(_, d)| d.clone()).unwrap_or_default()
    }

    /// Kills every process in the session, waits until none is left, and
    /// removes its cgroups (blocking; at most a few seconds).
    pub fn end(mut self) {
        self.finish();
    }

    fn finish(&mut self) {
        self.procs.clear();
        self.game_procs.clear();
        let dirs = std::mem::take(&mut self.dirs);
        if dirs.is_empty() {
            return;
        }
        if let Err(e) = kill_and_remove(self.containment.kill, &dirs) {
            tracing::error!(error = %e, "a session's cgroup could not be ended");
        }
        self.containment.remove_parents();
    }
}

impl Drop for SessionCgroup {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Makes the process `cmd` starts write itself into each of `procs` (a
/// cgroup's `cgroup.procs`) before it runs.
fn join_on_spawn(cmd: &mut tokio::process::Command, procs: &[OwnedFd]) {
    let fds: Vec<i32> = procs.iter().map(|f| f.as_raw_fd()).collect();
    // SAFETY: the closure runs between fork and exec and calls write(2)
    // alone, which is async-signal-safe; it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            for &fd in &fds {
                // "0" is the writing process itself.
                if nix::libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
}

/// Kills what `dirs` hold (through the first, the tracking hierarchy) and removes them.
fn kill_and_remove(via: KillVia, dirs: &[(Role, PathBuf)]) -> io::Result<()> {
    let deadline = Instant::now() + KILL_TIMEOUT;
    let tracking = dirs.iter().find(|(r, _)| Some(*r) == tracking_role(via));
    if let Some((_, dir)) = tracking {
        kill_tree(via, dir, deadline)?;
    }
    // Every hierarchy: a process may have been moved between them by a game with the rights to.
    for (_, dir) in dirs {
        kill_tree(KillVia::PidsSignals, dir, deadline)?;
        remove_tree(dir, deadline)?;
    }
    Ok(())
}

/// The hierarchy whose cgroups list and kill a session's processes.
fn tracking_role(via: KillVia) -> Option<Role> {
    match via {
        KillVia::CgroupKill => Some(Role::Unified),
        KillVia::Freezer => Some(Role::Freezer),
        KillVia::PidsSignals => Some(Role::Pids),
        KillVia::ProcessGroup => None,
    }
}

/// Kills every process in `dir` and the cgroups below it, until none is left.
fn kill_tree(via: KillVia, dir: &Path, deadline: Instant) -> io::Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    for sub in subdirs(dir) {
        kill_tree(via, &sub, deadline)?;
    }
    match via {
        KillVia::CgroupKill => write_file(&dir.join("cgroup.kill"), "1")?,
        KillVia::Freezer => {
            write_file(&dir.join("freezer.state"), "FROZEN")?;
            // Frozen, nothing forks; the kills land on thaw.
            while fs::read_to_string(dir.join("freezer.state")).is_ok_and(|s| s.trim() == "FREEZING")
                && Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            sigkill_all(dir);
            write_file(&dir.join("freezer.state"), "THAWED")?;
        }
        KillVia::PidsSignals | KillVia::ProcessGroup => sigkill_all(dir),
    }
    loop {
        if procs_of(dir).is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(io::Error::other(format!("processes still in `{}` after {KILL_TIMEOUT:?}", dir.display())));
        }
        if matches!(via, KillVia::PidsSignals | KillVia::ProcessGroup) {
            sigkill_all(dir);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn sigkill_all(dir: &Path) {
    for pid in procs_of(dir) {
        if let Ok(pid) = i32::try_from(pid) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}

/// Removes an emptied cgroup and those below it (a cgroup lingers briefly after its last process).
fn remove_tree(dir: &Path, deadline: Instant) -> io::Result<()> {
    for sub in subdirs(dir) {
        remove_tree(&sub, deadline)?;
    }
    loop {
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if Instant::now() >= deadline => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

fn subdirs(dir: &Path) -> Vec<PathBuf> {
    fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect()
}

fn procs_of(dir: &Path) -> Vec<u32> {
    fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// How many processes the cgroups hold (counted in the first that lists any).
fn count_procs(dirs: &[(Role, PathBuf)]) -> usize {
    dirs.iter().map(|(_, d)| procs_of(d).len()).max().unwrap_or(0)
}

fn write_file(path: &Path, value: &str) -> io::Result<()> {
    let mut f = fs::OpenOptions::new().write(true).open(path)?;
    f.write_all(value.as_bytes())
}

/// Makes `dir` (and the parents it needs); an existing one is a leftover of a
/// session with the same name and is emptied first.
fn create_fresh(dir: &Path) -> io::Result<()> {
    if dir.exists() {
        kill_and_remove(KillVia::PidsSignals, &[(Role::Pids, dir.to_path_buf())])?;
    }
    // A session ending at the same time may remove an emptied parent in between.
    let mut tries = 0;
    loop {
        match fs::create_dir_all(dir) {
            Err(e) if e.kind() == io::ErrorKind::NotFound && tries < 5 => tries += 1,
            r => return r,
        }
    }
}

/// Whether the service may make cgroups of `role` under `node_dir`: tried by
/// making the node's folder (removed again) and looking for the files it needs.
fn usable(node_dir: &Path, role: Role) -> bool {
    let made = !node_dir.exists();
    if fs::create_dir_all(node_dir).is_err() {
        return false;
    }
    let needs: &[&str] = match role {
        Role::Unified => &["cgroup.kill", "cgroup.procs"],
        Role::Freezer => &["freezer.state"],
        Role::Pids => &["pids.max"],
        Role::Memory => &["memory.limit_in_bytes"],
        Role::Cpu => &["cpu.cfs_quota_us", "cpu.cfs_period_us"],
        Role::Cpuacct => &["cpuacct.usage"],
    };
    let ok = needs.iter().all(|f| node_dir.join(f).exists())
        && fs::OpenOptions::new().write(true).open(node_dir.join("cgroup.procs")).is_ok();
    if made {
        let _ = fs::remove_dir(node_dir);
        if let Some(parent) = node_dir.parent() {
            let _ = fs::remove_dir(parent);
        }
    }
    ok
}

/// The cgroup mounts in a mountinfo: (controllers, or `None` for v2; mount
/// point; the hierarchy's path at the mount point).
fn cgroup_mounts(mountinfo: &str) -> Vec<(Option<Vec<String>>, PathBuf, PathBuf)> {
    let mut out = Vec::new();
    for line in mountinfo.lines() {
        let Some((head, tail)) = line.split_once(" - ") else { continue };
        let head: Vec<&str> = head.split_whitespace().collect();
        let tail: Vec<&str> = tail.split_whitespace().collect();
        let (Some(root), Some(mount), Some(fstype)) = (head.get(3), head.get(4), tail.first()) else { continue };
        let kind = match *fstype {
            "cgroup2" => None,
            "cgroup" => Some(tail.get(2).unwrap_or(&"").split(',').map(str::to_string).collect()),
            _ => continue,
        };
        out.push((kind, PathBuf::from(unescape(mount)), PathBuf::from(unescape(root))));
    }
    out
}

/// mountinfo escapes spaces and the like as `\ooo`.
fn unescape(s: &str) -> String {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)) {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The service's own cgroup in a hierarchy (`controllers` `None`: v2), from `/proc/self/cgroup`.
fn own_path(own: &str, controllers: Option<&[String]>) -> Option<String> {
    own.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (_, list, path) = (parts.next()?, parts.next()?, parts.next()?);
        let matches = match controllers {
            None => list.is_empty(),
            Some(opts) => {
                let mut want: Vec<&str> = opts.iter().map(String::as_str).filter(|c| is_controller(c)).collect();
                let mut listed: Vec<&str> = list.split(',').filter(|c| is_controller(c)).collect();
                want.sort_unstable();
                listed.sort_unstable();
                !want.is_empty() && want == listed
            }
        };
        matches.then(|| path.to_string())
    })
}

/// Mount options of a v1 hierarchy that name controllers (the rest are flags).
fn is_controller(opt: &str) -> bool {
    !matches!(opt, "rw" | "ro" | "noprefix" | "clone_children" | "xattr" | "cpuset_v2_mode") && !opt.contains('=')
}

/// A session id as a cgroup name: itself when it is a plain name, else `s-`
/// and 24 hex digits of its SHA-1.
fn cgroup_name(session_id: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if !session_id.is_empty() && session_id.len() <= 96 && session_id.chars().all(plain) {
        return session_id.to_string();
    }
    use sha1::Digest;
    let digest = sha1::Sha1::digest(session_id.as_bytes());
    let hex: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
    format!("s-{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn mounts_and_own_cgroups_are_read() {
        let m = cgroup_mounts(MOUNTINFO);
        assert_eq!(m.len(), 5);
        assert_eq!(m[4], (None, PathBuf::from("/sys/fs/cgroup/unified"), PathBuf::from("/")));
        assert_eq!(m[2].0.as_deref(), Some(&["rw".to_string(), "cpu".into(), "cpuacct".into()][..]));
        let own = "9:name=systemd:/\n4:memory:/jobs/a\n2:cpu,cpuacct:/x\n1:cpu:/\n0::/svc\n";
        assert_eq!(own_path(own, None).as_deref(), Some("/svc"));
        assert_eq!(own_path(own, m[1].0.as_deref()).as_deref(), Some("/jobs/a"));
        assert_eq!(own_path(own, m[0].0.as_deref()).as_deref(), Some("/"));
        assert_eq!(own_path(own, m[2].0.as_deref()).as_deref(), Some("/x"));
    }

    #[test]
    fn session_ids_become_cgroup_names() {
        assert_eq!(cgroup_name("0b5c-11ef"), "0b5c-11ef");
        for odd in ["..", "a/b", "", "x y", &"z".repeat(200)] {
            let name = cgroup_name(odd);
            assert!(name.starts_with("s-") && name.len() == 26, "{odd:?} -> {name}");
        }
        assert_ne!(cgroup_name("a/b"), cgroup_name("a/c"));
        assert_eq!(unescape(r"/a\040b"), "/a b");
    }

    #[test]
    fn no_cgroup_mount_falls_back_to_process_groups_and_says_why() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("mountinfo"), "1 0 0:1 / / rw - ext4 /dev/sda rw\n").unwrap();
        std::fs::write(dir.path().join("cgroup"), "0::/\n").unwrap();
        let c = Containment::detect_in(&dir.path().join("mountinfo"), &dir.path().join("cgroup"), "node-a");
        let v = c.view();
        assert_eq!((v.mechanism, v.kill), ("process-group", KillVia::ProcessGroup));
        assert!(v.enforced.is_empty());
        assert!(v.fallback_reason.unwrap().contains("no cgroup hierarchy"));
        let bad = Containment::detect_in(&dir.path().join("mountinfo"), &dir.path().join("cgroup"), "../x");
        assert!(bad.view().fallback_reason.unwrap().contains("cannot name a cgroup"));
    }

    /// A containment of this machine's real cgroups that uses the v1
    /// `controller` hierarchy alone (so its own way of killing). Needs root.
    fn real_v1_only(controller: &str, dir: &Path) -> Arc<Containment> {
        let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
        let line = mounts
            .lines()
            .find(|l| {
                l.split_once(" - ").is_some_and(|(_, t)| {
                    let t: Vec<&str> = t.split_whitespace().collect();
                    t[0] == "cgroup" && t.get(2).is_some_and(|o| o.split(',').any(|o| o == controller))
                })
            })
            .unwrap_or_else(|| panic!("no v1 {controller} hierarchy is mounted"));
        let own = fs::read_to_string("/proc/self/cgroup").unwrap();
        let own = own.lines().find(|l| l.split(':').nth(1).is_some_and(|c| c.split(',').any(|c| c == controller)));
        fs::write(dir.join("mountinfo"), format!("{line}\n")).unwrap();
        fs::write(dir.join("cgroup"), format!("{}\n", own.unwrap())).unwrap();
        let node = format!("unit-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        Arc::new(Containment::detect_in(&dir.join("mountinfo"), &dir.join("cgroup"), &node))
    }

    fn marked(mark: &str) -> Vec<u32> {
        fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
                !stat.rsplit_once(") ").is_some_and(|(_, r)| r.starts_with('Z'))
                    && fs::read(format!("/proc/{pid}/cmdline"))
                        .is_ok_and(|a| a.windows(mark.len()).any(|w| w == mark.as_bytes()))
            })
            .collect()
    }

    /// The freezer and the pids ways of killing, on real cgroups: a detached
    /// process, a process forking all the time, and (within `pids.max`) a fork
    /// bomb all end, and the cgroups go. (cgroup v2's `cgroup.kill` is what
    /// tests/containment.rs runs the service with.)
    #[tokio::test]
    async fn freezer_and_pids_kill_a_detached_forking_session() {
        for (controller, via) in [("freezer", KillVia::Freezer), ("pids", KillVia::PidsSignals)] {
            let dir = tempfile::tempdir().unwrap();
            let c = real_v1_only(controller, dir.path());
            assert_eq!(c.kill, via, "{controller}: {:?} (this test needs root and cgroups)", c.view());
            let limits = Limits { cpu_cores: 1, memory_mb: 256, max_processes: 48 };
            let cg = c.session("unit-session", limits).unwrap().expect("a session cgroup");
            let mark = format!("pcunit{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
            // The bomb only where pids.max bounds it.
            let bomb =
                if via == KillVia::PidsSignals { "setsid -f bash -c 'b() { b | b & }; b' \"$0-bomb\";" } else { "" };
            let script = format!(
                "setsid -f bash -c 'exec -a \"$0\" sleep 1000' \"$0-detached\"; \
                 setsid -f bash -c 'while :; do /bin/true; done' \"$0-forker\"; {bomb} exec -a \"$0-game\" sleep 1000"
            );
            let mut cmd = tokio::process::Command::new("bash");
            cmd.arg("-c")
                .arg(&script)
                .arg(&mark)
                .stdin(std::process::Stdio::null())
                .stderr(std::process::Stdio::null());
            cg.enter_on_spawn(&mut cmd);
            let mut child = cmd.spawn().unwrap();
            let deadline = Instant::now() + Duration::from_secs(10);
            while marked(&format!("{mark}-detached")).is_empty() || marked(&format!("{mark}-game")).is_empty() {
                assert!(Instant::now() < deadline, "{controller}: the session did not start");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let dirs: Vec<PathBuf> = cg.dirs.iter().map(|(_, d)| d.clone()).collect();
            assert!(cg.pids().len() >= 3, "{controller}: {:?}", cg.pids());
            tokio::task::spawn_blocking(move || cg.end()).await.unwrap();
            let _ = child.wait().await;
            assert_eq!(marked(&mark), Vec::<u32>::new(), "{controller}: processes outlived the session");
            for d in dirs {
                assert!(!d.exists(), "{controller}: {} stayed", d.display());
                assert!(
                    !d.parent().unwrap().exists(),
                    "{controller}: the node's {} stayed",
                    d.parent().unwrap().display()
                );
            }
        }
    }
}
