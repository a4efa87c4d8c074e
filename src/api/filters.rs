//! The routes: one function per route, named for what it serves and
//! documented with its method and path. A filter matches the path and the
//! method, then takes what its handler needs (the caller, the body, the
//! state) in that order, so a wrong path is a 404 before a missing token is
//! a 401; the handler (`super::handlers`) does the rest.

use std::convert::Infallible;

use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::{Filter, Rejection, Reply};

use super::handlers::sessions::Peer;
use super::handlers::{account, client_config, drain, node, service, sessions};
use super::problem::{self, Problem};
use super::{auth, client, forward, ws, AppState};
use crate::auth::Role;

/// Largest JSON body a session call accepts.
const MAX_BODY: u64 = 16 * 1024;

/// Largest body of a development token request.
const MAX_DEV_TOKEN_BODY: u64 = 4096;

/// Every route, answering every rejection as problem+json, each request in a
/// span that carries its method, path and session.
pub fn routes(s: AppState) -> impl Filter<Extract = (impl Reply,), Error = Infallible> + Clone {
    // Boxed in groups: one deep filter's future would overflow a test thread's stack.
    let service = health()
        .or(metrics(&s))
        .or(openapi())
        .or(ready(&s))
        .or(reload(&s))
        .or(pipelines(&s))
        .or(pipeline(&s))
        .or(streams(&s))
        .map(|r| Box::new(r) as Box<dyn Reply>)
        .boxed();
    let account = login(&s)
        .or(logout(&s))
        .or(me(&s))
        .or(dev_token(&s))
        .or(app_config(&s))
        .map(|r| Box::new(r) as Box<dyn Reply>)
        .boxed();
    service
        .or(account)
        .or(session_routes(&s))
        .or(signal(&s))
        .or(events(&s))
        .or(client::routes())
        .recover(problem::recover)
        .with(warp::trace(request_span))
}

/// Boxed: the combined filter is deep, and its future would otherwise sit on
/// the stack of whichever task polls it.
fn session_routes(s: &AppState) -> BoxedFilter<(Box<dyn Reply>,)> {
    create_session(s)
        .or(nodes(s))
        .or(list_sessions(s))
        .or(share_session(s))
        .or(session_events(s))
        .or(get_session(s))
        .or(session_action(s))
        .or(delete_session(s))
        .or(games(s))
        .or(node(s))
        .or(drain_node(s))
        .or(undrain_node(s))
        .map(|r| Box::new(r) as Box<dyn Reply>)
        .boxed()
}

/// The span of one request: its method and path, and the session it names.
fn request_span(info: warp::trace::Info<'_>) -> tracing::Span {
    let span = tracing::info_span!(
        "request",
        method = %info.method(),
        path = %info.path(),
        session_id = tracing::field::Empty,
    );
    if let Some(id) = session_in(info.path()) {
        span.record("session_id", id);
    }
    tracing::debug!(parent: &span, "received request");
    span
}

/// The session a path names: `/api/v1/sessions/{id}…`.
fn session_in(path: &str) -> Option<&str> {
    let id = path.strip_prefix("/api/v1/sessions/")?.split('/').next()?;
    // A hostile path does not get to write a long line into every log line.
    (!id.is_empty() && id.len() <= 64).then_some(id)
}

/// `/api/v1`, where every route but the client's files and the metrics lives.
fn api() -> impl Filter<Extract = (), Error = Rejection> + Clone {
    warp::path("api").and(warp::path("v1"))
}

fn with(s: &AppState) -> impl Filter<Extract = (AppState,), Error = Infallible> + Clone {
    let s = s.clone();
    warp::any().map(move || s.clone())
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

/// Where a request came from: its `Authorization` and the node that forwarded it.
fn peer_headers() -> impl Filter<Extract = (Peer,), Error = Rejection> + Clone {
    warp::header::optional::<String>("authorization")
        .and(warp::header::optional::<String>(forward::FORWARDED_BY))
        .map(|authorization, forwarded_by| Peer { authorization, forwarded_by })
}

/// GET /api/v1/health
pub fn health() -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    api().and(warp::path!("health")).and(warp::get()).map(service::health)
}

/// GET /api/v1/ready
pub fn ready(s: &AppState) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    api().and(warp::path!("ready")).and(warp::get()).and(with(s)).and_then(service::ready)
}

/// GET /api/v1/openapi.json
pub fn openapi() -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    api().and(warp::path!("openapi.json")).and(warp::get()).map(|| service::openapi(super::openapi::json()))
}

/// GET /metrics (Prometheus scrapes the conventional path, outside the versioned API)
pub fn metrics(s: &AppState) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    warp::path!("metrics").and(warp::get()).and(with(s)).map(service::metrics)
}

/// GET /api/v1/pipelines
pub fn pipelines(s: &AppState) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    api()
        .and(warp::path!("pipelines"))
        .and(warp::get())
        .and(auth::authenticated(s.verifier.clone()))
        .and(with(s))
        .map(service::pipelines)
}

/// GET /api/v1/pipelines/{name}
pub fn pipeline(s: &AppState) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    api()
        .and(warp::path!("pipelines" / String))
        .and(warp::get())
        .and(auth::authenticated(s.verifier.clone()))
        .and(with(s))
        .and_then(service::pipeline)
}

/// POST /api/v1/pipelines/reload
pub fn reload(s: &AppState) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    api()
        .and(warp::path!("pipelines" / "reload"))
        .and(warp::post())
        .and(auth::require(s.verifier.clone(), Role::Admin))
        .and(with(s))
        .and_then(service::reload)
}

/// GET /api/v1/streams
pub fn streams(s: &AppState) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    api()
        .and(warp::path!("streams"))
        .and(warp::get())
        .and(auth::require(s.verifier.clone(), Role::Admin))
        .and(with(s))
        .map(service::streams)
}

/// POST /api/v1/login
pub fn login(s: &AppState) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    api()
        .and(warp::path!("login"))
        .and(warp::post())
        .and(auth::authenticated(s.verifier.clone()))
        .and(with(s))
        .and_then(account::login)
}

/// GET /api/v1/me
pub fn me(s: &AppState) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    api()
        .and(warp::path!("me"))
        .and(warp::get())
        .and(auth::authenticated(s.verifier.clone()))
        .and(with(s))
        .and_then(account::me)
}

/// POST /api/v1/logout
pub fn logout(s: &AppState) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    api()
        .and(warp::path!("logout"))
        .and(warp::post())
        .and(auth::authenticated(s.verifier.clone()))
        .and(with(s))
        .and_then(account::logout)
}

/// POST /api/v1/dev/token
pub fn dev_token(s: &AppState) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    api()
        .and(warp::path!("dev" / "token"))
        .and(warp::post())
        .and(warp::body::content_length_limit(MAX_DEV_TOKEN_BODY))
        .and(warp::body::json())
        .and(warp::addr::remote())
        .and(with(s))
        .and_then(|req, peer, s| async move { account::dev_token(req, peer, s) })
}

/// GET /api/v1/client-config
pub fn app_config(s: &AppState) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    api().and(warp::path!("client-config")).and(warp::get()).and(with(s)).map(client_config::client_config)
}

/// GET /api/v1/signal (WebSocket)
pub fn signal(s: &AppState) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    api().and(warp::path!("signal")).and(warp::ws()).and(with(s)).map(ws::signal)
}

/// GET /api/v1/events (WebSocket)
pub fn events(s: &AppState) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    api().and(warp::path!("events")).and(warp::ws()).and(with(s)).map(ws::events)
}

/// POST /api/v1/sessions
pub fn create_session(s: &AppState) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    api()
        .and(warp::path!("sessions"))
        .and(warp::post())
        .and(auth::authenticated(s.verifier.clone()))
        .and(peer_headers())
        .and(json_body())
        .and(with(s))
        .and_then(sessions::create)
}

/// GET /api/v1/sessions
pub fn list_sessions(s: &AppState) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    api()
        .and(warp::path!("sessions"))
        .and(warp::get())
        .and(auth::authenticated(s.verifier.clone()))
        .and(with(s))
        .and_then(sessions::list)
}

/// GET /api/v1/sessions/{id}
pub fn get_session(s: &AppState) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    api()
        .and(warp::path!("sessions" / String))
        .and(warp::get())
        .and(auth::authenticated(s.verifier.clone()))
        .and(with(s))
        .and_then(sessions::get)
}

/// POST /api/v1/sessions/{id}/{action}: `pause`, `resume` or `end`
pub fn session_action(s: &AppState) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    api()
        .and(warp::path!("sessions" / String / String))
        .and(warp::post())
        .and(auth::authenticated(s.verifier.clone()))
        .and(with(s))
        .and(peer_headers())
        .and_then(sessions::action)
}

/// DELETE /api/v1/sessions/{id}
pub fn delete_session(s: &AppState) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    api()
        .and(warp::path!("sessions" / String))
        .and(warp::delete())
        .and(auth::authenticated(s.verifier.clone()))
        .and(with(s))
        .and(peer_headers())
        .and_then(sessions::delete)
}

/// PUT /api/v1/sessions/{id}/viewers
pub fn share_session(s: &AppState) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    api()
        .and(warp::path!("sessions" / String / "viewers"))
        .and(warp::put())
        .and(auth::authenticated(s.verifier.clone()))
        .and(json_body())
        .and(with(s))
        .and(peer_headers())
        .and_then(sessions::share)
}

/// GET /api/v1/sessions/{id}/events
pub fn session_events(s: &AppState) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    api()
        .and(warp::path!("sessions" / String / "events"))
        .and(warp::get())
        .and(auth::authenticated(s.verifier.clone()))
        .and(with(s))
        .and_then(sessions::history)
}

/// GET /api/v1/games
pub fn games(s: &AppState) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    api()
        .and(warp::path!("games"))
        .and(warp::get())
        .and(auth::authenticated(s.verifier.clone()))
        .and(with(s))
        .map(sessions::games)
}

/// GET /api/v1/node
pub fn node(s: &AppState) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    api()
        .and(warp::path!("node"))
        .and(warp::get())
        .and(auth::require(s.verifier.clone(), Role::Admin))
        .and(with(s))
        .then(node::node)
}

/// GET /api/v1/nodes
pub fn nodes(s: &AppState) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    api()
        .and(warp::path!("nodes"))
        .and(warp::get())
        .and(auth::require(s.verifier.clone(), Role::Admin))
        .and(with(s))
        .and_then(node::nodes)
}

/// POST /api/v1/nodes/{id}/drain
pub fn drain_node(s: &AppState) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    api()
        .and(warp::path!("nodes" / String / "drain"))
        .and(warp::post())
        .and(auth::require(s.verifier.clone(), Role::Admin))
        .and(with(s))
        .and(peer_headers())
        .and_then(drain::drain)
}

/// DELETE /api/v1/nodes/{id}/drain
pub fn undrain_node(s: &AppState) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    api()
        .and(warp::path!("nodes" / String / "drain"))
        .and(warp::delete())
        .and(auth::require(s.verifier.clone(), Role::Admin))
        .and(with(s))
        .and(peer_headers())
        .and_then(drain::undrain)
}

#[cfg(test)]
mod tests {
    use super::session_in;

    #[test]
    fn a_request_span_names_the_session_of_its_path() {
        assert_eq!(session_in("/api/v1/sessions/s-1"), Some("s-1"));
        assert_eq!(session_in("/api/v1/sessions/s-1/pause"), Some("s-1"));
        assert_eq!(session_in("/api/v1/sessions"), None);
        assert_eq!(session_in("/api/v1/sessions/"), None);
        assert_eq!(session_in("/api/v1/games"), None);
        assert_eq!(session_in(&format!("/api/v1/sessions/{}", "x".repeat(65))), None);
    }
}
