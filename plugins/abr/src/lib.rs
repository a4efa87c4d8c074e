//! Adaptive bitrate for Playcast streams. This crate holds the bandwidth
//! estimator ([`estimator`]); the GStreamer element that feeds it from
//! webrtcbin's feedback and drives the encoder builds on it.

pub mod estimator;

pub use estimator::{Bounds, Estimator, PacketResult, Usage};
