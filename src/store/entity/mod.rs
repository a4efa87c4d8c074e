//! Tables as sea-orm entities.

pub mod game;
pub mod login_session;
pub mod node;
pub mod session;
pub mod session_event;
pub mod user;
