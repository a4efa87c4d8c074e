//! Live session state in the cache: `session/<id>` holds each unfinished
//! session's latest view and `node/<id>` says the node is alive, both with a
//! TTL that a heartbeat renews. A node that dies leaves nothing stale behind
//! for long, and a cache that lost everything (a Redis restart) is refilled at
//! the next heartbeat from what this node knows.
//!
//! One task does every write, in order, so a slow or absent cache never holds
//! up a transition and two quick transitions never land reversed.

use std::collections::HashMap;
use std::time::Duration;

use tokio::sync::mpsc;

use super::lifecycle::SessionState;
use super::manager::SessionView;
use crate::store::cache::Cache;

pub const HEARTBEAT: Duration = Duration::from_secs(5);
/// Three missed heartbeats and an entry is gone.
pub const TTL: Duration = Duration::from_secs(15);

pub fn session_key(id: &str) -> String {
    format!("session/{id}")
}

pub fn node_key(node: &str) -> String {
    format!("node/{node}")
}

pub type Describe = Box<dyn Fn() -> serde_json::Value + Send + Sync>;

enum Update {
    Put(String, String),
    Gone(String),
}

pub struct LiveState {
    tx: mpsc::UnboundedSender<Update>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for LiveState {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl LiveState {
    /// `describe` gives what the heartbeat publishes of the node (address,
    /// capacity, load); the session count is added to it.
    pub fn start(cache: Cache, node: String, describe: Describe) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(cache, node, rx, describe));
        LiveState { tx, task }
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

async fn run(cache: Cache, node: String, mut rx: mpsc::UnboundedReceiver<Update>, describe: Describe) {
    let mut sessions: HashMap<String, String> = HashMap::new();
    let mut beat = tokio::time::interval(HEARTBEAT);
    // Failed writes are not retried one by one: the next heartbeat rewrites all.
    let mut healthy = true;
    loop {
        tokio::select! {
            update = rx.recv() => match update {
                Some(Update::Put(id, json)) => {
                    let r = cache.put(&session_key(&id), &json, Some(TTL)).await;
                    healthy = note(healthy, r);
                    sessions.insert(id, json);
                }
                Some(Update::Gone(id)) => {
                    sessions.remove(&id);
                    healthy = note(healthy, cache.delete(&session_key(&id)).await);
                }
                None => return,
            },
            _ = beat.tick() => {
                let mut alive = describe();
                alive["node"] = node.clone().into();
                alive["sessions"] = sessions.len().into();
                let alive = alive.to_string();
                let mut r = cache.heartbeat(&node_key(&node), &alive, TTL).await;
                for (id, json) in &sessions {
                    if r.is_err() {
                        break;
                    }
                    r = cache.put(&session_key(id), json, Some(TTL)).await;
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
