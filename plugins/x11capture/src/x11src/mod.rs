//! `playcastx11src`: captures an X screen when it changes rather than on a
//! fixed tick, never more often than the stream's frame rate. The rule
//! (`pace.rs`, the same the ABR element's frame-rate gate applies): a frame is
//! taken when at least one frame interval of the negotiated frame rate has
//! passed since the previous one. A change that comes when the slot is free
//! (its DAMAGE notification) is grabbed at once, not up to a frame later at
//! the next tick of a free-running clock: a game drawing at 30 Hz under a
//! 60 fps stream, or a picture that answers input on a screen that was still.
//! A change that comes early is grabbed when the slot opens, one interval
//! after the previous frame, with everything drawn meanwhile, so a game
//! redrawing hundreds of times a second is sent at the stream's rate and
//! every grab holds its latest picture. A still screen is grabbed again every
//! `idle-interval` (100 ms), so the browser counts no freeze, the
//! congestion-control feedback keeps coming and key-frame requests are
//! answered. Frames are BGRx at the screen's size, timestamped with the
//! running time at which they fell due (a fraction of a millisecond before
//! the readback).

use gst::glib;
use gst::prelude::*;

mod grab;
mod imp;
mod pace;

pub const FACTORY: &str = "playcastx11src";

glib::wrapper! {
    pub struct X11Src(ObjectSubclass<imp::X11Src>)
        @extends gst_base::PushSrc, gst_base::BaseSrc, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(Some(plugin), FACTORY, gst::Rank::NONE, X11Src::static_type())
}
