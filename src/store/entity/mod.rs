//! Tables as sea-orm entities.

pub mod session;
pub mod session_event;
pub mod user;
