//! What a stream reports: its errors and the events it sends to the
//! signaling side. Kept apart from [`super::stream`] so the parts a stream
//! is built from (data channels, the webrtcsink signaller) can name them
//! without importing the stream itself.

use gst::glib;

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("pipeline `{0}` cannot run on this machine: {1}")]
    NotRunnable(String, String),
    #[error("{field}: {message}")]
    Build { field: String, message: String },
    #[error("GStreamer: {0}")]
    Gst(String),
    #[error("invalid SDP: {0}")]
    Sdp(String),
    #[error("invalid ICE candidate: {0}")]
    Candidate(String),
}

impl From<glib::BoolError> for MediaError {
    fn from(e: glib::BoolError) -> Self {
        MediaError::Gst(e.to_string())
    }
}

/// What a stream tells the signaling side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEvent {
    Offer(String),
    Candidate {
        mline: u32,
        candidate: String,
    },
    /// The peer connection is up (ICE and DTLS done): media flows.
    Connected,
    /// The quality monitor's latest sample, for the player's overlay.
    Quality(serde_json::Value),
    /// The stream is over; the reason is for people.
    Ended(String),
}
