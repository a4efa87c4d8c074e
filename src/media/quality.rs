//! The player's view of a stream, from the RTCP receiver reports webrtcbin
//! gets back (round-trip time and loss), and a monitor that turns samples into
//! "degraded" and "recovered" alerts without flapping.

use std::time::Duration;

use gst::glib;
use gst::prelude::*;

/// One look at the connection.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Quality {
    pub rtt_ms: Option<f64>,
    /// Fraction of packets lost since the previous report, 0 to 1 (worst stream).
    pub loss: Option<f64>,
}

/// Asks a stream's webrtcbin for its statistics.
#[derive(Clone)]
pub struct QualityProbe {
    webrtc: glib::WeakRef<gst::Element>,
}

const STATS_TIMEOUT: Duration = Duration::from_secs(2);

impl QualityProbe {
    pub fn new(webrtc: &gst::Element) -> Self {
        QualityProbe { webrtc: webrtc.downgrade() }
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
        Some(from_stats(&stats))
    }
}

/// The worst round-trip time and loss over the remote-inbound reports (one
/// per media stream the browser reports on).
pub fn from_stats(stats: &gst::StructureRef) -> Quality {
    let mut q = Quality::default();
    for (_, value) in stats.iter() {
        let Ok(entry) = value.get::<gst::Structure>() else { continue };
        if let Ok(rtt) = entry.get::<f64>("round-trip-time") {
            q.rtt_ms = Some(q.rtt_ms.unwrap_or(0.0).max(rtt * 1000.0));
        }
        if let Ok(loss) = entry.get::<f64>("fraction-lost") {
            q.loss = Some(q.loss.unwrap_or(0.0).max(loss.clamp(0.0, 1.0)));
        }
    }
    q
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
    pub fn observe(&mut self, q: Quality) -> Option<Level> {
        if let Some(rtt) = q.rtt_ms {
            self.rtts.push(rtt);
        }
        self.worst_loss = self.worst_loss.max(q.loss.unwrap_or(0.0));
        let t = &self.thresholds;
        let (rtt, loss) = (q.rtt_ms.unwrap_or(0.0), q.loss.unwrap_or(0.0));
        let against = match self.level {
            Level::Ok => rtt > t.rtt_ms || loss > t.loss,
            Level::Degraded => rtt < 0.8 * t.rtt_ms && loss < 0.8 * t.loss,
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
        Quality { rtt_ms: Some(rtt), loss: Some(loss) }
    }

    #[test]
    fn alerts_need_a_streak_and_recovery_needs_margin() {
        let mut m = Monitor::new(T);
        assert_eq!(m.observe(q(200.0, 0.0)), None, "one bad sample is not an alert");
        assert_eq!(m.observe(q(20.0, 0.0)), None);
        assert_eq!(m.observe(q(20.0, 0.10)), None);
        assert_eq!(m.observe(q(20.0, 0.10)), Some(Level::Degraded));
        assert_eq!(m.observe(q(20.0, 0.10)), None, "no repeat while degraded");
        // Just under the threshold is not yet recovered.
        assert_eq!(m.observe(q(140.0, 0.0)), None);
        assert_eq!(m.observe(q(140.0, 0.0)), None);
        assert_eq!(m.observe(q(30.0, 0.01)), None);
        assert_eq!(m.observe(q(30.0, 0.01)), Some(Level::Ok));
        let s = m.summary();
        assert_eq!(s["samples"], 9);
        assert_eq!(s["worst_loss"], 0.10);
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
        let other = gst::Structure::builder("outbound-rtp").field("packets-sent", 10u64).build();
        let stats = gst::Structure::builder("application/x-webrtc-stats")
            .field("a", video)
            .field("b", audio)
            .field("c", other)
            .field("d", "not a structure")
            .build();
        let q = from_stats(&stats);
        assert!((q.rtt_ms.unwrap() - 40.0).abs() < 1e-9, "{q:?}");
        assert!((q.loss.unwrap() - 0.07).abs() < 1e-9, "{q:?}");
        assert_eq!(from_stats(&gst::Structure::new_empty("x")), Quality::default());
    }
}
