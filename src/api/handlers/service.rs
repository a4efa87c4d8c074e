//! What this node serves: health, readiness, its description, pipelines and streams.

use warp::http::StatusCode;
use warp::{Rejection, Reply};

use crate::api::models::{Health, PipelineView, Ready};
use crate::api::problem::{reject, Problem};
use crate::api::AppState;
use crate::auth::Identity;

#[utoipa::path(get, path = "/api/v1/health", tag = "service", summary = "liveness",
    responses((status = 200, description = "the process serves", body = Health)))]
pub fn health() -> impl Reply {
    warp::reply::json(&Health { status: "ok" })
}

#[utoipa::path(get, path = "/api/v1/ready", tag = "service",
    summary = "readiness: database and cache reachable, not shutting down",
    responses(
        (status = 200, description = "ready", body = Ready),
        (status = 503, description = "not ready, and why", body = Ready),
    ))]
pub async fn ready(s: AppState) -> Result<impl Reply, Rejection> {
    let database = s.store.ping().await.is_ok();
    let cache = s.cache.is_healthy().await;
    let draining = s.sessions.is_draining();
    let shutting_down = *s.shutdown.borrow();
    let ready = database && cache && !shutting_down && !draining;
    let body = Ready {
        status: if ready { "ready" } else { "unavailable" },
        database,
        cache,
        cache_backend: s.cache.backend().as_str(),
        shutting_down,
        draining,
    };
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    Ok(warp::reply::with_status(warp::reply::json(&body), status))
}

#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "service", summary = "this document",
    responses((status = 200, description = "OpenAPI 3.1", content_type = "application/json")))]
/// The document comes from the filter: the description names this handler,
/// so the handler cannot name the description back.
pub fn openapi(document: &'static str) -> impl Reply {
    warp::reply::with_header(document, "content-type", "application/json")
}

/// `GET /metrics`, for Prometheus: outside the versioned API and its description.
pub fn metrics(s: AppState) -> impl Reply {
    warp::reply::with_header(crate::api::metrics::render(&s.sessions), "content-type", "text/plain; version=0.0.4")
}

#[utoipa::path(get, path = "/api/v1/pipelines", tag = "pipelines",
    summary = "pipeline files, their encoder choice and whether they run here",
    description = "Signed-in users see what runs here; admins also see files, encoder choices, notes and errors.",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "every pipeline file", body = Vec<PipelineView>),
        (status = 401, response = super::Unauthorized),
        (status = 503, response = super::Unavailable),
    ))]
pub fn pipelines(id: Identity, s: AppState) -> impl Reply {
    warp::reply::json(&PipelineView::all(s.streams.catalog(), id.role))
}

#[utoipa::path(get, path = "/api/v1/pipelines/{name}", tag = "pipelines", summary = "one pipeline file",
    params(("name" = String, Path, description = "the pipeline's name: its file name without `.toml`")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the pipeline", body = PipelineView),
        (status = 401, response = super::Unauthorized),
        (status = 404, response = super::NotFound),
        (status = 503, response = super::Unavailable),
    ))]
pub async fn pipeline(name: String, id: Identity, s: AppState) -> Result<impl Reply, Rejection> {
    let found = PipelineView::all(s.streams.catalog(), id.role).into_iter().find(|p| p.name == name);
    let found = found.ok_or_else(|| {
        Problem::new(
            StatusCode::NOT_FOUND,
            "no-such-pipeline",
            format!("no pipeline named `{}`", name.chars().take(64).collect::<String>()),
        )
    })?;
    Ok(warp::reply::json(&found))
}

#[utoipa::path(post, path = "/api/v1/pipelines/reload", tag = "pipelines",
    summary = "reload the pipeline files now (admin only)",
    security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "every pipeline file after the reload", body = Vec<PipelineView>),
        (status = 401, response = super::Unauthorized),
        (status = 403, response = super::Forbidden),
        (status = 503, response = super::Unavailable),
    ))]
pub async fn reload(id: Identity, s: AppState) -> Result<impl Reply, Rejection> {
    tracing::info!(user = %id.user_id, "pipeline reload requested");
    let catalog = s.streams.catalog().clone();
    let reloaded = tokio::task::spawn_blocking(move || catalog.reload())
        .await
        .map_err(|e| format!("reload task failed: {e}"))
        .and_then(|r| r.map_err(|e| e.to_string()));
    match reloaded {
        Ok(()) => Ok(warp::reply::json(&PipelineView::all(s.streams.catalog(), id.role))),
        Err(detail) => Err(reject(Problem::new(StatusCode::SERVICE_UNAVAILABLE, "pipelines-unavailable", detail))),
    }
}

#[utoipa::path(get, path = "/api/v1/streams", tag = "pipelines",
    summary = "live streams with their parameters (admin only)",
    security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "every live stream: stream_id, pipeline, encoder, params, started_at",
            body = [Object]),
        (status = 401, response = super::Unauthorized),
        (status = 403, response = super::Forbidden),
        (status = 503, response = super::Unavailable),
    ))]
pub fn streams(_: Identity, s: AppState) -> impl Reply {
    warp::reply::json(&s.streams.live())
}
