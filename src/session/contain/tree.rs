//! Killing what a cgroup and the cgroups below it hold, and removing them,
//! by whichever way the node has ([`KillVia`]). Blocking: at most
//! [`KILL_TIMEOUT`] per call.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::hierarchy::{KillVia, Role};

/// How long killing a cgroup may take before it is reported as stuck.
const KILL_TIMEOUT: Duration = Duration::from_secs(5);

/// Kills what `dirs` hold (through the first, the tracking hierarchy) and removes them.
pub(super) fn kill_and_remove(via: KillVia, dirs: &[(Role, PathBuf)]) -> io::Result<()> {
    let deadline = Instant::now() + KILL_TIMEOUT;
    let tracking = dirs.iter().find(|(r, _)| Some(*r) == via.tracking_role());
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

/// Removes each node folder, and the service's folder above it, when no
/// session is left in them.
pub(super) fn remove_parents<'a>(node_dirs: impl IntoIterator<Item = &'a Path>) {
    for node_dir in node_dirs {
        if fs::remove_dir(node_dir).is_ok() {
            if let Some(parent) = node_dir.parent() {
                let _ = fs::remove_dir(parent);
            }
        }
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

/// Sends `signal` to every process listed in `dir` now.
pub(super) fn signal_all(dir: &Path, signal: Signal) {
    for pid in procs_of(dir) {
        if let Ok(pid) = i32::try_from(pid) {
            let _ = kill(Pid::from_raw(pid), signal);
        }
    }
}

fn sigkill_all(dir: &Path) {
    signal_all(dir, Signal::SIGKILL);
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

/// The processes a cgroup lists now.
pub(super) fn procs_of(dir: &Path) -> Vec<u32> {
    fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// How many processes the cgroups hold (counted in the first that lists any).
pub(super) fn count_procs(dirs: &[(Role, PathBuf)]) -> usize {
    dirs.iter().map(|(_, d)| procs_of(d).len()).max().unwrap_or(0)
}

pub(super) fn write_file(path: &Path, value: &str) -> io::Result<()> {
    let mut f = fs::OpenOptions::new().write(true).open(path)?;
    f.write_all(value.as_bytes())
}

/// Makes `dir` (and the parents it needs); an existing one is a leftover of a
/// session with the same name and is emptied first.
pub(super) fn create_fresh(dir: &Path) -> io::Result<()> {
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
