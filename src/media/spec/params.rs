//! The `[params]` section: named values a client may set within the bounds
//! the file gives, and their `${name}` placeholders in the chains.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::reader::{Problems, Table};
use super::PipelineSpec;

/// Longest accepted value of a string parameter.
pub const MAX_STRING_PARAM: usize = 64;

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

/// What `[params]` declares: the parameters that are well formed, and the
/// names of all of them (a placeholder naming a broken one is not a second
/// mistake).
pub(super) struct Declared {
    pub params: Vec<ParamSpec>,
    pub names: Vec<String>,
    /// The parameters read without a problem: chains that name only these
    /// can be judged even when the file has errors.
    pub sound: Vec<String>,
}

pub(super) fn read(table: Option<Table>, p: &mut Problems) -> Declared {
    let Some(table) = table else { return Declared { params: Vec::new(), names: Vec::new(), sound: Vec::new() } };
    let names = table.keys(p).into_iter().map(|(k, _)| k).collect();
    let (mut params, mut sound) = (Vec::new(), Vec::new());
    for (name, pline, raw) in table.entries::<RawParam>(p) {
        let field = table.field(&name);
        if !valid_ident(&name) {
            p.push(pline, &field, "parameter names are lowercase letters, digits and _");
            continue;
        }
        let raw = raw.get_ref();
        let before = p.errors.len();
        if let Some(kind) = kind(raw, &field, p) {
            if p.errors.len() == before {
                sound.push(name.clone());
            }
            params.push(ParamSpec { name, kind, help: raw.help.clone(), line: pline });
        }
    }
    Declared { params, names, sound }
}

/// The parameter's type, from its default, with its bounds checked.
fn kind(p: &RawParam, field: &str, problems: &mut Problems) -> Option<ParamKind> {
    let dline = problems.line(p.default.span().start);
    let mut push = |message: String| problems.push(dline, field, message);
    Some(match p.default.get_ref() {
        toml::Value::Integer(d) => {
            let (min, max) = (p.min.unwrap_or(i64::MIN), p.max.unwrap_or(i64::MAX));
            if p.min.is_none() || p.max.is_none() {
                push("an integer parameter needs both `min` and `max`".into());
            } else if min > max {
                push(format!("min {min} is greater than max {max}"));
            } else if *d < min || *d > max {
                push(format!("default {d} is outside {min}..={max}"));
            }
            if p.choices.is_some() {
                push("`choices` is only for string parameters".into());
            }
            ParamKind::Int { default: *d, min, max }
        }
        toml::Value::Boolean(d) => {
            if p.min.is_some() || p.max.is_some() || p.choices.is_some() {
                push("a true/false parameter takes no min, max or choices".into());
            }
            ParamKind::Bool { default: *d }
        }
        toml::Value::String(d) => {
            if p.min.is_some() || p.max.is_some() {
                push("a string parameter takes no min or max".into());
            }
            let choices = p.choices.clone().unwrap_or_default();
            for c in choices.iter().chain(std::iter::once(d)) {
                if let Err(m) = safe_string(c) {
                    push(format!("`{c}`: {m}"));
                }
            }
            if !choices.is_empty() && !choices.contains(d) {
                push(format!("default `{d}` is not one of the choices"));
            }
            ParamKind::Str { default: d.clone(), choices }
        }
        other => {
            push(format!("default must be an integer, true/false or a string, not {}", other.type_str()));
            return None;
        }
    })
}

impl PipelineSpec {
    pub fn param(&self, name: &str) -> Option<&ParamSpec> {
        self.params.iter().find(|p| p.name == name)
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
