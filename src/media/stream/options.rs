//! How a stream is built beyond its pipeline file, and the RTP constants its
//! pieces share.

/// RTP header extension for transport-wide congestion control feedback.
pub const TWCC_URI: &str = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01";
pub const VIDEO_PT: u32 = 96;
pub const AUDIO_PT: u32 = 111;
/// Fits an RTP packet with SRTP and TURN overhead inside a 1280-byte path MTU.
pub(super) const RTP_MTU: u32 = 1200;

/// How a stream is built beyond its pipeline file.
#[derive(Debug, Clone, Default)]
pub struct StreamOptions {
    /// Draw the capture-time strip into each frame (latency measurement).
    pub stamp: bool,
    /// A bare sender: no TWCC, no retransmission, no frame-dropping queue.
    /// Only the benchmark's baseline uses it.
    pub bare: bool,
    /// PulseAudio server (`unix:/…/native`) for the chain's `pulsesrc`: a
    /// session's private one.
    pub audio_server: Option<String>,
    /// Estimate the link but never change the encoder or the picture (the
    /// adaptive-bitrate benchmark's comparison); the file's `[abr]` decides
    /// whether the element is there at all.
    pub abr_estimate_only: bool,
}
