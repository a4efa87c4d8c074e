//! Session events (every lifecycle transition) for subscribers, numbered by
//! the database's global event id.
//!
//! The database is the record; the cache's pub/sub only wakes nodes up. Each
//! node runs one pump that delivers events to its local subscribers strictly
//! in sequence: an event that arrives after a gap (a message lost while Redis
//! restarted, or published out of order) is held back while the missing ones
//! are read from the database (or come late on the channel, whichever is
//! first), and a slow periodic check catches a lost last message. So a
//! subscriber sees every event once, in order, whatever the cache did.
//! Transitions commit in id order (see `Store::transition`), which is what
//! makes a gap mean "missing", never "not committed yet".

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::model::ids::{SessionId, UserId};
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
    pub session_id: SessionId,
    /// The session's own version after the transition.
    pub version: i32,
    pub from: String,
    pub to: String,
    pub event: serde_json::Value,
    pub at: String,
    /// Who may see it (not sent to clients).
    #[serde(skip_serializing, default = "no_owner")]
    pub owner: UserId,
    #[serde(skip_serializing, default)]
    pub viewers: Vec<UserId>,
    /// [`EventMessage::client_text`], made once for every subscriber.
    #[serde(skip)]
    client_text: std::sync::OnceLock<String>,
}

impl EventMessage {
    pub fn from_record(r: &EventRecord) -> Self {
        EventMessage {
            seq: r.event.id,
            session_id: SessionId::stored(r.event.session_id.clone()),
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

/// A message's own fields never carry its audience: [`Wire`] sets it.
fn no_owner() -> UserId {
    UserId::from("")
}

/// The wire form between nodes: the event with its audience.
#[derive(Serialize, Deserialize)]
struct Wire {
    #[serde(flatten)]
    message: EventMessage,
    owner: UserId,
    viewers: Vec<UserId>,
}

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Cache(#[from] CacheError),
}

/// How this node's events reached its subscribers.
#[derive(Default)]
pub struct BusStats {
    /// Delivered as the cache's channel brought them.
    pub from_channel: AtomicU64,
    /// Delivered from the database: missed or out of order on the channel.
    pub from_database: AtomicU64,
    /// Database reads for missing events (gaps, reconnects, the periodic check).
    pub database_reads: AtomicU64,
}

pub struct EventBus {
    store: Store,
    cache: Cache,
    local: broadcast::Sender<Arc<EventMessage>>,
    /// The last event delivered to local subscribers.
    delivered: Arc<AtomicI64>,
    stats: Arc<BusStats>,
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
        Self::start_checking(store, cache, POLL).await
    }

    /// [`EventBus::start`] with the periodic database check every `poll`.
    async fn start_checking(store: Store, cache: Cache, poll: Duration) -> Result<Self, BusError> {
        let (local, _) = broadcast::channel(LOCAL_BUFFER);
        let delivered = Arc::new(AtomicI64::new(store.last_event_id().await?));
        let subscription = cache.subscribe(CHANNEL).await?;
        let stats = Arc::new(BusStats::default());
        let pump = Pump {
            store: store.clone(),
            local: local.clone(),
            delivered: delivered.clone(),
            stats: stats.clone(),
            ahead: BTreeMap::new(),
            read_all: false,
        };
        // Events recorded between reading the newest id and subscribing were
        // published before anyone here listened.
        pump.catch_up().await?;
        let pump = tokio::spawn(pump.run(subscription, poll));
        Ok(EventBus { store, cache, local, delivered, stats, pump })
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

    pub fn stats(&self) -> &BusStats {
        &self.stats
    }

    /// Recorded events after `after`, oldest first (a reconnecting client's catch-up).
    pub async fn replay(&self, after: i64) -> Result<Vec<EventMessage>, StoreError> {
        Ok(self.store.events_after(after, PAGE).await?.iter().map(EventMessage::from_record).collect())
    }
}

/// A database read of what follows the last delivered event: the id it
/// must reach (`i64::MAX`: all there is), and the rows.
type Read = Pin<Box<dyn Future<Output = (i64, Result<Vec<EventRecord>, StoreError>)> + Send>>;

struct Pump {
    store: Store,
    local: broadcast::Sender<Arc<EventMessage>>,
    delivered: Arc<AtomicI64>,
    stats: Arc<BusStats>,
    /// Events that came before one they follow, held back by id.
    ahead: BTreeMap<i64, EventMessage>,
    /// Everything recorded must be read (the periodic check, a reconnect, a
    /// full page).
    read_all: bool,
}

impl Pump {
    async fn run(mut self, mut subscription: crate::store::cache::Subscription, every: Duration) {
        let mut poll = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut subscribed = true;
        // Database reads run beside the channel, never in its way: an event
        // published a moment late costs no database wait, a lost one is read
        // at once, and a slow database delays only what it must bring.
        let mut reading: Option<Read> = None;
        loop {
            tokio::select! {
                d = subscription.recv(), if subscribed => match d {
                    Some(Received::Message(text)) => match serde_json::from_str::<Wire>(&text) {
                        Ok(w) => {
                            let mut m = w.message;
                            m.owner = w.owner;
                            m.viewers = w.viewers;
                            self.offer(m);
                        }
                        Err(e) => tracing::warn!(error = %e, "unreadable event on the cache channel"),
                    },
                    // Messages may have been missed: the database has them.
                    Some(Received::Reconnected | Received::Lagged(_)) => self.read_all = true,
                    None => {
                        tracing::warn!("event subscription ended; polling the database only");
                        subscribed = false;
                    }
                },
                (until, rows) = async { reading.as_mut().expect("enabled only when set").await }, if reading.is_some() => {
                    reading = None;
                    match rows {
                        Ok(rows) => {
                            // A full page may not be all.
                            self.read_all |= rows.len() as u64 == PAGE;
                            self.deliver_rows(&rows, until);
                        }
                        Err(e) => {
                            // Left to the periodic check, which reads them in order.
                            tracing::warn!(error = %e, "reading missed events from the database");
                            self.ahead.clear();
                            self.read_all = false;
                        }
                    }
                }
                _ = poll.tick() => self.read_all = true,
            }
            self.release();
            if reading.is_none() {
                if std::mem::take(&mut self.read_all) {
                    reading = Some(self.read(i64::MAX));
                } else if let Some(&until) = self.ahead.keys().next_back() {
                    reading = Some(self.read(until));
                }
            }
        }
    }

    /// Holds `m` until what comes before it has been delivered; [`Pump::release`],
    /// after every turn of the loop, delivers it.
    fn offer(&mut self, m: EventMessage) {
        if m.seq <= self.delivered.load(Ordering::SeqCst) {
            return;
        }
        self.ahead.insert(m.seq, m);
        if self.ahead.len() > LOCAL_BUFFER {
            tracing::warn!(
                held = self.ahead.len(),
                "too many events ahead of a gap; the database check will deliver them"
            );
            self.ahead.clear();
        }
    }

    /// Delivers held-back events that are next in line; drops delivered ones.
    fn release(&mut self) {
        while let Some(entry) = self.ahead.first_entry() {
            let last = self.delivered.load(Ordering::SeqCst);
            if *entry.key() > last + 1 {
                break;
            }
            let m = entry.remove();
            if m.seq == last + 1 {
                self.stats.from_channel.fetch_add(1, Ordering::Relaxed);
                self.deliver(m);
            }
        }
    }

    fn deliver(&self, m: EventMessage) {
        self.delivered.store(m.seq, Ordering::SeqCst);
        // No subscriber is fine.
        let _ = self.local.send(Arc::new(m));
    }

    /// Delivers everything recorded after the last delivered event.
    async fn catch_up(&self) -> Result<(), StoreError> {
        loop {
            let (until, rows) = self.read(i64::MAX).await;
            let rows = rows?;
            self.deliver_rows(&rows, until);
            if (rows.len() as u64) < PAGE {
                return Ok(());
            }
        }
    }

    /// Reads what follows the last delivered event, for a gap before `until`.
    fn read(&self, until: i64) -> Read {
        self.stats.database_reads.fetch_add(1, Ordering::Relaxed);
        let (store, after) = (self.store.clone(), self.delivered.load(Ordering::SeqCst));
        Box::pin(async move { (until, store.events_after(after, PAGE).await) })
    }

    /// Delivers the rows not delivered meanwhile, up to `until`. The rows read
    /// after an id are all that will ever exist up to the newest of them (ids
    /// commit in order), so the ids they skip were rolled back: no gap is left.
    fn deliver_rows(&self, rows: &[EventRecord], until: i64) {
        for r in rows.iter().filter(|r| r.event.id <= until) {
            if r.event.id > self.delivered.load(Ordering::SeqCst) {
                self.stats.from_database.fetch_add(1, Ordering::Relaxed);
                self.deliver(EventMessage::from_record(r));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ids::NodeId;
    use crate::session::lifecycle::Event;
    use crate::store::NewSession;
    use sea_orm::ConnectionTrait;

    /// A bus whose periodic check never comes during a test, so whatever is
    /// delivered came from the channel or from a gap's own read.
    async fn bus() -> (Store, EventBus) {
        let store = Store::connect("sqlite::memory:", None).await.unwrap();
        let bus = EventBus::start_checking(store.clone(), Cache::memory(), Duration::from_secs(3600)).await.unwrap();
        (store, bus)
    }

    /// Records a session's first `n` transitions without publishing them.
    async fn record(store: &Store, n: usize) -> Vec<EventRecord> {
        let id = SessionId::stored("s1");
        let new = NewSession {
            id: &id,
            owner: &UserId::from("ann"),
            game: "test-pattern",
            pipeline: "test-pattern",
            node: &NodeId::from("n1"),
            params: "{}".into(),
        };
        let mut records = vec![store.create_session(new).await.unwrap().1];
        for e in [Event::Start, Event::Launched, Event::Connected, Event::Pause, Event::Resume].into_iter().take(n - 1)
        {
            records.push(store.transition(&id, e).await.unwrap().2);
        }
        records
    }

    async fn received(rx: &mut broadcast::Receiver<Arc<EventMessage>>, n: usize) -> Vec<i64> {
        let mut seqs = Vec::new();
        for _ in 0..n {
            let m = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.expect("an event").unwrap();
            seqs.push(m.seq);
        }
        assert!(rx.try_recv().is_err(), "nothing more, no repeats");
        seqs
    }

    fn ids(records: &[EventRecord]) -> Vec<i64> {
        records.iter().map(|r| r.event.id).collect()
    }

    #[tokio::test]
    async fn events_published_out_of_order_arrive_in_order_once() {
        let (store, bus) = bus().await;
        let mut rx = bus.subscribe();
        let r = record(&store, 4).await;
        for i in [1, 0, 3, 2, 0, 3] {
            bus.publish(&r[i]).await;
        }
        assert_eq!(received(&mut rx, 4).await, ids(&r));
        let delivered =
            bus.stats().from_channel.load(Ordering::Relaxed) + bus.stats().from_database.load(Ordering::Relaxed);
        assert_eq!(delivered, 4);
    }

    #[tokio::test]
    async fn an_event_never_published_is_read_from_the_database() {
        let (store, bus) = bus().await;
        let mut rx = bus.subscribe();
        let r = record(&store, 4).await;
        for i in [0, 2, 3] {
            bus.publish(&r[i]).await;
        }
        assert_eq!(received(&mut rx, 4).await, ids(&r));
        assert!(bus.stats().from_database.load(Ordering::Relaxed) >= 1);
        assert_eq!(bus.delivered(), r[3].event.id);
    }

    #[tokio::test]
    async fn ids_of_rolled_back_writes_leave_no_gap() {
        let (store, bus) = bus().await;
        let mut rx = bus.subscribe();
        let r = record(&store, 4).await;
        // What a transaction that took an id and rolled back leaves: no row.
        let gone = r[1].event.id;
        store.connection().execute_unprepared(&format!("DELETE FROM session_events WHERE id = {gone}")).await.unwrap();
        for i in [0, 2, 3] {
            bus.publish(&r[i]).await;
        }
        assert_eq!(received(&mut rx, 3).await, vec![r[0].event.id, r[2].event.id, r[3].event.id]);
    }
}
