//! `/api/v1/sessions`, `/api/v1/games` and `/api/v1/node`: the game-session
//! lifecycle over REST. Every call needs a currently valid token.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::{Filter, Rejection, Reply};

use super::forward::{forward, Forwarded};
use super::problem::Problem;
use super::{auth, store_problem, with, AppState};
use crate::auth::{Identity, Role};
use crate::session::manager::{Caller, CreateRequest, SessionError};

/// Largest JSON body a session call accepts.
const MAX_BODY: u64 = 16 * 1024;

pub fn problem(e: SessionError) -> Rejection {
    let detail = e.to_string();
    let p = match e {
        SessionError::NotFound(_) => Problem::new(StatusCode::NOT_FOUND, "no-such-session", detail),
        SessionError::Forbidden(_) => Problem::new(StatusCode::FORBIDDEN, "forbidden", detail),
        SessionError::BadRequest(_) => Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-request", detail),
        SessionError::NoRoom(_) | SessionError::Nowhere(_) => {
            Problem::new(StatusCode::SERVICE_UNAVAILABLE, "no-room", detail).retry_after(10)
        }
        SessionError::Transition(_) => Problem::new(StatusCode::CONFLICT, "illegal-transition", detail),
        SessionError::Conflict(_) => Problem::new(StatusCode::CONFLICT, "conflict", detail),
        SessionError::Unavailable(_) => {
            Problem::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", detail).retry_after(5)
        }
        SessionError::Store(s) => return store_problem(s),
    };
    warp::reject::custom(p)
}

/// A JSON object as `T`. serde would also read a struct from an array by
/// position; requests are objects only.
fn json_body<T: serde::de::DeserializeOwned + Send>() -> impl Filter<Extract = (T,), Error = Rejection> + Clone {
    warp::body::content_length_limit(MAX_BODY).and(warp::body::json()).and_then(|v: serde_json::Value| async move {
        let bad = |detail: String| warp::reject::custom(Problem::new(StatusCode::BAD_REQUEST, "bad-body", detail));
        if !v.is_object() {
            return Err(bad("the body must be a JSON object".into()));
        }
        serde_json::from_value::<T>(v).map_err(|e| bad(format!("request body: {e}")))
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShareRequest {
    pub viewers: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct GameView {
    pub id: String,
    pub title: String,
    pub pipeline: String,
    /// Whether this node can run its pipeline now.
    pub available: bool,
}

#[derive(Debug, Serialize)]
pub struct NodeView {
    pub id: String,
    pub sessions: usize,
    pub budget: crate::session::budget::BudgetView,
    pub cache: CacheView,
    /// How games get virtual gamepads here (`docs/INPUT.md`).
    pub gamepads: crate::input::GamepadPath,
    /// How a session's processes are kept together and within its reservation.
    pub containment: crate::session::contain::ContainmentView,
}

#[derive(Debug, Serialize)]
pub struct CacheView {
    pub backend: &'static str,
    /// Nodes with a live heartbeat; `None` while the cache cannot be read.
    pub live_nodes: Option<Vec<String>>,
}

/// What a request says of where it came from: the caller's `Authorization`
/// (passed on when the call belongs to another node) and, for a call that
/// another node forwarded, that node.
#[derive(Debug, Clone)]
pub struct Peer {
    authorization: Option<String>,
    forwarded_by: Option<String>,
}

fn peer_headers() -> impl Filter<Extract = (Peer,), Error = Rejection> + Clone {
    warp::header::optional::<String>("authorization")
        .and(warp::header::optional::<String>(super::forward::FORWARDED_BY))
        .map(|authorization, forwarded_by| Peer { authorization, forwarded_by })
}

/// `POST /api/v1/sessions`: placed on the least loaded node with room; this
/// node creates it or asks the chosen one to, and the next in line when
/// that one filled up meanwhile or does not answer.
async fn create(s: &AppState, caller: &Caller, peer: Peer, req: CreateRequest) -> Result<Box<dyn Reply>, Rejection> {
    let created =
        |view| Box::new(warp::reply::with_status(warp::reply::json(&view), StatusCode::CREATED)) as Box<dyn Reply>;
    let m = &s.sessions;
    let (Some(auth), None) = (&peer.authorization, &peer.forwarded_by) else {
        return Box::pin(m.create(caller, req)).await.map(created).map_err(problem);
    };
    let mut last = None;
    for node in m.place(&req).await.map_err(problem)? {
        if node.node == m.node() {
            // Boxed: a session start is a deep future, and this one holds two.
            match Box::pin(m.create(caller, req.clone())).await {
                Ok(view) => return Ok(created(view)),
                Err(e @ SessionError::NoRoom(_)) => last = Some(problem(e)),
                Err(e) => return Err(problem(e)),
            }
            continue;
        }
        let body = serde_json::to_value(&req).ok();
        match Box::pin(forward(reqwest::Method::POST, &node.address, "/api/v1/sessions", auth, m.node(), body)).await {
            Ok(f) if f.is_no_room() => last = Some(warp::reject::custom(f.into_problem())),
            Ok(f) => {
                if f.status.is_success() {
                    m.placements.forwarded.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tracing::info!(node = %node.node, user = %caller.user_id, game = %req.game, "session placed on another node");
                }
                return Ok(Box::new(f));
            }
            Err(p) => last = Some(warp::reject::custom(p)),
        }
    }
    Err(last.unwrap_or_else(|| problem(SessionError::Unavailable("no node could be asked".into()))))
}

/// Forwards a call on a session that another (live) node runs to that node.
async fn elsewhere(
    s: &AppState,
    caller: &Caller,
    sid: &str,
    peer: &Peer,
    method: reqwest::Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> Result<Option<Forwarded>, Rejection> {
    let (Some(auth), None) = (&peer.authorization, &peer.forwarded_by) else {
        return Ok(None);
    };
    match s.sessions.owner_elsewhere(caller, sid).await.map_err(problem)? {
        Some(base) => {
            Ok(Some(forward(method, &base, path, auth, s.sessions.node(), body).await.map_err(warp::reject::custom)?))
        }
        None => Ok(None),
    }
}

/// Boxed: the combined filter is deep, and its future would otherwise sit on
/// the stack of whichever task polls it.
pub fn routes(s: &AppState) -> BoxedFilter<(Box<dyn Reply>,)> {
    let api = warp::path("api").and(warp::path("v1"));
    let authed = auth::authenticated(s.verifier.clone());
    let create = api
        .and(warp::path!("sessions"))
        .and(warp::post())
        .and(authed.clone())
        .and(peer_headers())
        .and(json_body::<CreateRequest>())
        .and(with(s.clone()))
        .and_then(|id: Identity, peer: Peer, req: CreateRequest, s: AppState| async move {
            Box::pin(create(&s, &Caller::from(&id), peer, req)).await
        });
    let list = api.and(warp::path!("sessions")).and(warp::get()).and(authed.clone()).and(with(s.clone())).and_then(
        |id: Identity, s: AppState| async move {
            let views = s.sessions.list(&Caller::from(&id)).await.map_err(problem)?;
            Ok::<_, Rejection>(warp::reply::json(&views))
        },
    );
    let get =
        api.and(warp::path!("sessions" / String)).and(warp::get()).and(authed.clone()).and(with(s.clone())).and_then(
            |sid: String, id: Identity, s: AppState| async move {
                let view = s.sessions.view(&Caller::from(&id), &sid).await.map_err(problem)?;
                Ok::<_, Rejection>(warp::reply::json(&view))
            },
        );
    let action = api
        .and(warp::path!("sessions" / String / String))
        .and(warp::post())
        .and(authed.clone())
        .and(with(s.clone()))
        .and(peer_headers())
        .and_then(|sid: String, action: String, id: Identity, s: AppState, peer: Peer| async move {
            let caller = Caller::from(&id);
            let path = format!("/api/v1/sessions/{sid}/{action}");
            if let Some(f) = Box::pin(elsewhere(&s, &caller, &sid, &peer, reqwest::Method::POST, &path, None)).await? {
                return Ok::<_, Rejection>(Box::new(f) as Box<dyn Reply>);
            }
            let m = &s.sessions;
            let view = match action.as_str() {
                "pause" => m.pause(&caller, &sid).await,
                "resume" => m.resume(&caller, &sid).await,
                "end" => m.end(&caller, &sid).await,
                _ => {
                    return Err(warp::reject::custom(Problem::new(
                        StatusCode::NOT_FOUND,
                        "not-found",
                        "a session's actions are pause, resume and end",
                    )))
                }
            }
            .map_err(problem)?;
            tracing::info!(session = %sid, user = %caller.user_id, action, "session action");
            Ok::<_, Rejection>(Box::new(warp::reply::json(&view)) as Box<dyn Reply>)
        });
    let delete = api
        .and(warp::path!("sessions" / String))
        .and(warp::delete())
        .and(authed.clone())
        .and(with(s.clone()))
        .and(peer_headers())
        .and_then(|sid: String, id: Identity, s: AppState, peer: Peer| async move {
            let caller = Caller::from(&id);
            let path = format!("/api/v1/sessions/{sid}");
            if let Some(f) = Box::pin(elsewhere(&s, &caller, &sid, &peer, reqwest::Method::DELETE, &path, None)).await?
            {
                return Ok::<_, Rejection>(Box::new(f) as Box<dyn Reply>);
            }
            let view = s.sessions.end(&caller, &sid).await.map_err(problem)?;
            Ok::<_, Rejection>(Box::new(warp::reply::json(&view)) as Box<dyn Reply>)
        });
    let share = api
        .and(warp::path!("sessions" / String / "viewers"))
        .and(warp::put())
        .and(authed.clone())
        .and(json_body::<ShareRequest>())
        .and(with(s.clone()))
        .and(peer_headers())
        .and_then(|sid: String, id: Identity, req: ShareRequest, s: AppState, peer: Peer| async move {
            let caller = Caller::from(&id);
            let path = format!("/api/v1/sessions/{sid}/viewers");
            let body = Some(serde_json::json!({ "viewers": req.viewers }));
            if let Some(f) = Box::pin(elsewhere(&s, &caller, &sid, &peer, reqwest::Method::PUT, &path, body)).await? {
                return Ok::<_, Rejection>(Box::new(f) as Box<dyn Reply>);
            }
            let view = s.sessions.share(&caller, &sid, req.viewers).await.map_err(problem)?;
            Ok::<_, Rejection>(Box::new(warp::reply::json(&view)) as Box<dyn Reply>)
        });
    let history = api
        .and(warp::path!("sessions" / String / "events"))
        .and(warp::get())
        .and(authed.clone())
        .and(with(s.clone()))
        .and_then(|sid: String, id: Identity, s: AppState| async move {
            s.sessions.view(&Caller::from(&id), &sid).await.map_err(problem)?;
            let events = s.store.events(&sid).await.map_err(store_problem)?;
            let out: Vec<serde_json::Value> = events
                .iter()
                .map(|e| {
                    serde_json::json!({
                        "seq": e.id, "version": e.seq, "from": e.from_state, "to": e.to_state,
                        "event": serde_json::from_str::<serde_json::Value>(&e.event).unwrap_or_default(),
                        "at": e.at.to_rfc3339(),
                    })
                })
                .collect();
            Ok::<_, Rejection>(warp::reply::json(&out))
        });
    let games = api.and(warp::path!("games")).and(warp::get()).and(authed.clone()).and(with(s.clone())).map(
        |_: Identity, s: AppState| {
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
                })
                .collect();
            warp::reply::json(&views)
        },
    );
    let node = api
        .and(warp::path!("node"))
        .and(warp::get())
        .and(auth::require(s.verifier.clone(), Role::Admin))
        .and(with(s.clone()))
        .then(|_: Identity, s: AppState| async move {
            let m: &Arc<crate::session::manager::Manager> = &s.sessions;
            let cache = CacheView { backend: s.cache.backend(), live_nodes: m.live_nodes().await.ok() };
            let view = NodeView {
                id: m.node().to_string(),
                sessions: m.running(),
                budget: m.budget().view(),
                cache,
                gamepads: crate::input::GamepadPath::on_this_machine(),
                containment: m.containment().view(),
            };
            warp::reply::json(&view)
        });
    let nodes = api
        .and(warp::path!("nodes"))
        .and(warp::get())
        .and(auth::require(s.verifier.clone(), Role::Admin))
        .and(with(s.clone()))
        .and_then(|_: Identity, s: AppState| async move {
            let nodes = s.sessions.nodes().await.map_err(|e| {
                warp::reject::custom(
                    Problem::new(StatusCode::SERVICE_UNAVAILABLE, "cache-unavailable", format!("the cache: {e}"))
                        .retry_after(5),
                )
            })?;
            Ok::<_, warp::Rejection>(warp::reply::json(&nodes))
        });
    create
        .or(nodes)
        .or(list)
        .or(share)
        .or(history)
        .or(get)
        .or(action)
        .or(delete)
        .or(games)
        .or(node)
        .map(|r| Box::new(r) as Box<dyn Reply>)
        .boxed()
}
