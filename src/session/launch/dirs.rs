//! A session's dirs: the save dir's folders, the runtime dir, and the short
//! socket dir (see the module docs of `launch` for why it is apart), made
//! private to the service's user and removed on stop or after a crash.

use std::fs::{self, DirBuilder};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

use super::error::LaunchError;

const MAX_SOCKET_PATH: usize = 107;
/// The longest socket path inside a socket dir, and how the dir names start.
const LONGEST_SOCKET: &str = "pulse/native";
const SOCKET_DIR_PREFIX: &str = "playcast-";
/// Where socket dirs go when the service's `XDG_RUNTIME_DIR` is unset or too long.
const SOCKET_BASE_FALLBACK: &str = "/tmp";

/// Removes the socket dirs of `session_ids` in every base a socket dir may be
/// in: the dirs this user owns whose names carry one of their tags.
pub(super) fn remove_socket_dirs(session_ids: &[String]) {
    let tags: Vec<String> =
        session_ids.iter().filter(|id| !id.is_empty()).map(|id| format!("{}-", socket_dir_tag(id))).collect();
    // `/proc/self` belongs to the process's effective user.
    let Ok(me) = fs::metadata("/proc/self").map(|m| m.uid()) else { return };
    let mut bases = vec![PathBuf::from(SOCKET_BASE_FALLBACK)];
    bases.extend(service_runtime_dir());
    for base in bases {
        let Ok(entries) = fs::read_dir(&base) else { continue };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if !tags.iter().any(|tag| name.strip_prefix(tag).is_some_and(|rest| !rest.is_empty())) {
                continue;
            }
            // Never through a link, and only what this user made.
            let path = entry.path();
            if fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir() && m.uid() == me) {
                tracing::info!(path = %path.display(), "removing the socket dir of an earlier session");
                remove_dir(&path);
            }
        }
    }
}

/// The start of a session's socket dir name: `playcast-` and 12 hex digits of
/// the SHA-1 of its id (a fixed length, whatever the id).
fn socket_dir_tag(session_id: &str) -> String {
    format!("{SOCKET_DIR_PREFIX}{}", crate::files::sha1_hex(session_id, 6))
}

/// The service's own `XDG_RUNTIME_DIR`, when it is an absolute path.
fn service_runtime_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from).filter(|p| p.is_absolute())
}

/// Creates a new socket dir for the session (mode 0700): in the service's
/// `XDG_RUNTIME_DIR` when its sockets fit there, else in `/tmp`.
pub(super) fn make_socket_dir(session_id: &str) -> Result<PathBuf, LaunchError> {
    let tag = socket_dir_tag(session_id);
    let fits = |dir: &Path| dir.join(LONGEST_SOCKET).as_os_str().len() <= MAX_SOCKET_PATH;
    // The random part: 8 hex digits, as long as the longest name the base must fit.
    let name = |random: &str| format!("{tag}-{random}");
    let base = service_runtime_dir()
        .filter(|base| base.is_dir() && fits(&base.join(name("00000000"))))
        .unwrap_or_else(|| PathBuf::from(SOCKET_BASE_FALLBACK));
    let mut last = None;
    for _ in 0..8 {
        let random = uuid::Uuid::new_v4().simple().to_string();
        let dir = base.join(name(&random[..8]));
        if !fits(&dir) {
            return Err(LaunchError::Invalid(format!(
                "no room for the session's sockets: `{}` is longer than a unix socket path may be",
                dir.join(LONGEST_SOCKET).display()
            )));
        }
        // Not recursive: the dir must be new, never one that someone made before.
        match DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some((dir, e)),
            Err(source) => return Err(LaunchError::Dir { what: "socket dir", path: dir, source }),
        }
    }
    let (path, source) = last.unwrap_or_else(|| (base.clone(), io::Error::other("no attempt")));
    Err(LaunchError::Dir { what: "socket dir", path, source })
}

pub(super) fn make_dir(path: &Path, what: &'static str) -> Result<(), LaunchError> {
    DirBuilder::new().recursive(true).mode(0o700).create(path).map_err(|source| LaunchError::Dir {
        what,
        path: path.into(),
        source,
    })
}

pub(super) fn remove_dir(path: &Path) {
    if let Err(e) = fs::remove_dir_all(path) {
        if e.kind() != io::ErrorKind::NotFound {
            tracing::warn!(path = %path.display(), error = %e, "cannot remove a session dir");
        }
    }
}
