//! `playcastx11src` against a real Xvfb: it grabs what is drawn, grabs a still screen only every idle interval, and fails clearly
//! on a display that is not there.

mod common;

use std::time::{Duration, Instant};

use common::Xvfb;
use gst::prelude::*;
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{self, ConnectionExt as _};

fn capture(display: &str, idle_ms: u32) -> (gst::Pipeline, gst::Element) {
    playcast::media::init().unwrap();
    let desc = format!(
        "playcastx11src display-name={display} idle-interval={idle_ms} ! appsink name=sink sync=false max-buffers=100"
    );
    let pipeline = gst::parse::launch(&desc).unwrap().downcast::<gst::Pipeline>().unwrap();
    let sink = pipeline.by_name("sink").unwrap();
    (pipeline, sink)
}

fn pull(sink: &gst::Element, timeout: Duration) -> Option<gst::Sample> {
    sink.emit_by_name::<Option<gst::Sample>>("try-pull-sample", &[&(timeout.as_nanos() as u64)])
}

/// BGRx of the pixel at (x, y) in a 320-wide frame.
fn pixel(sample: &gst::Sample, x: usize, y: usize) -> [u8; 3] {
    let map = sample.buffer().unwrap().map_readable().unwrap();
    let i = (y * 320 + x) * 4;
    [map[i + 2], map[i + 1], map[i]]
}

#[test]
fn grabs_what_is_drawn_and_idles_on_a_still_screen() {
    let x = Xvfb::start("320x240");
    let (pipeline, sink) = capture(&x.1, 200);
    pipeline.set_state(gst::State::Playing).unwrap();
    let first = pull(&sink, Duration::from_secs(5)).expect("the first frame at once");
    let caps = first.caps().unwrap().structure(0).unwrap().to_owned();
    assert_eq!(caps.get::<&str>("format").unwrap(), "BGRx");
    assert_eq!((caps.get::<i32>("width").unwrap(), caps.get::<i32>("height").unwrap()), (320, 240));
    assert!(first.buffer().unwrap().pts().is_some(), "frames carry their grab time");

    // Nothing changes for a second: grabs come every idle interval, not every tick.
    while pull(&sink, Duration::ZERO).is_some() {}
    let start = Instant::now();
    let mut still = 0;
    while start.elapsed() < Duration::from_secs(1) {
        if pull(&sink, Duration::from_millis(50)).is_some() {
            still += 1;
        }
    }
    assert!((2..=8).contains(&still), "{still} grabs of a still screen in 1 s with a 200 ms idle interval");

    // Something is drawn: a grab shows it.
    let (conn, screen) = x11rb::connect(Some(&x.1)).unwrap();
    let root = conn.setup().roots[screen].root;
    let win = conn.generate_id().unwrap();
    let aux = xproto::CreateWindowAux::new().background_pixel(0xff0000).override_redirect(1);
    conn.create_window(
        x11rb::COPY_DEPTH_FROM_PARENT,
        win,
        root,
        0,
        0,
        100,
        100,
        0,
        xproto::WindowClass::INPUT_OUTPUT,
        x11rb::COPY_FROM_PARENT,
        &aux,
    )
    .unwrap();
    conn.map_window(win).unwrap();
    conn.flush().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let red = loop {
        let s = pull(&sink, Duration::from_millis(500)).expect("frames keep coming");
        if pixel(&s, 50, 50) == [255, 0, 0] {
            break s;
        }
        assert!(Instant::now() < deadline, "the red window never showed in a grab");
    };
    assert_eq!(pixel(&red, 200, 200), [0, 0, 0], "outside the window the screen is black");
    pipeline.set_state(gst::State::Null).unwrap();
}

#[test]
fn a_missing_display_is_a_clear_error() {
    let (pipeline, _) = capture(":4093", 100);
    let result = pipeline.set_state(gst::State::Playing);
    let bus = pipeline.bus().unwrap();
    let msg = bus.timed_pop_filtered(gst::ClockTime::from_seconds(5), &[gst::MessageType::Error]);
    let text = msg.map(|m| match m.view() {
        gst::MessageView::Error(e) => format!("{} {:?}", e.error(), e.debug()),
        _ => String::new(),
    });
    assert!(result.is_err() || text.is_some(), "starting on a missing display must fail");
    let text = text.expect("an error message on the bus");
    assert!(text.contains("cannot capture X display"), "{text}");
    pipeline.set_state(gst::State::Null).unwrap();
}
