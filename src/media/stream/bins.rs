//! The bins a stream is made of: the file's chains, the encoder and the RTP
//! payloader, parsed under the element policy.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use gst::prelude::*;

use super::options::{StreamOptions, AUDIO_PT, RTP_MTU, TWCC_URI, VIDEO_PT};
use super::pause::gate;
use crate::media::catalog::Loaded;
use crate::media::events::MediaError;
use crate::media::spec::{Params, PipelineSpec};
use crate::media::stamp;

/// Exposes `last`'s src pad as the bin's `src`.
pub(super) fn ghost_src(bin: &gst::Bin, last: &str) -> Result<(), MediaError> {
    let pad = bin
        .by_name(last)
        .and_then(|e| e.static_pad("src"))
        .ok_or_else(|| MediaError::Gst(format!("{last} has no src pad")))?;
    let ghost = gst::GhostPad::builder_with_target(&pad)?.name("src").build();
    ghost.set_active(true)?;
    bin.add_pad(&ghost)?;
    Ok(())
}

pub(super) fn link_to_sink(bin: &gst::Bin, sink: &gst::Element, template: &str) -> Result<(), MediaError> {
    let pad = sink
        .request_pad_simple(template)
        .ok_or_else(|| MediaError::Gst(format!("webrtcsink gave no {template} pad")))?;
    let src = bin.static_pad("src").ok_or_else(|| MediaError::Gst("bin without src".into()))?;
    src.link(&pad).map(|_| ()).map_err(|e| MediaError::Gst(format!("linking to webrtcsink: {e}")))
}

/// Builds a stream's bin and refuses it when the element policy's deny side
/// refuses any element in it: the file passed the policy when it loaded, and
/// this keeps parameter values from bringing in what the file could not.
pub(super) fn parse_bin(loaded: &Loaded, field: &str, desc: &str) -> Result<gst::Bin, MediaError> {
    let element = gst::parse::bin_from_description_full(desc, false, None, gst::ParseFlags::FATAL_ERRORS)
        .map_err(|e| MediaError::Build { field: field.into(), message: e.message().to_string() })?;
    let bin = element
        .downcast::<gst::Bin>()
        .map_err(|_| MediaError::Build { field: field.into(), message: "not a bin".into() })?;
    for e in bin.iterate_recurse().into_iter().flatten() {
        let Some(name) = e.factory().map(|f| f.name().to_string()) else { continue };
        if let Some(why) = loaded.policy.denial(&name) {
            return Err(MediaError::Build {
                field: field.into(),
                message: format!("element `{name}` is not allowed by the element policy ({why})"),
            });
        }
    }
    Ok(bin)
}

/// The raw video in front of an encoder: source, filters, the ladder's
/// scaler when asked for, and the queue `vqueue`.
pub(super) fn raw_video_chain(spec: &PipelineSpec, params: &Params, scaler: bool, bare: bool) -> Vec<String> {
    let mut chain = vec![params.substitute(&spec.video.source.text)];
    chain.extend(spec.video.filters.as_ref().map(|f| params.substitute(&f.text)));
    if scaler {
        // The ladder's scaler: passes frames through untouched until the
        // adaptive-bitrate element asks for a smaller picture.
        chain.push("videoscale name=vscale ! capsfilter name=vscaler".to_string());
    }
    // Never hold more than one frame in front of the encoder: a late frame is
    // dropped rather than adding a frame of delay to every frame after it.
    chain.push(if bare {
        "queue name=vqueue".to_string()
    } else {
        "queue name=vqueue max-size-buffers=1 max-size-bytes=0 max-size-time=0 leaky=downstream".to_string()
    });
    chain
}

/// The raw audio in front of an encoder, 48 kHz stereo after `aconv`;
/// `None` when the file has no audio or the `audio` parameter is off.
pub(super) fn raw_audio_chain(spec: &PipelineSpec, params: &Params) -> Option<String> {
    let audio = spec.audio.as_ref()?;
    if params.bool("audio") == Some(false) {
        return None;
    }
    Some(format!(
        "{} ! audioconvert name=aconv ! audioresample ! audio/x-raw,rate=48000,channels=2",
        params.substitute(&audio.source.text)
    ))
}

/// Pauses the audio with the stream and points every PulseAudio source at
/// the session's private sound server, if it has one.
pub(super) fn prepare_audio(bin: &gst::Bin, paused: &Arc<AtomicBool>, options: &StreamOptions) {
    if let Some(pad) = bin.by_name("aconv").and_then(|c| c.static_pad("sink")) {
        gate(&pad, paused);
    }
    if let Some(server) = &options.audio_server {
        for e in bin.iterate_recurse().into_iter().flatten() {
            if e.factory().is_some_and(|f| f.name() == "pulsesrc") {
                e.set_property("server", server);
            }
        }
    }
}

/// Source, filters, encoder and payloader of the video, ending in RTP.
pub fn build_video_bin(loaded: &Loaded, params: &Params, options: &StreamOptions) -> Result<gst::Bin, MediaError> {
    let spec = &loaded.spec;
    let index = loaded
        .selection
        .chosen
        .ok_or_else(|| MediaError::NotRunnable(spec.name.clone(), loaded.selection.explain()))?;
    let enc = &spec.video.encoders[index];
    let scaler = spec.abr.enabled && !spec.abr.ladder.is_empty() && !options.bare;
    let mut chain = raw_video_chain(spec, params, scaler, options.bare);
    chain.extend(enc.before.as_ref().map(|b| params.substitute(&b.text)));
    chain.push(format!(
        "{} name=venc {}",
        enc.element,
        enc.properties.as_ref().map(|p| params.substitute(&p.text)).unwrap_or_default()
    ));
    chain.push(format!("video/x-h264,profile={}", enc.profile));
    chain.push(format!(
        "rtph264pay name=vpay pt={VIDEO_PT} mtu={RTP_MTU} config-interval=-1 aggregate-mode=zero-latency"
    ));
    let bin = parse_bin(loaded, "video", &chain.join(" ! "))?;

    let venc = bin.by_name("venc").ok_or_else(|| MediaError::Gst("encoder not found in bin".into()))?;
    if let (Some(b), Some(bps)) = (&enc.bitrate, params.int("bitrate")) {
        gstplaycastabr::encoder::set_bitrate(&venc, &b.property, b.unit.bps(), bps.max(0) as u64)
            .map_err(|e| MediaError::Gst(e.to_string()))?;
    }
    if options.stamp {
        let q = bin.by_name("vqueue").ok_or_else(|| MediaError::Gst("vqueue missing".into()))?;
        stamp::install(&q.static_pad("sink").ok_or_else(|| MediaError::Gst("vqueue has no sink".into()))?);
    }
    let mut caps = gst::Caps::builder("application/x-rtp")
        .field("media", "video")
        .field("encoding-name", "H264")
        .field("payload", VIDEO_PT as i32)
        .field("clock-rate", 90000i32)
        .field("packetization-mode", "1")
        .field("rtcp-fb-nack-pli", true)
        .field("rtcp-fb-ccm-fir", true);
    if !options.bare {
        caps = caps
            .field("rtcp-fb-transport-cc", true)
            .field("extmap-1", TWCC_URI)
            .field("extmap-2", gstplaycastplayoutdelay::URI);
    }
    finish_bin(&bin, "vpay", caps.build())?;
    Ok(bin)
}

/// Audio source, Opus encoder and payloader; `None` when the file has no
/// audio or the `audio` parameter is off.
pub fn build_audio_bin(
    loaded: &Loaded,
    params: &Params,
    options: &StreamOptions,
) -> Result<Option<gst::Bin>, MediaError> {
    let (Some(raw), Some(audio)) = (raw_audio_chain(&loaded.spec, params), &loaded.spec.audio) else {
        return Ok(None);
    };
    let desc = format!(
        "{raw} ! {} ! rtpopuspay name=apay pt={AUDIO_PT} mtu={RTP_MTU} dtx=true",
        params.substitute(&audio.encoder.text),
    );
    let bin = parse_bin(loaded, "audio", &desc)?;
    let mut caps = gst::Caps::builder("application/x-rtp")
        .field("media", "audio")
        .field("encoding-name", "OPUS")
        .field("payload", AUDIO_PT as i32)
        .field("clock-rate", 48000i32);
    if !options.bare {
        caps = caps.field("rtcp-fb-transport-cc", true).field("extmap-1", TWCC_URI);
    }
    finish_bin(&bin, "apay", caps.build())?;
    Ok(Some(bin))
}

/// Puts the RTP caps after the payloader and exposes them as the bin's `src`.
fn finish_bin(bin: &gst::Bin, payloader: &str, caps: gst::Caps) -> Result<(), MediaError> {
    let pay = bin.by_name(payloader).ok_or_else(|| MediaError::Gst(format!("{payloader} missing")))?;
    let filter = gst::ElementFactory::make("capsfilter").name("rtpcaps").property("caps", caps).build()?;
    bin.add(&filter)?;
    pay.link(&filter).map_err(|e| MediaError::Gst(e.to_string()))?;
    ghost_src(bin, "rtpcaps")
}
