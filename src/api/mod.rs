//! The HTTP API, the reference client and the signaling WebSocket (warp).

pub mod auth;
pub mod client;
pub mod problem;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use warp::http::StatusCode;
use warp::{Filter, Reply};

use crate::config::Config;
use crate::session::Streams;
use crate::signaling::handler::{self, Frame, Limits};
use crate::signaling::protocol::encode;
use problem::Problem;

/// Everything the routes need.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub streams: Arc<Streams>,
    pub verifier: Arc<crate::auth::Verifier>,
    pub store: crate::store::Store,
    /// Turns true when the service shuts down; connections end their streams.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
    /// Held by every signaling connection: when all clones are gone, every
    /// connection has finished.
    pub connections: tokio::sync::mpsc::Sender<()>,
}

/// Hard cap the WebSocket layer enforces; the protocol's own (smaller) cap
/// answers `too_large` below it without closing the connection.
const WS_HARD_LIMIT: usize = 1 << 20;

pub fn routes(state: AppState) -> impl Filter<Extract = (impl Reply,), Error = Infallible> + Clone {
    let api = warp::path("api").and(warp::path("v1"));
    let health = api
        .and(warp::path("health"))
        .and(warp::path::end())
        .and(warp::get())
        .map(|| warp::reply::json(&serde_json::json!({"status": "ok"})));
    let pipelines = api
        .and(warp::path("pipelines"))
        .and(warp::path::end())
        .and(warp::get())
        .and(with(state.clone()))
        .map(|s: AppState| warp::reply::json(&pipeline_views(&s)));
    let pipeline = api
        .and(warp::path("pipelines"))
        .and(warp::path::param::<String>())
        .and(warp::path::end())
        .and(warp::get())
        .and(with(state.clone()))
        .and_then(|name: String, s: AppState| async move {
            pipeline_views(&s).into_iter().find(|p| p.name == name).map(|p| warp::reply::json(&p)).ok_or_else(|| {
                warp::reject::custom(Problem::new(
                    StatusCode::NOT_FOUND,
                    "no-such-pipeline",
                    format!("no pipeline named `{}`", name.chars().take(64).collect::<String>()),
                ))
            })
        });
    let login = api
        .and(warp::path("login"))
        .and(warp::path::end())
        .and(warp::post())
        .and(auth::authenticated(state.verifier.clone()))
        .and(with(state.clone()))
        .and_then(|id: crate::auth::Identity, s: AppState| async move {
            let user = s.store.upsert_user(&id.user_id, id.role).await.map_err(store_problem)?;
            tracing::info!(user = %id.user_id, role = %id.role, "signed in");
            Ok::<_, warp::Rejection>(warp::reply::json(&Me::new(id, Some(user))))
        });
    let me = api
        .and(warp::path("me"))
        .and(warp::path::end())
        .and(warp::get())
        .and(auth::authenticated(state.verifier.clone()))
        .and(with(state.clone()))
        .and_then(|id: crate::auth::Identity, s: AppState| async move {
            let user = s.store.user(&id.user_id).await.map_err(store_problem)?;
            Ok::<_, warp::Rejection>(warp::reply::json(&Me::new(id, user)))
        });
    let reload = api
        .and(warp::path!("pipelines" / "reload"))
        .and(warp::post())
        .and(auth::require(state.verifier.clone(), crate::auth::Role::Admin))
        .and(with(state.clone()))
        .and_then(|id: crate::auth::Identity, s: AppState| async move {
            tracing::info!(user = %id.user_id, "pipeline reload requested");
            let catalog = s.streams.catalog().clone();
            let reloaded = tokio::task::spawn_blocking(move || catalog.reload())
                .await
                .map_err(|e| format!("reload task failed: {e}"))
                .and_then(|r| r.map_err(|e| e.to_string()));
            match reloaded {
                Ok(()) => Ok(warp::reply::json(&pipeline_views(&s))),
                Err(detail) => Err(warp::reject::custom(Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "pipelines-unavailable",
                    detail,
                ))),
            }
        });
    let streams = api
        .and(warp::path("streams"))
        .and(warp::path::end())
        .and(warp::get())
        .and(with(state.clone()))
        .map(|s: AppState| warp::reply::json(&s.streams.live()));
    let signal = api.and(warp::path("signal")).and(warp::path::end()).and(warp::ws()).and(with(state)).map(
        |ws: warp::ws::Ws, s: AppState| {
            ws.max_message_size(WS_HARD_LIMIT)
                .max_frame_size(WS_HARD_LIMIT)
                .on_upgrade(move |socket| signal_connection(socket, s))
        },
    );

    health
        .or(reload)
        .or(pipelines)
        .or(pipeline)
        .or(streams)
        .or(login)
        .or(me)
        .or(signal)
        .or(client::routes())
        .recover(problem::recover)
        .with(warp::trace::request())
}

/// The caller: what the token says, and what we keep of them since sign-in.
#[derive(Debug, Serialize)]
pub struct Me {
    pub user_id: String,
    pub role: crate::auth::Role,
    pub issuer: String,
    pub session: Option<String>,
    pub token_expires_at: u64,
    /// Absent until the first `POST /api/v1/login`.
    pub profile: Option<Profile>,
}

#[derive(Debug, Serialize)]
pub struct Profile {
    pub created_at: String,
    pub last_login_at: String,
}

impl Me {
    fn new(id: crate::auth::Identity, user: Option<crate::store::entity::user::Model>) -> Self {
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

/// Storage failures are ours, not the caller's: 503, never a 500 or a panic.
fn store_problem(e: crate::store::StoreError) -> warp::Rejection {
    tracing::error!(error = %e, "state database");
    warp::reject::custom(
        Problem::new(StatusCode::SERVICE_UNAVAILABLE, "state-unavailable", "the state database is unavailable; retry")
            .retry_after(5),
    )
}

fn with(s: AppState) -> impl Filter<Extract = (AppState,), Error = Infallible> + Clone {
    warp::any().map(move || s.clone())
}

/// A pipeline file as the API shows it: what serves, and why not the file on disk.
#[derive(Debug, Serialize)]
pub struct PipelineView {
    pub name: String,
    pub path: String,
    pub description: Option<String>,
    pub runnable: bool,
    pub encoder: Option<String>,
    pub encoder_choice: Option<String>,
    pub notes: Vec<String>,
    pub loaded_at_unix: Option<u64>,
    /// Set when the file on disk is invalid; the last good version still serves.
    pub error: Option<String>,
}

fn pipeline_views(s: &AppState) -> Vec<PipelineView> {
    s.streams
        .catalog()
        .list()
        .into_iter()
        .map(|(name, e)| PipelineView {
            name,
            path: e.path.display().to_string(),
            description: e.current.as_ref().map(|c| c.spec.description.clone()),
            runnable: e.current.as_ref().is_some_and(|c| c.runnable),
            encoder: e.current.as_ref().and_then(|c| c.selection.chosen_element().map(str::to_string)),
            encoder_choice: e.current.as_ref().map(|c| c.selection.explain()),
            notes: e.current.as_ref().map(|c| c.notes.clone()).unwrap_or_default(),
            loaded_at_unix: e
                .current
                .as_ref()
                .and_then(|c| c.loaded_at.duration_since(UNIX_EPOCH).ok())
                .map(|d| d.as_secs()),
            error: e.error,
        })
        .collect()
}

async fn signal_connection(socket: warp::ws::WebSocket, s: AppState) {
    let (mut sink, stream) = socket.split();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let writer = tokio::spawn(async move {
        while let Some(msg) = rx.recv().await {
            if sink.send(warp::ws::Message::text(encode(&msg))).await.is_err() {
                break;
            }
        }
        let _ = sink.close().await;
    });
    let frames = stream
        .take_while(|m| futures_util::future::ready(m.as_ref().is_ok_and(|m| !m.is_close())))
        .filter_map(|m| async move {
            let m = m.ok()?;
            if m.is_text() {
                Some(Frame::Text(m.to_str().unwrap_or_default().to_string()))
            } else if m.is_binary() {
                Some(Frame::Binary(m.as_bytes().len()))
            } else {
                None
            }
        })
        .boxed();
    let limits = Limits {
        max_message_bytes: s.config.signaling.max_message_bytes,
        idle_timeout: s.config.idle_timeout(),
        answer_timeout: Duration::from_secs(s.config.signaling.answer_timeout_secs),
    };
    let _held = s.connections.clone();
    let mut shutdown = s.shutdown.clone();
    let stop = async move {
        let _ = shutdown.wait_for(|down| *down).await;
    };
    handler::run_until(s.streams.clone(), frames, tx, limits, stop).await;
    let _ = writer.await;
}
