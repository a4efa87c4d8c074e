//! `/api/v1/node` and `/api/v1/nodes`: this node and the fleet, for admins.

use warp::http::StatusCode;
use warp::{Rejection, Reply};

use crate::api::models::{CacheView, NodeView};
use crate::api::problem::{reject, Problem};
use crate::api::AppState;
use crate::auth::Identity;

#[utoipa::path(get, path = "/api/v1/node", tag = "fleet",
    summary = "this node: sessions, budget, cache, live nodes and the containment of sessions' processes in force (admin only)",
    security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "this node", body = NodeView),
        (status = 401, response = super::Unauthorized),
        (status = 403, response = super::Forbidden),
        (status = 503, response = super::Unavailable),
    ))]
pub async fn node(_: Identity, s: AppState) -> impl Reply {
    warp::reply::json(&view(&s).await)
}

/// This node as `GET /api/v1/node` shows it (the dashboard shows the same).
pub async fn view(s: &AppState) -> NodeView {
    let m = &s.sessions;
    let cache = CacheView { backend: s.cache.backend().as_str(), live_nodes: m.live_nodes().await.ok() };
    NodeView {
        id: m.node().clone(),
        sessions: m.running(),
        budget: m.budget().view(),
        cache,
        gamepads: crate::input::GamepadPath::on_this_machine(),
        containment: m.containment().view(),
    }
}

#[utoipa::path(get, path = "/api/v1/nodes", tag = "fleet",
    summary = "every node with a live heartbeat: id, address, budget, sessions, draining, containment (admin only)",
    security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "the nodes' heartbeats", body = [Object]),
        (status = 401, response = super::Unauthorized),
        (status = 403, response = super::Forbidden),
        (status = 503, response = super::Unavailable),
    ))]
pub async fn nodes(_: Identity, s: AppState) -> Result<impl Reply, Rejection> {
    let nodes = s.sessions.nodes().await.map_err(|e| {
        reject(
            Problem::new(StatusCode::SERVICE_UNAVAILABLE, "cache-unavailable", format!("the cache: {e}"))
                .retry_after(5),
        )
    })?;
    Ok(warp::reply::json(&nodes))
}
