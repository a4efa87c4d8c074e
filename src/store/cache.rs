//! Fast, disposable state next to the database: live session state with a
//! TTL, heartbeats (keys that live only while refreshed) and pub/sub events.
//!
//! One [`Cache`] type, two backends: in-process (the default, for a single
//! node and for tests) and Redis (shared between nodes). Nothing here is the
//! source of truth: a value can vanish and a message can be missed (Redis
//! restarting, a slow subscriber), and every such gap is reported — as
//! [`CacheError::Unavailable`] or as [`Received::Reconnected`] /
//! [`Received::Lagged`] — so callers fall back to, or refill from, the
//! database instead of acting on stale data.

mod hub;
mod memory;
mod redis;

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// The backend could not be reached or did not answer in time.
    #[error("cache unavailable: {0}")]
    Unavailable(String),
    #[error("invalid cache URL: {0}")]
    InvalidUrl(String),
    /// A stored value or message is not UTF-8 (written by someone else).
    #[error("cache entry `{0}` is not text")]
    NotText(String),
}

/// What a [`Subscription`] yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    Message(String),
    /// The connection was lost and is back, and the subscription is live
    /// again: messages published in between are gone, so refill.
    Reconnected,
    /// This subscriber fell behind and missed this many messages; refill.
    Lagged(u64),
}

#[derive(Clone)]
pub struct Cache {
    inner: Inner,
}

#[derive(Clone)]
enum Inner {
    Memory(Arc<memory::Memory>),
    Redis(Arc<redis::Redis>),
}

impl Cache {
    /// An in-process cache: nothing leaves this process.
    pub fn memory() -> Cache {
        Cache { inner: Inner::Memory(Arc::new(memory::Memory::new())) }
    }

    /// Connects to Redis (`redis://[user:password@]host[:port][/db]`). Every key
    /// and channel is put under `prefix`, so several users (or tests) can share
    /// one server. Fails if the first connection fails; after that the client
    /// reconnects by itself for as long as the cache lives.
    pub async fn redis(url: &str, prefix: &str) -> Result<Cache, CacheError> {
        Ok(Cache { inner: Inner::Redis(redis::Redis::connect(url, prefix).await?) })
    }

    pub fn backend(&self) -> crate::config::CacheBackend {
        match &self.inner {
            Inner::Memory(_) => crate::config::CacheBackend::Memory,
            Inner::Redis(_) => crate::config::CacheBackend::Redis,
        }
    }

    /// Stores `value` under `key`, replacing what was there; with a TTL the
    /// entry disappears once it runs out. A zero TTL leaves no entry behind.
    pub async fn put(&self, key: &str, value: &str, ttl: Option<Duration>) -> Result<(), CacheError> {
        if ttl == Some(Duration::ZERO) {
            return self.delete(key).await;
        }
        match &self.inner {
            Inner::Memory(m) => {
                m.put(key, value, ttl);
                Ok(())
            }
            Inner::Redis(r) => r.put(key, value, ttl).await,
        }
    }

    pub async fn get(&self, key: &str) -> Result<Option<String>, CacheError> {
        match &self.inner {
            Inner::Memory(m) => Ok(m.get(key)),
            Inner::Redis(r) => r.get(key).await,
        }
    }

    /// Removes `key`; removing a missing key is not an error.
    pub async fn delete(&self, key: &str) -> Result<(), CacheError> {
        match &self.inner {
            Inner::Memory(m) => {
                m.delete(key);
                Ok(())
            }
            Inner::Redis(r) => r.delete(key).await,
        }
    }

    /// Live keys starting with `prefix` (without the cache's own prefix), sorted.
    pub async fn keys(&self, prefix: &str) -> Result<Vec<String>, CacheError> {
        match &self.inner {
            Inner::Memory(m) => Ok(m.keys(prefix)),
            Inner::Redis(r) => r.keys(prefix).await,
        }
    }

    /// Marks `key` alive for `ttl`: it disappears unless refreshed in time.
    pub async fn heartbeat(&self, key: &str, value: &str, ttl: Duration) -> Result<(), CacheError> {
        self.put(key, value, Some(ttl)).await
    }

    /// Sends `message` to everyone subscribed to `channel` right now.
    pub async fn publish(&self, channel: &str, message: &str) -> Result<(), CacheError> {
        match &self.inner {
            Inner::Memory(m) => {
                m.publish(channel, message);
                Ok(())
            }
            Inner::Redis(r) => r.publish(channel, message).await,
        }
    }

    /// Listens on `channel`. Once this returns, every message published to it
    /// afterwards is received (or its loss reported); dropping the
    /// subscription stops listening.
    pub async fn subscribe(&self, channel: &str) -> Result<Subscription, CacheError> {
        match &self.inner {
            Inner::Memory(m) => {
                let (name, rx) = m.subscribe(channel);
                Ok(Subscription { name, rx: Some(rx), owner: Owner::Memory(Arc::downgrade(m)) })
            }
            Inner::Redis(r) => {
                let (name, rx) = r.subscribe(channel).await?;
                Ok(Subscription { name, rx: Some(rx), owner: Owner::Redis(Arc::downgrade(r)) })
            }
        }
    }

    /// Whether the backend answers a PING promptly.
    pub async fn is_healthy(&self) -> bool {
        match &self.inner {
            Inner::Memory(_) => true,
            Inner::Redis(r) => r.is_healthy().await,
        }
    }
}

/// Messages of one channel, in the order they were published.
pub struct Subscription {
    /// The channel's name inside the backend (with the cache's prefix).
    name: String,
    /// Taken only on drop, so the hub sees the receiver gone before cleanup.
    rx: Option<broadcast::Receiver<Received>>,
    owner: Owner,
}

enum Owner {
    Memory(Weak<memory::Memory>),
    Redis(Weak<redis::Redis>),
}

impl Subscription {
    /// The next message or gap report; `None` once the cache is gone.
    pub async fn recv(&mut self) -> Option<Received> {
        let rx = self.rx.as_mut()?;
        match rx.recv().await {
            Ok(received) => Some(received),
            Err(RecvError::Lagged(missed)) => Some(Received::Lagged(missed)),
            Err(RecvError::Closed) => None,
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        drop(self.rx.take());
        match &self.owner {
            Owner::Memory(m) => {
                if let Some(m) = m.upgrade() {
                    m.unsubscribe(&self.name);
                }
            }
            Owner::Redis(r) => {
                if let Some(r) = r.upgrade() {
                    r.unsubscribe(&self.name);
                }
            }
        }
    }
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription").field("channel", &self.name).finish_non_exhaustive()
    }
}
