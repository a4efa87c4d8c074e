//! Session events (every lifecycle transition) for subscribers, numbered by
//! the database's global event id.
//!
//! The database is the record; the cache's pub/sub only wakes nodes up. Each
//! node runs one pump that delivers events to its local subscribers strictly
//! in sequence: an event that arrives after a gap (a message lost while Redis
//! restarted, or published out of order) first pulls the missing ones from
//! the database, and a slow periodic check catches a lost last message. So a
//! subscriber sees every event once, in order, whatever the cache did.
//! Transitions commit in id order (see `Store::transition`), which is what
//! makes a gap mean "missing", never "not committed yet".

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::store::cache::{Cache, CacheError, Received};
use crate::store::{EventRecord, Store, StoreError};

const CHANNEL: &str = "session-events";
/// How many events a subscriber may fall behind before it refills from the database.
const LOCAL_BUFFER: usize = 4096;
const PAGE: u64 = 500;
/// The safety net for a lost final message.
const POLL: Duration = Duration::from_secs(1);

/// One event as subscribers get it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventMessage {
    pub seq: i64,
    pub session_id: String,
    /// The session's own version after the transition.
    pub version: i32,
    pub from: String,
    pub to: String,
    pub event: serde_json::Value,
    pub at: String,
    /// Who may see it (not sent to clients).
    #[serde(skip_serializing, default)]
    pub owner: String,
    #[serde(skip_serializing, default)]
    pub viewers: Vec<String>,
    /// [`EventMessage::client_text`], made once for every subscriber.
    #[serde(skip)]
    client_text: std::sync::OnceLock<String>,
}

impl EventMessage {
    pub fn from_record(r: &EventRecord) -> Self {
        EventMessage {
            seq: r.event.id,
            session_id: r.event.session_id.clone(),
            version: r.event.seq,
            from: r.event.from_state.clone(),
            to: r.event.to_state.clone(),
            event: serde_json::from_str(&r.event.event).unwrap_or_default(),
            at: r.event.at.to_rfc3339(),
            owner: r.owner.clone(),
            viewers: r.viewers.clone(),
            client_text: Default::default(),
        }
    }

    /// The WebSocket text of this event (`{"type":"event",…}`).
    pub fn client_text(&self) -> &str {
        self.client_text.get_or_init(|| {
            let mut v = serde_json::to_value(self).unwrap_or_default();
            v["type"] = "event".into();
            v.to_string()
        })
    }

    /// May `user` (with `admin` rights or not) see this event?
    pub fn visible_to(&self, user: &str, admin: bool) -> bool {
        admin || self.owner == user || self.viewers.iter().any(|v| v == user)
    }
}

/// The wire form between nodes: the event with its audience.
#[derive(Serialize, Deserialize)]
struct Wire {
    #[serde(flatten)]
    message: EventMessage,
    owner: String,
    viewers: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Cache(#[from] CacheError),
}

pub struct EventBus {
    store: Store,
    cache: Cache,
    local: broadcast::Sender<Arc<EventMessage>>,
    /// The last event delivered to local subscribers.
    delivered: Arc<AtomicI64>,
    pump: tokio::task::JoinHandle<()>,
}

impl Drop for EventBus {
    fn drop(&mut self) {
        self.pump.abort();
    }
}

impl EventBus {
    /// Starts after the newest event in the database.
    pub async fn start(store: Store, cache: Cache) -> Result<Self, BusError> {
        let (local, _) = broadcast::channel(LOCAL_BUFFER);
        let delivered = Arc::new(AtomicI64::new(store.last_event_id().await?));
        let subscription = cache.subscribe(CHANNEL).await?;
        let pump = Pump { store: store.clone(), local: local.clone(), delivered: delivered.clone() };
        let pump = tokio::spawn(pump.run(subscription));
        Ok(EventBus { store, cache, local, delivered, pump })
    }

    /// Tells every node; a failure is logged, and the database check delivers it anyway.
    pub async fn publish(&self, record: &EventRecord) {
        let msg = EventMessage::from_record(record);
        let wire = Wire { owner: msg.owner.clone(), viewers: msg.viewers.clone(), message: msg };
        let text = serde_json::to_string(&wire).unwrap_or_default();
        if let Err(e) = self.cache.publish(CHANNEL, &text).await {
            tracing::warn!(error = %e, seq = record.event.id, "event not published; nodes will find it in the database");
        }
    }

    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// Live events from now on, in order.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<EventMessage>> {
        self.local.subscribe()
    }

    /// The last event delivered live on this node.
    pub fn delivered(&self) -> i64 {
        self.delivered.load(Ordering::SeqCst)
    }

    /// Recorded events after `after`, oldest first (a reconnecting client's catch-up).
    pub async fn replay(&self, after: i64) -> Result<Vec<EventMessage>, StoreError> {
        Ok(self.store.events_after(after, PAGE).await?.iter().map(EventMessage::from_record).collect())
    }
}

struct Pump {
    store: Store,
    local: broadcast::Sender<Arc<EventMessage>>,
    delivered: Arc<AtomicI64>,
}

impl Pump {
    async fn run(self, mut subscription: crate::store::cache::Subscription) {
        let mut poll = tokio::time::interval(POLL);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                d = subscription.recv() => match d {
                    Some(Received::Message(text)) => match serde_json::from_str::<Wire>(&text) {
                        Ok(w) => {
                            let mut m = w.message;
                            m.owner = w.owner;
                            m.viewers = w.viewers;
                            self.offer(m).await;
                        }
                        Err(e) => tracing::warn!(error = %e, "unreadable event on the cache channel"),
                    },
                    // Messages may have been missed: the database has them.
                    Some(Received::Reconnected | Received::Lagged(_)) => {
                        self.fill(i64::MAX).await;
                    }
                    None => {
                        tracing::warn!("event subscription ended; polling the database only");
                        std::future::pending::<()>().await;
                    }
                },
                _ = poll.tick() => {
                    self.fill(i64::MAX).await;
                }
            }
        }
    }

    /// Delivers `m` if it is next; after a gap, first what is missing.
    async fn offer(&self, m: EventMessage) {
        let last = self.delivered.load(Ordering::SeqCst);
        if m.seq <= last {
            return;
        }
        // Ids skipped by rolled-back writes read as no rows, so a complete fill
        // leaves no gap; an incomplete one leaves `m` to the next poll, which
        // reads it back from the database in order.
        if m.seq > last + 1 && (!self.fill(m.seq - 1).await || m.seq <= self.delivered.load(Ordering::SeqCst)) {
            return;
        }
        self.deliver(m);
    }

    fn deliver(&self, m: EventMessage) {
        self.delivered.store(m.seq, Ordering::SeqCst);
        // No subscriber is fine.
        let _ = self.local.send(Arc::new(m));
    }

    /// Delivers recorded events after the last delivered one, up to `until`;
    /// false when the database could not be read.
    async fn fill(&self, until: i64) -> bool {
        loop {
            let after = self.delivered.load(Ordering::SeqCst);
            if after >= until {
                return true;
            }
            let rows = match self.store.events_after(after, PAGE).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(error = %e, "catching up on events");
                    return false;
                }
            };
            let n = rows.len() as u64;
            for r in rows.iter().filter(|r| r.event.id <= until) {
                self.deliver(EventMessage::from_record(r));
            }
            if n < PAGE {
                return true;
            }
        }
    }
}
