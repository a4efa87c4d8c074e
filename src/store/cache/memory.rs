//! The in-process backend: a map with expiry times and a [`Hub`] for pub/sub.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::broadcast;
use tokio::time::Instant;

use super::hub::Hub;
use super::Received;

/// How often a write may also drop expired entries nobody read again.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

pub(super) struct Memory {
    state: Mutex<State>,
    hub: Hub,
}

struct State {
    entries: HashMap<String, Entry>,
    last_sweep: Instant,
}

struct Entry {
    value: String,
    /// `None`: no TTL, or one too long to represent.
    expires: Option<Instant>,
}

impl Entry {
    fn live(&self, now: Instant) -> bool {
        self.expires.is_none_or(|at| now < at)
    }
}

impl Memory {
    pub(super) fn new() -> Self {
        Memory { state: Mutex::new(State { entries: HashMap::new(), last_sweep: Instant::now() }), hub: Hub::default() }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn put(&self, key: &str, value: &str, ttl: Option<Duration>) {
        let now = Instant::now();
        let mut state = self.lock();
        if now.duration_since(state.last_sweep) >= SWEEP_EVERY {
            state.entries.retain(|_, e| e.live(now));
            state.last_sweep = now;
        }
        let expires = ttl.and_then(|ttl| now.checked_add(ttl));
        state.entries.insert(key.to_string(), Entry { value: value.to_string(), expires });
    }

    pub(super) fn get(&self, key: &str) -> Option<String> {
        let now = Instant::now();
        let mut state = self.lock();
        match state.entries.get(key) {
            Some(e) if e.live(now) => Some(e.value.clone()),
            Some(_) => {
                state.entries.remove(key);
                None
            }
            None => None,
        }
    }

    pub(super) fn delete(&self, key: &str) {
        self.lock().entries.remove(key);
    }

    pub(super) fn keys(&self, prefix: &str) -> Vec<String> {
        let now = Instant::now();
        let mut keys: Vec<String> = self
            .lock()
            .entries
            .iter()
            .filter(|(k, e)| k.starts_with(prefix) && e.live(now))
            .map(|(k, _)| k.clone())
            .collect();
        keys.sort();
        keys
    }

    pub(super) fn publish(&self, channel: &str, message: &str) {
        self.hub.deliver(channel, Received::Message(message.to_string()));
    }

    pub(super) fn subscribe(&self, channel: &str) -> (String, broadcast::Receiver<Received>) {
        (channel.to_string(), self.hub.join(channel))
    }

    pub(super) fn unsubscribe(&self, channel: &str) {
        self.hub.remove_if_idle(channel);
    }
}
