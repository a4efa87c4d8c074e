//! Signaling: the versioned JSON protocol and the per-connection logic.
//! It defines what it needs of the stream side ([`host`]) and knows nothing
//! of sessions.

pub mod handler;
pub mod host;
pub mod protocol;
