//! Attaching streams to sessions, for signaling's `StreamHost` of one
//! authenticated caller. A `hello` joins the caller's session (or starts a
//! session for that stream alone), and the stream is tied to the session's
//! pause, input, idle clock and end.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

use super::error::SessionError;
use super::fleet::signal_url;
use super::manager::Manager;
use super::running::{Attached, Command, Reply, Running};
use super::view::Caller;
use super::{OpenRequest, Opened, StreamControl, StreamHost};
use crate::auth::Role;
use crate::input::{self, SessionControl, StreamInput};
use crate::media::stream::{Pauser, StreamEvent};
use crate::model::ids::SessionId;
use crate::signaling::protocol::{ErrorCode, ProtocolError, StreamId};
use crate::sync::Locked;

/// A session's stream as the signaling connection drives it.
struct SessionStream {
    inner: Option<Box<dyn StreamControl>>,
    running: Arc<Running>,
    stream_id: StreamId,
    player: bool,
}

impl StreamControl for SessionStream {
    fn set_answer(&self, sdp: &str) -> Result<(), String> {
        self.inner.as_ref().map_or(Ok(()), |c| c.set_answer(sdp))
    }

    fn add_candidate(&self, mline: u32, candidate: &str) -> Result<(), String> {
        self.inner.as_ref().map_or(Ok(()), |c| c.add_candidate(mline, candidate))
    }

    fn stop(mut self: Box<Self>) {
        if let Some(c) = self.inner.take() {
            c.stop();
        }
    }

    fn touch(&self) {
        if self.player {
            self.running.touch();
        }
    }
}

impl Drop for SessionStream {
    fn drop(&mut self) {
        if let Some(c) = self.inner.take() {
            c.stop();
        }
        self.running.detach(&self.stream_id);
        if self.player {
            // No stuck keys: whatever the player held is let go.
            self.running.injector.release_all();
            let _ = self.running.commands.send(Command::PlayerLeft);
        }
    }
}

/// What a stream's input handler may ask of its session. Weak: the handler
/// lives in the stream's data channels, which must not keep the session alive.
struct StreamSide {
    running: std::sync::Weak<Running>,
    pauser: Option<Pauser>,
}

impl StreamSide {
    fn command(&self, make: impl FnOnce(Reply) -> Command) {
        if let Some(running) = self.running.upgrade() {
            let (reply, _) = oneshot::channel();
            let _ = running.commands.send(make(reply));
        }
    }
}

impl SessionControl for StreamSide {
    fn paused(&self) -> bool {
        self.running.upgrade().is_some_and(|l| *l.paused.locked())
    }

    fn pause(&self) {
        self.command(Command::Pause);
    }

    fn resume(&self) {
        self.command(Command::Resume);
    }

    fn key_frame(&self) {
        if let Some(p) = &self.pauser {
            p.request_key_frame();
        }
    }

    fn touch(&self) {
        if let Some(l) = self.running.upgrade() {
            l.touch();
        }
    }
}

impl Manager {
    /// Opens a stream of a session for `caller` (signaling's `hello`, through
    /// [`SessionHost`](super::manager::SessionHost)).
    pub(super) fn open_for(
        self: &Arc<Self>,
        caller: &Caller,
        req: OpenRequest,
        events: mpsc::UnboundedSender<StreamEvent>,
    ) -> Result<Opened, ProtocolError> {
        let manager = self;
        let rt = tokio::runtime::Handle::current();
        let running = match &req.session {
            Some(id) => {
                // A malformed id is answered as an unknown one.
                let id = &SessionId::parse(id).map_err(SessionError::from).map_err(ProtocolError::from)?;
                let view = rt.block_on(manager.view(caller, id)).map_err(ProtocolError::from)?;
                if req.pipeline.is_some() || !req.params.is_empty() {
                    return Err(ProtocolError::new(
                        ErrorCode::BadRequest,
                        "a session's pipeline and parameters are set when it is created",
                    ));
                }
                let running = manager.register.get(id);
                match running {
                    Some(l) => l,
                    None => {
                        // Media, input and signaling stay on the node that runs the
                        // session: the client goes there (docs/DEPLOY.md).
                        if let Some(base) = rt.block_on(manager.fleet.owner_of(&view)).map_err(ProtocolError::from)? {
                            return Err(ProtocolError::moved(
                                signal_url(&base),
                                format!("session `{id}` runs on node `{}`: connect there", view.node),
                            ));
                        }
                        return Err(ProtocolError::new(
                            ErrorCode::UnknownSession,
                            format!("session `{id}` is {}", view.state.name()),
                        ));
                    }
                }
            }
            None => {
                if caller.role == Role::Viewer {
                    return Err(ProtocolError::new(ErrorCode::Forbidden, "viewers join sessions shared with them"));
                }
                let pipeline = req.pipeline.clone().unwrap_or_else(|| manager.config.media.default_pipeline.clone());
                rt.block_on(manager.start(caller, None, &pipeline, req.params.clone(), true))
                    .map_err(ProtocolError::from)?
            }
        };
        let player = running.owner == caller.user_id;
        let (tx, mut rx) = mpsc::unbounded_channel();
        let opened = manager.streams.open(
            OpenRequest {
                session: None,
                pipeline: Some(running.pipeline.clone()),
                params: running.stream_params.clone(),
                audio_server: running.audio_server.clone(),
            },
            tx,
        );
        let opened = match opened {
            Ok(o) => o,
            Err(e) => {
                if running.ephemeral {
                    let _ = running.commands.send(Command::StreamFailed(e.message.clone()));
                }
                return Err(e);
            }
        };
        let stream_id = opened.welcome_stream_id().unwrap_or_default();
        let pauser = opened.control.pauser();
        if let Some(port) = opened.control.input() {
            let control = Arc::new(StreamSide { running: Arc::downgrade(&running), pauser: pauser.clone() });
            port.set_handler(input::handler(StreamInput {
                player,
                injector: running.injector.clone(),
                session: control,
                limits: input::Limits::default(),
            }));
        }
        if let Some(p) = &pauser {
            p.set_paused(*running.paused.locked());
        }
        if player {
            running.end_streams_where(|a| a.player, "replaced by a newer connection of the player");
        }
        running.streams.locked().insert(
            stream_id.clone(),
            Attached {
                player,
                admin: caller.role == Role::Admin,
                user: caller.user_id.clone(),
                events: events.clone(),
                pauser,
                quality: opened.control.quality(),
            },
        );
        // The session learns of its player's connection and failures; the
        // signaling connection gets every event as before.
        let commands = running.commands.clone();
        let span = tracing::info_span!("session", id = %running.id, %stream_id);
        tokio::spawn(
            async move {
                while let Some(ev) = rx.recv().await {
                    if player {
                        match &ev {
                            StreamEvent::Connected => {
                                let _ = commands.send(Command::PeerConnected);
                            }
                            StreamEvent::Ended(r) => {
                                let _ = commands.send(Command::StreamFailed(r.clone()));
                            }
                            _ => {}
                        }
                    }
                    if events.send(ev).is_err() {
                        break;
                    }
                }
            }
            .instrument(span),
        );
        let control = SessionStream { inner: Some(opened.control), running, stream_id, player };
        Ok(Opened { welcome: opened.welcome, control: Box::new(control) })
    }
}
