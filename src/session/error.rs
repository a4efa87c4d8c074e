//! Why the session core refused or failed a request, and how that reads to
//! a signaling client.

use super::budget::NoRoom;
use super::lifecycle::TransitionError;
use super::placement::Nowhere;
use crate::model::ids::MalformedId;
use crate::signaling::protocol::{ErrorCode, ProtocolError};
use crate::store::StoreError;

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

/// No session has an id that is not one: the same answer as an unknown id.
impl From<MalformedId> for SessionError {
    fn from(e: MalformedId) -> Self {
        SessionError::NotFound(e.shown)
    }
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

impl From<SessionError> for ProtocolError {
    fn from(e: SessionError) -> Self {
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
}
