//! Bearer-token authentication for routes.

use std::sync::Arc;

use warp::http::StatusCode;
use warp::Filter;

use super::problem::Problem;
use crate::auth::{AuthError, Identity, Verifier};

/// Extracts the caller's identity from `Authorization: Bearer …`, or rejects
/// with 401 (the token's fault) or 503 (the issuer's keys are unreachable).
pub fn authenticated(verifier: Arc<Verifier>) -> impl Filter<Extract = (Identity,), Error = warp::Rejection> + Clone {
    warp::header::optional::<String>("authorization").and_then(move |header: Option<String>| {
        let verifier = verifier.clone();
        async move {
            let token = match header.as_deref() {
                None => "",
                Some(h) => h.strip_prefix("Bearer ").ok_or_else(|| {
                    warp::reject::custom(unauthorized(AuthError::Malformed(
                        "expected `Authorization: Bearer <token>`".into(),
                    )))
                })?,
            };
            verifier.verify(token.trim()).await.map_err(|e| warp::reject::custom(unauthorized(e)))
        }
    })
}

fn unauthorized(e: AuthError) -> Problem {
    if e.is_unavailable() {
        tracing::warn!(error = %e, "token check impossible");
        Problem::new(StatusCode::SERVICE_UNAVAILABLE, "auth-unavailable", e.to_string()).retry_after(5)
    } else {
        tracing::debug!(error = %e, "token refused");
        Problem::new(StatusCode::UNAUTHORIZED, "unauthorized", e.to_string())
    }
}

/// Like [`authenticated`], and the caller must hold `role` (403 otherwise).
pub fn require(
    verifier: Arc<Verifier>,
    role: crate::auth::Role,
) -> impl Filter<Extract = (Identity,), Error = warp::Rejection> + Clone {
    authenticated(verifier).and_then(move |id: Identity| async move {
        if id.role == role {
            Ok(id)
        } else {
            Err(warp::reject::custom(Problem::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("this needs the {role} role; you are {}", id.role),
            )))
        }
    })
}
