//! The element: a live push source whose `create` waits for damage, paced
//! by [`Pacer`]: grabs no more often than the negotiated frame rate (the
//! shared `playcast_cadence` rule), a change in an open slot at once, an
//! early one when the slot opens, and a keep-alive grab of a still screen.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::base_src::CreateSuccess;
use gst_base::subclass::prelude::*;

use super::grab::{self, Screen, Wake};
use super::pace::{self, Pace, Pacer};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new("playcastx11src", gst::DebugColorFlags::empty(), Some("X11 capture on damage"))
});

const DEFAULT_MIN_INTERVAL_MS: u32 = 5;
/// The keep-alive of a still screen: 10 frames a second. Chromium counts a
/// freeze when a frame comes more than max(3 × the average frame gap, the
/// average + 150 ms) after the one before (its video quality observer, over
/// the last 30 frames), so right after motion at up to 144 fps any gap under
/// ~157 ms passes; 100 ms leaves room for the network's jitter. The frames
/// also keep packets, and so transport-wide feedback to the ABR estimator,
/// flowing ten times a second, and answer a key-frame request within 100 ms.
const DEFAULT_IDLE_INTERVAL_MS: u32 = 100;
/// How much later than its slot a waiting change's grab may start and still
/// count (and be stamped) as taken at the slot; a later wake (a stalled
/// machine) counts from when it happened, so a timestamp never claims a
/// picture more than this before it was read.
const SLOT_WAKE_SLACK: Duration = Duration::from_millis(2);
/// The frame rate fixated when downstream leaves it open.
const DEFAULT_FPS: i32 = 60;
const MAX_FPS: i32 = 240;

#[derive(Debug, Clone)]
struct Settings {
    display: Option<String>,
    min_interval_ms: u32,
    idle_interval_ms: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings { display: None, min_interval_ms: DEFAULT_MIN_INTERVAL_MS, idle_interval_ms: DEFAULT_IDLE_INTERVAL_MS }
    }
}

struct State {
    screen: Screen,
    /// Readable when `unlock` wants `create` to return.
    wake: UnixStream,
    pacer: Pacer,
    /// Times the pacing when the element has no clock (no running time).
    started: Instant,
    settings: Settings,
}

#[derive(Default)]
pub struct X11Src {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
    /// The screen's size, apart from the state `create` holds while it waits,
    /// so a caps query never waits for a grab.
    size: Mutex<Option<(u16, u16)>>,
    /// The negotiated frame rate's interval (`None`: variable or not yet
    /// negotiated); `create` paces by it.
    frame_interval: Mutex<Option<Duration>>,
    /// The writing end of the wake pair, apart from the state `create` holds.
    waker: Mutex<Option<UnixStream>>,
    flushing: AtomicBool,
}

#[glib::object_subclass]
impl ObjectSubclass for X11Src {
    const NAME: &'static str = "GstPlaycastX11Src";
    type Type = super::X11Src;
    type ParentType = gst_base::PushSrc;
}

impl ObjectImpl for X11Src {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPS: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecString::builder("display-name")
                    .nick("Display")
                    .blurb("X display to capture, like :3 (default: $DISPLAY)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("min-interval")
                    .nick("Minimum interval")
                    .blurb(
                        "Least frame interval, in milliseconds, on top of the negotiated frame rate \
                         (grabs keep to the frame rate's interval; this can only lengthen it, and is the \
                         only limit when the caps say 0/1, a variable rate)",
                    )
                    .minimum(1)
                    .maximum(1000)
                    .default_value(DEFAULT_MIN_INTERVAL_MS)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("idle-interval")
                    .nick("Idle interval")
                    .blurb(
                        "Keep-alive: a still screen is grabbed again this many milliseconds after the \
                         last grab (never sooner than the frame interval). The default 100 stays under \
                         the ~157 ms gap at which Chromium counts a freeze after 144 fps motion, and \
                         keeps congestion-control feedback coming",
                    )
                    .minimum(10)
                    .maximum(10_000)
                    .default_value(DEFAULT_IDLE_INTERVAL_MS)
                    .mutable_ready()
                    .build(),
            ]
        });
        &PROPS
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap_or_else(|e| e.into_inner());
        match pspec.name() {
            "display-name" => s.display = value.get().ok().flatten(),
            "min-interval" => s.min_interval_ms = value.get().unwrap_or(DEFAULT_MIN_INTERVAL_MS),
            "idle-interval" => s.idle_interval_ms = value.get().unwrap_or(DEFAULT_IDLE_INTERVAL_MS),
            other => gst::warning!(CAT, imp = self, "no property {other}"),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings.lock().unwrap_or_else(|e| e.into_inner());
        match pspec.name() {
            "display-name" => s.display.to_value(),
            "min-interval" => s.min_interval_ms.to_value(),
            _ => s.idle_interval_ms.to_value(),
        }
    }

    fn constructed(&self) {
        self.parent_constructed();
        let obj = self.obj();
        obj.set_live(true);
        obj.set_format(gst::Format::Time);
        obj.set_do_timestamp(false);
    }
}

impl GstObjectImpl for X11Src {}

impl ElementImpl for X11Src {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "X11 capture on damage",
                "Source/Video",
                "Captures an X screen when it changes (DAMAGE, MIT-SHM)",
                "Playcast",
            )
        });
        Some(&META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let caps = gst_video::VideoCapsBuilder::new()
                .format(gst_video::VideoFormat::Bgrx)
                .framerate_range(gst::Fraction::new(0, 1)..=gst::Fraction::new(MAX_FPS, 1))
                .build();
            vec![gst::PadTemplate::new("src", gst::PadDirection::Src, gst::PadPresence::Always, &caps)
                .expect("a valid template")]
        });
        &TEMPLATES
    }
}

impl BaseSrcImpl for X11Src {
    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let settings = self.settings.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let screen = Screen::open(settings.display.as_deref()).map_err(|e| {
            gst::error_msg!(gst::ResourceError::OpenRead, ["cannot capture X display {:?}: {}", settings.display, e])
        })?;
        gst::info!(
            CAT,
            imp = self,
            "capturing {}x{}, shared memory: {}",
            screen.width,
            screen.height,
            screen.shared_memory()
        );
        let (wake, waker) =
            UnixStream::pair().map_err(|e| gst::error_msg!(gst::ResourceError::OpenRead, ["wake pair: {}", e]))?;
        let _ = wake.set_nonblocking(true);
        *self.waker.lock().unwrap_or_else(|e| e.into_inner()) = Some(waker);
        *self.size.lock().unwrap_or_else(|e| e.into_inner()) = Some((screen.width, screen.height));
        let pacer =
            Pacer::new(min_interval(&settings, None), Duration::from_millis(u64::from(settings.idle_interval_ms)));
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(State { screen, wake, pacer, started: Instant::now(), settings });
        self.flushing.store(false, Ordering::SeqCst);
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) = None;
        *self.size.lock().unwrap_or_else(|e| e.into_inner()) = None;
        *self.frame_interval.lock().unwrap_or_else(|e| e.into_inner()) = None;
        *self.waker.lock().unwrap_or_else(|e| e.into_inner()) = None;
        Ok(())
    }

    fn is_seekable(&self) -> bool {
        false
    }

    fn caps(&self, filter: Option<&gst::Caps>) -> Option<gst::Caps> {
        let size = *self.size.lock().unwrap_or_else(|e| e.into_inner());
        let caps = match size {
            Some((w, h)) => gst_video::VideoCapsBuilder::new()
                .format(gst_video::VideoFormat::Bgrx)
                .width(i32::from(w))
                .height(i32::from(h))
                .pixel_aspect_ratio(gst::Fraction::new(1, 1))
                .framerate_range(gst::Fraction::new(0, 1)..=gst::Fraction::new(MAX_FPS, 1))
                .build(),
            None => self.obj().src_pad().pad_template_caps(),
        };
        Some(match filter {
            Some(f) => f.intersect_with_mode(&caps, gst::CapsIntersectMode::First),
            None => caps,
        })
    }

    fn fixate(&self, mut caps: gst::Caps) -> gst::Caps {
        caps.truncate();
        if let Some(s) = caps.make_mut().structure_mut(0) {
            // Only when downstream leaves the rate open: the pipeline files set
            // the stream's rate in caps after the source, and that caps the grabs.
            s.fixate_field_nearest_fraction("framerate", gst::Fraction::new(DEFAULT_FPS, 1));
        }
        self.parent_fixate(caps)
    }

    fn set_caps(&self, caps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let rate = caps.structure(0).and_then(|s| s.get::<gst::Fraction>("framerate").ok());
        let interval = rate.and_then(|r| pace::frame_interval(r.numer(), r.denom()));
        gst::info!(CAT, imp = self, "frame rate {rate:?}: at most one grab every {interval:?}");
        *self.frame_interval.lock().unwrap_or_else(|e| e.into_inner()) = interval;
        Ok(())
    }

    fn unlock(&self) -> Result<(), gst::ErrorMessage> {
        self.flushing.store(true, Ordering::SeqCst);
        if let Some(w) = self.waker.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            let _ = w.write_all(&[1]);
        }
        Ok(())
    }

    fn unlock_stop(&self) -> Result<(), gst::ErrorMessage> {
        self.flushing.store(false, Ordering::SeqCst);
        Ok(())
    }
}

impl X11Src {
    /// Now in the times the pacer and the frames use: the running time, or
    /// the time since start when there is no clock.
    fn now(&self, state: &State) -> Duration {
        self.running_time().unwrap_or_else(|| state.started.elapsed())
    }

    fn running_time(&self) -> Option<Duration> {
        self.obj().current_running_time().map(|t| Duration::from_nanos(t.nseconds()))
    }
}

/// The least time between two grabs: the frame interval, lengthened to
/// `min-interval` if that is longer.
fn min_interval(settings: &Settings, frame: Option<Duration>) -> Duration {
    let floor = Duration::from_millis(u64::from(settings.min_interval_ms));
    frame.map_or(floor, |f| f.max(floor))
}

impl PushSrcImpl for X11Src {
    fn create(&self, _buffer: Option<&mut gst::BufferRef>) -> Result<CreateSuccess, gst::FlowError> {
        let frame = *self.frame_interval.lock().unwrap_or_else(|e| e.into_inner());
        let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let state = guard.as_mut().ok_or(gst::FlowError::Flushing)?;
        let interval = min_interval(&state.settings, frame);
        if interval != state.pacer.interval() {
            gst::debug!(CAT, imp = self, "grabs at least {interval:?} apart");
            state.pacer.set_interval(interval);
        }
        let lost = |e: grab::GrabError| {
            gst::element_imp_error!(self, gst::ResourceError::Read, ["X display lost: {}", e]);
            gst::FlowError::Error
        };
        // When the frame falls due: the slot's opening for a change that
        // waited for it, else the moment the change (or the keep-alive) came.
        let mut slept = false;
        let taken = loop {
            if self.flushing.load(Ordering::SeqCst) {
                return Err(gst::FlowError::Flushing);
            }
            let now = self.now(state);
            let next = state.pacer.pace(now);
            if slept && !matches!(next, Pace::Slot(_)) {
                slept = false;
                // Drawn while the slot was closed: this grab holds it all, and
                // it is taken as of the slot if this thread woke in time.
                if state.screen.drain_damage().map_err(lost)? {
                    let slot = state.pacer.slot().unwrap_or(now);
                    break slot.max(now.saturating_sub(SLOT_WAKE_SLACK)).min(now);
                }
            }
            let woken = match next {
                Pace::Grab => break now,
                Pace::Slot(left) => {
                    slept = true;
                    grab::sleep(left, &state.wake).map_err(lost)?
                }
                Pace::Change(left) => match state.screen.wait(left, &state.wake).map_err(lost)? {
                    Wake::Damaged => break self.now(state),
                    Wake::Timeout => false,
                    Wake::Other => true,
                },
            };
            if woken {
                let mut sink = [0u8; 64];
                while matches!(state.wake.read(&mut sink), Ok(n) if n > 0) {}
            }
        };
        // Whatever was drawn so far is in this grab: spend the damage it
        // reported, so it does not ask for another grab at the next slot.
        state.screen.drain_damage().map_err(lost)?;
        // The frame's time is when it fell due, in the running time when the
        // element has a clock (a fraction of a millisecond before the readback).
        let pts = self
            .running_time()
            .map(|_| gst::ClockTime::from_nseconds(u64::try_from(taken.as_nanos()).unwrap_or(u64::MAX)));
        let frame = match state.screen.grab() {
            Ok(f) => f,
            Err(e) => {
                gst::element_imp_error!(self, gst::ResourceError::Read, ["grab failed: {}", e]);
                return Err(gst::FlowError::Error);
            }
        };
        let mut buffer = gst::Buffer::from_slice(frame);
        buffer.get_mut().ok_or(gst::FlowError::Error)?.set_pts(pts);
        state.pacer.taken(taken);
        gst::trace!(CAT, imp = self, "grabbed at {:?}", pts);
        Ok(CreateSuccess::NewBuffer(buffer))
    }
}
