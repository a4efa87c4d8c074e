//! Frame accounting in front of and behind the encoder: how many frames the
//! source made, how many the encoder got and produced, and how long each took
//! to encode. The quality monitor turns these into fps, drops and encoder
//! latency.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::sync::Locked;
use gst::prelude::*;

/// Frames whose encode start is remembered; an encoder that swallows frames
/// (rate control skipping) must not grow this without bound.
const IN_FLIGHT: usize = 64;

#[derive(Default)]
pub struct FrameCounters {
    /// Frames that reached the queue in front of the encoder (not paused).
    pub captured: AtomicU64,
    /// Frames handed to the encoder.
    pub to_encoder: AtomicU64,
    /// Encoded frames out of the encoder.
    pub encoded: AtomicU64,
    /// Sum and count of encode times since the last read, microseconds.
    encode_us: AtomicU64,
    encode_n: AtomicU64,
    encode_max_us: AtomicU64,
    started: Mutex<VecDeque<(gst::ClockTime, Instant)>>,
}

/// A reading of the counters.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FrameTotals {
    pub captured: u64,
    pub to_encoder: u64,
    pub encoded: u64,
    /// Mean and worst encode time over the frames since the previous reading.
    pub encode_ms_mean: Option<f64>,
    pub encode_ms_max: Option<f64>,
}

impl FrameCounters {
    /// Counts at the queue's input (skipping frames dropped while `paused`),
    /// and around the encoder `venc`.
    pub fn install(queue_sink: &gst::Pad, venc: &gst::Element, paused: Arc<AtomicBool>) -> Arc<Self> {
        let c = Arc::new(FrameCounters::default());
        let counters = c.clone();
        queue_sink.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            if !paused.load(Ordering::Relaxed) {
                counters.captured.fetch_add(1, Ordering::Relaxed);
            }
            gst::PadProbeReturn::Ok
        });
        if let Some(pad) = venc.static_pad("sink") {
            let counters = c.clone();
            pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
                counters.to_encoder.fetch_add(1, Ordering::Relaxed);
                if let Some(pts) = running_time(pad, info) {
                    let mut started = counters.started.locked();
                    if started.len() >= IN_FLIGHT {
                        started.pop_front();
                    }
                    started.push_back((pts, Instant::now()));
                }
                gst::PadProbeReturn::Ok
            });
        }
        if let Some(pad) = venc.static_pad("src") {
            let counters = c.clone();
            pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
                counters.encoded.fetch_add(1, Ordering::Relaxed);
                if let Some(pts) = running_time(pad, info) {
                    counters.finished(pts);
                }
                gst::PadProbeReturn::Ok
            });
        }
        c
    }

    fn finished(&self, pts: gst::ClockTime) {
        let mut started = self.started.locked();
        // Frames come out in order (no B-frames): anything older was skipped.
        while let Some(&(p, at)) = started.front() {
            if p > pts {
                break;
            }
            started.pop_front();
            if p == pts {
                let us = at.elapsed().as_micros().min(u128::from(u64::MAX)) as u64;
                self.encode_us.fetch_add(us, Ordering::Relaxed);
                self.encode_n.fetch_add(1, Ordering::Relaxed);
                self.encode_max_us.fetch_max(us, Ordering::Relaxed);
                break;
            }
        }
    }

    /// Totals so far; the encode times restart from here.
    pub fn read(&self) -> FrameTotals {
        let n = self.encode_n.swap(0, Ordering::Relaxed);
        let sum = self.encode_us.swap(0, Ordering::Relaxed);
        let max = self.encode_max_us.swap(0, Ordering::Relaxed);
        FrameTotals {
            captured: self.captured.load(Ordering::Relaxed),
            to_encoder: self.to_encoder.load(Ordering::Relaxed),
            encoded: self.encoded.load(Ordering::Relaxed),
            encode_ms_mean: (n > 0).then(|| sum as f64 / n as f64 / 1000.0),
            encode_ms_max: (n > 0).then(|| max as f64 / 1000.0),
        }
    }
}

/// A buffer's time on the pipeline's clock: encoders shift their output
/// timestamps (x264enc by 1000 hours, to keep DTS positive) with a matching
/// segment, so only running times compare across the encoder.
fn running_time(pad: &gst::Pad, info: &gst::PadProbeInfo) -> Option<gst::ClockTime> {
    let pts = info.buffer()?.pts()?;
    let segment = pad.sticky_event::<gst::event::Segment>(0)?;
    segment.segment().downcast_ref::<gst::ClockTime>()?.to_running_time(pts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_times_match_frames_and_skipped_frames_are_forgotten() {
        let c = FrameCounters::default();
        {
            let mut s = c.started.lock().unwrap();
            for i in 0..5u64 {
                s.push_back((gst::ClockTime::from_mseconds(i * 16), Instant::now()));
            }
        }
        c.finished(gst::ClockTime::from_mseconds(16));
        c.finished(gst::ClockTime::from_mseconds(48)); // 32 was skipped by the encoder
        c.finished(gst::ClockTime::from_mseconds(999)); // never started: ignored, queue emptied
        let t = c.read();
        assert!(t.encode_ms_mean.is_some() && t.encode_ms_max.unwrap() >= t.encode_ms_mean.unwrap());
        assert_eq!(c.encode_n.load(Ordering::Relaxed), 0, "a read restarts the window");
        assert!(c.started.lock().unwrap().is_empty());
        assert_eq!(c.read().encode_ms_mean, None);
    }
}

#[cfg(test)]
mod pipeline_tests {
    use super::*;

    #[test]
    fn counts_frames_and_encode_times_around_a_real_x264enc() {
        gst::init().unwrap();
        let p = gst::parse::launch(
            "videotestsrc num-buffers=30 ! video/x-raw,width=320,height=240,framerate=30/1 ! queue name=q ! \
             x264enc name=enc tune=zerolatency speed-preset=ultrafast ! fakesink",
        )
        .unwrap()
        .downcast::<gst::Bin>()
        .unwrap();
        let q = p.by_name("q").unwrap();
        let c = FrameCounters::install(&q.static_pad("sink").unwrap(), &p.by_name("enc").unwrap(), Arc::default());
        p.set_state(gst::State::Playing).unwrap();
        let bus = p.bus().unwrap();
        let msg =
            bus.timed_pop_filtered(gst::ClockTime::from_seconds(20), &[gst::MessageType::Eos, gst::MessageType::Error]);
        p.set_state(gst::State::Null).unwrap();
        assert!(matches!(msg.map(|m| m.type_()), Some(gst::MessageType::Eos)));
        let t = c.read();
        assert_eq!((t.captured, t.to_encoder, t.encoded), (30, 30, 30), "{t:?}");
        let mean = t.encode_ms_mean.expect("encode times measured");
        assert!(mean > 0.0 && mean < 1000.0 && t.encode_ms_max.unwrap() >= mean, "{t:?}");
    }
}
