//! Wires configuration, pipelines, streams and routes into a running service.

use std::future::Future;
use std::sync::Arc;

use crate::api::{routes, AppState};
use crate::config::{CacheBackend, Config};
use crate::media::catalog::{Catalog, WatchGuard};
use crate::media::select::{GstProbe, GstRegistry};
use crate::media::stream::StreamOptions;
use crate::model::ids::NodeId;
use crate::session::events::EventBus;
use crate::session::manager::Manager;
use crate::session::Streams;
use crate::store::cache::Cache;

/// Each variant says only where start-up failed; the cause is its `source()`,
/// which a chain printer (`{:#}` at the binary's edge) prints once after it.
/// Writing the cause into the message too printed it twice (and a cause that
/// did the same, three times).
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("GStreamer failed to initialise")]
    Gst(#[from] gst::glib::Error),
    #[error(transparent)]
    Catalog(#[from] crate::media::catalog::CatalogError),
    #[error(transparent)]
    Auth(#[from] crate::auth::AuthError),
    #[error("state database")]
    Store(#[from] crate::store::StoreError),
    #[error("data folder {0}")]
    DataDir(std::path::PathBuf, #[source] std::io::Error),
    #[error("games catalog")]
    Games(#[from] crate::session::games::GamesError),
    #[error("cache")]
    Cache(#[from] crate::store::cache::CacheError),
    #[error("session events")]
    Events(#[from] crate::session::events::BusError),
}

/// A service ready to serve: its state and the pipeline-folder watcher.
pub struct Service {
    pub state: AppState,
    shutdown: tokio::sync::watch::Sender<bool>,
    connections: tokio::sync::mpsc::Receiver<()>,
    _watch: WatchGuard,
}

/// How long shutdown waits for signaling connections to end their streams.
const DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

impl Service {
    /// Loads pipelines (checking and probing encoders) and starts watching them.
    pub async fn start(config: Config, options: StreamOptions) -> Result<Self, ServerError> {
        crate::media::init()?;
        std::fs::create_dir_all(&config.server.data_dir)
            .map_err(|e| ServerError::DataDir(config.server.data_dir.clone(), e))?;
        let store = crate::store::Store::connect(&config.database_url(), None).await?;
        let verifier = Arc::new(crate::auth::Verifier::new(&config.auth, &config.server.data_dir)?);
        if verifier.dev_issuer().is_some() {
            tracing::info!("no issuer configured: the development issuer signs logins (playcast token)");
        }
        let config = Arc::new(config);
        let policy = crate::media::policy::ElementPolicy::from_config(&config.media)
            .map_err(crate::media::catalog::CatalogError::from)?;
        let catalog = Arc::new(
            Catalog::new(config.media.pipelines_dir.clone(), Box::new(GstRegistry), Box::<GstProbe>::default())
                .with_policy(policy),
        );
        let c = catalog.clone();
        tokio::task::spawn_blocking(move || c.reload()).await.expect("reload task")?;
        let watch = catalog.watch()?;
        let streams = Arc::new(Streams::new(config.clone(), catalog).with_options(options));
        let cache = match config.cache.backend() {
            CacheBackend::Memory => Cache::memory(),
            CacheBackend::Redis => Cache::redis(&config.cache.url.0, &config.cache.prefix).await?,
        };
        let bus = EventBus::start(store.clone(), cache.clone()).await?;
        let node = node_id(&config)?;
        let sessions = Arc::new(Manager::new(config.clone(), store.clone(), streams.clone(), bus, node.clone()));
        let games = crate::session::games::load(&config.sessions.games_file)?;
        tracing::info!(games = games.len(), file = %config.sessions.games_file.display(), "games catalog loaded");
        sessions.set_games(games).await?;
        let reconciled = sessions.reconcile().await?;
        if reconciled > 0 {
            tracing::warn!(reconciled, "sessions left unfinished by an earlier run were closed");
        }
        let gamepads = crate::input::GamepadPath::on_this_machine();
        tracing::info!(%node, cache = cache.backend().as_str(), ?gamepads, "node ready");
        if gamepads == crate::input::GamepadPath::Preload && crate::input::gamepad::preload_library().is_none() {
            tracing::warn!(
                "no /dev/uinput and no {} beside the service: games get no gamepads",
                crate::input::gamepad::PRELOAD_FILE
            );
        }
        let (shutdown, shutdown_rx) = tokio::sync::watch::channel(false);
        let (conn_tx, connections) = tokio::sync::mpsc::channel(1);
        let logins = Arc::new(crate::api::ws::Logins::default());
        tokio::spawn(logins.clone().follow(cache.clone(), store.clone()));
        let state = AppState::new(crate::api::Shared {
            config,
            streams,
            verifier,
            store,
            sessions,
            logins,
            cache,
            shutdown: shutdown_rx,
            connections: conn_tx,
        });
        Ok(Self { state, shutdown, connections, _watch: watch })
    }

    /// Serves on `listener` until `shutdown` resolves, then ends every
    /// stream (clients get a `bye` saying why) and waits for the connections.
    pub async fn serve(self, listener: tokio::net::TcpListener, shutdown: impl Future<Output = ()> + Send + 'static) {
        let Service { state, shutdown: tell, mut connections, _watch } = self;
        let routes = routes(state.clone());
        let sessions = state.sessions.clone();
        let drain = state.config.server.drain;
        // Only a shared cache can tell that another node is alive.
        let watcher =
            (state.cache.backend() == CacheBackend::Redis).then(|| tokio::spawn(sessions.clone().watch_nodes()));
        drop(state);
        let draining = sessions.clone();
        let signal = async move {
            shutdown.await;
            if !drain.is_zero() && draining.running() > 0 {
                draining.drain_for_shutdown();
                tracing::info!(sessions = draining.running(), deadline = ?drain, "draining: no new sessions; running ones play on");
                draining.wait_until_none_running(drain).await;
            }
            tracing::info!("shutting down: ending streams");
            let _ = tell.send(true);
        };
        no_delay(&listener);
        warp::serve(routes).incoming(listener).graceful(signal).run().await;
        if let Some(w) = watcher {
            w.abort();
        }
        // The routes (holding a connection sender) are gone with the server;
        // what remains are connections still ending their streams.
        if tokio::time::timeout(DRAIN_TIMEOUT, connections.recv()).await.is_err() {
            tracing::warn!("signaling connections still open after {DRAIN_TIMEOUT:?}; stopping anyway");
        }
        sessions.shutdown(DRAIN_TIMEOUT).await;
    }
}

/// This node's id: configured, or made once and kept in the data folder so a
/// restarted node recognises its own unfinished sessions.
fn node_id(config: &Config) -> Result<NodeId, ServerError> {
    if !config.node.id.is_empty() {
        return Ok(NodeId::from(config.node.id.as_str()));
    }
    let path = config.server.data_dir.join("node-id");
    match crate::files::read_text(&path, 4096) {
        Ok(id) if !id.trim().is_empty() => return Ok(NodeId::from(id.trim())),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(ServerError::DataDir(path, e)),
    }
    let id = format!("node-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    std::fs::write(&path, &id).map_err(|e| ServerError::DataDir(path.clone(), e))?;
    Ok(NodeId::from(id))
}

/// Turns Nagle's algorithm off for every connection `listener` accepts (on
/// Linux they inherit it): events and signaling messages are small writes,
/// and one must not wait for the acknowledgement of the one before (up to
/// 40 ms of delayed ACK on loopback).
fn no_delay(listener: &tokio::net::TcpListener) {
    if let Err(e) = nix::sys::socket::setsockopt(listener, nix::sys::socket::sockopt::TcpNoDelay, &true) {
        tracing::warn!(error = %e, "TCP_NODELAY not set; small messages may wait for acknowledgements");
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn accepted_connections_send_without_delay() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let plain = tokio::net::TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (before, _) = listener.accept().await.unwrap();
        assert!(!before.nodelay().unwrap(), "the kernel's default is Nagle on");
        super::no_delay(&listener);
        let _client = tokio::net::TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (accepted, _) = listener.accept().await.unwrap();
        assert!(accepted.nodelay().unwrap());
        drop(plain);
    }
}
