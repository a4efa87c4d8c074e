//! Pipeline description files.
//!
//! A file in `pipelines/` is TOML. Its element chains are GStreamer launch syntax
//! (what `gst-launch-1.0` takes) with `${param}` placeholders for the named
//! parameters the file declares. Parsing here is purely structural; checking the
//! chains against the installed GStreamer is in [`super::check`].

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use gstplaycastabr::ladder::{Ladder, LadderError};
use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::config::line_of;

/// Largest pipeline file we read; anything bigger is a mistake, not a pipeline.
pub const MAX_FILE_BYTES: u64 = 256 * 1024;
/// Longest accepted value of a string parameter.
pub const MAX_STRING_PARAM: usize = 64;

/// One precise problem in a pipeline file: `path:line: field: message`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SpecError {
    pub path: PathBuf,
    pub line: usize,
    pub field: String,
    pub message: String,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: ", self.path.display(), self.line)?;
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

/// All problems found in one file.
#[derive(Debug, Clone, thiserror::Error)]
pub struct SpecErrors(pub Vec<SpecError>);

impl fmt::Display for SpecErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    Any,
    Linux,
    Windows,
}

/// A launch-syntax chain with where it came from, for error messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fragment {
    pub text: String,
    pub line: usize,
    pub field: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum ParamKind {
    Int { default: i64, min: i64, max: i64 },
    Bool { default: bool },
    Str { default: String, choices: Vec<String> },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParamSpec {
    pub name: String,
    pub kind: ParamKind,
    pub help: String,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ParamValue {
    Bool(bool),
    Int(i64),
    Str(String),
}

impl fmt::Display for ParamValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamValue::Bool(b) => write!(f, "{b}"),
            ParamValue::Int(i) => write!(f, "{i}"),
            ParamValue::Str(s) => f.write_str(s),
        }
    }
}

/// Unit an encoder's bitrate property counts in; Playcast itself works in bit/s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BitrateUnit {
    #[serde(rename = "bit/s")]
    BitsPerSec,
    #[serde(rename = "kbit/s")]
    KbitsPerSec,
}

impl BitrateUnit {
    /// How many bit/s one unit is.
    pub fn bps(self) -> u64 {
        match self {
            BitrateUnit::BitsPerSec => 1,
            BitrateUnit::KbitsPerSec => 1000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BitrateProperty {
    pub property: String,
    pub unit: BitrateUnit,
}

/// H.264 profiles every browser decodes.
pub const PROFILES: &[&str] = &["constrained-baseline", "main"];

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EncoderSpec {
    pub element: String,
    pub line: usize,
    /// Conversion or upload chain the encoder needs in front of it.
    pub before: Option<Fragment>,
    /// Element properties in launch syntax (`key=value …`).
    pub properties: Option<Fragment>,
    pub bitrate: Option<BitrateProperty>,
    pub profile: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VideoSpec {
    pub source: Fragment,
    pub filters: Option<Fragment>,
    pub encoders: Vec<EncoderSpec>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AudioSpec {
    pub source: Fragment,
    pub encoder: Fragment,
}

/// Which WebRTC element a file's streams end in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputKind {
    /// webrtcbin with Playcast's own adaptive bitrate, input channels and
    /// quality monitor (the default).
    #[default]
    Webrtcbin,
    /// webrtcsink (gst-plugins-rs): its own encoders and congestion control.
    Webrtcsink,
}

/// Adaptive bitrate for the file's streams (the `playcastabr` element).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AbrSpec {
    pub enabled: bool,
    pub min_bps: u64,
    pub max_bps: u64,
    /// Resolution and frame-rate steps, best first; empty keeps the picture.
    #[serde(serialize_with = "ladder_text")]
    pub ladder: Ladder,
}

fn ladder_text<S: serde::Serializer>(l: &Ladder, s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(l.steps().iter().map(|st| st.to_string()))
}

pub const DEFAULT_ABR_MIN_BPS: u64 = 300_000;
pub const DEFAULT_ABR_MAX_BPS: u64 = 20_000_000;

impl Default for AbrSpec {
    fn default() -> Self {
        AbrSpec { enabled: true, min_bps: DEFAULT_ABR_MIN_BPS, max_bps: DEFAULT_ABR_MAX_BPS, ladder: Ladder::default() }
    }
}

/// A parsed pipeline description file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PipelineSpec {
    pub name: String,
    pub path: PathBuf,
    pub description: String,
    pub platform: Platform,
    pub params: Vec<ParamSpec>,
    pub video: VideoSpec,
    pub audio: Option<AudioSpec>,
    pub abr: AbrSpec,
    pub output: OutputKind,
    /// The line of `output =`, when the file says it.
    pub output_line: Option<usize>,
}

pub const DEFAULT_AUDIO_ENCODER: &str = "opusenc bitrate=96000 frame-size=20 audio-type=restricted-lowdelay";

// ---- the file's shape, as serde sees it ------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpec {
    description: String,
    #[serde(default = "default_platform")]
    platform: Platform,
    #[serde(default)]
    params: BTreeMap<Spanned<String>, Spanned<RawParam>>,
    video: RawVideo,
    audio: Option<RawAudio>,
    abr: Option<RawAbr>,
    output: Option<Spanned<OutputKind>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAbr {
    #[serde(default = "yes")]
    enabled: bool,
    min_bitrate: Option<Spanned<u64>>,
    max_bitrate: Option<Spanned<u64>>,
    #[serde(default)]
    ladder: Vec<Spanned<String>>,
}

fn yes() -> bool {
    true
}

fn default_platform() -> Platform {
    Platform::Any
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawParam {
    default: Spanned<toml::Value>,
    min: Option<i64>,
    max: Option<i64>,
    choices: Option<Vec<String>>,
    #[serde(default)]
    help: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVideo {
    source: Spanned<String>,
    filters: Option<Spanned<String>>,
    encoders: Vec<Spanned<RawEncoder>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEncoder {
    element: Spanned<String>,
    before: Option<Spanned<String>>,
    properties: Option<Spanned<String>>,
    bitrate: Option<BitrateProperty>,
    profile: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAudio {
    source: Spanned<String>,
    encoder: Option<Spanned<String>>,
}

impl PipelineSpec {
    /// Reads and parses a file; the pipeline's name is the file stem.
    pub fn load(path: &Path) -> Result<Self, SpecErrors> {
        // Whole-file problems are reported at line 1, or at the line they are on.
        let err_at = |line: usize, message: String| {
            SpecErrors(vec![SpecError { path: path.to_owned(), line, field: String::new(), message }])
        };
        let err = |message: String| err_at(1, message);
        // The size a regular file declares gives the precise answer; the
        // bounded read catches what declares none (FIFOs, devices, /proc).
        let meta = std::fs::metadata(path).map_err(|e| err(e.to_string()))?;
        if meta.len() > MAX_FILE_BYTES {
            return Err(err(format!(
                "file is {} bytes, more than the {MAX_FILE_BYTES} a pipeline file may have",
                meta.len()
            )));
        }
        let bytes = crate::files::read_bounded(path, MAX_FILE_BYTES).map_err(|e| err(e.to_string()))?;
        let text = String::from_utf8(bytes).map_err(|e| {
            let at = e.utf8_error().valid_up_to();
            let line = e.as_bytes()[..at].iter().filter(|b| **b == b'\n').count() + 1;
            err_at(line, format!("not UTF-8 text (invalid byte at offset {at})"))
        })?;
        Self::parse(path, &text)
    }

    /// Parses file text; `path` names the file in errors and gives the name.
    pub fn parse(path: &Path, text: &str) -> Result<Self, SpecErrors> {
        let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
        let mut errors = Vec::new();
        let mut push = |line: usize, field: &str, message: String| {
            errors.push(SpecError { path: path.to_owned(), line, field: field.to_string(), message })
        };
        if !valid_name(&name) {
            push(1, "", format!("file name `{name}` must be lowercase letters, digits and dashes"));
        }
        let raw: RawSpec = match toml::from_str(text) {
            Ok(raw) => raw,
            Err(e) => {
                let line = e.span().map(|s| line_of(text, s.start)).unwrap_or(1);
                let mut field = serde_field(&e);
                if field.is_empty() {
                    field = key_at_line(text, line);
                }
                push(line, &field, e.message().trim().to_string());
                return Err(SpecErrors(errors));
            }
        };
        let line = |offset: usize| line_of(text, offset);
        let frag = |field: &str, s: &Spanned<String>| Fragment {
            text: s.get_ref().trim().to_string(),
            line: line(s.span().start),
            field: field.to_string(),
        };

        let mut params = Vec::new();
        for (pname, p) in &raw.params {
            let pline = line(pname.span().start);
            let field = format!("params.{}", pname.get_ref());
            if !valid_ident(pname.get_ref()) {
                push(pline, &field, "parameter names are lowercase letters, digits and _".into());
                continue;
            }
            let p = p.get_ref();
            let dline = line(p.default.span().start);
            let kind = match p.default.get_ref() {
                toml::Value::Integer(d) => {
                    let (min, max) = (p.min.unwrap_or(i64::MIN), p.max.unwrap_or(i64::MAX));
                    if p.min.is_none() || p.max.is_none() {
                        push(dline, &field, "an integer parameter needs both `min` and `max`".into());
                    } else if min > max {
                        push(dline, &field, format!("min {min} is greater than max {max}"));
                    } else if *d < min || *d > max {
                        push(dline, &field, format!("default {d} is outside {min}..={max}"));
                    }
                    if p.choices.is_some() {
                        push(dline, &field, "`choices` is only for string parameters".into());
                    }
                    ParamKind::Int { default: *d, min, max }
                }
                toml::Value::Boolean(d) => {
                    if p.min.is_some() || p.max.is_some() || p.choices.is_some() {
                        push(dline, &field, "a true/false parameter takes no min, max or choices".into());
                    }
                    ParamKind::Bool { default: *d }
                }
                toml::Value::String(d) => {
                    if p.min.is_some() || p.max.is_some() {
                        push(dline, &field, "a string parameter takes no min or max".into());
                    }
                    let choices = p.choices.clone().unwrap_or_default();
                    for c in choices.iter().chain(std::iter::once(d)) {
                        if let Err(m) = safe_string(c) {
                            push(dline, &field, format!("`{c}`: {m}"));
                        }
                    }
                    if !choices.is_empty() && !choices.contains(d) {
                        push(dline, &field, format!("default `{d}` is not one of the choices"));
                    }
                    ParamKind::Str { default: d.clone(), choices }
                }
                other => {
                    push(
                        dline,
                        &field,
                        format!("default must be an integer, true/false or a string, not {}", other.type_str()),
                    );
                    continue;
                }
            };
            params.push(ParamSpec { name: pname.get_ref().clone(), kind, help: p.help.clone(), line: pline });
        }

        let mut encoders = Vec::new();
        if raw.video.encoders.is_empty() {
            push(
                line(raw.video.source.span().start),
                "video.encoders",
                "at least one encoder candidate is needed".into(),
            );
        }
        for (i, e) in raw.video.encoders.iter().enumerate() {
            let field = format!("video.encoders[{i}]");
            let e = e.get_ref();
            let eline = line(e.element.span().start);
            let element = e.element.get_ref().trim().to_string();
            if element.is_empty() || !element.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
                push(eline, &format!("{field}.element"), format!("`{element}` is not an element name"));
            }
            let profile = e.profile.get_ref().trim().to_string();
            if !PROFILES.contains(&profile.as_str()) {
                push(
                    line(e.profile.span().start),
                    &format!("{field}.profile"),
                    format!("`{profile}` is not one of {}", PROFILES.join(", ")),
                );
            }
            if let Some(b) = &e.bitrate {
                if b.property.is_empty() {
                    push(
                        eline,
                        &format!("{field}.bitrate.property"),
                        "must name the encoder's bitrate property".into(),
                    );
                }
            }
            encoders.push(EncoderSpec {
                element,
                line: eline,
                before: e.before.as_ref().map(|s| frag(&format!("{field}.before"), s)),
                properties: e.properties.as_ref().map(|s| frag(&format!("{field}.properties"), s)),
                bitrate: e.bitrate.clone(),
                profile,
            });
        }

        let abr = match &raw.abr {
            None => AbrSpec::default(),
            Some(a) => {
                let min = a.min_bitrate.as_ref().map_or(DEFAULT_ABR_MIN_BPS, |v| *v.get_ref());
                let max = a.max_bitrate.as_ref().map_or(DEFAULT_ABR_MAX_BPS, |v| *v.get_ref());
                let at = |v: &Option<Spanned<u64>>| v.as_ref().map_or(1, |v| line(v.span().start));
                if !(10_000..=1_000_000_000).contains(&min) {
                    push(at(&a.min_bitrate), "abr.min_bitrate", format!("{min} is outside 10000..=1000000000 bit/s"));
                }
                if !(10_000..=1_000_000_000).contains(&max) {
                    push(at(&a.max_bitrate), "abr.max_bitrate", format!("{max} is outside 10000..=1000000000 bit/s"));
                }
                if min > max {
                    push(at(&a.max_bitrate), "abr.max_bitrate", format!("{max} is below min_bitrate {min}"));
                }
                let joined = a.ladder.iter().map(|s| s.get_ref().as_str()).collect::<Vec<_>>().join(",");
                let ladder = match joined.parse::<Ladder>() {
                    Ok(l) => l,
                    Err(e) => {
                        let index = match &e {
                            LadderError::Syntax { index, .. }
                            | LadderError::Range { index, .. }
                            | LadderError::Order { index, .. } => *index,
                            LadderError::TooMany => 0,
                        };
                        let l = a.ladder.get(index).map_or(1, |s| line(s.span().start));
                        push(l, &format!("abr.ladder[{index}]"), e.to_string());
                        Ladder::default()
                    }
                };
                AbrSpec { enabled: a.enabled, min_bps: min, max_bps: max, ladder }
            }
        };

        let spec = PipelineSpec {
            name,
            path: path.to_owned(),
            description: raw.description.trim().to_string(),
            platform: raw.platform,
            params,
            video: VideoSpec {
                source: frag("video.source", &raw.video.source),
                filters: raw.video.filters.as_ref().map(|s| frag("video.filters", s)),
                encoders,
            },
            audio: raw.audio.as_ref().map(|a| AudioSpec {
                source: frag("audio.source", &a.source),
                encoder: a.encoder.as_ref().map(|s| frag("audio.encoder", s)).unwrap_or(Fragment {
                    text: DEFAULT_AUDIO_ENCODER.to_string(),
                    line: line(a.source.span().start),
                    field: "audio.encoder".into(),
                }),
            }),
            abr,
            output: raw.output.as_ref().map(|o| *o.get_ref()).unwrap_or_default(),
            output_line: raw.output.as_ref().map(|o| line(o.span().start)),
        };

        for f in spec.fragments() {
            if f.text.is_empty() {
                push(f.line, &f.field, "is empty".into());
            }
            if let Err(m) = placeholders(&f.text).and_then(|names| {
                for n in names {
                    if spec.param(n).is_none() {
                        return Err(format!("`${{{n}}}` names no parameter declared in [params]"));
                    }
                }
                Ok(())
            }) {
                push(f.line, &f.field, m);
            }
        }
        if let Some(e) =
            spec.video.encoders.iter().find(|e| e.properties.as_ref().is_some_and(|p| p.text.contains('!')))
        {
            push(e.line, "properties", "properties must not contain `!`: put elements in `before`".into());
        }
        if errors.is_empty() {
            Ok(spec)
        } else {
            Err(SpecErrors(errors))
        }
    }

    pub fn param(&self, name: &str) -> Option<&ParamSpec> {
        self.params.iter().find(|p| p.name == name)
    }

    /// Every launch-syntax chain in the file.
    pub fn fragments(&self) -> Vec<&Fragment> {
        let mut v = vec![&self.video.source];
        v.extend(self.video.filters.as_ref());
        for e in &self.video.encoders {
            v.extend(e.before.as_ref());
            v.extend(e.properties.as_ref());
        }
        if let Some(a) = &self.audio {
            v.push(&a.source);
            v.push(&a.encoder);
        }
        v
    }

    /// The parameter values with no overrides.
    pub fn defaults(&self) -> Params {
        self.resolve(&BTreeMap::new()).expect("defaults are validated at parse time")
    }

    /// Checks client-supplied values against the declared types and bounds.
    pub fn resolve(&self, overrides: &BTreeMap<String, serde_json::Value>) -> Result<Params, ParamError> {
        for name in overrides.keys() {
            if self.param(name).is_none() {
                return Err(ParamError::Unknown(name.clone()));
            }
        }
        let mut values = BTreeMap::new();
        for p in &self.params {
            let given = overrides.get(&p.name);
            let bad =
                |expected: &str| ParamError::Invalid { name: p.name.clone(), message: format!("expected {expected}") };
            let value = match (&p.kind, given) {
                (ParamKind::Int { default, .. }, None) => ParamValue::Int(*default),
                (ParamKind::Int { min, max, .. }, Some(v)) => {
                    let i = v.as_i64().ok_or_else(|| bad("an integer"))?;
                    if i < *min || i > *max {
                        return Err(ParamError::Invalid {
                            name: p.name.clone(),
                            message: format!("{i} is outside {min}..={max}"),
                        });
                    }
                    ParamValue::Int(i)
                }
                (ParamKind::Bool { default }, None) => ParamValue::Bool(*default),
                (ParamKind::Bool { .. }, Some(v)) => ParamValue::Bool(v.as_bool().ok_or_else(|| bad("true or false"))?),
                (ParamKind::Str { default, .. }, None) => ParamValue::Str(default.clone()),
                (ParamKind::Str { choices, .. }, Some(v)) => {
                    // A number is taken as its text: a URL's query has no types,
                    // and clients that guess send `audio_frame=20` as 20.
                    let text = match v {
                        serde_json::Value::String(s) => s.clone(),
                        serde_json::Value::Number(n) => n.to_string(),
                        _ => return Err(bad("a string")),
                    };
                    let s = text.as_str();
                    safe_string(s).map_err(|m| ParamError::Invalid { name: p.name.clone(), message: m })?;
                    if !choices.is_empty() && !choices.iter().any(|c| c == s) {
                        return Err(ParamError::Invalid {
                            name: p.name.clone(),
                            message: format!("`{s}` is not one of {}", choices.join(", ")),
                        });
                    }
                    ParamValue::Str(s.to_string())
                }
            };
            values.insert(p.name.clone(), value);
        }
        Ok(Params(values))
    }
}

/// Resolved parameter values for one stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Params(pub BTreeMap<String, ParamValue>);

impl Params {
    pub fn int(&self, name: &str) -> Option<i64> {
        match self.0.get(name) {
            Some(ParamValue::Int(i)) => Some(*i),
            _ => None,
        }
    }

    pub fn bool(&self, name: &str) -> Option<bool> {
        match self.0.get(name) {
            Some(ParamValue::Bool(b)) => Some(*b),
            _ => None,
        }
    }

    /// Replaces each `${name}` in `text`; names were checked at parse time.
    pub fn substitute(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            match after.find('}') {
                Some(end) => {
                    match self.0.get(&after[..end]) {
                        Some(v) => out.push_str(&v.to_string()),
                        None => out.push_str(&rest[start..start + 2 + end + 1]),
                    }
                    rest = &after[end + 1..];
                }
                None => {
                    out.push_str(&rest[start..]);
                    rest = "";
                }
            }
        }
        out.push_str(rest);
        out
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    #[error("unknown parameter `{0}`")]
    Unknown(String),
    #[error("parameter `{name}`: {message}")]
    Invalid { name: String, message: String },
}

/// Names of the `${…}` placeholders in a chain.
pub fn placeholders(text: &str) -> Result<Vec<&str>, String> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or("`${` without a closing `}`")?;
        let name = &after[..end];
        if !valid_ident(name) {
            return Err(format!("`${{{name}}}` is not a parameter name"));
        }
        names.push(name);
        rest = &after[end + 1..];
    }
    Ok(names)
}

/// String parameters end up inside launch syntax: allow nothing that could
/// start a new element, property, caps field or quoted string.
fn safe_string(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > MAX_STRING_PARAM {
        return Err(format!("must be 1 to {MAX_STRING_PARAM} characters"));
    }
    if !s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '.' | '-' | '_')) {
        return Err("may hold only letters, digits and : . - _".into());
    }
    Ok(())
}

/// Parameter names: what `${name}` may hold and a client may set.
pub fn valid_ident(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Pipeline names come from file names and appear in URLs.
pub fn valid_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// The dotted field a serde error is about, when its message names one.
fn serde_field(e: &toml::de::Error) -> String {
    let m = e.message();
    for key in ["missing field `", "unknown field `"] {
        if let Some(i) = m.find(key) {
            let rest = &m[i + key.len()..];
            if let Some(end) = rest.find('`') {
                return rest[..end].to_string();
            }
        }
    }
    String::new()
}

/// `section.key` of a `key = value` line, found from the text around it.
fn key_at_line(text: &str, line: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let Some(at) = lines.get(line.saturating_sub(1)) else { return String::new() };
    let Some((key, _)) = at.split_once('=') else { return String::new() };
    let key = key.trim();
    let section = lines[..line.saturating_sub(1)]
        .iter()
        .rev()
        .map(|l| l.trim())
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim());
    match section {
        Some(s) if !s.is_empty() => format!("{s}.{key}"),
        _ => key.to_string(),
    }
}

/// Element factory names a chain uses, in order (caps, pad references and
/// properties are skipped). Used to decide candidates without GStreamer.
pub fn element_names(chain: &str) -> Vec<String> {
    let mut names = Vec::new();
    for segment in split_links(chain) {
        let Some(first) = segment.split_whitespace().next() else {
            continue;
        };
        let is_element = first.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && !first.contains(['/', '=', '.', '(', ',', '"']);
        if is_element {
            names.push(first.to_string());
        }
    }
    names
}

/// Splits on `!` outside quotes.
fn split_links(chain: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (i, c) in chain.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '!' if !quoted => {
                parts.push(&chain[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&chain[start..]);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
description = "test"
[params]
width = { default = 640, min = 16, max = 4096 }
audio = { default = true }
pattern = { default = "smpte", choices = ["smpte", "ball"] }
[video]
source = "videotestsrc pattern=${pattern} ! video/x-raw,width=${width}"
[[video.encoders]]
element = "x264enc"
properties = "tune=zerolatency"
bitrate = { property = "bitrate", unit = "kbit/s" }
profile = "constrained-baseline"
[audio]
source = "audiotestsrc"
"#;

    fn parse(text: &str) -> Result<PipelineSpec, SpecErrors> {
        PipelineSpec::parse(Path::new("pipelines/t.toml"), text)
    }

    #[test]
    fn parses_a_good_file() {
        let s = parse(GOOD).unwrap();
        assert_eq!(s.name, "t");
        assert_eq!(s.params.len(), 3);
        assert_eq!(s.video.source.line, 8);
        assert_eq!(s.video.encoders[0].line, 10);
        assert_eq!(s.audio.as_ref().unwrap().encoder.text, DEFAULT_AUDIO_ENCODER);
        let p = s.defaults();
        assert_eq!(p.substitute(&s.video.source.text), "videotestsrc pattern=smpte ! video/x-raw,width=640");
    }

    #[test]
    fn the_abr_section_is_optional_and_checked_with_lines() {
        let s = parse(GOOD).unwrap();
        assert_eq!(s.abr, AbrSpec::default(), "adaptation is on by default, with no ladder");
        let with = |abr: &str| format!("{GOOD}[abr]\n{abr}");
        let s = parse(&with(
            "enabled = false\nmin_bitrate = 500000\nladder = [\"1280x720@60:3000000\", \"640x360@30:600000\"]\n",
        ))
        .unwrap();
        assert!(!s.abr.enabled);
        assert_eq!((s.abr.min_bps, s.abr.ladder.steps().len()), (500_000, 2));
        assert_eq!(serde_json::to_value(&s.abr).unwrap()["ladder"][1], "640x360@30:600000");
        let cases = [
            (
                "ladder = [\n  \"1280x720@60:3000000\",\n  \"1920x1080@60:100000\",\n]\n",
                19,
                "abr.ladder[1]",
                "best to worst",
            ),
            ("ladder = [\"720p\"]\n", 17, "abr.ladder[0]", "expected WIDTHxHEIGHT@FPS:MIN_BITRATE"),
            ("min_bitrate = 5\n", 17, "abr.min_bitrate", "outside"),
            ("min_bitrate = 9000000\nmax_bitrate = 1000000\n", 18, "abr.max_bitrate", "below min_bitrate"),
            ("speed = 3\n", 17, "", "unknown field `speed`"),
        ];
        for (abr, line, field, want) in cases {
            let errs = parse(&with(abr)).unwrap_err();
            let e = &errs.0[0];
            assert!(e.message.contains(want) && e.line == line && e.field.starts_with(field), "{abr}: {errs}");
        }
    }

    #[test]
    fn the_output_is_webrtcbin_unless_the_file_says_webrtcsink() {
        assert_eq!(parse(GOOD).unwrap().output, OutputKind::Webrtcbin);
        let sink = format!("output = \"webrtcsink\"\n{GOOD}");
        assert_eq!(parse(&sink).unwrap().output, OutputKind::Webrtcsink);
        let e = parse(&format!("output = \"janus\"\n{GOOD}")).unwrap_err().to_string();
        assert!(e.starts_with("pipelines/t.toml:1:") && e.contains("webrtcbin") && e.contains("webrtcsink"), "{e}");
    }

    #[test]
    fn syntax_error_names_file_line() {
        let e = parse("description = \"x\"\n[video\nsource = 1\n").unwrap_err().to_string();
        assert!(e.starts_with("pipelines/t.toml:2:"), "{e}");
    }

    #[test]
    fn missing_and_unknown_fields_are_named() {
        let e = parse("description = \"x\"\n[video]\nsource = \"a\"\n").unwrap_err().to_string();
        assert!(e.contains("encoders"), "{e}");
        let bad = GOOD.replace("profile = \"constrained-baseline\"", "profile = \"main\"\nbframes = 2");
        let e = parse(&bad).unwrap_err().to_string();
        assert!(e.contains(":14:") && e.contains("bframes"), "{e}");
    }

    #[test]
    fn wrong_type_names_line() {
        let bad = GOOD.replace("source = \"audiotestsrc\"", "source = 5");
        let e = parse(&bad).unwrap_err().to_string();
        assert!(e.contains("pipelines/t.toml:15: audio.source: invalid type"), "{e}");
    }

    #[test]
    fn bounds_and_placeholders_are_checked() {
        let bad = GOOD.replace("default = 640, min = 16", "default = 5, min = 16").replace("${pattern}", "${patern}");
        let errs = parse(&bad).unwrap_err();
        let text = errs.to_string();
        assert_eq!(errs.0.len(), 2, "{text}");
        assert!(text.contains("pipelines/t.toml:4: params.width: default 5 is outside 16..=4096"), "{text}");
        assert!(text.contains("pipelines/t.toml:8: video.source: `${patern}` names no parameter"), "{text}");
    }

    #[test]
    fn bad_profile_is_refused() {
        let bad = GOOD.replace("\"constrained-baseline\"", "\"high-4:4:4\"");
        let e = parse(&bad).unwrap_err().to_string();
        assert!(e.contains(":13: video.encoders[0].profile:"), "{e}");
    }

    #[test]
    fn string_params_cannot_inject_launch_syntax() {
        let s = parse(GOOD).unwrap();
        let mut o = BTreeMap::new();
        o.insert("pattern".to_string(), serde_json::json!("smpte ! filesink location=/etc/x"));
        assert!(matches!(s.resolve(&o), Err(ParamError::Invalid { .. })));
        let bad = GOOD.replace("default = \"smpte\", choices = [\"smpte\", \"ball\"]", "default = \"a b\"");
        assert!(parse(&bad).is_err());
    }

    #[test]
    fn overrides_are_typed_and_bounded() {
        let s = parse(GOOD).unwrap();
        let ov = |k: &str, v: serde_json::Value| BTreeMap::from([(k.to_string(), v)]);
        assert_eq!(s.resolve(&ov("width", serde_json::json!(800))).unwrap().int("width"), Some(800));
        assert!(s.resolve(&ov("width", serde_json::json!(99999))).is_err());
        assert!(s.resolve(&ov("width", serde_json::json!("800"))).is_err());
        assert!(s.resolve(&ov("audio", serde_json::json!(1))).is_err());
        assert_eq!(s.resolve(&ov("nope", serde_json::json!(1))), Err(ParamError::Unknown("nope".into())));
        assert!(s.resolve(&ov("pattern", serde_json::json!("snow"))).is_err());
    }

    #[test]
    fn a_string_param_takes_a_number_as_its_text() {
        let s = parse(&GOOD.replace("[\"smpte\", \"ball\"]", "[\"smpte\", \"18\", \"2.5\"]")).unwrap();
        let ov = |v: serde_json::Value| BTreeMap::from([("pattern".to_string(), v)]);
        let text = |v| match s.resolve(&ov(v)).unwrap().0["pattern"].clone() {
            ParamValue::Str(t) => t,
            other => panic!("{other:?}"),
        };
        assert_eq!(text(serde_json::json!(18)), "18");
        assert_eq!(text(serde_json::json!(2.5)), "2.5");
        let e = s.resolve(&ov(serde_json::json!(7))).unwrap_err().to_string();
        assert!(e.contains("`7` is not one of smpte, 18, 2.5"), "{e}");
        let e = s.resolve(&ov(serde_json::json!(["18"]))).unwrap_err().to_string();
        assert!(e.contains("expected a string"), "{e}");
        assert!(s.resolve(&ov(serde_json::json!(true))).is_err());
    }

    #[test]
    fn element_names_skip_caps_and_quotes() {
        let names = element_names(
            "d3d11screencapturesrc show-cursor=true ! video/x-raw(memory:D3D11Memory),framerate=60/1 ! d3d11convert ! x264enc option-string=\"a!b\" ! queue",
        );
        assert_eq!(names, ["d3d11screencapturesrc", "d3d11convert", "x264enc", "queue"]);
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(text in "\\PC{0,400}") {
            let _ = parse(&text);
        }

        #[test]
        fn substitute_never_panics(text in "[a-z${} =]{0,60}") {
            let s = parse(GOOD).unwrap();
            let _ = s.defaults().substitute(&text);
            let _ = placeholders(&text);
        }
    }
}
