//! The parts a cgroup hierarchy can play in containment, and whether the
//! service may use one here.

use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;

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

impl KillVia {
    /// The hierarchy whose cgroups list and kill a session's processes.
    pub(super) fn tracking_role(self) -> Option<Role> {
        match self {
            KillVia::CgroupKill => Some(Role::Unified),
            KillVia::Freezer => Some(Role::Freezer),
            KillVia::PidsSignals => Some(Role::Pids),
            KillVia::ProcessGroup => None,
        }
    }
}

/// One hierarchy's part in containment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    /// The v2 hierarchy: tracking and `cgroup.kill`.
    Unified,
    Freezer,
    Pids,
    Memory,
    Cpu,
    Cpuacct,
}

impl Role {
    /// The part a v1 controller plays; `None` for those containment does not use.
    pub(super) fn of_controller(controller: &str) -> Option<Role> {
        Some(match controller {
            "freezer" => Role::Freezer,
            "pids" => Role::Pids,
            "memory" => Role::Memory,
            "cpu" => Role::Cpu,
            "cpuacct" => Role::Cpuacct,
            _ => return None,
        })
    }

    /// The files a cgroup of this role must have for the role to work.
    fn needs(self) -> &'static [&'static str] {
        match self {
            Role::Unified => &["cgroup.kill", "cgroup.procs"],
            Role::Freezer => &["freezer.state"],
            Role::Pids => &["pids.max"],
            Role::Memory => &["memory.limit_in_bytes"],
            Role::Cpu => &["cpu.cfs_quota_us", "cpu.cfs_period_us"],
            Role::Cpuacct => &["cpuacct.usage"],
        }
    }
}

/// A hierarchy the service uses, and where its node's sessions go in it.
#[derive(Debug, Clone)]
pub(super) struct Hierarchy {
    pub(super) role: Role,
    /// `<mount>/<own cgroup>/playcast/<node>`: sessions are its children.
    pub(super) node_dir: PathBuf,
}

/// Whether the service may make cgroups of `role` under `node_dir`: tried by
/// making the node's folder (removed again) and looking for the files it needs.
pub(super) fn usable(node_dir: &Path, role: Role) -> bool {
    let made = !node_dir.exists();
    if fs::create_dir_all(node_dir).is_err() {
        return false;
    }
    let ok = role.needs().iter().all(|f| node_dir.join(f).exists())
        && fs::OpenOptions::new().write(true).open(node_dir.join("cgroup.procs")).is_ok();
    if made {
        let _ = fs::remove_dir(node_dir);
        if let Some(parent) = node_dir.parent() {
            let _ = fs::remove_dir(parent);
        }
    }
    ok
}
