//! What a service that crashed left behind: its sessions' processes (found by
//! their `PLAYCAST_SESSION` variable) and socket dirs.

use std::fs;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::dirs::remove_socket_dirs;
use super::process::SESSION_VAR;

/// Kills every process whose environment has `PLAYCAST_SESSION` set to one of
/// `session_ids`, as left by a service that crashed, and removes their socket
/// dirs; returns how many processes it killed.
pub fn reap_leftovers(session_ids: &[String]) -> usize {
    let wanted: Vec<Vec<u8>> =
        session_ids.iter().filter(|id| !id.is_empty()).map(|id| format!("{SESSION_VAR}={id}").into_bytes()).collect();
    if wanted.is_empty() {
        return 0;
    }
    let Ok(entries) = fs::read_dir("/proc") else { return 0 };
    let me = std::process::id();
    let killed = entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != me)
        .filter(|pid| {
            fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.split(|&b| b == 0).any(|var| wanted.iter().any(|w| w == var)))
        })
        .filter(|&pid| i32::try_from(pid).is_ok_and(|pid| kill(Pid::from_raw(pid), Signal::SIGKILL).is_ok()))
        .count();
    if killed > 0 {
        tracing::info!(killed, "killed processes left by earlier sessions");
    }
    remove_socket_dirs(session_ids);
    killed
}
