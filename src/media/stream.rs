//! One stream: a GStreamer pipeline built from a pipeline file, ending in
//! webrtcbin. The server offers; events (offer, candidates, end) go out on a
//! channel so this module knows nothing of the transport that carries them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use gst::glib;
use gst::prelude::*;
use tokio::sync::mpsc::UnboundedSender;

use super::catalog::Loaded;
use super::datachannel::InputPort;
use super::frames::FrameCounters;
use super::ice::IceServers;
use super::quality::AbrSlot;
use super::sink::{self, PlaycastSignaller};
use super::spec::{OutputKind, Params, PipelineSpec};
use super::stamp;
// Re-exported: callers know them as part of the stream's interface.
pub use super::events::{MediaError, StreamEvent};
use crate::sync::Locked;

/// RTP header extension for transport-wide congestion control feedback.
pub const TWCC_URI: &str = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01";
pub const VIDEO_PT: u32 = 96;
pub const AUDIO_PT: u32 = 111;
/// Fits an RTP packet with SRTP and TURN overhead inside a 1280-byte path MTU.
const RTP_MTU: u32 = 1200;

/// How long an answer waits for webrtcbin's verdict (it takes microseconds;
/// this only keeps a wedged pipeline from holding the signaling task).
const ANSWER_VERDICT_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

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
fn gate(pad: &gst::Pad, paused: &Arc<AtomicBool>) {
    let paused = paused.clone();
    pad.add_probe(gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST, move |_, info| {
        if paused.load(Ordering::Relaxed) {
            gstplaycastabr::probe::drop_buffer(info)
        } else {
            gst::PadProbeReturn::Ok
        }
    });
}

/// How a stream is built beyond its pipeline file.
#[derive(Debug, Clone, Default)]
pub struct StreamOptions {
    /// Draw the capture-time strip into each frame (latency measurement).
    pub stamp: bool,
    /// A bare sender: no TWCC, no retransmission, no frame-dropping queue.
    /// Only the benchmark's baseline uses it.
    pub bare: bool,
    /// PulseAudio server (`unix:/…/native`) for the chain's `pulsesrc`: a
    /// session's private one.
    pub audio_server: Option<String>,
    /// Estimate the link but never change the encoder or the picture (the
    /// adaptive-bitrate benchmark's comparison); the file's `[abr]` decides
    /// whether the element is there at all.
    pub abr_estimate_only: bool,
}

/// A running stream. Stopping is idempotent and also happens on drop.
pub struct Stream {
    pipeline: gst::Pipeline,
    output: Output,
    encoder: String,
    stopped: AtomicBool,
    pauser: Pauser,
    input: Option<InputPort>,
    abr: AbrSlot,
    frames: Option<Arc<FrameCounters>>,
}

/// Which WebRTC element the stream ends in.
enum Output {
    /// Our own: webrtcbin, the server offers, `playcastabr` adapts.
    Webrtcbin(gst::Element),
    /// gst-plugins-rs' webrtcsink, driven through our signaller.
    Webrtcsink(PlaycastSignaller),
}

impl Stream {
    pub fn start(
        loaded: &Arc<Loaded>,
        params: &Params,
        ice: &IceServers,
        options: &StreamOptions,
        events: UnboundedSender<StreamEvent>,
    ) -> Result<Self, MediaError> {
        let spec = &loaded.spec;
        if !loaded.runnable {
            return Err(MediaError::NotRunnable(spec.name.clone(), loaded.selection.explain()));
        }
        if spec.output == OutputKind::Webrtcsink {
            return Self::start_sink(loaded, params, ice, options, events);
        }
        let pipeline = gst::Pipeline::new();
        let webrtc = gst::ElementFactory::make("webrtcbin")
            .name("webrtc")
            .property_from_str("bundle-policy", "max-bundle")
            .build()?;
        if let Some(stun) = ice.stun_for_webrtcbin() {
            webrtc.set_property("stun-server", stun);
        }
        for turn in ice.turn_for_webrtcbin() {
            let _: bool = webrtc.emit_by_name("add-turn-server", &[&turn]);
        }
        pipeline.add(&webrtc)?;

        let video = build_video_bin(loaded, params, options)?;
        watch_eos(&video, &events);
        let paused = Arc::new(AtomicBool::new(false));
        let venc = video.by_name("venc").ok_or_else(|| MediaError::Gst("encoder not found in bin".into()))?;
        let queue_sink = video.by_name("vqueue").and_then(|q| q.static_pad("sink"));
        if let Some(pad) = &queue_sink {
            gate(pad, &paused);
        }
        let frames = queue_sink.map(|pad| FrameCounters::install(&pad, &venc, paused.clone()));
        let pauser = Pauser { paused: paused.clone(), encoder: venc.downgrade() };
        let abr = AbrSlot::default();
        if spec.abr.enabled && !options.bare {
            offer_abr(&webrtc, loaded, params, options, &venc, video.by_name("vscaler"), &abr);
        }
        pipeline.add(&video)?;
        video.link(&webrtc).map_err(|e| MediaError::Gst(format!("linking video to webrtcbin: {e}")))?;
        if let Some(audio) = build_audio_bin(loaded, params, options)? {
            prepare_audio(&audio, &paused, options);
            pipeline.add(&audio)?;
            audio.link(&webrtc).map_err(|e| MediaError::Gst(format!("linking audio to webrtcbin: {e}")))?;
        }
        for pad in webrtc.sink_pads() {
            let is_video = pad
                .peer()
                .is_some_and(|p| p.parent_element().is_some_and(|e| e == *video.upcast_ref::<gst::Element>()));
            // Separate media streams: the browser then does not hold video
            // back to keep lip sync with audio's larger jitter buffer.
            if !options.bare {
                pad.set_property("msid", if is_video { "playcast-video" } else { "playcast-audio" });
            }
            let t = pad.property::<gst_webrtc::WebRTCRTPTransceiver>("transceiver");
            t.set_property("direction", gst_webrtc::WebRTCRTPTransceiverDirection::Sendonly);
            // Retransmission for video only: Chromium refuses an audio stream
            // with an RTX SSRC group, and late audio is better concealed.
            if is_video && !options.bare {
                t.set_property("do-nack", true);
            }
        }
        connect_signals(&webrtc, &events);
        // Data channels are created in READY, before the offer, so it carries them.
        pipeline.set_state(gst::State::Ready).map_err(|_| MediaError::Gst("the pipeline refused READY".into()))?;
        // Even a bare stream has them: the input benchmark's baseline sends keys too.
        let input = match InputPort::create(&webrtc) {
            Ok(port) => port,
            Err(e) => {
                let _ = pipeline.set_state(gst::State::Null);
                return Err(e);
            }
        };
        watch_bus(&pipeline, &events)?;

        let encoder = loaded.selection.chosen_element().unwrap_or_default().to_string();
        let stream = Stream {
            pipeline,
            output: Output::Webrtcbin(webrtc),
            encoder,
            stopped: AtomicBool::new(false),
            pauser,
            input: Some(input),
            abr,
            frames,
        };
        stream
            .pipeline
            .set_state(gst::State::Playing)
            .map_err(|_| MediaError::Gst("the pipeline refused to start".into()))?;
        Ok(stream)
    }

    pub fn encoder(&self) -> &str {
        &self.encoder
    }

    pub fn pauser(&self) -> Pauser {
        self.pauser.clone()
    }

    /// The input data channels (the webrtcbin output only).
    pub fn input_port(&self) -> Option<InputPort> {
        self.input.clone()
    }

    /// The quality monitor's view (the webrtcbin output only: webrtcsink
    /// keeps its peer connection to itself).
    pub fn quality_probe(&self) -> Option<super::quality::QualityProbe> {
        match &self.output {
            Output::Webrtcbin(webrtc) => {
                Some(super::quality::QualityProbe::new(webrtc, self.abr.clone(), self.frames.clone()))
            }
            Output::Webrtcsink(_) => None,
        }
    }

    /// The adaptive-bitrate element, once webrtcbin has placed it.
    pub fn abr(&self) -> Option<gst::Element> {
        self.abr.locked().as_ref().and_then(|w| w.upgrade())
    }

    /// Applies the browser's answer.
    pub fn set_answer(&self, sdp: &str) -> Result<(), MediaError> {
        let msg =
            gst_sdp::SDPMessage::parse_buffer(sdp.as_bytes()).map_err(|_| MediaError::Sdp("unparsable".into()))?;
        if msg.medias_len() == 0 {
            return Err(MediaError::Sdp("no media sections".into()));
        }
        let answer = gst_webrtc::WebRTCSessionDescription::new(gst_webrtc::WebRTCSDPType::Answer, msg);
        match &self.output {
            Output::Webrtcbin(webrtc) => {
                // webrtcbin checks the answer on its own thread and says in the
                // promise's reply whether it took it; the browser is told why not.
                let (tx, rx) = std::sync::mpsc::sync_channel(1);
                let promise = gst::Promise::with_change_func(move |reply| {
                    let refused = match reply {
                        Ok(Some(s)) => s.get::<glib::Error>("error").ok().map(|e| e.message().to_string()),
                        Ok(None) => None,
                        Err(e) => Some(format!("no verdict ({e:?})")),
                    };
                    let _ = tx.send(refused);
                });
                webrtc.emit_by_name::<()>("set-remote-description", &[&answer, &promise]);
                match rx.recv_timeout(ANSWER_VERDICT_WAIT) {
                    Ok(None) => {}
                    Ok(Some(why)) => return Err(MediaError::Sdp(format!("the answer was refused: {why}"))),
                    Err(_) => {
                        return Err(MediaError::Sdp(format!(
                            "no verdict on the answer within {} s",
                            ANSWER_VERDICT_WAIT.as_secs()
                        )))
                    }
                }
            }
            Output::Webrtcsink(signaller) => signaller.answer(&answer),
        }
        Ok(())
    }

    /// Adds a remote candidate; an empty one marks the end of candidates.
    pub fn add_candidate(&self, mline: u32, candidate: &str) -> Result<(), MediaError> {
        if !candidate.is_empty() && !candidate.starts_with("candidate:") {
            return Err(MediaError::Candidate("must start with `candidate:`".into()));
        }
        if candidate.len() > 1024 || candidate.contains(['\r', '\n', '\0']) {
            return Err(MediaError::Candidate("too long or holds line breaks".into()));
        }
        match &self.output {
            Output::Webrtcbin(webrtc) => webrtc.emit_by_name::<()>("add-ice-candidate", &[&mline, &candidate]),
            Output::Webrtcsink(signaller) => signaller.candidate(mline, candidate),
        }
        Ok(())
    }

    /// Takes the pipeline down; blocking (webrtcbin closes its ICE agent).
    pub fn stop(&self) {
        if self.stopped.swap(true, Ordering::SeqCst) {
            return;
        }
        if let Output::Webrtcsink(signaller) = &self.output {
            signaller.detach();
        }
        let _ = self.pipeline.set_state(gst::State::Null);
        if let Some(bus) = self.pipeline.bus() {
            bus.unset_sync_handler();
        }
    }

    pub fn pipeline(&self) -> &gst::Pipeline {
        &self.pipeline
    }

    /// The webrtcbin this stream ends in (the webrtcbin output only).
    pub fn webrtcbin(&self) -> Option<&gst::Element> {
        match &self.output {
            Output::Webrtcbin(webrtc) => Some(webrtc),
            Output::Webrtcsink(_) => None,
        }
    }

    /// The webrtcsink output: raw video and audio from the file's sources
    /// into webrtcsink, which encodes, negotiates and adapts by itself.
    fn start_sink(
        loaded: &Arc<Loaded>,
        params: &Params,
        ice: &IceServers,
        options: &StreamOptions,
        events: UnboundedSender<StreamEvent>,
    ) -> Result<Self, MediaError> {
        let spec = &loaded.spec;
        let pipeline = gst::Pipeline::new();
        let signaller = PlaycastSignaller::new(events.clone());
        let max = params.int("bitrate").map_or(spec.abr.max_bps, |b| b.max(0) as u64).min(u64::from(u32::MAX));
        let turn: Vec<String> = ice.turn_for_webrtcbin().into_iter().collect();
        let sink = sink::make_sink(&signaller, ice.stun_for_webrtcbin(), turn, max as u32)?;
        pipeline.add(&sink)?;
        let paused = Arc::new(AtomicBool::new(false));

        let video = parse_bin(loaded, "video", &raw_video_chain(spec, params, false, false).join(" ! "))?;
        ghost_src(&video, "vqueue")?;
        watch_eos(&video, &events);
        if let Some(pad) = video.by_name("vqueue").and_then(|q| q.static_pad("sink")) {
            gate(&pad, &paused);
        }
        pipeline.add(&video)?;
        link_to_sink(&video, &sink, "video_%u")?;
        if let Some(raw) = raw_audio_chain(spec, params) {
            let bin = parse_bin(loaded, "audio", &format!("{raw} ! queue name=aqueue"))?;
            ghost_src(&bin, "aqueue")?;
            prepare_audio(&bin, &paused, options);
            pipeline.add(&bin)?;
            link_to_sink(&bin, &sink, "audio_%u")?;
        }
        let tx = events.clone();
        sink::on_consumer(&sink, move |webrtcbin| watch_connection(webrtcbin, &tx));
        watch_bus(&pipeline, &events)?;
        let stream = Stream {
            pipeline,
            output: Output::Webrtcsink(signaller),
            encoder: "webrtcsink".into(),
            stopped: AtomicBool::new(false),
            // webrtcsink's encoders answer the browser's key-frame requests themselves.
            pauser: Pauser { paused, encoder: glib::WeakRef::new() },
            input: None,
            abr: AbrSlot::default(),
            frames: None,
        };
        stream
            .pipeline
            .set_state(gst::State::Playing)
            .map_err(|_| MediaError::Gst("the pipeline refused to start".into()))?;
        Ok(stream)
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Hands webrtcbin the adaptive-bitrate element when it sets up the RTP
/// session, in front of which the transport-wide feedback arrives.
fn offer_abr(
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

/// webrtcbin's SCTP elements, which carry only the data channels.
fn is_data_channel_element(src: Option<&gst::Object>) -> bool {
    src.and_then(|o| o.downcast_ref::<gst::Element>())
        .and_then(|e| e.factory())
        .is_some_and(|f| f.name().starts_with("sctp"))
}

/// A source that finishes ends the stream, whether or not data flows to a
/// peer yet: webrtcbin holds its inputs until negotiation completes and posts
/// EOS only once its network sinks see it, so watch in front of the encoder.
fn watch_eos(bin: &gst::Bin, events: &UnboundedSender<StreamEvent>) {
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

fn connect_signals(webrtc: &gst::Element, events: &UnboundedSender<StreamEvent>) {
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
fn watch_connection(webrtc: &gst::Element, events: &UnboundedSender<StreamEvent>) {
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
fn watch_bus(pipeline: &gst::Pipeline, events: &UnboundedSender<StreamEvent>) -> Result<(), MediaError> {
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

/// Exposes `last`'s src pad as the bin's `src`.
fn ghost_src(bin: &gst::Bin, last: &str) -> Result<(), MediaError> {
    let pad = bin
        .by_name(last)
        .and_then(|e| e.static_pad("src"))
        .ok_or_else(|| MediaError::Gst(format!("{last} has no src pad")))?;
    let ghost = gst::GhostPad::builder_with_target(&pad)?.name("src").build();
    ghost.set_active(true)?;
    bin.add_pad(&ghost)?;
    Ok(())
}

fn link_to_sink(bin: &gst::Bin, sink: &gst::Element, template: &str) -> Result<(), MediaError> {
    let pad = sink
        .request_pad_simple(template)
        .ok_or_else(|| MediaError::Gst(format!("webrtcsink gave no {template} pad")))?;
    let src = bin.static_pad("src").ok_or_else(|| MediaError::Gst("bin without src".into()))?;
    src.link(&pad).map(|_| ()).map_err(|e| MediaError::Gst(format!("linking to webrtcsink: {e}")))
}

/// Builds a stream's bin and refuses it when the element policy's deny side
/// refuses any element in it: the file passed the policy when it loaded, and
/// this keeps parameter values from bringing in what the file could not.
fn parse_bin(loaded: &Loaded, field: &str, desc: &str) -> Result<gst::Bin, MediaError> {
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
fn raw_video_chain(spec: &PipelineSpec, params: &Params, scaler: bool, bare: bool) -> Vec<String> {
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
fn raw_audio_chain(spec: &PipelineSpec, params: &Params) -> Option<String> {
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
fn prepare_audio(bin: &gst::Bin, paused: &Arc<AtomicBool>, options: &StreamOptions) {
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
