//! What a running session shares between its task, its streams and the API,
//! and the register of this node's running sessions.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot, watch, Notify};
use tokio::time::Instant;

use super::error::SessionError;
use super::view::SessionView;
use crate::input::Injector;
use crate::media::quality::{Quality, QualityProbe};
use crate::media::stream::{Pauser, StreamEvent};
use crate::model::ids::{SessionId, UserId};
use crate::signaling::protocol::StreamId;
use crate::sync::Locked;

/// A running session: created when its game launched, dropped from the
/// register when its task ends it.
pub(super) struct Running {
    pub id: SessionId,
    pub owner: UserId,
    pub pipeline: String,
    /// Parameters every stream of the session is built with.
    pub stream_params: std::collections::BTreeMap<String, serde_json::Value>,
    pub audio_server: Option<String>,
    /// A session made for one stream alone ends when that stream does.
    pub ephemeral: bool,
    pub viewers: Mutex<Vec<UserId>>,
    pub paused: Mutex<bool>,
    pub last_activity: Mutex<Instant>,
    /// The quality monitor's latest sample and when it was taken, for the API.
    pub quality: Mutex<Option<(Quality, chrono::DateTime<chrono::Utc>)>>,
    /// Where the player's input goes: the display and the virtual gamepads.
    pub injector: Arc<Injector>,
    pub streams: Mutex<HashMap<StreamId, Attached>>,
    /// Told whenever a stream detaches, so the task waits for the last one.
    pub detached: Notify,
    pub commands: mpsc::UnboundedSender<Command>,
}

/// A stream attached to a running session.
pub(super) struct Attached {
    pub player: bool,
    /// Watches by role, not by being shared with.
    pub admin: bool,
    pub user: UserId,
    /// Injects into the signaling connection's event channel to end it.
    pub events: mpsc::UnboundedSender<StreamEvent>,
    pub pauser: Option<Pauser>,
    pub quality: Option<QualityProbe>,
}

pub(super) type Reply = oneshot::Sender<Result<SessionView, SessionError>>;

/// What the session's task is asked to do.
pub(super) enum Command {
    PeerConnected,
    StreamFailed(String),
    PlayerLeft,
    Pause(Reply),
    Resume(Reply),
    End(super::lifecycle::EndReason, Option<Reply>),
}

impl Running {
    pub fn set_paused(&self, paused: bool) {
        *self.paused.locked() = paused;
        if paused {
            self.injector.release_all();
        }
        for a in self.streams.locked().values() {
            if let Some(p) = &a.pauser {
                p.set_paused(paused);
            }
        }
    }

    pub fn end_streams(&self, reason: &str) {
        self.end_streams_where(|_| true, reason);
    }

    /// Ends the matching streams; their clients get a `bye` with `reason`.
    pub fn end_streams_where(&self, which: impl Fn(&Attached) -> bool, reason: &str) {
        for a in self.streams.locked().values() {
            if which(a) {
                let _ = a.events.send(StreamEvent::Ended(reason.to_string()));
            }
        }
    }

    /// Resolves once no stream is attached.
    pub async fn all_detached(&self) {
        // One waiter (the task): `notify_one` keeps a wake-up that comes
        // between the look and the wait.
        while !self.streams.locked().is_empty() {
            self.detached.notified().await;
        }
    }

    pub fn detach(&self, stream_id: &StreamId) {
        self.streams.locked().remove(stream_id);
        self.detached.notify_one();
    }

    pub fn touch(&self) {
        *self.last_activity.locked() = Instant::now();
    }

    /// Passes an event to the player's signaling connection, if one is open.
    pub fn tell_player(&self, ev: StreamEvent) {
        let streams = self.streams.locked();
        if let Some(a) = streams.values().find(|a| a.player) {
            let _ = a.events.send(ev);
        }
    }

    pub fn player_quality(&self) -> Option<QualityProbe> {
        self.streams.locked().values().find(|a| a.player)?.quality.clone()
    }
}

/// This node's running sessions by id, with a count that can be awaited.
pub(super) struct Register {
    sessions: Mutex<HashMap<SessionId, Arc<Running>>>,
    count: watch::Sender<usize>,
}

impl Default for Register {
    fn default() -> Self {
        Register { sessions: Mutex::default(), count: watch::Sender::new(0) }
    }
}

impl Register {
    pub fn get(&self, id: &SessionId) -> Option<Arc<Running>> {
        self.sessions.locked().get(id).cloned()
    }

    pub fn contains(&self, id: &SessionId) -> bool {
        self.sessions.locked().contains_key(id)
    }

    pub fn insert(&self, running: Arc<Running>) {
        let mut sessions = self.sessions.locked();
        sessions.insert(running.id.clone(), running);
        self.count.send_replace(sessions.len());
    }

    pub fn remove(&self, id: &SessionId) {
        let mut sessions = self.sessions.locked();
        sessions.remove(id);
        self.count.send_replace(sessions.len());
    }

    pub fn all(&self) -> Vec<Arc<Running>> {
        self.sessions.locked().values().cloned().collect()
    }

    pub fn len(&self) -> usize {
        self.sessions.locked().len()
    }

    /// Resolves when no session runs here.
    pub async fn none_running(&self) {
        let mut rx = self.count.subscribe();
        let _ = rx.wait_for(|n| *n == 0).await;
    }
}
