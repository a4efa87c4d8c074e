//! This node's copy in the cache of its unfinished sessions and of itself: `session/<id>` holds each unfinished
//! session's latest view and `node/<id>` says the node is alive, both with a
//! TTL that a heartbeat renews. A node that dies leaves nothing stale behind
//! for long, and a cache that lost everything (a Redis restart) is refilled at
//! the next heartbeat from what this node knows. Each heartbeat is also
//! written to the database (`nodes.last_seen`): a second witness, so a node
//! that lost only Redis is not taken for dead by the others.
//!
//! One task does every write, in order, so a slow or absent cache never holds
//! up a transition and two quick transitions never land reversed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::lifecycle::SessionState;
use super::placement::NodeInfo;
use super::view::SessionView;
use crate::model::ids::{NodeId, SessionId};
use crate::store::cache::Cache;
use crate::store::Store;

/// How often a node beats and how long its entries outlive a missed beat.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub every: Duration,
    pub ttl: Duration,
}

impl Timing {
    pub fn from_config(node: &crate::config::NodeConfig) -> Self {
        Timing { every: node.heartbeat, ttl: node.heartbeat_ttl }
    }
}

/// Heartbeats written, and those the cache or the database refused.
#[derive(Debug, Default)]
pub struct Beats {
    pub sent: AtomicU64,
    pub cache_failed: AtomicU64,
    pub db_failed: AtomicU64,
}

pub fn session_key(id: &SessionId) -> String {
    format!("session/{id}")
}

/// The prefix of every node's key.
pub const NODE_KEYS: &str = "node/";

pub fn node_key(node: &NodeId) -> String {
    format!("{NODE_KEYS}{node}")
}

/// This node as its next heartbeat publishes it (the session count is set
/// by the heartbeat).
pub type Describe = Box<dyn Fn() -> NodeInfo + Send + Sync>;

enum Update {
    Put(SessionId, String),
    Gone(SessionId),
    /// Publish the node now (it started draining, say), not at the next tick.
    Beat,
}

pub struct CacheMirror {
    tx: mpsc::UnboundedSender<Update>,
    task: tokio::task::JoinHandle<()>,
    /// The database witness beats on its own, so a cache that hangs on its
    /// timeouts never makes the node look dead there too.
    db_task: tokio::task::JoinHandle<()>,
    beats: Arc<Beats>,
}

/// Where a heartbeat goes and what it says.
pub struct Heartbeat {
    pub cache: Cache,
    pub store: Store,
    pub node: NodeId,
    pub address: String,
    pub timing: Timing,
    /// What the heartbeat publishes of the node (address, capacity, load).
    pub describe: Describe,
}

impl Drop for CacheMirror {
    fn drop(&mut self) {
        self.task.abort();
        self.db_task.abort();
    }
}

impl CacheMirror {
    pub fn start(heartbeat: Heartbeat) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let beats = Arc::new(Beats::default());
        let db_task = tokio::spawn(witness(
            heartbeat.store.clone(),
            heartbeat.node.clone(),
            heartbeat.address.clone(),
            heartbeat.timing,
            beats.clone(),
        ));
        let task = tokio::spawn(run(heartbeat, rx, beats.clone()));
        CacheMirror { tx, task, db_task, beats }
    }

    pub fn beat_now(&self) {
        let _ = self.tx.send(Update::Beat);
    }

    pub fn beats(&self) -> &Beats {
        &self.beats
    }

    /// Records `view`; a session in its final state is removed.
    pub fn update(&self, view: &SessionView) {
        let update = if view.state == SessionState::Cleanup {
            Update::Gone(view.id.clone())
        } else {
            Update::Put(view.id.clone(), serde_json::to_string(view).unwrap_or_default())
        };
        let _ = self.tx.send(update);
    }
}

/// `nodes.last_seen`, every beat.
async fn witness(store: Store, node: NodeId, address: String, timing: Timing, beats: Arc<Beats>) {
    let mut beat = tokio::time::interval(timing.every);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut healthy = true;
    loop {
        beat.tick().await;
        let ok = matches!(tokio::time::timeout(timing.every, store.node_seen(&node, &address)).await, Ok(Ok(())));
        if !ok {
            beats.db_failed.fetch_add(1, Ordering::Relaxed);
            if healthy {
                tracing::warn!("heartbeat not recorded in the database; retrying at each heartbeat");
            }
        }
        healthy = ok;
    }
}

async fn run(hb: Heartbeat, mut rx: mpsc::UnboundedReceiver<Update>, beats: Arc<Beats>) {
    let Heartbeat { cache, store: _, node, address: _, timing, describe } = hb;
    let mut sessions: HashMap<SessionId, String> = HashMap::new();
    let mut beat = tokio::time::interval(timing.every);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Failed writes are not retried one by one: the next heartbeat rewrites all.
    let mut healthy = true;
    loop {
        tokio::select! {
            update = rx.recv() => match update {
                Some(Update::Put(id, json)) => {
                    let r = cache.put(&session_key(&id), &json, Some(timing.ttl)).await;
                    healthy = note(healthy, r);
                    sessions.insert(id, json);
                }
                Some(Update::Gone(id)) => {
                    sessions.remove(&id);
                    healthy = note(healthy, cache.delete(&session_key(&id)).await);
                }
                Some(Update::Beat) => beat.reset_immediately(),
                None => return,
            },
            _ = beat.tick() => {
                let alive = NodeInfo { sessions: sessions.len(), ..describe() };
                let alive = serde_json::to_string(&alive).unwrap_or_default();
                beats.sent.fetch_add(1, Ordering::Relaxed);
                let mut r = cache.heartbeat(&node_key(&node), &alive, timing.ttl).await;
                for (id, json) in &sessions {
                    if r.is_err() {
                        break;
                    }
                    r = cache.put(&session_key(id), json, Some(timing.ttl)).await;
                }
                if r.is_err() {
                    beats.cache_failed.fetch_add(1, Ordering::Relaxed);
                }
                let was = healthy;
                healthy = note(healthy, r);
                if healthy && !was {
                    tracing::info!(sessions = sessions.len(), "live session state rebuilt in the cache");
                }
            }
        }
    }
}

/// Logs a change of health only, not every failed write.
fn note(healthy: bool, r: Result<(), crate::store::cache::CacheError>) -> bool {
    match r {
        Ok(()) => true,
        Err(e) => {
            if healthy {
                tracing::warn!(error = %e, "live session state not written to the cache; rewriting at each heartbeat");
            }
            false
        }
    }
}
