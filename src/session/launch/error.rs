//! Why a session's processes could not start.

use std::io;
use std::path::PathBuf;

use crate::session::contain::ContainError;

#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("invalid launch spec: {0}")]
    Invalid(String),
    #[error("cannot create {what} `{}`: {source}", path.display())]
    Dir { what: &'static str, path: PathBuf, source: io::Error },
    #[error("game command `{0}` not found")]
    GameNotFound(String),
    #[error("cannot start `{program}`: {source}")]
    Spawn { program: String, source: io::Error },
    #[error("Xvfb did not start: {0}")]
    Display(String),
    #[error("PulseAudio did not become ready: {0}")]
    Audio(String),
    #[error("virtual gamepads: {0}")]
    Gamepads(String),
    #[error(transparent)]
    Contain(#[from] ContainError),
}
