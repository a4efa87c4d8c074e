//! The kernel's side of a virtual pad, shared by the uinput devices and the
//! preload library's `/dev/input/event*`: the Xbox 360 layout as Linux's xpad
//! driver presents it (8 axes, 11 buttons) with its evdev codes, and the
//! bytes of one `struct input_event`.

use std::time::Duration;

/// Axes and buttons of the layout, in joystick-API order.
pub const JS_AXES: usize = 8;
pub const JS_BUTTONS: usize = 11;

pub const EV_SYN: u16 = 0x00;
pub const EV_KEY: u16 = 0x01;
pub const EV_ABS: u16 = 0x03;

/// evdev codes of the js axes, in js order: X, Y, Z, RX, RY, RZ, HAT0X, HAT0Y.
pub const ABS_CODES: [u16; JS_AXES] = [0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x10, 0x11];
/// evdev codes of the js buttons: A, B, X, Y, TL, TR, SELECT, START, MODE, THUMBL, THUMBR.
pub const BTN_CODES: [u16; JS_BUTTONS] = [0x130, 0x131, 0x133, 0x134, 0x136, 0x137, 0x13a, 0x13b, 0x13c, 0x13d, 0x13e];

/// `struct input_event` on 64-bit Linux: a timeval, type, code, value.
pub fn input_event(time: Duration, kind: u16, code: u16, value: i32) -> Vec<u8> {
    let mut p = Vec::with_capacity(24);
    p.extend((time.as_secs() as i64).to_ne_bytes());
    p.extend(i64::from(time.subsec_micros()).to_ne_bytes());
    p.extend(kind.to_ne_bytes());
    p.extend(code.to_ne_bytes());
    p.extend(value.to_ne_bytes());
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_events_have_the_kernel_layout() {
        let ev = input_event(Duration::from_millis(1500), EV_KEY, 0x130, 1);
        assert_eq!(ev.len(), 24);
        assert_eq!(i64::from_ne_bytes(ev[0..8].try_into().unwrap()), 1);
        assert_eq!(i64::from_ne_bytes(ev[8..16].try_into().unwrap()), 500_000);
        assert_eq!(u16::from_ne_bytes([ev[16], ev[17]]), EV_KEY);
        assert_eq!(u16::from_ne_bytes([ev[18], ev[19]]), 0x130);
        assert_eq!(i32::from_ne_bytes(ev[20..24].try_into().unwrap()), 1);
    }
}
