//! The operator dashboard's snapshot, pushed over the events WebSocket to an
//! admin who subscribed to the `dashboard` topic (`super::super::ws`). Every
//! figure comes from where the REST routes take it: this node as
//! `GET /api/v1/node` shows it, the fleet's heartbeats as `GET /api/v1/nodes`,
//! sessions (with the quality monitor's latest sample) as an admin's
//! `GET /api/v1/sessions`, pipelines as an admin's `GET /api/v1/pipelines`.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::api::models::{NodeView, PipelineView};
use crate::api::AppState;
use crate::auth::Role;
use crate::model::lifecycle::SessionState;
use crate::session::manager::{Caller, SessionView};

/// Sessions that ended (`cleanup`) shown beside the unfinished ones.
const ENDED_SHOWN: usize = 20;

/// One `{"type": "dashboard", …}` message.
#[derive(Debug, Serialize)]
pub struct Snapshot {
    #[serde(rename = "type")]
    kind: &'static str,
    /// When it was taken, RFC 3339.
    at: String,
    node: LocalNode,
    /// Every node with a live heartbeat; empty while the cache cannot be read.
    nodes: Vec<serde_json::Value>,
    /// Unfinished sessions, then the latest ended ones; newest first within each.
    sessions: Vec<SessionRow>,
    pipelines: Vec<PipelineView>,
    /// A part that could not be read (`nodes`, `sessions`), and why.
    unavailable: BTreeMap<&'static str, String>,
}

#[derive(Debug, Serialize)]
struct LocalNode {
    #[serde(flatten)]
    view: NodeView,
    /// No new sessions are taken; running ones play on.
    draining: bool,
}

#[derive(Debug, Serialize)]
struct SessionRow {
    #[serde(flatten)]
    view: SessionView,
    /// The encoder its node uses for its pipeline, as that node's heartbeat
    /// publishes it; `null` when the node or pipeline is not known there.
    encoder: Option<String>,
}

/// The dashboard as it stands now.
pub async fn snapshot(s: &AppState) -> Snapshot {
    let mut unavailable = BTreeMap::new();
    let admin = Caller { user_id: "dashboard".into(), role: Role::Admin };
    let nodes = match s.sessions.nodes().await {
        Ok(nodes) => with_heartbeat_age(s, nodes).await,
        Err(e) => {
            unavailable.insert("nodes", format!("the cache cannot be read: {e}"));
            Vec::new()
        }
    };
    let sessions = match s.sessions.list(&admin).await {
        Ok(views) => rows(views, &nodes, s),
        Err(e) => {
            unavailable.insert("sessions", e.to_string());
            Vec::new()
        }
    };
    Snapshot {
        kind: "dashboard",
        at: chrono::Utc::now().to_rfc3339(),
        node: LocalNode { view: super::node::view(s).await, draining: s.sessions.is_draining() },
        nodes,
        sessions,
        pipelines: PipelineView::all(s.streams.catalog(), Role::Admin),
        unavailable,
    }
}

/// Adds `heartbeat_age_ms` to each heartbeat: how long ago the node last
/// recorded one in the database (`nodes.last_seen`, written every beat);
/// `null` when it has none there.
async fn with_heartbeat_age(s: &AppState, mut nodes: Vec<serde_json::Value>) -> Vec<serde_json::Value> {
    let now = chrono::Utc::now();
    for n in &mut nodes {
        let Some(id) = n["node"].as_str().map(crate::model::ids::NodeId::from) else { continue };
        let seen = s.store.node_last_seen(&id).await.ok().flatten();
        n["heartbeat_age_ms"] = seen.map(|t| (now - t).num_milliseconds().max(0)).into();
    }
    nodes
}

fn rows(views: Vec<SessionView>, nodes: &[serde_json::Value], s: &AppState) -> Vec<SessionRow> {
    let here = s.sessions.local_info();
    let encoder = |v: &SessionView| -> Option<String> {
        if v.node == *s.sessions.node() {
            return here.as_ref().and_then(|n| n.runnable.get(&v.pipeline).cloned());
        }
        let node = nodes.iter().find(|n| n["node"] == v.node.as_str())?;
        node["runnable"][&v.pipeline].as_str().map(str::to_string)
    };
    let (ended, mut open): (Vec<_>, Vec<_>) = views.into_iter().partition(|v| v.state == SessionState::Cleanup);
    open.extend(ended.into_iter().take(ENDED_SHOWN));
    open.into_iter()
        .map(|view| SessionRow {
            encoder: (view.state != SessionState::Cleanup).then(|| encoder(&view)).flatten(),
            view,
        })
        .collect()
}
