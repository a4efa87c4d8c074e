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
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SessionView {
    pub id: SessionId,
    pub owner: UserId,
    pub game: String,
    pub pipeline: String,
    pub node: NodeId,
    #[serde(flatten)]
    pub state: SessionState,
    pub version: i32,
    #[schema(value_type = Object)]
    pub params: serde_json::Value,
    pub viewers: Vec<UserId>,
    pub created_at: String,
    pub updated_at: String,
    #[schema(value_type = Option<Object>)]
    pub stats: Option<serde_json::Value>,
    /// The latest look at the player's connection, while the session runs on this node.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub quality: Option<serde_json::Value>,
    /// The player's input so far and how gamepads reach the game, likewise.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub input: Option<serde_json::Value>,
}

impl SessionView {
    pub fn from_row(row: &session::Model) -> Self {
        SessionView {
            id: SessionId::stored(row.id.clone()),
            owner: crate::store::owner_of(row),
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
        c.role == Role::Admin || self.owner == c.user_id || self.viewers.contains(&c.user_id)
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn names(v: &Value) -> Vec<String> {
        let mut out: Vec<String> = match v {
            Value::Object(m) => m.keys().cloned().collect(),
            Value::Array(a) => a.iter().map(|s| s.as_str().unwrap().to_string()).collect(),
            _ => Vec::new(),
        };
        out.sort();
        out
    }

    fn view(state: SessionState, quality: Option<Value>) -> SessionView {
        SessionView {
            id: SessionId::stored("s-1"),
            owner: UserId::from("alice"),
            game: "test-pattern".into(),
            pipeline: "test-pattern".into(),
            node: NodeId::from("node-1"),
            state,
            version: 3,
            params: serde_json::json!({}),
            viewers: vec!["bob".into()],
            created_at: "2026-01-01T00:00:00+00:00".into(),
            updated_at: "2026-01-01T00:00:01+00:00".into(),
            stats: None,
            quality,
            input: None,
        }
    }

    /// The schema is the flattened state (a `$ref`) and the view's own
    /// fields; a serialised view has every required field of both and no
    /// field neither lists.
    #[test]
    fn the_schema_lists_the_fields_serde_writes() {
        let schema = serde_json::to_value(<SessionView as utoipa::PartialSchema>::schema()).unwrap();
        let parts = schema["allOf"].as_array().expect("the flattened state makes an allOf");
        assert_eq!(parts[0]["$ref"], "#/components/schemas/SessionState");
        let own = &parts[1];
        let state = serde_json::to_value(<SessionState as utoipa::PartialSchema>::schema()).unwrap();
        let cases = [
            view(SessionState::Active, None),
            view(SessionState::Terminated { reason: crate::model::lifecycle::EndReason::User }, None),
            view(SessionState::Error { reason: "gone".into() }, Some(serde_json::json!({"rtt_ms": 5}))),
        ];
        for v in cases {
            let json = serde_json::to_value(&v).unwrap();
            let variant = state["oneOf"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["properties"]["state"]["enum"][0] == json["state"])
                .unwrap_or_else(|| panic!("no variant for {}", json["state"]));
            let mut listed = names(&own["properties"]);
            listed.extend(names(&variant["properties"]));
            let mut required = names(&own["required"]);
            required.extend(names(&variant["required"]));
            let keys = names(&json);
            for k in &keys {
                assert!(listed.contains(k), "{k} is written but not in the schema: {json}");
            }
            for k in &required {
                assert!(keys.contains(k), "{k} is required but not written: {json}");
            }
        }
    }
}
