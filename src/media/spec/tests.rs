//! Parsing tests: the file's shape, lines in errors, parameters.

use std::collections::BTreeMap;
use std::path::Path;

use super::*;

const GOOD: &str = r#"
description = "test"
[params]
width = { default = 640, min = 16, max = 4096 }
audio = { default = true }
pattern = { default = "smpte", choices = ["smpte", "ball"] }
[video]
source = "videotestsrc pattern=${pattern} ! video/x-raw,width=${width}"
[[video.encoders]]
element = "x264enc"
properties = "tune=zerolatency"
bitrate = { property = "bitrate", unit = "kbit/s" }
profile = "constrained-baseline"
[audio]
source = "audiotestsrc"
"#;

fn parse(text: &str) -> Result<PipelineSpec, SpecErrors> {
    PipelineSpec::parse(Path::new("pipelines/t.toml"), text)
}

#[test]
fn parses_a_good_file() {
    let s = parse(GOOD).unwrap();
    assert_eq!(s.name, "t");
    assert_eq!(s.params.len(), 3);
    assert_eq!(s.video.source.line, 8);
    assert_eq!(s.video.encoders[0].line, 10);
    assert_eq!(s.audio.as_ref().unwrap().encoder.text, DEFAULT_AUDIO_ENCODER);
    let p = s.defaults();
    assert_eq!(p.substitute(&s.video.source.text), "videotestsrc pattern=smpte ! video/x-raw,width=640");
}

#[test]
fn the_abr_section_is_optional_and_checked_with_lines() {
    let s = parse(GOOD).unwrap();
    assert_eq!(s.abr, AbrSpec::default(), "adaptation is on by default, with no ladder");
    let with = |abr: &str| format!("{GOOD}[abr]\n{abr}");
    let s = parse(&with(
        "enabled = false\nmin_bitrate = 500000\nladder = [\"1280x720@60:3000000\", \"640x360@30:600000\"]\n",
    ))
    .unwrap();
    assert!(!s.abr.enabled);
    assert_eq!((s.abr.min_bps, s.abr.ladder.steps().len()), (500_000, 2));
    assert_eq!(serde_json::to_value(&s.abr).unwrap()["ladder"][1], "640x360@30:600000");
    let cases = [
        (
            "ladder = [\n  \"1280x720@60:3000000\",\n  \"1920x1080@60:100000\",\n]\n",
            19,
            "abr.ladder[1]",
            "best to worst",
        ),
        ("ladder = [\"720p\"]\n", 17, "abr.ladder[0]", "expected WIDTHxHEIGHT@FPS:MIN_BITRATE"),
        ("min_bitrate = 5\n", 17, "abr.min_bitrate", "outside"),
        ("min_bitrate = 9000000\nmax_bitrate = 1000000\n", 18, "abr.max_bitrate", "below min_bitrate"),
        ("speed = 3\n", 17, "", "unknown field `speed`"),
    ];
    for (abr, line, field, want) in cases {
        let errs = parse(&with(abr)).unwrap_err();
        let e = &errs.0[0];
        assert!(e.message.contains(want) && e.line == line && e.field.starts_with(field), "{abr}: {errs}");
    }
}

#[test]
fn the_output_is_webrtcbin_unless_the_file_says_webrtcsink() {
    assert_eq!(parse(GOOD).unwrap().output, OutputKind::Webrtcbin);
    let sink = format!("output = \"webrtcsink\"\n{GOOD}");
    assert_eq!(parse(&sink).unwrap().output, OutputKind::Webrtcsink);
    let e = parse(&format!("output = \"janus\"\n{GOOD}")).unwrap_err().to_string();
    assert!(e.starts_with("pipelines/t.toml:1:") && e.contains("webrtcbin") && e.contains("webrtcsink"), "{e}");
}

#[test]
fn syntax_error_names_file_line() {
    let e = parse("description = \"x\"\n[video\nsource = 1\n").unwrap_err().to_string();
    assert!(e.starts_with("pipelines/t.toml:2:"), "{e}");
}

#[test]
fn missing_and_unknown_fields_are_named() {
    let e = parse("description = \"x\"\n[video]\nsource = \"a\"\n").unwrap_err().to_string();
    assert!(e.contains("encoders"), "{e}");
    let bad = GOOD.replace("profile = \"constrained-baseline\"", "profile = \"main\"\nbframes = 2");
    let e = parse(&bad).unwrap_err().to_string();
    assert!(e.contains(":14:") && e.contains("bframes"), "{e}");
}

#[test]
fn wrong_type_names_line() {
    let bad = GOOD.replace("source = \"audiotestsrc\"", "source = 5");
    let e = parse(&bad).unwrap_err().to_string();
    assert!(e.contains("pipelines/t.toml:15: audio.source: invalid type"), "{e}");
}

#[test]
fn bounds_and_placeholders_are_checked() {
    let bad = GOOD.replace("default = 640, min = 16", "default = 5, min = 16").replace("${pattern}", "${patern}");
    let errs = parse(&bad).unwrap_err();
    let text = errs.to_string();
    assert_eq!(errs.0.len(), 2, "{text}");
    assert!(text.contains("pipelines/t.toml:4: params.width: default 5 is outside 16..=4096"), "{text}");
    assert!(text.contains("pipelines/t.toml:8: video.source: `${patern}` names no parameter"), "{text}");
}

#[test]
fn bad_profile_is_refused() {
    let bad = GOOD.replace("\"constrained-baseline\"", "\"high-4:4:4\"");
    let e = parse(&bad).unwrap_err().to_string();
    assert!(e.contains(":13: video.encoders[0].profile:"), "{e}");
}

#[test]
fn string_params_cannot_inject_launch_syntax() {
    let s = parse(GOOD).unwrap();
    let mut o = BTreeMap::new();
    o.insert("pattern".to_string(), serde_json::json!("smpte ! filesink location=/etc/x"));
    assert!(matches!(s.resolve(&o), Err(ParamError::Invalid { .. })));
    let bad = GOOD.replace("default = \"smpte\", choices = [\"smpte\", \"ball\"]", "default = \"a b\"");
    assert!(parse(&bad).is_err());
}

#[test]
fn overrides_are_typed_and_bounded() {
    let s = parse(GOOD).unwrap();
    let ov = |k: &str, v: serde_json::Value| BTreeMap::from([(k.to_string(), v)]);
    assert_eq!(s.resolve(&ov("width", serde_json::json!(800))).unwrap().int("width"), Some(800));
    assert!(s.resolve(&ov("width", serde_json::json!(99999))).is_err());
    assert!(s.resolve(&ov("width", serde_json::json!("800"))).is_err());
    assert!(s.resolve(&ov("audio", serde_json::json!(1))).is_err());
    assert_eq!(s.resolve(&ov("nope", serde_json::json!(1))), Err(ParamError::Unknown("nope".into())));
    assert!(s.resolve(&ov("pattern", serde_json::json!("snow"))).is_err());
}

#[test]
fn a_string_param_takes_a_number_as_its_text() {
    let s = parse(&GOOD.replace("[\"smpte\", \"ball\"]", "[\"smpte\", \"18\", \"2.5\"]")).unwrap();
    let ov = |v: serde_json::Value| BTreeMap::from([("pattern".to_string(), v)]);
    let text = |v| match s.resolve(&ov(v)).unwrap().0["pattern"].clone() {
        ParamValue::Str(t) => t,
        other => panic!("{other:?}"),
    };
    assert_eq!(text(serde_json::json!(18)), "18");
    assert_eq!(text(serde_json::json!(2.5)), "2.5");
    let e = s.resolve(&ov(serde_json::json!(7))).unwrap_err().to_string();
    assert!(e.contains("`7` is not one of smpte, 18, 2.5"), "{e}");
    let e = s.resolve(&ov(serde_json::json!(["18"]))).unwrap_err().to_string();
    assert!(e.contains("expected a string"), "{e}");
    assert!(s.resolve(&ov(serde_json::json!(true))).is_err());
}

#[test]
fn element_names_skip_caps_and_quotes() {
    let names = element_names(
        "d3d11screencapturesrc show-cursor=true ! video/x-raw(memory:D3D11Memory),framerate=60/1 ! d3d11convert ! x264enc option-string=\"a!b\" ! queue",
    );
    assert_eq!(names, ["d3d11screencapturesrc", "d3d11convert", "x264enc", "queue"]);
}

proptest::proptest! {
    #[test]
    fn parse_never_panics(text in "\\PC{0,400}") {
        let _ = parse(&text);
    }

    #[test]
    fn substitute_never_panics(text in "[a-z${} =]{0,60}") {
        let s = parse(GOOD).unwrap();
        let _ = s.defaults().substitute(&text);
        let _ = placeholders(&text);
    }
}

#[test]
fn every_mistake_in_a_file_is_reported_with_its_line() {
    let text = r#"description = "several mistakes"
colour = "red"
[params]
width = { default = 640, min = 16, max = "big" }
height = { default = 5, min = 16, max = 4096 }
[video]
source = "videotestsrc ! video/x-raw,width=${width},height=${heigth}"
[[video.encoders]]
element = "x264enc"
profile = "high"
bframes = 2
[[video.encoders]]
element = 7
profile = "main"
[audio]
encoder = "opusenc"
[abr]
min_bitrate = 5
"#;
    let errs = parse(text).unwrap_err();
    let got: Vec<String> = errs.0.iter().map(|e| format!("{}: {}", e.line, e.field)).collect();
    let want = [
        "2: colour",
        "4: params.width",
        "5: params.height",
        "11: video.encoders[0].bframes",
        "10: video.encoders[0].profile",
        "13: video.encoders[1].element",
        "15: audio.source",
        "18: abr.min_bitrate",
        "7: video.source",
    ];
    for w in want {
        assert!(got.iter().any(|g| g == w), "{w} missing from {got:?}\n{errs}");
    }
    assert_eq!(got.len(), want.len(), "{errs}");
    // `${width}` names a parameter whose declaration is wrong: one mistake, not two.
    assert!(errs.to_string().contains("`${heigth}` names no parameter"), "{errs}");
}

#[test]
fn syntax_errors_are_all_reported() {
    let errs = parse("description = \"x\"\n[video\nsource = 1\n[abr\n").unwrap_err();
    assert!(errs.0.len() >= 2 && errs.0[0].line == 2, "{errs}");
    assert!(errs.0.iter().any(|e| e.line == 4), "{errs}");
}

#[test]
fn a_preset_gives_the_element_its_settings_and_the_file_adds_to_them() {
    let with = |block: &str| {
        GOOD.replace(
        "element = \"x264enc\"\nproperties = \"tune=zerolatency\"\nbitrate = { property = \"bitrate\", unit = \"kbit/s\" }\nprofile = \"constrained-baseline\"\n",
        block,
    )
    };
    let s = parse(&with("preset = \"openh264enc\"\n")).unwrap();
    let e = &s.video.encoders[0];
    let record = crate::media::encoders::record("openh264enc").unwrap();
    let preset = record.preset.unwrap();
    assert_eq!((e.element.as_str(), e.profile.as_str(), e.line), ("openh264enc", preset.profile, 10));
    assert_eq!(e.properties.as_ref().unwrap().text, preset.properties);
    assert_eq!(e.bitrate, Some(record.bitrate()), "the bitrate property and unit come from the encoder table");

    let s = parse(&with("preset = \"x264enc\"\nproperties = \"threads=${width}\"\nprofile = \"main\"\n")).unwrap();
    let e = &s.video.encoders[0];
    let props = e.properties.as_ref().unwrap();
    assert!(props.text.ends_with(" threads=${width}") && props.line == 11, "{props:?}");
    assert_eq!(e.profile, "main");

    let errs = parse(&with("preset = \"x265enc\"\n")).unwrap_err();
    assert_eq!(errs.0.len(), 1, "{errs}");
    assert!(
        errs.to_string().starts_with("pipelines/t.toml:10: video.encoders[0].preset: no preset `x265enc`"),
        "{errs}"
    );
}

#[test]
fn an_encoder_without_bitrate_takes_it_from_the_encoder_table() {
    let s = parse(&GOOD.replace("bitrate = { property = \"bitrate\", unit = \"kbit/s\" }\n", "")).unwrap();
    assert_eq!(s.video.encoders[0].bitrate.as_ref().map(|b| b.unit), Some(BitrateUnit::KbitsPerSec));
}
