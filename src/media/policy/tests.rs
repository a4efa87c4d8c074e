//! The policy's tests: the lexer against GStreamer's own, the settings and what files may name.

use std::path::Path;

use super::*;

fn names(chain: &str) -> Vec<Named> {
    named(chain)
}

/// The names where an element goes, values left out.
fn elements(chain: &str) -> Vec<Named> {
    named(chain).into_iter().filter(|n| !matches!(n, Named::InValue { .. })).collect()
}

fn el(s: &str) -> Named {
    Named::Element(s.into())
}

fn spec(source: &str) -> PipelineSpec {
    let text = format!(
        r#"description = "t"
[params]
sink = {{ default = "fakesink", choices = ["fakesink", "filesink"] }}
quiet = {{ default = "fakesink", choices = ["fakesink", "appsink"] }}
free = {{ default = "fakesink" }}
[video]
source = '{source}'
[[video.encoders]]
element = "x264enc"
profile = "main"
"#
    );
    PipelineSpec::parse(Path::new("pipelines/t.toml"), &text).unwrap()
}

fn refusals(policy: &ElementPolicy, source: &str) -> Vec<String> {
    policy.check_spec(&spec(source)).iter().map(|e| e.to_string()).collect()
}

#[test]
fn the_lexer_finds_elements_and_skips_caps_references_and_properties() {
    assert_eq!(
        elements("d3d11screencapturesrc show-cursor=true ! video/x-raw(memory:D3D11Memory),framerate=60/1 ! d3d11convert ! x264enc option-string=\"a!b\" ! queue"),
        [el("d3d11screencapturesrc"), el("d3d11convert"), el("x264enc"), el("queue")]
    );
    // Caps at either end, quoted caps, caps with spaces after commas.
    assert_eq!(
        elements("video/x-raw,format=NV12 ! videoconvert ! \"video/x-raw, width=(int)5\" ! fakesink ! audio/x-raw"),
        [el("videoconvert"), el("fakesink")]
    );
    // Elements after a blank instead of `!`, bins, bin types, references.
    assert_eq!(
        names("tee name=t t. ! queue ! fakesink  t.src_1 ! ( name=b filesrc ) bin.( filesink ) .src ! x"),
        [el("tee"), el("queue"), el("fakesink"), el("filesrc"), el("bin"), el("filesink"), el("x")]
    );
    // Spaces around `=` still make a property; its value is searched.
    assert_eq!(
        names("fpsdisplaysink video-sink = fakesink name=filesink"),
        [el("fpsdisplaysink"), Named::InValue { property: "video-sink".into(), element: "fakesink".into() }]
    );
    // Paths and URIs where an element goes.
    assert_eq!(names("/etc/passwd ! fakesink"), [Named::Uri("/etc/passwd".into()), el("fakesink")]);
    assert_eq!(names("fakesrc ! file:///tmp/x"), [el("fakesrc"), Named::Uri("file:///tmp/x".into())]);
    // Launch syntax in a value, quoted, with properties of its own.
    assert_eq!(
        names("fpsdisplaysink video-sink=\"filesink location=/tmp/x\" sink-factory=multifilesink"),
        [
            el("fpsdisplaysink"),
            Named::InValue { property: "video-sink".into(), element: "filesink".into() },
            Named::InValue { property: "sink-factory".into(), element: "multifilesink".into() },
        ]
    );
}

#[test]
fn the_default_refuses_host_elements_and_allows_the_rest() {
    let p = ElementPolicy::default();
    for (name, _) in HOST_ELEMENTS {
        assert!(p.refusal(name).is_some(), "{name}");
    }
    for name in ["videotestsrc", "x264enc", "playcastx11src", "pulsesrc", "opusenc", "queue", "videoconvert"] {
        assert_eq!(p.refusal(name), None, "{name}");
    }
    assert_eq!(
        refusals(&p, "videotestsrc ! tee name=t t. ! queue ! filesink location=/tmp/out"),
        ["pipelines/t.toml:7: video.source: element `filesink` is not allowed by the element policy (it writes any host file; media.insecure_host_elements lifts this)"]
    );
    assert!(refusals(&p, "videotestsrc is-live=true ! video/x-raw,width=64 ! videoconvert").is_empty());
}

#[test]
fn elements_in_bins_values_and_uris_are_found() {
    let p = ElementPolicy::default();
    let one = |source: &str| {
        let r = refusals(&p, source);
        assert_eq!(r.len(), 1, "{source}: {r:?}");
        r[0].clone()
    };
    assert!(one("( shmsrc socket-path=/tmp/s ) ! videoconvert").contains("element `shmsrc` is not allowed"));
    assert!(one("videotestsrc ! fakesink filesrc location=/etc/passwd").contains("element `filesrc`"));
    assert!(one("videotestsrc ! fpsdisplaysink video-sink=\"filesink location=/tmp/x\"")
        .contains("element `filesink` in the value of `video-sink` is not allowed"));
    assert!(one("/etc/passwd ! videoparse").contains("`/etc/passwd` stands where an element goes"));
    // A caps field that spells an element's name is not an element.
    assert!(refusals(&p, "videotestsrc ! video/x-raw,format=filesink ! videoconvert").is_empty());
}

#[test]
fn placeholders_are_judged_by_every_value_a_client_may_give() {
    let p = ElementPolicy::default();
    let r = refusals(&p, "videotestsrc ! ${sink}");
    assert_eq!(r.len(), 1, "{r:?}");
    assert!(r[0].contains("element `filesink` is not allowed"), "{r:?}");
    assert!(refusals(&p, "videotestsrc ! ${quiet}").is_empty());
    let r = refusals(&p, "videotestsrc ! ${free}");
    assert!(r[0].contains("comes from parameter `free`, whose values the element policy cannot list"), "{r:?}");
}

#[test]
fn allow_and_deny_lists() {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let p = ElementPolicy::new(&s(&["videotestsrc", "x264enc"]), &[], &[]).unwrap();
    assert!(refusals(&p, "videotestsrc").is_empty());
    let r = refusals(&p, "videotestsrc ! videoflip");
    assert_eq!(
        r,
        ["pipelines/t.toml:7: video.source: element `videoflip` is not allowed by the element policy (not in media.allow_elements)"]
    );
    // A host element stays refused when only allowed: lifting needs the loud setting.
    let p = ElementPolicy::new(&s(&["videotestsrc", "x264enc", "filesink"]), &[], &[]).unwrap();
    assert!(refusals(&p, "videotestsrc ! filesink")[0].contains("insecure_host_elements lifts this"));
    let p = ElementPolicy::new(&s(&["videotestsrc", "x264enc", "filesink"]), &[], &s(&["filesink"])).unwrap();
    assert!(refusals(&p, "videotestsrc ! filesink").is_empty());

    let p = ElementPolicy::new(&[], &s(&["videoflip", "x264enc"]), &[]).unwrap();
    let r: Vec<String> = p.check_spec(&spec("videotestsrc ! videoflip")).iter().map(|e| e.to_string()).collect();
    assert_eq!(
        r,
        [
            "pipelines/t.toml:7: video.source: element `videoflip` is not allowed by the element policy (media.deny_elements)",
            "pipelines/t.toml:9: video.encoders[0].element: element `x264enc` is not allowed by the element policy (media.deny_elements)",
        ]
    );
}

#[test]
fn an_allow_list_holds_the_output_element_too() {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let text = "description = \"t\"\noutput = \"webrtcsink\"\n[video]\nsource = \"videotestsrc\"\n\
                [[video.encoders]]\nelement = \"x264enc\"\nprofile = \"main\"\n";
    let spec = PipelineSpec::parse(Path::new("pipelines/t.toml"), text).unwrap();
    let p = ElementPolicy::new(&s(&["videotestsrc", "x264enc"]), &[], &[]).unwrap();
    let r: Vec<String> = p.check_spec(&spec).iter().map(|e| e.to_string()).collect();
    assert_eq!(
        r,
        ["pipelines/t.toml:2: output: element `webrtcsink` is not allowed by the element policy (not in media.allow_elements)"]
    );
    let p = ElementPolicy::new(&s(&["videotestsrc", "x264enc", "webrtcsink"]), &[], &[]).unwrap();
    assert!(p.check_spec(&spec).is_empty());
    assert!(ElementPolicy::default().check_spec(&spec).is_empty());
}

#[test]
fn settings_are_checked() {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let e = ElementPolicy::new(&s(&["file sink"]), &[], &[]).unwrap_err();
    assert_eq!(e.to_string(), "media.allow_elements: `file sink` is not an element name");
    let e = ElementPolicy::new(&s(&["queue"]), &s(&["queue"]), &[]).unwrap_err();
    assert_eq!(e.to_string(), "media.deny_elements: `queue` is also in media.allow_elements");
    let e = ElementPolicy::new(&[], &[], &s(&["queue"])).unwrap_err();
    assert!(e.to_string().starts_with("media.insecure_host_elements: `queue` is not one of the built-in"), "{e}");
}

proptest::proptest! {
    #[test]
    fn the_lexer_never_panics(chain in "\\PC{0,200}") {
        let _ = named(&chain);
    }
}
