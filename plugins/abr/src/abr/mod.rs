//! `playcastabr`: adaptive bitrate between the payloaders and the network.
//!
//! It passes RTP through untouched and listens for the transport-wide
//! congestion control feedback that the RTP session sends upstream as
//! `RTPTWCCPackets` events. From that feedback it estimates the available
//! bandwidth ([`crate::Estimator`]), sets the encoder's bitrate, and steps a
//! resolution and frame-rate ladder through a capsfilter behind a videoscale
//! (the `scaler`) without renegotiating the WebRTC session.
//!
//! webrtcbin takes it through its `request-aux-sender` signal, which places it
//! in front of the RTP session where the feedback events arrive.

use gst::glib;
use gst::prelude::*;

mod imp;

pub const FACTORY: &str = "playcastabr";
/// Name of the element messages it posts.
pub const MESSAGE: &str = "playcast-abr";
/// Bounds of the estimate when none are set, bit/s: what a stream adapts
/// between unless its pipeline file says otherwise.
pub const DEFAULT_MIN_BITRATE: u32 = 300_000;
pub const DEFAULT_MAX_BITRATE: u32 = 20_000_000;
/// The lowest bound the element takes, bit/s.
pub const LEAST_BITRATE: u32 = 10_000;
/// Name of the custom upstream event carrying transport-wide feedback.
pub const TWCC_EVENT: &str = "RTPTWCCPackets";

glib::wrapper! {
    pub struct Abr(ObjectSubclass<imp::Abr>) @extends gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(Some(plugin), FACTORY, gst::Rank::NONE, Abr::static_type())
}
