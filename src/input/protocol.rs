//! The input protocol, version 1: small binary messages on the stream's two
//! data channels. `docs/INPUT.md` is the document for people (with the
//! measured cost against JSON); these types are the source of truth.
//!
//! Every message starts with the protocol version and a kind byte; the rest
//! is a fixed layout per kind, little-endian. Motion and gamepad axes go on
//! the unordered channel without retransmission (a late position is worth
//! nothing); keys, buttons and control go on the reliable, ordered one.

//!
//! `message` has the types, `wire` their bytes.

mod message;
mod wire;

pub use crate::media::datachannel::{FAST_LABEL, RELIABLE_LABEL};
pub use message::{
    Button, DecodeError, Input, NoticeCode, Reply, MAX_CLIPBOARD_BYTES, MAX_PADS, MAX_PAD_AXES, MAX_PAD_BUTTONS,
    VERSION,
};
pub use wire::{decode, decode_reply, encode, encode_reply};
