//! Pipeline description files.
//!
//! A file in `pipelines/` is TOML. Its element chains are GStreamer launch syntax
//! (what `gst-launch-1.0` takes) with `${param}` placeholders for the named
//! parameters the file declares. Parsing here is purely structural, one
//! section per file ([`params`], [`video`], [`abr`]), and reports every
//! problem it finds, not only the first; checking the chains against the
//! installed GStreamer is in [`super::check`].

mod abr;
mod chain;
mod chains;
mod params;
mod reader;
mod video;

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use toml::de::DeTable;

pub use super::encoders::{BitrateProperty, BitrateUnit};
pub use abr::{AbrSpec, DEFAULT_ABR_MAX_BPS, DEFAULT_ABR_MIN_BPS};
pub use chain::element_names;
pub use chains::{Chains, EncoderChains, Partial};
pub use params::{placeholders, valid_ident, ParamError, ParamKind, ParamSpec, ParamValue, Params, MAX_STRING_PARAM};
pub use video::{EncoderSpec, VideoSpec, PROFILES};

use reader::{Problems, Table};

/// Largest pipeline file we read; anything bigger is a mistake, not a pipeline.
pub const MAX_FILE_BYTES: u64 = 256 * 1024;

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

/// The keys a file may have at its top.
const SECTIONS: &[&str] = &["description", "platform", "params", "video", "audio", "abr", "output"];

impl PipelineSpec {
    /// Reads and parses a file; the pipeline's name is the file stem.
    pub fn load(path: &Path) -> Result<Self, SpecErrors> {
        Self::load_partial(path).map_err(|p| p.errors)
    }

    /// [`PipelineSpec::load`], and for a file with errors what of it can
    /// still be judged.
    pub fn load_partial(path: &Path) -> Result<Self, Box<Partial>> {
        // Whole-file problems are reported at line 1, or at the line they are on.
        let err_at = |line: usize, message: String| {
            let errors = SpecErrors(vec![SpecError { path: path.to_owned(), line, field: String::new(), message }]);
            Box::new(Partial { errors, chains: Chains { path: path.to_owned(), ..Chains::default() } })
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
        Self::parse_partial(path, &text)
    }

    /// Parses file text; `path` names the file in errors and gives the name.
    /// Every problem is reported: each section and field is read on its own,
    /// and only TOML syntax errors stop the reading (all of them are given).
    pub fn parse(path: &Path, text: &str) -> Result<Self, SpecErrors> {
        Self::parse_partial(path, text).map_err(|p| p.errors)
    }

    /// [`PipelineSpec::parse`], and for text with errors what of it can still
    /// be judged (nothing when it is not TOML).
    pub fn parse_partial(path: &Path, text: &str) -> Result<Self, Box<Partial>> {
        let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
        let mut p = Problems::new(path, text);
        if !valid_name(&name) {
            p.push(1, "", format!("file name `{name}` must be lowercase letters, digits and dashes"));
        }
        let (root, syntax) = DeTable::parse_recoverable(text);
        if !syntax.is_empty() {
            // One per line: what the parser makes of the rest of a broken
            // line is noise.
            let mut lines = Vec::new();
            for e in &syntax {
                let line = e.span().map_or(1, |s| p.line(s.start));
                if lines.contains(&line) {
                    continue;
                }
                lines.push(line);
                let field = key_at_line(text, line);
                p.push(line, &field, e.message().trim().to_string());
            }
            let chains = Chains { path: path.to_owned(), ..Chains::default() };
            return Err(Box::new(Partial { errors: SpecErrors(p.errors), chains }));
        }
        let top = Table::new(root.get_ref(), String::new(), 1);
        top.finish(&mut p, SECTIONS);
        let description = top.require::<String>(&mut p, "description");
        let platform = top.get::<Platform>(&mut p, "platform").map_or(Platform::Any, |v| v.into_inner());
        let output = top.get::<OutputKind>(&mut p, "output");
        let declared = params::read(top.table(&mut p, "params"), &mut p);
        let video = match top.table(&mut p, "video") {
            Some(t) => Some(video::read(t, &mut p)),
            None => {
                if !top.has("video") {
                    p.push(1, "video", "missing field `video`");
                }
                None
            }
        };
        let audio = top.table(&mut p, "audio").map(|t| audio(t, &mut p)).unwrap_or_default();
        let abr = abr::read(top.table(&mut p, "abr"), &mut p);

        let output =
            (output.as_ref().map(|o| *o.get_ref()).unwrap_or_default(), output.map(|o| p.line(o.span().start)));
        let chains = chains::drafted(path.to_owned(), declared.params.clone(), video.as_ref(), audio.clone(), output);
        for f in chains.fragments() {
            if f.text.is_empty() {
                p.push(f.line, &f.field, "is empty");
            }
            let unknown = placeholders(&f.text).map(|names| {
                names.into_iter().find(|n| chains.param(n).is_none() && !declared.names.iter().any(|d| d == n))
            });
            match unknown {
                Err(m) => p.push(f.line, &f.field, m),
                Ok(Some(n)) => p.push(f.line, &f.field, format!("`${{{n}}}` names no parameter declared in [params]")),
                Ok(None) => {}
            }
        }
        if let Some(e) = chains.encoders.iter().find(|e| e.properties.as_ref().is_some_and(|p| p.text.contains('!'))) {
            p.push(e.line, "properties", "properties must not contain `!`: put elements in `before`");
        }
        let whole = (description, video.as_ref().and_then(video::VideoDraft::spec));
        match whole {
            (Some(description), Some(video)) if p.errors.is_empty() => Ok(PipelineSpec {
                name,
                path: path.to_owned(),
                description: description.get_ref().trim().to_string(),
                platform,
                params: declared.params,
                video,
                audio: match audio {
                    (Some(source), Some(encoder)) => Some(AudioSpec { source, encoder }),
                    _ => None,
                },
                abr,
                output: output.0,
                output_line: output.1,
            }),
            _ => {
                let chains = chains::judgeable(chains, &p.errors, &declared.sound);
                Err(Box::new(Partial { errors: SpecErrors(p.errors), chains }))
            }
        }
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
}

/// The `[audio]` section, as far as it could be read: the capture chain and
/// the Opus encoder for it (the default one when the file names none).
fn audio(t: Table, p: &mut Problems) -> (Option<Fragment>, Option<Fragment>) {
    t.finish(p, &["source", "encoder"]);
    let source = t.require::<String>(p, "source");
    let encoder = t.get::<String>(p, "encoder");
    let encoder = match (encoder, &source) {
        (Some(e), _) => Some(video::fragment(p, "audio.encoder".into(), &e)),
        (None, Some(source)) => Some(Fragment {
            text: DEFAULT_AUDIO_ENCODER.to_string(),
            line: p.line(source.span().start),
            field: "audio.encoder".into(),
        }),
        (None, None) => None,
    };
    (source.map(|s| video::fragment(p, "audio.source".into(), &s)), encoder)
}

/// Pipeline names come from file names and appear in URLs.
pub fn valid_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
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

#[cfg(test)]
mod tests;
