//! The Redis backend. Two connections: one for commands, one that stays in
//! subscribe mode. The second one's messages go through a [`Hub`], which
//! also knows which channels to subscribe again after a reconnect.
//!
//! Every command is bounded by [`OP_TIMEOUT`]: the client's own command
//! timeout, which also stops a timed-out command from being replayed later
//! (a write the caller saw fail must not land after the reconnect), and an
//! outer timer a little longer in case the client never answers at all.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use fred::prelude::{
    Builder, Client, ClientLike, Config, EventInterface, Expiration, KeysInterface, Options, PubsubInterface,
    ReconnectPolicy, Value,
};
use fred::types::config::UnresponsiveConfig;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, Mutex as AsyncMutex};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use super::hub::Hub;
use super::{CacheError, Received};

/// The longest any one command may take.
const OP_TIMEOUT: Duration = Duration::from_secs(2);
/// Extra time for the outer timer, so the client's own timeout fires first.
const GRACE: Duration = Duration::from_millis(500);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const HEALTH_TIMEOUT: Duration = Duration::from_millis(500);
/// A connection silent this long with commands pending is closed and redone
/// (a peer that vanished without closing the socket).
const UNRESPONSIVE_AFTER: Duration = Duration::from_secs(5);
/// Reconnect delays in ms: exponential, capped so recovery is prompt.
const RECONNECT_MIN_MS: u32 = 100;
const RECONNECT_MAX_MS: u32 = 2_000;
/// Keys asked for per SCAN step.
const SCAN_PAGE: u32 = 500;
/// Messages the subscribe connection may queue before the hub takes them.
const MESSAGE_BACKLOG: usize = 4096;
/// Redis refuses expiry times beyond `i64` milliseconds from now.
const MAX_TTL_MS: u128 = (i64::MAX / 2) as u128;

pub(super) struct Redis {
    commands: Client,
    pubsub: Client,
    /// `prefix:` (or nothing), in front of every key and channel.
    ns: String,
    hub: Arc<Hub>,
    /// Held while the set of subscribed channels changes, so a SUBSCRIBE and
    /// an UNSUBSCRIBE of the same channel reach Redis in the order decided.
    subscribing: Arc<AsyncMutex<()>>,
    pump: JoinHandle<()>,
}

impl Redis {
    pub(super) async fn connect(url: &str, prefix: &str) -> Result<Arc<Self>, CacheError> {
        // This build has no TLS for Redis: refused, so it never goes out in plain text.
        if url.get(..9).is_some_and(|s| s.eq_ignore_ascii_case("rediss://")) {
            return Err(CacheError::InvalidUrl("rediss:// (TLS) is not supported; use redis://".into()));
        }
        // The parse error names what is wrong without echoing a password.
        let config = Config::from_url(url).map_err(|e| CacheError::InvalidUrl(e.details().to_string()))?;
        let mut builder = Builder::from_config(config);
        builder
            .with_config(|c| c.fail_fast = true)
            .with_performance_config(|p| {
                p.default_command_timeout = OP_TIMEOUT;
                p.broadcast_channel_capacity = MESSAGE_BACKLOG;
            })
            .with_connection_config(|c| {
                c.connection_timeout = CONNECT_TIMEOUT;
                c.internal_command_timeout = OP_TIMEOUT;
                c.unresponsive =
                    UnresponsiveConfig { max_timeout: Some(UNRESPONSIVE_AFTER), interval: Duration::from_secs(1) };
            })
            // Zero attempts: never give up.
            .set_policy(ReconnectPolicy::new_exponential(0, RECONNECT_MIN_MS, RECONNECT_MAX_MS, 2));
        let commands = builder.build().map_err(|e| unavailable("connect", e))?;
        let pubsub = builder.build().map_err(|e| unavailable("connect", e))?;
        for client in [&commands, &pubsub] {
            bounded_by(CONNECT_TIMEOUT + GRACE, "connect", client.init()).await?;
        }

        let hub = Arc::new(Hub::default());
        let subscribing = Arc::new(AsyncMutex::new(()));
        let pump = tokio::spawn(pump(pubsub.clone(), hub.clone(), subscribing.clone()));
        let ns = if prefix.is_empty() { String::new() } else { format!("{prefix}:") };
        Ok(Arc::new(Redis { commands, pubsub, ns, hub, subscribing, pump }))
    }

    fn name(&self, key: &str) -> String {
        format!("{}{key}", self.ns)
    }

    pub(super) async fn put(&self, key: &str, value: &str, ttl: Option<Duration>) -> Result<(), CacheError> {
        // Below a millisecond rounds up: Redis counts in whole ones.
        let expire = ttl.map(|ttl| Expiration::PX(ttl.as_millis().clamp(1, MAX_TTL_MS) as i64));
        bounded("put", self.commands.set::<(), _, _>(self.name(key), value, expire, None, false)).await
    }

    pub(super) async fn get(&self, key: &str) -> Result<Option<String>, CacheError> {
        let value: Value = bounded("get", self.commands.get(self.name(key))).await?;
        if value.is_null() {
            return Ok(None);
        }
        value.into_string().map(Some).ok_or_else(|| CacheError::NotText(key.chars().take(64).collect()))
    }

    pub(super) async fn delete(&self, key: &str) -> Result<(), CacheError> {
        bounded("delete", self.commands.del::<i64, _>(self.name(key))).await.map(drop)
    }

    /// Walks the keyspace with SCAN (KEYS would block the server while it
    /// runs); SCAN may repeat a key, hence the set.
    pub(super) async fn keys(&self, prefix: &str) -> Result<Vec<String>, CacheError> {
        let pattern = format!("{}*", glob_escape(&self.name(prefix)));
        let mut found = BTreeSet::new();
        let mut cursor = String::from("0");
        loop {
            let (next, page): (String, Vec<Value>) =
                bounded("keys", self.commands.scan_page(cursor, pattern.as_str(), Some(SCAN_PAGE), None)).await?;
            for key in page.into_iter().filter_map(Value::into_string) {
                if let Some(key) = key.strip_prefix(&self.ns) {
                    found.insert(key.to_string());
                }
            }
            if next == "0" {
                return Ok(found.into_iter().collect());
            }
            cursor = next;
        }
    }

    pub(super) async fn publish(&self, channel: &str, message: &str) -> Result<(), CacheError> {
        bounded("publish", self.commands.publish::<i64, _, _>(self.name(channel), message)).await.map(drop)
    }

    pub(super) async fn subscribe(&self, channel: &str) -> Result<(String, broadcast::Receiver<Received>), CacheError> {
        let name = self.name(channel);
        let joined = bounded_by(OP_TIMEOUT + GRACE, "subscribe", async {
            let _order = self.subscribing.lock().await;
            let rx = self.hub.join(&name);
            subscribe_confirmed(&self.pubsub, vec![name.clone()]).await.map(|()| rx)
        })
        .await;
        match joined {
            Ok(rx) => Ok((name, rx)),
            Err(e) => {
                self.hub.remove_if_idle(&name);
                Err(e)
            }
        }
    }

    /// Called when a subscription is dropped: stops listening in Redis once
    /// nobody here listens to the channel.
    pub(super) fn unsubscribe(&self, name: &str) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // No runtime to talk to Redis from; messages for it are ignored.
            self.hub.remove_if_idle(name);
            return;
        };
        let (pubsub, hub, subscribing, name) =
            (self.pubsub.clone(), self.hub.clone(), self.subscribing.clone(), name.to_string());
        runtime.spawn(async move {
            let _order = subscribing.lock().await;
            if hub.remove_if_idle(&name) {
                if let Err(e) = bounded("unsubscribe", pubsub.unsubscribe(name.as_str())).await {
                    warn!(error = %e, "cache unsubscribe failed; its messages will be ignored");
                }
            }
        });
    }

    pub(super) async fn is_healthy(&self) -> bool {
        // Fail fast: while disconnected the answer is "no", not a wait.
        let options = Options { fail_fast: true, timeout: Some(HEALTH_TIMEOUT), ..Default::default() };
        bounded_by(HEALTH_TIMEOUT + GRACE, "ping", self.commands.with_options(&options).ping::<Value>(None))
            .await
            .is_ok()
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.pump.abort();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let (commands, pubsub) = (self.commands.clone(), self.pubsub.clone());
            runtime.spawn(async move {
                let _ = tokio::join!(commands.quit(), pubsub.quit());
            });
        }
    }
}

/// Moves messages from the subscribe connection into the hub, and after each
/// reconnect subscribes again and tells every subscriber about the gap.
async fn pump(pubsub: Client, hub: Arc<Hub>, subscribing: Arc<AsyncMutex<()>>) {
    let mut messages = pubsub.message_rx();
    let mut reconnects = pubsub.reconnect_rx();
    loop {
        tokio::select! {
            // Messages first: those read before the connection broke belong
            // before the reconnect notice.
            biased;
            message = messages.recv() => match message {
                Ok(message) => match message.value.into_string() {
                    Some(text) => hub.deliver(&message.channel, Received::Message(text)),
                    None => warn!(channel = %message.channel, "ignoring a cache message that is not text"),
                },
                Err(RecvError::Lagged(missed)) => {
                    warn!(missed, "cache messages arrived faster than they were handed out");
                    hub.deliver_all(Received::Lagged(missed));
                }
                Err(RecvError::Closed) => return,
            },
            reconnect = reconnects.recv() => match reconnect {
                Ok(_) | Err(RecvError::Lagged(_)) => resubscribe(&pubsub, &hub, &subscribing).await,
                Err(RecvError::Closed) => return,
            },
        }
    }
}

/// Subscribes again to every channel somebody listens to, retrying until it
/// works; only then is the reconnect announced, so a subscriber that refills
/// on the notice misses nothing published after it.
async fn resubscribe(pubsub: &Client, hub: &Hub, subscribing: &AsyncMutex<()>) {
    let mut delay = Duration::from_millis(u64::from(RECONNECT_MIN_MS));
    loop {
        let renewed = {
            let _order = subscribing.lock().await;
            let channels = hub.channels();
            if channels.is_empty() {
                Ok(())
            } else {
                bounded("resubscribe", subscribe_confirmed(pubsub, channels)).await
            }
        };
        match renewed {
            Ok(()) => {
                info!("cache connection restored");
                hub.deliver_all(Received::Reconnected);
                return;
            }
            Err(e) => {
                warn!(error = %e, "renewing cache subscriptions failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_millis(u64::from(RECONNECT_MAX_MS)));
            }
        }
    }
}

async fn bounded<T>(op: &str, fut: impl Future<Output = Result<T, fred::error::Error>>) -> Result<T, CacheError> {
    bounded_by(OP_TIMEOUT + GRACE, op, fut).await
}

async fn bounded_by<T>(
    limit: Duration,
    op: &str,
    fut: impl Future<Output = Result<T, fred::error::Error>>,
) -> Result<T, CacheError> {
    match tokio::time::timeout(limit, fut).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(unavailable(op, e)),
        Err(_) => Err(CacheError::Unavailable(format!("{op}: no answer within {limit:?}"))),
    }
}

fn unavailable(op: &str, e: fred::error::Error) -> CacheError {
    CacheError::Unavailable(format!("{op}: {e}"))
}

/// Escapes glob metacharacters so a prefix matches only itself in SCAN MATCH.
fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// SUBSCRIBE that returns once Redis has acted on it: the client resolves the
/// command when it is queued, so a PING on the same connection (answered after
/// everything sent before it) marks the point.
async fn subscribe_confirmed(pubsub: &Client, channels: Vec<String>) -> Result<(), fred::error::Error> {
    pubsub.subscribe(channels).await?;
    pubsub.ping::<Value>(None).await.map(drop)
}

#[cfg(test)]
mod tests {
    use super::glob_escape;

    #[test]
    fn glob_escape_leaves_plain_text_and_escapes_metacharacters() {
        assert_eq!(glob_escape("session:abc"), "session:abc");
        assert_eq!(glob_escape("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\");
    }
}
