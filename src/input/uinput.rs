//! Kernel virtual gamepads through `/dev/uinput`, where the kernel offers it:
//! each connected pad is a real input device (`/dev/input/eventN`, and `jsN`
//! through the joystick driver) that every game and udev see.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;

use super::evdev::{input_event, ABS_CODES, BTN_CODES, EV_ABS, EV_KEY, EV_SYN};

pub const DEVICE: &str = "/dev/uinput";
const BUS_USB: u16 = 0x03;

/// `struct uinput_setup`: the device's id, name and force-feedback slots.
#[repr(C)]
pub struct UinputSetup {
    bustype: u16,
    vendor: u16,
    product: u16,
    version: u16,
    name: [u8; 80],
    ff_effects_max: u32,
}

/// `struct uinput_abs_setup`: one axis's code and range.
#[repr(C)]
pub struct UinputAbsSetup {
    code: u16,
    value: i32,
    minimum: i32,
    maximum: i32,
    fuzz: i32,
    flat: i32,
    resolution: i32,
}

nix::ioctl_none!(ui_dev_create, b'U', 1);
nix::ioctl_none!(ui_dev_destroy, b'U', 2);
nix::ioctl_write_ptr!(ui_dev_setup, b'U', 3, UinputSetup);
nix::ioctl_write_ptr!(ui_abs_setup, b'U', 4, UinputAbsSetup);
nix::ioctl_write_int!(ui_set_evbit, b'U', 100);
nix::ioctl_write_int!(ui_set_keybit, b'U', 101);
nix::ioctl_write_int!(ui_set_absbit, b'U', 103);

/// Whether this process may create devices through uinput.
pub fn available() -> bool {
    OpenOptions::new().write(true).custom_flags(nix::libc::O_NONBLOCK).open(DEVICE).is_ok()
}

/// One kernel gamepad; it disappears when dropped.
pub struct UinputPad {
    file: File,
}

impl UinputPad {
    pub fn create(pad: u8) -> std::io::Result<Self> {
        let file = OpenOptions::new().write(true).custom_flags(nix::libc::O_NONBLOCK).open(DEVICE)?;
        let fd = file.as_raw_fd();
        let mut name = [0u8; 80];
        let text = format!("Playcast virtual pad {pad} (Xbox 360 layout)");
        name[..text.len()].copy_from_slice(text.as_bytes());
        let setup =
            UinputSetup { bustype: BUS_USB, vendor: 0x045e, product: 0x028e, version: 0x0110, name, ff_effects_max: 0 };
        // SAFETY: each ioctl gets the argument type its request number encodes,
        // on a descriptor this function owns.
        unsafe {
            for ev in [EV_KEY, EV_ABS, EV_SYN] {
                ui_set_evbit(fd, ev.into())?;
            }
            for b in BTN_CODES {
                ui_set_keybit(fd, b.into())?;
            }
            for (i, a) in ABS_CODES.iter().enumerate() {
                ui_set_absbit(fd, (*a).into())?;
                // Triggers rest at their minimum, like every other axis's centre is 0.
                let value = if i == 2 || i == 5 { -32767 } else { 0 };
                let abs = UinputAbsSetup {
                    code: *a,
                    value,
                    minimum: -32767,
                    maximum: 32767,
                    fuzz: 0,
                    flat: 0,
                    resolution: 0,
                };
                ui_abs_setup(fd, &abs)?;
            }
            ui_dev_setup(fd, &setup)?;
            ui_dev_create(fd)?;
        }
        Ok(UinputPad { file })
    }

    /// Writes events (each a kernel `input_event`) followed by a sync.
    pub fn write_events(&mut self, events: &[Vec<u8>]) -> std::io::Result<()> {
        let mut all: Vec<u8> = events.concat();
        all.extend(input_event(std::time::Duration::ZERO, EV_SYN, 0, 0));
        self.file.write_all(&all)
    }
}

impl Drop for UinputPad {
    fn drop(&mut self) {
        // SAFETY: UI_DEV_DESTROY takes no argument.
        let _ = unsafe { ui_dev_destroy(self.file.as_raw_fd()) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structures_have_the_kernel_sizes() {
        assert_eq!(std::mem::size_of::<UinputSetup>(), 92);
        assert_eq!(std::mem::size_of::<UinputAbsSetup>(), 28);
        // _IOW('U', 3, struct uinput_setup) and _IOW('U', 100, int), as the kernel headers define them.
        assert_eq!(nix::request_code_write!(b'U', 3, std::mem::size_of::<UinputSetup>()), 0x405c_5503);
        assert_eq!(nix::request_code_write!(b'U', 100, std::mem::size_of::<nix::libc::c_int>()), 0x4004_5564);
    }
}
