//! The `[video]` section: the capture chain, filters, and the encoder
//! candidates in order of preference.

use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::reader::{Problems, Table};
use super::Fragment;

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

/// A chain with where it came from.
pub(super) fn fragment(p: &Problems, field: String, s: &Spanned<String>) -> Fragment {
    Fragment { text: s.get_ref().trim().to_string(), line: p.line(s.span().start), field }
}

/// The section, when it is complete enough to describe a stream.
pub(super) fn read(t: Table, p: &mut Problems) -> Option<VideoSpec> {
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
        Some(tables) => Some(tables.into_iter().filter_map(|e| encoder(e, p)).collect()),
    };
    Some(VideoSpec {
        source: fragment(p, "video.source".into(), &source?),
        filters: filters.map(|f| fragment(p, "video.filters".into(), &f)),
        encoders: encoders?,
    })
}

fn encoder(t: Table, p: &mut Problems) -> Option<EncoderSpec> {
    t.finish(p, &["element", "before", "properties", "bitrate", "profile"]);
    let element = t.require::<String>(p, "element");
    let before = t.get::<String>(p, "before");
    let properties = t.get::<String>(p, "properties");
    let bitrate = t.get::<BitrateProperty>(p, "bitrate");
    let profile = t.require::<String>(p, "profile");
    let eline = element.as_ref().map_or(t.line, |e| p.line(e.span().start));
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
    Some(EncoderSpec {
        element: element?.into_inner().trim().to_string(),
        line: eline,
        before: before.map(|b| fragment(p, t.field("before"), &b)),
        properties: properties.map(|s| fragment(p, t.field("properties"), &s)),
        bitrate: bitrate.map(Spanned::into_inner),
        profile: profile?.into_inner().trim().to_string(),
    })
}
