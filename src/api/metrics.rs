//! `/metrics`: this node's state in the Prometheus text exposition format
//! (version 0.0.4). Gauges and counters for the node's budget and for every
//! stream it runs, from the quality monitor's latest sample (every 2 s).

use std::fmt::Write;

use crate::input::drops::DropReason;
use crate::media::quality::Quality;
use crate::session::manager::Manager;

/// One metric family: its name, type and help, then samples.
struct Family<'a> {
    out: &'a mut String,
}

impl<'a> Family<'a> {
    fn new(out: &'a mut String, name: &str, kind: &str, help: &str) -> Self {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        Family { out }
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", escape(v));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {}", number(value));
    }
}

/// Label values escape backslash, quote and newline.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    }
}

type Pick = fn(&Quality) -> Option<f64>;

/// Per-stream figures: name, type, help, and how to read it from a sample.
const STREAM: &[(&str, &str, &str, Pick)] = &[
    ("playcast_stream_sent_bits_per_second", "gauge", "Media sent to the player, all streams", |q| q.sent_bps),
    ("playcast_stream_estimated_bits_per_second", "gauge", "Adaptive bitrate's bandwidth estimate", |q| {
        q.estimate_bps.map(|v| v as f64)
    }),
    ("playcast_stream_target_bits_per_second", "gauge", "Video bitrate given to the encoder", |q| {
        q.target_bps.map(|v| v as f64)
    }),
    ("playcast_stream_ladder_step", "gauge", "Resolution/frame-rate ladder step, 0 is the best", |q| {
        q.ladder_step.map(f64::from)
    }),
    ("playcast_stream_rtt_seconds", "gauge", "Round-trip time from the player's receiver reports", |q| {
        q.rtt_ms.map(|v| v / 1000.0)
    }),
    ("playcast_stream_loss_ratio", "gauge", "Fraction of packets the player lost (worst stream)", |q| q.loss),
    ("playcast_stream_jitter_seconds", "gauge", "Interarrival jitter the player reports", |q| {
        q.jitter_ms.map(|v| v / 1000.0)
    }),
    ("playcast_stream_fps", "gauge", "Encoded frames sent per second", |q| q.fps),
    ("playcast_stream_capture_fps", "gauge", "Frames per second the source made", |q| q.capture_fps),
    ("playcast_stream_dropped_frames", "gauge", "Frames dropped before the encoder in the last interval", |q| {
        q.dropped_frames.map(|v| v as f64)
    }),
    ("playcast_stream_encode_seconds", "gauge", "Mean encode time per frame in the last interval", |q| {
        q.encode_ms_mean.map(|v| v / 1000.0)
    }),
    ("playcast_stream_packets_sent_total", "counter", "RTP packets sent", |q| q.packets_sent.map(|v| v as f64)),
    ("playcast_stream_nacks_total", "counter", "Retransmission requests (NACK) received", |q| {
        q.nack_count.map(|v| v as f64)
    }),
    ("playcast_stream_plis_total", "counter", "Picture loss indications received", |q| q.pli_count.map(|v| v as f64)),
    ("playcast_stream_firs_total", "counter", "Full intra requests received", |q| q.fir_count.map(|v| v as f64)),
];

/// Outcomes of player input: injected, or dropped as malformed, over the
/// flood limit, from a viewer, or refused by the display or device.
const INPUT: &[&str] = &["injected", "malformed", "throttled", "refused", "failed"];

pub fn render(manager: &Manager) -> String {
    let mut out = String::with_capacity(4096);
    let node = manager.node().to_string();
    let n = [("node", node.as_str())];
    Family::new(&mut out, "playcast_sessions_running", "gauge", "Sessions running on this node").sample(
        "playcast_sessions_running",
        &n,
        manager.running() as f64,
    );
    let mut f = Family::new(&mut out, "playcast_sessions", "gauge", "This node's unfinished sessions by state");
    for (state, count) in manager.states() {
        f.sample("playcast_sessions", &[("node", &node), ("state", state)], count as f64);
    }
    Family::new(&mut out, "playcast_node_draining", "gauge", "1 while the node drains before it stops").sample(
        "playcast_node_draining",
        &n,
        if manager.is_draining() { 1.0 } else { 0.0 },
    );
    let beats = manager.heartbeats();
    let load = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed) as f64;
    Family::new(&mut out, "playcast_heartbeats_total", "counter", "Heartbeats this node sent").sample(
        "playcast_heartbeats_total",
        &n,
        load(&beats.sent),
    );
    let mut f =
        Family::new(&mut out, "playcast_heartbeat_failures_total", "counter", "Heartbeats a witness did not record");
    f.sample("playcast_heartbeat_failures_total", &[("node", &node), ("witness", "cache")], load(&beats.cache_failed));
    f.sample("playcast_heartbeat_failures_total", &[("node", &node), ("witness", "database")], load(&beats.db_failed));
    let p = &manager.placements;
    for (name, help, value) in [
        ("playcast_placements_total", "Placement decisions this node made", load(&p.decisions)),
        ("playcast_placement_failures_total", "New sessions that fit on no node (503)", load(&p.failures)),
        ("playcast_placements_forwarded_total", "Sessions this node placed on another node", load(&p.forwarded)),
        ("playcast_placement_seconds_total", "Time spent deciding placements", load(&p.decision_micros) / 1e6),
        (
            "playcast_lost_node_sessions_closed_total",
            "Sessions of lost nodes this node closed",
            load(&p.orphans_closed),
        ),
    ] {
        Family::new(&mut out, name, "counter", help).sample(name, &n, value);
    }
    let events = manager.bus().stats();
    let mut f = Family::new(
        &mut out,
        "playcast_events_delivered_total",
        "counter",
        "Session events handed to this node's subscribers, by where they were read",
    );
    f.sample("playcast_events_delivered_total", &[("node", &node), ("via", "channel")], load(&events.from_channel));
    f.sample("playcast_events_delivered_total", &[("node", &node), ("via", "database")], load(&events.from_database));
    Family::new(
        &mut out,
        "playcast_event_database_reads_total",
        "counter",
        "Reads of missed or out-of-order session events from the database",
    )
    .sample("playcast_event_database_reads_total", &n, load(&events.database_reads));
    let budget = manager.budget().view();
    let mut f = Family::new(&mut out, "playcast_node_cpu_cores", "gauge", "CPU cores: the budget and reserved");
    f.sample("playcast_node_cpu_cores", &[("node", &node), ("of", "total")], f64::from(budget.total.cpu_cores));
    f.sample("playcast_node_cpu_cores", &[("node", &node), ("of", "used")], f64::from(budget.used.cpu_cores));
    let mut f = Family::new(&mut out, "playcast_node_memory_bytes", "gauge", "Memory: the budget and reserved");
    f.sample("playcast_node_memory_bytes", &[("node", &node), ("of", "total")], budget.total.memory_mb as f64 * 1e6);
    f.sample("playcast_node_memory_bytes", &[("node", &node), ("of", "used")], budget.used.memory_mb as f64 * 1e6);
    let mut f =
        Family::new(&mut out, "playcast_node_encoder_slots", "gauge", "Hardware encoder slots per GPU: total and used");
    for (i, (total, used)) in budget.total.gpu_slots.iter().zip(&budget.used.gpu_slots).enumerate() {
        let gpu = i.to_string();
        f.sample("playcast_node_encoder_slots", &[("node", &node), ("gpu", &gpu), ("of", "total")], f64::from(*total));
        f.sample("playcast_node_encoder_slots", &[("node", &node), ("gpu", &gpu), ("of", "used")], f64::from(*used));
    }

    let live = manager.live_metrics();
    for (name, kind, help, pick) in STREAM {
        let mut f = Family::new(&mut out, name, kind, help);
        for (id, pipeline, q, _) in &live {
            if let Some(v) = q.as_ref().and_then(pick) {
                f.sample(name, &[("node", &node), ("session", id), ("pipeline", pipeline)], v);
            }
        }
    }
    let mut f = Family::new(&mut out, "playcast_input_events_total", "counter", "Player input by outcome");
    for (id, _, _, input) in &live {
        for outcome in INPUT {
            if let Some(v) = input[outcome].as_u64() {
                f.sample(
                    "playcast_input_events_total",
                    &[("node", &node), ("session", id), ("outcome", outcome)],
                    v as f64,
                );
            }
        }
    }
    let mut f = Family::new(&mut out, "playcast_input_dropped_total", "counter", "Player input dropped, by reason");
    for (id, _, _, input) in &live {
        for reason in DropReason::ALL {
            if let Some(v) = input["dropped"][reason.name()].as_u64() {
                f.sample(
                    "playcast_input_dropped_total",
                    &[("node", &node), ("session", id), ("reason", reason.name())],
                    v as f64,
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_escape_labels_and_spell_special_numbers() {
        let mut out = String::new();
        let mut f = Family::new(&mut out, "m", "gauge", "help");
        f.sample("m", &[("a", "x\"y\\z\nw")], 1.5);
        f.sample("m", &[], f64::INFINITY);
        f.sample("m", &[("b", "c"), ("d", "e")], f64::NAN);
        assert_eq!(
            out,
            "# HELP m help\n# TYPE m gauge\nm{a=\"x\\\"y\\\\z\\nw\"} 1.5\nm +Inf\nm{b=\"c\",d=\"e\"} NaN\n"
        );
    }
}
