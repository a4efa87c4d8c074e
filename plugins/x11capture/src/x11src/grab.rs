//! The X side of the capture: a connection watching the root window for
//! damage, and whole-screen grabs into shared memory (MIT-SHM with a memfd,
//! falling back to plain GetImage where the server lacks it).

use std::num::NonZeroUsize;
use std::os::fd::{AsFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::mman::{mmap, munmap, MapFlags, ProtFlags};
use x11rb::connection::{Connection, RequestConnection};
use x11rb::protocol::damage::{self, ConnectionExt as _};
use x11rb::protocol::shm::{self, ConnectionExt as _};
use x11rb::protocol::xfixes::ConnectionExt as _;
use x11rb::protocol::xproto::{self, ConnectionExt as _, ImageFormat};
use x11rb::protocol::Event;
use x11rb::rust_connection::RustConnection;

#[derive(Debug)]
pub struct GrabError(pub String);

impl std::fmt::Display for GrabError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn err(what: &str) -> impl Fn(&dyn std::fmt::Display) -> GrabError + '_ {
    move |e| GrabError(format!("{what}: {e}"))
}

/// A shared memory segment the server writes grabs into.
struct Segment {
    id: shm::Seg,
    ptr: NonNull<std::ffi::c_void>,
    len: usize,
}

// SAFETY: the mapping is plain memory; the server writes it only during a
// grab, while no frame holds the segment, and frames only read it.
unsafe impl Send for Segment {}
// SAFETY: as for Send: shared references only read the mapping.
unsafe impl Sync for Segment {}

impl Segment {
    fn bytes(&self) -> &[u8] {
        // SAFETY: the mapping is `len` bytes long and lives as long as self.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().cast::<u8>(), self.len) }
    }
}

impl Drop for Segment {
    fn drop(&mut self) {
        // SAFETY: the mapping made in attach_shm, unmapped once. The server's
        // attachment goes with the connection (or an explicit detach).
        let _ = unsafe { munmap(self.ptr, self.len) };
    }
}

/// Segments free for the next grab; frames in flight return theirs here.
type Pool = Arc<Mutex<Vec<Segment>>>;

/// One grabbed frame: in shared memory the server wrote, handed downstream
/// without a copy and back to the pool when the last reader lets go; or, on
/// a server without MIT-SHM 1.2 (or with every segment in flight), a copy.
pub struct Frame(Held);

enum Held {
    Shared { segment: Option<Segment>, pool: std::sync::Weak<Mutex<Vec<Segment>>> },
    Owned(Vec<u8>),
}

impl AsRef<[u8]> for Frame {
    fn as_ref(&self) -> &[u8] {
        match &self.0 {
            Held::Shared { segment, .. } => segment.as_ref().map(Segment::bytes).unwrap_or_default(),
            Held::Owned(v) => v,
        }
    }
}

impl Drop for Frame {
    fn drop(&mut self) {
        if let Held::Shared { segment, pool } = &mut self.0 {
            if let (Some(seg), Some(pool)) = (segment.take(), pool.upgrade()) {
                pool.lock().unwrap_or_else(|e| e.into_inner()).push(seg);
            }
        }
    }
}

/// Frames in flight at most before grabs fall back to copying.
const MAX_SEGMENTS: usize = 6;

/// One X screen: its size, a damage watch on it, and the way to grab it.
pub struct Screen {
    conn: RustConnection,
    root: xproto::Window,
    pub width: u16,
    pub height: u16,
    /// Whether the server takes memfd segments (MIT-SHM 1.2).
    shm: bool,
    pool: Pool,
    /// Segments made so far (free or in flight).
    segments: usize,
}

/// What waiting found.
#[derive(Debug, PartialEq, Eq)]
pub enum Wake {
    Damaged,
    Timeout,
    /// The other descriptor became readable (the element's unlock).
    Other,
}

impl Screen {
    pub fn open(display: Option<&str>) -> Result<Self, GrabError> {
        let (conn, screen) = x11rb::connect(display).map_err(|e| err("connecting")(&e))?;
        let s = conn.setup().roots.get(screen).ok_or_else(|| GrabError("no such screen".into()))?;
        let (root, width, height, depth) = (s.root, s.width_in_pixels, s.height_in_pixels, s.root_depth);
        let bpp = conn.setup().pixmap_formats.iter().find(|f| f.depth == depth).map(|f| f.bits_per_pixel);
        if depth != 24 || bpp != Some(32) {
            return Err(GrabError(format!(
                "the screen is {depth}-bit at {bpp:?} bits a pixel; only 24-bit at 32 is supported"
            )));
        }
        if conn.extension_information(damage::X11_EXTENSION_NAME).map_err(|e| err("damage")(&e))?.is_none() {
            return Err(GrabError("the X server has no DAMAGE extension".into()));
        }
        // DAMAGE needs XFixes (its regions) negotiated first.
        conn.xfixes_query_version(5, 0).map_err(|e| err("xfixes")(&e))?.reply().map_err(|e| err("xfixes")(&e))?;
        conn.damage_query_version(1, 1).map_err(|e| err("damage")(&e))?.reply().map_err(|e| err("damage")(&e))?;
        let id = conn.generate_id().map_err(|e| err("id")(&e))?;
        conn.damage_create(id, root, damage::ReportLevel::NON_EMPTY).map_err(|e| err("damage")(&e))?;
        let mut screen = Screen { conn, root, width, height, shm: false, pool: Pool::default(), segments: 0 };
        screen.shm = screen.shm_usable();
        screen.conn.flush().map_err(|e| err("flush")(&e))?;
        Ok(screen)
    }

    /// Whether grabs go through shared memory.
    pub fn shared_memory(&self) -> bool {
        self.shm
    }

    /// MIT-SHM 1.2 (segments passed as descriptors), and a first segment attaches.
    fn shm_usable(&mut self) -> bool {
        let Ok(Ok(version)) = self.conn.shm_query_version().map(|c| c.reply()) else { return false };
        if (version.major_version, version.minor_version) < (1, 2) {
            return false;
        }
        match self.attach_shm() {
            Ok(seg) => {
                self.segments = 1;
                self.pool.lock().unwrap_or_else(|e| e.into_inner()).push(seg);
                true
            }
            Err(_) => false,
        }
    }

    fn attach_shm(&self) -> Result<Segment, GrabError> {
        let len = usize::from(self.width) * usize::from(self.height) * 4;
        let fd: OwnedFd = nix::sys::memfd::memfd_create(c"playcast-capture", nix::sys::memfd::MFdFlags::MFD_CLOEXEC)
            .map_err(|e| err("memfd")(&e))?;
        nix::unistd::ftruncate(&fd, len as i64).map_err(|e| err("ftruncate")(&e))?;
        let size = NonZeroUsize::new(len).ok_or_else(|| GrabError("empty screen".into()))?;
        // SAFETY: a fresh mapping of a descriptor we own, of its whole length.
        let ptr = unsafe { mmap(None, size, ProtFlags::PROT_READ, MapFlags::MAP_SHARED, fd.as_fd(), 0) }
            .map_err(|e| err("mmap")(&e))?;
        let id = self.conn.generate_id().map_err(|e| err("id")(&e))?;
        let server_fd = fd.try_clone().map_err(|e| err("dup")(&e))?;
        let attached = match self.conn.shm_attach_fd(id, server_fd, false) {
            Ok(cookie) => cookie.check().map_err(|e| err("shm attach")(&e)),
            Err(e) => Err(err("shm attach")(&e)),
        };
        let segment = Segment { id, ptr, len };
        attached?;
        Ok(segment)
    }

    /// Waits for damage, for `timeout`, or for `other` to become readable.
    pub fn wait(&self, timeout: Duration, other: &impl AsFd) -> Result<Wake, GrabError> {
        if self.drain_damage()? {
            return Ok(Wake::Damaged);
        }
        let mut fds =
            [PollFd::new(self.conn.stream().as_fd(), PollFlags::POLLIN), PollFd::new(other.as_fd(), PollFlags::POLLIN)];
        // Rounded up: waking a little late beats spinning on a zero timeout.
        let ms = u32::try_from(timeout.as_micros().div_ceil(1000)).unwrap_or(u32::MAX).min(60_000);
        match poll(&mut fds, PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)) {
            Ok(_) | Err(nix::Error::EINTR) => {}
            Err(e) => return Err(err("poll")(&e)),
        }
        if fds[1].revents().is_some_and(|r| !r.is_empty()) {
            return Ok(Wake::Other);
        }
        Ok(if self.drain_damage()? { Wake::Damaged } else { Wake::Timeout })
    }

    /// Reads pending events; true if any said the screen changed. Each
    /// resets the watch, so what was drawn before counts as grabbed by the
    /// next grab, and only later drawing notifies again.
    pub fn drain_damage(&self) -> Result<bool, GrabError> {
        let mut damaged = false;
        while let Some(event) = self.conn.poll_for_event().map_err(|e| err("X connection")(&e))? {
            if let Event::DamageNotify(n) = event {
                damaged = true;
                // Reset the watch: whatever is drawn from now on notifies again.
                self.conn.damage_subtract(n.damage, x11rb::NONE, x11rb::NONE).map_err(|e| err("damage")(&e))?;
            }
        }
        Ok(damaged)
    }

    /// Grabs the whole screen (BGRx, width × height × 4 bytes): into a free
    /// shared segment when there is one, else by copy.
    pub fn grab(&mut self) -> Result<Frame, GrabError> {
        let (w, h) = (self.width, self.height);
        let free = self.pool.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let segment = match free {
            Some(seg) => Some(seg),
            None if self.shm && self.segments < MAX_SEGMENTS => {
                let seg = self.attach_shm()?;
                self.segments += 1;
                Some(seg)
            }
            None => None,
        };
        if let Some(seg) = segment {
            let got = self
                .conn
                .shm_get_image(self.root, 0, 0, w, h, !0, ImageFormat::Z_PIXMAP.into(), seg.id, 0)
                .map_err(|e| err("grab")(&e))
                .and_then(|c| c.reply().map_err(|e| err("grab")(&e)));
            let frame = Frame(Held::Shared { segment: Some(seg), pool: Arc::downgrade(&self.pool) });
            // On failure the frame goes straight back to the pool.
            got?;
            return Ok(frame);
        }
        let image = self
            .conn
            .get_image(ImageFormat::Z_PIXMAP, self.root, 0, 0, w, h, !0)
            .map_err(|e| err("grab")(&e))?
            .reply()
            .map_err(|e| err("grab")(&e))?;
        Ok(Frame(Held::Owned(image.data)))
    }
}

/// Sleeps for `timeout` unless `other` becomes readable first (then true).
/// To the microsecond: the whole milliseconds in `poll`, the rest in a
/// plain sleep, which the caller's loop reaches once the poll is done.
pub fn sleep(timeout: Duration, other: &impl AsFd) -> Result<bool, GrabError> {
    let ms = timeout.as_millis();
    if ms == 0 {
        std::thread::sleep(timeout);
        return Ok(false);
    }
    let mut fds = [PollFd::new(other.as_fd(), PollFlags::POLLIN)];
    let ms = u32::try_from(ms).unwrap_or(u32::MAX).min(60_000);
    match poll(&mut fds, PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)) {
        Ok(_) | Err(nix::Error::EINTR) => {}
        Err(e) => return Err(err("poll")(&e)),
    }
    Ok(fds[0].revents().is_some_and(|r| !r.is_empty()))
}

impl Drop for Screen {
    fn drop(&mut self) {
        // Free segments go now; frames still downstream unmap theirs when dropped
        // (the server lets go of every segment when the connection closes).
        for seg in self.pool.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
            let _ = self.conn.shm_detach(seg.id);
        }
        let _ = self.conn.flush();
    }
}
