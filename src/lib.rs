//! Playcast: a cloud-gaming media pipeline service.
//!
//! # Layout
//! - [`config`]: embedded defaults, file and environment layers.
//! - [`files`]: bounded reads of the files an operator points the service at.
//! - [`auth`]: bearer-token verification (JWKS or the development issuer), roles.
//! - [`media`]: pipeline description files, encoder choice, webrtcbin pipelines (no HTTP).
//! - [`signaling`]: the WebSocket protocol and per-connection logic (no transport).
//! - [`input`]: the player's input protocol and its injection into the game.
//! - [`model`]: domain types shared by the layers (lifecycle, games).
//! - [`session`]: the streams this node runs.
//! - [`store`]: users, sessions and session events in SQLite or PostgreSQL (sea-orm).
//! - [`api`]: warp routes, problem+json errors, the embedded browser client.
//! - [`server`]: wiring them into a running service.
//! - [`netns`]: private network namespaces for media tests and benchmarks.

pub mod api;
pub mod auth;
pub mod config;
pub mod files;
pub mod input;
pub mod media;
pub mod model;
pub mod netns;
pub mod server;
pub mod session;
pub mod signaling;
pub mod store;
pub mod sync;
