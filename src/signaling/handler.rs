//! One signaling connection, independent of its transport: it reads decoded
//! frames from a `Stream` and writes `ServerMessage`s to a channel, so tests
//! drive it without sockets.

use std::time::Duration;

use futures_util::{Stream, StreamExt};
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};

use super::host::{OpenRequest, StreamControl, StreamHost};
use super::protocol::{decode, ClientMessage, ErrorCode, ProtocolError, ServerMessage, StreamId, VERSION};
use crate::media::stream::StreamEvent;

/// A frame as the transport delivered it.
#[derive(Debug, Clone)]
pub enum Frame {
    Text(String),
    Binary(usize),
}

#[derive(Debug, Clone)]
pub struct Limits {
    pub max_message_bytes: usize,
    /// The connection closes after this long without a frame from the client.
    pub idle_timeout: Duration,
    /// A stream whose offer is not answered within this time ends.
    pub answer_timeout: Duration,
}

struct Live {
    id: StreamId,
    control: Box<dyn StreamControl>,
    events: UnboundedReceiver<StreamEvent>,
    /// An offer was sent and its answer has not come yet.
    awaiting_answer: bool,
    /// An answer was applied (candidates are accepted from then on).
    answered: bool,
    answer_deadline: Option<tokio::time::Instant>,
}

/// Runs the connection until the client goes away or idles out.
pub async fn run<H, S>(host: std::sync::Arc<H>, incoming: S, out: UnboundedSender<ServerMessage>, limits: Limits)
where
    H: StreamHost + ?Sized + 'static,
    S: Stream<Item = Frame> + Unpin,
{
    run_until(host, incoming, out, limits, std::future::pending()).await
}

/// Like [`run`], and when `ended` resolves the live stream ends with a `bye`
/// carrying the reason it resolved with (shutdown, sign-out).
pub async fn run_until<H, S>(
    host: std::sync::Arc<H>,
    incoming: S,
    out: UnboundedSender<ServerMessage>,
    limits: Limits,
    ended: impl std::future::Future<Output = String>,
) where
    H: StreamHost + ?Sized + 'static,
    S: Stream<Item = Frame> + Unpin,
{
    tokio::pin!(ended);
    let mut conn = Connection { host, out, live: None, limits: limits.clone() };
    let mut incoming = incoming;
    // Only frames from the client count as activity; stream events do not.
    let mut idle_deadline = tokio::time::Instant::now() + limits.idle_timeout;
    loop {
        let answer_deadline = conn.live.as_ref().and_then(|l| l.answer_deadline);
        tokio::select! {
            frame = incoming.next() => match frame {
                Some(frame) => {
                    idle_deadline = tokio::time::Instant::now() + limits.idle_timeout;
                    conn.on_frame(frame).await
                }
                None => break,
            },
            ev = next_event(&mut conn.live) => conn.on_event(ev).await,
            _ = async { tokio::time::sleep_until(answer_deadline.unwrap()).await }, if answer_deadline.is_some() => {
                let secs = limits.answer_timeout.as_secs();
                conn.end(format!("no answer within {secs} s"), true).await;
            }
            reason = &mut ended => {
                conn.end(reason, true).await;
                break;
            }
            _ = tokio::time::sleep_until(idle_deadline) => {
                conn.send_error(ErrorCode::BadRequest, format!("no message for {} s; closing", limits.idle_timeout.as_secs()), None);
                break;
            }
        }
    }
    if let Some(live) = conn.live.take() {
        tracing::info!(stream_id = %live.id, "signaling connection closed; stopping stream");
        stop(live.control).await;
    }
}

async fn next_event(live: &mut Option<Live>) -> Option<StreamEvent> {
    match live {
        Some(l) => l.events.recv().await,
        None => std::future::pending().await,
    }
}

async fn stop(control: Box<dyn StreamControl>) {
    let _ = tokio::task::spawn_blocking(move || control.stop()).await;
}

struct Connection<H: ?Sized> {
    host: std::sync::Arc<H>,
    out: UnboundedSender<ServerMessage>,
    live: Option<Live>,
    limits: Limits,
}

impl<H: StreamHost + ?Sized + 'static> Connection<H> {
    fn send(&self, msg: ServerMessage) {
        let _ = self.out.send(msg);
    }

    fn send_error(&self, code: ErrorCode, message: impl Into<String>, stream_id: Option<StreamId>) {
        let message = message.into();
        tracing::debug!(?code, %message, "signaling error");
        self.send(ServerMessage::Error { code, message, stream_id, location: None });
    }

    fn send_protocol_error(&self, e: ProtocolError, stream_id: Option<StreamId>) {
        tracing::debug!(code = ?e.code, message = %e.message, "signaling error");
        self.send(ServerMessage::Error { code: e.code, message: e.message, stream_id, location: e.location });
    }

    async fn on_frame(&mut self, frame: Frame) {
        if let (Some(live), Frame::Text(_)) = (&self.live, &frame) {
            live.control.touch();
        }
        match read_frame(&frame, &self.limits) {
            Ok(msg) => {
                let named = match &msg {
                    ClientMessage::Answer { stream_id, .. }
                    | ClientMessage::Ice { stream_id, .. }
                    | ClientMessage::Bye { stream_id, .. } => Some(stream_id.clone()),
                    ClientMessage::Hello { .. } | ClientMessage::Ping { .. } => None,
                };
                if let Err(e) = self.on_message(msg).await {
                    // An unknown stream is reported with the id the client sent.
                    let sid = match e.code {
                        ErrorCode::UnknownStream => named,
                        _ => self.live.as_ref().map(|l| l.id.clone()),
                    };
                    self.send_protocol_error(e, sid);
                }
            }
            Err(e) => self.send_protocol_error(e, None),
        }
    }

    /// The stream the message names, if it is the live one.
    fn live_for(&mut self, id: &StreamId) -> Result<&mut Live, ProtocolError> {
        match &mut self.live {
            Some(l) if &l.id == id => Ok(l),
            _ => Err(ProtocolError::new(
                ErrorCode::UnknownStream,
                format!("no live stream `{}` on this connection", truncate(id.as_str())),
            )),
        }
    }

    async fn on_message(&mut self, msg: ClientMessage) -> Result<(), ProtocolError> {
        match msg {
            ClientMessage::Ping { id } => self.send(ServerMessage::Pong { id }),
            ClientMessage::Hello { version, session_id, pipeline, params } => {
                if version != VERSION {
                    return Err(ProtocolError::new(
                        ErrorCode::UnsupportedVersion,
                        format!("protocol version {version} is not supported; this server speaks {VERSION}"),
                    ));
                }
                if let Some(l) = &self.live {
                    return Err(ProtocolError::new(
                        ErrorCode::OutOfOrder,
                        format!("stream {} is already live on this connection; send bye first", l.id),
                    ));
                }
                let (tx, rx) = mpsc::unbounded_channel();
                let host = self.host.clone();
                let req = OpenRequest { session: session_id, pipeline, params, ..OpenRequest::default() };
                let opened = tokio::task::spawn_blocking(move || host.open(req, tx))
                    .await
                    .map_err(|e| ProtocolError::new(ErrorCode::Internal, format!("stream start task failed: {e}")))??;
                let id = opened
                    .welcome_stream_id()
                    .ok_or_else(|| ProtocolError::new(ErrorCode::Internal, "the stream started without a welcome"))?;
                tracing::info!(stream_id = %id, "stream started");
                self.send(opened.welcome);
                self.live = Some(Live {
                    id,
                    control: opened.control,
                    events: rx,
                    awaiting_answer: false,
                    answered: false,
                    answer_deadline: None,
                });
            }
            ClientMessage::Answer { stream_id, sdp } => {
                let live = self.live_for(&stream_id)?;
                if !live.awaiting_answer {
                    let message = if live.answered {
                        "the last offer is already answered"
                    } else {
                        "answer before the server's offer"
                    };
                    return Err(ProtocolError::new(ErrorCode::OutOfOrder, message));
                }
                if sdp.trim().is_empty() {
                    return Err(ProtocolError::new(ErrorCode::BadRequest, "`answer`: `sdp` is empty"));
                }
                live.control.set_answer(&sdp).map_err(|m| ProtocolError::new(ErrorCode::BadRequest, m))?;
                live.awaiting_answer = false;
                live.answered = true;
                live.answer_deadline = None;
            }
            ClientMessage::Ice { stream_id, candidate, sdp_mline_index } => {
                let live = self.live_for(&stream_id)?;
                if !live.answered {
                    return Err(ProtocolError::new(ErrorCode::OutOfOrder, "ICE candidate before the answer"));
                }
                live.control
                    .add_candidate(sdp_mline_index, &candidate)
                    .map_err(|m| ProtocolError::new(ErrorCode::BadRequest, m))?;
            }
            ClientMessage::Bye { stream_id, reason } => {
                self.live_for(&stream_id)?;
                let reason = reason.map(|r| truncate(&r)).unwrap_or_else(|| "closed by client".into());
                // The client ended it: nothing is sent in reply.
                self.end(reason, false).await;
            }
        }
        Ok(())
    }

    async fn on_event(&mut self, ev: Option<StreamEvent>) {
        let Some(live) = &mut self.live else { return };
        let id = live.id.clone();
        match ev {
            Some(StreamEvent::Offer(sdp)) => {
                live.awaiting_answer = true;
                live.answer_deadline = Some(tokio::time::Instant::now() + self.limits.answer_timeout);
                self.send(ServerMessage::Offer { stream_id: id, sdp });
            }
            Some(StreamEvent::Candidate { mline, candidate }) => {
                self.send(ServerMessage::Ice { stream_id: id, candidate, sdp_mline_index: mline })
            }
            Some(StreamEvent::Connected) => tracing::debug!(stream_id = %id, "peer connected"),
            Some(StreamEvent::Quality(quality)) => self.send(ServerMessage::Quality { stream_id: id, quality }),
            Some(StreamEvent::Ended(reason)) => self.end(reason, true).await,
            None => self.end("stream vanished".into(), true).await,
        }
    }

    /// Stops the live stream and, when the server ended it, tells the client why.
    async fn end(&mut self, reason: String, tell_client: bool) {
        if let Some(live) = self.live.take() {
            tracing::info!(stream_id = %live.id, %reason, "stream ended");
            stop(live.control).await;
            if tell_client {
                self.send(ServerMessage::Bye { stream_id: live.id, reason });
            }
        }
    }
}

/// What a connection makes of one frame before any state is involved: a
/// binary frame, an oversized text or a text that is not a client message is
/// refused with the error the client is sent. Public so that fuzzing and the
/// corpus test reach exactly the connection's parsing.
pub fn read_frame(frame: &Frame, limits: &Limits) -> Result<ClientMessage, ProtocolError> {
    let text = match frame {
        Frame::Binary(_) => {
            return Err(ProtocolError::new(
                ErrorCode::BadJson,
                "binary frames are not part of the protocol; send JSON text",
            ))
        }
        Frame::Text(t) => t,
    };
    if text.len() > limits.max_message_bytes {
        return Err(ProtocolError::new(
            ErrorCode::TooLarge,
            format!("message of {} bytes exceeds the {} byte limit", text.len(), limits.max_message_bytes),
        ));
    }
    decode(text)
}

fn truncate(s: &str) -> String {
    s.chars().take(200).collect()
}
