//! `/api/v1/sessions` and `/api/v1/games`: the game-session lifecycle over
//! REST. A call on a session another node runs is passed to that node
//! (`session::forwarding`); the rest is the session manager's.

use warp::http::StatusCode;
use warp::{Rejection, Reply};

use crate::api::forward::{Forwarded, HttpPeers};
use crate::api::models::{CreateSession, GameReserves, GameView, SessionEvent, Viewers};
use crate::api::problem::{reject, Problem};
use crate::api::AppState;
use crate::auth::Identity;
use crate::model::ids::SessionId;
use crate::session::forwarding::{self, Call, Placed, Verb};
use crate::session::manager::{Caller, SessionError, SessionView};

/// What a request says of where it came from: the caller's `Authorization`
/// (passed on when the call belongs to another node) and, for a call that
/// another node forwarded, that node.
#[derive(Debug, Clone)]
pub struct Peer {
    pub authorization: Option<String>,
    pub forwarded_by: Option<String>,
}

impl Peer {
    /// The credentials to pass the call on with: none when another node
    /// already sent it here (it is served where it lands).
    fn onward(&self) -> Option<&str> {
        match (&self.authorization, &self.forwarded_by) {
            (Some(auth), None) => Some(auth),
            _ => None,
        }
    }
}

type Answer = Result<Box<dyn Reply>, Rejection>;

/// The session a path names; an id that is not one names no session (404).
fn session_id(raw: &str) -> Result<SessionId, Rejection> {
    SessionId::parse(raw).map_err(|e| reject(SessionError::from(e)))
}

fn json(view: &impl serde::Serialize) -> Box<dyn Reply> {
    Box::new(warp::reply::json(view))
}

/// Passes the call to the node that runs session `sid`, when that is another one.
async fn at_owner(
    s: &AppState,
    caller: &Caller,
    sid: &SessionId,
    peer: &Peer,
    verb: Verb,
    path: String,
    body: Option<serde_json::Value>,
) -> Result<Option<Box<dyn Reply>>, Rejection> {
    let call =
        peer.onward().map(|authorization| Call { verb, path, body, authorization, by: s.sessions.node().as_str() });
    let answer = forwarding::to_owner(&s.sessions, &HttpPeers, caller, sid, call).await.map_err(reject)?;
    Ok(answer.map(|a| Box::new(Forwarded(a)) as Box<dyn Reply>))
}

#[utoipa::path(post, path = "/api/v1/sessions", tag = "sessions", summary = "start a game session",
    description = "Placed on the least loaded node with room: this node starts it or asks the chosen node to, \
                   and the next in line when that one filled up meanwhile or does not answer.",
    request_body = CreateSession,
    security(("bearer" = ["admin", "player"])),
    responses(
        (status = 201, description = "started", body = SessionView),
        (status = 400, response = super::BadBody),
        (status = 401, response = super::Unauthorized),
        (status = 403, response = super::Forbidden),
        (status = 413, response = super::TooLarge),
        (status = 422, response = super::Invalid),
        (status = 503, response = super::Unavailable),
    ))]
pub async fn create(id: Identity, peer: Peer, req: CreateSession, s: AppState) -> Answer {
    let caller = Caller::from(&id);
    let placed = Box::pin(forwarding::place_or_create(&s.sessions, &HttpPeers, &caller, req.into(), peer.onward()))
        .await
        .map_err(reject)?;
    Ok(match placed {
        Placed::Here(view) => Box::new(warp::reply::with_status(warp::reply::json(&view), StatusCode::CREATED)),
        Placed::There(answer) => Box::new(Forwarded(answer)),
    })
}

#[utoipa::path(get, path = "/api/v1/sessions", tag = "sessions", summary = "sessions the caller may see, newest first",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the sessions", body = [SessionView]),
        (status = 401, response = super::Unauthorized),
        (status = 503, response = super::Unavailable),
    ))]
pub async fn list(id: Identity, s: AppState) -> Answer {
    let views = s.sessions.list(&Caller::from(&id)).await.map_err(reject)?;
    Ok(json(&views))
}

#[utoipa::path(get, path = "/api/v1/sessions/{id}", tag = "sessions", summary = "one session",
    params(("id" = String, Path, description = "the session")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the session (owner, shared viewer or admin)", body = SessionView),
        (status = 401, response = super::Unauthorized),
        (status = 404, response = super::NotFound),
        (status = 503, response = super::Unavailable),
    ))]
pub async fn get(raw: String, id: Identity, s: AppState) -> Answer {
    let sid = session_id(&raw)?;
    let view = s.sessions.view(&Caller::from(&id), &sid).await.map_err(reject)?;
    Ok(json(&view))
}

/// `POST /api/v1/sessions/{id}/{action}`: one of [`pause`], [`resume`] and [`end`].
pub async fn action(raw: String, action: String, id: Identity, s: AppState, peer: Peer) -> Answer {
    let sid = session_id(&raw)?;
    let caller = Caller::from(&id);
    let path = format!("/api/v1/sessions/{sid}/{action}");
    if let Some(f) = Box::pin(at_owner(&s, &caller, &sid, &peer, Verb::Post, path, None)).await? {
        return Ok(f);
    }
    let view = match action.as_str() {
        "pause" => pause(&s, &caller, &sid).await,
        "resume" => resume(&s, &caller, &sid).await,
        "end" => end(&s, &caller, &sid).await,
        _ => {
            return Err(reject(Problem::new(
                StatusCode::NOT_FOUND,
                "not-found",
                "a session's actions are pause, resume and end",
            )))
        }
    }
    .map_err(reject)?;
    tracing::info!(session = %sid, user = %caller.user_id, action, "session action");
    Ok(json(&view))
}

#[utoipa::path(post, path = "/api/v1/sessions/{id}/pause", tag = "sessions", summary = "pause a session",
    params(("id" = String, Path, description = "the session")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the session, paused (owner or admin)", body = SessionView),
        (status = 401, response = super::Unauthorized),
        (status = 403, response = super::Forbidden),
        (status = 404, response = super::NotFound),
        (status = 409, response = super::Conflict),
        (status = 503, response = super::Unavailable),
    ))]
pub async fn pause(s: &AppState, caller: &Caller, sid: &SessionId) -> Result<SessionView, SessionError> {
    s.sessions.pause(caller, sid).await
}

#[utoipa::path(post, path = "/api/v1/sessions/{id}/resume", tag = "sessions", summary = "resume a session",
    params(("id" = String, Path, description = "the session")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the session, running again (owner or admin)", body = SessionView),
        (status = 401, response = super::Unauthorized),
        (status = 403, response = super::Forbidden),
        (status = 404, response = super::NotFound),
        (status = 409, response = super::Conflict),
        (status = 503, response = super::Unavailable),
    ))]
pub async fn resume(s: &AppState, caller: &Caller, sid: &SessionId) -> Result<SessionView, SessionError> {
    s.sessions.resume(caller, sid).await
}

#[utoipa::path(post, path = "/api/v1/sessions/{id}/end", tag = "sessions", summary = "end a session",
    params(("id" = String, Path, description = "the session")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the session, ended (owner or admin)", body = SessionView),
        (status = 401, response = super::Unauthorized),
        (status = 403, response = super::Forbidden),
        (status = 404, response = super::NotFound),
        (status = 409, response = super::Conflict),
        (status = 503, response = super::Unavailable),
    ))]
pub async fn end(s: &AppState, caller: &Caller, sid: &SessionId) -> Result<SessionView, SessionError> {
    s.sessions.end(caller, sid).await
}

#[utoipa::path(delete, path = "/api/v1/sessions/{id}", tag = "sessions",
    summary = "end a session", description = "The same as `POST /api/v1/sessions/{id}/end`.",
    params(("id" = String, Path, description = "the session")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the session, ended (owner or admin)", body = SessionView),
        (status = 401, response = super::Unauthorized),
        (status = 403, response = super::Forbidden),
        (status = 404, response = super::NotFound),
        (status = 409, response = super::Conflict),
        (status = 503, response = super::Unavailable),
    ))]
pub async fn delete(raw: String, id: Identity, s: AppState, peer: Peer) -> Answer {
    let sid = session_id(&raw)?;
    let caller = Caller::from(&id);
    let path = format!("/api/v1/sessions/{sid}");
    if let Some(f) = Box::pin(at_owner(&s, &caller, &sid, &peer, Verb::Delete, path, None)).await? {
        return Ok(f);
    }
    let view = end(&s, &caller, &sid).await.map_err(reject)?;
    Ok(json(&view))
}

#[utoipa::path(put, path = "/api/v1/sessions/{id}/viewers", tag = "sessions", summary = "set who may watch (owner or admin)",
    params(("id" = String, Path, description = "the session")),
    request_body = Viewers,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the session with its new viewers", body = SessionView),
        (status = 401, response = super::Unauthorized),
        (status = 403, response = super::Forbidden),
        (status = 404, response = super::NotFound),
        (status = 409, response = super::Conflict),
        (status = 422, response = super::Invalid),
        (status = 503, response = super::Unavailable),
    ))]
pub async fn share(raw: String, id: Identity, req: Viewers, s: AppState, peer: Peer) -> Answer {
    let sid = session_id(&raw)?;
    let caller = Caller::from(&id);
    let path = format!("/api/v1/sessions/{sid}/viewers");
    let body = Some(serde_json::json!({ "viewers": req.viewers }));
    if let Some(f) = Box::pin(at_owner(&s, &caller, &sid, &peer, Verb::Put, path, body)).await? {
        return Ok(f);
    }
    let view = s.sessions.share(&caller, &sid, req.viewers).await.map_err(reject)?;
    Ok(json(&view))
}

#[utoipa::path(get, path = "/api/v1/sessions/{id}/events", tag = "sessions",
    summary = "every recorded transition of a session",
    params(("id" = String, Path, description = "the session")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "its transitions, oldest first", body = Vec<SessionEvent>),
        (status = 401, response = super::Unauthorized),
        (status = 404, response = super::NotFound),
        (status = 503, response = super::Unavailable),
    ))]
pub async fn history(raw: String, id: Identity, s: AppState) -> Answer {
    let sid = session_id(&raw)?;
    s.sessions.view(&Caller::from(&id), &sid).await.map_err(reject)?;
    let events = s.store.events(&sid).await.map_err(reject)?;
    Ok(json(&events.iter().map(SessionEvent::from).collect::<Vec<_>>()))
}

#[utoipa::path(get, path = "/api/v1/games", tag = "sessions", summary = "the games catalog",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "every game, and whether this node can run it now", body = Vec<GameView>),
        (status = 401, response = super::Unauthorized),
        (status = 503, response = super::Unavailable),
    ))]
pub fn games(_: Identity, s: AppState) -> impl Reply {
    let catalog = s.sessions.streams().catalog().clone();
    let views: Vec<GameView> = s
        .sessions
        .games()
        .values()
        .map(|g| GameView {
            id: g.id.clone(),
            title: g.title.clone(),
            pipeline: g.pipeline.clone(),
            available: catalog.get(&g.pipeline).and_then(|e| e.current).is_some_and(|c| c.runnable),
            art: g.art.clone(),
            reserves: GameReserves { cpu_cores: g.cpu_cores, memory_mb: g.memory_mb },
        })
        .collect();
    warp::reply::json(&views)
}
