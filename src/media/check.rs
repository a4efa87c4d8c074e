//! Checks a parsed pipeline file against the installed GStreamer: every chain
//! must parse, every element must exist (or be a known element of another
//! machine kind), every property must exist and take its value, and one
//! encoder candidate must be usable for the file to run here.

use std::path::Path;

use serde::Serialize;

use super::select::{known_element, select, ElementRegistry, EncoderProbe, Selection};
use super::spec::{Fragment, PipelineSpec, SpecError, SpecErrors};

/// The outcome of checking one file.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub name: String,
    pub path: std::path::PathBuf,
    pub errors: Vec<SpecError>,
    /// Things absent on this machine that the file is allowed to need.
    pub notes: Vec<String>,
    pub selection: Option<Selection>,
    /// The file is valid and everything it needs is here.
    pub runnable: bool,
    #[serde(skip)]
    pub spec: Option<PipelineSpec>,
}

impl CheckReport {
    pub fn ok(&self) -> bool {
        self.errors.is_empty()
    }

    /// Human-readable summary, one line per fact.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if !self.ok() {
            for e in &self.errors {
                out.push_str(&format!("{e}\n"));
            }
            return out;
        }
        let status = if self.runnable { "ok, runs here" } else { "ok, cannot run here" };
        out.push_str(&format!("{}: {status}\n", self.path.display()));
        for n in &self.notes {
            out.push_str(&format!("  note: {n}\n"));
        }
        if let Some(s) = &self.selection {
            out.push_str(&format!("  on this machine: {}\n", s.explain()));
        }
        out
    }
}

/// Parses and checks one file.
pub fn check_file(path: &Path, registry: &dyn ElementRegistry, probe: &dyn EncoderProbe) -> CheckReport {
    match PipelineSpec::load(path) {
        Ok(spec) => check_spec(spec, registry, probe),
        Err(SpecErrors(errors)) => CheckReport {
            name: path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string(),
            path: path.to_owned(),
            errors,
            notes: vec![],
            selection: None,
            runnable: false,
            spec: None,
        },
    }
}

pub fn check_spec(spec: PipelineSpec, registry: &dyn ElementRegistry, probe: &dyn EncoderProbe) -> CheckReport {
    let params = spec.defaults();
    let mut errors = Vec::new();
    let mut notes = Vec::new();
    let mut base_missing = false;
    let error = |f: &Fragment, message: String| SpecError {
        path: spec.path.clone(),
        line: f.line,
        field: f.field.clone(),
        message,
    };

    let audio_on = params.bool("audio").unwrap_or(true);
    let mut base: Vec<&Fragment> = vec![&spec.video.source];
    base.extend(spec.video.filters.as_ref());
    if let Some(a) = &spec.audio {
        base.push(&a.source);
        base.push(&a.encoder);
    }
    for f in base {
        let text = params.substitute(&f.text);
        match parse_chain(&text) {
            ChainCheck::Ok => {}
            ChainCheck::Missing(names) => {
                let is_audio = f.field.starts_with("audio");
                for n in names {
                    match known_element(&n) {
                        Some(what) => {
                            notes.push(format!(
                                "{}:{}: {}: {n} is not on this machine ({what})",
                                spec.path.display(),
                                f.line,
                                f.field
                            ));
                            if !is_audio || audio_on {
                                base_missing = true;
                            }
                        }
                        None => errors.push(error(f, format!("no element \"{n}\""))),
                    }
                }
            }
            ChainCheck::Invalid(m) => errors.push(error(f, m)),
        }
    }

    for (i, enc) in spec.video.encoders.iter().enumerate() {
        let base_field = format!("video.encoders[{i}]");
        let before_missing = enc.before.as_ref().map(|b| (b, parse_chain(&params.substitute(&b.text))));
        match before_missing {
            Some((f, ChainCheck::Invalid(m))) => errors.push(error(f, m)),
            Some((f, ChainCheck::Missing(names))) => {
                for n in names.into_iter().filter(|n| known_element(n).is_none()) {
                    errors.push(error(f, format!("no element \"{n}\"")));
                }
            }
            _ => {}
        }
        let props = enc.properties.as_ref().map(|p| params.substitute(&p.text)).unwrap_or_default();
        let element_at = Fragment { text: String::new(), line: enc.line, field: format!("{base_field}.element") };
        let at = enc.properties.clone().unwrap_or_else(|| element_at.clone());
        match parse_chain(&format!("{} {props}", enc.element)) {
            ChainCheck::Ok => {
                if let Some(b) = &enc.bitrate {
                    if let Some(m) = missing_property(&enc.element, &b.property) {
                        errors.push(SpecError { field: format!("{base_field}.bitrate"), ..error(&at, m) });
                    }
                }
            }
            ChainCheck::Missing(missing) => {
                if known_element(&enc.element).is_none() && missing.contains(&enc.element) {
                    errors.push(error(&element_at, format!("no element \"{}\"", enc.element)));
                } else {
                    notes.push(format!(
                        "{}:{}: encoder {} is not on this machine; its properties were not checked",
                        spec.path.display(),
                        enc.line,
                        enc.element
                    ));
                }
            }
            ChainCheck::Invalid(m) => errors.push(error(&at, m)),
        }
    }

    let selection = errors.is_empty().then(|| select(&spec, registry, probe));
    let runnable = errors.is_empty() && !base_missing && selection.as_ref().is_some_and(|s| s.chosen.is_some());
    CheckReport {
        name: spec.name.clone(),
        path: spec.path.clone(),
        errors,
        notes,
        selection,
        runnable,
        spec: Some(spec),
    }
}

enum ChainCheck {
    Ok,
    Missing(Vec<String>),
    Invalid(String),
}

/// Builds (never starts) a bin from the chain to let GStreamer judge it.
/// Chains are judged alone, so caps at either end get a neutral element to
/// attach to, and failures to link (which depend on the neighbouring chains
/// and on memory types of absent elements) are left to the stream start.
fn parse_chain(text: &str) -> ChainCheck {
    let is_caps = |seg: &str| seg.split_whitespace().next().is_some_and(|t| t.contains('/'));
    let mut padded = text.to_string();
    if text.rsplit('!').next().is_some_and(is_caps) {
        padded.push_str(" ! identity");
    }
    if text.split('!').next().is_some_and(is_caps) {
        padded.insert_str(0, "identity ! ");
    }
    let mut ctx = gst::ParseContext::new();
    match gst::parse::bin_from_description_full(&padded, false, Some(&mut ctx), gst::ParseFlags::empty()) {
        Ok(_) => ChainCheck::Ok,
        Err(e) if e.matches(gst::ParseError::Link) => ChainCheck::Ok,
        Err(e) if e.matches(gst::ParseError::NoSuchElement) => {
            let missing = ctx.missing_elements();
            if missing.is_empty() {
                ChainCheck::Invalid(e.message().to_string())
            } else {
                ChainCheck::Missing(missing.into_iter().map(|s| s.to_string()).collect())
            }
        }
        Err(e) => ChainCheck::Invalid(e.message().to_string()),
    }
}

fn missing_property(factory: &str, property: &str) -> Option<String> {
    use gst::prelude::*;
    let element = gst::ElementFactory::make(factory).build().ok()?;
    element.find_property(property).is_none().then(|| format!("no property \"{property}\" in element \"{factory}\""))
}
