//! Presents a Playcast session's virtual gamepads to a game that runs where
//! the kernel has no uinput. Loaded with `LD_PRELOAD`; it answers opens of
//! `/dev/input/js0..3` and `/dev/input/event0..3` with a connection to the
//! session's socket (`PLAYCAST_GAMEPAD_SOCKET`), over which the service sends
//! each event exactly as the kernel lays it out, so the game's own `read`,
//! `poll` and `select` work unchanged. The ioctls that describe a device are
//! answered here, for an Xbox 360 pad as Linux's xpad driver presents it.
//! The socket's handshake is documented in the service (`src/input/gamepad.rs`).
//!
//! Nothing here may call `open`, `ioctl` or `close` through the libc crate:
//! in this library those names are ours, so the real ones are looked up with
//! `dlsym(RTLD_NEXT, …)`.

use std::ffi::CStr;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};

use libc::{c_char, c_int, c_uint, c_ulong, c_void};

const PADS: u8 = 4;
/// The js axes in order and their evdev codes: X, Y, Z, RX, RY, RZ, HAT0X, HAT0Y.
const ABS_CODES: [u16; 8] = [0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x10, 0x11];
/// A, B, X, Y, TL, TR, SELECT, START, MODE, THUMBL, THUMBR.
const BTN_CODES: [u16; 11] = [0x130, 0x131, 0x133, 0x134, 0x136, 0x137, 0x13a, 0x13b, 0x13c, 0x13d, 0x13e];
const NAME: &[u8] = b"Playcast virtual pad (Xbox 360 layout)";

const JOYSTICK: u16 = 1 << 8;
const EVDEV: u16 = 2 << 8;
/// Per descriptor: 0, or the device kind ORed with the pad number.
static FAKE: [AtomicU16; 4096] = [const { AtomicU16::new(0) }; 4096];

fn fake(fd: c_int) -> Option<u16> {
    let v = FAKE.get(usize::try_from(fd).ok()?)?.load(Ordering::Relaxed);
    (v != 0).then_some(v)
}

fn mark(fd: c_int, v: u16) {
    if let Some(slot) = usize::try_from(fd).ok().and_then(|i| FAKE.get(i)) {
        slot.store(v, Ordering::Relaxed);
    }
}

/// The device a path names, if it is one of ours.
fn device(path: *const c_char) -> Option<(u16, u8)> {
    if path.is_null() {
        return None;
    }
    // SAFETY: the caller passes a NUL-terminated path, as open(2) requires.
    let path = unsafe { CStr::from_ptr(path) }.to_bytes();
    let rest = path.strip_prefix(b"/dev/input/")?;
    let (kind, n) =
        if let Some(n) = rest.strip_prefix(b"js") { (JOYSTICK, n) } else { (EVDEV, rest.strip_prefix(b"event")?) };
    match n {
        [d @ b'0'..=b'9'] if d - b'0' < PADS => Some((kind, d - b'0')),
        _ => None,
    }
}

/// libc's own function `name` (NUL-terminated), looked up once into `cache`.
/// `F` must be the function pointer type of that symbol.
fn lookup<F: Copy>(name: &[u8], cache: &AtomicUsize) -> Option<F> {
    let mut p = cache.load(Ordering::Relaxed);
    if p == 0 {
        // SAFETY: dlsym with a NUL-terminated name; RTLD_NEXT finds libc's.
        p = unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr().cast()) } as usize;
        cache.store(p, Ordering::Relaxed);
    }
    // SAFETY: a non-null symbol address read as the pointer type the caller names.
    (p != 0).then(|| unsafe { std::mem::transmute_copy::<usize, F>(&p) })
}

macro_rules! real {
    ($name:literal, $ty:ty) => {{
        static CACHE: AtomicUsize = AtomicUsize::new(0);
        lookup::<$ty>(concat!($name, "\0").as_bytes(), &CACHE)
    }};
}

type OpenFn = unsafe extern "C" fn(*const c_char, c_int, c_uint) -> c_int;
type OpenAtFn = unsafe extern "C" fn(c_int, *const c_char, c_int, c_uint) -> c_int;
type IoctlFn = unsafe extern "C" fn(c_int, c_ulong, *mut c_void) -> c_int;
type CloseFn = unsafe extern "C" fn(c_int) -> c_int;

fn set_errno(e: c_int) {
    // SAFETY: errno is thread-local and always valid to write.
    unsafe { *libc::__errno_location() = e };
}

/// Connects to the session's socket for one device; -1 with errno set when
/// the pad is not connected or the service is not there.
fn connect(kind: u16, pad: u8, flags: c_int) -> c_int {
    // SAFETY: getenv with a NUL-terminated name; the result is read at once.
    let socket = unsafe { libc::getenv(c"PLAYCAST_GAMEPAD_SOCKET".as_ptr()) };
    if socket.is_null() {
        set_errno(libc::ENOENT);
        return -1;
    }
    // SAFETY: getenv returned a NUL-terminated string.
    let path = unsafe { CStr::from_ptr(socket) }.to_bytes();
    // SAFETY: sockaddr_un is plain data; all zeroes is a valid value.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    if path.len() >= addr.sun_path.len() {
        set_errno(libc::ENAMETOOLONG);
        return -1;
    }
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    for (d, s) in addr.sun_path.iter_mut().zip(path) {
        *d = *s as c_char;
    }
    let cloexec = if flags & libc::O_CLOEXEC != 0 { libc::SOCK_CLOEXEC } else { 0 };
    // SAFETY: plain socket calls on a descriptor this function owns.
    unsafe {
        let fd = libc::socket(libc::AF_UNIX, libc::SOCK_SEQPACKET | cloexec, 0);
        if fd < 0 {
            return -1;
        }
        let len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
        let hello = [u8::from(kind == EVDEV), pad];
        let mut answer = [0u8; 1];
        let ok = libc::connect(fd, (&raw const addr).cast(), len) == 0
            && libc::send(fd, hello.as_ptr().cast(), 2, libc::MSG_NOSIGNAL) == 2
            && libc::recv(fd, answer.as_mut_ptr().cast(), 1, 0) == 1
            && answer[0] == 1;
        if !ok {
            if let Some(close) = real!("close", CloseFn) {
                close(fd);
            }
            set_errno(libc::ENOENT);
            return -1;
        }
        if flags & libc::O_NONBLOCK != 0 {
            libc::fcntl(fd, libc::F_SETFL, libc::O_NONBLOCK);
        }
        mark(fd, kind | u16::from(pad));
        fd
    }
}

/// Opens one of our devices, or hands the path to libc's own open (`real`).
fn open_or(path: *const c_char, flags: c_int, real: impl FnOnce() -> c_int) -> c_int {
    match device(path) {
        Some((kind, pad)) => connect(kind, pad, flags),
        None => real(),
    }
}

/// # Safety
/// Called as open(2) is: `path` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn open(path: *const c_char, flags: c_int, mode: c_uint) -> c_int {
    // SAFETY: the real open(2), called with the caller's arguments.
    open_or(path, flags, || real!("open", OpenFn).map_or(-1, |f| unsafe { f(path, flags, mode) }))
}

/// # Safety
/// Called as open64(2) is.
#[no_mangle]
pub unsafe extern "C" fn open64(path: *const c_char, flags: c_int, mode: c_uint) -> c_int {
    // SAFETY: the real open64(2), called with the caller's arguments.
    open_or(path, flags, || real!("open64", OpenFn).map_or(-1, |f| unsafe { f(path, flags, mode) }))
}

/// The fortified open that programs built with `_FORTIFY_SOURCE` call.
///
/// # Safety
/// Called as open(2) is.
#[no_mangle]
pub unsafe extern "C" fn __open_2(path: *const c_char, flags: c_int) -> c_int {
    // SAFETY: our caller's contract is open(2)'s.
    unsafe { open(path, flags, 0) }
}

/// # Safety
/// Called as open(2) is.
#[no_mangle]
pub unsafe extern "C" fn __open64_2(path: *const c_char, flags: c_int) -> c_int {
    // SAFETY: our caller's contract is open64(2)'s.
    unsafe { open64(path, flags, 0) }
}

/// # Safety
/// Called as openat(2) is.
#[no_mangle]
pub unsafe extern "C" fn openat(dir: c_int, path: *const c_char, flags: c_int, mode: c_uint) -> c_int {
    // SAFETY: the real openat(2), called with the caller's arguments.
    open_or(path, flags, || real!("openat", OpenAtFn).map_or(-1, |f| unsafe { f(dir, path, flags, mode) }))
}

/// # Safety
/// Called as openat(2) is.
#[no_mangle]
pub unsafe extern "C" fn openat64(dir: c_int, path: *const c_char, flags: c_int, mode: c_uint) -> c_int {
    // SAFETY: the real openat64(2), called with the caller's arguments.
    open_or(path, flags, || real!("openat64", OpenAtFn).map_or(-1, |f| unsafe { f(dir, path, flags, mode) }))
}

/// # Safety
/// Called as close(2) is.
#[no_mangle]
pub unsafe extern "C" fn close(fd: c_int) -> c_int {
    mark(fd, 0);
    match real!("close", CloseFn) {
        // SAFETY: the real close(2), called with the caller's descriptor.
        Some(f) => unsafe { f(fd) },
        None => -1,
    }
}

/// # Safety
/// Called as ioctl(2) is: `arg` points to what the request says.
#[no_mangle]
pub unsafe extern "C" fn ioctl(fd: c_int, request: c_ulong, arg: *mut c_void) -> c_int {
    match fake(fd) {
        // SAFETY: `arg` points to what the request says (our caller's contract).
        Some(v) => unsafe { describe(v & 0xff00, request, arg) },
        None => match real!("ioctl", IoctlFn) {
            // SAFETY: the real ioctl(2), called with the caller's arguments.
            Some(f) => unsafe { f(fd, request, arg) },
            None => -1,
        },
    }
}

const IOC_READ: c_ulong = 2;

fn ioc_dir(r: c_ulong) -> c_ulong {
    (r >> 30) & 3
}
fn ioc_type(r: c_ulong) -> u8 {
    ((r >> 8) & 0xff) as u8
}
fn ioc_nr(r: c_ulong) -> u8 {
    (r & 0xff) as u8
}
fn ioc_size(r: c_ulong) -> usize {
    ((r >> 16) & 0x3fff) as usize
}

/// Copies `data` into the caller's buffer of `size` bytes (zero-filling the rest).
///
/// # Safety
/// `arg` points to at least `size` writable bytes.
unsafe fn fill(arg: *mut c_void, size: usize, data: &[u8]) -> usize {
    let out = arg.cast::<u8>();
    let n = data.len().min(size);
    // SAFETY: `n <= size`, and `out` has `size` writable bytes (the contract).
    unsafe {
        std::ptr::copy_nonoverlapping(data.as_ptr(), out, n);
        std::ptr::write_bytes(out.add(n), 0, size - n);
    }
    n
}

fn bits(codes: impl IntoIterator<Item = u16>, size: usize) -> Vec<u8> {
    let mut v = vec![0u8; size];
    for c in codes {
        if let Some(b) = v.get_mut(usize::from(c / 8)) {
            *b |= 1 << (c % 8);
        }
    }
    v
}

/// Answers the ioctls that describe a device; others fail with ENOTTY.
///
/// # Safety
/// `arg` points to the buffer of the size the request encodes.
unsafe fn describe(kind: u16, request: c_ulong, arg: *mut c_void) -> c_int {
    let (dir, ty, nr, size) = (ioc_dir(request), ioc_type(request), ioc_nr(request), ioc_size(request));
    if arg.is_null() && dir & IOC_READ != 0 {
        set_errno(libc::EFAULT);
        return -1;
    }
    let answer: Option<Vec<u8>> = match (kind, ty, nr) {
        (JOYSTICK, b'j', 0x01) => Some(0x0002_0100u32.to_ne_bytes().to_vec()),
        (JOYSTICK, b'j', 0x11) => Some(vec![ABS_CODES.len() as u8]),
        (JOYSTICK, b'j', 0x12) => Some(vec![BTN_CODES.len() as u8]),
        (JOYSTICK, b'j', 0x13) | (EVDEV, b'E', 0x06) => {
            let mut name = NAME.to_vec();
            name.push(0);
            // SAFETY: the request's buffer, of the size it encodes.
            let n = unsafe { fill(arg, size, &name) };
            return n as c_int;
        }
        (JOYSTICK, b'j', 0x32) => Some(ABS_CODES.iter().map(|&c| c as u8).collect()),
        (JOYSTICK, b'j', 0x34) => Some(BTN_CODES.iter().flat_map(|c| c.to_ne_bytes()).collect()),
        // Correction and remapping: accepted, nothing to change.
        (JOYSTICK, b'j', 0x21 | 0x22 | 0x31 | 0x33) => Some(Vec::new()),
        (EVDEV, b'E', 0x01) => Some(0x0001_0001i32.to_ne_bytes().to_vec()),
        // struct input_id: USB, Microsoft, Xbox 360 pad.
        (EVDEV, b'E', 0x02) => Some([0x0003u16, 0x045e, 0x028e, 0x0110].iter().flat_map(|v| v.to_ne_bytes()).collect()),
        (EVDEV, b'E', 0x07 | 0x08) => {
            set_errno(libc::ENOENT);
            return -1;
        }
        // Properties, key/LED/sound/switch state: none set.
        (EVDEV, b'E', 0x09 | 0x18..=0x1b) => Some(Vec::new()),
        (EVDEV, b'E', 0x20) => Some(bits([0u16, 1, 3], size)),
        (EVDEV, b'E', 0x21) => Some(bits(BTN_CODES, size)),
        (EVDEV, b'E', 0x23) => Some(bits(ABS_CODES, size)),
        (EVDEV, b'E', 0x22 | 0x24..=0x3f) => Some(Vec::new()),
        (EVDEV, b'E', n @ 0x40..=0x7f) => {
            if !ABS_CODES.contains(&u16::from(n - 0x40)) {
                set_errno(libc::EINVAL);
                return -1;
            }
            // struct input_absinfo: value, minimum, maximum, fuzz, flat, resolution.
            let info = [0i32, -32767, 32767, 0, 0, 0];
            Some(info.iter().flat_map(|v| v.to_ne_bytes()).collect())
        }
        // Grab, release, clock choice: accepted.
        (EVDEV, b'E', 0x90 | 0xa0) => return 0,
        _ => None,
    };
    match answer {
        Some(data) => {
            if dir & IOC_READ != 0 {
                // SAFETY: the request's buffer, of the size it encodes.
                unsafe { fill(arg, size, &data) };
            }
            0
        }
        None => {
            set_errno(libc::ENOTTY);
            -1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_devices_are_taken() {
        assert_eq!(device(c"/dev/input/js0".as_ptr()), Some((JOYSTICK, 0)));
        assert_eq!(device(c"/dev/input/event3".as_ptr()), Some((EVDEV, 3)));
        assert_eq!(device(c"/dev/input/js4".as_ptr()), None);
        assert_eq!(device(c"/dev/input/js10".as_ptr()), None);
        assert_eq!(device(c"/dev/input/mice".as_ptr()), None);
        assert_eq!(device(c"/etc/passwd".as_ptr()), None);
        assert_eq!(device(std::ptr::null()), None);
    }

    #[test]
    fn ioctl_numbers_decode() {
        // JSIOCGAXES = _IOR('j', 0x11, __u8)
        let r: c_ulong = 0x8001_6a11;
        assert_eq!((ioc_dir(r), ioc_type(r), ioc_nr(r), ioc_size(r)), (IOC_READ, b'j', 0x11, 1));
        assert_eq!(bits([0u16, 1, 3], 4), vec![0b1011, 0, 0, 0]);
    }
}
