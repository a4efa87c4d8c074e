//! `/metrics`: this node's state in the Prometheus text exposition format
//! (version 0.0.4). Gauges and counters for the node's budget and for every
//! stream it runs, from the quality monitor's latest sample (every 2 s).
//!
//! The figures live elsewhere (the manager's counters, the budget, each
//! stream's quality sample), so each scrape reads them once into a [`Scrape`]
//! and prometheus-client encodes it as a custom collector: the library owns
//! the exposition format (names, escaping, special numbers), this module only
//! says what is exposed.
//!
//! Where the library's exposition differs from the text this module wrote by
//! hand before, by necessity:
//! - Measurements (floats) are written by the library's float formatter,
//!   which always gives a fraction or an exponent (`2.0`, not `2`). Counts are
//!   integers and are written as before (`2`).

use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::input::drops::DropReason;
use crate::media::quality::Quality;
use crate::session::manager::Manager;

/// A sample's value as read: counts stay integers, measurements are floats.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Value {
    Count(u64),
    Measure(f64),
}

impl From<u64> for Value {
    fn from(v: u64) -> Self {
        Value::Count(v)
    }
}

impl From<u32> for Value {
    fn from(v: u32) -> Self {
        Value::Count(v.into())
    }
}

impl From<usize> for Value {
    fn from(v: usize) -> Self {
        Value::Count(v as u64)
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Measure(v)
    }
}

type Labels = Vec<(&'static str, String)>;

/// One metric family: its full name (a counter's ends in `_total`), type,
/// help, and the samples read for it.
#[derive(Debug)]
struct Family {
    name: &'static str,
    kind: MetricType,
    help: &'static str,
    samples: Vec<(Labels, Value)>,
}

impl Family {
    fn sample(&mut self, labels: Labels, value: impl Into<Value>) -> &mut Self {
        self.samples.push((labels, value.into()));
        self
    }
}

/// Everything one scrape exposes, in the order it is written.
#[derive(Debug, Default)]
struct Scrape {
    families: Vec<Family>,
}

impl Scrape {
    fn family(&mut self, name: &'static str, kind: MetricType, help: &'static str) -> &mut Family {
        self.families.push(Family { name, kind, help, samples: Vec::new() });
        self.families.last_mut().expect("just pushed")
    }

    fn encode(self) -> String {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(self));
        let mut out = String::with_capacity(4096);
        prometheus_client::encoding::prometheus_text::encode(&mut out, &registry)
            .expect("writing to a String cannot fail");
        out
    }
}

impl Collector for Scrape {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for f in &self.families {
            // The library appends `_total` to a counter's name itself.
            let name = match f.kind {
                MetricType::Counter => f.name.strip_suffix("_total").unwrap_or(f.name),
                _ => f.name,
            };
            let mut metric = encoder.encode_descriptor(name, f.help, None, f.kind)?;
            for (labels, value) in &f.samples {
                let sample = metric.encode_family(labels)?;
                match (f.kind, *value) {
                    (MetricType::Counter, Value::Count(v)) => ConstCounter::new(v).encode(sample)?,
                    (MetricType::Counter, Value::Measure(v)) => ConstCounter::new(v).encode(sample)?,
                    (_, Value::Count(v)) => ConstGauge::new(v).encode(sample)?,
                    (_, Value::Measure(v)) => ConstGauge::new(v).encode(sample)?,
                }
            }
        }
        Ok(())
    }
}

type Pick = fn(&Quality) -> Option<Value>;

const GAUGE: MetricType = MetricType::Gauge;
const COUNTER: MetricType = MetricType::Counter;

/// Per-stream figures: name, type, help, and how to read it from a sample.
const STREAM: &[(&str, MetricType, &str, Pick)] = &[
    ("playcast_stream_sent_bits_per_second", GAUGE, "Media sent to the player, all streams", |q| {
        q.sent_bps.map(Value::from)
    }),
    ("playcast_stream_estimated_bits_per_second", GAUGE, "Adaptive bitrate's bandwidth estimate", |q| {
        q.estimate_bps.map(Value::from)
    }),
    ("playcast_stream_target_bits_per_second", GAUGE, "Video bitrate given to the encoder", |q| {
        q.target_bps.map(Value::from)
    }),
    ("playcast_stream_ladder_step", GAUGE, "Resolution/frame-rate ladder step, 0 is the best", |q| {
        q.ladder_step.map(Value::from)
    }),
    ("playcast_stream_rtt_seconds", GAUGE, "Round-trip time from the player's receiver reports", |q| {
        q.rtt_ms.map(|v| Value::from(v / 1000.0))
    }),
    ("playcast_stream_loss_ratio", GAUGE, "Fraction of packets the player lost (worst stream)", |q| {
        q.loss.map(Value::from)
    }),
    ("playcast_stream_jitter_seconds", GAUGE, "Interarrival jitter the player reports", |q| {
        q.jitter_ms.map(|v| Value::from(v / 1000.0))
    }),
    ("playcast_stream_fps", GAUGE, "Encoded frames sent per second", |q| q.fps.map(Value::from)),
    ("playcast_stream_capture_fps", GAUGE, "Frames per second the source made", |q| q.capture_fps.map(Value::from)),
    ("playcast_stream_dropped_frames", GAUGE, "Frames dropped before the encoder in the last interval", |q| {
        q.dropped_frames.map(Value::from)
    }),
    ("playcast_stream_encode_seconds", GAUGE, "Mean encode time per frame in the last interval", |q| {
        q.encode_ms_mean.map(|v| Value::from(v / 1000.0))
    }),
    ("playcast_stream_packets_sent_total", COUNTER, "RTP packets sent", |q| q.packets_sent.map(Value::from)),
    ("playcast_stream_nacks_total", COUNTER, "Retransmission requests (NACK) received", |q| {
        q.nack_count.map(Value::from)
    }),
    ("playcast_stream_plis_total", COUNTER, "Picture loss indications received", |q| q.pli_count.map(Value::from)),
    ("playcast_stream_firs_total", COUNTER, "Full intra requests received", |q| q.fir_count.map(Value::from)),
];

/// Outcomes of player input: injected, or dropped as malformed, over the
/// flood limit, from a viewer, or refused by the display or device.
const INPUT: &[&str] = &["injected", "malformed", "throttled", "refused", "failed"];

pub fn render(manager: &Manager) -> String {
    read(manager).encode()
}

fn read(manager: &Manager) -> Scrape {
    let mut s = Scrape::default();
    let node = manager.node().to_string();
    let n = || vec![("node", node.clone())];
    let with = |k: &'static str, v: &str| vec![("node", node.clone()), (k, v.to_string())];
    let load = |c: &AtomicU64| c.load(Ordering::Relaxed);

    s.family("playcast_sessions_running", GAUGE, "Sessions running on this node").sample(n(), manager.running());
    let f = s.family("playcast_sessions", GAUGE, "This node's unfinished sessions by state");
    for (state, count) in manager.states() {
        f.sample(with("state", state), count);
    }
    s.family("playcast_node_draining", GAUGE, "1 while the node drains before it stops")
        .sample(n(), u64::from(manager.is_draining()));
    let beats = manager.heartbeats();
    s.family("playcast_heartbeats_total", COUNTER, "Heartbeats this node sent").sample(n(), load(&beats.sent));
    s.family("playcast_heartbeat_failures_total", COUNTER, "Heartbeats a witness did not record")
        .sample(with("witness", "cache"), load(&beats.cache_failed))
        .sample(with("witness", "database"), load(&beats.db_failed));
    let p = &manager.placements;
    for (name, help, value) in [
        ("playcast_placements_total", "Placement decisions this node made", Value::from(load(&p.decisions))),
        ("playcast_placement_failures_total", "New sessions that fit on no node (503)", load(&p.failures).into()),
        ("playcast_placements_forwarded_total", "Sessions this node placed on another node", load(&p.forwarded).into()),
        (
            "playcast_placement_seconds_total",
            "Time spent deciding placements",
            (load(&p.decision_micros) as f64 / 1e6).into(),
        ),
        (
            "playcast_lost_node_sessions_closed_total",
            "Sessions of lost nodes this node closed",
            load(&p.orphans_closed).into(),
        ),
    ] {
        s.family(name, COUNTER, help).sample(n(), value);
    }
    let events = manager.bus().stats();
    s.family(
        "playcast_events_delivered_total",
        COUNTER,
        "Session events handed to this node's subscribers, by where they were read",
    )
    .sample(with("via", "channel"), load(&events.from_channel))
    .sample(with("via", "database"), load(&events.from_database));
    s.family(
        "playcast_event_database_reads_total",
        COUNTER,
        "Reads of missed or out-of-order session events from the database",
    )
    .sample(n(), load(&events.database_reads));
    let budget = manager.budget().view();
    s.family("playcast_node_cpu_cores", GAUGE, "CPU cores: the budget and reserved")
        .sample(with("of", "total"), budget.total.cpu_cores)
        .sample(with("of", "used"), budget.used.cpu_cores);
    s.family("playcast_node_memory_bytes", GAUGE, "Memory: the budget and reserved")
        .sample(with("of", "total"), budget.total.memory_mb * 1_000_000)
        .sample(with("of", "used"), budget.used.memory_mb * 1_000_000);
    let f = s.family("playcast_node_encoder_slots", GAUGE, "Hardware encoder slots per GPU: total and used");
    for (i, (total, used)) in budget.total.gpu_slots.iter().zip(&budget.used.gpu_slots).enumerate() {
        let gpu = |of: &str| vec![("node", node.clone()), ("gpu", i.to_string()), ("of", of.to_string())];
        f.sample(gpu("total"), *total).sample(gpu("used"), *used);
    }

    let sessions = manager.session_metrics();
    for (name, kind, help, pick) in STREAM {
        let f = s.family(name, *kind, help);
        for m in &sessions {
            if let Some(v) = m.quality.as_ref().and_then(pick) {
                let labels =
                    vec![("node", node.clone()), ("session", m.id.to_string()), ("pipeline", m.pipeline.clone())];
                f.sample(labels, v);
            }
        }
    }
    let f = s.family("playcast_input_events_total", COUNTER, "Player input by outcome");
    for m in &sessions {
        for outcome in INPUT {
            if let Some(v) = m.input[outcome].as_u64() {
                f.sample(
                    vec![("node", node.clone()), ("session", m.id.to_string()), ("outcome", outcome.to_string())],
                    v,
                );
            }
        }
    }
    let f = s.family("playcast_input_dropped_total", COUNTER, "Player input dropped, by reason");
    for m in &sessions {
        for reason in DropReason::ALL {
            if let Some(v) = m.input["dropped"][reason.name()].as_u64() {
                let labels =
                    vec![("node", node.clone()), ("session", m.id.to_string()), ("reason", reason.name().to_string())];
                f.sample(labels, v);
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_keep_their_names_and_samples_escape_labels_and_spell_special_numbers() {
        let mut s = Scrape::default();
        s.family("m", GAUGE, "help")
            .sample(vec![("a", "x\"y\\z\nw".into())], 1.5)
            .sample(vec![], f64::INFINITY)
            .sample(vec![("b", "c".into()), ("d", "e".into())], f64::NAN)
            .sample(vec![], 3u64);
        s.family("c_total", COUNTER, "a count").sample(vec![("n", "x".into())], 7u64);
        s.family("empty_total", COUNTER, "no samples yet");
        assert_eq!(
            s.encode(),
            "# HELP m help\n# TYPE m gauge\nm{a=\"x\\\"y\\\\z\\nw\"} 1.5\nm +Inf\nm{b=\"c\",d=\"e\"} NaN\nm 3\n\
             # HELP c_total a count\n# TYPE c_total counter\nc_total{n=\"x\"} 7\n\
             # HELP empty_total no samples yet\n# TYPE empty_total counter\n"
        );
    }
}
