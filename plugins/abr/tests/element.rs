//! The `playcastabr` element under GStreamer's check harness: RTP passes
//! through untouched, transport-wide feedback drives a real x264enc's bitrate
//! and a real scaler's size and frame rate, and hostile feedback never makes
//! it panic or leave its bounds.

use std::time::{Duration, Instant};

use gst::glib;
use gst::prelude::*;
use gst_check::Harness;

const MIN: u32 = 300_000;
const MAX: u32 = 20_000_000;

fn init() {
    gst::init().unwrap();
    gstplaycastabr::plugin_register_static().unwrap();
}

/// A harness around a fresh element with `props`, and a bus to read its messages.
fn harness(props: &[(&str, glib::Value)]) -> (Harness, gst::Element, gst::Bus) {
    init();
    let mut b = gst::ElementFactory::make("playcastabr")
        .property("min-bitrate", MIN)
        .property("max-bitrate", MAX)
        .property("start-bitrate", 10_000_000u32);
    for (k, v) in props {
        b = b.property(k, v.clone());
    }
    let abr = b.build().unwrap();
    let bus = gst::Bus::new();
    abr.set_bus(Some(&bus));
    let mut h = Harness::with_element(&abr, Some("sink"), Some("src"));
    h.set_src_caps_str("application/x-rtp,media=video,encoding-name=H264,clock-rate=90000,payload=96");
    (h, abr, bus)
}

fn rtp(seq: u16) -> gst::Buffer {
    let mut buf = gst::Buffer::with_size(12 + 100).unwrap();
    {
        let b = buf.get_mut().unwrap();
        let mut map = b.map_writable().unwrap();
        map[0] = 0x80;
        map[1] = 96;
        map[2..4].copy_from_slice(&seq.to_be_bytes());
        map[12..].fill(seq as u8);
    }
    buf
}

/// One packet of a feedback report, as the RTP session builds it.
fn packet(seq: u32, local_ns: u64, remote_ns: Option<u64>, size: u32) -> gst::Structure {
    gst::Structure::builder("RTPTWCCPacket")
        .field("seqnum", seq)
        .field("local-ts", local_ns)
        .field("remote-ts", remote_ns.unwrap_or(u64::MAX))
        .field("payload-type", 96u8)
        .field("size", size)
        .field("lost", remote_ns.is_none())
        .build()
}

fn report(packets: Vec<gst::Structure>) -> gst::Event {
    list_event(glib::ValueArray::new(packets))
}

/// The event around a packet list, as the RTP session sends it.
fn list_event(array: glib::ValueArray) -> gst::Event {
    // SAFETY: the array holds only values of Send types (structures, strings)
    // and nothing else refers to it.
    let packets = unsafe { array.to_value().into_send_value() };
    let mut s = gst::Structure::new_empty("RTPTWCCPackets");
    s.set_value("packets", packets);
    gst::event::CustomUpstream::new(s)
}

/// A bottleneck of `capacity_bps` with a FIFO queue in front of it, fed by a
/// sender that follows the element's estimate: 60 frames a second, a report
/// every 50 ms of media time.
struct Link {
    seq: u32,
    now_ns: u64,
    free_at_ns: u64,
}

impl Link {
    fn new() -> Self {
        Link { seq: 0, now_ns: 1_000_000_000, free_at_ns: 0 }
    }

    fn run(&mut self, h: &mut Harness, abr: &gst::Element, seconds: f64, capacity_bps: f64) -> Vec<u32> {
        let mut estimates = Vec::new();
        let mut pending = Vec::new();
        for frame in 0..(seconds * 60.0) as usize {
            let rate = abr.property::<u32>("estimated-bitrate") as f64;
            let packets = ((rate / 8.0 / 60.0) / 1200.0).ceil().max(1.0) as usize;
            for _ in 0..packets {
                self.seq = (self.seq + 1) % 65536;
                let start = self.free_at_ns.max(self.now_ns);
                self.free_at_ns = start + (1200.0 * 8.0 / capacity_bps * 1e9) as u64;
                pending.push(packet(self.seq, self.now_ns, Some(self.free_at_ns + 20_000_000), 1200));
            }
            self.now_ns += 16_666_667;
            if frame % 3 == 2 {
                assert!(h.push_upstream_event(report(std::mem::take(&mut pending))));
                estimates.push(abr.property::<u32>("estimated-bitrate"));
            }
        }
        estimates
    }
}

#[test]
fn rtp_passes_through_unchanged() {
    let (mut h, _, _) = harness(&[]);
    for seq in [1u16, 2, 65535, 0] {
        let sent = rtp(seq);
        let want = sent.map_readable().unwrap().to_vec();
        h.push(sent).unwrap();
        let got = h.pull().unwrap();
        assert_eq!(got.map_readable().unwrap().as_slice(), want.as_slice());
    }
    // Other upstream events still reach the payloader side.
    h.push_upstream_event(gst::event::Reconfigure::new());
}

#[test]
fn feedback_drives_a_real_x264enc_down_to_the_link_and_back_up() {
    init();
    let enc = gst::ElementFactory::make("x264enc").property("bitrate", 9000u32).build().unwrap();
    let (mut h, abr, bus) = harness(&[("encoder", enc.to_value()), ("bitrate-unit", 1000u32.to_value())]);
    h.push(rtp(1)).unwrap();
    let mut link = Link::new();
    link.run(&mut h, &abr, 5.0, 30_000_000.0);
    let down = link.run(&mut h, &abr, 8.0, 3_000_000.0);
    let low = *down.last().unwrap();
    assert!(low < 3_000_000, "estimate {low} on a 3 Mbit/s link");
    let kbps = enc.property::<u32>("bitrate");
    assert!(kbps * 1000 <= 3_000_000, "x264enc bitrate {kbps} kbit/s on a 3 Mbit/s link");
    assert!(kbps * 1000 >= MIN * 9 / 10, "x264enc bitrate {kbps} kbit/s under the floor");
    assert!(abr.property::<u32>("target-bitrate") / 1000 == kbps);
    // The link comes back; the estimate climbs (8 %/s growth, released in steps).
    let t0 = Instant::now();
    let mut up = Vec::new();
    while t0.elapsed() < Duration::from_secs(4) {
        up.extend(link.run(&mut h, &abr, 1.0, 30_000_000.0));
        std::thread::sleep(Duration::from_millis(200));
    }
    let high = *up.last().unwrap();
    assert!(high > low, "estimate stayed at {high} after the link recovered (low {low})");
    assert!(down.iter().chain(&up).all(|&b| (MIN..=MAX).contains(&b)));
    assert_eq!(abr.property::<u64>("feedback-reports") as usize, 5 * 20 + down.len() + up.len());
    // Changes were announced on the bus.
    let msgs: Vec<_> = std::iter::from_fn(|| bus.pop_filtered(&[gst::MessageType::Element])).collect();
    assert!(msgs.len() >= 2, "{} messages", msgs.len());
    let s = msgs.last().unwrap().structure().unwrap();
    assert_eq!(s.name(), "playcast-abr");
    assert!(s.get::<u64>("estimated-bitrate").is_ok() && s.get::<u64>("target-bitrate").is_ok(), "{s}");
}

#[test]
fn adaptation_off_estimates_but_leaves_the_encoder_alone() {
    init();
    let enc = gst::ElementFactory::make("x264enc").property("bitrate", 9000u32).build().unwrap();
    let (mut h, abr, _) =
        harness(&[("encoder", enc.to_value()), ("bitrate-unit", 1000u32.to_value()), ("adapt", false.to_value())]);
    let mut link = Link::new();
    let v = link.run(&mut h, &abr, 8.0, 3_000_000.0);
    assert!(*v.last().unwrap() < 3_000_000);
    assert_eq!(enc.property::<u32>("bitrate"), 9000);
}

#[test]
fn openh264enc_is_driven_in_bit_per_second() {
    init();
    let Ok(enc) = gst::ElementFactory::make("openh264enc").property("bitrate", 9_000_000u32).build() else {
        panic!("openh264enc missing: scripts/setup.sh installs gstreamer1.0-plugins-bad");
    };
    let (mut h, abr, _) = harness(&[("encoder", enc.to_value()), ("bitrate-unit", 1u32.to_value())]);
    Link::new().run(&mut h, &abr, 8.0, 2_000_000.0);
    let bps = enc.property::<u32>("bitrate");
    assert!((MIN * 9 / 10..2_000_000).contains(&bps), "openh264enc bitrate {bps}");
}

#[test]
fn a_paused_sender_is_not_mistaken_for_a_dead_link() {
    let (mut h, abr, _) = harness(&[]);
    let mut link = Link::new();
    link.run(&mut h, &abr, 3.0, 30_000_000.0);
    h.push(rtp(1)).unwrap();
    let before = abr.property::<u32>("estimated-bitrate");
    // Paused: nothing passes for 1.5 s, so no feedback comes either.
    std::thread::sleep(Duration::from_millis(1500));
    h.push(rtp(2)).unwrap();
    std::thread::sleep(Duration::from_millis(150));
    h.push(rtp(3)).unwrap();
    assert_eq!(abr.property::<u32>("estimated-bitrate"), before, "the estimate was cut for a pause");
    // A real silence while sending still counts.
    for i in 0..14u16 {
        std::thread::sleep(Duration::from_millis(100));
        h.push(rtp(4 + i)).unwrap();
    }
    assert!(abr.property::<u32>("estimated-bitrate") < before, "no back-off after 1.4 s without feedback");
}

#[test]
fn hostile_feedback_never_panics_or_leaves_the_bounds() {
    let (mut h, abr, _) = harness(&[]);
    let garbage = [
        report(vec![]),
        gst::event::CustomUpstream::new(gst::Structure::new_empty("RTPTWCCPackets")),
        gst::event::CustomUpstream::new(gst::Structure::builder("RTPTWCCPackets").field("packets", "nope").build()),
        report(vec![gst::Structure::new_empty("RTPTWCCPacket")]),
        report(vec![packet(70_000, 1, Some(2), 1200)]),
        report(vec![packet(1, u64::MAX - 1, Some(0), u32::MAX)]),
        report(vec![packet(2, 0, Some(u64::MAX - 1), 0)]),
        report(vec![packet(3, 5, Some(5), 1200), packet(3, 5, Some(5), 1200), packet(2, 9, Some(1), 1200)]),
        report((0..2000).map(|i| packet(i % 65536, i as u64 * 1000, None, 1200)).collect()),
    ];
    for _ in 0..20 {
        for e in &garbage {
            h.push_upstream_event(e.clone());
            let b = abr.property::<u32>("estimated-bitrate");
            assert!((MIN..=MAX).contains(&b), "{b}");
        }
    }
    // Values outside the lists' types: a packet list of strings.
    h.push_upstream_event(list_event(glib::ValueArray::new(["a", "b"])));
    let b = abr.property::<u32>("estimated-bitrate");
    assert!((MIN..=MAX).contains(&b), "{b}");
}

#[test]
fn heavy_loss_in_receiver_reports_cuts_the_estimate() {
    let (_h, abr, _) = harness(&[]);
    let before = abr.property::<u32>("estimated-bitrate");
    for _ in 0..10 {
        abr.emit_by_name::<()>("receiver-report", &[&0.3f64]);
    }
    let after = abr.property::<u32>("estimated-bitrate");
    assert!(after < before / 2, "{before} -> {after}");
    for v in [f64::NAN, f64::INFINITY, -1.0, 7.0] {
        abr.emit_by_name::<()>("receiver-report", &[&v]);
        assert!((MIN..=MAX).contains(&abr.property::<u32>("estimated-bitrate")));
    }
}

#[test]
fn a_bad_ladder_is_an_error_and_keeps_the_last_good_one() {
    let (_h, abr, bus) = harness(&[("ladder", "1280x720@60:3000000, 640x360@30:500000".to_value())]);
    abr.set_property("ladder", "1280x720@60:3000000, 1920x1080@60:500000");
    assert_eq!(abr.property::<String>("ladder"), "1280x720@60:3000000, 640x360@30:500000");
    let err = bus.pop_filtered(&[gst::MessageType::Error]).expect("an error message");
    let gst::MessageView::Error(e) = err.view() else { unreachable!() };
    assert!(e.error().to_string().contains("steps must go from best to worst"), "{}", e.error());
}

/// videotestsrc 1280x720@60 → videoscale → capsfilter (the scaler) → appsink,
/// with the element told about the scaler; the link drops to 1 Mbit/s.
#[test]
fn a_collapsed_link_steps_the_picture_size_and_frame_rate_down() {
    init();
    let pipeline = gst::parse::launch(
        "videotestsrc is-live=true ! video/x-raw,width=1280,height=720,framerate=60/1 ! videoscale ! \
         capsfilter name=scaler ! fakesink name=sink sync=false",
    )
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let scaler = pipeline.by_name("scaler").unwrap();
    let sink = pipeline.by_name("sink").unwrap();
    let frames = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(gst::ClockTime, i32)>::new()));
    let seen = frames.clone();
    sink.static_pad("sink").unwrap().add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
        let width = pad.current_caps().and_then(|c| c.structure(0).and_then(|s| s.get::<i32>("width").ok()));
        if let (Some(pts), Some(w)) = (info.buffer().and_then(|b| b.pts()), width) {
            seen.lock().unwrap().push((pts, w));
        }
        gst::PadProbeReturn::Ok
    });
    // Dropping frames at the gate must not upset GStreamer's own checks.
    let criticals = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let seen_critical = criticals.clone();
    glib::log_set_handler(Some("GStreamer"), glib::LogLevels::LEVEL_CRITICAL, false, false, move |_, _, msg| {
        seen_critical.lock().unwrap().push(msg.to_owned())
    });
    let (mut h, abr, _) = harness(&[
        ("scaler", scaler.to_value()),
        ("ladder", "1280x720@60:3000000, 1280x720@30:1500000, 640x360@30:300000".to_value()),
    ]);
    pipeline.set_state(gst::State::Playing).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(abr.property::<u32>("ladder-step"), 0);
    let mut link = Link::new();
    let t0 = Instant::now();
    while abr.property::<u32>("ladder-step") == 0 && t0.elapsed() < Duration::from_secs(5) {
        link.run(&mut h, &abr, 1.0, 1_000_000.0);
        std::thread::sleep(Duration::from_millis(100));
    }
    let step = abr.property::<u32>("ladder-step");
    assert_eq!(step, 2, "1 Mbit/s fits 360p30");
    let switched = frames.lock().unwrap().len();
    std::thread::sleep(Duration::from_millis(1500));
    let after: Vec<_> = frames.lock().unwrap()[switched..].to_vec();
    pipeline.set_state(gst::State::Null).unwrap();
    let small = after.iter().filter(|(_, w)| *w == 640).count();
    assert!(small > 10, "no 640-wide frames after the step: {after:?}");
    // About 30 of each second's frames pass the gate (the source makes 60).
    let span = (after.last().unwrap().0 - after.first().unwrap().0).seconds_f64();
    let fps = (after.len() - 1) as f64 / span;
    assert!((20.0..=40.0).contains(&fps), "{fps:.1} fps after the step");
    assert_eq!(*criticals.lock().unwrap(), Vec::<String>::new(), "GStreamer critical warnings");
}

/// A screen-change capture sends frames between its regular ones (a key
/// press redraws at once). At a step whose frame rate is the stream's own the
/// gate lets every one of them through: they are the frames that answer input.
#[test]
fn frames_between_the_regular_ones_pass_at_the_stream_frame_rate() {
    init();
    let mut scaler = Harness::new("capsfilter");
    scaler.set_src_caps_str("video/x-raw,format=I420,width=320,height=240,framerate=60/1");
    let (_h, abr, _) = harness(&[
        ("scaler", scaler.element().unwrap().to_value()),
        ("ladder", "320x240@60:3000000, 320x240@30:1500000".to_value()),
    ]);
    assert_eq!(abr.property::<u32>("ladder-step"), 0);
    // A frame every 16.7 ms, and after every third one another 4 ms later.
    let times: Vec<u64> = (0..60u64)
        .flat_map(|i| {
            let t = i * 1_000_000_000 / 60;
            if i % 3 == 0 {
                vec![t, t + 4_000_000]
            } else {
                vec![t]
            }
        })
        .collect();
    for &t in &times {
        let mut b = gst::Buffer::with_size(320 * 240 * 3 / 2).unwrap();
        b.get_mut().unwrap().set_pts(gst::ClockTime::from_nseconds(t));
        scaler.push(b).unwrap();
    }
    assert_eq!(scaler.buffers_received() as usize, times.len(), "frames dropped at the top step");
}
