//! The adaptive-bitrate element, handed to webrtcbin for the video's RTP session.

use gst::prelude::*;

use super::options::StreamOptions;
use crate::media::catalog::Loaded;
use crate::media::quality::AbrSlot;
use crate::media::spec::Params;
use crate::sync::Locked;

/// Hands webrtcbin the adaptive-bitrate element when it sets up the RTP
/// session, in front of which the transport-wide feedback arrives.
pub(super) fn offer_abr(
    webrtc: &gst::Element,
    loaded: &Loaded,
    params: &Params,
    options: &StreamOptions,
    encoder: &gst::Element,
    scaler: Option<gst::Element>,
    slot: &AbrSlot,
) {
    let a = &loaded.spec.abr;
    // The stream's bitrate parameter is its ceiling and where it starts.
    let max = params.int("bitrate").map_or(a.max_bps, |b| b.max(0) as u64).clamp(a.min_bps, a.max_bps);
    let (min, start, ladder) = (a.min_bps, max, a.ladder.to_string());
    // Where the chosen encoder takes its bitrate, from the encoder table or
    // the file; unit 0 tells the element to leave the bitrate alone.
    let bitrate = loaded.selection.chosen.and_then(|i| loaded.spec.video.encoders[i].bitrate.clone());
    let bitrate_property = bitrate.as_ref().map_or_else(|| "bitrate".to_string(), |b| b.property.clone());
    let bitrate_unit = bitrate.map_or(0, |b| b.unit.bps() as u32);
    let adapt = !options.abr_estimate_only;
    let (encoder, scaler) = (encoder.downgrade(), scaler.map(|s| s.downgrade()));
    let slot = slot.clone();
    webrtc.connect("request-aux-sender", false, move |_| {
        let clamp = |v: u64| v.min(u64::from(u32::MAX)) as u32;
        let abr = gst::ElementFactory::make(gstplaycastabr::FACTORY)
            .property("min-bitrate", clamp(min))
            .property("max-bitrate", clamp(max))
            .property("start-bitrate", clamp(start))
            .property("adapt", adapt)
            .property("ladder", &ladder)
            .property("encoder", encoder.upgrade())
            .property("bitrate-property", &bitrate_property)
            .property("bitrate-unit", bitrate_unit)
            .property("scaler", scaler.as_ref().and_then(|s| s.upgrade()))
            .build();
        match abr {
            Ok(abr) => {
                *slot.locked() = Some(abr.downgrade());
                Some(abr.to_value())
            }
            Err(e) => {
                tracing::warn!(error = %e, "adaptive bitrate unavailable; the stream keeps its fixed bitrate");
                None
            }
        }
    });
}
