//! The element's implementation: pads, properties, feedback handling and the
//! actions on the encoder and the scaler.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use playcast_cadence::Cadence;

use crate::encoder;
use crate::estimator::{Bounds, Estimator, PacketResult};
use crate::ladder::{Climber, Ladder, Step};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new("playcastabr", gst::DebugColorFlags::empty(), Some("Playcast adaptive bitrate"))
});

use super::{DEFAULT_MAX_BITRATE as DEFAULT_MAX, DEFAULT_MIN_BITRATE as DEFAULT_MIN, LEAST_BITRATE};
const DEFAULT_START: u32 = 2_000_000;
const DEFAULT_VIDEO_SHARE: f64 = 0.9;
/// How often the estimator looks for a feedback gap, at most.
const TICK_US: i64 = 100_000;
/// A gap this long between buffers means the sender was quiet, not the link.
const QUIET_US: i64 = 500_000;
/// Increases reach the encoder at most this often; decreases at once.
const INCREASE_EVERY_US: i64 = 500_000;
/// Changes smaller than this fraction are not worth an encoder reconfiguration.
const DEADBAND: f64 = 0.05;

const DEFAULT_BITRATE_PROPERTY: &str = "bitrate";

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Debug, Clone)]
struct Settings {
    min_bps: u32,
    max_bps: u32,
    start_bps: u32,
    adapt: bool,
    video_share: f64,
    encoder: glib::WeakRef<gst::Element>,
    /// The encoder's bitrate property, as the element is told it.
    bitrate_property: String,
    /// bit/s per unit of that property; 0: not told, the bitrate is left alone.
    bitrate_unit: u32,
    scaler: glib::WeakRef<gst::Element>,
    ladder: Ladder,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            min_bps: DEFAULT_MIN,
            max_bps: DEFAULT_MAX,
            start_bps: DEFAULT_START,
            adapt: true,
            video_share: DEFAULT_VIDEO_SHARE,
            encoder: Default::default(),
            bitrate_property: DEFAULT_BITRATE_PROPERTY.to_string(),
            bitrate_unit: 0,
            scaler: Default::default(),
            ladder: Ladder::default(),
        }
    }
}

struct State {
    estimator: Estimator,
    climber: Climber,
    epoch: Instant,
    /// Last transport-wide sequence number seen, unwrapped.
    last_seq: Option<u64>,
    /// What the encoder was last set to, bit/s.
    applied_bps: Option<u64>,
    last_increase_us: i64,
    last_tick_us: i64,
    reports: u64,
    /// Estimate, step and application-limited state last posted.
    posted: Option<(u64, usize, bool)>,
    warned_encoder: bool,
}

impl State {
    fn new(s: &Settings) -> Self {
        let bounds =
            Bounds { min_bps: u64::from(s.min_bps), max_bps: u64::from(s.max_bps), start_bps: u64::from(s.start_bps) };
        let mut estimator = Estimator::new(bounds);
        estimator.set_sender_share(s.video_share);
        let start_video = (estimator.target_bps() as f64 * s.video_share) as u64;
        State {
            estimator,
            climber: Climber::new(s.ladder.clone(), start_video),
            epoch: Instant::now(),
            last_seq: None,
            applied_bps: None,
            last_increase_us: i64::MIN / 2,
            last_tick_us: 0,
            reports: 0,
            posted: None,
            warned_encoder: false,
        }
    }

    fn now_us(&self) -> i64 {
        self.epoch.elapsed().as_micros().min(i64::MAX as u128) as i64
    }

    /// Extends a 16-bit transport-wide sequence number to 64 bits.
    fn unwrap_seq(&mut self, seq: u16) -> u64 {
        let v = match self.last_seq {
            None => (1u64 << 32) + u64::from(seq),
            Some(last) => {
                let diff = seq.wrapping_sub(last as u16) as i16;
                last.saturating_add_signed(i64::from(diff))
            }
        };
        if self.last_seq.is_none_or(|l| v > l) {
            self.last_seq = Some(v);
        }
        v
    }
}

/// What to do outside the locks after the estimate moved.
#[derive(Default)]
struct Actions {
    encoder_bps: Option<u64>,
    step: Option<Step>,
    post: Option<gst::Structure>,
    notify: bool,
}

pub struct Abr {
    sinkpad: gst::Pad,
    srcpad: gst::Pad,
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
    gate: Arc<Gate>,
    probe: Mutex<Option<(gst::Pad, gst::PadProbeId)>>,
}

/// Shared with the probe on the scaler's input.
#[derive(Default)]
struct Gate {
    /// Frame-rate ceiling of the current ladder step (0: none).
    fps: AtomicU32,
    /// A step whose size is still to be applied.
    pending: Mutex<Option<Step>>,
    /// The schedule of the frames the gate lets through.
    last: Mutex<Option<Cadence>>,
}

impl Abr {
    /// Runs `f` on the state (made from the settings if the element has not
    /// started). Lock order: state, then settings.
    fn with_state<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let mut guard = lock(&self.state);
        let state = guard.get_or_insert_with(|| State::new(&lock(&self.settings)));
        f(state)
    }

    fn chain(&self, buffer: gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> {
        self.tick();
        self.srcpad.push(buffer)
    }

    fn chain_list(&self, list: gst::BufferList) -> Result<gst::FlowSuccess, gst::FlowError> {
        self.tick();
        self.srcpad.push_list(list)
    }

    /// Lets the estimator notice a feedback gap; driven by the media itself.
    fn tick(&self) {
        // Runs for every packet: only the clock is read until a tick is due.
        let actions = self.with_state(|state| {
            let now = state.now_us();
            let since = now - state.last_tick_us;
            if since < TICK_US {
                return None;
            }
            state.last_tick_us = now;
            if since >= QUIET_US && state.reports > 0 {
                // Nothing was sent (a paused stream): no feedback was due.
                state.estimator.on_quiet_end(now);
            } else {
                state.estimator.on_tick(now);
            }
            Some(self.decide(state, now))
        });
        if let Some(a) = actions {
            self.act(a);
        }
    }

    fn src_event(&self, pad: &gst::Pad, event: gst::Event) -> bool {
        if let gst::EventView::CustomUpstream(ev) = event.view() {
            if let Some(s) = ev.structure().filter(|s| s.name() == super::TWCC_EVENT) {
                self.on_twcc(s);
                return true;
            }
        }
        gst::Pad::event_default(pad, Some(&*self.obj()), event)
    }

    /// One transport-wide feedback report from the RTP session.
    fn on_twcc(&self, s: &gst::StructureRef) {
        let Ok(array) = s.get::<&glib::ValueArray>("packets") else {
            gst::warning!(CAT, imp = self, "feedback without a packet list: {s}");
            return;
        };
        let actions = self.with_state(|state| {
            let packets: Vec<PacketResult> = array
                .iter()
                // Borrowed, not copied: a report carries up to hundreds of packets.
                .filter_map(|v| v.get::<&gst::StructureRef>().ok())
                .filter_map(|p| packet_result(state, p))
                .collect();
            let now = state.now_us();
            state.reports += 1;
            state.estimator.on_feedback(now, &packets);
            gst::trace!(CAT, imp = self, "{} packets, estimate {}", packets.len(), state.estimator.target_bps());
            self.decide(state, now)
        });
        self.act(actions);
    }

    fn receiver_report(&self, fraction_lost: f64) {
        let actions = self.with_state(|state| {
            let now = state.now_us();
            state.estimator.on_receiver_report(now, fraction_lost);
            self.decide(state, now)
        });
        self.act(actions);
    }

    /// Turns the estimate into actions: encoder bitrate, ladder step, message.
    fn decide(&self, state: &mut State, now: i64) -> Actions {
        let settings = lock(&self.settings);
        // The sender fills the video's share of the estimate (plus the
        // audio): well under it, the stream is application-limited.
        state.estimator.set_sender_share(settings.video_share);
        let estimate = state.estimator.target_bps();
        let mut actions = Actions::default();
        let video = ((estimate as f64 * settings.video_share) as u64)
            .clamp(u64::from(settings.min_bps), u64::from(settings.max_bps.max(settings.min_bps)));
        if settings.adapt {
            let change = state.applied_bps.map_or(f64::INFINITY, |a| (video as f64 - a as f64) / a.max(1) as f64);
            let lower = change < -DEADBAND;
            let higher = change > DEADBAND && now - state.last_increase_us >= INCREASE_EVERY_US;
            if lower || higher {
                if higher {
                    state.last_increase_us = now;
                }
                state.applied_bps = Some(video);
                actions.encoder_bps = Some(video);
            }
            actions.step = state.climber.observe(now, video);
        }
        let step = state.climber.index();
        let app_limited = state.estimator.sender().app_limited;
        let moved = state.posted.is_none_or(|(bps, s, limited)| {
            s != step || limited != app_limited || (estimate as f64 - bps as f64).abs() > DEADBAND * bps.max(1) as f64
        });
        if moved {
            state.posted = Some((estimate, step, app_limited));
            actions.notify = true;
            let mut b = gst::Structure::builder(super::MESSAGE)
                .field("estimated-bitrate", estimate)
                .field("target-bitrate", state.applied_bps.unwrap_or(video))
                .field("ladder-step", step as u32)
                .field("feedback-reports", state.reports)
                .field("app-limited", app_limited);
            if let Some(s) = state.climber.current() {
                b = b.field("width", s.width).field("height", s.height).field("framerate", s.fps);
            }
            actions.post = Some(b.build());
        }
        actions
    }

    fn act(&self, actions: Actions) {
        let settings = lock(&self.settings).clone();
        if let Some(bps) = actions.encoder_bps {
            self.set_encoder(&settings, bps);
        }
        if let Some(step) = actions.step {
            gst::info!(CAT, imp = self, "ladder step {}x{}@{}", step.width, step.height, step.fps);
            self.apply_step(step);
        }
        if actions.notify {
            self.obj().notify("estimated-bitrate");
        }
        if let Some(s) = actions.post {
            let _ = self.obj().post_message(gst::message::Element::builder(s).src(&*self.obj()).build());
        }
    }

    fn set_encoder(&self, settings: &Settings, bps: u64) {
        let Some(enc) = settings.encoder.upgrade() else { return };
        let factory = enc.factory().map(|f| f.name().to_string()).unwrap_or_default();
        if settings.bitrate_unit == 0 {
            let mut state = lock(&self.state);
            if let Some(s) = state.as_mut().filter(|s| !s.warned_encoder) {
                s.warned_encoder = true;
                gst::warning!(CAT, imp = self, "no bitrate-unit for encoder `{factory}`; bitrate left alone");
            }
            return;
        }
        match encoder::set_bitrate(&enc, &settings.bitrate_property, u64::from(settings.bitrate_unit), bps) {
            Ok(v) => gst::debug!(CAT, imp = self, "{factory} bitrate set to {v} bit/s"),
            Err(e) => gst::warning!(CAT, imp = self, "{factory}: {e}"),
        }
    }

    /// Caps the frame rate at once; the size changes at the next frame,
    /// where the scaler's input size is known.
    fn apply_step(&self, step: Step) {
        self.gate.fps.store(step.fps, Ordering::Relaxed);
        *lock(&self.gate.pending) = Some(step);
    }

    /// Installs the frame-rate gate and size switch on the scaler's input.
    fn set_scaler(&self, scaler: Option<gst::Element>) {
        if let Some((pad, id)) = lock(&self.probe).take() {
            pad.remove_probe(id);
        }
        lock(&self.settings).scaler = scaler.as_ref().map(|s| s.downgrade()).unwrap_or_default();
        let Some(pad) = scaler.and_then(|s| s.static_pad("sink")) else { return };
        let gate = self.gate.clone();
        let id = pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
            if let Some(step) = lock(&gate.pending).take() {
                if let Some(scaler) = pad.parent_element() {
                    let caps = scaled_caps(step, source_size(pad));
                    gst::debug!(CAT, obj = scaler, "ladder caps {caps}");
                    scaler.set_property("caps", caps);
                }
                // A step at or above the stream's own frame rate caps nothing.
                // Gating there would only drop the frames a screen-change
                // capture sends between its regular ones, and those are the
                // frames that answer the player's input.
                if source_fps(pad).is_some_and(|fps| f64::from(step.fps) >= fps) {
                    gate.fps.store(0, Ordering::Relaxed);
                }
            }
            let limit = gate.fps.load(Ordering::Relaxed);
            match info.buffer().and_then(|b| b.pts()) {
                Some(pts) if limit > 0 && !keep_frame(&mut lock(&gate.last), pts, limit) => {
                    crate::probe::drop_buffer(info)
                }
                _ => gst::PadProbeReturn::Ok,
            }
        });
        if let Some(id) = id {
            *lock(&self.probe) = Some((pad, id));
        }
    }
}

/// The picture size in front of the scaling element that feeds `pad`: the
/// source's size, whatever the ladder step is now.
fn source_size(pad: &gst::Pad) -> Option<(i32, i32)> {
    let size = |caps: gst::Caps| {
        let s = caps.structure(0)?;
        Some((s.get::<i32>("width").ok()?, s.get::<i32>("height").ok()?))
    };
    pad.peer()
        .and_then(|p| p.parent_element())
        .and_then(|scale| scale.static_pad("sink"))
        .and_then(|p| p.current_caps())
        .and_then(size)
        .or_else(|| pad.current_caps().and_then(size))
}

/// The frame rate the stream's caps declare at `pad`; `None` when unknown or
/// variable (0/1).
fn source_fps(pad: &gst::Pad) -> Option<f64> {
    let caps = pad.current_caps()?;
    let rate = caps.structure(0)?.get::<gst::Fraction>("framerate").ok()?;
    (rate.numer() > 0 && rate.denom() > 0).then(|| f64::from(rate.numer()) / f64::from(rate.denom()))
}

/// Whether a frame at `pts` passes a `fps` ceiling, by the rule the capture
/// (`playcastx11src`) grabs by too, `playcast_cadence::Cadence`: each frame
/// is due one interval after the one before was due and may go from when
/// that one was due, not within half an interval of it. The capture holds an
/// early change for its slot; the gate cannot hold a frame and drops it. A
/// source at the ceiling, its jitter included, passes whole.
pub(crate) fn keep_frame(cadence: &mut Option<Cadence>, pts: gst::ClockTime, fps: u32) -> bool {
    let rate = i32::try_from(fps.max(1)).unwrap_or(i32::MAX);
    let interval = playcast_cadence::frame_interval(rate, 1).unwrap_or(Duration::from_secs(1));
    let cadence = cadence.get_or_insert_with(|| Cadence::new(interval));
    if cadence.interval() != interval {
        cadence.set_interval(interval);
    }
    let at = Duration::from_nanos(pts.nseconds());
    let pass = cadence.admits(at);
    if pass {
        cadence.went(at);
    }
    pass
}

/// Caps for the scaler: the step's height at the source's aspect ratio, or
/// no constraint when the step is not smaller than the source.
pub(crate) fn scaled_caps(step: Step, input: Option<(i32, i32)>) -> gst::Caps {
    let mut b = gst::Caps::builder("video/x-raw");
    match input {
        Some((w, h)) if w > 0 && h > 0 => {
            if step.height < h as u32 {
                let width = (u64::from(step.height) * w as u64 / h as u64) & !1;
                b = b.field("width", width.max(16) as i32).field("height", step.height as i32);
            }
        }
        _ => b = b.field("width", step.width as i32).field("height", step.height as i32),
    }
    b.build()
}

/// The field names of a feedback packet as quarks, looked up once: a name
/// costs a lookup in GLib's global, locked quark table every time.
struct PacketFields {
    seqnum: glib::Quark,
    local_ts: glib::Quark,
    lost: glib::Quark,
    remote_ts: glib::Quark,
    size: glib::Quark,
}

static FIELDS: LazyLock<PacketFields> = LazyLock::new(|| PacketFields {
    seqnum: glib::Quark::from_str("seqnum"),
    local_ts: glib::Quark::from_str("local-ts"),
    lost: glib::Quark::from_str("lost"),
    remote_ts: glib::Quark::from_str("remote-ts"),
    size: glib::Quark::from_str("size"),
});

// The quark getters are deprecated for the id-string ones, which on
// GStreamer 1.22 look every name up again.
#[allow(deprecated)]
fn packet_result(state: &mut State, p: &gst::StructureRef) -> Option<PacketResult> {
    let f = &*FIELDS;
    let seq = u16::try_from(p.get_by_quark::<u32>(f.seqnum).ok()?).ok()?;
    let local = p.get_by_quark::<u64>(f.local_ts).ok().filter(|&t| t != u64::MAX)?;
    let lost = p.get_by_quark::<bool>(f.lost).unwrap_or(false);
    let remote = p.get_by_quark::<u64>(f.remote_ts).ok().filter(|&t| t != u64::MAX && !lost);
    let size = p.get_by_quark::<u32>(f.size).unwrap_or(0) as usize;
    let us = |ns: u64| (ns / 1000).min(i64::MAX as u64) as i64;
    Some(PacketResult { seq: state.unwrap_seq(seq), send_us: us(local), arrival_us: remote.map(us), size })
}

#[glib::object_subclass]
impl ObjectSubclass for Abr {
    const NAME: &'static str = "GstPlaycastAbr";
    type Type = super::Abr;
    type ParentType = gst::Element;

    fn with_class(klass: &Self::Class) -> Self {
        let sinkpad = gst::Pad::builder_from_template(&klass.pad_template("sink").expect("sink template"))
            .chain_function(|_, parent, buffer| {
                Abr::catch_panic_pad_function(parent, || Err(gst::FlowError::Error), |abr| abr.chain(buffer))
            })
            .chain_list_function(|_, parent, list| {
                Abr::catch_panic_pad_function(parent, || Err(gst::FlowError::Error), |abr| abr.chain_list(list))
            })
            .flags(gst::PadFlags::PROXY_CAPS | gst::PadFlags::PROXY_ALLOCATION)
            .build();
        let srcpad = gst::Pad::builder_from_template(&klass.pad_template("src").expect("src template"))
            .event_function(|pad, parent, event| {
                Abr::catch_panic_pad_function(parent, || false, |abr| abr.src_event(pad, event))
            })
            .flags(gst::PadFlags::PROXY_CAPS | gst::PadFlags::PROXY_ALLOCATION)
            .build();
        Abr {
            sinkpad,
            srcpad,
            settings: Mutex::new(Settings::default()),
            state: Mutex::new(None),
            gate: Arc::default(),
            probe: Mutex::new(None),
        }
    }
}

impl ObjectImpl for Abr {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPS: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecUInt::builder("min-bitrate")
                    .nick("Minimum bitrate")
                    .blurb("Lowest estimate, in bit/s (read when the element starts)")
                    .minimum(LEAST_BITRATE)
                    .default_value(DEFAULT_MIN)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("max-bitrate")
                    .nick("Maximum bitrate")
                    .blurb("Highest estimate, in bit/s (read when the element starts)")
                    .minimum(LEAST_BITRATE)
                    .default_value(DEFAULT_MAX)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("start-bitrate")
                    .nick("Start bitrate")
                    .blurb("Estimate before any feedback, in bit/s (read when the element starts)")
                    .minimum(LEAST_BITRATE)
                    .default_value(DEFAULT_START)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("estimated-bitrate")
                    .nick("Estimated bitrate")
                    .blurb("Current bandwidth estimate for all media, in bit/s (notified on change)")
                    .read_only()
                    .build(),
                glib::ParamSpecUInt::builder("target-bitrate")
                    .nick("Target bitrate")
                    .blurb("Video bitrate last given to the encoder, in bit/s")
                    .read_only()
                    .build(),
                glib::ParamSpecBoolean::builder("adapt")
                    .nick("Adapt")
                    .blurb("Act on the estimate (encoder bitrate and ladder); off: only estimate")
                    .default_value(true)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("video-share")
                    .nick("Video share")
                    .blurb("Fraction of the estimate given to the video encoder; the rest covers audio, RTP and retransmissions")
                    .minimum(0.1)
                    .maximum(1.0)
                    .default_value(DEFAULT_VIDEO_SHARE)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecObject::builder::<gst::Element>("encoder")
                    .nick("Encoder")
                    .blurb("The H.264 encoder whose bitrate follows the estimate, through bitrate-property in bitrate-unit")
                    .mutable_playing()
                    .build(),
                glib::ParamSpecString::builder("bitrate-property")
                    .nick("Bitrate property")
                    .blurb("Name of the encoder's bitrate property")
                    .default_value(Some(DEFAULT_BITRATE_PROPERTY))
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("bitrate-unit")
                    .nick("Bitrate unit")
                    .blurb("bit/s per unit of the encoder's bitrate property (1 for bit/s, 1000 for kbit/s); 0 leaves the bitrate alone")
                    .default_value(0)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecObject::builder::<gst::Element>("scaler")
                    .nick("Scaler")
                    .blurb("A capsfilter behind a videoscale, in front of the encoder: the ladder sets its size and gates its frame rate")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("ladder")
                    .nick("Ladder")
                    .blurb("Resolution and frame-rate steps, best first, each with the least bitrate it needs: \"1920x1080@60:6000000, 1280x720@60:3000000, 1280x720@30:1500000\"")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("ladder-step")
                    .nick("Ladder step")
                    .blurb("Index of the current ladder step, 0 being the best")
                    .read_only()
                    .build(),
                glib::ParamSpecUInt64::builder("feedback-reports")
                    .nick("Feedback reports")
                    .blurb("Transport-wide feedback reports received")
                    .read_only()
                    .build(),
            ]
        });
        PROPS.as_ref()
    }

    fn signals() -> &'static [glib::subclass::Signal] {
        static SIGNALS: LazyLock<Vec<glib::subclass::Signal>> = LazyLock::new(|| {
            vec![glib::subclass::Signal::builder("receiver-report")
                .param_types([f64::static_type()])
                .action()
                .class_handler(|args| {
                    let abr = args[0].get::<super::Abr>().expect("signal receiver");
                    let fraction = args[1].get::<f64>().unwrap_or(0.0);
                    abr.imp().receiver_report(fraction);
                    None
                })
                .build()]
        });
        SIGNALS.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        match pspec.name() {
            "scaler" => {
                self.set_scaler(value.get::<Option<gst::Element>>().ok().flatten());
                return;
            }
            "ladder" => {
                let text = value.get::<Option<String>>().ok().flatten().unwrap_or_default();
                match text.parse::<Ladder>() {
                    Ok(l) => lock(&self.settings).ladder = l,
                    Err(e) => gst::element_imp_error!(self, gst::LibraryError::Settings, ("invalid ladder: {e}")),
                }
            }
            _ => {}
        }
        let mut s = lock(&self.settings);
        match pspec.name() {
            "min-bitrate" => s.min_bps = value.get().unwrap_or(DEFAULT_MIN),
            "max-bitrate" => s.max_bps = value.get().unwrap_or(DEFAULT_MAX),
            "start-bitrate" => s.start_bps = value.get().unwrap_or(DEFAULT_START),
            "adapt" => s.adapt = value.get().unwrap_or(true),
            "video-share" => s.video_share = value.get().unwrap_or(DEFAULT_VIDEO_SHARE),
            "bitrate-property" => {
                s.bitrate_property =
                    value.get::<Option<String>>().ok().flatten().unwrap_or_else(|| DEFAULT_BITRATE_PROPERTY.to_string())
            }
            "bitrate-unit" => s.bitrate_unit = value.get().unwrap_or(0),
            "encoder" => {
                s.encoder =
                    value.get::<Option<gst::Element>>().ok().flatten().map(|e| e.downgrade()).unwrap_or_default();
            }
            _ => {}
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = lock(&self.settings).clone();
        let state = lock(&self.state);
        let clamp32 = |v: u64| v.min(u64::from(u32::MAX)) as u32;
        match pspec.name() {
            "min-bitrate" => s.min_bps.to_value(),
            "max-bitrate" => s.max_bps.to_value(),
            "start-bitrate" => s.start_bps.to_value(),
            "estimated-bitrate" => {
                state.as_ref().map_or(s.start_bps, |st| clamp32(st.estimator.target_bps())).to_value()
            }
            "target-bitrate" => state.as_ref().and_then(|st| st.applied_bps).map_or(0, clamp32).to_value(),
            "adapt" => s.adapt.to_value(),
            "video-share" => s.video_share.to_value(),
            "encoder" => s.encoder.upgrade().to_value(),
            "bitrate-property" => s.bitrate_property.to_value(),
            "bitrate-unit" => s.bitrate_unit.to_value(),
            "scaler" => s.scaler.upgrade().to_value(),
            "ladder" => s.ladder.to_string().to_value(),
            "ladder-step" => state.as_ref().map_or(0, |st| st.climber.index() as u32).to_value(),
            "feedback-reports" => state.as_ref().map_or(0, |st| st.reports).to_value(),
            _ => glib::Value::from_type(pspec.value_type()),
        }
    }

    fn constructed(&self) {
        self.parent_constructed();
        let obj = self.obj();
        obj.add_pad(&self.sinkpad).expect("adding sink pad");
        obj.add_pad(&self.srcpad).expect("adding src pad");
    }
}

impl GstObjectImpl for Abr {}

impl ElementImpl for Abr {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Playcast adaptive bitrate",
                "Filter/Network/RTP",
                "Estimates bandwidth from transport-wide congestion control feedback and drives the encoder's bitrate and a resolution/frame-rate ladder",
                "Playcast",
            )
        });
        Some(&META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let caps = gst::Caps::new_empty_simple("application/x-rtp");
            vec![
                gst::PadTemplate::new("sink", gst::PadDirection::Sink, gst::PadPresence::Always, &caps)
                    .expect("sink template"),
                gst::PadTemplate::new("src", gst::PadDirection::Src, gst::PadPresence::Always, &caps)
                    .expect("src template"),
            ]
        });
        TEMPLATES.as_ref()
    }

    fn change_state(&self, transition: gst::StateChange) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        if transition == gst::StateChange::ReadyToPaused {
            // Bounds and ladder are read here; the first step applies at once.
            let settings = lock(&self.settings).clone();
            let state = State::new(&settings);
            let first = state.climber.current();
            *lock(&self.state) = Some(state);
            if let Some(step) = first {
                self.apply_step(step);
            }
        }
        let ret = self.parent_change_state(transition)?;
        if transition == gst::StateChange::PausedToReady {
            *lock(&self.state) = None;
        }
        Ok(ret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> gst::ClockTime {
        gst::ClockTime::from_mseconds(v)
    }

    #[test]
    fn the_gate_halves_60_to_30_and_passes_60_whole() {
        let kept = |fps: u32, limit: u32| {
            let mut last = None;
            (0..120u64)
                .filter(|i| {
                    keep_frame(&mut last, gst::ClockTime::from_nseconds(i * 1_000_000_000 / u64::from(fps)), limit)
                })
                .count()
        };
        assert_eq!(kept(60, 60), 120);
        assert!((59..=61).contains(&kept(60, 30)), "{}", kept(60, 30));
        assert_eq!(kept(30, 60), 120);
        assert!((38..=42).contains(&kept(120, 40)), "{}", kept(120, 40));
        // A pause restarts the count from the next frame instead of bursting.
        let mut last = None;
        assert!(keep_frame(&mut last, ms(0), 30));
        assert!(keep_frame(&mut last, ms(5000), 30));
        assert!(!keep_frame(&mut last, ms(5010), 30));
        // Time going backwards does not stall the gate.
        assert!(keep_frame(&mut last, ms(10), 30));
    }

    #[test]
    fn the_gate_keeps_the_capture_s_schedule() {
        // 30 fps: each frame due 33.3 ms after the last was due, passing from
        // when that one was due but not within 16.7 ms of it.
        let mut last = None;
        let passed: Vec<u64> =
            [0u64, 50, 75, 84, 100, 110, 118, 151].into_iter().filter(|&t| keep_frame(&mut last, ms(t), 30)).collect();
        assert_eq!(passed, vec![0, 50, 75, 100, 118, 151]);
        // Jitter of a source at the ceiling does not drop a frame.
        let mut last = None;
        let jittered = (1..60u64).map(|i| i * 33_333 + if i % 2 == 0 { 8_000 } else { 0 });
        assert!(jittered.map(gst::ClockTime::from_useconds).all(|t| keep_frame(&mut last, t, 30)));
        // What a capture grabbing by the same rule at 60 fps sends (a game
        // drawing every millisecond) passes a gate at 60 whole.
        let mut capture = Cadence::new(Duration::from_nanos(16_666_667));
        let mut last = None;
        for t in (0..5_000u64).map(Duration::from_millis) {
            if capture.admits(t) {
                capture.went(t);
                let pts = gst::ClockTime::from_nseconds(t.as_nanos() as u64);
                assert!(keep_frame(&mut last, pts, 60), "frame at {t:?}");
            }
        }
    }

    #[test]
    fn scaled_caps_keep_the_aspect_and_never_upscale() {
        gst::init().unwrap();
        let step = Step { width: 1280, height: 720, fps: 60, min_bps: 1 };
        let s = scaled_caps(step, Some((1920, 1080)));
        assert_eq!(s.to_string(), "video/x-raw, width=(int)1280, height=(int)720");
        let s = scaled_caps(step, Some((1600, 1200)));
        assert_eq!(s.to_string(), "video/x-raw, width=(int)960, height=(int)720");
        assert_eq!(scaled_caps(step, Some((1280, 720))).to_string(), "video/x-raw");
        assert_eq!(scaled_caps(step, Some((640, 360))).to_string(), "video/x-raw");
        assert_eq!(scaled_caps(step, None).to_string(), "video/x-raw, width=(int)1280, height=(int)720");
    }
}
