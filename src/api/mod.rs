//! The HTTP API, the reference client and the signaling WebSocket (warp).

pub mod auth;
pub mod client;
pub mod forward;
pub mod metrics;
pub mod problem;
pub mod sessions;
pub mod ws;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use warp::Rejection;

use serde::Serialize;
use warp::http::StatusCode;
use warp::{Filter, Reply};

use crate::config::Config;
use crate::session::manager::Manager;
use crate::session::Streams;
use problem::Problem;

/// Everything the routes need.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub streams: Arc<Streams>,
    pub verifier: Arc<crate::auth::Verifier>,
    pub store: crate::store::Store,
    pub sessions: Arc<Manager>,
    pub logins: Arc<ws::Logins>,
    pub cache: crate::store::cache::Cache,
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
    // Hand-written next to the routes; a test keeps the two in step.
    let openapi = api
        .and(warp::path!("openapi.json"))
        .and(warp::get())
        .map(|| warp::reply::with_header(include_str!("openapi.json"), "content-type", "application/json"));
    // Signed-in users see what runs here; admins also see files and errors.
    let pipelines = api
        .and(warp::path("pipelines"))
        .and(warp::path::end())
        .and(warp::get())
        .and(auth::authenticated(state.verifier.clone()))
        .and(with(state.clone()))
        .map(|id: crate::auth::Identity, s: AppState| warp::reply::json(&pipeline_views(&s, id.role)));
    let pipeline = api
        .and(warp::path("pipelines"))
        .and(warp::path::param::<String>())
        .and(warp::path::end())
        .and(warp::get())
        .and(auth::authenticated(state.verifier.clone()))
        .and(with(state.clone()))
        .and_then(|name: String, id: crate::auth::Identity, s: AppState| async move {
            let views = pipeline_views(&s, id.role);
            views.into_iter().find(|p| p.name == name).map(|p| warp::reply::json(&p)).ok_or_else(|| {
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
            if let Some(sid) = &id.session {
                s.store.login(sid, &id.user_id).await.map_err(|e| match e {
                    crate::store::StoreError::Revoked => warp::reject::custom(Problem::new(
                        StatusCode::UNAUTHORIZED,
                        "unauthorized",
                        "this sign-in was revoked; sign in again",
                    )),
                    e => store_problem(e),
                })?;
            }
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
                Ok(()) => Ok(warp::reply::json(&pipeline_views(&s, id.role))),
                Err(detail) => Err(warp::reject::custom(Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "pipelines-unavailable",
                    detail,
                ))),
            }
        });
    // Every session's streams and their parameters: for admins.
    let streams = api
        .and(warp::path("streams"))
        .and(warp::path::end())
        .and(warp::get())
        .and(auth::require(state.verifier.clone(), crate::auth::Role::Admin))
        .and(with(state.clone()))
        .map(|_: crate::auth::Identity, s: AppState| warp::reply::json(&s.streams.live()));
    let signal = api.and(warp::path("signal")).and(warp::path::end()).and(warp::ws()).and(with(state.clone())).map(
        |ws: warp::ws::Ws, s: AppState| {
            ws.max_message_size(WS_HARD_LIMIT)
                .max_frame_size(WS_HARD_LIMIT)
                .on_upgrade(move |socket| ws::signal_connection(socket, s))
        },
    );
    let events = api.and(warp::path("events")).and(warp::path::end()).and(warp::ws()).and(with(state.clone())).map(
        |ws: warp::ws::Ws, s: AppState| {
            ws.max_message_size(64 * 1024).on_upgrade(move |socket| ws::events_connection(socket, s))
        },
    );
    let logout = api
        .and(warp::path!("logout"))
        .and(warp::post())
        .and(auth::authenticated(state.verifier.clone()))
        .and(with(state.clone()))
        .and_then(|id: crate::auth::Identity, s: AppState| async move {
            let Some(sid) = id.session else {
                return Err(warp::reject::custom(Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "no-sign-in",
                    "the token names no sign-in (`sid`) to end",
                )));
            };
            s.store.revoke_login(&sid).await.map_err(store_problem)?;
            s.logins.revoke_everywhere(&s.cache, &sid).await;
            tracing::info!(user = %id.user_id, "signed out");
            Ok::<_, Rejection>(warp::reply::with_status(warp::reply(), StatusCode::NO_CONTENT))
        });
    let dev_token = api
        .and(warp::path!("dev" / "token"))
        .and(warp::post())
        .and(warp::body::content_length_limit(4096))
        .and(warp::body::json())
        .and(warp::addr::remote())
        .and(with(state.clone()))
        .and_then(|req: DevTokenRequest, peer: Option<std::net::SocketAddr>, s: AppState| async move {
            dev_token(&s, req, peer)
        });
    let ready =
        api.and(warp::path!("ready")).and(warp::get()).and(with(state.clone())).and_then(|s: AppState| async move {
            let db = s.store.ping().await.is_ok();
            let cache = s.cache.is_healthy().await;
            let draining = s.sessions.is_draining();
            let ready = db && cache && !*s.shutdown.borrow() && !draining;
            let body = serde_json::json!({
                "status": if ready { "ready" } else { "unavailable" },
                "database": db, "cache": cache, "cache_backend": s.cache.backend(),
                "shutting_down": *s.shutdown.borrow(), "draining": draining,
            });
            let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
            Ok::<_, Rejection>(warp::reply::with_status(warp::reply::json(&body), status))
        });

    // Prometheus scrapes the conventional path, outside the versioned API.
    let metrics = warp::path!("metrics").and(warp::get()).and(with(state.clone())).map(|s: AppState| {
        warp::reply::with_header(metrics::render(&s.sessions), "content-type", "text/plain; version=0.0.4")
    });

    // Boxed in groups: one deep filter's future would overflow a test thread's stack.
    let service = health
        .or(metrics)
        .or(openapi)
        .or(ready)
        .or(reload)
        .or(pipelines)
        .or(pipeline)
        .or(streams)
        .map(|r| Box::new(r) as Box<dyn Reply>)
        .boxed();
    let account = login.or(logout).or(me).or(dev_token).map(|r| Box::new(r) as Box<dyn Reply>).boxed();
    service
        .or(account)
        .or(sessions::routes(&state))
        .or(signal)
        .or(events)
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
pub(crate) fn store_problem(e: crate::store::StoreError) -> warp::Rejection {
    tracing::error!(error = %e, "state database");
    warp::reject::custom(
        Problem::new(StatusCode::SERVICE_UNAVAILABLE, "state-unavailable", "the state database is unavailable; retry")
            .retry_after(5),
    )
}

pub(crate) fn with(s: AppState) -> impl Filter<Extract = (AppState,), Error = Infallible> + Clone {
    warp::any().map(move || s.clone())
}

/// A pipeline file as the API shows it: what serves, and why not the file on disk.
#[derive(Debug, Serialize)]
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
    pub error: Option<Option<String>>,
}

fn pipeline_views(s: &AppState, role: crate::auth::Role) -> Vec<PipelineView> {
    let admin = role == crate::auth::Role::Admin;
    let catalog = s.streams.catalog();
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

/// `POST /api/v1/dev/token`: the reference client's development login.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevTokenRequest {
    pub user: String,
    #[serde(default)]
    pub role: Option<crate::auth::Role>,
}

const DEV_TOKEN_TTL: Duration = Duration::from_secs(120);

fn dev_token(
    s: &AppState,
    req: DevTokenRequest,
    peer: Option<std::net::SocketAddr>,
) -> Result<warp::reply::Json, Rejection> {
    let Some(issuer) = s.verifier.dev_issuer() else {
        return Err(warp::reject::custom(Problem::new(
            StatusCode::NOT_FOUND,
            "dev-issuer-off",
            "the development issuer is off: a real issuer is configured",
        )));
    };
    // Whoever gets a token here picks their own name and role: loopback only,
    // unless the operator opened it to the network on purpose.
    if !s.config.auth.insecure_dev_issuer_on_network && !peer.is_some_and(|p| p.ip().is_loopback()) {
        let from = peer.map_or_else(|| "an unknown address".to_string(), |p| p.ip().to_string());
        return Err(warp::reject::custom(Problem::new(
            StatusCode::FORBIDDEN,
            "dev-issuer-loopback-only",
            format!(
                "the development issuer mints tokens for loopback clients only, not for {from}; configure a real \
                 issuer ([auth] issuers and jwks_url), or set auth.insecure_dev_issuer_on_network = true on a lab network"
            ),
        )));
    }
    if req.user.is_empty() || req.user.len() > 64 || req.user.chars().any(|c| c.is_control()) {
        return Err(warp::reject::custom(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-request",
            "`user` must be 1 to 64 printable characters",
        )));
    }
    let role = req.role.unwrap_or(crate::auth::Role::Player);
    let token = issuer.mint(&req.user, role, DEV_TOKEN_TTL).map_err(|e| {
        warp::reject::custom(Problem::new(StatusCode::SERVICE_UNAVAILABLE, "dev-issuer", e.to_string()))
    })?;
    Ok(warp::reply::json(&serde_json::json!({"token": token, "expires_in": DEV_TOKEN_TTL.as_secs()})))
}
