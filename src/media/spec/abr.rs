//! The `[abr]` section: bounds and ladder for the `playcastabr` element.

use gstplaycastabr::ladder::{Ladder, LadderError};
use serde::Serialize;
use toml::Spanned;

use super::reader::{Problems, Table};

/// The element's own defaults: a file without bounds adapts between them.
pub const DEFAULT_ABR_MIN_BPS: u64 = gstplaycastabr::DEFAULT_MIN_BITRATE as u64;
pub const DEFAULT_ABR_MAX_BPS: u64 = gstplaycastabr::DEFAULT_MAX_BITRATE as u64;
/// Bounds a file may give: the element's least, and a gigabit.
const BOUNDS: std::ops::RangeInclusive<u64> = gstplaycastabr::LEAST_BITRATE as u64..=1_000_000_000;

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

impl Default for AbrSpec {
    fn default() -> Self {
        AbrSpec { enabled: true, min_bps: DEFAULT_ABR_MIN_BPS, max_bps: DEFAULT_ABR_MAX_BPS, ladder: Ladder::default() }
    }
}

pub(super) fn read(table: Option<Table>, p: &mut Problems) -> AbrSpec {
    let Some(t) = table else { return AbrSpec::default() };
    t.finish(p, &["enabled", "min_bitrate", "max_bitrate", "ladder"]);
    let enabled = t.get::<bool>(p, "enabled").is_none_or(|e| *e.get_ref());
    let min_bitrate = t.get::<u64>(p, "min_bitrate");
    let max_bitrate = t.get::<u64>(p, "max_bitrate");
    let ladder_lines = t.get::<Vec<Spanned<String>>>(p, "ladder").map(Spanned::into_inner).unwrap_or_default();

    let min = min_bitrate.as_ref().map_or(DEFAULT_ABR_MIN_BPS, |v| *v.get_ref());
    let max = max_bitrate.as_ref().map_or(DEFAULT_ABR_MAX_BPS, |v| *v.get_ref());
    let at = |p: &Problems, v: &Option<Spanned<u64>>| v.as_ref().map_or(t.line, |v| p.line(v.span().start));
    let (least, most) = (BOUNDS.start(), BOUNDS.end());
    if !BOUNDS.contains(&min) {
        let line = at(p, &min_bitrate);
        p.push(line, "abr.min_bitrate", format!("{min} is outside {least}..={most} bit/s"));
    }
    if !BOUNDS.contains(&max) {
        let line = at(p, &max_bitrate);
        p.push(line, "abr.max_bitrate", format!("{max} is outside {least}..={most} bit/s"));
    }
    if min > max {
        let line = at(p, &max_bitrate);
        p.push(line, "abr.max_bitrate", format!("{max} is below min_bitrate {min}"));
    }
    let joined = ladder_lines.iter().map(|s| s.get_ref().as_str()).collect::<Vec<_>>().join(",");
    let ladder = match joined.parse::<Ladder>() {
        Ok(l) => l,
        Err(e) => {
            let index = match &e {
                LadderError::Syntax { index, .. }
                | LadderError::Range { index, .. }
                | LadderError::Order { index, .. } => *index,
                LadderError::TooMany => 0,
            };
            let line = ladder_lines.get(index).map_or(t.line, |s| p.line(s.span().start));
            p.push(line, &format!("abr.ladder[{index}]"), e.to_string());
            Ladder::default()
        }
    };
    AbrSpec { enabled, min_bps: min, max_bps: max, ladder }
}
