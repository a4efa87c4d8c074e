//! Game sessions on this node: a session reserves its share of the node,
//! launches its game (with a private display and sound server when the
//! pipeline captures them), streams to its player and viewers, and always ends
//! through cleanup. Each live session is one task that owns its processes and
//! its reservation, so its transitions happen one at a time and every way out
//! (the player, a timeout, the game exiting, a failed stream, shutdown) frees
//! the same things.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::budget::{is_hardware_encoder, Budget, Need, NoRoom, Reservation};
use super::contain::{Containment, Limits};
use super::events::EventBus;
use super::games::Game;
use super::launch::{LaunchSpec, Launched};
use super::lifecycle::{EndReason, Event, QualityAlert, SessionState, TransitionError};
use super::listing::{Key, Listings};
use super::live_state::{node_key, Heartbeat, LiveState, Timing};
use super::placement::{self, Ask, NodeInfo, Nowhere};
pub use super::view::{Caller, SessionView};
use super::{OpenRequest, Opened, StreamControl, StreamHost, Streams};
use crate::auth::Role;
use crate::config::Config;
use crate::input::{self, Injector, SessionControl, StreamInput};
use crate::media::quality::{fps_ratio, Level, Monitor, Quality, QualityProbe, Thresholds, FPS_RATIO};
use crate::media::stream::{Pauser, StreamEvent};
use crate::signaling::protocol::{ErrorCode, ProtocolError, StreamId};
use crate::store::{NewSession, Store, StoreError};
use crate::sync::Locked;

/// The player's connection is looked at this often while the session is active.
const QUALITY_EVERY: Duration = Duration::from_secs(2);

/// The most sessions a list answers with.
pub const LIST_LIMIT: u64 = 200;

/// How long ending streams get to stop their pipelines before the display goes.
const STREAMS_STOP_WAIT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// Absent, or not visible to the caller (the two are not told apart).
    #[error("no session `{0}`")]
    NotFound(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    NoRoom(#[from] NoRoom),
    /// No node of the fleet has room (or none can run the pipeline).
    #[error(transparent)]
    Nowhere(#[from] Nowhere),
    #[error(transparent)]
    Transition(TransitionError),
    #[error("session `{0}` changed at the same time; retry")]
    Conflict(String),
    /// The node cannot do it now (a pipeline that cannot run, a game that did not start).
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for SessionError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(id) => SessionError::NotFound(id),
            StoreError::Transition(t) => SessionError::Transition(t),
            StoreError::Conflict(id) => SessionError::Conflict(id),
            e => SessionError::Store(e),
        }
    }
}

/// `POST /api/v1/sessions`.
#[derive(Debug, Clone, Default, serde::Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRequest {
    pub game: String,
    #[serde(default)]
    pub params: BTreeMap<String, serde_json::Value>,
}

/// The sessions of this node.
pub struct Manager {
    config: Arc<Config>,
    store: Store,
    streams: Arc<Streams>,
    games: Mutex<Arc<BTreeMap<String, Game>>>,
    budget: Budget,
    /// How this node keeps a session's processes together and within its reservation.
    containment: Arc<Containment>,
    node: String,
    bus: EventBus,
    live_state: LiveState,
    /// Unfinished sessions of this node, as last recorded.
    views: Mutex<HashMap<String, SessionView>>,
    live: Mutex<HashMap<String, Arc<Live>>>,
    /// Session tasks not yet finished: a session leaves `live` before its
    /// final statistics and `cleanup` are recorded, and shutdown waits for those too.
    tasks: std::sync::atomic::AtomicUsize,
    /// Set on SIGTERM with a drain deadline: running sessions play on, new ones go elsewhere.
    draining: Arc<std::sync::atomic::AtomicBool>,
    /// Where clients and other nodes reach this node.
    address: String,
    timing: Timing,
    /// What the heartbeat publishes; placement reads this node's own fresh.
    describe: Arc<dyn Fn() -> serde_json::Value + Send + Sync>,
    pub placements: FleetCounters,
    listings: Arc<Listings>,
    listings_watch: tokio::task::JoinHandle<()>,
}

impl Drop for Manager {
    fn drop(&mut self) {
        self.listings_watch.abort();
    }
}

/// What this node did for the fleet, for `/metrics`.
#[derive(Debug, Default)]
pub struct FleetCounters {
    /// Sessions of lost nodes this node closed.
    pub orphans_closed: std::sync::atomic::AtomicU64,
    pub decisions: std::sync::atomic::AtomicU64,
    pub failures: std::sync::atomic::AtomicU64,
    /// Sessions created elsewhere on this node's decision.
    pub forwarded: std::sync::atomic::AtomicU64,
    pub decision_micros: std::sync::atomic::AtomicU64,
}

/// What a running session shares with its streams and the API.
struct Live {
    id: String,
    owner: String,
    pipeline: String,
    /// Parameters every stream of the session is built with.
    stream_params: BTreeMap<String, serde_json::Value>,
    audio_server: Option<String>,
    /// A session made for one stream alone ends when that stream does.
    ephemeral: bool,
    viewers: Mutex<Vec<String>>,
    paused: Mutex<bool>,
    last_activity: Mutex<Instant>,
    /// The quality monitor's latest sample and when it was taken, for the API.
    quality: Mutex<Option<(Quality, chrono::DateTime<chrono::Utc>)>>,
    /// Where the player's input goes: the display and the virtual gamepads.
    injector: Arc<Injector>,
    streams: Mutex<HashMap<StreamId, Attached>>,
    commands: mpsc::UnboundedSender<Command>,
}

struct Attached {
    player: bool,
    /// Watches by role, not by being shared with.
    admin: bool,
    user: String,
    /// Injects into the signaling connection's event channel to end it.
    events: mpsc::UnboundedSender<StreamEvent>,
    pauser: Option<Pauser>,
    quality: Option<QualityProbe>,
}

type Reply = oneshot::Sender<Result<SessionView, SessionError>>;

enum Command {
    PeerConnected,
    StreamFailed(String),
    PlayerLeft,
    Pause(Reply),
    Resume(Reply),
    End(EndReason, Option<Reply>),
}

impl Manager {
    pub fn new(config: Arc<Config>, store: Store, streams: Arc<Streams>, bus: EventBus, node: String) -> Self {
        let budget = Budget::from_config(&config.node);
        let containment = Containment::detect(&node);
        let draining = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let address = if config.node.advertise.is_empty() {
            format!("http://{}", config.server.listen)
        } else {
            config.node.advertise.trim_end_matches('/').to_string()
        };
        let describe: Arc<dyn Fn() -> serde_json::Value + Send + Sync> = {
            let (budget, draining, catalog) = (budget.clone(), draining.clone(), streams.catalog().clone());
            let contained = containment.view();
            Arc::new(move || {
                let runnable: BTreeMap<String, String> = catalog
                    .list()
                    .into_iter()
                    .filter_map(|(name, e)| {
                        let c = e.current.filter(|c| c.runnable)?;
                        Some((name, c.selection.chosen_element().unwrap_or_default().to_string()))
                    })
                    .collect();
                serde_json::json!({
                    "budget": budget.view(),
                    "draining": draining.load(std::sync::atomic::Ordering::SeqCst),
                    "runnable": runnable,
                    "containment": contained,
                })
            })
        };
        let timing = Timing::from_config(&config.node);
        let beat_describe = describe.clone();
        let live_state = LiveState::start(Heartbeat {
            cache: bus.cache().clone(),
            store: store.clone(),
            node: node.clone(),
            address: address.clone(),
            timing,
            describe: Box::new(move || beat_describe()),
        });
        let listings = Arc::new(Listings::default());
        let listings_watch = listings.watch(&bus);
        Manager {
            config,
            store,
            streams,
            games: Mutex::new(Arc::default()),
            budget,
            containment,
            live_state,
            views: Mutex::default(),
            node,
            bus,
            live: Mutex::new(HashMap::new()),
            tasks: std::sync::atomic::AtomicUsize::new(0),
            draining,
            address,
            timing,
            describe,
            placements: FleetCounters::default(),
            listings,
            listings_watch,
        }
    }

    pub fn address(&self) -> &str {
        &self.address
    }

    pub fn timing(&self) -> Timing {
        self.timing
    }

    pub(super) fn store(&self) -> &Store {
        &self.store
    }

    pub fn heartbeats(&self) -> &super::live_state::Beats {
        self.live_state.beats()
    }

    /// This node as its heartbeat describes it, read now.
    pub fn local_info(&self) -> Option<NodeInfo> {
        let mut v = (self.describe)();
        v["node"] = self.node.clone().into();
        v["address"] = self.address.clone().into();
        serde_json::from_value(v).ok()
    }

    /// The nodes that could run a new session of `req`'s game, best first.
    /// On the in-process cache this node is the whole fleet, and it answers
    /// for itself (with its own reasons when it is full).
    pub async fn place(&self, req: &CreateRequest) -> Result<Vec<NodeInfo>, SessionError> {
        let started = std::time::Instant::now();
        let game = self.games().get(&req.game).cloned().ok_or_else(|| {
            SessionError::BadRequest(format!("no game named `{}`", req.game.chars().take(64).collect::<String>()))
        })?;
        let local = self.local_info().into_iter().collect::<Vec<_>>();
        if self.bus.cache().backend() == "memory" {
            return Ok(local);
        }
        let published = self.nodes().await.map_err(|e| {
            self.placements.failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            SessionError::Unavailable(format!("the cache cannot be read, so no new session can be placed: {e}"))
        })?;
        let ranked = self.rank(published, local, &game);
        let c = &self.placements;
        c.decisions.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        c.decision_micros.fetch_add(started.elapsed().as_micros() as u64, std::sync::atomic::Ordering::Relaxed);
        ranked.inspect_err(|_| {
            c.failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        })
    }

    /// The ranking alone (what the placement benchmark times).
    pub fn rank(
        &self,
        published: Vec<serde_json::Value>,
        local: Vec<NodeInfo>,
        game: &Game,
    ) -> Result<Vec<NodeInfo>, SessionError> {
        let mut nodes: Vec<NodeInfo> = published
            .into_iter()
            .filter_map(|v| serde_json::from_value::<NodeInfo>(v).ok())
            .filter(|n| n.node != self.node)
            .collect();
        nodes.extend(local);
        let ask = Ask { pipeline: &game.pipeline, cpu_cores: game.cpu_cores, memory_mb: game.memory_mb };
        Ok(placement::rank(&nodes, ask)?.into_iter().cloned().collect())
    }

    /// Where a session another node runs is reached: `Some(address)` when
    /// it is unfinished and its node is alive elsewhere.
    pub async fn owner_elsewhere(&self, caller: &Caller, id: &str) -> Result<Option<String>, SessionError> {
        if self.live.locked().contains_key(id) {
            return Ok(None);
        }
        let view = self.view(caller, id).await?;
        self.owner_of(&view).await
    }

    /// The address of the node that runs `view`'s session, when that is
    /// another live node and the session is unfinished.
    async fn owner_of(&self, view: &SessionView) -> Result<Option<String>, SessionError> {
        if view.node == self.node || view.state.is_final() {
            return Ok(None);
        }
        let published = self.bus.cache().get(&node_key(&view.node)).await.ok().flatten();
        let info = published.and_then(|v| serde_json::from_str::<serde_json::Value>(&v).ok());
        match info.as_ref().and_then(|v| v["address"].as_str()) {
            Some(a) => Ok(Some(a.trim_end_matches('/').to_string())),
            None => Err(SessionError::Unavailable(format!(
                "session `{}` runs on node `{}`, which is not answering; retry, or wait for it to be closed",
                view.id, view.node
            ))),
        }
    }

    pub fn node(&self) -> &str {
        &self.node
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

    /// Starts a session of a catalog game for `caller`.
    pub async fn create(self: &Arc<Self>, caller: &Caller, req: CreateRequest) -> Result<SessionView, SessionError> {
        if caller.role == Role::Viewer {
            return Err(SessionError::Forbidden(
                "viewers watch sessions shared with them; they cannot start one".into(),
            ));
        }
        let game = self.games().get(&req.game).cloned().ok_or_else(|| {
            SessionError::BadRequest(format!("no game named `{}`", req.game.chars().take(64).collect::<String>()))
        })?;
        let pipeline = game.pipeline.clone();
        let live = self.start(caller, Some(game), &pipeline, req.params, false).await?;
        self.view(caller, &live.id).await
    }

    /// Reserves, records, launches and hands the session to its task.
    async fn start(
        self: &Arc<Self>,
        caller: &Caller,
        game: Option<Game>,
        pipeline: &str,
        mut params: BTreeMap<String, serde_json::Value>,
        ephemeral: bool,
    ) -> Result<Arc<Live>, SessionError> {
        if self.is_draining() {
            return Err(SessionError::Unavailable(format!(
                "node `{}` is draining before it stops: it takes no new sessions; retry for another node",
                self.node
            )));
        }
        let entry = self.streams.catalog().get(pipeline).ok_or_else(|| {
            SessionError::BadRequest(format!("no pipeline named `{}`", pipeline.chars().take(64).collect::<String>()))
        })?;
        let loaded = entry.current.clone().ok_or_else(|| {
            SessionError::Unavailable(format!(
                "pipeline `{pipeline}` has no valid version: {}",
                entry.error_for_clients()
            ))
        })?;
        if !loaded.runnable {
            return Err(SessionError::Unavailable(format!(
                "pipeline `{pipeline}` cannot run on this node: {}",
                loaded.selection.explain()
            )));
        }
        let spec = &loaded.spec;
        let captures_display = spec.param("display").is_some();
        if let Some(g) = &game {
            if let Some(k) = params.keys().find(|k| g.params.contains_key(*k)) {
                return Err(SessionError::BadRequest(format!("`{k}` is fixed by the game `{}`", g.id)));
            }
            params.extend(g.params.clone());
            for k in ["display", "audio_device"] {
                if params.contains_key(k) && spec.param(k).is_some() {
                    return Err(SessionError::BadRequest(format!("`{k}` is chosen by the service for each session")));
                }
            }
        } else if captures_display && caller.role != Role::Admin {
            return Err(SessionError::Forbidden(format!(
                "pipeline `{pipeline}` captures a display: start a game session through the API"
            )));
        }
        let resolved = spec.resolve(&params).map_err(|e| SessionError::BadRequest(e.to_string()))?;
        let need = Need {
            cpu_cores: game.as_ref().map_or(1, |g| g.cpu_cores),
            memory_mb: game.as_ref().map_or(256, |g| g.memory_mb),
            encoder_slot: loaded.selection.chosen_element().is_some_and(is_hardware_encoder),
        };
        let reservation = self.budget.reserve(need)?;

        let id = uuid::Uuid::new_v4().to_string();
        let game_id = game.as_ref().map_or("", |g| g.id.as_str());
        let recorded = serde_json::to_string(&params).unwrap_or_default();
        let new =
            NewSession { id: &id, owner: &caller.user_id, game: game_id, pipeline, node: &self.node, params: recorded };
        let (row, event) = self.store.create_session(new).await?;
        self.listings.touch([row.owner.as_str()]);
        self.bus.publish(&event).await;
        self.remember(&SessionView::from_row(&row));
        self.transition(&id, Event::Start).await?;

        let spec_launch = LaunchSpec {
            session_id: id.clone(),
            command: game.as_ref().and_then(|g| g.command.clone()),
            env: game.as_ref().map(|g| g.env.clone()).unwrap_or_default(),
            display: (game.is_some() && captures_display)
                .then(|| (resolved.int("width").unwrap_or(1280) as u32, resolved.int("height").unwrap_or(720) as u32)),
            audio: game.is_some() && spec.param("audio_device").is_some() && resolved.bool("audio") != Some(false),
            gamepads: game.as_ref().is_some_and(|g| g.command.is_some()),
            save_dir: self.config.saves_dir().join(safe_dir(&caller.user_id)).join(if game_id.is_empty() {
                "_"
            } else {
                game_id
            }),
            runtime_dir: self.config.server.data_dir.join("run").join(&id),
            containment: Some((
                self.containment.clone(),
                Limits {
                    cpu_cores: need.cpu_cores,
                    memory_mb: need.memory_mb,
                    max_processes: game.as_ref().map_or(super::games::DEFAULT_MAX_PROCESSES, |g| g.max_processes),
                },
            )),
        };
        let mut launched = match Launched::start(spec_launch).await {
            Ok(l) => l,
            Err(e) => {
                let reason = format!("the game could not start: {e}");
                self.fail_and_clean(&id, &reason).await;
                return Err(SessionError::Unavailable(reason));
            }
        };
        let injector = Injector::start(&id, launched.display.clone(), launched.gamepads.take());
        let mut stream_params = params;
        if let Some(d) = &launched.display {
            stream_params.insert("display".into(), d.clone().into());
        }
        if let Some(dev) = &launched.audio_device {
            stream_params.insert("audio_device".into(), dev.clone().into());
        }
        if let Err(e) = self.transition(&id, Event::Launched).await {
            launched.stop().await;
            self.fail_and_clean(&id, "recording the launch failed").await;
            return Err(e);
        }
        let (commands, rx) = mpsc::unbounded_channel();
        let live = Arc::new(Live {
            id: id.clone(),
            owner: caller.user_id.clone(),
            pipeline: pipeline.to_string(),
            stream_params,
            audio_server: launched.pulse_server.clone(),
            ephemeral,
            viewers: Mutex::default(),
            paused: Mutex::new(false),
            last_activity: Mutex::new(Instant::now()),
            quality: Mutex::default(),
            injector,
            streams: Mutex::default(),
            commands,
        });
        self.live.locked().insert(id.clone(), live.clone());
        tracing::info!(session = %id, owner = %caller.user_id, game = game_id, pipeline, "session started");
        self.tasks.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let (manager, task_live) = (self.clone(), live.clone());
        tokio::spawn(async move {
            manager.clone().run(task_live, launched, reservation, rx).await;
            manager.tasks.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        });
        Ok(live)
    }

    /// Best effort for a session that failed before its task existed.
    async fn fail_and_clean(&self, id: &str, reason: &str) {
        let _ = self.transition(id, Event::Fail { reason: reason.into() }).await;
        let _ = self.transition(id, Event::CleanedUp).await;
    }

    async fn transition(&self, id: &str, event: Event) -> Result<SessionView, SessionError> {
        let view = self.record(id, event).await?;
        self.remember(&view);
        Ok(view)
    }

    /// Records and announces a transition, without keeping the session as
    /// one of this node's own (for sessions of lost nodes and earlier runs).
    pub(super) async fn record(&self, id: &str, event: Event) -> Result<SessionView, SessionError> {
        let (row, _, record) = self.store.transition(id, event).await?;
        self.listings.touch(std::iter::once(record.owner.as_str()).chain(record.viewers.iter().map(String::as_str)));
        self.bus.publish(&record).await;
        Ok(SessionView::from_row(&row))
    }

    /// One session's life from `Connecting` to `Cleanup`.
    async fn run(
        self: Arc<Self>,
        live: Arc<Live>,
        mut launched: Launched,
        reservation: Reservation,
        mut rx: mpsc::UnboundedReceiver<Command>,
    ) {
        let cfg = &self.config.sessions;
        let started = Instant::now();
        let connect_deadline = started + Duration::from_secs(cfg.connect_timeout_secs);
        let max_deadline = started + Duration::from_secs(cfg.max_duration_secs);
        let idle = Duration::from_secs(cfg.idle_timeout_secs);
        let mut state = SessionState::Connecting;
        let mut quality = Monitor::new(Thresholds {
            rtt_ms: f64::from(cfg.quality_rtt_ms),
            loss: f64::from(cfg.quality_loss_percent) / 100.0,
            samples: cfg.quality_samples,
        });
        let mut quality_tick = tokio::time::interval(QUALITY_EVERY);
        let ending: Result<(EndReason, Option<Reply>), String> = loop {
            let idle_deadline = *live.last_activity.locked() + idle;
            tokio::select! {
                cmd = rx.recv() => match cmd {
                    None => break Err("the session's control channel closed".into()),
                    Some(Command::PeerConnected) => {
                        if state == SessionState::Connecting {
                            match self.transition(&live.id, Event::Connected).await {
                                Ok(v) => state = v.state,
                                Err(e) => tracing::warn!(session = %live.id, error = %e, "recording the connection"),
                            }
                        }
                    }
                    Some(Command::StreamFailed(reason)) => break Err(format!("the stream failed: {reason}")),
                    Some(Command::PlayerLeft) => {
                        if live.ephemeral {
                            break Ok((EndReason::PlayerLeft, None));
                        }
                    }
                    Some(Command::Pause(reply)) => {
                        let r = self.transition(&live.id, Event::Pause).await;
                        if let Ok(v) = &r {
                            state = v.state.clone();
                            live.set_paused(true);
                        }
                        let _ = reply.send(r);
                    }
                    Some(Command::Resume(reply)) => {
                        let r = self.transition(&live.id, Event::Resume).await;
                        if let Ok(v) = &r {
                            state = v.state.clone();
                            live.set_paused(false);
                        }
                        let _ = reply.send(r);
                    }
                    Some(Command::End(reason, reply)) => break Ok((reason, reply)),
                },
                _ = quality_tick.tick(), if state == SessionState::Active => {
                    let sample = match live.player_quality() {
                        Some(probe) => probe.sample().await,
                        None => None,
                    };
                    if let Some(q) = &sample {
                        *live.quality.locked() = Some((q.clone(), chrono::Utc::now()));
                        live.tell_player(StreamEvent::Quality(serde_json::to_value(q).unwrap_or_default()));
                    }
                    if let Some((level, q)) = sample.and_then(|q| quality.observe(&q).map(|l| (l, q))) {
                        let alert = if level == Level::Degraded { QualityAlert::Degraded } else { QualityAlert::Recovered };
                        tracing::info!(session = %live.id, ?alert, rtt_ms = ?q.rtt_ms, loss = ?q.loss, "quality alert");
                        let event = Event::Quality {
                            alert,
                            rtt_ms: q.rtt_ms.map(|r| r.round() as u32),
                            loss_percent: q.loss.map(|l| (l * 100.0).round() as u32),
                            fps_percent: Some(fps_ratio(&q)).filter(|r| *r < FPS_RATIO).map(|r| (r * 100.0).round() as u32),
                        };
                        if let Err(e) = self.transition(&live.id, event).await {
                            tracing::warn!(session = %live.id, error = %e, "recording a quality alert");
                        }
                    }
                }
                exit = launched.game_exited() => {
                    tracing::info!(session = %live.id, %exit, "game exited");
                    break Ok((EndReason::GameExited, None));
                }
                _ = tokio::time::sleep_until(connect_deadline), if state == SessionState::Connecting => {
                    break Ok((EndReason::ConnectTimeout, None));
                }
                // Input moves the deadline without waking this loop: look again.
                _ = tokio::time::sleep_until(idle_deadline) => {
                    if live.last_activity.locked().elapsed() >= idle {
                        break Ok((EndReason::IdleTimeout, None));
                    }
                }
                _ = tokio::time::sleep_until(max_deadline) => break Ok((EndReason::MaxDuration, None)),
            }
        };
        let (event, why, reply) = match ending {
            Ok((reason, reply)) => (Event::End { reason }, reason.to_string(), reply),
            Err(reason) => (Event::Fail { reason: reason.clone() }, reason, None),
        };
        let ended = self.transition_retrying(&live.id, event).await;
        if let Some(reply) = reply {
            let _ = reply.send(ended.clone().map_err(|e| SessionError::Unavailable(e.to_string())));
        }
        live.end_streams(&why);
        // Pipelines first: an X client whose display vanishes under it takes
        // the whole process down (Xlib exits on a lost connection).
        let until = Instant::now() + STREAMS_STOP_WAIT;
        while !live.streams.locked().is_empty() && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        launched.stop().await;
        drop(reservation);
        self.live.locked().remove(&live.id);
        let stats = serde_json::json!({
            "duration_secs": started.elapsed().as_secs_f64(),
            "ended": why,
            "quality": quality.summary(),
        });
        if let Err(e) = self.store.set_stats(&live.id, &stats).await {
            tracing::warn!(session = %live.id, error = %e, "final statistics not stored");
        }
        if let Err(e) = self.transition_retrying(&live.id, Event::CleanedUp).await {
            // The record stays unfinished; the next start reconciles it.
            tracing::error!(session = %live.id, error = %e, "cleanup not recorded");
        }
        tracing::info!(session = %live.id, reason = %why, "session over");
    }

    /// Final transitions must land even through a short database hiccup.
    async fn transition_retrying(&self, id: &str, event: Event) -> Result<SessionView, String> {
        let mut delay = Duration::from_millis(100);
        for attempt in 0..6 {
            match self.transition(id, event.clone()).await {
                Ok(v) => return Ok(v),
                Err(SessionError::Store(e)) if attempt < 5 => {
                    tracing::warn!(session = id, error = %e, "retrying a final transition");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
                Err(e) => return Err(e.to_string()),
            }
        }
        Err("gave up".into())
    }

    /// Keeps the latest view of an unfinished session of this node, in memory
    /// and in the cache. Every change of such a session goes through this
    /// node, so the copy is never behind the database.
    fn remember(&self, view: &SessionView) {
        let mut views = self.views.locked();
        if view.state.is_final() {
            views.remove(&view.id);
            self.live_state.update(view);
            // The fleet sees the freed room at once, not at the next beat.
            self.live_state.beat_now();
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
                self.live_state.update(old);
            }
            None => {
                views.insert(view.id.clone(), view.clone());
                self.live_state.update(view);
                self.live_state.beat_now();
            }
        }
    }

    fn remember_viewers(&self, id: &str, viewers: &[String]) {
        if let Some(v) = self.views.locked().get_mut(id) {
            v.viewers = viewers.to_vec();
            self.live_state.update(v);
        }
    }

    /// The session if the caller may see it (others get `NotFound`). This
    /// node's own unfinished sessions are answered from memory.
    pub async fn view(&self, caller: &Caller, id: &str) -> Result<SessionView, SessionError> {
        let known = self.views.locked().get(id).cloned();
        let view = match known {
            Some(v) => v,
            None => SessionView::from_row(&self.store.session(id).await?),
        };
        let view = self.with_live(view);
        if view.may_watch(caller) {
            Ok(view)
        } else {
            Err(SessionError::NotFound(id.chars().take(64).collect()))
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
        Ok(views.iter().map(|v| self.with_live(v.clone())).collect())
    }

    /// Adds what only this node knows of a session it runs: quality and input.
    fn with_live(&self, mut view: SessionView) -> SessionView {
        if let Some(live) = self.live.locked().get(&view.id) {
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
    async fn controllable(&self, caller: &Caller, id: &str) -> Result<Arc<Live>, SessionError> {
        let view = self.view(caller, id).await?;
        if caller.role != Role::Admin && view.owner != caller.user_id {
            return Err(SessionError::Forbidden("only the session's owner or an admin may do this".into()));
        }
        let live = self.live.locked().get(id).cloned();
        live.ok_or_else(|| SessionError::Transition(TransitionError { from: view.state.name(), event: "control" }))
    }

    async fn ask(
        &self,
        caller: &Caller,
        id: &str,
        make: impl FnOnce(Reply) -> Command,
    ) -> Result<SessionView, SessionError> {
        let live = self.controllable(caller, id).await?;
        let (tx, rx) = oneshot::channel();
        live.commands.send(make(tx)).map_err(|_| SessionError::Unavailable("the session is ending".into()))?;
        rx.await.map_err(|_| SessionError::Unavailable("the session ended meanwhile".into()))?
    }

    pub async fn pause(&self, caller: &Caller, id: &str) -> Result<SessionView, SessionError> {
        self.ask(caller, id, Command::Pause).await
    }

    pub async fn resume(&self, caller: &Caller, id: &str) -> Result<SessionView, SessionError> {
        self.ask(caller, id, Command::Resume).await
    }

    /// Ends the session; answers once it is `Terminated` (cleanup follows).
    pub async fn end(&self, caller: &Caller, id: &str) -> Result<SessionView, SessionError> {
        self.ask(caller, id, |r| Command::End(EndReason::User, Some(r))).await
    }

    /// Sets who may watch.
    pub async fn share(&self, caller: &Caller, id: &str, viewers: Vec<String>) -> Result<SessionView, SessionError> {
        let view = self.view(caller, id).await?;
        if caller.role != Role::Admin && view.owner != caller.user_id {
            return Err(SessionError::Forbidden("only the session's owner or an admin may share it".into()));
        }
        if viewers.len() > 32 || viewers.iter().any(|v| v.is_empty() || v.len() > 128) {
            return Err(SessionError::BadRequest("at most 32 viewers, each a user id of 1 to 128 characters".into()));
        }
        let row = self.store.set_viewers(id, &viewers).await?;
        let concerned: Vec<String> = std::iter::once(view.owner.clone())
            .chain(view.viewers.iter().cloned())
            .chain(viewers.iter().cloned())
            .collect();
        self.listings.touch(concerned.iter().map(String::as_str));
        self.listings.announce(self.bus.cache(), &concerned).await;
        self.remember_viewers(id, &viewers);
        if let Some(live) = self.live.locked().get(id) {
            *live.viewers.locked() = viewers.clone();
            live.end_streams_where(
                |a| !a.player && !a.admin && !viewers.contains(&a.user),
                "no longer shared with you",
            );
        }
        Ok(SessionView::from_row(&row))
    }

    /// Sessions this node left unfinished when it stopped without cleanup
    /// (a crash, kill -9): leftover processes are killed and each record is
    /// taken through Error to Cleanup, so none stays open.
    pub async fn reconcile(&self) -> Result<usize, StoreError> {
        let rows = self.store.unfinished_on(&self.node).await?;
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

    /// Stops taking new sessions; the running ones play on.
    pub fn drain(&self) {
        self.draining.store(true, std::sync::atomic::Ordering::SeqCst);
        // The other nodes stop placing here at once, not at the next beat.
        self.live_state.beat_now();
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Ends every live session (the node is going away) and waits for cleanup.
    pub async fn shutdown(&self, deadline: Duration) {
        let live: Vec<Arc<Live>> = self.live.locked().values().cloned().collect();
        for l in &live {
            let _ = l.commands.send(Command::End(EndReason::Shutdown, None));
        }
        let until = Instant::now() + deadline;
        let busy = || !self.live.locked().is_empty() || self.tasks.load(std::sync::atomic::Ordering::SeqCst) > 0;
        while Instant::now() < until && busy() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Every node whose heartbeat the cache holds: what it published (id,
    /// address, budget, sessions, draining), in id order.
    pub async fn nodes(&self) -> Result<Vec<serde_json::Value>, crate::store::cache::CacheError> {
        let mut out = Vec::new();
        for id in self.live_nodes().await? {
            if let Some(v) = self.bus.cache().get(&node_key(&id)).await? {
                out.push(serde_json::from_str(&v).unwrap_or_else(|_| serde_json::json!({ "node": id })));
            }
        }
        out.sort_by(|a, b| a["node"].as_str().cmp(&b["node"].as_str()));
        Ok(out)
    }

    /// Nodes whose heartbeat the cache holds (this one included while the cache is up).
    pub async fn live_nodes(&self) -> Result<Vec<String>, crate::store::cache::CacheError> {
        let prefix = node_key("");
        let keys = self.bus.cache().keys(&prefix).await?;
        Ok(keys.into_iter().map(|k| k[prefix.len()..].to_string()).collect())
    }

    /// What `/metrics` shows of each session running here: id, pipeline,
    /// the latest quality sample and the input counters.
    pub fn live_metrics(&self) -> Vec<(String, String, Option<Quality>, serde_json::Value)> {
        let live = self.live.locked();
        let mut out: Vec<_> = live
            .values()
            .map(|l| {
                let q = l.quality.locked().as_ref().map(|(q, _)| q.clone());
                (l.id.clone(), l.pipeline.clone(), q, l.injector.counters().snapshot())
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
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

    /// Number of sessions running on this node.
    pub fn running(&self) -> usize {
        self.live.locked().len()
    }

    /// Opens a stream of a session for `caller` (signaling's `hello`).
    fn open_for(
        self: &Arc<Self>,
        caller: &Caller,
        req: OpenRequest,
        events: mpsc::UnboundedSender<StreamEvent>,
    ) -> Result<Opened, ProtocolError> {
        let rt = tokio::runtime::Handle::current();
        let live = match &req.session {
            Some(id) => {
                let view = rt.block_on(self.view(caller, id)).map_err(protocol_error)?;
                if req.pipeline.is_some() || !req.params.is_empty() {
                    return Err(ProtocolError::new(
                        ErrorCode::BadRequest,
                        "a session's pipeline and parameters are set when it is created",
                    ));
                }
                let live = self.live.locked().get(id).cloned();
                match live {
                    Some(l) => l,
                    None => {
                        // Media, input and signaling stay on the node that runs the
                        // session: the client goes there (docs/DEPLOY.md).
                        if let Some(base) = rt.block_on(self.owner_of(&view)).map_err(protocol_error)? {
                            return Err(ProtocolError::moved(
                                signal_url(&base),
                                format!("session `{id}` runs on node `{}`: connect there", view.node),
                            ));
                        }
                        return Err(ProtocolError::new(
                            ErrorCode::UnknownSession,
                            format!("session `{id}` is {}", view.state.name()),
                        ));
                    }
                }
            }
            None => {
                if caller.role == Role::Viewer {
                    return Err(ProtocolError::new(ErrorCode::Forbidden, "viewers join sessions shared with them"));
                }
                let pipeline = req.pipeline.clone().unwrap_or_else(|| self.config.media.default_pipeline.clone());
                rt.block_on(self.start(caller, None, &pipeline, req.params.clone(), true)).map_err(protocol_error)?
            }
        };
        let player = live.owner == caller.user_id;
        let (tx, mut rx) = mpsc::unbounded_channel();
        let opened = self.streams.open(
            OpenRequest {
                session: None,
                pipeline: Some(live.pipeline.clone()),
                params: live.stream_params.clone(),
                audio_server: live.audio_server.clone(),
            },
            tx,
        );
        let opened = match opened {
            Ok(o) => o,
            Err(e) => {
                if live.ephemeral {
                    let _ = live.commands.send(Command::StreamFailed(e.message.clone()));
                }
                return Err(e);
            }
        };
        let stream_id = opened.welcome_stream_id().unwrap_or_default();
        let pauser = opened.control.pauser();
        if let Some(port) = opened.control.input() {
            let control = Arc::new(StreamSide { live: Arc::downgrade(&live), pauser: pauser.clone() });
            port.set_handler(input::handler(StreamInput {
                player,
                injector: live.injector.clone(),
                session: control,
                limits: input::Limits::default(),
            }));
        }
        if let Some(p) = &pauser {
            p.set_paused(*live.paused.locked());
        }
        if player {
            live.end_streams_where(|a| a.player, "replaced by a newer connection of the player");
        }
        live.streams.locked().insert(
            stream_id.clone(),
            Attached {
                player,
                admin: caller.role == Role::Admin,
                user: caller.user_id.clone(),
                events: events.clone(),
                pauser,
                quality: opened.control.quality(),
            },
        );
        // The session learns of its player's connection and failures; the
        // signaling connection gets every event as before.
        let commands = live.commands.clone();
        tokio::spawn(async move {
            while let Some(ev) = rx.recv().await {
                if player {
                    match &ev {
                        StreamEvent::Connected => {
                            let _ = commands.send(Command::PeerConnected);
                        }
                        StreamEvent::Ended(r) => {
                            let _ = commands.send(Command::StreamFailed(r.clone()));
                        }
                        _ => {}
                    }
                }
                if events.send(ev).is_err() {
                    break;
                }
            }
        });
        let control = SessionStream { inner: Some(opened.control), live, stream_id, player };
        Ok(Opened { welcome: opened.welcome, control: Box::new(control) })
    }
}

/// The signaling WebSocket of the node at `base` (`http://host:port`).
fn signal_url(base: &str) -> String {
    let ws = match base.split_once("://") {
        Some(("https", rest)) => format!("wss://{rest}"),
        Some((_, rest)) => format!("ws://{rest}"),
        None => format!("ws://{base}"),
    };
    format!("{}/api/v1/signal", ws.trim_end_matches('/'))
}

fn protocol_error(e: SessionError) -> ProtocolError {
    let code = match &e {
        SessionError::NotFound(_) => ErrorCode::UnknownSession,
        SessionError::Forbidden(_) => ErrorCode::Forbidden,
        SessionError::BadRequest(_) => ErrorCode::BadRequest,
        SessionError::NoRoom(_) | SessionError::Nowhere(_) => ErrorCode::Busy,
        SessionError::Unavailable(_) => ErrorCode::Pipeline,
        SessionError::Transition(_) | SessionError::Conflict(_) => ErrorCode::OutOfOrder,
        SessionError::Store(_) => ErrorCode::Internal,
    };
    ProtocolError::new(code, e.to_string())
}

impl Live {
    fn set_paused(&self, paused: bool) {
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

    fn end_streams(&self, reason: &str) {
        self.end_streams_where(|_| true, reason);
    }

    /// Ends the matching streams; their clients get a `bye` with `reason`.
    fn end_streams_where(&self, which: impl Fn(&Attached) -> bool, reason: &str) {
        for a in self.streams.locked().values() {
            if which(a) {
                let _ = a.events.send(StreamEvent::Ended(reason.to_string()));
            }
        }
    }

    fn touch(&self) {
        *self.last_activity.locked() = Instant::now();
    }

    /// Passes an event to the player's signaling connection, if one is open.
    fn tell_player(&self, ev: StreamEvent) {
        let streams = self.streams.locked();
        if let Some(a) = streams.values().find(|a| a.player) {
            let _ = a.events.send(ev);
        }
    }

    fn player_quality(&self) -> Option<QualityProbe> {
        self.streams.locked().values().find(|a| a.player)?.quality.clone()
    }
}

/// A session's stream as the signaling connection drives it.
struct SessionStream {
    inner: Option<Box<dyn StreamControl>>,
    live: Arc<Live>,
    stream_id: StreamId,
    player: bool,
}

impl StreamControl for SessionStream {
    fn set_answer(&self, sdp: &str) -> Result<(), String> {
        self.inner.as_ref().map_or(Ok(()), |c| c.set_answer(sdp))
    }

    fn add_candidate(&self, mline: u32, candidate: &str) -> Result<(), String> {
        self.inner.as_ref().map_or(Ok(()), |c| c.add_candidate(mline, candidate))
    }

    fn stop(mut self: Box<Self>) {
        if let Some(c) = self.inner.take() {
            c.stop();
        }
    }

    fn touch(&self) {
        if self.player {
            self.live.touch();
        }
    }
}

impl Drop for SessionStream {
    fn drop(&mut self) {
        if let Some(c) = self.inner.take() {
            c.stop();
        }
        self.live.streams.locked().remove(&self.stream_id);
        if self.player {
            // No stuck keys: whatever the player held is let go.
            self.live.injector.release_all();
            let _ = self.live.commands.send(Command::PlayerLeft);
        }
    }
}

/// What a stream's input handler may ask of its session. Weak: the handler
/// lives in the stream's data channels, which must not keep the session alive.
struct StreamSide {
    live: std::sync::Weak<Live>,
    pauser: Option<Pauser>,
}

impl StreamSide {
    fn command(&self, make: impl FnOnce(Reply) -> Command) {
        if let Some(live) = self.live.upgrade() {
            let (reply, _) = oneshot::channel();
            let _ = live.commands.send(make(reply));
        }
    }
}

impl SessionControl for StreamSide {
    fn paused(&self) -> bool {
        self.live.upgrade().is_some_and(|l| *l.paused.locked())
    }

    fn pause(&self) {
        self.command(Command::Pause);
    }

    fn resume(&self) {
        self.command(Command::Resume);
    }

    fn key_frame(&self) {
        if let Some(p) = &self.pauser {
            p.request_key_frame();
        }
    }

    fn touch(&self) {
        if let Some(l) = self.live.upgrade() {
            l.touch();
        }
    }
}

/// Streams opened through signaling by one authenticated caller.
pub struct SessionHost {
    pub manager: Arc<Manager>,
    pub caller: Caller,
}

impl StreamHost for SessionHost {
    fn open(&self, req: OpenRequest, events: mpsc::UnboundedSender<StreamEvent>) -> Result<Opened, ProtocolError> {
        self.manager.open_for(&self.caller, req, events)
    }
}

/// A user id as a folder name: nothing that climbs out or hides, and two ids
/// never share a folder (a changed or shortened id gets a hash of the original).
fn safe_dir(user: &str) -> String {
    let clean = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if !user.is_empty() && user.len() <= 96 && user.chars().all(clean) {
        return user.to_string();
    }
    use sha1::Digest;
    let hash = sha1::Sha1::digest(user.as_bytes());
    let short: String = hash.iter().take(6).map(|b| format!("{b:02x}")).collect();
    let s: String = user.chars().map(|c| if clean(c) { c } else { '_' }).take(64).collect();
    format!("{s}-{short}")
}

#[cfg(test)]
mod tests {
    use super::{safe_dir, signal_url, CreateRequest};

    #[test]
    fn signaling_urls_follow_the_node_address() {
        assert_eq!(signal_url("http://10.0.0.5:8080"), "ws://10.0.0.5:8080/api/v1/signal");
        assert_eq!(signal_url("https://node-a.example/"), "wss://node-a.example/api/v1/signal");
        assert_eq!(signal_url("node-b:8080"), "ws://node-b:8080/api/v1/signal");
    }

    #[test]
    fn create_requests_refuse_unknown_fields() {
        let ok: CreateRequest = serde_json::from_str(r#"{"game":"a","params":{"width":1}}"#).unwrap();
        assert_eq!(ok.game, "a");
        let e = serde_json::from_str::<CreateRequest>(r#"{"game":"a","colour":1}"#).unwrap_err();
        assert!(e.to_string().contains("unknown field `colour`"), "{e}");
    }

    #[test]
    fn user_ids_become_safe_folder_names() {
        assert_eq!(safe_dir("user_2abc"), "user_2abc");
        assert!(safe_dir("../../etc").starts_with("______etc-"));
        assert_ne!(safe_dir("a.b"), safe_dir("a_b"));
        assert_ne!(safe_dir("a/b"), safe_dir("a.b"));
        assert!(safe_dir("").starts_with('-'));
        assert!(safe_dir(&"x".repeat(500)).len() < 80);
    }
}
