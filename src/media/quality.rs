//! The player's view of a stream, from the RTCP receiver reports webrtcbin
//! gets back (round-trip time, loss, jitter), its sender statistics (bytes,
//! NACK/PLI/FIR), the adaptive-bitrate element (estimate, ladder step) and the
//! pipeline's frame counters (fps, drops, encode time); and a monitor that
//! turns samples into "degraded" and "recovered" alerts without flapping.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gst::glib;
use gst::prelude::*;
use serde::Serialize;

use super::frames::{FrameCounters, FrameTotals};
use crate::sync::Locked;

/// One look at the connection and the pipeline.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Quality {
    pub rtt_ms: Option<f64>,
    /// Fraction of packets lost since the previous report, 0 to 1 (worst stream).
    pub loss: Option<f64>,
    pub jitter_ms: Option<f64>,
    /// All media sent, bit/s, over the time since the previous sample.
    pub sent_bps: Option<f64>,
    pub packets_sent: Option<u64>,
    pub nack_count: Option<u64>,
    pub pli_count: Option<u64>,
    pub fir_count: Option<u64>,
    /// `local-type address:port ⇄ remote-type address:port (protocol)`.
    pub candidate_pair: Option<String>,
    pub estimate_bps: Option<u64>,
    pub target_bps: Option<u64>,
    pub ladder_step: Option<u32>,
    /// Frames a second the source made and the encoder sent, since the previous sample.
    pub capture_fps: Option<f64>,
    pub fps: Option<f64>,
    /// Frames dropped in front of the encoder (it fell behind), since the previous sample.
    pub dropped_frames: Option<u64>,
    pub encode_ms_mean: Option<f64>,
    pub encode_ms_max: Option<f64>,
}

/// Where the adaptive-bitrate element will be, once webrtcbin has placed it.
pub type AbrSlot = Arc<Mutex<Option<glib::WeakRef<gst::Element>>>>;

/// Asks a stream's webrtcbin, adaptive-bitrate element and frame counters
/// for their statistics. Clones share the previous sample, from which rates
/// are computed.
#[derive(Clone)]
pub struct QualityProbe {
    webrtc: glib::WeakRef<gst::Element>,
    abr: AbrSlot,
    frames: Option<Arc<FrameCounters>>,
    previous: Arc<Mutex<Option<(Instant, u64, FrameTotals)>>>,
}

const STATS_TIMEOUT: Duration = Duration::from_secs(2);

impl QualityProbe {
    pub fn new(webrtc: &gst::Element, abr: AbrSlot, frames: Option<Arc<FrameCounters>>) -> Self {
        QualityProbe { webrtc: webrtc.downgrade(), abr, frames, previous: Arc::default() }
    }

    /// `None` once the stream is gone or when webrtcbin does not answer in time.
    pub async fn sample(&self) -> Option<Quality> {
        let webrtc = self.webrtc.upgrade()?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        let promise = gst::Promise::with_change_func(move |reply| {
            let _ = tx.send(reply.ok().flatten().map(|s| s.to_owned()));
        });
        webrtc.emit_by_name::<()>("get-stats", &[&None::<gst::Pad>, &promise]);
        drop(webrtc);
        let stats = tokio::time::timeout(STATS_TIMEOUT, rx).await.ok()?.ok()??;
        let mut q = from_stats(&stats);
        if q.jitter_ms.is_none() {
            // webrtcbin 1.22 leaves `jitter` out of its remote-inbound stats
            // when it has no codec clock rate; the RTP session has the reports.
            q.jitter_ms = self.webrtc.upgrade().and_then(|w| session_stats(&w)).and_then(|s| report_jitter_ms(&s));
        }
        let abr = self.abr.locked().as_ref().and_then(|w| w.upgrade());
        if let Some(abr) = abr {
            q.estimate_bps = Some(u64::from(abr.property::<u32>("estimated-bitrate")));
            q.target_bps = Some(u64::from(abr.property::<u32>("target-bitrate"))).filter(|&t| t > 0);
            q.ladder_step = Some(abr.property::<u32>("ladder-step"));
            // A browser that sends no transport-wide feedback still sends
            // receiver reports: their loss is what the element adapts to.
            if abr.property::<u64>("feedback-reports") == 0 {
                if let Some(loss) = q.loss {
                    abr.emit_by_name::<()>("receiver-report", &[&loss]);
                }
            }
        }
        let now = Instant::now();
        let totals = self.frames.as_ref().map(|f| f.read()).unwrap_or_default();
        let bytes = stats_bytes_sent(&stats);
        let prev = self.previous.locked().replace((now, bytes, totals));
        if let Some((then, prev_bytes, prev_totals)) = prev {
            let dt = now.duration_since(then).as_secs_f64().max(1e-3);
            q.sent_bps = Some(bytes.saturating_sub(prev_bytes) as f64 * 8.0 / dt);
            if self.frames.is_some() {
                let captured = totals.captured.saturating_sub(prev_totals.captured);
                let to_encoder = totals.to_encoder.saturating_sub(prev_totals.to_encoder);
                q.capture_fps = Some(captured as f64 / dt);
                q.fps = Some(totals.encoded.saturating_sub(prev_totals.encoded) as f64 / dt);
                // One frame may be sitting in the queue at either reading.
                q.dropped_frames = Some(captured.saturating_sub(to_encoder).saturating_sub(1));
            }
        }
        q.encode_ms_mean = totals.encode_ms_mean;
        q.encode_ms_max = totals.encode_ms_max;
        Some(q)
    }
}

/// The statistics of webrtcbin's (bundled) RTP session.
fn session_stats(webrtc: &gst::Element) -> Option<gst::Structure> {
    let rtpbin = webrtc.downcast_ref::<gst::Bin>()?.by_name("rtpbin")?;
    let session = rtpbin.emit_by_name::<Option<glib::Object>>("get-internal-session", &[&0u32])?;
    session.find_property("stats")?;
    Some(session.property::<gst::Structure>("stats"))
}

/// The worst interarrival jitter the browser reports about our streams, in
/// ms. Each report block sits on the browser's source and names the stream
/// it is about (`rb-ssrc`), whose clock rate turns it into time.
fn report_jitter_ms(session: &gst::StructureRef) -> Option<f64> {
    let sources: Vec<gst::Structure> = session
        .get::<glib::ValueArray>("source-stats")
        .ok()?
        .iter()
        .filter_map(|v| v.get::<gst::Structure>().ok())
        .collect();
    let rate_of = |ssrc: u64| {
        sources
            .iter()
            .filter(|s| s.get::<bool>("internal").unwrap_or(false) && uint(s, "ssrc") == Some(ssrc))
            .find_map(|s| s.get::<i32>("clock-rate").ok().filter(|&r| r > 0))
    };
    sources
        .iter()
        .filter(|s| s.get::<bool>("have-rb").unwrap_or(false))
        .filter_map(|s| {
            let rate = rate_of(uint(s, "rb-ssrc")?)?;
            Some(uint(s, "rb-jitter")? as f64 * 1000.0 / f64::from(rate))
        })
        .reduce(f64::max)
}

fn uint(s: &gst::StructureRef, field: &str) -> Option<u64> {
    s.get::<u64>(field).ok().or_else(|| s.get::<u32>(field).ok().map(u64::from))
}

/// Bytes sent over every outbound RTP stream.
fn stats_bytes_sent(stats: &gst::StructureRef) -> u64 {
    entries(stats).filter(|e| e.name() == "outbound-rtp").filter_map(|e| uint(&e, "bytes-sent")).sum()
}

fn entries(stats: &gst::StructureRef) -> impl Iterator<Item = gst::Structure> + '_ {
    stats.iter().filter_map(|(_, v)| v.get::<gst::Structure>().ok())
}

/// The worst round-trip time, loss and jitter over the remote-inbound
/// reports (one per media stream the browser reports on), the sender's
/// counters summed over its streams, and the selected candidate pair.
pub fn from_stats(stats: &gst::StructureRef) -> Quality {
    let mut q = Quality::default();
    let worst = |slot: &mut Option<f64>, v: f64| *slot = Some(slot.unwrap_or(0.0).max(v));
    let add = |slot: &mut Option<u64>, v: Option<u64>| {
        if let Some(v) = v {
            *slot = Some(slot.unwrap_or(0) + v);
        }
    };
    for entry in entries(stats) {
        if let Ok(rtt) = entry.get::<f64>("round-trip-time") {
            worst(&mut q.rtt_ms, rtt * 1000.0);
        }
        if let Ok(loss) = entry.get::<f64>("fraction-lost") {
            worst(&mut q.loss, loss.clamp(0.0, 1.0));
        }
        if entry.name() == "remote-inbound-rtp" {
            if let Ok(j) = entry.get::<f64>("jitter") {
                worst(&mut q.jitter_ms, j * 1000.0);
            }
        }
        if entry.name() == "outbound-rtp" {
            add(&mut q.packets_sent, uint(&entry, "packets-sent"));
            add(&mut q.nack_count, uint(&entry, "nack-count"));
            add(&mut q.pli_count, uint(&entry, "pli-count"));
            add(&mut q.fir_count, uint(&entry, "fir-count"));
        }
        if entry.name() == "candidate-pair" && q.candidate_pair.is_none() {
            q.candidate_pair = candidate_pair(stats, &entry);
        }
    }
    q
}

fn candidate_pair(stats: &gst::StructureRef, pair: &gst::StructureRef) -> Option<String> {
    let describe = |id_field: &str| {
        let id = pair.get::<String>(id_field).ok()?;
        let c = stats.get::<gst::Structure>(id.as_str()).ok()?;
        let kind = c.get::<String>("candidate-type").unwrap_or_else(|_| "?".into());
        let addr = c.get::<String>("address").or_else(|_| c.get::<String>("ip")).unwrap_or_default();
        let port = uint(&c, "port").unwrap_or(0);
        Some((format!("{kind} {addr}:{port}"), c.get::<String>("protocol").ok()))
    };
    let (local, proto) = describe("local-candidate-id")?;
    let (remote, _) = describe("remote-candidate-id")?;
    Some(match proto {
        Some(p) => format!("{local} <-> {remote} ({p})"),
        None => format!("{local} <-> {remote}"),
    })
}

/// Where the alert thresholds are.
#[derive(Debug, Clone, Copy)]
pub struct Thresholds {
    pub rtt_ms: f64,
    pub loss: f64,
    /// Consecutive bad (or good) samples before the level changes.
    pub samples: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Ok,
    Degraded,
}

/// Below this share of the frames the source made, the stream is "below its
/// target frame rate": the encoder or the network is losing frames. A source
/// that makes few frames (an X display that does not change) is not an alert.
pub const FPS_RATIO: f64 = 0.8;

/// Frames sent over frames made; 1 when unknown or when the source is idle.
pub fn fps_ratio(q: &Quality) -> f64 {
    match (q.fps, q.capture_fps) {
        (Some(fps), Some(made)) if made >= 5.0 => fps / made,
        _ => 1.0,
    }
}

/// Hysteresis over samples: the level changes only after `samples` in a row
/// say so, and recovery needs both figures under 80% of their thresholds.
#[derive(Debug)]
pub struct Monitor {
    thresholds: Thresholds,
    level: Level,
    streak: u32,
    rtts: Vec<f64>,
    worst_loss: f64,
}

impl Monitor {
    pub fn new(thresholds: Thresholds) -> Self {
        Monitor { thresholds, level: Level::Ok, streak: 0, rtts: Vec::new(), worst_loss: 0.0 }
    }

    /// Takes a sample; returns the new level when it changed.
    pub fn observe(&mut self, q: &Quality) -> Option<Level> {
        if let Some(rtt) = q.rtt_ms {
            self.rtts.push(rtt);
        }
        self.worst_loss = self.worst_loss.max(q.loss.unwrap_or(0.0));
        let t = &self.thresholds;
        let (rtt, loss) = (q.rtt_ms.unwrap_or(0.0), q.loss.unwrap_or(0.0));
        let fps_ratio = fps_ratio(q);
        let against = match self.level {
            Level::Ok => rtt > t.rtt_ms || loss > t.loss || fps_ratio < FPS_RATIO,
            Level::Degraded => rtt < 0.8 * t.rtt_ms && loss < 0.8 * t.loss && fps_ratio >= FPS_RATIO,
        };
        self.streak = if against { self.streak + 1 } else { 0 };
        if self.streak < t.samples.max(1) {
            return None;
        }
        self.streak = 0;
        self.level = match self.level {
            Level::Ok => Level::Degraded,
            Level::Degraded => Level::Ok,
        };
        Some(self.level)
    }

    /// For the session's final statistics.
    pub fn summary(&self) -> serde_json::Value {
        let mut rtts = self.rtts.clone();
        rtts.sort_by(|a, b| a.total_cmp(b));
        let p = |q: f64| rtts.get(((rtts.len().saturating_sub(1)) as f64 * q).round() as usize).copied();
        serde_json::json!({
            "samples": rtts.len(),
            "rtt_ms_p50": p(0.5),
            "rtt_ms_p95": p(0.95),
            "worst_loss": self.worst_loss,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Thresholds = Thresholds { rtt_ms: 150.0, loss: 0.05, samples: 2 };

    fn q(rtt: f64, loss: f64) -> Quality {
        Quality { rtt_ms: Some(rtt), loss: Some(loss), ..Default::default() }
    }

    #[test]
    fn alerts_need_a_streak_and_recovery_needs_margin() {
        let mut m = Monitor::new(T);
        assert_eq!(m.observe(&q(200.0, 0.0)), None, "one bad sample is not an alert");
        assert_eq!(m.observe(&q(20.0, 0.0)), None);
        assert_eq!(m.observe(&q(20.0, 0.10)), None);
        assert_eq!(m.observe(&q(20.0, 0.10)), Some(Level::Degraded));
        assert_eq!(m.observe(&q(20.0, 0.10)), None, "no repeat while degraded");
        // Just under the threshold is not yet recovered.
        assert_eq!(m.observe(&q(140.0, 0.0)), None);
        assert_eq!(m.observe(&q(140.0, 0.0)), None);
        assert_eq!(m.observe(&q(30.0, 0.01)), None);
        assert_eq!(m.observe(&q(30.0, 0.01)), Some(Level::Ok));
        let s = m.summary();
        assert_eq!(s["samples"], 9);
        assert_eq!(s["worst_loss"], 0.10);
    }

    #[test]
    fn frames_lost_in_the_pipeline_are_an_alert_but_an_idle_source_is_not() {
        let mut m = Monitor::new(T);
        let frames = |fps, made| Quality { fps: Some(fps), capture_fps: Some(made), ..q(20.0, 0.0) };
        assert_eq!(m.observe(&frames(2.0, 2.0)), None);
        assert_eq!(m.observe(&frames(0.0, 3.0)), None, "a still screen makes few frames");
        assert_eq!(m.observe(&frames(30.0, 60.0)), None);
        assert_eq!(m.observe(&frames(30.0, 60.0)), Some(Level::Degraded));
        assert_eq!(m.observe(&frames(59.0, 60.0)), None);
        assert_eq!(m.observe(&frames(60.0, 60.0)), Some(Level::Ok));
    }

    #[test]
    fn stats_give_the_worst_stream() {
        gst::init().unwrap();
        let video = gst::Structure::builder("remote-inbound-rtp")
            .field("round-trip-time", 0.040f64)
            .field("fraction-lost", 0.02f64)
            .build();
        let audio = gst::Structure::builder("remote-inbound-rtp")
            .field("round-trip-time", 0.035f64)
            .field("fraction-lost", 0.07f64)
            .build();
        let out = |packets: u64, nacks: u32| {
            gst::Structure::builder("outbound-rtp")
                .field("packets-sent", packets)
                .field("bytes-sent", packets * 1000)
                .field("nack-count", nacks)
                .field("pli-count", 1u32)
                .build()
        };
        let local = gst::Structure::builder("local-candidate")
            .field("address", "10.0.0.1")
            .field("port", 5000u32)
            .field("candidate-type", "host")
            .field("protocol", "udp")
            .build();
        let remote = gst::Structure::builder("remote-candidate")
            .field("address", "10.0.0.2")
            .field("port", 6000u32)
            .field("candidate-type", "srflx")
            .build();
        let pair = gst::Structure::builder("candidate-pair")
            .field("local-candidate-id", "L")
            .field("remote-candidate-id", "R")
            .build();
        let stats = gst::Structure::builder("application/x-webrtc-stats")
            .field("a", video)
            .field("b", audio)
            .field("c", out(10, 2))
            .field("e", out(5, 1))
            .field("d", "not a structure")
            .field("L", local)
            .field("R", remote)
            .field("P", pair)
            .build();
        let q = from_stats(&stats);
        assert!((q.rtt_ms.unwrap() - 40.0).abs() < 1e-9, "{q:?}");
        assert!((q.loss.unwrap() - 0.07).abs() < 1e-9, "{q:?}");
        assert_eq!((q.packets_sent, q.nack_count, q.pli_count, q.fir_count), (Some(15), Some(3), Some(2), None));
        assert_eq!(stats_bytes_sent(&stats), 15_000);
        assert_eq!(q.candidate_pair.as_deref(), Some("host 10.0.0.1:5000 <-> srflx 10.0.0.2:6000 (udp)"));
        assert_eq!(from_stats(&gst::Structure::new_empty("x")), Quality::default());
    }

    #[test]
    fn jitter_comes_from_report_blocks_in_the_reported_streams_clock() {
        gst::init().unwrap();
        let ours = |ssrc: u32, rate: i32| {
            gst::Structure::builder("application/x-rtp-source-stats")
                .field("ssrc", ssrc)
                .field("internal", true)
                .field("clock-rate", rate)
                .build()
        };
        let report = |about: u32, jitter: u32| {
            gst::Structure::builder("application/x-rtp-source-stats")
                .field("ssrc", 1u32)
                .field("internal", false)
                .field("have-rb", true)
                .field("rb-ssrc", about)
                .field("rb-jitter", jitter)
                .build()
        };
        let session = |sources: Vec<gst::Structure>| {
            // SAFETY: the array holds only structures (Send) and nothing else refers to it.
            let array = unsafe { glib::ValueArray::new(sources).to_value().into_send_value() };
            let mut s = gst::Structure::new_empty("application/x-rtp-session-stats");
            s.set_value("source-stats", array);
            s
        };
        let s = session(vec![
            ours(10, 90_000),
            ours(20, 48_000),
            ours(30, -1),
            report(10, 180),       // video: 2 ms
            report(20, 240),       // audio: 5 ms
            report(30, 9_000_000), // clock unknown
            report(40, 9_000_000), // not one of ours
        ]);
        assert_eq!(report_jitter_ms(&s), Some(5.0));
        assert_eq!(report_jitter_ms(&session(vec![])), None);
        assert_eq!(report_jitter_ms(&gst::Structure::new_empty("x")), None);
    }
}
