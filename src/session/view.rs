//! A session as callers see it, who is asking, and what a new one asks
//! for: the units that listings, the cache's copy and the API pass around.

use std::collections::BTreeMap;

use serde::Serialize;

use super::lifecycle::SessionState;
use crate::auth::Role;
use crate::model::ids::{NodeId, SessionId, UserId};
use crate::store::entity::session;

/// Who asks.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: UserId,
    pub role: Role,
}

impl From<&crate::auth::Identity> for Caller {
    fn from(id: &crate::auth::Identity) -> Self {
        Caller { user_id: UserId::from(id.user_id.as_str()), role: id.role }
    }
}

/// A session as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct SessionView {
    pub id: SessionId,
    pub owner: UserId,
    pub game: String,
    pub pipeline: String,
    pub node: NodeId,
    #[serde(flatten)]
    pub state: SessionState,
    pub version: i32,
    pub params: serde_json::Value,
    pub viewers: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
    pub stats: Option<serde_json::Value>,
    /// The latest look at the player's connection, while the session runs on this node.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quality: Option<serde_json::Value>,
    /// The player's input so far and how gamepads reach the game, likewise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<serde_json::Value>,
}

impl SessionView {
    pub fn from_row(row: &session::Model) -> Self {
        SessionView {
            id: SessionId::stored(row.id.clone()),
            owner: UserId::from(row.owner.as_str()),
            game: row.game.clone(),
            pipeline: row.pipeline.clone(),
            node: NodeId::from(row.node.as_str()),
            state: serde_json::from_str(&row.state)
                .unwrap_or(SessionState::Error { reason: "stored state is unreadable".into() }),
            version: row.version,
            params: serde_json::from_str(&row.params).unwrap_or_default(),
            viewers: crate::store::viewers_of(row),
            created_at: row.created_at.to_rfc3339(),
            updated_at: row.updated_at.to_rfc3339(),
            stats: row.stats.as_deref().and_then(|s| serde_json::from_str(s).ok()),
            quality: None,
            input: None,
        }
    }

    pub(super) fn may_watch(&self, c: &Caller) -> bool {
        c.role == Role::Admin || self.owner == c.user_id || self.viewers.iter().any(|v| c.user_id == v.as_str())
    }
}

/// `POST /api/v1/sessions`.
#[derive(Debug, Clone, Default, serde::Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRequest {
    pub game: String,
    #[serde(default)]
    pub params: BTreeMap<String, serde_json::Value>,
}
