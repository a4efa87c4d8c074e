//! REST calls that belong to another node: a session placed elsewhere is
//! created there, and pause, resume and end go to the node that runs the
//! session. The caller's own token goes along (every node verifies the same
//! issuers), so the other node applies the same rules; the answer comes back
//! as it was given. Browsers drop `Authorization` on a cross-origin redirect,
//! so REST is proxied rather than redirected (`docs/DEPLOY.md`).

use std::sync::LazyLock;
use std::time::Duration;

use warp::http::{HeaderValue, StatusCode};
use warp::Reply;

use super::problem::Problem;

/// Marks a request one node sent another: it is served where it lands,
/// never passed on again (no loops however stale a node's view is).
pub const FORWARDED_BY: &str = "x-playcast-forwarded-by";

static PEERS: LazyLock<reqwest::Client> = LazyLock::new(|| {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(30))
        .pool_idle_timeout(Duration::from_secs(30))
        .build()
        .expect("an HTTP client with default TLS")
});

/// Another node's answer, passed back as it came.
#[derive(Debug)]
pub struct Forwarded {
    pub status: StatusCode,
    content_type: Option<HeaderValue>,
    retry_after: Option<HeaderValue>,
    body: Vec<u8>,
}

impl Forwarded {
    /// A `no-room` answer: the node filled up since its last heartbeat.
    pub fn is_no_room(&self) -> bool {
        self.status == StatusCode::SERVICE_UNAVAILABLE
            && serde_json::from_slice::<serde_json::Value>(&self.body)
                .ok()
                .and_then(|v| v["type"].as_str().map(|t| t.ends_with("/no-room")))
                .unwrap_or(false)
    }
}

impl Forwarded {
    /// The other node's problem, to pass on when no node is left to try.
    pub fn into_problem(self) -> Problem {
        let v: serde_json::Value = serde_json::from_slice(&self.body).unwrap_or_default();
        let kind = v["type"].as_str().and_then(|t| t.rsplit('/').next()).unwrap_or("unavailable").to_string();
        let detail = v["detail"].as_str().unwrap_or("another node refused").to_string();
        let retry = self.retry_after.as_ref().and_then(|r| r.to_str().ok()?.parse().ok()).unwrap_or(5);
        Problem::new(self.status, &kind, detail).retry_after(retry)
    }
}

impl Reply for Forwarded {
    fn into_response(self) -> warp::reply::Response {
        let mut res = warp::reply::Response::new(self.body.into());
        *res.status_mut() = self.status;
        if let Some(v) = self.content_type {
            res.headers_mut().insert("content-type", v);
        }
        if let Some(v) = self.retry_after {
            res.headers_mut().insert("retry-after", v);
        }
        res
    }
}

/// Sends `method path` with `body` to the node at `base` on behalf of the
/// caller whose `Authorization` header this is.
pub async fn forward(
    method: reqwest::Method,
    base: &str,
    path: &str,
    authorization: &str,
    by: &str,
    body: Option<serde_json::Value>,
) -> Result<Forwarded, Problem> {
    let mut req =
        PEERS.request(method, format!("{base}{path}")).header("authorization", authorization).header(FORWARDED_BY, by);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.map_err(|e| unreachable(base, &e))?;
    let status = StatusCode::from_u16(res.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let header = |name: &str| res.headers().get(name).and_then(|v| HeaderValue::from_bytes(v.as_bytes()).ok());
    let (content_type, retry_after) = (header("content-type"), header("retry-after"));
    let body = res.bytes().await.map_err(|e| unreachable(base, &e))?.to_vec();
    Ok(Forwarded { status, content_type, retry_after, body })
}

fn unreachable(base: &str, e: &reqwest::Error) -> Problem {
    tracing::warn!(node = base, error = %e, "another node did not answer");
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "node-unreachable",
        format!("the node at {base} did not answer; retry"),
    )
    .retry_after(2)
}
