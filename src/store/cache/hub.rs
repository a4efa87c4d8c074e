//! Fan-out of channel messages to local subscribers: one broadcast queue per
//! channel, shared by both backends (Redis delivers into it from one
//! connection, the in-process backend publishes straight into it).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::sync::broadcast;

use super::Received;

/// Messages a subscriber may fall behind by before it is told it lagged.
const CAPACITY: usize = 4096;

#[derive(Default)]
pub(super) struct Hub {
    channels: Mutex<HashMap<String, broadcast::Sender<Received>>>,
}

impl Hub {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, broadcast::Sender<Received>>> {
        // The map stays consistent whatever a panicking holder was doing.
        self.channels.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A receiver for `channel`, creating the channel if needed.
    pub(super) fn join(&self, channel: &str) -> broadcast::Receiver<Received> {
        let mut channels = self.lock();
        match channels.get(channel) {
            Some(tx) => tx.subscribe(),
            None => {
                let (tx, rx) = broadcast::channel(CAPACITY);
                channels.insert(channel.to_string(), tx);
                rx
            }
        }
    }

    /// Hands `item` to every current subscriber of `channel`.
    pub(super) fn deliver(&self, channel: &str, item: Received) {
        if let Some(tx) = self.lock().get(channel) {
            // No receiver: the last subscription is being dropped, and its own
            // cleanup removes the channel (and unsubscribes); removing it here
            // would skip that.
            let _ = tx.send(item);
        }
    }

    /// Hands `item` to every subscriber of every channel.
    pub(super) fn deliver_all(&self, item: Received) {
        for tx in self.lock().values() {
            let _ = tx.send(item.clone());
        }
    }

    /// Forgets `channel` if nobody listens; true if it did.
    pub(super) fn remove_if_idle(&self, channel: &str) -> bool {
        let mut channels = self.lock();
        match channels.get(channel) {
            Some(tx) if tx.receiver_count() == 0 => {
                channels.remove(channel);
                true
            }
            _ => false,
        }
    }

    /// Channels that somebody listens to.
    pub(super) fn channels(&self) -> Vec<String> {
        self.lock().iter().filter(|(_, tx)| tx.receiver_count() > 0).map(|(name, _)| name.clone()).collect()
    }
}
