//! The element: a live push source whose `create` waits for damage.

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

use super::grab::{Screen, Wake};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new("playcastx11src", gst::DebugColorFlags::empty(), Some("X11 capture on damage"))
});

const DEFAULT_MIN_INTERVAL_MS: u32 = 5;
const DEFAULT_IDLE_INTERVAL_MS: u32 = 100;
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
    last: Option<Instant>,
    settings: Settings,
}

#[derive(Default)]
pub struct X11Src {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
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
                    .blurb("Least time between two grabs, in milliseconds")
                    .minimum(1)
                    .maximum(1000)
                    .default_value(DEFAULT_MIN_INTERVAL_MS)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("idle-interval")
                    .nick("Idle interval")
                    .blurb("A still screen is grabbed again after this many milliseconds")
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
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) = Some(State { screen, wake, last: None, settings });
        self.flushing.store(false, Ordering::SeqCst);
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) = None;
        *self.waker.lock().unwrap_or_else(|e| e.into_inner()) = None;
        Ok(())
    }

    fn is_seekable(&self) -> bool {
        false
    }

    fn caps(&self, filter: Option<&gst::Caps>) -> Option<gst::Caps> {
        let size =
            self.state.lock().unwrap_or_else(|e| e.into_inner()).as_ref().map(|s| (s.screen.width, s.screen.height));
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
            // The nominal rate downstream sees; grabs follow the screen's changes.
            s.fixate_field_nearest_fraction("framerate", gst::Fraction::new(60, 1));
        }
        self.parent_fixate(caps)
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

impl PushSrcImpl for X11Src {
    fn create(&self, _buffer: Option<&mut gst::BufferRef>) -> Result<CreateSuccess, gst::FlowError> {
        let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let state = guard.as_mut().ok_or(gst::FlowError::Flushing)?;
        let min = Duration::from_millis(u64::from(state.settings.min_interval_ms));
        let idle = Duration::from_millis(u64::from(state.settings.idle_interval_ms));
        loop {
            if self.flushing.load(Ordering::SeqCst) {
                return Err(gst::FlowError::Flushing);
            }
            // The first frame goes at once; later ones wait for a change or the idle interval.
            let Some(last) = state.last else { break };
            let left = idle.saturating_sub(last.elapsed());
            match state.screen.wait(left, &state.wake) {
                Ok(Wake::Damaged) => {
                    let since = last.elapsed();
                    if since < min {
                        std::thread::sleep(min - since);
                    }
                    break;
                }
                Ok(Wake::Timeout) => break,
                Ok(Wake::Other) => {
                    let mut sink = [0u8; 64];
                    while matches!(state.wake.read(&mut sink), Ok(n) if n > 0) {}
                }
                Err(e) => {
                    gst::element_imp_error!(self, gst::ResourceError::Read, ["X display lost: {}", e]);
                    return Err(gst::FlowError::Error);
                }
            }
        }
        let pts = self.obj().current_running_time();
        let frame = match state.screen.grab() {
            Ok(f) => f,
            Err(e) => {
                gst::element_imp_error!(self, gst::ResourceError::Read, ["grab failed: {}", e]);
                return Err(gst::FlowError::Error);
            }
        };
        let mut buffer = gst::Buffer::from_slice(frame);
        buffer.get_mut().ok_or(gst::FlowError::Error)?.set_pts(pts);
        state.last = Some(Instant::now());
        gst::trace!(CAT, imp = self, "grabbed at {:?}", pts);
        Ok(CreateSuccess::NewBuffer(buffer))
    }
}
