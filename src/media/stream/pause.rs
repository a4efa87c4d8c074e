//! Pausing a stream's media: frames are dropped in front of the encoders.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use gst::glib;
use gst::prelude::*;

/// Stops and restarts the flow of a stream's media without touching the peer
/// connection: frames are dropped in front of the encoders (so sequence
/// numbers stay contiguous and no bits are spent), and a key frame is asked
/// for on resume so the picture comes back at once.
#[derive(Clone)]
pub struct Pauser {
    paused: Arc<AtomicBool>,
    encoder: glib::WeakRef<gst::Element>,
}

impl Pauser {
    /// A pauser over `paused`; `encoder` is asked for key frames (an empty
    /// reference when the output's own encoders answer for themselves).
    pub(super) fn new(paused: Arc<AtomicBool>, encoder: glib::WeakRef<gst::Element>) -> Self {
        Pauser { paused, encoder }
    }

    pub fn set_paused(&self, paused: bool) {
        let was = self.paused.swap(paused, Ordering::SeqCst);
        if was && !paused {
            self.request_key_frame();
        }
    }

    /// Asks the encoder for a key frame (with SPS/PPS), as a PLI would.
    pub fn request_key_frame(&self) {
        if let Some(pad) = self.encoder.upgrade().and_then(|e| e.static_pad("src")) {
            pad.send_event(gst_video::UpstreamForceKeyUnitEvent::builder().all_headers(true).build());
        }
    }

    pub fn is_paused(&self) -> bool {
        self.paused.load(Ordering::SeqCst)
    }
}

/// Drops buffers reaching `pad` while `paused` is set.
pub(super) fn gate(pad: &gst::Pad, paused: &Arc<AtomicBool>) {
    let paused = paused.clone();
    pad.add_probe(gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST, move |_, info| {
        if paused.load(Ordering::Relaxed) {
            gstplaycastabr::probe::drop_buffer(info)
        } else {
            gst::PadProbeReturn::Ok
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_paused_gate_drops_buffers_without_upsetting_gstreamer() {
        gst::init().unwrap();
        let criticals = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let seen = criticals.clone();
        glib::log_set_handler(Some("GStreamer"), glib::LogLevels::LEVEL_CRITICAL, false, false, move |_, _, msg| {
            seen.lock().unwrap().push(msg.to_owned())
        });
        let pipeline = gst::parse::launch("audiotestsrc num-buffers=20 ! fakesink name=sink").unwrap();
        let pipeline = pipeline.downcast::<gst::Pipeline>().unwrap();
        let pad = pipeline.by_name("sink").unwrap().static_pad("sink").unwrap();
        let paused = Arc::new(AtomicBool::new(true));
        gate(&pad, &paused);
        let passed = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let p = passed.clone();
        // Probes run in the order they were added: this one sees what the gate let through.
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            p.fetch_add(1, Ordering::Relaxed);
            gst::PadProbeReturn::Ok
        });
        pipeline.set_state(gst::State::Playing).unwrap();
        let bus = pipeline.bus().unwrap();
        let msg =
            bus.timed_pop_filtered(gst::ClockTime::from_seconds(10), &[gst::MessageType::Eos, gst::MessageType::Error]);
        pipeline.set_state(gst::State::Null).unwrap();
        assert!(matches!(msg.as_ref().map(|m| m.view()), Some(gst::MessageView::Eos(_))), "{msg:?}");
        assert_eq!(passed.load(Ordering::Relaxed), 0, "a paused gate lets nothing through");
        assert_eq!(*criticals.lock().unwrap(), Vec::<String>::new(), "GStreamer critical warnings");
    }
}
