//! The HTTP API, the reference client and the signaling WebSocket (warp).
//!
//! Layout, after warp's own `todos` example:
//! - [`filters`]: one function per route (method and path in its doc), and
//!   [`routes`] that joins them;
//! - [`handlers`]: what each route does, with its OpenAPI description;
//! - [`models`]: what the API reads and answers;
//! - [`problem`]: every error as problem+json, and the one mapping from the
//!   session layer's errors to answers;
//! - [`openapi`]: the description generated from the handlers and models;
//! - [`auth`]: the bearer-token filters; [`ws`]: the two WebSockets;
//!   [`forward`]: calls to other nodes over HTTP; [`client`]: the browser client.

pub mod auth;
pub mod client;
pub mod filters;
pub mod forward;
pub mod handlers;
pub mod metrics;
pub mod models;
pub mod openapi;
pub mod problem;
pub mod ws;

use std::sync::Arc;

use crate::config::Config;
use crate::session::manager::Manager;
use crate::session::Streams;

pub use filters::routes;
pub use models::{Me, PipelineView, Profile};

/// Everything the routes need, behind one pointer: the HTTP server clones the
/// whole route tree for every request, and each route holds a state, so a
/// clone must be one reference count, not one per part.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> Self {
        AppState(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The parts of [`AppState`].
pub struct Shared {
    pub config: Arc<Config>,
    pub streams: Arc<Streams>,
    pub verifier: Arc<crate::auth::Verifier>,
    pub store: crate::store::Store,
    pub sessions: Arc<Manager>,
    pub logins: Arc<ws::Logins>,
    pub cache: crate::store::cache::Cache,
    /// Turns true when the service shuts down; connections end their streams.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
    /// Held by every signaling connection: when all clones are gone (this one
    /// with the last state), every connection has finished.
    pub connections: tokio::sync::mpsc::Sender<()>,
}
