//! What a stream listens to: webrtcbin's negotiation and ICE signals, the
//! connection states, the bus and the end of the source, each turned into a
//! [`StreamEvent`].

use gst::prelude::*;
use tokio::sync::mpsc::UnboundedSender;

use crate::media::events::{MediaError, StreamEvent};

/// webrtcbin's SCTP elements, which carry only the data channels.
fn is_data_channel_element(src: Option<&gst::Object>) -> bool {
    src.and_then(|o| o.downcast_ref::<gst::Element>())
        .and_then(|e| e.factory())
        .is_some_and(|f| f.name().starts_with("sctp"))
}

/// A source that finishes ends the stream, whether or not data flows to a
/// peer yet: webrtcbin holds its inputs until negotiation completes and posts
/// EOS only once its network sinks see it, so watch in front of the encoder.
pub(super) fn watch_eos(bin: &gst::Bin, events: &UnboundedSender<StreamEvent>) {
    let Some(pad) = bin.by_name("vqueue").and_then(|q| q.static_pad("sink")) else { return };
    let tx = events.clone();
    pad.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
        if let Some(gst::PadProbeData::Event(e)) = &info.data {
            if e.type_() == gst::EventType::Eos {
                let _ = tx.send(StreamEvent::Ended("end of stream".into()));
            }
        }
        gst::PadProbeReturn::Ok
    });
}

pub(super) fn connect_signals(webrtc: &gst::Element, events: &UnboundedSender<StreamEvent>) {
    // Closures hold weak references: a strong one would keep webrtcbin alive forever.
    let weak = webrtc.downgrade();
    let tx = events.clone();
    webrtc.connect("on-negotiation-needed", false, move |_| {
        let webrtc = weak.upgrade()?;
        let weak = webrtc.downgrade();
        let tx = tx.clone();
        let promise = gst::Promise::with_change_func(move |reply| {
            let Some(webrtc) = weak.upgrade() else { return };
            let offer = match reply {
                Ok(Some(s)) => s.get::<gst_webrtc::WebRTCSessionDescription>("offer").ok(),
                _ => None,
            };
            let Some(offer) = offer else {
                let _ = tx.send(StreamEvent::Ended("webrtcbin could not create an offer".into()));
                return;
            };
            webrtc.emit_by_name::<()>("set-local-description", &[&offer, &None::<gst::Promise>]);
            match offer.sdp().as_text() {
                Ok(text) => {
                    let _ = tx.send(StreamEvent::Offer(text));
                }
                Err(e) => {
                    let _ = tx.send(StreamEvent::Ended(format!("offer SDP: {e}")));
                }
            }
        });
        webrtc.emit_by_name::<()>("create-offer", &[&None::<gst::Structure>, &promise]);
        None
    });

    let tx = events.clone();
    webrtc.connect("on-ice-candidate", false, move |values| {
        let mline = values.get(1).and_then(|v| v.get::<u32>().ok())?;
        let candidate = values.get(2).and_then(|v| v.get::<String>().ok())?;
        let _ = tx.send(StreamEvent::Candidate { mline, candidate });
        None
    });

    watch_connection(webrtc, events);
}

/// Ends the stream when ICE or the peer connection fails; says when it is up.
pub(super) fn watch_connection(webrtc: &gst::Element, events: &UnboundedSender<StreamEvent>) {
    let tx = events.clone();
    webrtc.connect_notify(Some("ice-connection-state"), move |w, _| {
        let state = w.property::<gst_webrtc::WebRTCICEConnectionState>("ice-connection-state");
        tracing::debug!(?state, "ICE connection state");
        if state == gst_webrtc::WebRTCICEConnectionState::Failed {
            let _ = tx.send(StreamEvent::Ended("ICE failed: no candidate pair works".into()));
        }
    });
    let tx = events.clone();
    webrtc.connect_notify(Some("connection-state"), move |w, _| {
        let state = w.property::<gst_webrtc::WebRTCPeerConnectionState>("connection-state");
        tracing::debug!(?state, "peer connection state");
        match state {
            gst_webrtc::WebRTCPeerConnectionState::Failed => {
                let _ = tx.send(StreamEvent::Ended("peer connection failed (DTLS or ICE)".into()));
            }
            gst_webrtc::WebRTCPeerConnectionState::Connected => {
                let _ = tx.send(StreamEvent::Connected);
            }
            _ => {}
        }
    });
}

/// Errors end the stream (except the data channels' transport); so does EOS.
pub(super) fn watch_bus(pipeline: &gst::Pipeline, events: &UnboundedSender<StreamEvent>) -> Result<(), MediaError> {
    let bus = pipeline.bus().ok_or_else(|| MediaError::Gst("pipeline has no bus".into()))?;
    let tx = events.clone();
    bus.set_sync_handler(move |_, msg| {
        match msg.view() {
            gst::MessageView::Error(e) => {
                let src = msg.src().map(|s| s.path_string().to_string()).unwrap_or_default();
                if is_data_channel_element(msg.src()) {
                    // The input channels' transport broke (the browser left or
                    // reset the association); the media does not depend on it.
                    tracing::info!(%src, error = %e.error(), "data channel transport ended");
                } else {
                    let _ = tx.send(StreamEvent::Ended(format!("pipeline error in {src}: {}", e.error())));
                }
            }
            gst::MessageView::Eos(_) => {
                let _ = tx.send(StreamEvent::Ended("end of stream".into()));
            }
            _ => {}
        }
        gst::BusSyncReply::Drop
    });
    Ok(())
}
