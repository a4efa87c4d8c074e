//! What Playcast knows about each encoder, in one table: its element, codec,
//! where its bitrate is set and in what unit, whether it runs on a GPU (and
//! so takes one of its encoder slots), the latency-first settings a pipeline
//! file gets from its preset, and what a machine needs to have it.
//!
//! The service reads it to choose and budget encoders and tells the
//! adaptive-bitrate element the bitrate property and unit from it; pipeline
//! files name a record as `preset = "x264enc"` instead of repeating its
//! settings (docs/PIPELINES.md).

use serde::{Deserialize, Serialize};

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

/// Where an encoder keeps its target bitrate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BitrateProperty {
    pub property: String,
    pub unit: BitrateUnit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Codec {
    H264,
}

/// Settings a pipeline file gets with `preset = "<element>"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preset {
    /// Element properties in launch syntax, set up for latency first: no
    /// B-frames, constant bitrate, no lookahead, a key frame on request.
    pub properties: &'static str,
    /// H.264 profile every browser decodes.
    pub profile: &'static str,
}

/// One encoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncoderRecord {
    pub element: &'static str,
    pub codec: Codec,
    pub bitrate_property: &'static str,
    pub bitrate_unit: BitrateUnit,
    /// Runs on a GPU and takes one of its encoder slots (`node.gpu_encoder_slots`).
    pub hardware: bool,
    /// The shipped settings, for encoders Playcast has tuned.
    pub preset: Option<Preset>,
    /// What a machine needs to have it, for "not on this machine" notes.
    pub needs: &'static str,
}

impl EncoderRecord {
    pub fn bitrate(&self) -> BitrateProperty {
        BitrateProperty { property: self.bitrate_property.to_string(), unit: self.bitrate_unit }
    }
}

const fn h264(
    element: &'static str,
    bitrate_unit: BitrateUnit,
    hardware: bool,
    preset: Option<Preset>,
    needs: &'static str,
) -> EncoderRecord {
    EncoderRecord { element, codec: Codec::H264, bitrate_property: "bitrate", bitrate_unit, hardware, preset, needs }
}

use BitrateUnit::{BitsPerSec, KbitsPerSec};

/// Every encoder Playcast knows.
pub const ENCODERS: &[EncoderRecord] = &[
    h264(
        "x264enc",
        KbitsPerSec,
        false,
        Some(Preset {
            properties: "speed-preset=ultrafast tune=zerolatency pass=cbr bframes=0 b-adapt=false rc-lookahead=0 sync-lookahead=0 sliced-threads=true key-int-max=600 vbv-buf-capacity=120 aud=false",
            profile: "constrained-baseline",
        }),
        "x264 software encoder, gstreamer1.0-plugins-ugly",
    ),
    h264(
        "openh264enc",
        BitsPerSec,
        false,
        Some(Preset {
            properties: "usage-type=camera rate-control=bitrate complexity=low gop-size=600 multi-thread=2 enable-frame-skip=false scene-change-detection=false",
            profile: "constrained-baseline",
        }),
        "OpenH264 software encoder, openh264 plugin",
    ),
    h264(
        "nvh264enc",
        KbitsPerSec,
        true,
        Some(Preset {
            properties: "preset=low-latency-hq rc-mode=cbr-ld-hq zerolatency=true bframes=0 gop-size=600 rc-lookahead=0 aud=false",
            profile: "main",
        }),
        "NVIDIA NVENC, nvcodec plugin and an NVIDIA GPU",
    ),
    h264("nvd3d11h264enc", KbitsPerSec, true, None, "NVIDIA NVENC on Direct3D 11, nvcodec plugin"),
    h264(
        "vah264enc",
        KbitsPerSec,
        true,
        Some(Preset {
            properties: "rate-control=cbr b-frames=0 ref-frames=1 key-int-max=600 target-usage=7 aud=false",
            profile: "main",
        }),
        "VA-API, va plugin and a VA driver",
    ),
    h264("vah264lpenc", KbitsPerSec, true, None, "VA-API low-power, va plugin and a VA driver"),
    h264(
        "qsvh264enc",
        KbitsPerSec,
        true,
        Some(Preset {
            properties: "rate-control=cbr b-frames=0 ref-frames=1 gop-size=600 target-usage=7",
            profile: "main",
        }),
        "Intel Quick Sync Video, qsv plugin",
    ),
    h264(
        "mfh264enc",
        KbitsPerSec,
        true,
        Some(Preset {
            properties: "rc-mode=cbr low-latency=true bframes=0 gop-size=600 quality-vs-speed=100",
            profile: "main",
        }),
        "Windows Media Foundation encoder, mediafoundation plugin",
    ),
];

/// The record of the encoder made by `element`, if Playcast knows it.
pub fn record(element: &str) -> Option<&'static EncoderRecord> {
    ENCODERS.iter().find(|r| r.element == element)
}

/// Names a file may give as `preset`.
pub fn preset_names() -> impl Iterator<Item = &'static str> {
    ENCODERS.iter().filter(|r| r.preset.is_some()).map(|r| r.element)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_element_is_listed_once() {
        for r in ENCODERS {
            assert_eq!(ENCODERS.iter().filter(|o| o.element == r.element).count(), 1, "{}", r.element);
        }
    }

    #[test]
    fn gpu_encoders_take_a_slot_and_software_ones_do_not() {
        for e in ["nvh264enc", "nvd3d11h264enc", "qsvh264enc", "vah264enc", "vah264lpenc", "mfh264enc"] {
            assert!(record(e).unwrap().hardware, "{e}");
        }
        for e in ["x264enc", "openh264enc"] {
            assert!(!record(e).unwrap().hardware, "{e}");
        }
        assert_eq!(record("openh264enc").unwrap().bitrate_unit.bps(), 1);
        assert_eq!(record("x264enc").unwrap().bitrate_unit.bps(), 1000);
    }
}
