//! Where a new session runs: on the least loaded live node that can run its
//! pipeline and has room for what its game reserves, judged from what each
//! node published with its latest heartbeat. The choice is a ranking, not a
//! single answer: a node that turns out full (two API nodes placed on it at
//! once) or unreachable is skipped for the next.

use serde::{Deserialize, Serialize};

use super::budget::{is_hardware_encoder, BudgetView, Usage};
use crate::model::ids::NodeId;

/// What a node publishes with its heartbeat: the heartbeat writes it and
/// placement reads it back, so both sides share this one type.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeInfo {
    pub node: NodeId,
    pub address: String,
    pub budget: BudgetInfo,
    #[serde(default)]
    pub draining: bool,
    /// Pipelines this node can run, with the encoder each would use.
    #[serde(default)]
    pub runnable: std::collections::BTreeMap<String, String>,
    /// How the node contains a session's processes, as `GET /node` shows it.
    #[serde(default)]
    pub containment: serde_json::Value,
    /// Sessions whose state the node keeps in the cache.
    #[serde(default)]
    pub sessions: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BudgetInfo {
    pub total: UsageInfo,
    pub used: UsageInfo,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct UsageInfo {
    pub cpu_cores: u32,
    pub memory_mb: u64,
    #[serde(default)]
    pub gpu_slots: Vec<u32>,
}

impl From<&BudgetView> for BudgetInfo {
    fn from(b: &BudgetView) -> Self {
        BudgetInfo { total: (&b.total).into(), used: (&b.used).into() }
    }
}

impl From<&Usage> for UsageInfo {
    fn from(u: &Usage) -> Self {
        UsageInfo { cpu_cores: u.cpu_cores, memory_mb: u.memory_mb, gpu_slots: u.gpu_slots.clone() }
    }
}

/// What the new session asks of a node.
#[derive(Debug, Clone, Copy)]
pub struct Ask<'a> {
    pub pipeline: &'a str,
    pub cpu_cores: u32,
    pub memory_mb: u64,
}

/// Why no node was chosen, node by node.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Nowhere(pub String);

/// The nodes that fit `ask`, least loaded first (ties by id, so every API
/// node ranks the same way); or, node by node, why none fits.
pub fn rank<'n>(nodes: &'n [NodeInfo], ask: Ask<'_>) -> Result<Vec<&'n NodeInfo>, Nowhere> {
    let mut fits: Vec<(f64, &NodeInfo)> = Vec::new();
    let mut why: Vec<String> = Vec::new();
    for n in nodes {
        let fit = if n.draining {
            Err("draining before it stops".to_string())
        } else if let Some(encoder) = n.runnable.get(ask.pipeline) {
            load_after(n, ask, is_hardware_encoder(encoder))
        } else {
            Err(format!("cannot run pipeline `{}`", ask.pipeline))
        };
        match fit {
            Ok(load) => fits.push((load, n)),
            Err(reason) => why.push(format!("{}: {reason}", n.node)),
        }
    }
    if fits.is_empty() {
        if why.is_empty() {
            why.push("no node is alive".into());
        }
        why.sort();
        return Err(Nowhere(format!("no node has room for this session now ({})", why.join("; "))));
    }
    fits.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.node.cmp(&b.1.node)));
    Ok(fits.into_iter().map(|(_, n)| n).collect())
}

/// The node's busiest resource once `ask` is added (0 to 1), or why it does
/// not fit (worded as the node's own budget words it).
fn load_after(n: &NodeInfo, ask: Ask<'_>, encoder_slot: bool) -> Result<f64, String> {
    let (t, u) = (&n.budget.total, &n.budget.used);
    let cpu = u.cpu_cores.saturating_add(ask.cpu_cores);
    if cpu > t.cpu_cores || t.cpu_cores == 0 {
        return Err(format!(
            "{} of {} CPU cores are reserved and this session needs {}",
            u.cpu_cores, t.cpu_cores, ask.cpu_cores
        ));
    }
    let mem = u.memory_mb.saturating_add(ask.memory_mb);
    if mem > t.memory_mb || t.memory_mb == 0 {
        return Err(format!(
            "{} of {} MiB of memory are reserved and this session needs {}",
            u.memory_mb, t.memory_mb, ask.memory_mb
        ));
    }
    let mut load = (f64::from(cpu) / f64::from(t.cpu_cores)).max(mem as f64 / t.memory_mb as f64);
    // GPUs declared: a hardware encoder needs a free slot on one of them.
    if encoder_slot && !t.gpu_slots.is_empty() {
        let best = t
            .gpu_slots
            .iter()
            .enumerate()
            .filter(|(_, &total)| total > 0)
            .map(|(i, &total)| {
                (f64::from(u.gpu_slots.get(i).copied().unwrap_or(0).saturating_add(1)), f64::from(total))
            })
            .filter(|(used, total)| used <= total)
            .map(|(used, total)| used / total)
            .reduce(f64::min)
            .ok_or_else(|| "every GPU's encoder slots are taken".to_string())?;
        load = load.max(best);
    }
    Ok(load)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, cpu: (u32, u32), mem: (u64, u64), gpus: (Vec<u32>, Vec<u32>), encoder: &str) -> NodeInfo {
        NodeInfo {
            node: id.into(),
            address: format!("http://{id}:8080"),
            budget: BudgetInfo {
                total: UsageInfo { cpu_cores: cpu.1, memory_mb: mem.1, gpu_slots: gpus.1 },
                used: UsageInfo { cpu_cores: cpu.0, memory_mb: mem.0, gpu_slots: gpus.0 },
            },
            draining: false,
            runnable: [("p".to_string(), encoder.to_string())].into(),
            containment: serde_json::Value::Null,
            sessions: 0,
        }
    }

    const ASK: Ask<'static> = Ask { pipeline: "p", cpu_cores: 1, memory_mb: 512 };

    fn ids(r: Result<Vec<&NodeInfo>, Nowhere>) -> Vec<String> {
        r.unwrap().iter().map(|n| n.node.to_string()).collect()
    }

    #[test]
    fn least_loaded_first_and_ties_by_id() {
        let nodes = vec![
            node("c", (3, 8), (0, 16_000), (vec![], vec![]), "x264enc"),
            node("b", (1, 8), (0, 16_000), (vec![], vec![]), "x264enc"),
            node("a", (1, 8), (0, 16_000), (vec![], vec![]), "x264enc"),
        ];
        assert_eq!(ids(rank(&nodes, ASK)), ["a", "b", "c"]);
    }

    #[test]
    fn the_busiest_resource_counts() {
        // Idle CPU but memory nearly full loses to a half-busy CPU.
        let nodes = vec![
            node("a", (0, 8), (7_000, 8_000), (vec![], vec![]), "x264enc"),
            node("b", (4, 8), (0, 8_000), (vec![], vec![]), "x264enc"),
        ];
        assert_eq!(ids(rank(&nodes, ASK)), ["b", "a"]);
    }

    #[test]
    fn full_draining_and_unable_nodes_are_skipped_with_a_reason() {
        let mut draining = node("d", (0, 8), (0, 8_000), (vec![], vec![]), "x264enc");
        draining.draining = true;
        let mut unable = node("u", (0, 8), (0, 8_000), (vec![], vec![]), "x264enc");
        unable.runnable.clear();
        let nodes = vec![node("f", (8, 8), (0, 8_000), (vec![], vec![]), "x264enc"), draining, unable];
        let e = rank(&nodes, ASK).unwrap_err();
        assert_eq!(
            e.0,
            "no node has room for this session now (d: draining before it stops; \
             f: 8 of 8 CPU cores are reserved and this session needs 1; u: cannot run pipeline `p`)"
        );
        assert!(rank(&[], ASK).unwrap_err().0.contains("no node is alive"));
    }

    #[test]
    fn hardware_encoders_need_a_free_gpu_slot() {
        let nodes = vec![
            node("full-gpu", (0, 8), (0, 8_000), (vec![2, 2], vec![2, 2]), "nvh264enc"),
            node("free-gpu", (6, 8), (0, 8_000), (vec![2, 1], vec![2, 2]), "nvh264enc"),
            // A software encoder needs no slot, even on a node with full GPUs.
            node("cpu", (0, 8), (0, 8_000), (vec![2], vec![2]), "x264enc"),
        ];
        assert_eq!(ids(rank(&nodes, ASK)), ["cpu", "free-gpu"]);
    }

    #[test]
    fn absurd_budgets_never_fit_or_panic() {
        let nodes = vec![
            node("zero", (0, 0), (0, 0), (vec![], vec![]), "x264enc"),
            node("over", (u32::MAX, 8), (u64::MAX, 8_000), (vec![u32::MAX], vec![0]), "nvh264enc"),
        ];
        assert!(rank(&nodes, ASK).is_err());
    }
}
