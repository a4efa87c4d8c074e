//! What the API reads and answers, as the OpenAPI description shows it.
//!
//! Types the session layer owns (a session, a node's heartbeat, the budget)
//! appear as objects described in `docs/API.md`.

use std::collections::BTreeMap;
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{Identity, Role};
use crate::media::catalog::Catalog;
use crate::model::ids::{NodeId, UserId};

/// `{"status": "ok"}` while the process serves.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// Whether this node takes work: its database and cache answer, and it is
/// neither shutting down nor draining.
#[derive(Debug, Serialize, ToSchema)]
pub struct Ready {
    /// `ready` or `unavailable`.
    pub status: &'static str,
    pub database: bool,
    pub cache: bool,
    /// `memory` or `redis`.
    pub cache_backend: &'static str,
    pub shutting_down: bool,
    pub draining: bool,
}

/// The caller: what the token says, and what we keep of them since sign-in.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    pub user_id: String,
    #[schema(value_type = RoleName)]
    pub role: Role,
    pub issuer: String,
    /// The sign-in (`sid`) the token names.
    pub session: Option<String>,
    /// Seconds since the Unix epoch.
    pub token_expires_at: u64,
    /// Absent until the first `POST /api/v1/login`.
    pub profile: Option<Profile>,
}

/// What a token may do: `admin`, `player` or `viewer`.
#[derive(ToSchema)]
#[schema(as = Role, rename_all = "lowercase")]
#[allow(dead_code)] // described, never built: `crate::auth::Role` is the value
pub enum RoleName {
    Admin,
    Player,
    Viewer,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Profile {
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub last_login_at: String,
}

impl Me {
    pub fn new(id: Identity, user: Option<crate::store::entity::user::Model>) -> Self {
        Me {
            user_id: id.user_id,
            role: id.role,
            issuer: id.issuer,
            session: id.session,
            token_expires_at: id.expires_at,
            profile: user.map(|u| Profile {
                created_at: u.created_at.to_rfc3339(),
                last_login_at: u.last_login_at.to_rfc3339(),
            }),
        }
    }
}

/// `POST /api/v1/dev/token`: the reference client's development login.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DevTokenRequest {
    /// 1 to 64 printable characters.
    pub user: String,
    /// `player` when left out.
    #[serde(default)]
    #[schema(value_type = Option<RoleName>)]
    pub role: Option<Role>,
}

/// A development token.
#[derive(Debug, Serialize, ToSchema)]
pub struct DevToken {
    pub token: String,
    /// Seconds.
    pub expires_in: u64,
}

/// A pipeline file as the API shows it: what serves, and why not the file on disk.
#[derive(Debug, Serialize, ToSchema)]
pub struct PipelineView {
    pub name: String,
    pub description: Option<String>,
    pub runnable: bool,
    pub encoder: Option<String>,
    pub loaded_at_unix: Option<u64>,
    /// Admins only from here on: the file (relative to the pipelines
    /// folder), the encoder choice explained, notes and errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoder_choice: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<Vec<String>>,
    /// Set when the file on disk is invalid; the last good version still serves.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub error: Option<Option<String>>,
}

impl PipelineView {
    /// Every pipeline file; admins also see files, choices, notes and errors.
    pub fn all(catalog: &Catalog, role: Role) -> Vec<PipelineView> {
        let admin = role == Role::Admin;
        let dir = catalog.dir().to_path_buf();
        catalog
            .list()
            .into_iter()
            .map(|(name, e)| {
                let relative = e.path.strip_prefix(&dir).unwrap_or(&e.path).display().to_string();
                PipelineView {
                    description: e.current.as_ref().map(|c| c.spec.description.clone()),
                    runnable: e.current.as_ref().is_some_and(|c| c.runnable),
                    encoder: e.current.as_ref().and_then(|c| c.selection.chosen_element().map(str::to_string)),
                    loaded_at_unix: e
                        .current
                        .as_ref()
                        .and_then(|c| c.loaded_at.duration_since(UNIX_EPOCH).ok())
                        .map(|d| d.as_secs()),
                    path: admin.then_some(relative),
                    encoder_choice: e.current.as_ref().filter(|_| admin).map(|c| c.selection.explain()),
                    notes: admin.then(|| e.current.as_ref().map(|c| c.notes.clone()).unwrap_or_default()),
                    error: admin.then_some(e.error),
                    name,
                }
            })
            .collect()
    }
}

/// `POST /api/v1/sessions`: a game of the catalog, with pipeline parameters.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSession {
    pub game: String,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub params: BTreeMap<String, serde_json::Value>,
}

impl From<CreateSession> for crate::session::manager::CreateRequest {
    fn from(c: CreateSession) -> Self {
        Self { game: c.game, params: c.params }
    }
}

/// `PUT /api/v1/sessions/{id}/viewers`: who may watch, replacing the list.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Viewers {
    /// User ids, up to 32.
    pub viewers: Vec<UserId>,
}

/// One recorded transition of a session.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionEvent {
    /// Its number among all events (the events WebSocket's `after`).
    pub seq: i64,
    /// The session's version after it.
    pub version: i32,
    pub from: String,
    pub to: String,
    #[schema(value_type = Object)]
    pub event: serde_json::Value,
    #[schema(format = DateTime)]
    pub at: String,
}

impl From<&crate::store::entity::session_event::Model> for SessionEvent {
    fn from(e: &crate::store::entity::session_event::Model) -> Self {
        SessionEvent {
            seq: e.id,
            version: e.seq,
            from: e.from_state.clone(),
            to: e.to_state.clone(),
            event: serde_json::from_str(&e.event).unwrap_or_default(),
            at: e.at.to_rfc3339(),
        }
    }
}

/// A game of the catalog.
#[derive(Debug, Serialize, ToSchema)]
pub struct GameView {
    pub id: String,
    pub title: String,
    pub pipeline: String,
    /// Whether this node can run its pipeline now.
    pub available: bool,
    /// The picture the catalog names for it, if any.
    pub art: Option<String>,
    /// What one session of it reserves on the node.
    pub reserves: GameReserves,
}

/// A game's reservation per session (`docs/SESSIONS.md`, games catalog).
#[derive(Debug, Serialize, ToSchema)]
pub struct GameReserves {
    pub cpu_cores: u32,
    pub memory_mb: u64,
}

/// This node: its sessions, budget, cache and how it contains sessions.
#[derive(Debug, Serialize, ToSchema)]
pub struct NodeView {
    pub id: NodeId,
    pub sessions: usize,
    #[schema(value_type = Object)]
    pub budget: crate::session::budget::BudgetView,
    pub cache: CacheView,
    /// How games get virtual gamepads here (`docs/INPUT.md`).
    #[schema(value_type = Object)]
    pub gamepads: crate::input::GamepadPath,
    /// How a session's processes are kept together and within its reservation.
    #[schema(value_type = Object)]
    pub containment: crate::session::contain::ContainmentView,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CacheView {
    /// `memory` or `redis`.
    pub backend: &'static str,
    /// Nodes with a live heartbeat; `None` while the cache cannot be read.
    pub live_nodes: Option<Vec<NodeId>>,
}
