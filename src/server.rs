//! Wires configuration, pipelines, streams and routes into a running service.

use std::future::Future;
use std::sync::Arc;

use crate::api::{routes, AppState};
use crate::config::Config;
use crate::media::catalog::{Catalog, WatchGuard};
use crate::media::select::{GstProbe, GstRegistry};
use crate::media::stream::StreamOptions;
use crate::session::Streams;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("GStreamer failed to initialise: {0}")]
    Gst(#[from] gst::glib::Error),
    #[error(transparent)]
    Catalog(#[from] crate::media::catalog::CatalogError),
}

/// A service ready to serve: its state and the pipeline-folder watcher.
pub struct Service {
    pub state: AppState,
    _watch: WatchGuard,
}

impl Service {
    /// Loads pipelines (checking and probing encoders) and starts watching them.
    pub async fn start(config: Config, options: StreamOptions) -> Result<Self, ServerError> {
        crate::media::init()?;
        let config = Arc::new(config);
        let catalog = Arc::new(Catalog::new(
            config.media.pipelines_dir.clone(),
            Box::new(GstRegistry),
            Box::<GstProbe>::default(),
        ));
        let c = catalog.clone();
        tokio::task::spawn_blocking(move || c.reload()).await.expect("reload task")?;
        let watch = catalog.watch()?;
        let streams = Arc::new(Streams::new(config.clone(), catalog).with_options(options));
        Ok(Self { state: AppState { config, streams }, _watch: watch })
    }

    /// Serves on `listener` until `shutdown` resolves.
    pub async fn serve(self, listener: tokio::net::TcpListener, shutdown: impl Future<Output = ()> + Send + 'static) {
        warp::serve(routes(self.state.clone())).incoming(listener).graceful(shutdown).run().await;
    }
}
