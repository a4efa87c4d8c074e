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
//!
//! Layout: `mounts` finds the hierarchies, `hierarchy` says what each can
//! do here, `limits` writes a session's reservations, `tree` kills and
//! removes cgroups, [`SessionCgroup`] (in `cgroup`) is one session's set.

mod cgroup;
mod hierarchy;
mod limits;
mod mounts;
mod tree;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

pub use cgroup::{ContainError, SessionCgroup};
pub use hierarchy::KillVia;
use hierarchy::{usable, Hierarchy, Role};
pub use limits::Limits;
use mounts::{cgroup_mounts, own_path};
use tree::{count_procs, kill_and_remove};

/// The folder under the service's own cgroup that holds its nodes' sessions.
const PARENT: &str = "playcast";

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
        for m in cgroup_mounts(&mounts) {
            let roles: Vec<Role> = match &m.controllers {
                None => vec![Role::Unified],
                Some(controllers) => controllers.iter().filter_map(|c| Role::of_controller(c)).collect(),
            };
            let Some(path) = own_path(&own, m.controllers.as_deref()) else { continue };
            // Paths in /proc/self/cgroup are from the hierarchy's root; a mount may show a subtree.
            let Ok(rel) = Path::new(&path).strip_prefix(&m.root) else { continue };
            let node_dir = m.mount.join(rel).join(PARENT).join(node);
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
    #[tracing::instrument(name = "cgroup_create", skip_all, fields(session_id = %session_id))]
    pub fn session(&self, session_id: &str, limits: Limits) -> Result<Option<SessionCgroup>, ContainError> {
        if self.kill == KillVia::ProcessGroup {
            return Ok(None);
        }
        let name = cgroup_name(session_id);
        SessionCgroup::create(&self.hierarchies, self.kill, session_id, &name, limits).map(Some)
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
        tree::remove_parents(self.hierarchies.iter().map(|h| h.node_dir.as_path()));
        killed
    }
}

/// A session id as a cgroup name: itself when it is a plain name, else `s-`
/// and 24 hex digits of its SHA-1.
fn cgroup_name(session_id: &str) -> String {
    match crate::files::plain_name(session_id) {
        Some(plain) => plain.to_string(),
        None => format!("s-{}", crate::files::sha1_hex(session_id, 12)),
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    #[test]
    fn session_ids_become_cgroup_names() {
        assert_eq!(cgroup_name("0b5c-11ef"), "0b5c-11ef");
        for odd in ["..", "a/b", "", "x y", &"z".repeat(200)] {
            let name = cgroup_name(odd);
            assert!(name.starts_with("s-") && name.len() == 26, "{odd:?} -> {name}");
        }
        assert_ne!(cgroup_name("a/b"), cgroup_name("a/c"));
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
