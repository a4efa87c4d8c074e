//! Our elements load as ordinary GStreamer plugins too: `gst-inspect-1.0`
//! finds them through GST_PLUGIN_PATH and shows their details.

use std::path::PathBuf;
use std::process::Command;

/// Folder holding the plugin libraries cargo built next to this test.
fn plugin_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/<test> -> target/<profile>
    exe.parent().and_then(|p| p.parent()).unwrap().to_owned()
}

/// `gst-inspect-1.0 ELEMENT` with only the library `lib` of this build; its output.
fn inspect(lib: &str, element: &str) -> String {
    let dir = plugin_dir();
    let path = dir.join(lib);
    assert!(path.exists(), "{} was not built: run the tests with --workspace (scripts/test does)", path.display());
    let out = Command::new("gst-inspect-1.0")
        .arg(element)
        .env("GST_PLUGIN_PATH", &dir)
        .env("GST_REGISTRY", dir.join(format!("gst-registry-{element}.bin")))
        .output()
        .expect("gst-inspect-1.0 runs (gstreamer1.0-tools)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "gst-inspect-1.0 failed: {text}{}", String::from_utf8_lossy(&out.stderr));
    text
}

#[test]
fn gst_inspect_shows_the_playout_delay_extension() {
    let text = inspect("libgstplaycastplayoutdelay.so", "playcastplayoutdelay");
    for want in [
        "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay",
        "Network/Extension/RTPHeader",
        "playcastplayoutdelay",
    ] {
        assert!(text.contains(want), "`{want}` missing from:\n{text}");
    }
}

#[test]
fn gst_inspect_shows_the_capture_element() {
    let text = inspect("libgstplaycastx11capture.so", "playcastx11src");
    for want in ["Source/Video", "display-name", "min-interval", "idle-interval", "BGRx"] {
        assert!(text.contains(want), "`{want}` missing from:\n{text}");
    }
}

#[test]
fn gst_inspect_shows_the_adaptive_bitrate_element_and_its_properties() {
    let text = inspect("libgstplaycastabr.so", "playcastabr");
    for want in [
        "Filter/Network/RTP",
        "min-bitrate",
        "max-bitrate",
        "start-bitrate",
        "estimated-bitrate",
        "target-bitrate",
        "adapt",
        "video-share",
        "encoder",
        "bitrate-property",
        "bitrate-unit",
        "scaler",
        "ladder",
        "ladder-step",
        "feedback-reports",
        "receiver-report",
        "application/x-rtp",
    ] {
        assert!(text.contains(want), "`{want}` missing from:\n{text}");
    }
}
