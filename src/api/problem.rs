//! RFC 9457 problem details: every error the HTTP API returns.

use serde::Serialize;
use utoipa::ToSchema;
use warp::http::StatusCode;
use warp::Reply;

use crate::session::forwarding::{Answer, ForwardError};
use crate::session::manager::SessionError;
use crate::store::StoreError;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// `https://playcast.dev/problems/<kind>`
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Seconds after which a retry may succeed (sent as `Retry-After`).
    #[serde(skip)]
    pub retry_after: Option<u64>,
}

impl Problem {
    pub fn new(status: StatusCode, kind: &str, detail: impl Into<String>) -> Self {
        Self {
            kind: format!("https://playcast.dev/problems/{kind}"),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail: detail.into(),
            retry_after: None,
        }
    }

    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }
}

impl warp::reject::Reject for Problem {}

impl Reply for Problem {
    fn into_response(self) -> warp::reply::Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut res = warp::reply::with_status(warp::reply::json(&self), status).into_response();
        res.headers_mut().insert("content-type", warp::http::HeaderValue::from_static("application/problem+json"));
        if let Some(s) = self.retry_after {
            res.headers_mut().insert("retry-after", warp::http::HeaderValue::from(s));
        }
        res
    }
}

/// Turns every rejection into problem+json; nothing leaves as a bare 500.
pub async fn recover(err: warp::Rejection) -> Result<Problem, std::convert::Infallible> {
    let p = if let Some(p) = err.find::<Problem>() {
        p.clone()
    } else if err.is_not_found() {
        Problem::new(StatusCode::NOT_FOUND, "not-found", "no such resource")
    } else if let Some(e) = err.find::<warp::filters::body::BodyDeserializeError>() {
        Problem::new(StatusCode::BAD_REQUEST, "bad-body", e.to_string())
    } else if let Some(e) = err.find::<warp::reject::PayloadTooLarge>() {
        Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "too-large", e.to_string())
    } else if let Some(e) = err.find::<warp::reject::UnsupportedMediaType>() {
        Problem::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type", e.to_string())
    } else if let Some(e) = err.find::<warp::reject::LengthRequired>() {
        Problem::new(StatusCode::LENGTH_REQUIRED, "length-required", e.to_string())
    } else if let Some(e) = err.find::<warp::reject::MethodNotAllowed>() {
        // After the body checks: a route that matched the method and refused
        // the body says more than the routes that did not match the method.
        Problem::new(StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed", e.to_string())
    } else if let Some(e) = err.find::<warp::reject::InvalidQuery>() {
        Problem::new(StatusCode::BAD_REQUEST, "bad-query", e.to_string())
    } else if let Some(e) = err.find::<warp::reject::MissingHeader>() {
        Problem::new(StatusCode::BAD_REQUEST, "missing-header", e.to_string())
    } else if let Some(e) = err.find::<warp::reject::InvalidHeader>() {
        Problem::new(StatusCode::BAD_REQUEST, "invalid-header", e.to_string())
    } else {
        tracing::warn!(?err, "unhandled rejection");
        Problem::new(StatusCode::BAD_REQUEST, "bad-request", format!("{err:?}"))
    };
    Ok(p)
}

/// The answer to a refusal of the session layer: the one place they are mapped.
impl From<SessionError> for Problem {
    fn from(e: SessionError) -> Self {
        let detail = e.to_string();
        match e {
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
            SessionError::Store(s) => s.into(),
        }
    }
}

/// Storage failures are ours, not the caller's: 503, never a 500 or a panic.
impl From<StoreError> for Problem {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "state database");
        Problem::new(StatusCode::SERVICE_UNAVAILABLE, "state-unavailable", "the state database is unavailable; retry")
            .retry_after(5)
    }
}

/// A call another node should have answered.
impl From<ForwardError> for Problem {
    fn from(e: ForwardError) -> Self {
        match e {
            ForwardError::Session(e) => e.into(),
            ForwardError::Refused(answer) => answer.into(),
            ForwardError::Unreachable(u) => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "node-unreachable",
                format!("the node at {} did not answer; retry", u.base),
            )
            .retry_after(2),
        }
    }
}

/// Another node's problem, passed on when no node is left to try.
impl From<Answer> for Problem {
    fn from(answer: Answer) -> Self {
        let v: serde_json::Value = serde_json::from_slice(&answer.body).unwrap_or_default();
        let kind = v["type"].as_str().and_then(|t| t.rsplit('/').next()).unwrap_or("unavailable").to_string();
        let detail = v["detail"].as_str().unwrap_or("another node refused").to_string();
        let retry = answer.retry_after.as_deref().and_then(|r| r.parse().ok()).unwrap_or(5);
        let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_GATEWAY);
        Problem::new(status, &kind, detail).retry_after(retry)
    }
}

/// `e` as a rejection that [`recover`] answers.
pub fn reject(e: impl Into<Problem>) -> warp::Rejection {
    warp::reject::custom(e.into())
}
