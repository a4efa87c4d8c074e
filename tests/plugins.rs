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

#[test]
fn gst_inspect_shows_the_playout_delay_extension() {
    let dir = plugin_dir();
    let lib = dir.join("libgstplaycastplayoutdelay.so");
    assert!(lib.exists(), "{} was not built: run the tests with --workspace (scripts/test does)", lib.display());
    let out = Command::new("gst-inspect-1.0")
        .arg("playcastplayoutdelay")
        .env("GST_PLUGIN_PATH", &dir)
        .env("GST_REGISTRY", dir.join("gst-registry-test.bin"))
        .output()
        .expect("gst-inspect-1.0 runs (gstreamer1.0-tools)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "gst-inspect-1.0 failed: {text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("http://www.webrtc.org/experiments/rtp-hdrext/playout-delay"), "{text}");
    assert!(text.contains("Network/Extension/RTPHeader"), "{text}");
    assert!(text.contains("playcastplayoutdelay"), "{text}");
}
