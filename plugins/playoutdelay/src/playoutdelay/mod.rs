//! `playcastplayoutdelay`: the playout-delay RTP header extension
//! (`http://www.webrtc.org/experiments/rtp-hdrext/playout-delay`) with
//! min = max = 0. It tells the browser to render each video frame as soon as
//! it is decoded instead of smoothing playout. GStreamer 1.22 ships no
//! implementation; payloaders find this one by URI when their downstream caps
//! carry `extmap-N=<URI>` (`auto-header-extension`).

use gst::glib;
use gst::prelude::*;

mod imp;

pub const URI: &str = "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay";
pub const FACTORY: &str = "playcastplayoutdelay";

glib::wrapper! {
    pub struct PlayoutDelay(ObjectSubclass<imp::PlayoutDelay>)
        @extends gst_rtp::RTPHeaderExtension, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(Some(plugin), FACTORY, gst::Rank::MARGINAL, PlayoutDelay::static_type())
}
