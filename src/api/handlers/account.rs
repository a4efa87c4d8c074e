//! Signing in and out, and who the caller is.

use std::net::SocketAddr;
use std::time::Duration;

use warp::http::StatusCode;
use warp::{Rejection, Reply};

use crate::api::models::{DevToken, DevTokenRequest, Me};
use crate::api::problem::{reject, Problem};
use crate::api::AppState;
use crate::auth::{Identity, Role};
use crate::model::ids::UserId;
use crate::store::StoreError;

#[utoipa::path(post, path = "/api/v1/login", tag = "account",
    summary = "turn a valid token into a sign-in and create or refresh the user",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the caller, as `GET /api/v1/me` answers", body = Me),
        (status = 401, response = super::Unauthorized),
        (status = 503, response = super::Unavailable),
    ))]
pub async fn login(id: Identity, s: AppState) -> Result<impl Reply, Rejection> {
    let user_id = UserId::from(id.user_id.as_str());
    let user = s.store.upsert_user(&user_id, id.role).await.map_err(reject)?;
    if let Some(sid) = &id.session {
        s.store.login(sid, &user_id).await.map_err(|e| match e {
            StoreError::Revoked => reject(Problem::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "this sign-in was revoked; sign in again",
            )),
            e => reject(e),
        })?;
    }
    tracing::info!(user = %id.user_id, role = %id.role, "signed in");
    Ok(warp::reply::json(&Me::new(id, Some(user))))
}

#[utoipa::path(get, path = "/api/v1/me", tag = "account", summary = "the caller's profile",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "the caller", body = Me),
        (status = 401, response = super::Unauthorized),
        (status = 503, response = super::Unavailable),
    ))]
pub async fn me(id: Identity, s: AppState) -> Result<impl Reply, Rejection> {
    let user = s.store.user(&UserId::from(id.user_id.as_str())).await.map_err(reject)?;
    Ok(warp::reply::json(&Me::new(id, user)))
}

#[utoipa::path(post, path = "/api/v1/logout", tag = "account",
    summary = "revoke the token's sign-in; its WebSockets close",
    description = "On every node: the sign-out is announced to the others through the cache.",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "signed out"),
        (status = 401, response = super::Unauthorized),
        (status = 422, response = super::Invalid),
        (status = 503, response = super::Unavailable),
    ))]
pub async fn logout(id: Identity, s: AppState) -> Result<impl Reply, Rejection> {
    let Some(sid) = id.session else {
        return Err(reject(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "no-sign-in",
            "the token names no sign-in (`sid`) to end",
        )));
    };
    s.store.revoke_login(&sid).await.map_err(reject)?;
    s.logins.revoke_everywhere(&s.cache, &sid).await;
    tracing::info!(user = %id.user_id, "signed out");
    Ok(warp::reply::with_status(warp::reply(), StatusCode::NO_CONTENT))
}

/// How long a development token lives.
const DEV_TOKEN_TTL: Duration = Duration::from_secs(120);

#[utoipa::path(post, path = "/api/v1/dev/token", tag = "account",
    summary = "mint a short-lived token from the development issuer (only without a real issuer)",
    description = "Loopback clients only, unless `auth.insecure_dev_issuer_on_network` is set.",
    request_body = DevTokenRequest,
    responses(
        (status = 200, description = "a token", body = DevToken),
        (status = 403, response = super::Forbidden),
        (status = 404, response = super::NotFound),
        (status = 422, response = super::Invalid),
    ))]
pub fn dev_token(req: DevTokenRequest, peer: Option<SocketAddr>, s: AppState) -> Result<impl Reply, Rejection> {
    let Some(issuer) = s.verifier.dev_issuer() else {
        return Err(reject(Problem::new(
            StatusCode::NOT_FOUND,
            "dev-issuer-off",
            "the development issuer is off: a real issuer is configured",
        )));
    };
    // Whoever gets a token here picks their own name and role: loopback only,
    // unless the operator opened it to the network on purpose.
    if !s.config.auth.insecure_dev_issuer_on_network && !peer.is_some_and(|p| p.ip().is_loopback()) {
        let from = peer.map_or_else(|| "an unknown address".to_string(), |p| p.ip().to_string());
        return Err(reject(Problem::new(
            StatusCode::FORBIDDEN,
            "dev-issuer-loopback-only",
            format!(
                "the development issuer mints tokens for loopback clients only, not for {from}; configure a real \
                 issuer ([auth] issuers and jwks_url), or set auth.insecure_dev_issuer_on_network = true on a lab network"
            ),
        )));
    }
    if req.user.is_empty() || req.user.len() > 64 || req.user.chars().any(|c| c.is_control()) {
        return Err(reject(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-request",
            "`user` must be 1 to 64 printable characters",
        )));
    }
    let role = req.role.unwrap_or(Role::Player);
    let token = issuer
        .mint(&req.user, role, DEV_TOKEN_TTL)
        .map_err(|e| reject(Problem::new(StatusCode::SERVICE_UNAVAILABLE, "dev-issuer", e.to_string())))?;
    Ok(warp::reply::json(&DevToken { token, expires_in: DEV_TOKEN_TTL.as_secs() }))
}
