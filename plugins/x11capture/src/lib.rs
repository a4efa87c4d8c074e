//! GStreamer plugin `playcastx11capture`: X11 screen capture that grabs when
//! the display changes. Built both as a loadable plugin (`GST_PLUGIN_PATH`)
//! and as a library the service registers statically.

mod x11src;

pub use x11src::{X11Src, FACTORY};

fn plugin_init(plugin: &gst::Plugin) -> Result<(), gst::glib::BoolError> {
    x11src::register(plugin)
}

gst::plugin_define!(
    playcastx11capture,
    env!("CARGO_PKG_DESCRIPTION"),
    plugin_init,
    env!("CARGO_PKG_VERSION"),
    "MIT/X11",
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_REPOSITORY"),
    "2026-11-30"
);
