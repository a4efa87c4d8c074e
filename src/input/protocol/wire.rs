//! The bytes of each message: version, kind, then a fixed little-endian
//! layout per kind.

use super::message::{
    Button, DecodeError, Input, NoticeCode, Reply, MAX_CLIPBOARD_BYTES, MAX_PADS, MAX_PAD_AXES, MAX_PAD_BUTTONS,
    VERSION,
};

mod kind {
    pub const KEY: u8 = 0x01;
    pub const BUTTON: u8 = 0x02;
    pub const MOVE_ABS: u8 = 0x03;
    pub const MOVE_REL: u8 = 0x04;
    pub const WHEEL: u8 = 0x05;
    pub const PAD_BUTTON: u8 = 0x06;
    pub const PAD_AXIS: u8 = 0x07;
    pub const PAD_CONNECT: u8 = 0x08;
    pub const PING: u8 = 0x10;
    pub const PAUSE: u8 = 0x11;
    pub const RESUME: u8 = 0x12;
    pub const KEY_FRAME: u8 = 0x13;
    pub const CLIPBOARD: u8 = 0x14;
    pub const RELEASE_ALL: u8 = 0x15;
    pub const CLIPBOARD_GET: u8 = 0x16;
    pub const PONG: u8 = 0x10;
    pub const NOTICE: u8 = 0x1f;
}

/// Decodes one message.
pub fn decode(msg: &[u8]) -> Result<Input, DecodeError> {
    let (&version, rest) = msg.split_first().ok_or(DecodeError::Empty)?;
    if version != VERSION {
        return Err(DecodeError::Version(version));
    }
    let (&k, body) = rest.split_first().ok_or(DecodeError::Length { kind: 0, expected: 2, got: 1 })?;
    let fixed = |n: usize| {
        if body.len() == n {
            Ok(body)
        } else {
            Err(DecodeError::Length { kind: k, expected: n + 2, got: msg.len() })
        }
    };
    let u16_at = |b: &[u8], i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
    let i16_at = |b: &[u8], i: usize| i16::from_le_bytes([b[i], b[i + 1]]);
    let flag = |b: u8, what: &str| match b {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(DecodeError::Value(format!("{what} must be 0 or 1, got {b}"))),
    };
    let pad = |p: u8| {
        if p < MAX_PADS {
            Ok(p)
        } else {
            Err(DecodeError::Value(format!("gamepad {p} is out of range (0..{MAX_PADS})")))
        }
    };
    Ok(match k {
        kind::KEY => {
            let b = fixed(3)?;
            let code = u16_at(b, 0);
            if code == 0 || code > 0x2ff {
                return Err(DecodeError::Value(format!("key code {code} is not a Linux input key code")));
            }
            Input::Key { code, down: flag(b[2], "key state")? }
        }
        kind::BUTTON => {
            let b = fixed(2)?;
            let button = Button::from_byte(b[0])
                .ok_or_else(|| DecodeError::Value(format!("mouse button {} is unknown", b[0])))?;
            Input::Button { button, down: flag(b[1], "button state")? }
        }
        kind::MOVE_ABS => {
            let b = fixed(4)?;
            Input::MoveAbs { x: u16_at(b, 0), y: u16_at(b, 2) }
        }
        kind::MOVE_REL => {
            let b = fixed(4)?;
            Input::MoveRel { dx: i16_at(b, 0), dy: i16_at(b, 2) }
        }
        kind::WHEEL => {
            let b = fixed(4)?;
            Input::Wheel { dx: i16_at(b, 0), dy: i16_at(b, 2) }
        }
        kind::PAD_BUTTON => {
            let b = fixed(3)?;
            if b[1] >= MAX_PAD_BUTTONS {
                return Err(DecodeError::Value(format!("gamepad button {} is out of range", b[1])));
            }
            Input::PadButton { pad: pad(b[0])?, button: b[1], value: b[2] }
        }
        kind::PAD_AXIS => {
            let b = fixed(4)?;
            if b[1] >= MAX_PAD_AXES {
                return Err(DecodeError::Value(format!("gamepad axis {} is out of range", b[1])));
            }
            let value = i16_at(b, 2);
            if value == i16::MIN {
                return Err(DecodeError::Value("gamepad axis value must be -32767..=32767".into()));
            }
            Input::PadAxis { pad: pad(b[0])?, axis: b[1], value }
        }
        kind::PAD_CONNECT => {
            let b = fixed(2)?;
            Input::PadConnect { pad: pad(b[0])?, connected: flag(b[1], "gamepad state")? }
        }
        kind::PING => Input::Ping { id: u32::from_le_bytes(fixed(4)?.try_into().unwrap_or_default()) },
        kind::PAUSE => fixed(0).map(|_| Input::Pause)?,
        kind::RESUME => fixed(0).map(|_| Input::Resume)?,
        kind::KEY_FRAME => fixed(0).map(|_| Input::KeyFrame)?,
        kind::RELEASE_ALL => fixed(0).map(|_| Input::ReleaseAll)?,
        kind::CLIPBOARD_GET => fixed(0).map(|_| Input::ClipboardGet)?,
        kind::CLIPBOARD => {
            if body.len() > MAX_CLIPBOARD_BYTES {
                let (bytes, limit) = (body.len(), MAX_CLIPBOARD_BYTES);
                return Err(DecodeError::TooLarge { what: "clipboard text", bytes, limit });
            }
            let text = std::str::from_utf8(body).map_err(|_| DecodeError::NotUtf8("clipboard text"))?;
            Input::Clipboard(text.to_string())
        }
        other => return Err(DecodeError::UnknownKind(other)),
    })
}

/// Encodes one message (the client's side; tests and the benchmark use it).
pub fn encode(input: &Input) -> Vec<u8> {
    let mut out = vec![VERSION];
    match input {
        Input::Key { code, down } => {
            out.push(kind::KEY);
            out.extend(code.to_le_bytes());
            out.push(u8::from(*down));
        }
        Input::Button { button, down } => out.extend([kind::BUTTON, button.x_number(), u8::from(*down)]),
        Input::MoveAbs { x, y } => {
            out.push(kind::MOVE_ABS);
            out.extend(x.to_le_bytes());
            out.extend(y.to_le_bytes());
        }
        Input::MoveRel { dx, dy } | Input::Wheel { dx, dy } => {
            out.push(if matches!(input, Input::MoveRel { .. }) { kind::MOVE_REL } else { kind::WHEEL });
            out.extend(dx.to_le_bytes());
            out.extend(dy.to_le_bytes());
        }
        Input::PadButton { pad, button, value } => out.extend([kind::PAD_BUTTON, *pad, *button, *value]),
        Input::PadAxis { pad, axis, value } => {
            out.extend([kind::PAD_AXIS, *pad, *axis]);
            out.extend(value.to_le_bytes());
        }
        Input::PadConnect { pad, connected } => out.extend([kind::PAD_CONNECT, *pad, u8::from(*connected)]),
        Input::Ping { id } => {
            out.push(kind::PING);
            out.extend(id.to_le_bytes());
        }
        Input::Pause => out.push(kind::PAUSE),
        Input::Resume => out.push(kind::RESUME),
        Input::KeyFrame => out.push(kind::KEY_FRAME),
        Input::ReleaseAll => out.push(kind::RELEASE_ALL),
        Input::ClipboardGet => out.push(kind::CLIPBOARD_GET),
        Input::Clipboard(text) => {
            out.push(kind::CLIPBOARD);
            out.extend(text.as_bytes());
        }
    }
    out
}

/// Encodes a server reply.
pub fn encode_reply(reply: &Reply) -> Vec<u8> {
    let mut out = vec![VERSION];
    match reply {
        Reply::Pong { id } => {
            out.push(kind::PONG);
            out.extend(id.to_le_bytes());
        }
        Reply::Clipboard(text) => {
            out.push(kind::CLIPBOARD);
            let mut end = text.len().min(MAX_CLIPBOARD_BYTES);
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            out.extend(&text.as_bytes()[..end]);
        }
        Reply::Notice { code, text } => {
            out.extend([kind::NOTICE, *code as u8]);
            out.extend(text.chars().take(200).collect::<String>().as_bytes());
        }
    }
    out
}

/// Decodes a server reply (the client's side; tests use it).
pub fn decode_reply(msg: &[u8]) -> Result<Reply, DecodeError> {
    match msg {
        [] => Err(DecodeError::Empty),
        [v, ..] if *v != VERSION => Err(DecodeError::Version(*v)),
        [_, kind::PONG, a, b, c, d] => Ok(Reply::Pong { id: u32::from_le_bytes([*a, *b, *c, *d]) }),
        [_, kind::CLIPBOARD, text @ ..] => std::str::from_utf8(text)
            .map(|t| Reply::Clipboard(t.to_string()))
            .map_err(|_| DecodeError::NotUtf8("clipboard text")),
        [_, kind::NOTICE, code, text @ ..] => {
            let code = match code {
                1 => NoticeCode::Refused,
                2 => NoticeCode::Throttled,
                3 => NoticeCode::Malformed,
                _ => NoticeCode::Unsupported,
            };
            Ok(Reply::Notice { code, text: String::from_utf8_lossy(text).into_owned() })
        }
        [_, k, ..] => Err(DecodeError::UnknownKind(*k)),
        [_] => Err(DecodeError::Length { kind: 0, expected: 2, got: 1 }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::drops::DropReason;

    fn every_kind() -> Vec<Input> {
        vec![
            Input::Key { code: 30, down: true },
            Input::Key { code: 30, down: false },
            Input::Button { button: Button::Right, down: true },
            Input::Button { button: Button::Forward, down: false },
            Input::MoveAbs { x: 0, y: 65535 },
            Input::MoveRel { dx: -5, dy: 300 },
            Input::Wheel { dx: 0, dy: -120 },
            Input::PadButton { pad: 3, button: 16, value: 255 },
            Input::PadAxis { pad: 0, axis: 1, value: -32767 },
            Input::PadConnect { pad: 1, connected: true },
            Input::Ping { id: 0xdead_beef },
            Input::Pause,
            Input::Resume,
            Input::KeyFrame,
            Input::ReleaseAll,
            Input::ClipboardGet,
            Input::Clipboard("héllo\n".into()),
        ]
    }

    #[test]
    fn every_message_round_trips() {
        for input in every_kind() {
            let bytes = encode(&input);
            assert_eq!(bytes[0], VERSION);
            assert_eq!(decode(&bytes), Ok(input.clone()), "{bytes:?}");
        }
    }

    #[test]
    fn messages_are_small() {
        assert_eq!(encode(&Input::Key { code: 30, down: true }).len(), 5);
        assert_eq!(encode(&Input::MoveAbs { x: 1, y: 2 }).len(), 6);
        assert_eq!(encode(&Input::Pause).len(), 2);
    }

    #[test]
    fn malformed_messages_say_what_is_wrong() {
        let cases: &[(&[u8], &str)] = &[
            (&[], "empty message"),
            (&[2, 1, 30, 0, 1], "protocol version 2 is not supported"),
            (&[1], "is 2 bytes, got 1"),
            (&[1, 0x7f], "unknown message kind 0x7f"),
            (&[1, 0x01, 30, 0], "kind 0x01 is 5 bytes, got 4"),
            (&[1, 0x01, 30, 0, 1, 0], "kind 0x01 is 5 bytes, got 6"),
            (&[1, 0x01, 0, 0, 1], "key code 0"),
            (&[1, 0x01, 0xff, 0xff, 1], "key code 65535"),
            (&[1, 0x01, 30, 0, 2], "key state must be 0 or 1, got 2"),
            (&[1, 0x02, 6, 1], "mouse button 6 is unknown"),
            (&[1, 0x06, 4, 0, 1], "gamepad 4 is out of range"),
            (&[1, 0x06, 0, 40, 1], "gamepad button 40"),
            (&[1, 0x07, 0, 9, 0, 0], "gamepad axis 9"),
            (&[1, 0x07, 0, 0, 0, 0x80], "-32767..=32767"),
            (&[1, 0x14, 0xff, 0xfe], "not UTF-8"),
            (&[1, 0x11, 0], "kind 0x11 is 2 bytes, got 3"),
        ];
        for (bytes, want) in cases {
            let e = decode(bytes).unwrap_err().to_string();
            assert!(e.contains(want), "{bytes:?}: {e}");
        }
        let mut big = vec![1, 0x14];
        big.extend(std::iter::repeat_n(b'a', MAX_CLIPBOARD_BYTES + 1));
        assert!(decode(&big).unwrap_err().to_string().contains("byte limit"));
    }

    #[test]
    fn each_malformed_message_is_counted_under_its_reason() {
        let mut big = vec![1, 0x14];
        big.extend(std::iter::repeat_n(b'a', MAX_CLIPBOARD_BYTES + 1));
        let cases: &[(&[u8], DropReason)] = &[
            (&[], DropReason::Empty),
            (&[9, 1, 30, 0, 1], DropReason::Version),
            (&[1, 0x7f], DropReason::UnknownKind),
            (&[1, 0x01, 30, 0, 1, 0], DropReason::Length),
            (&[1, 0x01, 0, 3, 1], DropReason::OutOfRange),
            (&[1, 0x02, 6, 1], DropReason::OutOfRange),
            (&[1, 0x07, 0, 9, 0, 0], DropReason::OutOfRange),
            (&big, DropReason::Oversized),
            (&[1, 0x14, 0xff, 0xfe], DropReason::NotUtf8),
        ];
        for (bytes, want) in cases {
            assert_eq!(decode(bytes).unwrap_err().reason(), *want, "{:?}", &bytes[..bytes.len().min(8)]);
        }
    }

    #[test]
    fn no_byte_string_panics() {
        // Every message of up to 3 bytes, and every kind with every length to 8.
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                let _ = decode(&[a, b]);
                let _ = decode(&[VERSION, a, b]);
                let _ = decode_reply(&[a, b]);
            }
        }
        for k in 0..=255u8 {
            for len in 0..8 {
                let mut m = vec![VERSION, k];
                m.extend(std::iter::repeat_n(0x01, len));
                let _ = decode(&m);
                let _ = decode_reply(&m);
            }
        }
    }

    #[test]
    fn replies_round_trip_and_clip() {
        for r in [
            Reply::Pong { id: 7 },
            Reply::Clipboard("x".into()),
            Reply::Notice { code: NoticeCode::Throttled, text: "slow down".into() },
        ] {
            assert_eq!(decode_reply(&encode_reply(&r)), Ok(r));
        }
        let long = "é".repeat(MAX_CLIPBOARD_BYTES);
        let bytes = encode_reply(&Reply::Clipboard(long));
        assert!(bytes.len() <= MAX_CLIPBOARD_BYTES + 2);
        assert!(matches!(decode_reply(&bytes), Ok(Reply::Clipboard(_))));
    }

    #[test]
    fn releases_and_lanes() {
        assert!(Input::Key { code: 1, down: false }.is_release());
        assert!(!Input::Key { code: 1, down: true }.is_release());
        assert!(Input::MoveAbs { x: 0, y: 0 }.is_fast());
        assert!(!Input::Key { code: 1, down: true }.is_fast());
    }

    fn arb_input() -> impl proptest::strategy::Strategy<Value = Input> {
        use proptest::prelude::*;
        let button = prop_oneof![
            Just(Button::Left),
            Just(Button::Middle),
            Just(Button::Right),
            Just(Button::Back),
            Just(Button::Forward)
        ];
        prop_oneof![
            (1..=0x2ffu16, any::<bool>()).prop_map(|(code, down)| Input::Key { code, down }),
            (button, any::<bool>()).prop_map(|(button, down)| Input::Button { button, down }),
            (any::<u16>(), any::<u16>()).prop_map(|(x, y)| Input::MoveAbs { x, y }),
            (any::<i16>(), any::<i16>()).prop_map(|(dx, dy)| Input::MoveRel { dx, dy }),
            (any::<i16>(), any::<i16>()).prop_map(|(dx, dy)| Input::Wheel { dx, dy }),
            (0..MAX_PADS, 0..MAX_PAD_BUTTONS, any::<u8>()).prop_map(|(pad, button, value)| Input::PadButton {
                pad,
                button,
                value
            }),
            (0..MAX_PADS, 0..MAX_PAD_AXES, -32767..=32767i16).prop_map(|(pad, axis, value)| Input::PadAxis {
                pad,
                axis,
                value
            }),
            (0..MAX_PADS, any::<bool>()).prop_map(|(pad, connected)| Input::PadConnect { pad, connected }),
            any::<u32>().prop_map(|id| Input::Ping { id }),
            Just(Input::Pause),
            Just(Input::Resume),
            Just(Input::KeyFrame),
            Just(Input::ReleaseAll),
            Just(Input::ClipboardGet),
            "\\PC{0,64}".prop_map(Input::Clipboard),
        ]
    }

    proptest::proptest! {
        #[test]
        fn any_valid_message_round_trips(input in arb_input()) {
            proptest::prop_assert_eq!(decode(&encode(&input)), Ok(input));
        }

        /// The encoding is canonical: bytes that decode are what encoding gives back.
        #[test]
        fn what_decodes_encodes_to_the_same_bytes(
            kind in 0u8..0x20,
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..8),
        ) {
            let bytes = [&[VERSION, kind][..], &body].concat();
            if let Ok(input) = decode(&bytes) {
                proptest::prop_assert_eq!(encode(&input), bytes);
            }
        }
    }
}
