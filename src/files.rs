//! Reading the files an operator points the service at (pipeline files, the
//! games catalog, configuration, keys) with a bound: only regular files are
//! read, and the size is counted while reading, never trusted from the
//! file's metadata, so a FIFO, a device or a symlink to `/dev/zero` is an
//! error at once instead of a read that never ends.
//!
//! Also where the service's own files are ([`shipped_dirs`]) and how an
//! outside string (a session or user id) becomes a file or cgroup name
//! ([`plain_name`], [`sha1_hex`]).

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Configuration-sized files: far more than any real one needs.
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// The whole of a regular file of at most `max` bytes.
pub fn read_bounded(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer.
    let file = File::options().read(true).custom_flags(nix::libc::O_NONBLOCK).open(path)?;
    let kind = file.metadata()?.file_type();
    let what = if kind.is_fifo() {
        Some("a FIFO")
    } else if kind.is_char_device() {
        Some("a character device")
    } else if kind.is_block_device() {
        Some("a block device")
    } else if kind.is_socket() {
        Some("a socket")
    } else if kind.is_dir() {
        Some("a directory")
    } else {
        None
    };
    if let Some(what) = what {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("{what}, not a regular file")));
    }
    let mut bytes = Vec::new();
    file.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("larger than the {max} bytes accepted")));
    }
    Ok(bytes)
}

/// [`read_bounded`] as UTF-8 text.
pub fn read_text(path: &Path, max: u64) -> io::Result<String> {
    String::from_utf8(read_bounded(path, max)?).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("not UTF-8 text (invalid byte at offset {})", e.utf8_error().valid_up_to()),
        )
    })
}

/// Where programs and libraries shipped with the service are: the folder of
/// its executable, and the one above it (test binaries run from a subfolder
/// of the build folder).
pub fn shipped_dirs() -> Vec<PathBuf> {
    let Ok(exe) = std::env::current_exe() else { return Vec::new() };
    exe.ancestors().skip(1).take(2).map(Path::to_path_buf).collect()
}

/// `name` itself when it can name a file or cgroup as it is: 1 to 96 ASCII
/// letters, digits, `-` and `_` (so never `.`, `..`, a path or a hidden name).
pub fn plain_name(name: &str) -> Option<&str> {
    let plain = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    (!name.is_empty() && name.len() <= 96 && name.chars().all(plain)).then_some(name)
}

/// The first `bytes` bytes of the SHA-1 of `text`, in hex: a name part of a
/// fixed length for a string that is not a [`plain_name`].
pub fn sha1_hex(text: &str, bytes: usize) -> String {
    use sha1::Digest;
    let digest = sha1::Sha1::digest(text.as_bytes());
    digest.iter().take(bytes).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_pass_and_others_do_not() {
        assert_eq!(plain_name("0b5c-11ef_a"), Some("0b5c-11ef_a"));
        for odd in ["", ".", "..", "a/b", "x y", ".hidden", "é", &"z".repeat(97)] {
            assert_eq!(plain_name(odd), None, "{odd:?}");
        }
        assert_eq!(plain_name(&"z".repeat(96)).map(str::len), Some(96));
        assert_eq!(sha1_hex("abc", 4), "a9993e36");
        assert_eq!(sha1_hex("abc", 12).len(), 24);
    }

    #[test]
    fn only_regular_files_within_the_bound_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let small = dir.path().join("small");
        std::fs::write(&small, "hello").unwrap();
        assert_eq!(read_text(&small, 5).unwrap(), "hello");
        let e = read_bounded(&small, 4).unwrap_err();
        assert!(e.to_string().contains("larger than the 4 bytes"), "{e}");

        let fifo = dir.path().join("fifo");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        assert!(read_bounded(&fifo, 1024).unwrap_err().to_string().contains("a FIFO"));

        let zero = dir.path().join("zero");
        std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
        assert!(read_bounded(&zero, 1024).unwrap_err().to_string().contains("a character device"));
        assert!(read_bounded(dir.path(), 1024).unwrap_err().to_string().contains("a directory"));

        // /proc files report a size of 0 whatever they hold: counted while read.
        let e = read_bounded(Path::new("/proc/self/maps"), 16).unwrap_err();
        assert!(e.to_string().contains("larger than"), "{e}");

        let bad = dir.path().join("bad");
        std::fs::write(&bad, b"ok\n\xff").unwrap();
        assert!(read_text(&bad, 64).unwrap_err().to_string().contains("offset 3"));
    }
}
