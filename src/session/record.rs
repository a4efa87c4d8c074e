//! The record of a transition: one step persists it, announces it on the
//! event bus, drops the session lists it changes, and updates this node's
//! copy of its unfinished sessions (in memory and in the cache), so no caller
//! can do one without the others.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::cache_mirror::CacheMirror;
use super::error::SessionError;
use super::events::EventBus;
use super::lifecycle::{Event, SessionState};
use super::listing::Listings;
use super::view::SessionView;
use crate::model::ids::{SessionId, UserId};
use crate::store::{NewSession, Store};
use crate::sync::Locked;

pub(super) struct Recorder {
    store: Store,
    bus: Arc<EventBus>,
    listings: Arc<Listings>,
    mirror: CacheMirror,
    /// Unfinished sessions of this node, as last recorded.
    views: Mutex<HashMap<SessionId, SessionView>>,
}

impl Recorder {
    pub fn new(store: Store, bus: Arc<EventBus>, listings: Arc<Listings>, mirror: CacheMirror) -> Self {
        Recorder { store, bus, listings, mirror, views: Mutex::default() }
    }

    pub fn mirror(&self) -> &CacheMirror {
        &self.mirror
    }

    /// Records a new session of this node (state `Idle`).
    pub async fn created(&self, new: NewSession<'_>) -> Result<SessionView, SessionError> {
        let (row, event) = self.store.create_session(new).await?;
        self.listings.touch([&event.owner]);
        self.bus.publish(&event).await;
        let view = SessionView::from_row(&row);
        self.remember(&view);
        Ok(view)
    }

    /// Records and announces a transition of one of this node's sessions.
    #[tracing::instrument(level = "debug", skip(self, event), fields(event = event.name()))]
    pub async fn transition(&self, session: &SessionId, event: Event) -> Result<SessionView, SessionError> {
        let view = self.record(session, event).await?;
        self.remember(&view);
        Ok(view)
    }

    /// Records and announces a transition, without keeping the session as
    /// one of this node's own (for sessions of lost nodes and earlier runs).
    pub async fn record(&self, id: &SessionId, event: Event) -> Result<SessionView, SessionError> {
        let (row, _, record) = self.store.transition(id, event).await?;
        self.listings.touch(std::iter::once(&record.owner).chain(&record.viewers));
        self.bus.publish(&record).await;
        Ok(SessionView::from_row(&row))
    }

    /// Final transitions must land even through a short database hiccup.
    pub async fn transition_retrying(&self, id: &SessionId, event: Event) -> Result<SessionView, String> {
        let mut delay = Duration::from_millis(100);
        for attempt in 0..6 {
            match self.transition(id, event.clone()).await {
                Ok(v) => return Ok(v),
                Err(SessionError::Store(e)) if attempt < 5 => {
                    tracing::warn!(session = %id, error = %e, "retrying a final transition");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
                Err(e) => return Err(e.to_string()),
            }
        }
        Err("gave up".into())
    }

    /// Best effort for a session that failed before its task existed.
    pub async fn fail_and_clean(&self, id: &SessionId, reason: &str) {
        let _ = self.transition(id, Event::Fail { reason: reason.into() }).await;
        let _ = self.transition(id, Event::CleanedUp).await;
    }

    /// The latest view of an unfinished session of this node.
    pub fn known(&self, id: &SessionId) -> Option<SessionView> {
        self.views.locked().get(id).cloned()
    }

    /// This node's unfinished sessions by state (every state named, zeros too).
    pub fn states(&self) -> BTreeMap<&'static str, usize> {
        let mut out: BTreeMap<&'static str, usize> =
            SessionState::NAMES.iter().filter(|n| **n != "cleanup").map(|n| (*n, 0)).collect();
        for v in self.views.locked().values() {
            *out.entry(v.state.name()).or_default() += 1;
        }
        out
    }

    /// Keeps the latest view of an unfinished session of this node, in memory
    /// and in the cache. Every change of such a session goes through this
    /// node, so the copy is never behind the database.
    fn remember(&self, view: &SessionView) {
        let mut views = self.views.locked();
        if view.state.is_final() {
            views.remove(&view.id);
            self.mirror.update(view);
            // The fleet sees the freed room at once, not at the next beat.
            self.mirror.beat_now();
            return;
        }
        match views.get_mut(&view.id) {
            // A transition that read the row before a newer one landed.
            Some(old) if old.version > view.version => {}
            // Viewers change only through `share`, which sets them here; a
            // transition's row may predate that.
            Some(old) => {
                let viewers = std::mem::take(&mut old.viewers);
                *old = SessionView { viewers, ..view.clone() };
                self.mirror.update(old);
            }
            None => {
                views.insert(view.id.clone(), view.clone());
                self.mirror.update(view);
                self.mirror.beat_now();
            }
        }
    }

    /// Records who may watch, and tells every node whose lists that changes.
    pub async fn share(&self, view: &SessionView, viewers: &[UserId]) -> Result<SessionView, SessionError> {
        let row = self.store.set_viewers(&view.id, viewers).await?;
        let concerned: Vec<UserId> = std::iter::once(view.owner.clone())
            .chain(view.viewers.iter().cloned())
            .chain(viewers.iter().cloned())
            .collect();
        self.listings.touch(&concerned);
        self.listings.announce(self.bus.cache(), &concerned).await;
        if let Some(v) = self.views.locked().get_mut(&view.id) {
            v.viewers = viewers.to_vec();
            self.mirror.update(v);
        }
        Ok(SessionView::from_row(&row))
    }
}
