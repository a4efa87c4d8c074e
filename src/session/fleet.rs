//! This node as one of the fleet: what its heartbeat publishes, where a new
//! session goes (placement over every node's latest heartbeat), where a
//! session another node runs is reached, and whether this node is draining.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

use super::budget::Budget;
use super::cache_mirror::{node_key, Timing, NODE_KEYS};
use super::contain::Containment;
use super::error::SessionError;
use super::games::Game;
use super::placement::{self, Ask, NodeInfo};
use super::view::SessionView;
use crate::media::catalog::Catalog;
use crate::model::ids::NodeId;
use crate::store::cache::{Cache, CacheError};

/// What this node did for the fleet, for `/metrics`.
#[derive(Debug, Default)]
pub struct FleetCounters {
    /// Sessions of lost nodes this node closed.
    pub orphans_closed: AtomicU64,
    pub decisions: AtomicU64,
    pub failures: AtomicU64,
    /// Sessions created elsewhere on this node's decision.
    pub forwarded: AtomicU64,
    pub decision_micros: AtomicU64,
}

pub(super) struct Fleet {
    node: NodeId,
    /// Where clients and other nodes reach this node.
    address: String,
    timing: Timing,
    cache: Cache,
    budget: Budget,
    catalog: Arc<Catalog>,
    containment: serde_json::Value,
    /// [`TAKING`], [`DRAINED`] or [`STOPPING`]: while draining, running
    /// sessions play on and new ones go elsewhere.
    draining: AtomicU8,
}

/// Taking new sessions.
const TAKING: u8 = 0;
/// Drained by an admin: undone by an admin.
const DRAINED: u8 = 1;
/// Drained because the service stops: final.
const STOPPING: u8 = 2;

impl Fleet {
    pub fn new(
        node: NodeId,
        address: String,
        timing: Timing,
        cache: Cache,
        budget: Budget,
        catalog: Arc<Catalog>,
        containment: &Containment,
    ) -> Self {
        let containment = serde_json::to_value(containment.view()).unwrap_or_default();
        Fleet { node, address, timing, cache, budget, catalog, containment, draining: AtomicU8::new(TAKING) }
    }

    pub fn node(&self) -> &NodeId {
        &self.node
    }

    pub fn address(&self) -> &str {
        &self.address
    }

    pub fn timing(&self) -> Timing {
        self.timing
    }

    /// An admin's drain (a stopping node stays stopping).
    pub fn set_draining(&self) {
        let _ = self.draining.compare_exchange(TAKING, DRAINED, Ordering::SeqCst, Ordering::SeqCst);
    }

    /// The drain of a stopping service, which nothing undoes.
    pub fn set_stopping(&self) {
        self.draining.store(STOPPING, Ordering::SeqCst);
    }

    /// Undoes an admin's drain; false when the service is stopping.
    pub fn set_taking(&self) -> bool {
        match self.draining.compare_exchange(DRAINED, TAKING, Ordering::SeqCst, Ordering::SeqCst) {
            Ok(_) => true,
            Err(now) => now == TAKING,
        }
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst) != TAKING
    }

    /// This node as its heartbeat publishes it, read now.
    pub fn describe(&self) -> NodeInfo {
        let runnable: BTreeMap<String, String> = self
            .catalog
            .list()
            .into_iter()
            .filter_map(|(name, e)| {
                let c = e.current.filter(|c| c.runnable)?;
                Some((name, c.selection.chosen_element().unwrap_or_default().to_string()))
            })
            .collect();
        NodeInfo {
            node: self.node.clone(),
            address: self.address.clone(),
            budget: (&self.budget.view()).into(),
            draining: self.is_draining(),
            runnable,
            containment: self.containment.clone(),
            sessions: 0,
        }
    }

    /// The nodes that could run a new session of `game`, best first, and
    /// counts the decision. On the in-process cache this node is the whole
    /// fleet, and it answers for itself.
    pub async fn place(&self, game: &Game, counters: &FleetCounters) -> Result<Vec<NodeInfo>, SessionError> {
        let started = std::time::Instant::now();
        let local = vec![self.describe()];
        if self.cache.backend() == crate::config::CacheBackend::Memory {
            return Ok(local);
        }
        let published = self.published().await.map_err(|e| {
            counters.failures.fetch_add(1, Ordering::Relaxed);
            SessionError::Unavailable(format!("the cache cannot be read, so no new session can be placed: {e}"))
        })?;
        let ranked = self.rank(published, local, game);
        counters.decisions.fetch_add(1, Ordering::Relaxed);
        counters.decision_micros.fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        ranked.inspect_err(|_| {
            counters.failures.fetch_add(1, Ordering::Relaxed);
        })
    }

    /// The ranking alone: `published` heartbeats of the other nodes (this
    /// node's own is replaced by `local`, read fresh).
    pub fn rank(
        &self,
        published: Vec<serde_json::Value>,
        local: Vec<NodeInfo>,
        game: &Game,
    ) -> Result<Vec<NodeInfo>, SessionError> {
        let mut nodes: Vec<NodeInfo> = published
            .into_iter()
            .filter_map(|v| serde_json::from_value::<NodeInfo>(v).ok())
            .filter(|n| n.node != self.node)
            .collect();
        nodes.extend(local);
        let ask = Ask { pipeline: &game.pipeline, cpu_cores: game.cpu_cores, memory_mb: game.memory_mb };
        Ok(placement::rank(&nodes, ask)?.into_iter().cloned().collect())
    }

    /// The address of the node that runs `view`'s session, when that is
    /// another live node and the session is unfinished.
    pub async fn owner_of(&self, view: &SessionView) -> Result<Option<String>, SessionError> {
        if view.node == self.node || view.state.is_final() {
            return Ok(None);
        }
        let published = self.cache.get(&node_key(&view.node)).await.ok().flatten();
        let info = published.and_then(|v| serde_json::from_str::<serde_json::Value>(&v).ok());
        match info.as_ref().and_then(|v| v["address"].as_str()) {
            Some(a) => Ok(Some(a.trim_end_matches('/').to_string())),
            None => Err(SessionError::Unavailable(format!(
                "session `{}` runs on node `{}`, which is not answering; retry, or wait for it to be closed",
                view.id, view.node
            ))),
        }
    }

    /// Every heartbeat the cache holds, as published, in node id order.
    pub async fn published(&self) -> Result<Vec<serde_json::Value>, CacheError> {
        let mut out = Vec::new();
        for id in self.nodes_with_heartbeat().await? {
            if let Some(v) = self.cache.get(&node_key(&id)).await? {
                out.push(serde_json::from_str(&v).unwrap_or_else(|_| serde_json::json!({ "node": id })));
            }
        }
        out.sort_by(|a, b| a["node"].as_str().cmp(&b["node"].as_str()));
        Ok(out)
    }

    /// Nodes whose heartbeat the cache holds (this one included while the cache is up).
    pub async fn nodes_with_heartbeat(&self) -> Result<Vec<NodeId>, CacheError> {
        let prefix = NODE_KEYS;
        let keys = self.cache.keys(prefix).await?;
        Ok(keys.into_iter().map(|k| NodeId::from(&k[prefix.len()..])).collect())
    }
}

/// The signaling WebSocket of the node at `base` (`http://host:port`).
pub(super) fn signal_url(base: &str) -> String {
    let ws = match base.split_once("://") {
        Some(("https", rest)) => format!("wss://{rest}"),
        Some((_, rest)) => format!("ws://{rest}"),
        None => format!("ws://{base}"),
    };
    format!("{}/api/v1/signal", ws.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::signal_url;

    #[test]
    fn signaling_urls_follow_the_node_address() {
        assert_eq!(signal_url("http://10.0.0.5:8080"), "ws://10.0.0.5:8080/api/v1/signal");
        assert_eq!(signal_url("https://node-a.example/"), "wss://node-a.example/api/v1/signal");
        assert_eq!(signal_url("node-b:8080"), "ws://node-b:8080/api/v1/signal");
    }
}
