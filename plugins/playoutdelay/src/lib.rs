//! GStreamer plugin `playcastplayoutdelay`: the playout-delay RTP header
//! extension. Built both as a loadable plugin (`GST_PLUGIN_PATH`) and as a
//! library the service registers statically.

mod playoutdelay;

pub use playoutdelay::{PlayoutDelay, FACTORY, URI};

fn plugin_init(plugin: &gst::Plugin) -> Result<(), gst::glib::BoolError> {
    playoutdelay::register(plugin)
}

gst::plugin_define!(
    playcastplayoutdelay,
    env!("CARGO_PKG_DESCRIPTION"),
    plugin_init,
    env!("CARGO_PKG_VERSION"),
    "MIT/X11",
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_REPOSITORY"),
    "2026-11-25"
);
