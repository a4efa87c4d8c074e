//! Checks a parsed pipeline file against the installed GStreamer: every chain
//! must parse, every element must exist (or be a known element of another
//! machine kind), every property must exist and take its value, and one
//! encoder candidate must be usable for the file to run here. The element
//! policy is applied first, so no encoder of a refused file is ever tried.

use std::path::Path;

use serde::Serialize;

use super::policy::ElementPolicy;
use super::select::{known_element, select, ElementRegistry, EncoderProbe, Selection};
use super::spec::{Chains, Fragment, Partial, PipelineSpec, SpecError, SpecErrors};

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

/// Parses and checks one file. A file with errors is judged too, as far as
/// it could be read, so the report names every mistake in it.
pub fn check_file(
    path: &Path,
    registry: &dyn ElementRegistry,
    probe: &dyn EncoderProbe,
    policy: &ElementPolicy,
) -> CheckReport {
    match PipelineSpec::load_partial(path) {
        Ok(spec) => check_spec_under(spec, registry, probe, policy),
        Err(partial) => {
            let Partial { errors: SpecErrors(mut errors), chains } = *partial;
            let judged = judge(&chains, policy);
            errors.extend(judged.errors);
            CheckReport {
                name: path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string(),
                path: path.to_owned(),
                errors,
                notes: judged.notes,
                selection: None,
                runnable: false,
                spec: None,
            }
        }
    }
}

/// Checks a parsed file under the default element policy.
pub fn check_spec(spec: PipelineSpec, registry: &dyn ElementRegistry, probe: &dyn EncoderProbe) -> CheckReport {
    check_spec_under(spec, registry, probe, &ElementPolicy::default())
}

/// Checks a parsed file under `policy`.
pub fn check_spec_under(
    spec: PipelineSpec,
    registry: &dyn ElementRegistry,
    probe: &dyn EncoderProbe,
    policy: &ElementPolicy,
) -> CheckReport {
    let Judged { errors, notes, base_missing } = judge(&spec.chains(), policy);
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

/// What the policy and GStreamer make of a file's chains.
struct Judged {
    errors: Vec<SpecError>,
    notes: Vec<String>,
    /// An element the capture needs is absent here (known, of another machine).
    base_missing: bool,
}

/// Judges `spec`'s chains by the element policy, then by GStreamer.
fn judge(spec: &Chains, policy: &ElementPolicy) -> Judged {
    let params = spec.defaults();
    let mut errors = policy.check_chains(spec);
    // What GStreamer builds from a chain the text found nothing wrong in is
    // judged too: a URI handler or a bin in a property makes elements the
    // text does not spell.
    let refused_fields: Vec<String> = errors.iter().map(|e| e.field.clone()).collect();
    let built = |f: &Fragment, factories: &[(String, bool)]| -> Vec<SpecError> {
        if refused_fields.contains(&f.field) {
            return vec![];
        }
        let mut out: Vec<SpecError> = Vec::new();
        for (name, placed) in factories {
            // The allow list is about what files name: not the insides of
            // elements, nor the capsfilter GStreamer makes for caps in a link.
            let named = *placed && name != "capsfilter";
            let why = if named { policy.refusal(name) } else { policy.denial(name) };
            if let Some(why) = why {
                let message = format!("element `{name}` is not allowed by the element policy ({why})");
                if !out.iter().any(|e| e.message == message) {
                    out.push(SpecError { path: spec.path.clone(), line: f.line, field: f.field.clone(), message });
                }
            }
        }
        out
    };
    let mut notes = Vec::new();
    let mut base_missing = false;
    let error = |f: &Fragment, message: String| SpecError {
        path: spec.path.clone(),
        line: f.line,
        field: f.field.clone(),
        message,
    };

    let audio_on = params.bool("audio").unwrap_or(true);
    let base: Vec<&Fragment> = [&spec.video_source, &spec.video_filters, &spec.audio_source, &spec.audio_encoder]
        .into_iter()
        .flatten()
        .collect();
    for f in base {
        let text = params.substitute(&f.text);
        match parse_chain(&text) {
            ChainCheck::Ok(factories) => errors.extend(built(f, &factories)),
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

    for enc in &spec.encoders {
        let base_field = &enc.name;
        let before_missing = enc.before.as_ref().map(|b| (b, parse_chain(&params.substitute(&b.text))));
        match before_missing {
            Some((f, ChainCheck::Invalid(m))) => errors.push(error(f, m)),
            Some((f, ChainCheck::Ok(factories))) => errors.extend(built(f, &factories)),
            Some((f, ChainCheck::Missing(names))) => {
                for n in names.into_iter().filter(|n| known_element(n).is_none()) {
                    errors.push(error(f, format!("no element \"{n}\"")));
                }
            }
            _ => {}
        }
        let Some(element) = &enc.element else { continue };
        let props = enc.properties.as_ref().map(|p| params.substitute(&p.text)).unwrap_or_default();
        let element_at = Fragment { text: String::new(), line: enc.line, field: format!("{base_field}.element") };
        let at = enc.properties.clone().unwrap_or_else(|| element_at.clone());
        match parse_chain(&format!("{element} {props}")) {
            ChainCheck::Ok(factories) => {
                errors.extend(built(&at, &factories));
                if let Some(b) = &enc.bitrate {
                    if let Some(m) = missing_property(element, &b.property) {
                        errors.push(SpecError { field: format!("{base_field}.bitrate"), ..error(&at, m) });
                    }
                }
            }
            ChainCheck::Missing(missing) => {
                if known_element(element).is_none() && missing.contains(element) {
                    errors.push(error(&element_at, format!("no element \"{element}\"")));
                } else {
                    notes.push(format!(
                        "{}:{}: encoder {element} is not on this machine; its properties were not checked",
                        spec.path.display(),
                        enc.line,
                    ));
                }
            }
            ChainCheck::Invalid(m) => errors.push(error(&at, m)),
        }
    }
    Judged { errors, notes, base_missing }
}

enum ChainCheck {
    /// The chain builds; the factories of every element in it.
    Ok(Vec<(String, bool)>),
    Missing(Vec<String>),
    Invalid(String),
}

/// Builds (never starts) a bin from the chain to let GStreamer judge it.
/// Chains are judged alone, so caps at either end get a neutral element to
/// attach to, and failures to link (which depend on the neighbouring chains
/// and on memory types of absent elements) are left to the stream start.
fn parse_chain(text: &str) -> ChainCheck {
    let is_caps = |seg: &str| seg.split_whitespace().next().is_some_and(super::policy::looks_like_caps);
    let mut padded = text.to_string();
    if text.rsplit('!').next().is_some_and(is_caps) {
        padded.push_str(&format!(" ! identity name={PAD_NAME}"));
    }
    if text.split('!').next().is_some_and(is_caps) {
        padded.insert_str(0, &format!("identity name={PAD_NAME}-head ! "));
    }
    let mut ctx = gst::ParseContext::new();
    match gst::parse::bin_from_description_full(&padded, false, Some(&mut ctx), gst::ParseFlags::empty()) {
        Ok(bin) => ChainCheck::Ok(factories(&bin)),
        // A chain that fails to link alone is left to the stream start; its
        // elements were judged from the text.
        Err(e) if e.matches(gst::ParseError::Link) => ChainCheck::Ok(vec![]),
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

/// Names the neutral elements a chain is padded with, to leave them out.
const PAD_NAME: &str = "playcast-check-pad";

/// Every element in `bin` and the bins inside it, padding aside: its factory
/// name, and whether the chain placed it (in the chain or a plain bin of it)
/// rather than an element made it for itself (a sink set through a property).
fn factories(bin: &gst::Element) -> Vec<(String, bool)> {
    use gst::prelude::*;
    let Some(bin) = bin.downcast_ref::<gst::Bin>() else { return vec![] };
    let placed = |e: &gst::Element| {
        e.parent()
            .and_then(|p| p.downcast::<gst::Element>().ok())
            .is_some_and(|p| p == *bin.upcast_ref::<gst::Element>() || p.factory().is_some_and(|f| f.name() == "bin"))
    };
    bin.iterate_recurse()
        .into_iter()
        .flatten()
        .filter(|e| !e.name().starts_with(PAD_NAME))
        .filter_map(|e| e.factory().map(|f| (f.name().to_string(), placed(&e))))
        .collect()
}

fn missing_property(factory: &str, property: &str) -> Option<String> {
    use gst::prelude::*;
    let element = gst::ElementFactory::make(factory).build().ok()?;
    element.find_property(property).is_none().then(|| format!("no property \"{property}\" in element \"{factory}\""))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::media::select::{GstProbe, GstRegistry};

    fn check(policy: &ElementPolicy, source: &str) -> Vec<String> {
        crate::media::init().unwrap();
        let text = format!(
            "description = \"t\"\n[params]\nsink = {{ default = \"filesink\" }}\n[video]\nsource = '{source}'\n\
             [[video.encoders]]\nelement = \"x264enc\"\nprofile = \"main\"\n"
        );
        let spec = PipelineSpec::parse(Path::new("pipelines/t.toml"), &text).unwrap();
        let report = check_spec_under(spec, &GstRegistry, &GstProbe::default(), policy);
        report.errors.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn what_gstreamer_builds_is_judged_too() {
        // The text cannot tell what a free parameter names in a value; the
        // element GStreamer makes from its default is refused.
        let r = check(&ElementPolicy::default(), "videotestsrc ! fpsdisplaysink video-sink=${sink}");
        assert_eq!(
            r,
            [
                "pipelines/t.toml:5: video.source: element `filesink` is not allowed by the element policy (it writes any host file; media.insecure_host_elements lifts this)"
            ]
        );
        // Elements an element holds (the sink set through its property, its
        // own parts) are no business of the allow list; a chain in a value is.
        let allow: Vec<String> = ["videotestsrc", "fpsdisplaysink", "fakesink", "x264enc"].map(String::from).to_vec();
        let policy = ElementPolicy::new(&allow, &[], &[]).unwrap();
        // Nor is the capsfilter a link's caps become.
        let passes = "videotestsrc ! video/x-raw,width=64 ! fpsdisplaysink video-sink=fakesink";
        assert_eq!(check(&policy, passes), Vec::<String>::new());
        let r = check(&policy, "videotestsrc ! fpsdisplaysink video-sink=\"queue ! fakesink\"");
        assert_eq!(
            r,
            [
                "pipelines/t.toml:5: video.source: element `queue` is not allowed by the element policy (not in media.allow_elements)"
            ]
        );
    }
}
