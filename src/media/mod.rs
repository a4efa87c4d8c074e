//! Media: pipeline description files, encoder choice, and the GStreamer
//! pipelines that end in webrtcbin. Knows nothing of HTTP.

pub mod catalog;
pub mod check;
pub mod ice;
pub mod select;
pub mod spec;
pub mod stamp;
pub mod stream;

/// Initialises GStreamer once; safe to call from anywhere.
pub fn init() -> Result<(), gst::glib::Error> {
    gst::init()
}
