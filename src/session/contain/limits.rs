//! A session's reservations, written into its v1 controllers' cgroups.

use std::fs;
use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;

use super::hierarchy::Role;
use super::tree::write_file;

/// CFS period the CPU quota is a multiple of: short, so a game at its quota
/// waits at most this long for more and keeps an even frame pace (the usual
/// 100 ms would stall a frame for up to tens of milliseconds).
const CPU_PERIOD_US: u64 = 10_000;
/// The game's own cgroup inside the session's `cpu` cgroup: the quota holds the
/// game, while the display and the sound server the stream captures are free
/// to answer it at once.
const GAME_CPU: &str = "game";

/// What a session may use, enforced where the controllers exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub cpu_cores: u32,
    pub memory_mb: u64,
    /// Processes and threads together (`pids.max`).
    pub max_processes: u32,
}

/// Writes what `role` enforces of `limits` into the session's cgroup `dir`.
/// For the CPU, the quota goes on a cgroup of the game's own below it, whose
/// `cgroup.procs` is returned (opened now, for the game to join on spawn).
pub(super) fn reserve(role: Role, dir: &Path, limits: Limits) -> io::Result<Option<OwnedFd>> {
    match role {
        Role::Memory => {
            let bytes = limits.memory_mb.saturating_mul(1 << 20).to_string();
            write_file(&dir.join("memory.limit_in_bytes"), &bytes)?;
            // With swap, memory + swap is held to the same figure (absent without swap accounting).
            let memsw = dir.join("memory.memsw.limit_in_bytes");
            if memsw.exists() {
                write_file(&memsw, &bytes)?;
            }
        }
        Role::Cpu => {
            let game = dir.join(GAME_CPU);
            fs::create_dir(&game)?;
            write_file(&game.join("cpu.cfs_period_us"), &CPU_PERIOD_US.to_string())?;
            let quota = u64::from(limits.cpu_cores.max(1)) * CPU_PERIOD_US;
            write_file(&game.join("cpu.cfs_quota_us"), &quota.to_string())?;
            let procs = fs::OpenOptions::new().write(true).open(game.join("cgroup.procs"))?;
            return Ok(Some(OwnedFd::from(procs)));
        }
        Role::Pids => write_file(&dir.join("pids.max"), &limits.max_processes.max(1).to_string())?,
        Role::Unified | Role::Freezer | Role::Cpuacct => {}
    }
    Ok(None)
}
