//! One process of a session: how it is started (its own process group, an
//! empty environment but for `PATH` and the session's variable, its output
//! in a log), and how its end and its log are told.

use std::ffi::OsString;
use std::fs::{self, File};
use std::io;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Stdio;

use nix::unistd::Pid;
use tokio::process::{Child, Command};

use super::error::LaunchError;
use crate::files::shipped_dirs;
use crate::session::contain::SessionCgroup;

/// Marks every process of a session: reaping after a crash looks for it.
pub(super) const SESSION_VAR: &str = "PLAYCAST_SESSION";

/// One started process; its pid is also its process group id.
pub(super) struct Proc {
    pub(super) name: &'static str,
    pub(super) pgid: Pid,
    pub(super) child: Child,
}

/// A command in its own process group with a clean environment and its
/// output in `log`.
pub(super) fn command(
    session_id: &str,
    cgroup: Option<&SessionCgroup>,
    program: &str,
    log: &Path,
) -> Result<Command, LaunchError> {
    let err = |source| LaunchError::Dir { what: "log", path: log.into(), source };
    // One open file for both streams: two would each keep an offset and overwrite each other.
    let out = File::create(log).map_err(err)?;
    let errors = out.try_clone().map_err(err)?;
    let path = std::env::var_os("PATH").unwrap_or_else(|| OsString::from("/usr/local/bin:/usr/bin:/bin"));
    // Programs shipped with the service (the latency probe) come first.
    let dirs = shipped_dirs().into_iter().chain(std::env::split_paths(&path));
    let path = std::env::join_paths(dirs).unwrap_or(path);
    let mut cmd = Command::new(program);
    cmd.env_clear()
        .env("PATH", path)
        .env(SESSION_VAR, session_id)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(errors)
        .process_group(0);
    if let Some(cgroup) = cgroup {
        cgroup.enter_on_spawn(&mut cmd);
    }
    Ok(cmd)
}

pub(super) fn spawn(mut cmd: Command, name: &'static str) -> Result<Proc, LaunchError> {
    let program = cmd.as_std().get_program().to_string_lossy().into_owned();
    let child = cmd.spawn().map_err(|source| LaunchError::Spawn { program: program.clone(), source })?;
    // Never 0 here: killpg(0) would hit the service's own group.
    match child.id().and_then(|id| i32::try_from(id).ok()).filter(|&id| id > 0) {
        Some(id) => Ok(Proc { name, pgid: Pid::from_raw(id), child }),
        None => Err(LaunchError::Spawn { program, source: io::Error::other("no process id") }),
    }
}

pub(super) fn describe(status: std::process::ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => format!("ended ({status})"),
    }
}

/// The last lines of a log, for an error message.
pub(super) fn log_tail(path: &Path) -> String {
    let text = fs::read(path).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = lines[lines.len().saturating_sub(5)..].join(" | ");
    if tail.is_empty() {
        "no output".into()
    } else {
        tail
    }
}
