//! Reading the files an operator points the service at (pipeline files, the
//! games catalog, configuration, keys) with a bound: only regular files are
//! read, and the size is counted while reading, never trusted from the
//! file's metadata, so a FIFO, a device or a symlink to `/dev/zero` is an
//! error at once instead of a read that never ends.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

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

#[cfg(test)]
mod tests {
    use super::*;

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
