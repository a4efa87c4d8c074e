//! Media: pipeline description files, encoder choice, and the GStreamer
//! pipelines that end in webrtcbin. Knows nothing of HTTP.

pub mod catalog;
pub mod check;
pub mod ice;
pub mod playout_delay;
pub mod select;
pub mod spec;
pub mod stamp;
pub mod stream;

/// Initialises GStreamer and registers our elements; safe to call repeatedly.
pub fn init() -> Result<(), gst::glib::Error> {
    gst::init()?;
    playout_delay::register().map_err(|e| gst::glib::Error::new(gst::CoreError::Failed, &e.to_string()))
}
