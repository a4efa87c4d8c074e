//! Session lists kept between reads, per caller.
//!
//! A list is a database query, and clients poll it; the same answer is kept
//! until something that could change it happens. What changes a session's row
//! is either a transition, which every node learns from the event bus, or a
//! change of its viewers, which the owning node announces on the cache's
//! `session-touched` channel. Either drops the lists of the users concerned
//! (owner, viewers) and the admins' list; this node's own changes drop them
//! before the change is answered, so a caller reads its own writes. A missed
//! announcement (the cache reconnected, this node fell behind) drops every
//! list, and no list is older than [`MAX_AGE`] in any case. While the
//! announcements cannot be heard, nothing is kept.

use crate::model::ids::UserId;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::broadcast::error::RecvError;

use super::events::EventBus;
use super::view::SessionView;
use crate::store::cache::{Cache, Received};
use crate::sync::Locked;

/// The last line of defence against a change nobody announced.
pub const MAX_AGE: Duration = Duration::from_secs(1);
const CHANNEL: &str = "session-touched";
/// Past this many entries every list is dropped (memory stays bounded).
const MAX_ENTRIES: usize = 10_000;

/// Whose list.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    /// Every session.
    Admin,
    /// The sessions a user owns or was shared.
    User(UserId),
}

enum Slot {
    Kept {
        views: Arc<Vec<SessionView>>,
        at: Instant,
    },
    /// Dropped at this change: an answer read before it must not be kept.
    Dropped(u64),
}

/// A read in progress: what the lists looked like when it started.
#[derive(Debug, Clone, Copy)]
pub struct Ticket(u64);

#[derive(Default)]
pub struct Listings {
    slots: Mutex<HashMap<Key, Slot>>,
    /// Counts changes; each drop is stamped with it.
    changes: AtomicU64,
    /// Answers read before this change are not kept (set when everything is dropped).
    floor: AtomicU64,
    /// The announcements are heard: keeping lists is safe.
    listening: AtomicBool,
}

impl Listings {
    /// A kept list, if it is young enough.
    pub fn get(&self, key: &Key) -> Option<Arc<Vec<SessionView>>> {
        if !self.listening.load(Ordering::SeqCst) {
            return None;
        }
        match self.slots.locked().get(key) {
            Some(Slot::Kept { views, at }) if at.elapsed() < MAX_AGE => Some(views.clone()),
            _ => None,
        }
    }

    /// Taken before reading the database for `key`.
    pub fn ticket(&self) -> Ticket {
        Ticket(self.changes.load(Ordering::SeqCst))
    }

    /// Keeps what was read under `ticket`, unless the list changed meanwhile.
    pub fn put(&self, key: Key, ticket: Ticket, views: Arc<Vec<SessionView>>) {
        if !self.listening.load(Ordering::SeqCst) || ticket.0 < self.floor.load(Ordering::SeqCst) {
            return;
        }
        let mut slots = self.slots.locked();
        if matches!(slots.get(&key), Some(Slot::Dropped(at)) if *at > ticket.0) {
            return;
        }
        if slots.len() >= MAX_ENTRIES {
            self.drop_locked(&mut slots);
            return;
        }
        slots.insert(key, Slot::Kept { views, at: Instant::now() });
    }

    /// Drops the lists `users` and the admins see.
    pub fn touch<'a>(&self, users: impl IntoIterator<Item = &'a UserId>) {
        let mut slots = self.slots.locked();
        let at = self.changes.fetch_add(1, Ordering::SeqCst) + 1;
        if slots.len() >= MAX_ENTRIES {
            self.drop_locked(&mut slots);
            return;
        }
        slots.insert(Key::Admin, Slot::Dropped(at));
        for u in users {
            slots.insert(Key::User(u.clone()), Slot::Dropped(at));
        }
    }

    /// Drops every list.
    pub fn drop_all(&self) {
        let mut slots = self.slots.locked();
        self.drop_locked(&mut slots);
    }

    fn drop_locked(&self, slots: &mut HashMap<Key, Slot>) {
        let at = self.changes.fetch_add(1, Ordering::SeqCst) + 1;
        self.floor.store(at, Ordering::SeqCst);
        slots.clear();
    }

    /// Tells the other nodes that these users' lists changed without a transition.
    pub async fn announce(&self, cache: &Cache, users: &[UserId]) {
        let text = serde_json::to_string(users).unwrap_or_default();
        if let Err(e) = cache.publish(CHANNEL, &text).await {
            tracing::warn!(error = %e, "a list change was not announced; other nodes keep their lists at most {MAX_AGE:?}");
        }
    }

    /// Drops lists as transitions and announcements arrive, for as long as
    /// `self` lives; keeps nothing while either cannot be heard.
    pub fn watch(self: &Arc<Self>, bus: &EventBus) -> tokio::task::JoinHandle<()> {
        let weak = Arc::downgrade(self);
        let mut events = bus.subscribe();
        let cache = bus.cache().clone();
        tokio::spawn(async move {
            let mut retry = Duration::from_millis(100);
            loop {
                let mut touched = match cache.subscribe(CHANNEL).await {
                    Ok(s) => s,
                    Err(e) => {
                        if weak.strong_count() == 0 {
                            return;
                        }
                        tracing::debug!(error = %e, "list announcements unavailable; lists are not kept");
                        tokio::time::sleep(retry).await;
                        retry = (retry * 2).min(Duration::from_secs(5));
                        continue;
                    }
                };
                retry = Duration::from_millis(100);
                match weak.upgrade() {
                    Some(l) => {
                        l.drop_all();
                        l.listening.store(true, Ordering::SeqCst);
                    }
                    None => return,
                }
                loop {
                    let heard = tokio::select! {
                        e = events.recv() => match e {
                            Ok(m) => Heard::Users(std::iter::once(m.owner.clone()).chain(m.viewers.iter().cloned()).collect()),
                            Err(RecvError::Lagged(_)) => Heard::Missed,
                            Err(RecvError::Closed) => return,
                        },
                        t = touched.recv() => match t {
                            Some(Received::Message(text)) => match serde_json::from_str::<Vec<UserId>>(&text) {
                                Ok(users) => Heard::Users(users),
                                Err(_) => Heard::Missed,
                            },
                            Some(Received::Reconnected | Received::Lagged(_)) => Heard::Missed,
                            None => Heard::Deaf,
                        },
                    };
                    let Some(l) = weak.upgrade() else { return };
                    match heard {
                        Heard::Users(users) => l.touch(&users),
                        Heard::Missed => l.drop_all(),
                        Heard::Deaf => {
                            l.listening.store(false, Ordering::SeqCst);
                            l.drop_all();
                            break;
                        }
                    }
                }
            }
        })
    }
}

enum Heard {
    Users(Vec<UserId>),
    Missed,
    /// The announcements' subscription ended.
    Deaf,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listening() -> Listings {
        let l = Listings::default();
        l.listening.store(true, Ordering::SeqCst);
        l
    }

    fn list() -> Arc<Vec<SessionView>> {
        Arc::new(Vec::new())
    }

    #[test]
    fn a_kept_list_is_answered_until_a_change_concerns_it() {
        let l = listening();
        let ann = Key::User("ann".into());
        let t = l.ticket();
        l.put(ann.clone(), t, list());
        assert!(l.get(&ann).is_some());
        l.touch(&[UserId::from("bob")]);
        assert!(l.get(&ann).is_some(), "bob's change leaves ann's list");
        assert!(l.get(&Key::Admin).is_none());
        l.touch(&[UserId::from("ann")]);
        assert!(l.get(&ann).is_none());
    }

    #[test]
    fn an_answer_read_before_a_change_is_not_kept() {
        let l = listening();
        let ann = Key::User("ann".into());
        let t = l.ticket();
        l.touch(&[UserId::from("ann")]);
        l.put(ann.clone(), t, list());
        assert!(l.get(&ann).is_none());
        let t = l.ticket();
        l.drop_all();
        l.put(ann.clone(), t, list());
        assert!(l.get(&ann).is_none(), "dropping everything also refuses reads that started before");
        let t = l.ticket();
        l.put(ann.clone(), t, list());
        assert!(l.get(&ann).is_some());
    }

    #[test]
    fn nothing_is_kept_while_changes_cannot_be_heard() {
        let l = Listings::default();
        let t = l.ticket();
        l.put(Key::Admin, t, list());
        assert!(l.get(&Key::Admin).is_none());
    }

    #[test]
    fn entries_stay_bounded() {
        let l = listening();
        for i in 0..MAX_ENTRIES + 10 {
            let t = l.ticket();
            l.put(Key::User(UserId::from(i.to_string())), t, list());
        }
        assert!(l.slots.lock().unwrap().len() <= MAX_ENTRIES);
    }
}
