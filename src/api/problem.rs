//! RFC 9457 problem details: every error the HTTP API returns.

use serde::Serialize;
use warp::http::StatusCode;
use warp::Reply;

#[derive(Debug, Clone, Serialize)]
pub struct Problem {
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
