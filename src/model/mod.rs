//! Domain types the layers above share: the session lifecycle and the
//! catalog's games. Nothing here imports another module of the crate, so
//! both the session core and the store can depend on it.

pub mod game;
pub mod lifecycle;
