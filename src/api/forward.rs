//! REST calls that belong to another node, over HTTP: the real [`Peers`].
//! The caller's own token goes along (every node verifies the same issuers),
//! so the other node applies the same rules; the answer comes back as it was
//! given. Browsers drop `Authorization` on a cross-origin redirect, so REST
//! is proxied rather than redirected (`docs/DEPLOY.md`).

use std::sync::LazyLock;
use std::time::Duration;

use warp::http::{HeaderValue, StatusCode};
use warp::Reply;

use crate::session::forwarding::{Answer, Call, Peers, Unreachable, Verb};

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

/// Other nodes, asked over HTTP.
#[derive(Debug, Clone, Copy, Default)]
pub struct HttpPeers;

impl Peers for HttpPeers {
    async fn send(&self, base: &str, call: Call<'_>) -> Result<Answer, Unreachable> {
        let method = match call.verb {
            Verb::Post => reqwest::Method::POST,
            Verb::Put => reqwest::Method::PUT,
            Verb::Delete => reqwest::Method::DELETE,
        };
        let mut req = PEERS
            .request(method, format!("{base}{}", call.path))
            .header("authorization", call.authorization)
            .header(FORWARDED_BY, call.by);
        if let Some(b) = call.body {
            req = req.json(&b);
        }
        let res = req.send().await.map_err(|e| unreachable(base, &e))?;
        let header = |name: &str| res.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        let (content_type, retry_after) = (header("content-type"), header("retry-after"));
        let status = res.status().as_u16();
        let body = res.bytes().await.map_err(|e| unreachable(base, &e))?.to_vec();
        Ok(Answer { status, content_type, retry_after, body })
    }
}

fn unreachable(base: &str, e: &reqwest::Error) -> Unreachable {
    tracing::warn!(node = base, error = %e, "another node did not answer");
    Unreachable { base: base.to_string(), reason: e.to_string() }
}

/// Another node's answer, passed back as it came.
#[derive(Debug)]
pub struct Forwarded(pub Answer);

impl Reply for Forwarded {
    fn into_response(self) -> warp::reply::Response {
        let Answer { status, content_type, retry_after, body } = self.0;
        let mut res = warp::reply::Response::new(body.into());
        *res.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
        let header = |v: Option<String>| v.and_then(|v| HeaderValue::from_str(&v).ok());
        if let Some(v) = header(content_type) {
            res.headers_mut().insert("content-type", v);
        }
        if let Some(v) = header(retry_after) {
            res.headers_mut().insert("retry-after", v);
        }
        res
    }
}
