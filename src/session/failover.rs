//! Sessions whose node is gone. A node that stops without cleaning up (kill
//! -9, a lost machine) leaves sessions open in the database; every surviving
//! node watches for that and takes them through Error to Cleanup with the
//! reason, so their players hear of it on the events stream and no record
//! stays open. A node is gone when both its witnesses are silent for the
//! heartbeat TTL: its key in the cache has expired and its `nodes.last_seen`
//! in the database is older than the TTL. One witness alone is not enough: a
//! Redis restart empties every key at once, and a node that lost only Redis
//! still streams.
//!
//! Several survivors may close the same session at once; the store lets one
//! transition win and the others see a conflict, which is fine.

use crate::model::ids::{NodeId, SessionId};
use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::time::Duration;

use super::lifecycle::{Event, SessionState};
use super::manager::Manager;
use crate::store::entity::session;
use crate::store::StoreError;

/// Every this many looks, one reads all unfinished sessions (30 s at 1 s beats).
const FULL_SCAN_EVERY: u64 = 60;

impl Manager {
    /// Watches for lost nodes for as long as the service runs. Only a shared
    /// cache can say another node is alive, so this runs on Redis only.
    pub async fn watch_nodes(self: Arc<Self>) {
        let mut tick = tokio::time::interval(self.timing().every / 2);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        for n in 0u64.. {
            tick.tick().await;
            match self.close_lost_nodes(n % FULL_SCAN_EVERY == 0).await {
                Ok(0) => {}
                Ok(n) => tracing::warn!(sessions = n, "closed the sessions of lost nodes"),
                Err(e) => tracing::debug!(error = %e, "looking for lost nodes"),
            }
        }
    }

    /// One look: closes the unfinished sessions of every node that is gone,
    /// and says how many this node closed. Usually only nodes whose database
    /// heartbeat went stale are suspects (a small table); a `full` look also
    /// reads every unfinished session, for nodes that never recorded one.
    pub async fn close_lost_nodes(&self, full: bool) -> Result<usize, LostError> {
        let alive: HashSet<NodeId> = self.live_nodes().await.map_err(LostError::Cache)?.into_iter().collect();
        let ttl = self.timing().ttl;
        let cutoff = chrono::Utc::now() - chrono::Duration::from_std(ttl).unwrap_or_default();
        let mut suspects: BTreeSet<NodeId> = self.store().nodes_silent_since(cutoff).await?.into_iter().collect();
        if full {
            suspects.extend(self.store().unfinished_sessions().await?.into_iter().map(|r| NodeId::from(r.node)));
        }
        suspects.retain(|n| n != self.node() && !n.as_str().is_empty() && !alive.contains(n));
        let mut closed = 0;
        for node in suspects {
            let seen = self.store().node_last_seen(&node).await?;
            let silent = seen.map(|at| (chrono::Utc::now() - at).to_std().unwrap_or(Duration::ZERO));
            if silent.is_some_and(|s| s < ttl) {
                continue;
            }
            let rows = self.store().unfinished_on(&node).await?;
            if rows.is_empty() {
                // Gone and left nothing open: nothing to watch for any more.
                self.store().forget_node(&node).await?;
                continue;
            }
            let reason = match silent {
                Some(s) => format!("node `{node}` was lost: no heartbeat for {:.1} s", s.as_secs_f64()),
                None => format!("node `{node}` was lost: it never recorded a heartbeat"),
            };
            tracing::warn!(%node, sessions = rows.len(), %reason, "taking over a lost node's sessions");
            let stats = serde_json::json!({ "node_lost": node, "closed_by": self.node() });
            for row in &rows {
                if self.close_orphan(row, &reason, &stats).await {
                    closed += 1;
                    self.placements.orphans_closed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
        }
        Ok(closed)
    }

    /// Takes a session whose node is gone through Error (unless it had ended)
    /// to Cleanup, keeping its final statistics. False when another node got
    /// there first or the database refused.
    pub(super) async fn close_orphan(&self, row: &session::Model, reason: &str, stats: &serde_json::Value) -> bool {
        let id = SessionId::stored(row.id.clone());
        let state: SessionState = serde_json::from_str(&row.state).unwrap_or(SessionState::Idle);
        if !matches!(state, SessionState::Terminated { .. } | SessionState::Error { .. }) {
            if let Err(e) = self.recorder().record(&id, Event::Fail { reason: reason.into() }).await {
                tracing::debug!(session = %row.id, error = %e, "closing an orphaned session");
                return false;
            }
        }
        if row.stats.is_none() {
            let _ = self.store().set_stats(&id, stats).await;
        }
        if let Err(e) = self.recorder().record(&id, Event::CleanedUp).await {
            tracing::debug!(session = %row.id, error = %e, "closing an orphaned session");
            return false;
        }
        true
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LostError {
    #[error("the cache: {0}")]
    Cache(crate::store::cache::CacheError),
    #[error(transparent)]
    Store(#[from] StoreError),
}
