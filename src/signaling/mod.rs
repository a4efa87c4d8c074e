//! Signaling: the versioned JSON protocol and the per-connection logic.

pub mod handler;
pub mod protocol;
