//! `POST /api/v1/nodes/{id}/drain`: a node stops taking new sessions while
//! its running ones play on, as on SIGTERM with `server.drain`; `DELETE` on
//! the same path undoes an admin's drain. Another node's is passed to it
//! with the caller's token.

use warp::http::StatusCode;
use warp::{Rejection, Reply};

use super::sessions::Peer;
use crate::api::forward::{Forwarded, HttpPeers};
use crate::api::problem::{reject, Problem};
use crate::api::AppState;
use crate::auth::Identity;
use crate::session::forwarding::{Call, Peers, Verb};

fn no_such_node(detail: String) -> Rejection {
    reject(Problem::new(StatusCode::NOT_FOUND, "no-such-node", detail))
}

#[utoipa::path(post, path = "/api/v1/nodes/{id}/drain", tag = "fleet",
    summary = "drain a node: it takes no new sessions and its running ones play on (admin only)",
    description = "Until an admin undoes it (`DELETE` on the same path) or the node restarts. Its heartbeat \
                   says `draining` at once, so placement skips it, and `GET /api/v1/ready` answers 503 there. \
                   Another node's drain is passed to that node.",
    params(("id" = String, Path, description = "the node, as `GET /api/v1/nodes` names it")),
    security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "the node as its heartbeat now publishes it, draining", body = Object),
        (status = 401, response = super::Unauthorized),
        (status = 403, response = super::Forbidden),
        (status = 404, response = super::NotFound),
        (status = 503, response = super::Unavailable),
    ))]
pub async fn drain(node: String, id: Identity, s: AppState, peer: Peer) -> Result<Box<dyn Reply>, Rejection> {
    at_node(node, id, s, peer, Verb::Post).await
}

#[utoipa::path(delete, path = "/api/v1/nodes/{id}/drain", tag = "fleet",
    summary = "undo an admin's drain: the node takes new sessions again (admin only)",
    description = "A node that drains because it is stopping stays draining (409). Another node's is passed to \
                   that node.",
    params(("id" = String, Path, description = "the node, as `GET /api/v1/nodes` names it")),
    security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "the node as its heartbeat now publishes it, taking sessions", body = Object),
        (status = 401, response = super::Unauthorized),
        (status = 403, response = super::Forbidden),
        (status = 404, response = super::NotFound),
        (status = 409, response = super::Conflict),
        (status = 503, response = super::Unavailable),
    ))]
pub async fn undrain(node: String, id: Identity, s: AppState, peer: Peer) -> Result<Box<dyn Reply>, Rejection> {
    at_node(node, id, s, peer, Verb::Delete).await
}

/// Drains (`Post`) or undrains (`Delete`) this node, or passes the call to
/// the node it names.
async fn at_node(node: String, id: Identity, s: AppState, peer: Peer, verb: Verb) -> Result<Box<dyn Reply>, Rejection> {
    let here = s.sessions.node().clone();
    if node == here.as_str() {
        if verb == Verb::Delete {
            if !s.sessions.undrain() {
                return Err(reject(Problem::new(
                    StatusCode::CONFLICT,
                    "conflict",
                    "this node is stopping: its drain ends when it does",
                )));
            }
            tracing::info!(user = %id.user_id, "taking sessions again at an admin's request");
        } else {
            s.sessions.drain();
            tracing::info!(user = %id.user_id, sessions = s.sessions.running(), "draining at an admin's request");
        }
        return Ok(Box::new(warp::reply::json(&s.sessions.local_info())));
    }
    let shown: String = node.chars().take(64).collect();
    if peer.forwarded_by.is_some() {
        // Served where it lands, never passed on again.
        return Err(no_such_node(format!("this is node `{here}`, not `{shown}`")));
    }
    let nodes = s.sessions.nodes().await.map_err(|e| {
        reject(
            Problem::new(StatusCode::SERVICE_UNAVAILABLE, "cache-unavailable", format!("the cache: {e}"))
                .retry_after(5),
        )
    })?;
    let address = nodes.iter().find(|n| n["node"] == node.as_str()).and_then(|n| n["address"].as_str());
    let Some(address) = address else {
        return Err(no_such_node(format!("no live node `{shown}`: `GET /api/v1/nodes` lists them")));
    };
    let call = Call {
        verb,
        path: format!("/api/v1/nodes/{node}/drain"),
        body: None,
        authorization: peer.authorization.as_deref().unwrap_or_default(),
        by: here.as_str(),
    };
    let answer = HttpPeers.send(address.trim_end_matches('/'), call).await.map_err(|e| {
        reject(
            Problem::new(StatusCode::SERVICE_UNAVAILABLE, "node-unreachable", format!("node `{shown}`: {}", e.reason))
                .retry_after(5),
        )
    })?;
    tracing::info!(user = %id.user_id, node = %shown, status = answer.status, ?verb, "drain call passed to another node");
    Ok(Box::new(Forwarded(answer)))
}
