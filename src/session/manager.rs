//! Game sessions on this node, behind one facade the API, the server and
//! the tests call. The work is done by types with one job each:
//!
//! - [`Recorder`](super::record): the record of a transition (persist,
//!   announce, drop lists, update the cache's copy) in one step;
//! - [`start`](super::start) and [`SessionTask`](super::task): reserving,
//!   launching, and the per-session task that owns the running game;
//! - [`attach`](super::attach): attaching signaling streams to sessions
//!   (what [`SessionHost`] opens);
//! - [`Fleet`](super::fleet): heartbeats, placement and the drain flag;
//!   [`failover`](super::failover): sessions of lost nodes.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio_util::task::TaskTracker;

use super::budget::Budget;
use super::cache_mirror::{Beats, CacheMirror, Heartbeat, Timing};
use super::contain::Containment;
pub use super::error::SessionError;
use super::events::EventBus;
use super::fleet::Fleet;
pub use super::fleet::FleetCounters;
use super::games::Game;
use super::lifecycle::{EndReason, SessionState, TransitionError};
use super::listing::{Key, Listings};
use super::placement::NodeInfo;
use super::record::Recorder;
use super::running::{Command, Register, Reply, Running};
pub use super::view::{Caller, CreateRequest, SessionView};
use super::{OpenRequest, Opened, StreamHost, Streams};
use crate::auth::Role;
use crate::config::Config;
use crate::media::quality::Quality;
use crate::media::stream::StreamEvent;
pub use crate::model::ids::SessionId;
use crate::model::ids::{NodeId, UserId};
use crate::signaling::protocol::ProtocolError;
use crate::store::{Store, StoreError};
use crate::sync::Locked;

/// The most sessions a list answers with.
pub const LIST_LIMIT: u64 = 200;

/// What `/metrics` shows of one session running here.
#[derive(Debug, Clone)]
pub struct SessionMetrics {
    pub id: SessionId,
    pub pipeline: String,
    /// The latest look at the player's connection.
    pub quality: Option<Quality>,
    /// The player's input counters.
    pub input: serde_json::Value,
}

/// Streams opened through signaling by one authenticated caller.
pub struct SessionHost {
    pub manager: Arc<Manager>,
    pub caller: Caller,
}

impl StreamHost for SessionHost {
    fn open(
        &self,
        req: OpenRequest,
        events: tokio::sync::mpsc::UnboundedSender<StreamEvent>,
    ) -> Result<Opened, ProtocolError> {
        self.manager.open_for(&self.caller, req, events)
    }
}

/// The sessions of this node.
pub struct Manager {
    pub(super) config: Arc<Config>,
    pub(super) store: Store,
    pub(super) streams: Arc<Streams>,
    games: Mutex<Arc<BTreeMap<String, Game>>>,
    pub(super) budget: Budget,
    /// How this node keeps a session's processes together and within its reservation.
    pub(super) containment: Arc<Containment>,
    bus: Arc<EventBus>,
    pub(super) recorder: Arc<Recorder>,
    pub(super) register: Arc<Register>,
    pub(super) fleet: Arc<Fleet>,
    /// Session tasks: a session leaves the register before its final
    /// statistics and `cleanup` are recorded, and shutdown waits for those too.
    pub(super) tasks: TaskTracker,
    pub placements: FleetCounters,
    listings: Arc<Listings>,
    listings_watch: tokio::task::JoinHandle<()>,
}

impl Drop for Manager {
    fn drop(&mut self) {
        self.listings_watch.abort();
    }
}

impl Manager {
    pub fn new(config: Arc<Config>, store: Store, streams: Arc<Streams>, bus: EventBus, node: NodeId) -> Self {
        let budget = Budget::from_config(&config.node);
        let containment = Containment::detect(node.as_str());
        let address = if config.node.advertise.is_empty() {
            format!("http://{}", config.server.listen)
        } else {
            config.node.advertise.trim_end_matches('/').to_string()
        };
        let timing = Timing::from_config(&config.node);
        let fleet = Arc::new(Fleet::new(
            node.clone(),
            address.clone(),
            timing,
            bus.cache().clone(),
            budget.clone(),
            streams.catalog().clone(),
            &containment,
        ));
        let beat_fleet = fleet.clone();
        let mirror = CacheMirror::start(Heartbeat {
            cache: bus.cache().clone(),
            store: store.clone(),
            node,
            address,
            timing,
            describe: Box::new(move || beat_fleet.describe()),
        });
        let listings = Arc::new(Listings::default());
        let listings_watch = listings.watch(&bus);
        let bus = Arc::new(bus);
        let recorder = Arc::new(Recorder::new(store.clone(), bus.clone(), listings.clone(), mirror));
        Manager {
            config,
            store,
            streams,
            games: Mutex::new(Arc::default()),
            budget,
            containment,
            bus,
            recorder,
            register: Arc::default(),
            fleet,
            tasks: TaskTracker::new(),
            placements: FleetCounters::default(),
            listings,
            listings_watch,
        }
    }

    pub fn address(&self) -> &str {
        self.fleet.address()
    }

    pub fn timing(&self) -> Timing {
        self.fleet.timing()
    }

    pub(super) fn store(&self) -> &Store {
        &self.store
    }

    pub(super) fn recorder(&self) -> &Recorder {
        &self.recorder
    }

    pub fn heartbeats(&self) -> &Beats {
        self.recorder.mirror().beats()
    }

    /// This node as its heartbeat describes it, read now.
    pub fn local_info(&self) -> Option<NodeInfo> {
        Some(self.fleet.describe())
    }

    /// The nodes that could run a new session of `req`'s game, best first.
    /// On the in-process cache this node is the whole fleet, and it answers
    /// for itself (with its own reasons when it is full).
    pub async fn place(&self, req: &CreateRequest) -> Result<Vec<NodeInfo>, SessionError> {
        let game = self.game(&req.game)?;
        self.fleet.place(&game, &self.placements).await
    }

    /// The ranking alone (what the placement benchmark times).
    pub fn rank(
        &self,
        published: Vec<serde_json::Value>,
        local: Vec<NodeInfo>,
        game: &Game,
    ) -> Result<Vec<NodeInfo>, SessionError> {
        self.fleet.rank(published, local, game)
    }

    /// Where a session another node runs is reached: `Some(address)` when
    /// it is unfinished and its node is alive elsewhere.
    pub async fn owner_elsewhere(&self, caller: &Caller, id: &SessionId) -> Result<Option<String>, SessionError> {
        if self.register.contains(id) {
            return Ok(None);
        }
        let view = self.view(caller, id).await?;
        self.fleet.owner_of(&view).await
    }

    pub fn node(&self) -> &NodeId {
        self.fleet.node()
    }

    pub fn budget(&self) -> &Budget {
        &self.budget
    }

    pub fn containment(&self) -> &Arc<Containment> {
        &self.containment
    }

    pub fn bus(&self) -> &EventBus {
        &self.bus
    }

    pub fn streams(&self) -> &Arc<Streams> {
        &self.streams
    }

    /// Replaces the games catalog (the database copy follows).
    pub async fn set_games(&self, games: BTreeMap<String, Game>) -> Result<(), StoreError> {
        self.store.sync_games(&games.values().cloned().collect::<Vec<_>>()).await?;
        *self.games.locked() = Arc::new(games);
        Ok(())
    }

    pub fn games(&self) -> Arc<BTreeMap<String, Game>> {
        self.games.locked().clone()
    }

    fn game(&self, id: &str) -> Result<Game, SessionError> {
        self.games().get(id).cloned().ok_or_else(|| {
            SessionError::BadRequest(format!("no game named `{}`", id.chars().take(64).collect::<String>()))
        })
    }

    /// Starts a session of a catalog game for `caller`.
    pub async fn create(self: &Arc<Self>, caller: &Caller, req: CreateRequest) -> Result<SessionView, SessionError> {
        if caller.role == Role::Viewer {
            return Err(SessionError::Forbidden(
                "viewers watch sessions shared with them; they cannot start one".into(),
            ));
        }
        let game = self.game(&req.game)?;
        let pipeline = game.pipeline.clone();
        let running = self.start(caller, Some(game), &pipeline, req.params, false).await?;
        self.view(caller, &running.id).await
    }

    /// The session if the caller may see it (others get `NotFound`). This
    /// node's own unfinished sessions are answered from memory.
    pub async fn view(&self, caller: &Caller, id: &SessionId) -> Result<SessionView, SessionError> {
        let known = self.recorder.known(id);
        let view = match known {
            Some(v) => v,
            None => SessionView::from_row(&self.store.session(id).await?),
        };
        let view = self.with_node_details(view);
        if view.may_watch(caller) {
            Ok(view)
        } else {
            Err(SessionError::NotFound(id.to_string()))
        }
    }

    /// The sessions the caller may see, newest first (at most [`LIST_LIMIT`]).
    pub async fn list(&self, caller: &Caller) -> Result<Vec<SessionView>, SessionError> {
        let key = if caller.role == Role::Admin { Key::Admin } else { Key::User(caller.user_id.clone()) };
        let views = match self.listings.get(&key) {
            Some(v) => v,
            None => {
                let ticket = self.listings.ticket();
                let rows = match &key {
                    Key::Admin => self.store.all_sessions(LIST_LIMIT).await?,
                    Key::User(u) => self.store.sessions_visible_to(u, LIST_LIMIT).await?,
                };
                let views = Arc::new(rows.iter().map(SessionView::from_row).collect::<Vec<_>>());
                self.listings.put(key, ticket, views.clone());
                views
            }
        };
        Ok(views.iter().map(|v| self.with_node_details(v.clone())).collect())
    }

    /// Adds what only this node knows of a session it runs: quality and input.
    fn with_node_details(&self, mut view: SessionView) -> SessionView {
        if let Some(live) = self.register.get(&view.id) {
            view.quality = live.quality.locked().as_ref().map(|(q, at)| {
                let mut v = serde_json::to_value(q).unwrap_or_default();
                v["at"] = at.to_rfc3339().into();
                v
            });
            let mut input = live.injector.counters().snapshot();
            input["gamepads"] = serde_json::to_value(live.injector.gamepad_path()).unwrap_or_default();
            input["display"] = live.stream_params.get("display").cloned().unwrap_or_default();
            view.input = Some(input);
        }
        view
    }

    /// The live session, if the caller may control it.
    async fn controllable(&self, caller: &Caller, id: &SessionId) -> Result<Arc<Running>, SessionError> {
        let view = self.view(caller, id).await?;
        if caller.role != Role::Admin && view.owner != caller.user_id {
            return Err(SessionError::Forbidden("only the session's owner or an admin may do this".into()));
        }
        let live = self.register.get(id);
        live.ok_or_else(|| SessionError::Transition(TransitionError { from: view.state.name(), event: "control" }))
    }

    async fn ask(
        &self,
        caller: &Caller,
        id: &SessionId,
        make: impl FnOnce(Reply) -> Command,
    ) -> Result<SessionView, SessionError> {
        let live = self.controllable(caller, id).await?;
        let (tx, rx) = oneshot::channel();
        live.commands.send(make(tx)).map_err(|_| SessionError::Unavailable("the session is ending".into()))?;
        rx.await.map_err(|_| SessionError::Unavailable("the session ended meanwhile".into()))?
    }

    pub async fn pause(&self, caller: &Caller, id: &SessionId) -> Result<SessionView, SessionError> {
        self.ask(caller, id, Command::Pause).await
    }

    pub async fn resume(&self, caller: &Caller, id: &SessionId) -> Result<SessionView, SessionError> {
        self.ask(caller, id, Command::Resume).await
    }

    /// Ends the session; answers once it is `Terminated` (cleanup follows).
    pub async fn end(&self, caller: &Caller, id: &SessionId) -> Result<SessionView, SessionError> {
        self.ask(caller, id, |r| Command::End(EndReason::User, Some(r))).await
    }

    /// Sets who may watch.
    pub async fn share(
        &self,
        caller: &Caller,
        id: &SessionId,
        viewers: Vec<UserId>,
    ) -> Result<SessionView, SessionError> {
        let view = self.view(caller, id).await?;
        if caller.role != Role::Admin && view.owner != caller.user_id {
            return Err(SessionError::Forbidden("only the session's owner or an admin may share it".into()));
        }
        if viewers.len() > 32 || viewers.iter().any(|v| v.as_str().is_empty() || v.as_str().len() > 128) {
            return Err(SessionError::BadRequest("at most 32 viewers, each a user id of 1 to 128 characters".into()));
        }
        let shared = self.recorder.share(&view, &viewers).await?;
        if let Some(live) = self.register.get(id) {
            *live.viewers.locked() = viewers.clone();
            live.end_streams_where(
                |a| !a.player && !a.admin && !viewers.contains(&a.user),
                "no longer shared with you",
            );
        }
        Ok(shared)
    }

    /// Sessions this node left unfinished when it stopped without cleanup
    /// (a crash, kill -9): leftover processes are killed and each record is
    /// taken through Error to Cleanup, so none stays open.
    pub async fn reconcile(&self) -> Result<usize, StoreError> {
        let rows = self.store.unfinished_on(self.node()).await?;
        let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        // Every cgroup under this node's parent, whatever its processes did; then
        // by the session variable, for processes outside any cgroup.
        let reaped = self.containment.reap_leftovers() + super::launch::reap_leftovers(&ids);
        if reaped > 0 {
            tracing::warn!(reaped, "killed processes left by sessions of an earlier run");
        }
        for row in &rows {
            let state: SessionState = serde_json::from_str(&row.state).unwrap_or(SessionState::Idle);
            let reason = format!("the service stopped while the session was {}", state.name());
            if !self.close_orphan(row, &reason, &serde_json::json!({"reconciled": true})).await {
                tracing::error!(session = %row.id, "reconciling: the session could not be closed");
            }
            let _ = std::fs::remove_dir_all(self.config.server.data_dir.join("run").join(&row.id));
        }
        Ok(rows.len())
    }

    /// Stops taking new sessions at an admin's request; the running ones
    /// play on, until [`Manager::undrain`].
    pub fn drain(&self) {
        self.fleet.set_draining();
        // The other nodes stop placing here at once, not at the next beat.
        self.recorder.mirror().beat_now();
    }

    /// Stops taking new sessions for good: the service is stopping.
    pub fn drain_for_shutdown(&self) {
        self.fleet.set_stopping();
        self.recorder.mirror().beat_now();
    }

    /// Takes new sessions again after an admin's drain; false when the
    /// service is stopping, which no one undoes.
    pub fn undrain(&self) -> bool {
        let taking = self.fleet.set_taking();
        self.recorder.mirror().beat_now();
        taking
    }

    pub fn is_draining(&self) -> bool {
        self.fleet.is_draining()
    }

    /// Waits, at most `deadline`, until no session runs on this node; says
    /// whether none does.
    pub async fn wait_until_none_running(&self, deadline: Duration) -> bool {
        tokio::time::timeout(deadline, self.register.none_running()).await.is_ok()
    }

    /// Ends every running session (the node is going away) and waits, at
    /// most `deadline`, until each session's task has recorded its cleanup.
    pub async fn shutdown(&self, deadline: Duration) {
        for running in self.register.all() {
            let _ = running.commands.send(Command::End(EndReason::Shutdown, None));
        }
        self.tasks.close();
        if tokio::time::timeout(deadline, self.tasks.wait()).await.is_err() {
            tracing::warn!(sessions = self.tasks.len(), "session tasks still ending after {deadline:?}");
        }
    }

    /// Every node whose heartbeat the cache holds: what it published (id,
    /// address, budget, sessions, draining), in id order.
    pub async fn nodes(&self) -> Result<Vec<serde_json::Value>, crate::store::cache::CacheError> {
        self.fleet.published().await
    }

    /// Nodes whose heartbeat the cache holds (this one included while the cache is up).
    pub async fn live_nodes(&self) -> Result<Vec<NodeId>, crate::store::cache::CacheError> {
        self.fleet.nodes_with_heartbeat().await
    }

    /// What `/metrics` shows of each session running here, by id.
    pub fn session_metrics(&self) -> Vec<SessionMetrics> {
        let mut out: Vec<SessionMetrics> = self
            .register
            .all()
            .iter()
            .map(|r| SessionMetrics {
                id: r.id.clone(),
                pipeline: r.pipeline.clone(),
                quality: r.quality.locked().as_ref().map(|(q, _)| q.clone()),
                input: r.injector.counters().snapshot(),
            })
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }

    /// This node's unfinished sessions by state (every state named, zeros too).
    pub fn states(&self) -> BTreeMap<&'static str, usize> {
        self.recorder.states()
    }

    /// Number of sessions running on this node.
    pub fn running(&self) -> usize {
        self.register.len()
    }
}

#[cfg(test)]
mod tests {
    use super::CreateRequest;

    #[test]
    fn create_requests_refuse_unknown_fields() {
        let ok: CreateRequest = serde_json::from_str(r#"{"game":"a","params":{"width":1}}"#).unwrap();
        assert_eq!(ok.game, "a");
        let e = serde_json::from_str::<CreateRequest>(r#"{"game":"a","colour":1}"#).unwrap_err();
        assert!(e.to_string().contains("unknown field `colour`"), "{e}");
    }
}
