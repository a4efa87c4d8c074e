//! One session's cgroups: made with its limits, joined by its processes
//! between fork and exec, and killed and removed when it ends.

use std::fs;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;

use nix::sys::signal::Signal;

use super::hierarchy::{Hierarchy, KillVia, Role};
use super::limits::{self, Limits};
use super::tree::{self, create_fresh, kill_and_remove, procs_of};

#[derive(Debug, thiserror::Error)]
pub enum ContainError {
    #[error("cannot set up the session's cgroup `{}`: {source}", path.display())]
    Setup { path: PathBuf, source: io::Error },
}

/// A session's cgroups; [`SessionCgroup::end`] kills what is in them and removes them.
#[derive(Debug)]
pub struct SessionCgroup {
    /// For the span of [`SessionCgroup::end`], which runs on a blocking thread.
    session_id: String,
    kill: KillVia,
    /// The node folders the session's cgroups are in, removed with the last session.
    node_dirs: Vec<PathBuf>,
    pub(super) dirs: Vec<(Role, PathBuf)>,
    /// Each cgroup's `cgroup.procs`, opened before any fork: a child joins by
    /// writing to them between fork and exec, where opening files is not safe.
    procs: Vec<OwnedFd>,
    /// Likewise for the game's own cgroups (its CPU quota).
    game_procs: Vec<OwnedFd>,
}

impl SessionCgroup {
    /// Makes the cgroup `name` in each of `hierarchies` with `limits` set.
    pub(super) fn create(
        hierarchies: &[Hierarchy],
        kill: KillVia,
        session_id: &str,
        name: &str,
        limits: Limits,
    ) -> Result<SessionCgroup, ContainError> {
        let mut cg = SessionCgroup {
            session_id: session_id.to_string(),
            kill,
            node_dirs: hierarchies.iter().map(|h| h.node_dir.clone()).collect(),
            dirs: Vec::new(),
            procs: Vec::new(),
            game_procs: Vec::new(),
        };
        for h in hierarchies {
            let dir = h.node_dir.join(name);
            let setup = |e: io::Error| ContainError::Setup { path: dir.clone(), source: e };
            create_fresh(&dir).map_err(setup)?;
            // Listed at once, so a failure below still removes what was made.
            cg.dirs.push((h.role, dir.clone()));
            if let Some(game) = limits::reserve(h.role, &dir, limits).map_err(setup)? {
                cg.game_procs.push(game);
            }
            let procs = fs::OpenOptions::new().write(true).open(dir.join("cgroup.procs")).map_err(setup)?;
            cg.procs.push(OwnedFd::from(procs));
        }
        tracing::debug!(cgroups = ?cg.dirs.iter().map(|(_, d)| d).collect::<Vec<_>>(), "session cgroups made");
        Ok(cg)
    }

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
        tree::signal_all(&self.tracking_dir(), signal);
    }

    /// The folder of the hierarchy that kills the session, where its processes are listed.
    fn tracking_dir(&self) -> PathBuf {
        let role = self.kill.tracking_role();
        self.dirs.iter().find(|(r, _)| Some(*r) == role).map(|(_, d)| d.clone()).unwrap_or_default()
    }

    /// Kills every process in the session, waits until none is left, and
    /// removes its cgroups (blocking; at most a few seconds).
    #[tracing::instrument(name = "cgroup_end", skip_all, fields(session_id = %self.session_id))]
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
        if let Err(e) = kill_and_remove(self.kill, &dirs) {
            tracing::error!(error = %e, "a session's cgroup could not be ended");
        }
        tree::remove_parents(self.node_dirs.iter().map(PathBuf::as_path));
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
