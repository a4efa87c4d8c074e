//! The element policy: which GStreamer elements a pipeline file may name.
//!
//! Whoever can edit a pipeline file, or pick a pipeline and its parameters,
//! must not reach the host through it. By default the elements in
//! [`HOST_ELEMENTS`] are refused: each reads or writes host files, file
//! descriptors, shared memory or in-process channels that other sessions
//! share. An operator narrows the set further (`media.allow_elements`,
//! `media.deny_elements`) or lifts single built-in refusals on purpose
//! (`media.insecure_host_elements`).
//!
//! Elements are found in the launch syntax itself ([`named`]) with the same
//! token rules as GStreamer's lexer (`gst/parse/parse.l`), so files for other
//! machines are judged without their elements installed; [`super::check`]
//! also judges the elements GStreamer really builds from each chain, and
//! [`super::stream`] the elements of every stream it starts.

mod host;
mod lexer;

use std::collections::BTreeSet;

use super::spec::{placeholders, Chains, Fragment, OutputKind, ParamKind, ParamValue, Params, PipelineSpec, SpecError};

pub use host::HOST_ELEMENTS;
pub(crate) use lexer::looks_like_caps;
pub use lexer::{named, Named};

use host::host_reason;

/// Settings that name the policy, for messages.
const ALLOW: &str = "media.allow_elements";
const DENY: &str = "media.deny_elements";
const INSECURE: &str = "media.insecure_host_elements";

/// Most parameter combinations tried for one element name made of placeholders.
const MAX_EXPANSIONS: usize = 256;

/// Which elements pipeline files may name. The default refuses [`HOST_ELEMENTS`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ElementPolicy {
    /// Non-empty: the only elements a file may name.
    allow: BTreeSet<String>,
    /// Refused on top of the built-in list.
    deny: BTreeSet<String>,
    /// Built-in refusals the operator lifted.
    insecure: BTreeSet<String>,
}

/// Why a policy setting is wrong: the setting's name and the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct PolicyError {
    pub field: &'static str,
    pub message: String,
}

impl ElementPolicy {
    /// A policy from the three settings, checked: names must be element
    /// names, a name cannot be both allowed and denied, and only built-in
    /// refusals can be lifted.
    pub fn new(allow: &[String], deny: &[String], insecure: &[String]) -> Result<Self, PolicyError> {
        for (field, names) in [(ALLOW, allow), (DENY, deny), (INSECURE, insecure)] {
            if let Some(bad) = names.iter().find(|n| !is_identifier(n)) {
                return Err(PolicyError { field, message: format!("`{bad}` is not an element name") });
            }
        }
        if let Some(both) = allow.iter().find(|n| deny.contains(n)) {
            return Err(PolicyError { field: DENY, message: format!("`{both}` is also in {ALLOW}") });
        }
        if let Some(unknown) = insecure.iter().find(|n| host_reason(n).is_none()) {
            return Err(PolicyError {
                field: INSECURE,
                message: format!("`{unknown}` is not one of the built-in host-access elements (docs/PIPELINES.md)"),
            });
        }
        let set = |v: &[String]| v.iter().cloned().collect();
        Ok(Self { allow: set(allow), deny: set(deny), insecure: set(insecure) })
    }

    /// The policy `media.allow_elements`, `media.deny_elements` and
    /// `media.insecure_host_elements` set.
    pub fn from_config(media: &crate::config::MediaConfig) -> Result<Self, PolicyError> {
        Self::new(&media.allow_elements, &media.deny_elements, &media.insecure_host_elements)
    }

    /// The configuration check for these settings (`Config::load`'s `check`):
    /// the service stops at start, naming the setting and what set it.
    pub fn check_config(config: &crate::config::Config) -> Result<(), crate::config::FieldError> {
        Self::from_config(&config.media)
            .map(drop)
            .map_err(|e| crate::config::FieldError { field: e.field, message: e.message })
    }

    /// Why `element` may not be named by a file, or `None` when it may.
    pub fn refusal(&self, element: &str) -> Option<String> {
        if let Some(why) = self.denial(element) {
            return Some(why);
        }
        (!self.allow.is_empty() && !self.allow.contains(element)).then(|| format!("not in {ALLOW}"))
    }

    /// The deny side alone: why `element` may never run, even when the
    /// service adds it itself (the allow list is about what files name).
    pub fn denial(&self, element: &str) -> Option<String> {
        if self.deny.contains(element) {
            return Some(DENY.to_string());
        }
        match host_reason(element) {
            Some(why) if !self.insecure.contains(element) => Some(format!("{why}; {INSECURE} lifts this")),
            _ => None,
        }
    }

    /// Every refusal in a file: each element named in each chain and each
    /// encoder, with its line and field.
    pub fn check_spec(&self, spec: &PipelineSpec) -> Vec<SpecError> {
        self.check_chains(&spec.chains())
    }

    /// Every refusal in `chains` (a whole file's, or what of a file with
    /// errors can be judged).
    pub fn check_chains(&self, spec: &Chains) -> Vec<SpecError> {
        let mut errors = Vec::new();
        let mut chains: Vec<Fragment> = Vec::new();
        for enc in &spec.encoders {
            let Some(element) = &enc.element else { continue };
            chains.push(Fragment { text: element.clone(), line: enc.line, field: format!("{}.element", enc.name) });
        }
        chains.extend(spec.fragments().into_iter().cloned());
        // The output element is named by the file too, so an allow list holds it.
        if spec.output == OutputKind::Webrtcsink {
            chains.push(Fragment {
                text: "webrtcsink".into(),
                line: spec.output_line.unwrap_or(1),
                field: "output".into(),
            });
        }
        chains.sort_by_key(|f| f.line);
        for f in &chains {
            for message in self.check_chain(spec, &f.text) {
                let e = SpecError { path: spec.path.clone(), line: f.line, field: f.field.clone(), message };
                if !errors.contains(&e) {
                    errors.push(e);
                }
            }
        }
        errors
    }

    /// Refusals in one chain of `spec`, as messages.
    fn check_chain(&self, spec: &Chains, chain: &str) -> Vec<String> {
        let mut out = Vec::new();
        for n in named(chain) {
            match n {
                Named::Uri(uri) => out.push(format!(
                    "`{uri}` stands where an element goes, which is not allowed by the element policy \
                     (GStreamer would open it with whatever element handles it; name the element)"
                )),
                Named::Element(word) => match expand(spec, &word) {
                    Err(message) => out.push(message),
                    Ok(names) => {
                        for name in names {
                            if let Some(why) = self.refusal(&name) {
                                out.push(format!("element `{name}` is not allowed by the element policy ({why})"));
                            }
                        }
                    }
                },
                // A value is judged only when it names a refused element:
                // most values (`pattern=smpte`) are not elements at all.
                Named::InValue { property, element } => {
                    for name in expand(spec, &element).unwrap_or_default() {
                        if let Some(why) = self.denial(&name) {
                            out.push(format!(
                                "element `{name}` in the value of `{property}` is not allowed by the element policy ({why})"
                            ));
                        }
                    }
                }
            }
        }
        out
    }
}

/// GStreamer's `_identifier`: a letter, then letters, digits, `-`, `_`, `%`.
fn is_identifier(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '%'))
}

/// The element names a word stands for once its `${…}` placeholders take
/// every value a client may give them.
fn expand(spec: &Chains, word: &str) -> Result<Vec<String>, String> {
    let names = placeholders(word).map_err(|m| format!("`{word}`: {m}"))?;
    let mut combos: Vec<Params> = vec![Params(Default::default())];
    for name in names {
        let values: Vec<ParamValue> = match spec.param(name).map(|p| &p.kind) {
            Some(ParamKind::Str { choices, .. }) if !choices.is_empty() => {
                choices.iter().map(|c| ParamValue::Str(c.clone())).collect()
            }
            Some(ParamKind::Bool { .. }) => vec![ParamValue::Bool(false), ParamValue::Bool(true)],
            _ => {
                return Err(format!(
                    "the element `{word}` comes from parameter `{name}`, whose values the element policy \
                     cannot list in advance; use a string parameter with `choices` there"
                ));
            }
        };
        combos = combos
            .into_iter()
            .flat_map(|c| {
                values.iter().map(move |v| {
                    let mut c = c.clone();
                    c.0.insert(name.to_string(), v.clone());
                    c
                })
            })
            .collect();
        if combos.len() > MAX_EXPANSIONS {
            return Err(format!("the element `{word}` takes more than {MAX_EXPANSIONS} names from its parameters"));
        }
    }
    Ok(combos.iter().map(|p| p.substitute(word)).collect())
}

#[cfg(test)]
mod tests;
