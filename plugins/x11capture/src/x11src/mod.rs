//! `playcastx11src`: captures an X screen when it changes rather than on a
//! fixed tick. A game that draws at 60 Hz is grabbed right after each frame it
//! draws (its DAMAGE notification), not up to a frame later at the next tick
//! of a free-running clock; a picture that answers input is grabbed as soon as
//! it is drawn. Captures are at least `min-interval` apart, and a still screen
//! is grabbed again every `idle-interval`, so key-frame requests are answered
//! and the receiver never waits long. Frames are BGRx at the screen's size,
//! timestamped with the pipeline clock at the moment of the grab.

use gst::glib;
use gst::prelude::*;

mod grab;
mod imp;

pub const FACTORY: &str = "playcastx11src";

glib::wrapper! {
    pub struct X11Src(ObjectSubclass<imp::X11Src>)
        @extends gst_base::PushSrc, gst_base::BaseSrc, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(Some(plugin), FACTORY, gst::Rank::NONE, X11Src::static_type())
}
