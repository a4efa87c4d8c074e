//! The `[video]` section: the capture chain, filters, and the encoder
//! candidates in order of preference.

use serde::Serialize;
use toml::Spanned;

use super::reader::{Problems, Table};
use super::Fragment;
use crate::media::encoders::{self, BitrateProperty};

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

/// A chain with where it came from.
pub(super) fn fragment(p: &Problems, field: String, s: &Spanned<String>) -> Fragment {
    Fragment { text: s.get_ref().trim().to_string(), line: p.line(s.span().start), field }
}

/// The section as far as it could be read.
pub(super) struct VideoDraft {
    pub source: Option<Fragment>,
    pub filters: Option<Fragment>,
    /// Each encoder table; `None` when the section has no array of them.
    pub encoders: Option<Vec<EncoderDraft>>,
}

impl VideoDraft {
    /// The section, when it is complete enough to describe a stream.
    pub fn spec(&self) -> Option<VideoSpec> {
        Some(VideoSpec {
            source: self.source.clone()?,
            filters: self.filters.clone(),
            encoders: self.encoders.as_ref()?.iter().filter_map(EncoderDraft::spec).collect(),
        })
    }
}

/// One encoder candidate's chains, as far as they could be read.
#[derive(Debug, Clone, PartialEq)]
pub struct EncoderChains {
    /// The table's dotted name, `video.encoders[i]`.
    pub name: String,
    /// The element, when known; its properties and bitrate property are
    /// judged only with it.
    pub element: Option<String>,
    pub line: usize,
    pub before: Option<Fragment>,
    pub properties: Option<Fragment>,
    pub bitrate: Option<BitrateProperty>,
}

/// An encoder candidate as far as it could be read: its chains and profile.
pub(super) struct EncoderDraft {
    pub chains: EncoderChains,
    pub profile: Option<String>,
}

impl EncoderDraft {
    fn spec(&self) -> Option<EncoderSpec> {
        let c = &self.chains;
        Some(EncoderSpec {
            element: c.element.clone()?,
            line: c.line,
            before: c.before.clone(),
            properties: c.properties.clone(),
            bitrate: c.bitrate.clone(),
            profile: self.profile.clone()?,
        })
    }
}

pub(super) fn read(t: Table, p: &mut Problems) -> VideoDraft {
    t.finish(p, &["source", "filters", "encoders"]);
    let source = t.require::<String>(p, "source");
    let filters = t.get::<String>(p, "filters");
    let encoders = match t.tables(p, "encoders") {
        None => {
            if !t.has("encoders") {
                p.push(t.line, &t.field("encoders"), "missing field `encoders`");
            }
            None
        }
        Some(tables) if tables.is_empty() => {
            let line = source.as_ref().map_or(t.line, |s| p.line(s.span().start));
            p.push(line, "video.encoders", "at least one encoder candidate is needed");
            Some(Vec::new())
        }
        Some(tables) => Some(tables.into_iter().map(|e| encoder(e, p)).collect()),
    };
    VideoDraft {
        source: source.map(|s| fragment(p, "video.source".into(), &s)),
        filters: filters.map(|f| fragment(p, "video.filters".into(), &f)),
        encoders,
    }
}

fn encoder(t: Table, p: &mut Problems) -> EncoderDraft {
    t.finish(p, &["preset", "element", "before", "properties", "bitrate", "profile"]);
    let preset = t.get::<String>(p, "preset");
    let element = if preset.is_some() { t.get::<String>(p, "element") } else { t.require::<String>(p, "element") };
    let before = t.get::<String>(p, "before");
    let properties = t.get::<String>(p, "properties");
    let bitrate = t.get::<BitrateProperty>(p, "bitrate");
    let profile = if preset.is_some() { t.get::<String>(p, "profile") } else { t.require::<String>(p, "profile") };
    let line_of = |p: &Problems, v: &Option<Spanned<String>>| v.as_ref().map(|v| p.line(v.span().start));

    // A preset stands for the element and its shipped settings.
    let pline = line_of(p, &preset).unwrap_or(t.line);
    let record = preset.as_ref().and_then(|name| {
        let name = name.get_ref().trim();
        let found = encoders::record(name).filter(|r| r.preset.is_some());
        if found.is_none() {
            let known = encoders::preset_names().collect::<Vec<_>>().join(", ");
            p.push(pline, &t.field("preset"), format!("no preset `{name}` (presets: {known})"));
        }
        found
    });
    if preset.is_some() && element.is_some() {
        let line = line_of(p, &element).unwrap_or(t.line);
        p.push(line, &t.field("element"), "a preset names the element: give `preset` or `element`, not both");
    }
    let eline = line_of(p, &element).unwrap_or(pline);
    if let Some(e) = &element {
        let name = e.get_ref().trim();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            p.push(eline, &t.field("element"), format!("`{name}` is not an element name"));
        }
    }
    if let Some(pr) = &profile {
        let name = pr.get_ref().trim();
        if !PROFILES.contains(&name) {
            let line = p.line(pr.span().start);
            p.push(line, &t.field("profile"), format!("`{name}` is not one of {}", PROFILES.join(", ")));
        }
    }
    if let Some(b) = &bitrate {
        if b.get_ref().property.is_empty() {
            p.push(eline, &t.field("bitrate.property"), "must name the encoder's bitrate property");
        }
    }
    let shipped = record.and_then(|r| r.preset);
    // An unknown preset leaves the element unknown.
    let element = match (record, element) {
        (Some(r), _) => Some(r.element.to_string()),
        (None, e) if preset.is_none() => e.map(|e| e.into_inner().trim().to_string()),
        (None, _) => None,
    };
    // The file's properties come after the preset's: a property set twice
    // takes the later value, so the file can change one setting.
    let properties = match (shipped, properties) {
        (None, file) => file.map(|s| fragment(p, t.field("properties"), &s)),
        (Some(s), None) => Some(Fragment { text: s.properties.to_string(), line: pline, field: t.field("properties") }),
        (Some(s), Some(file)) => {
            let mut f = fragment(p, t.field("properties"), &file);
            f.text = format!("{} {}", s.properties, f.text).trim().to_string();
            Some(f)
        }
    };
    let profile = match (profile, shipped) {
        (Some(pr), _) => Some(pr.into_inner().trim().to_string()),
        (None, Some(s)) => Some(s.profile.to_string()),
        (None, None) => None,
    };
    EncoderDraft {
        chains: EncoderChains {
            name: t.name().to_string(),
            // Where the bitrate is set comes from the encoder table unless the
            // file says otherwise (an encoder the table does not know).
            bitrate: bitrate
                .map(Spanned::into_inner)
                .or_else(|| element.as_deref().and_then(encoders::record).map(|r| r.bitrate())),
            element,
            line: eline,
            before: before.map(|b| fragment(p, t.field("before"), &b)),
            properties,
        },
        profile,
    }
}
