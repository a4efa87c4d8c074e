//! Pad-probe helpers shared with the service's own probes.

/// Drops the probed buffer (or list) here and tells the pad it was handled.
/// A Rust probe owns the data while it runs, so answering `Drop` would leave
/// GStreamer 1.22 unreferencing an empty slot: a critical warning for every
/// dropped buffer.
pub fn drop_buffer(info: &mut gst::PadProbeInfo) -> gst::PadProbeReturn {
    info.data.take();
    gst::PadProbeReturn::Handled
}
