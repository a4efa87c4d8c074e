//! Private network namespaces for media tests and benchmarks.
//!
//! WebRTC needs a non-loopback address on both ends: Chromium offers no
//! 127.0.0.0/8 candidate and libnice skips loopback. A namespace with a veth
//! pair carrying an address from the benchmarking range 198.18.0.0/15 and a
//! default route gives the service and the browser inside it a real host
//! candidate; the outer end lets the test reach the service. Nothing leaves
//! the machine. Needs root (`ip netns`).

use std::net::Ipv4Addr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    #[error("`{command}` failed: {stderr}")]
    Command { command: String, stderr: String },
    #[error("running `ip`: {0} (is iproute2 installed?)")]
    Spawn(std::io::Error),
}

/// A namespace with one veth pair; removed (with the pair) on drop.
pub struct Netns {
    pub name: String,
    /// Address of the end inside the namespace.
    pub inner: Ipv4Addr,
    /// Address of the end in the creating namespace.
    pub outer: Ipv4Addr,
    pub outer_if: String,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl Netns {
    pub fn create() -> Result<Self, NetnsError> {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let pid = std::process::id();
        let slot = (pid.wrapping_mul(16).wrapping_add(n)) % 32768;
        let base = u32::from(Ipv4Addr::new(198, 18, 0, 0)) + slot * 4;
        let (outer, inner) = (Ipv4Addr::from(base + 1), Ipv4Addr::from(base + 2));
        let name = format!("playcast-{pid}-{n}");
        let tag = format!("{:x}", pid % 0xfffff * 16 + n % 16);
        let (outer_if, inner_if) = (format!("pco{tag}"), format!("pci{tag}"));
        let ns = Netns { name: name.clone(), inner, outer, outer_if: outer_if.clone() };
        ip(&["netns", "add", &name])?;
        let setup = || -> Result<(), NetnsError> {
            ip(&["-n", &name, "link", "set", "lo", "up"])?;
            ip(&["link", "add", &outer_if, "type", "veth", "peer", "name", &inner_if])?;
            ip(&["link", "set", &inner_if, "netns", &name])?;
            ip(&["addr", "add", &format!("{outer}/30"), "dev", &outer_if])?;
            ip(&["link", "set", &outer_if, "up"])?;
            ip(&["-n", &name, "addr", "add", &format!("{inner}/30"), "dev", &inner_if])?;
            ip(&["-n", &name, "link", "set", &inner_if, "up"])?;
            ip(&["-n", &name, "route", "add", "default", "via", &outer.to_string()])?;
            Ok(())
        };
        setup()?;
        Ok(ns)
    }

    /// A second veth pair straight from this namespace to `other`, so that
    /// traffic between the two crosses a real link the caller can shape
    /// (`tc qdisc … dev <end>`), not the host. Removed on drop.
    pub fn link(&self, other: &Netns) -> Result<Link, NetnsError> {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let pid = std::process::id();
        let slot = (pid.wrapping_mul(16).wrapping_add(n)) % 16384;
        let base = u32::from(Ipv4Addr::new(198, 19, 0, 0)) + slot * 4;
        let (here, there) = (Ipv4Addr::from(base + 1), Ipv4Addr::from(base + 2));
        let tag = format!("{:x}", pid % 0xfffff * 16 + n % 16);
        let (here_if, there_if) = (format!("pla{tag}"), format!("plb{tag}"));
        ip(&[
            "link",
            "add",
            &here_if,
            "netns",
            &self.name,
            "type",
            "veth",
            "peer",
            "name",
            &there_if,
            "netns",
            &other.name,
        ])?;
        let link = Link { ns: self.name.clone(), here_if, there_if, here, there };
        ip(&["-n", &self.name, "addr", "add", &format!("{here}/30"), "dev", &link.here_if])?;
        ip(&["-n", &other.name, "addr", "add", &format!("{there}/30"), "dev", &link.there_if])?;
        ip(&["-n", &self.name, "link", "set", &link.here_if, "up"])?;
        ip(&["-n", &other.name, "link", "set", &link.there_if, "up"])?;
        Ok(link)
    }

    /// A command that runs `program` inside the namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }
}

/// A veth pair between two namespaces (see [`Netns::link`]).
pub struct Link {
    ns: String,
    /// The end in the namespace that made the link, and its address.
    pub here_if: String,
    /// The end in the other namespace, and its address.
    pub there_if: String,
    pub here: Ipv4Addr,
    pub there: Ipv4Addr,
}

impl Drop for Link {
    fn drop(&mut self) {
        let _ = ip(&["-n", &self.ns, "link", "del", &self.here_if]);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = ip(&["link", "del", &self.outer_if]);
        let _ = ip(&["netns", "del", &self.name]);
    }
}

fn ip(args: &[&str]) -> Result<(), NetnsError> {
    let out = Command::new("ip").args(args).stdin(Stdio::null()).output().map_err(NetnsError::Spawn)?;
    if out.status.success() {
        Ok(())
    } else {
        Err(NetnsError::Command {
            command: format!("ip {}", args.join(" ")),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}
