//! What the checks against GStreamer and the element policy judge: the
//! file's launch chains, the encoders they feed and the parameters that fill
//! them. A whole file gives all of it; a file with errors gives the parts
//! that could be read without one, so one check names every mistake.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

pub use super::video::EncoderChains;
use super::video::VideoDraft;
use super::{
    placeholders, Fragment, OutputKind, ParamKind, ParamSpec, ParamValue, Params, PipelineSpec, SpecError, SpecErrors,
};

/// A file's chains, or the judgeable ones of a file with errors.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Chains {
    pub path: PathBuf,
    /// The parameters the chains may name.
    pub params: Vec<ParamSpec>,
    pub video_source: Option<Fragment>,
    pub video_filters: Option<Fragment>,
    pub encoders: Vec<EncoderChains>,
    pub audio_source: Option<Fragment>,
    pub audio_encoder: Option<Fragment>,
    pub output: OutputKind,
    /// The line of `output =`, when the file says it.
    pub output_line: Option<usize>,
}

/// A file with errors: every problem, and what can be judged all the same.
#[derive(Debug, Clone)]
pub struct Partial {
    pub errors: SpecErrors,
    pub chains: Chains,
}

impl Chains {
    pub fn param(&self, name: &str) -> Option<&ParamSpec> {
        self.params.iter().find(|p| p.name == name)
    }

    /// The parameter values with no overrides.
    pub fn defaults(&self) -> Params {
        let value = |kind: &ParamKind| match kind {
            ParamKind::Int { default, .. } => ParamValue::Int(*default),
            ParamKind::Bool { default } => ParamValue::Bool(*default),
            ParamKind::Str { default, .. } => ParamValue::Str(default.clone()),
        };
        Params(self.params.iter().map(|p| (p.name.clone(), value(&p.kind))).collect::<BTreeMap<_, _>>())
    }

    /// Every launch-syntax chain, in the file's order of sections.
    pub fn fragments(&self) -> Vec<&Fragment> {
        let mut v: Vec<&Fragment> = self.video_source.iter().chain(&self.video_filters).collect();
        for e in &self.encoders {
            v.extend(e.before.as_ref());
            v.extend(e.properties.as_ref());
        }
        v.extend(self.audio_source.iter().chain(&self.audio_encoder));
        v
    }
}

impl PipelineSpec {
    /// The whole file's chains.
    pub fn chains(&self) -> Chains {
        Chains {
            path: self.path.clone(),
            params: self.params.clone(),
            video_source: Some(self.video.source.clone()),
            video_filters: self.video.filters.clone(),
            encoders: self
                .video
                .encoders
                .iter()
                .enumerate()
                .map(|(i, e)| EncoderChains {
                    name: format!("video.encoders[{i}]"),
                    element: Some(e.element.clone()),
                    line: e.line,
                    before: e.before.clone(),
                    properties: e.properties.clone(),
                    bitrate: e.bitrate.clone(),
                })
                .collect(),
            audio_source: self.audio.as_ref().map(|a| a.source.clone()),
            audio_encoder: self.audio.as_ref().map(|a| a.encoder.clone()),
            output: self.output,
            output_line: self.output_line,
        }
    }
}

/// The chains as read, before anything is left out.
pub(super) fn drafted(
    path: PathBuf,
    params: Vec<ParamSpec>,
    video: Option<&VideoDraft>,
    audio: (Option<Fragment>, Option<Fragment>),
    output: (OutputKind, Option<usize>),
) -> Chains {
    Chains {
        path,
        params,
        video_source: video.and_then(|v| v.source.clone()),
        video_filters: video.and_then(|v| v.filters.clone()),
        encoders: video.and_then(|v| v.encoders.as_ref()).into_iter().flatten().map(|e| e.chains.clone()).collect(),
        audio_source: audio.0,
        audio_encoder: audio.1,
        output: output.0,
        output_line: output.1,
    }
}

/// What of `chains` can be judged beside `errors`: a chain with a problem
/// of its own, or naming a parameter that has one, is left out (judging it
/// would only repeat the problem), and so is an encoder whose element or
/// preset is wrong.
pub(super) fn judgeable(mut chains: Chains, errors: &[SpecError], sound: &[String]) -> Chains {
    let bad: BTreeSet<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    chains.params.retain(|p| sound.contains(&p.name));
    let names: Vec<String> = chains.params.iter().map(|p| p.name.clone()).collect();
    let clean = |f: Option<Fragment>| {
        f.filter(|f| {
            !f.text.is_empty()
                && !bad.contains(f.field.as_str())
                && placeholders(&f.text).is_ok_and(|used| used.iter().all(|n| names.iter().any(|s| s.as_str() == *n)))
        })
    };
    chains.video_source = clean(chains.video_source.take());
    chains.video_filters = clean(chains.video_filters.take());
    chains.audio_source = clean(chains.audio_source.take());
    chains.audio_encoder = clean(chains.audio_encoder.take());
    for e in &mut chains.encoders {
        let wrong = |key: &str| bad.contains(format!("{}.{key}", e.name).as_str());
        e.before = clean(e.before.take());
        if wrong("element") || wrong("preset") {
            e.element = None;
        }
        if wrong("bitrate") || wrong("bitrate.property") {
            e.bitrate = None;
        }
        // Elements in the properties are refused on their own.
        e.properties = clean(e.properties.take()).filter(|f| !f.text.contains('!'));
    }
    chains
}
