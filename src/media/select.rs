//! Encoder choice: the first candidate in the file whose elements exist here
//! and that opens (encodes a test frame) wins. Both questions go through traits
//! so tests can describe any machine.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use gst::prelude::*;
use serde::Serialize;

use super::spec::{element_names, EncoderSpec, PipelineSpec};
use crate::sync::Locked;

/// Which element factories this machine has.
pub trait ElementRegistry: Send + Sync {
    fn has(&self, factory: &str) -> bool;
}

/// Whether a present encoder really opens (a GPU may be missing behind it).
pub trait EncoderProbe: Send + Sync {
    fn opens(&self, spec: &PipelineSpec, encoder: &EncoderSpec) -> Result<(), String>;
}

/// The installed GStreamer registry.
pub struct GstRegistry;

impl ElementRegistry for GstRegistry {
    fn has(&self, factory: &str) -> bool {
        gst::ElementFactory::find(factory).is_some()
    }
}

/// A machine described by a list of factories.
#[derive(Debug, Default, Clone)]
pub struct FixedRegistry(pub BTreeSet<String>);

impl FixedRegistry {
    pub fn new<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        Self(names.into_iter().map(str::to_string).collect())
    }
}

impl ElementRegistry for FixedRegistry {
    fn has(&self, factory: &str) -> bool {
        self.0.contains(factory)
    }
}

/// Every present encoder opens.
pub struct AssumeOpens;

impl EncoderProbe for AssumeOpens {
    fn opens(&self, _: &PipelineSpec, _: &EncoderSpec) -> Result<(), String> {
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    Chosen,
    /// Elements the candidate needs that this machine lacks.
    Missing {
        elements: Vec<String>,
    },
    /// Present, but a test encode failed.
    FailedToOpen {
        reason: String,
    },
    /// An earlier candidate won.
    NotTried,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attempt {
    pub element: String,
    #[serde(flatten)]
    pub outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Selection {
    /// Index into `video.encoders` of the winner.
    pub chosen: Option<usize>,
    pub attempts: Vec<Attempt>,
}

impl Selection {
    pub fn chosen_element(&self) -> Option<&str> {
        self.chosen.map(|i| self.attempts[i].element.as_str())
    }

    /// One line: what was chosen and why the others were skipped.
    pub fn explain(&self) -> String {
        let mut parts = Vec::new();
        match self.chosen_element() {
            Some(e) => parts.push(format!("encoder {e}")),
            None => parts.push("no encoder candidate can run here".to_string()),
        }
        let skipped: Vec<String> = self
            .attempts
            .iter()
            .filter_map(|a| match &a.outcome {
                Outcome::Missing { elements } => Some(format!(
                    "{} (not on this machine: {})",
                    a.element,
                    elements.iter().map(|e| describe_absent(e)).collect::<Vec<_>>().join(", ")
                )),
                Outcome::FailedToOpen { reason } => Some(format!("{} (failed to open: {reason})", a.element)),
                _ => None,
            })
            .collect();
        if !skipped.is_empty() {
            parts.push(format!("skipped {}", skipped.join("; ")));
        }
        parts.join("; ")
    }
}

/// Tries the candidates in file order.
pub fn select(spec: &PipelineSpec, registry: &dyn ElementRegistry, probe: &dyn EncoderProbe) -> Selection {
    let mut chosen = None;
    let mut attempts = Vec::new();
    for (i, enc) in spec.video.encoders.iter().enumerate() {
        let outcome = if chosen.is_some() {
            Outcome::NotTried
        } else {
            let mut needed: Vec<String> = enc.before.iter().flat_map(|b| element_names(&b.text)).collect();
            needed.push(enc.element.clone());
            let missing: Vec<String> = needed.into_iter().filter(|n| !registry.has(n)).collect();
            if !missing.is_empty() {
                Outcome::Missing { elements: missing }
            } else {
                tracing::debug!(encoder = %enc.element, pipeline = %spec.name, "trying encoder");
                match probe.opens(spec, enc) {
                    Ok(()) => {
                        chosen = Some(i);
                        Outcome::Chosen
                    }
                    Err(reason) => Outcome::FailedToOpen { reason },
                }
            }
        };
        attempts.push(Attempt { element: enc.element.clone(), outcome });
    }
    Selection { chosen, attempts }
}

/// Elements other than encoders (whose needs are in [`super::encoders`]) a
/// pipeline file may name that are absent on some machines, with what they
/// need; anything else missing is treated as a typo.
pub const KNOWN_ELEMENTS: &[(&str, &str)] = &[
    ("d3d11screencapturesrc", "Windows Direct3D 11 desktop capture, d3d11 plugin"),
    ("d3d11convert", "Windows Direct3D 11, d3d11 plugin"),
    ("d3d11download", "Windows Direct3D 11, d3d11 plugin"),
    ("d3d11upload", "Windows Direct3D 11, d3d11 plugin"),
    ("wasapi2src", "Windows audio capture, wasapi2 plugin"),
    ("wasapisrc", "Windows audio capture, wasapi plugin"),
    ("cudaupload", "NVIDIA CUDA, nvcodec plugin"),
    ("cudaconvert", "NVIDIA CUDA, nvcodec plugin"),
    ("vapostproc", "VA-API, va plugin and a VA driver"),
    ("ximagesrc", "X11 capture, ximagesrc plugin (gstreamer1.0-x)"),
    ("playcastx11src", "X11 capture on damage, Playcast's own (registered by the service)"),
    ("pulsesrc", "PulseAudio capture, pulseaudio plugin"),
];

pub fn known_element(name: &str) -> Option<&'static str> {
    super::encoders::record(name)
        .map(|r| r.needs)
        .or_else(|| KNOWN_ELEMENTS.iter().find(|(n, _)| *n == name).map(|(_, d)| *d))
}

fn describe_absent(name: &str) -> String {
    match known_element(name) {
        Some(d) => format!("{name}, {d}"),
        None => format!("{name}, unknown element"),
    }
}

/// Encodes two small frames with the candidate; results are cached per
/// candidate because opening a hardware encoder can take a while.
pub struct GstProbe {
    cache: Mutex<HashMap<String, Result<(), String>>>,
}

impl Default for GstProbe {
    fn default() -> Self {
        Self { cache: Mutex::new(HashMap::new()) }
    }
}

const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

impl EncoderProbe for GstProbe {
    fn opens(&self, spec: &PipelineSpec, enc: &EncoderSpec) -> Result<(), String> {
        let params = spec.defaults();
        let before = enc.before.as_ref().map(|b| params.substitute(&b.text));
        let props = enc.properties.as_ref().map(|p| params.substitute(&p.text)).unwrap_or_default();
        let desc = format!(
            "videotestsrc num-buffers=3 ! video/x-raw,width=320,height=240,framerate=30/1 ! {}{} {} ! video/x-h264,profile={} ! h264parse ! fakesink",
            before.map(|b| format!("{b} ! ")).unwrap_or_default(),
            enc.element,
            props,
            enc.profile
        );
        if let Some(r) = self.cache.locked().get(&desc) {
            return r.clone();
        }
        tracing::info!(encoder = %enc.element, "trying encoder");
        let result = run_to_eos(&desc, PROBE_TIMEOUT);
        match &result {
            Ok(()) => tracing::info!(encoder = %enc.element, "encoder opens"),
            Err(e) => tracing::warn!(encoder = %enc.element, error = %e, "encoder does not open"),
        }
        self.cache.locked().insert(desc, result.clone());
        result
    }
}

/// Runs a finite pipeline until EOS; the first error or a timeout fails it.
pub fn run_to_eos(desc: &str, timeout: Duration) -> Result<(), String> {
    let pipeline = gst::parse::launch(desc).map_err(|e| e.to_string())?;
    let bus = pipeline.bus().ok_or("pipeline has no bus")?;
    let result = (|| {
        pipeline.set_state(gst::State::Playing).map_err(|_| "could not start".to_string())?;
        match bus.timed_pop_filtered(
            gst::ClockTime::from_nseconds(timeout.as_nanos() as u64),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        ) {
            Some(msg) => match msg.view() {
                gst::MessageView::Error(e) => Err(e.error().to_string()),
                _ => Ok(()),
            },
            None => Err(format!("no result within {timeout:?}")),
        }
    })();
    let _ = pipeline.set_state(gst::State::Null);
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn spec() -> PipelineSpec {
        let text = std::fs::read_to_string("pipelines/windows-d3d11.toml").unwrap();
        PipelineSpec::parse(Path::new("pipelines/windows-d3d11.toml"), &text).unwrap()
    }

    struct Refuses(&'static str);
    impl EncoderProbe for Refuses {
        fn opens(&self, _: &PipelineSpec, e: &EncoderSpec) -> Result<(), String> {
            if e.element == self.0 {
                Err("no device".into())
            } else {
                Ok(())
            }
        }
    }

    const WIN_BASE: &[&str] = &["d3d11screencapturesrc", "d3d11convert", "d3d11download", "videoconvert"];

    #[test]
    fn windows_with_nvidia_picks_nvenc() {
        let reg =
            FixedRegistry::new(WIN_BASE.iter().copied().chain(["nvh264enc", "qsvh264enc", "mfh264enc", "x264enc"]));
        let s = select(&spec(), &reg, &AssumeOpens);
        assert_eq!(s.chosen_element(), Some("nvh264enc"));
        assert!(s.attempts[1..].iter().all(|a| a.outcome == Outcome::NotTried));
    }

    #[test]
    fn windows_intel_only_falls_to_qsv() {
        let reg = FixedRegistry::new(WIN_BASE.iter().copied().chain(["qsvh264enc", "mfh264enc", "x264enc"]));
        let s = select(&spec(), &reg, &AssumeOpens);
        assert_eq!(s.chosen_element(), Some("qsvh264enc"));
        assert!(matches!(&s.attempts[0].outcome, Outcome::Missing { elements } if elements == &["nvh264enc"]));
    }

    #[test]
    fn present_but_failing_encoder_is_skipped_with_reason() {
        let reg = FixedRegistry::new(WIN_BASE.iter().copied().chain(["nvh264enc", "mfh264enc", "x264enc"]));
        let s = select(&spec(), &reg, &Refuses("nvh264enc"));
        assert_eq!(s.chosen_element(), Some("mfh264enc"));
        let text = s.explain();
        assert!(text.contains("nvh264enc (failed to open: no device)"), "{text}");
        assert!(text.contains("qsvh264enc (not on this machine: qsvh264enc, Intel Quick Sync Video"), "{text}");
    }

    #[test]
    fn software_only_windows_uses_x264() {
        let reg = FixedRegistry::new(WIN_BASE.iter().copied().chain(["x264enc"]));
        assert_eq!(select(&spec(), &reg, &AssumeOpens).chosen_element(), Some("x264enc"));
    }

    #[test]
    fn nothing_present_chooses_nothing() {
        let s = select(&spec(), &FixedRegistry::default(), &AssumeOpens);
        assert_eq!(s.chosen, None);
        assert!(s.explain().starts_with("no encoder candidate can run here"));
    }

    #[test]
    fn linux_x11_prefers_nvenc_then_va_then_x264() {
        let text = std::fs::read_to_string("pipelines/linux-x11.toml").unwrap();
        let spec = PipelineSpec::parse(Path::new("pipelines/linux-x11.toml"), &text).unwrap();
        let base = ["playcastx11src", "videoconvert", "queue", "cudaupload", "cudaconvert", "vapostproc"];
        let order: Vec<_> = spec.video.encoders.iter().map(|e| e.element.as_str()).collect();
        assert_eq!(order, ["nvh264enc", "vah264enc", "x264enc"]);
        for (have, want) in [
            (vec!["nvh264enc", "vah264enc", "x264enc"], "nvh264enc"),
            (vec!["vah264enc", "x264enc"], "vah264enc"),
            (vec!["x264enc"], "x264enc"),
        ] {
            let reg = FixedRegistry::new(base.iter().copied().chain(have));
            assert_eq!(select(&spec, &reg, &AssumeOpens).chosen_element(), Some(want));
        }
    }

    #[test]
    fn test_pattern_falls_back_to_openh264() {
        let text = std::fs::read_to_string("pipelines/test-pattern.toml").unwrap();
        let spec = PipelineSpec::parse(Path::new("pipelines/test-pattern.toml"), &text).unwrap();
        let reg = FixedRegistry::new(["videotestsrc", "videoconvert", "openh264enc", "timeoverlay"]);
        assert_eq!(select(&spec, &reg, &AssumeOpens).chosen_element(), Some("openh264enc"));
    }
}
