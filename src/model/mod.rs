//! Domain types the layers above share: the session lifecycle, the
//! catalog's games and the ids. Nothing here imports another module of the crate, so
//! both the session core and the store can depend on it.

pub mod game;
pub mod ids;
pub mod lifecycle;

pub use ids::{MalformedId, NodeId, SessionId, StreamId, UserId};
