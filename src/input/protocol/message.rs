//! The messages of the input protocol as types: what a client sends
//! ([`Input`]), what the server answers ([`Reply`]), their limits, and why a
//! message is refused ([`DecodeError`]).

use crate::input::drops::DropReason;

pub const VERSION: u8 = 1;
/// The longest text carried by a clipboard message.
pub const MAX_CLIPBOARD_BYTES: usize = 64 * 1024;
/// Gamepads a session can have connected at once.
pub const MAX_PADS: u8 = 4;
/// Axes and buttons per gamepad (the standard mapping has 4 and 17).
pub const MAX_PAD_AXES: u8 = 8;
pub const MAX_PAD_BUTTONS: u8 = 32;

/// A mouse button, numbered as X numbers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Button {
    Left,
    Middle,
    Right,
    Back,
    Forward,
}

impl Button {
    pub(super) fn from_byte(b: u8) -> Option<Self> {
        Some(match b {
            1 => Button::Left,
            2 => Button::Middle,
            3 => Button::Right,
            8 => Button::Back,
            9 => Button::Forward,
            _ => return None,
        })
    }

    /// The X core button number (4–7 are the wheel).
    pub fn x_number(self) -> u8 {
        match self {
            Button::Left => 1,
            Button::Middle => 2,
            Button::Right => 3,
            Button::Back => 8,
            Button::Forward => 9,
        }
    }
}

/// What a client sends.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// A key by its Linux input code (`KEY_A` = 30): the physical key, so the
    /// player's layout does not matter.
    Key {
        code: u16,
        down: bool,
    },
    Button {
        button: Button,
        down: bool,
    },
    /// Absolute position across the picture, 0..=65535 on each axis.
    MoveAbs {
        x: u16,
        y: u16,
    },
    /// Relative motion under pointer lock, in pixels.
    MoveRel {
        dx: i16,
        dy: i16,
    },
    /// Scroll in 1/120 of a notch (positive `dy` scrolls down).
    Wheel {
        dx: i16,
        dy: i16,
    },
    /// Gamepad button in the standard mapping, value 0..=255 (triggers are analog).
    PadButton {
        pad: u8,
        button: u8,
        value: u8,
    },
    /// Gamepad axis in the standard mapping, -32767..=32767.
    PadAxis {
        pad: u8,
        axis: u8,
        value: i16,
    },
    PadConnect {
        pad: u8,
        connected: bool,
    },
    Ping {
        id: u32,
    },
    Pause,
    Resume,
    KeyFrame,
    /// Sets the remote clipboard.
    Clipboard(String),
    /// Asks for the remote clipboard.
    ClipboardGet,
    /// The client lost focus: release everything held.
    ReleaseAll,
}

impl Input {
    /// Releases undo held state, so they pass even a throttled client.
    pub fn is_release(&self) -> bool {
        matches!(
            self,
            Input::Key { down: false, .. }
                | Input::Button { down: false, .. }
                | Input::PadButton { value: 0, .. }
                | Input::ReleaseAll
        )
    }

    /// Whether the message goes on the unordered channel.
    pub fn is_fast(&self) -> bool {
        matches!(self, Input::MoveAbs { .. } | Input::MoveRel { .. } | Input::PadAxis { .. })
    }
}

/// What the server sends back on the reliable channel.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Pong {
        id: u32,
    },
    Clipboard(String),
    /// Something the player should know (input refused, throttled, dropped).
    Notice {
        code: NoticeCode,
        text: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum NoticeCode {
    Refused = 1,
    Throttled = 2,
    Malformed = 3,
    Unsupported = 4,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("empty message")]
    Empty,
    #[error("protocol version {0} is not supported; this server speaks {VERSION}")]
    Version(u8),
    #[error("unknown message kind 0x{0:02x}")]
    UnknownKind(u8),
    #[error("message kind 0x{kind:02x} is {expected} bytes, got {got}")]
    Length { kind: u8, expected: usize, got: usize },
    /// A field outside its range.
    #[error("{0}")]
    Value(String),
    #[error("{what} of {bytes} bytes exceeds the {limit} byte limit")]
    TooLarge { what: &'static str, bytes: usize, limit: usize },
    #[error("{0} is not UTF-8")]
    NotUtf8(&'static str),
}

impl DecodeError {
    /// The reason it is counted under.
    pub fn reason(&self) -> DropReason {
        match self {
            DecodeError::Empty => DropReason::Empty,
            DecodeError::Version(_) => DropReason::Version,
            DecodeError::UnknownKind(_) => DropReason::UnknownKind,
            DecodeError::Length { .. } => DropReason::Length,
            DecodeError::Value(_) => DropReason::OutOfRange,
            DecodeError::TooLarge { .. } => DropReason::Oversized,
            DecodeError::NotUtf8(_) => DropReason::NotUtf8,
        }
    }
}
