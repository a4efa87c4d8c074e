//! The second output: `webrtcsink` (gst-plugins-rs), with its own encoders
//! and congestion control, driven by Playcast's signaling through a custom
//! signaller. A pipeline file picks it with `output = "webrtcsink"`.
//!
//! webrtcsink runs one WebRTC session per consumer; a Playcast stream is one
//! consumer, so the signaller asks for exactly one session when the sink
//! starts and relays its offer and candidates to the stream's events, and the
//! browser's answer and candidates back.

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gstrswebrtc::signaller::{Signallable, SignallableImpl};
use tokio::sync::mpsc::UnboundedSender;

use super::events::StreamEvent;
use crate::sync::Locked;

/// The one session (and consumer) of a Playcast stream inside webrtcsink.
pub const SESSION: &str = "playcast";
const PEER: &str = "player";

mod imp {
    use std::sync::Mutex;

    use super::*;

    #[derive(Default)]
    pub struct PlaycastSignaller {
        pub events: Mutex<Option<UnboundedSender<StreamEvent>>>,
    }

    impl PlaycastSignaller {
        fn send(&self, ev: StreamEvent) {
            if let Some(tx) = self.events.locked().as_ref() {
                let _ = tx.send(ev);
            }
        }
    }

    #[glib::object_subclass]
    impl ObjectSubclass for PlaycastSignaller {
        const NAME: &'static str = "PlaycastSinkSignaller";
        type Type = super::PlaycastSignaller;
        type ParentType = glib::Object;
        type Interfaces = (Signallable,);
    }

    impl ObjectImpl for PlaycastSignaller {
        // The interface's one property: webrtcsink munges SDP itself.
        fn properties() -> &'static [glib::ParamSpec] {
            static PROPS: std::sync::LazyLock<Vec<glib::ParamSpec>> = std::sync::LazyLock::new(|| {
                vec![glib::ParamSpecBoolean::builder("manual-sdp-munging")
                    .nick("Manual SDP munging")
                    .blurb("Whether the signaller munges SDP itself (it does not)")
                    .default_value(false)
                    .read_only()
                    .build()]
            });
            PROPS.as_ref()
        }

        fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
            match pspec.name() {
                "manual-sdp-munging" => false.to_value(),
                _ => glib::Value::from_type(pspec.value_type()),
            }
        }
    }

    impl SignallableImpl for PlaycastSignaller {
        fn start(&self) {
            // Asked from inside the sink's own start: request the session once
            // that has returned.
            let weak = self.obj().downgrade();
            std::thread::spawn(move || {
                if let Some(s) = weak.upgrade() {
                    s.emit_by_name::<()>(
                        "session-requested",
                        &[&SESSION, &PEER, &None::<gst_webrtc::WebRTCSessionDescription>],
                    );
                }
            });
        }

        fn send_sdp(&self, _session_id: &str, sdp: &gst_webrtc::WebRTCSessionDescription) {
            match sdp.sdp().as_text() {
                Ok(text) if sdp.type_() == gst_webrtc::WebRTCSDPType::Offer => self.send(StreamEvent::Offer(text)),
                Ok(_) => tracing::warn!("webrtcsink sent an answer; Playcast streams are offered by the server"),
                Err(e) => self.send(StreamEvent::Ended(format!("offer SDP: {e}"))),
            }
        }

        fn add_ice(&self, _session_id: &str, candidate: &str, sdp_m_line_index: u32, _sdp_mid: Option<String>) {
            self.send(StreamEvent::Candidate { mline: sdp_m_line_index, candidate: candidate.to_string() });
        }

        fn end_session(&self, _session_id: &str) {
            self.send(StreamEvent::Ended("webrtcsink ended the session".into()));
        }
    }
}

glib::wrapper! {
    pub struct PlaycastSignaller(ObjectSubclass<imp::PlaycastSignaller>) @implements Signallable;
}

impl PlaycastSignaller {
    pub fn new(events: UnboundedSender<StreamEvent>) -> Self {
        let s: Self = glib::Object::new();
        *s.imp().events.locked() = Some(events);
        s
    }

    /// Stops relaying: the stream is being stopped on purpose, so the
    /// session webrtcsink ends on the way down is no failure.
    pub fn detach(&self) {
        self.imp().events.locked().take();
    }

    /// The browser's answer.
    pub fn answer(&self, answer: &gst_webrtc::WebRTCSessionDescription) {
        self.emit_by_name::<()>("session-description", &[&SESSION, answer]);
    }

    /// A browser candidate; an empty one ends its candidates.
    pub fn candidate(&self, mline: u32, candidate: &str) {
        self.emit_by_name::<()>("handle-ice", &[&SESSION, &mline, &None::<String>, &candidate]);
    }
}

/// Makes the webrtcsink for a stream: H.264 and Opus (what the reference
/// client and every browser decode), Google congestion control, the ICE
/// servers, and the signaller.
pub fn make_sink(
    signaller: &PlaycastSignaller,
    stun: Option<String>,
    turn: Vec<String>,
    max_bps: u32,
) -> Result<gst::Element, glib::BoolError> {
    let turn = gst::Array::new(turn);
    let sink = gst::ElementFactory::make("webrtcsink")
        .name("webrtcsink")
        .property("signaller", signaller.upcast_ref::<Signallable>())
        .property("video-caps", gst::Caps::builder("video/x-h264").build())
        .property("audio-caps", gst::Caps::builder("audio/x-opus").build())
        .property_from_str("congestion-control", "gcc")
        .property("max-bitrate", max_bps)
        .property("turn-servers", turn)
        .build()?;
    if let Some(stun) = stun {
        sink.set_property("stun-server", stun);
    }
    Ok(sink)
}

/// webrtcsink's WebRTC element for our one consumer, to watch its state.
pub fn on_consumer(sink: &gst::Element, f: impl Fn(&gst::Element) + Send + Sync + 'static) {
    sink.connect("consumer-added", false, move |values| {
        if let Some(webrtcbin) = values.get(2).and_then(|v| v.get::<gst::Element>().ok()) {
            f(&webrtcbin);
        }
        None
    });
}
