//! Where the cgroup hierarchies are mounted and where the service's own
//! cgroup is in each: read from `/proc/self/mountinfo` and `/proc/self/cgroup`.

use std::path::PathBuf;

/// One cgroup mount in a mountinfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct CgroupMount {
    /// The v1 mount options (controllers among them); `None` for v2.
    pub(super) controllers: Option<Vec<String>>,
    pub(super) mount: PathBuf,
    /// The hierarchy's path at the mount point.
    pub(super) root: PathBuf,
}

/// The cgroup mounts in a mountinfo.
pub(super) fn cgroup_mounts(mountinfo: &str) -> Vec<CgroupMount> {
    let mut out = Vec::new();
    for line in mountinfo.lines() {
        let Some((head, tail)) = line.split_once(" - ") else { continue };
        let head: Vec<&str> = head.split_whitespace().collect();
        let tail: Vec<&str> = tail.split_whitespace().collect();
        let (Some(root), Some(mount), Some(fstype)) = (head.get(3), head.get(4), tail.first()) else { continue };
        let controllers = match *fstype {
            "cgroup2" => None,
            "cgroup" => Some(tail.get(2).unwrap_or(&"").split(',').map(str::to_string).collect()),
            _ => continue,
        };
        out.push(CgroupMount {
            controllers,
            mount: PathBuf::from(unescape(mount)),
            root: PathBuf::from(unescape(root)),
        });
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
pub(super) fn own_path(own: &str, controllers: Option<&[String]>) -> Option<String> {
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
        let unified =
            CgroupMount { controllers: None, mount: PathBuf::from("/sys/fs/cgroup/unified"), root: PathBuf::from("/") };
        assert_eq!(m[4], unified);
        assert_eq!(m[2].controllers.as_deref(), Some(&["rw".to_string(), "cpu".into(), "cpuacct".into()][..]));
        let own = "9:name=systemd:/\n4:memory:/jobs/a\n2:cpu,cpuacct:/x\n1:cpu:/\n0::/svc\n";
        assert_eq!(own_path(own, None).as_deref(), Some("/svc"));
        assert_eq!(own_path(own, m[1].controllers.as_deref()).as_deref(), Some("/jobs/a"));
        assert_eq!(own_path(own, m[0].controllers.as_deref()).as_deref(), Some("/"));
        assert_eq!(own_path(own, m[2].controllers.as_deref()).as_deref(), Some("/x"));
    }

    #[test]
    fn mount_points_are_unescaped() {
        assert_eq!(unescape(r"/a\040b"), "/a b");
    }
}
