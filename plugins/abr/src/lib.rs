//! GStreamer plugin `playcastabr`: adaptive bitrate for Playcast streams.
//! The bandwidth [`estimator`] and the resolution [`ladder`] are plain
//! arithmetic; the element ([`Abr`]) feeds them from webrtcbin's feedback and
//! acts on the encoder ([`encoder`]). Built both as a loadable plugin
//! (`GST_PLUGIN_PATH`) and as a library the service registers statically.

mod abr;
pub mod encoder;
pub mod estimator;
pub mod ladder;
pub mod probe;

pub use abr::{Abr, DEFAULT_MAX_BITRATE, DEFAULT_MIN_BITRATE, FACTORY, LEAST_BITRATE, MESSAGE, TWCC_EVENT};
pub use estimator::{Bounds, Estimator, PacketResult, Usage};
pub use ladder::{Ladder, Step};

fn plugin_init(plugin: &gst::Plugin) -> Result<(), gst::glib::BoolError> {
    abr::register(plugin)
}

gst::plugin_define!(
    playcastabr,
    env!("CARGO_PKG_DESCRIPTION"),
    plugin_init,
    env!("CARGO_PKG_VERSION"),
    "MIT/X11",
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_REPOSITORY"),
    "2026-11-30"
);
