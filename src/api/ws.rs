//! The two WebSockets, signaling and events, and how they authenticate.
//!
//! Browsers cannot set headers on a WebSocket, and a token in the URL ends up
//! in logs, so the first message is `{"type":"auth","token":"…"}`. The token
//! must be valid then, and its `sid` must name a sign-in made through
//! `POST /api/v1/login`; the connection is bound to that sign-in, not to the
//! token, so it outlives the token's short life and closes when the sign-in
//! is revoked (`POST /api/v1/logout`).

use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::watch;

use super::AppState;
use crate::auth::Identity;
use crate::session::events::EventMessage;
/// Where the sign-ins with open WebSockets are kept since cross-node
/// sign-out moved to the session layer; this path stays for the server.
pub use crate::session::forwarding::Logins;
use crate::session::manager::{Caller, SessionHost};
use crate::signaling::handler::{self, Frame, Limits};
use crate::signaling::protocol::{encode, ErrorCode, ServerMessage};

/// Hard cap the WebSocket layer enforces; the protocol's own (smaller) cap
/// answers `too_large` below it without closing the connection.
const WS_HARD_LIMIT: usize = 1 << 20;

/// Largest message the events WebSocket's transport takes (it closes the
/// connection above it).
const EVENTS_LIMIT: usize = 64 * 1024;

/// Largest message the events WebSocket reads; a larger one is answered
/// `too_large` and the connection stays.
const EVENTS_MESSAGE_LIMIT: usize = 4 * 1024;

/// What an events connection may subscribe to, beyond the events themselves.
const TOPICS: [&str; 1] = ["dashboard"];

/// The dashboard's snapshot is sent at least this often while subscribed...
const DASHBOARD_EVERY: Duration = Duration::from_secs(1);
/// ...and this soon after a session event, several events making one snapshot.
const DASHBOARD_SOON: Duration = Duration::from_millis(100);

#[utoipa::path(get, path = "/api/v1/signal", tag = "websockets",
    summary = "signaling WebSocket (docs/SIGNALING.md)",
    description = "The first message is `{\"type\":\"auth\",\"token\":\"…\"}` with a signed-in token.",
    responses((status = 101, description = "switching to the WebSocket protocol")))]
pub fn signal(ws: warp::ws::Ws, s: AppState) -> impl warp::Reply {
    ws.max_message_size(WS_HARD_LIMIT)
        .max_frame_size(WS_HARD_LIMIT)
        .on_upgrade(move |socket| signal_connection(socket, s))
}

#[utoipa::path(get, path = "/api/v1/events", tag = "websockets",
    summary = "session events WebSocket, numbered; resume with `after`",
    description = "The first message is `{\"type\":\"auth\",\"token\":\"…\",\"after\":N}`; `after` is optional.",
    responses((status = 101, description = "switching to the WebSocket protocol")))]
pub fn events(ws: warp::ws::Ws, s: AppState) -> impl warp::Reply {
    ws.max_message_size(EVENTS_LIMIT).on_upgrade(move |socket| events_connection(socket, s))
}

/// The client has this long to authenticate.
const AUTH_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Auth {
    #[serde(rename = "type")]
    kind: String,
    token: String,
    /// Events only: resume after this sequence number.
    #[serde(default)]
    after: Option<i64>,
}

/// What an authenticated connection knows of its caller.
struct Session {
    identity: Identity,
    after: Option<i64>,
    revoked: watch::Receiver<bool>,
}

type Sink = SplitSink<warp::ws::WebSocket, warp::ws::Message>;
type Source = SplitStream<warp::ws::WebSocket>;

/// Most signaling messages waiting for a client that does not read them.
const MAX_UNREAD: usize = 1024;
/// How often a send that waits looks at what queues behind it.
const UNREAD_CHECK: Duration = Duration::from_millis(50);
/// How long a last word and a close may wait for a client that does not read.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// Most events an events connection queues before it flushes.
const MAX_BURST: usize = 64;

async fn send_json(sink: &mut Sink, v: &serde_json::Value) -> bool {
    sink.send(warp::ws::Message::text(v.to_string())).await.is_ok()
}

async fn send_text(sink: &mut Sink, text: &str) -> bool {
    sink.send(warp::ws::Message::text(text)).await.is_ok()
}

enum Watched {
    Sent,
    Failed,
    /// [`MAX_UNREAD`] messages wait behind this one (it is not sent).
    Unread,
}

/// Sends `text`, or gives up once [`MAX_UNREAD`] messages wait behind it: a
/// client that sends but does not read would have its answers pile up
/// without end.
async fn send_watching<T>(sink: &mut Sink, text: String, queue: &tokio::sync::mpsc::UnboundedReceiver<T>) -> Watched {
    if queue.len() >= MAX_UNREAD {
        return Watched::Unread;
    }
    let send = sink.send(warp::ws::Message::text(text));
    tokio::pin!(send);
    loop {
        tokio::select! {
            biased;
            sent = &mut send => return if sent.is_ok() { Watched::Sent } else { Watched::Failed },
            _ = tokio::time::sleep(UNREAD_CHECK) => {
                if queue.len() >= MAX_UNREAD {
                    return Watched::Unread;
                }
            }
        }
    }
}

fn error(code: ErrorCode, message: &str) -> serde_json::Value {
    json!({"type": "error", "code": code, "message": message})
}

/// Reads and checks the `auth` message. On failure the client is told why and
/// the caller closes the socket.
async fn authenticate(s: &AppState, sink: &mut Sink, source: &mut Source) -> Option<Session> {
    let first = tokio::time::timeout(AUTH_TIMEOUT, source.next()).await;
    let refuse = |m: String| error(ErrorCode::Unauthorized, &m);
    let text = match first {
        Err(_) => Err(refuse(format!("no auth message within {} s", AUTH_TIMEOUT.as_secs()))),
        Ok(Some(Ok(m))) if m.is_text() => Ok(m.to_str().unwrap_or_default().to_string()),
        Ok(Some(Ok(_))) => Err(refuse("the first message must be a JSON text auth message".into())),
        Ok(_) => return None,
    };
    let result = async {
        let text = text?;
        if text.len() > 16 * 1024 {
            return Err(refuse("auth message too large".into()));
        }
        let first: Option<serde_json::Value> = serde_json::from_str(&text).ok();
        if let Some(kind) = first.as_ref().and_then(|v| v["type"].as_str()).filter(|k| *k != "auth") {
            return Err(refuse(format!(
                "authenticate first: the first message must be `auth`; `{}` is accepted after `authenticated`",
                truncate(kind)
            )));
        }
        let auth: Auth = serde_json::from_str(&text)
            .map_err(|e| refuse(format!("expected {{\"type\":\"auth\",\"token\":\"…\"}}: {e}")))?;
        if auth.kind != "auth" {
            return Err(refuse(format!("the first message must be `auth`, not `{}`", truncate(&auth.kind))));
        }
        let identity = s.verifier.verify(auth.token.trim()).await.map_err(|e| {
            let code = if e.is_unavailable() { ErrorCode::Internal } else { ErrorCode::Unauthorized };
            error(code, &e.to_string())
        })?;
        let sid = identity
            .session
            .clone()
            .ok_or_else(|| refuse("the token names no sign-in (`sid`); WebSockets need one".into()))?;
        // Watched before the check, so a sign-out in between is not missed.
        let revoked = s.logins.watch(&sid);
        match s.store.login_session(&sid).await {
            Ok(Some(l)) if l.revoked_at.is_none() && l.user_id == identity.user_id => {}
            Ok(Some(l)) if l.revoked_at.is_some() => return Err(refuse("this sign-in was revoked".into())),
            Ok(_) => return Err(refuse("sign in first: POST /api/v1/login with this token".into())),
            Err(e) => {
                tracing::error!(error = %e, "state database");
                return Err(error(ErrorCode::Internal, "the state database is unavailable; retry"));
            }
        }
        Ok(Session { identity, after: auth.after, revoked })
    }
    .await;
    match result {
        Ok(session) => {
            let id = &session.identity;
            let hello = json!({"type": "authenticated", "user_id": id.user_id, "role": id.role});
            send_json(sink, &hello).await.then_some(session)
        }
        Err(msg) => {
            tracing::debug!(%msg, "WebSocket authentication refused");
            let _ = send_json(sink, &msg).await;
            None
        }
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(32).collect()
}

async fn shutting_down(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|d| *d).await;
}

/// Resolves when the sign-in is revoked (never if the sender is gone for another reason).
async fn revoked(rx: &mut watch::Receiver<bool>) {
    if rx.wait_for(|r| *r).await.is_err() {
        std::future::pending::<()>().await;
    }
}

pub async fn signal_connection(socket: warp::ws::WebSocket, s: AppState) {
    let (mut sink, mut source) = socket.split();
    let Some(mut session) = authenticate(&s, &mut sink, &mut source).await else {
        let _ = sink.close().await;
        return;
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let (overflow_tx, overflow) = tokio::sync::oneshot::channel::<()>();
    let writer = tokio::spawn(async move {
        while let Some(msg) = rx.recv().await {
            match send_watching(&mut sink, encode(&msg), &rx).await {
                Watched::Sent => {}
                Watched::Failed => break,
                Watched::Unread => {
                    let e = error(ErrorCode::BadRequest, &format!("{MAX_UNREAD} messages unread; closing"));
                    let _ = tokio::time::timeout(CLOSE_WAIT, send_json(&mut sink, &e)).await;
                    let _ = overflow_tx.send(());
                    break;
                }
            }
        }
        let _ = tokio::time::timeout(CLOSE_WAIT, sink.close()).await;
    });
    let frames = source
        .take_while(|m| futures_util::future::ready(m.as_ref().is_ok_and(|m| !m.is_close())))
        .filter_map(|m| async move {
            let m = m.ok()?;
            if m.is_text() {
                Some(Frame::Text(m.to_str().unwrap_or_default().to_string()))
            } else if m.is_binary() {
                Some(Frame::Binary(m.as_bytes().len()))
            } else {
                None
            }
        })
        .boxed();
    let limits = Limits {
        max_message_bytes: s.config.signaling.max_message_bytes,
        idle_timeout: s.config.idle_timeout(),
        answer_timeout: s.config.signaling.answer_timeout,
    };
    let _held = s.connections.clone();
    let mut shutdown = s.shutdown.clone();
    let out = tx.clone();
    let stop = async move {
        tokio::select! {
            _ = shutting_down(&mut shutdown) => "the service is shutting down".to_string(),
            Ok(()) = overflow => "the client stopped reading its messages".to_string(),
            _ = revoked(&mut session.revoked) => {
                let _ = out.send(ServerMessage::Error {
                    code: ErrorCode::Unauthorized,
                    message: "signed out: this sign-in was revoked".into(),
                    stream_id: None,
                    location: None,
                });
                "signed out".to_string()
            }
        }
    };
    let host = Arc::new(SessionHost { manager: s.sessions.clone(), caller: Caller::from(&session.identity) });
    handler::run_until(host, frames, tx, limits, stop).await;
    let _ = writer.await;
}

/// A resume point must be an event that exists (or 0, the start): one beyond
/// the newest would silently skip the events that later take its numbers.
async fn check_resume_point(s: &AppState, after: i64, delivered: i64) -> Result<(), serde_json::Value> {
    if after < 0 {
        return Err(error(
            ErrorCode::BadRequest,
            &format!("`after` is {after}; event numbers start at 1 (0: from the start)"),
        ));
    }
    if after <= delivered {
        return Ok(());
    }
    let newest = s.store.last_event_id().await.map_err(|e| {
        tracing::error!(error = %e, "state database");
        error(ErrorCode::Internal, "the state database is unavailable; retry")
    })?;
    if after > newest {
        return Err(error(
            ErrorCode::BadRequest,
            &format!(
                "`after` is {after}, but the newest event is {newest}: resume from a number you received, or leave `after` out"
            ),
        ));
    }
    Ok(())
}

/// Events of the sessions the caller may see, numbered; `after` in the auth
/// message resumes after that number with nothing missed or repeated.
pub async fn events_connection(socket: warp::ws::WebSocket, s: AppState) {
    let (mut sink, mut source) = socket.split();
    let Some(mut session) = authenticate(&s, &mut sink, &mut source).await else {
        let _ = sink.close().await;
        return;
    };
    let _held = s.connections.clone();
    let user = session.identity.user_id.clone();
    let admin = session.identity.role == crate::auth::Role::Admin;
    let bus = s.sessions.bus();
    // Subscribe before catching up, so nothing falls between the two.
    let mut live = bus.subscribe();
    if let Some(after) = session.after {
        if let Err(msg) = check_resume_point(&s, after, bus.delivered()).await {
            let _ = send_json(&mut sink, &msg).await;
            let _ = sink.close().await;
            return;
        }
    }
    let mut last = session.after.unwrap_or_else(|| bus.delivered());
    let visible = |m: &EventMessage| m.visible_to(&user, admin);
    if session.after.is_some() && !catch_up(&s, &mut sink, &mut last, &visible).await {
        let _ = sink.close().await;
        return;
    }
    let mut shutdown = s.shutdown.clone();
    let mut dashboard = false;
    let dashboard_due = tokio::time::sleep(DASHBOARD_EVERY);
    tokio::pin!(dashboard_due);
    loop {
        tokio::select! {
            () = &mut dashboard_due, if dashboard => {
                let snapshot = super::handlers::dashboard::snapshot(&s).await;
                let text = serde_json::to_string(&snapshot).unwrap_or_default();
                if !send_text(&mut sink, &text).await {
                    break;
                }
                dashboard_due.as_mut().reset(tokio::time::Instant::now() + DASHBOARD_EVERY);
            }
            m = live.recv() => match m {
                Ok(m) => {
                    let soon = tokio::time::Instant::now() + DASHBOARD_SOON;
                    if dashboard && dashboard_due.deadline() > soon {
                        dashboard_due.as_mut().reset(soon);
                    }
                    let sent = send_burst(&mut sink, &mut live, m, &mut last, &visible).await;
                    if sent == Burst::Failed
                        || (sent == Burst::Lagged && !catch_up(&s, &mut sink, &mut last, &visible).await)
                    {
                        break;
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    if !catch_up(&s, &mut sink, &mut last, &visible).await {
                        break;
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            },
            frame = source.next() => match frame {
                Some(Ok(m)) if m.is_text() => {
                    let reply = match events_request(m.to_str().unwrap_or_default(), admin) {
                        Ok(EventsRequest::Ping(id)) => json!({"type": "pong", "id": id}),
                        Ok(EventsRequest::Dashboard(on)) => {
                            dashboard = on;
                            dashboard_due.as_mut().reset(tokio::time::Instant::now());
                            let kind = if on { "subscribed" } else { "unsubscribed" };
                            json!({"type": kind, "topics": TOPICS})
                        }
                        Err(e) => e,
                    };
                    if !send_json(&mut sink, &reply).await {
                        break;
                    }
                }
                Some(Ok(m)) if m.is_binary() => {
                    let e = error(ErrorCode::BadJson, "messages here are JSON text, not binary");
                    if !send_json(&mut sink, &e).await {
                        break;
                    }
                }
                Some(Ok(m)) if m.is_close() => break,
                Some(Ok(_)) => {}
                _ => break,
            },
            _ = revoked(&mut session.revoked) => {
                let _ = send_json(&mut sink, &error(ErrorCode::Unauthorized, "signed out: this sign-in was revoked")).await;
                break;
            }
            _ = shutting_down(&mut shutdown) => break,
        }
    }
    let _ = sink.close().await;
}

/// What a client may ask on the events WebSocket once authenticated.
#[derive(Debug, PartialEq)]
enum EventsRequest {
    /// Answered `pong` with the same `id`.
    Ping(serde_json::Value),
    /// Subscribes to (true) or unsubscribes from the `dashboard` topic.
    Dashboard(bool),
}

/// Reads one message of an authenticated events connection; the error is
/// the message to answer with (the connection stays).
fn events_request(text: &str, admin: bool) -> Result<EventsRequest, serde_json::Value> {
    if text.len() > EVENTS_MESSAGE_LIMIT {
        let m = format!("a message here is at most {EVENTS_MESSAGE_LIMIT} bytes; this one is {}", text.len());
        return Err(error(ErrorCode::TooLarge, &m));
    }
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| error(ErrorCode::BadJson, &format!("not JSON: {e}")))?;
    let bad = |m: &str| error(ErrorCode::BadRequest, m);
    let Some(fields) = v.as_object() else { return Err(bad("a message is a JSON object with a `type`")) };
    let Some(kind) = fields.get("type").and_then(|t| t.as_str()) else {
        return Err(bad("a message needs a string `type`: `ping`, `subscribe` or `unsubscribe`"));
    };
    let on = match kind {
        "ping" => return Ok(EventsRequest::Ping(v["id"].clone())),
        "subscribe" => true,
        "unsubscribe" => false,
        "auth" => return Err(error(ErrorCode::OutOfOrder, "this connection is already authenticated")),
        other => {
            let m = format!(
                "unknown message type `{}`: this socket reads `ping`, `subscribe` and `unsubscribe`",
                truncate(other)
            );
            return Err(error(ErrorCode::UnknownType, &m));
        }
    };
    if let Some(extra) = fields.keys().find(|k| *k != "type" && *k != "topics") {
        return Err(bad(&format!("`{kind}` has no field `{}`; it takes `topics`", truncate(extra))));
    }
    let topics: Vec<&str> = match fields.get("topics").and_then(|t| t.as_array()) {
        Some(list) if !list.is_empty() => list
            .iter()
            .map(|t| t.as_str().ok_or(()))
            .collect::<Result<_, _>>()
            .map_err(|()| bad(&format!("`{kind}` needs `topics`, a list of topic names such as [\"dashboard\"]")))?,
        _ => return Err(bad(&format!("`{kind}` needs `topics`, a list of topic names such as [\"dashboard\"]"))),
    };
    if let Some(unknown) = topics.iter().find(|t| !TOPICS.contains(t)) {
        return Err(bad(&format!("unknown topic `{}`: the topics are `dashboard`", truncate(unknown))));
    }
    if on && !admin {
        return Err(error(ErrorCode::Forbidden, "the `dashboard` topic is for admins; your events keep coming"));
    }
    Ok(EventsRequest::Dashboard(on))
}

#[derive(PartialEq)]
enum Burst {
    Sent,
    /// Sent, and events were missed after them: catch up from the database.
    Lagged,
    Failed,
}

/// Sends `first` and whatever else is already waiting (up to [`MAX_BURST`])
/// with one flush.
async fn send_burst(
    sink: &mut Sink,
    live: &mut tokio::sync::broadcast::Receiver<Arc<EventMessage>>,
    first: Arc<EventMessage>,
    last: &mut i64,
    visible: &impl Fn(&EventMessage) -> bool,
) -> Burst {
    use tokio::sync::broadcast::error::TryRecvError;
    let (mut outcome, mut m, mut sent) = (Burst::Sent, first, 0);
    loop {
        if m.seq > *last {
            *last = m.seq;
            if visible(&m) && sink.feed(warp::ws::Message::text(m.client_text())).await.is_err() {
                return Burst::Failed;
            }
        }
        sent += 1;
        if sent == MAX_BURST {
            break;
        }
        m = match live.try_recv() {
            Ok(m) => m,
            Err(TryRecvError::Lagged(_)) => {
                outcome = Burst::Lagged;
                break;
            }
            Err(_) => break,
        };
    }
    if sink.flush().await.is_err() {
        return Burst::Failed;
    }
    outcome
}

/// Sends recorded events after `last` until the database has no more.
async fn catch_up(s: &AppState, sink: &mut Sink, last: &mut i64, visible: &impl Fn(&EventMessage) -> bool) -> bool {
    loop {
        let page = match s.sessions.bus().replay(*last).await {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "event catch-up");
                let _ =
                    send_json(sink, &error(ErrorCode::Internal, "the state database is unavailable; reconnect")).await;
                return false;
            }
        };
        if page.is_empty() {
            return true;
        }
        for m in &page {
            *last = m.seq;
            if visible(m) && !send_text(sink, m.client_text()).await {
                return false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{events_request, EventsRequest};

    fn code(text: &str, admin: bool) -> String {
        let e = events_request(text, admin).unwrap_err();
        format!("{}: {}", e["code"].as_str().unwrap(), e["message"].as_str().unwrap())
    }

    #[test]
    fn events_requests_are_read_or_refused_precisely() {
        let ping = events_request(r#"{"type":"ping","id":7}"#, false).unwrap();
        assert_eq!(ping, EventsRequest::Ping(7.into()));
        let sub = r#"{"type":"subscribe","topics":["dashboard"]}"#;
        assert_eq!(events_request(sub, true).unwrap(), EventsRequest::Dashboard(true));
        let unsub = r#"{"type":"unsubscribe","topics":["dashboard"]}"#;
        assert_eq!(events_request(unsub, false).unwrap(), EventsRequest::Dashboard(false));
        let cases = [
            (sub, false, "forbidden: the `dashboard` topic is for admins"),
            ("not json", true, "bad_json: not JSON"),
            ("[1]", true, "bad_request: a message is a JSON object"),
            (r#"{"id":1}"#, true, "bad_request: a message needs a string `type`"),
            (r#"{"type":"hello"}"#, true, "unknown_type: unknown message type `hello`"),
            (r#"{"type":"auth","token":"x"}"#, true, "out_of_order: this connection is already authenticated"),
            (r#"{"type":"subscribe"}"#, false, "bad_request: `subscribe` needs `topics`"),
            (r#"{"type":"subscribe","topics":[]}"#, true, "bad_request: `subscribe` needs `topics`"),
            (r#"{"type":"subscribe","topics":[1]}"#, true, "bad_request: `subscribe` needs `topics`"),
            (r#"{"type":"subscribe","topics":["fleet"]}"#, true, "bad_request: unknown topic `fleet`"),
            (r#"{"type":"subscribe","topics":["dashboard"],"x":1}"#, true, "bad_request: `subscribe` has no field `x`"),
        ];
        for (text, admin, says) in cases {
            let got = code(text, admin);
            assert!(got.starts_with(says), "{text}: {got}");
        }
        let big = format!(r#"{{"type":"ping","id":"{}"}}"#, "x".repeat(5000));
        assert!(code(&big, true).starts_with("too_large: a message here is at most 4096 bytes"));
    }
}
