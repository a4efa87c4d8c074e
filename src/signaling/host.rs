//! What a signaling connection needs from whoever runs the streams: a host
//! that opens one for a `hello` and a control to drive it. The connection
//! only knows these traits; the session core implements them, and tests use
//! recording fakes.

use std::collections::BTreeMap;

use tokio::sync::mpsc::UnboundedSender;

use super::protocol::{ProtocolError, ServerMessage, StreamId};
use crate::media::datachannel::InputPort;
use crate::media::quality::QualityProbe;
use crate::media::stream::{Pauser, StreamEvent};

/// What a client asks for.
#[derive(Debug, Clone, Default)]
pub struct OpenRequest {
    /// The game session to join; `None` asks for a session of this stream alone.
    pub session: Option<String>,
    pub pipeline: Option<String>,
    pub params: BTreeMap<String, serde_json::Value>,
    /// The session's private PulseAudio server, for the pipeline's `pulsesrc`.
    pub audio_server: Option<String>,
}

/// A started stream: the welcome to send and the handle to drive it.
pub struct Opened {
    pub welcome: ServerMessage,
    pub control: Box<dyn StreamControl>,
}

impl Opened {
    /// The stream's id, from the welcome; `None` if the host sent no welcome.
    pub fn welcome_stream_id(&self) -> Option<StreamId> {
        match &self.welcome {
            ServerMessage::Welcome { stream_id, .. } => Some(stream_id.clone()),
            _ => None,
        }
    }
}

/// Starts streams. A refusal is a [`ProtocolError`]: its code and message go
/// to the client as they are.
pub trait StreamHost: Send + Sync {
    fn open(&self, req: OpenRequest, events: UnboundedSender<StreamEvent>) -> Result<Opened, ProtocolError>;
}

/// Drives one stream.
pub trait StreamControl: Send {
    fn set_answer(&self, sdp: &str) -> Result<(), String>;
    fn add_candidate(&self, mline: u32, candidate: &str) -> Result<(), String>;
    /// Blocking; called off the async threads.
    fn stop(self: Box<Self>);
    /// The client sent something: the session is not idle.
    fn touch(&self) {}
    /// Pauses and resumes the media, when the stream can.
    fn pauser(&self) -> Option<Pauser> {
        None
    }
    /// The stream's input data channels, when it has them.
    fn input(&self) -> Option<InputPort> {
        None
    }
    /// Samples the connection's quality, when the stream can.
    fn quality(&self) -> Option<QualityProbe> {
        None
    }
}
