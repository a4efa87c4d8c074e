//! Media: pipeline description files, encoder choice, and the GStreamer
//! pipelines that end in webrtcbin. Knows nothing of HTTP.

pub mod catalog;
pub mod check;
pub mod datachannel;
pub mod encoders;
pub mod events;
pub mod frames;
pub mod ice;
pub mod policy;
pub mod quality;
pub mod select;
pub mod sink;
pub mod spec;
pub mod stamp;
pub mod stream;

/// Initialises GStreamer and registers our elements (from `plugins/`)
/// statically; safe to call repeatedly.
pub fn init() -> Result<(), gst::glib::Error> {
    gst::init()?;
    static REGISTER: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    REGISTER
        .get_or_init(|| {
            gstplaycastplayoutdelay::plugin_register_static()
                .and_then(|()| gstplaycastx11capture::plugin_register_static())
                .and_then(|()| gstplaycastabr::plugin_register_static())
                .and_then(|()| gstrswebrtc::plugin_register_static())
                .and_then(|()| gstrsrtp::plugin_register_static())
                .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(|e| gst::glib::Error::new(gst::CoreError::Failed, &e))
}
