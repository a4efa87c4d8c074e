//! Signaling under hostile and out-of-order input.
//!
//! The first half drives the per-connection logic (`signaling::handler::run`)
//! directly, with a recording `StreamHost` and a paused clock. The second half
//! talks to the real service over real WebSockets, with real GStreamer streams.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use playcast::media::stream::StreamEvent;
use playcast::session::{OpenRequest, Opened, StreamControl, StreamHost};
use playcast::signaling::handler::{run, Frame, Limits};
use playcast::signaling::protocol::{ErrorCode, ProtocolError, ServerMessage, StreamId, VERSION};
use serde_json::{json, Value};
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

// ---- handler level: a recording host, no sockets ----------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Call {
    Open { pipeline: Option<String>, params: Value },
    Answer(StreamId, String),
    Candidate(StreamId, u32, String),
    Stop(StreamId),
}

/// Opens pretend streams `s1`, `s2`, …; keeps each stream's event sender so the
/// test decides when offers, candidates and endings happen.
#[derive(Default)]
struct FakeHost {
    calls: Arc<Mutex<Vec<Call>>>,
    events: Mutex<Vec<UnboundedSender<StreamEvent>>>,
}

impl StreamHost for FakeHost {
    fn open(&self, req: OpenRequest, events: UnboundedSender<StreamEvent>) -> Result<Opened, ProtocolError> {
        self.calls
            .lock()
            .unwrap()
            .push(Call::Open { pipeline: req.pipeline.clone(), params: serde_json::to_value(&req.params).unwrap() });
        match req.pipeline.as_deref() {
            Some("broken") => return Err(ProtocolError::new(ErrorCode::Pipeline, "pipeline `broken` cannot start")),
            Some("full") => return Err(ProtocolError::new(ErrorCode::Busy, "no room")),
            _ => {}
        }
        let mut senders = self.events.lock().unwrap();
        senders.push(events);
        let id = StreamId(format!("s{}", senders.len()));
        let welcome = ServerMessage::Welcome {
            version: VERSION,
            stream_id: id.clone(),
            pipeline: req.pipeline.unwrap_or_else(|| "test-pattern".into()),
            encoder: "fakeenc".into(),
            width: Some(320),
            height: Some(240),
            framerate: Some(15),
            audio: true,
            ice_servers: vec![],
        };
        Ok(Opened { welcome, control: Box::new(FakeControl { id, calls: self.calls.clone() }) })
    }
}

struct FakeControl {
    id: StreamId,
    calls: Arc<Mutex<Vec<Call>>>,
}

impl StreamControl for FakeControl {
    fn set_answer(&self, sdp: &str) -> Result<(), String> {
        // GStreamer's SDP parser asserts on empty input; the handler must not pass it on.
        assert!(!sdp.trim().is_empty(), "an empty SDP reached the stream");
        if !sdp.starts_with("v=0") {
            return Err("invalid SDP: unparsable".into());
        }
        self.calls.lock().unwrap().push(Call::Answer(self.id.clone(), sdp.into()));
        Ok(())
    }

    fn add_candidate(&self, mline: u32, candidate: &str) -> Result<(), String> {
        if !candidate.is_empty() && !candidate.starts_with("candidate:") {
            return Err("invalid ICE candidate: must start with `candidate:`".into());
        }
        self.calls.lock().unwrap().push(Call::Candidate(self.id.clone(), mline, candidate.into()));
        Ok(())
    }

    fn stop(self: Box<Self>) {
        self.calls.lock().unwrap().push(Call::Stop(self.id.clone()));
    }
}

const MAX_BYTES: usize = 4096;
const IDLE: Duration = Duration::from_secs(60);
const ANSWER: Duration = Duration::from_secs(30);
const SDP: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n";
const CANDIDATE: &str = "candidate:1 1 udp 2122260223 192.0.2.7 54321 typ host";

fn limits() -> Limits {
    Limits { max_message_bytes: MAX_BYTES, idle_timeout: IDLE, answer_timeout: ANSWER }
}

/// One connection driven by the test.
struct Conn {
    host: Arc<FakeHost>,
    frames: Option<UnboundedSender<Frame>>,
    out: UnboundedReceiver<ServerMessage>,
    task: JoinHandle<()>,
}

impl Conn {
    fn start(limits: Limits) -> Conn {
        let host = Arc::new(FakeHost::default());
        let (ftx, mut frx) = mpsc::unbounded_channel::<Frame>();
        let incoming = futures_util::stream::poll_fn(move |cx| frx.poll_recv(cx));
        let (otx, orx) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(host.clone(), incoming, otx, limits));
        Conn { host, frames: Some(ftx), out: orx, task }
    }

    fn text(&self, text: impl Into<String>) {
        self.frames.as_ref().expect("incoming still open").send(Frame::Text(text.into())).expect("handler is running");
    }

    fn send(&self, msg: Value) {
        self.text(msg.to_string());
    }

    /// The next message; the clock is paused, so waiting costs nothing.
    async fn recv(&mut self) -> ServerMessage {
        tokio::time::timeout(Duration::from_secs(3600), self.out.recv())
            .await
            .expect("the handler sent nothing")
            .expect("the handler closed its output")
    }

    async fn error(&mut self, code: ErrorCode) -> (String, Option<StreamId>) {
        match self.recv().await {
            ServerMessage::Error { code: got, message, stream_id, .. } => {
                assert_eq!(got, code, "error code; message: {message}");
                assert!(!message.is_empty(), "an error says what is wrong");
                (message, stream_id)
            }
            other => panic!("expected error {code:?}, got {other:?}"),
        }
    }

    async fn pong(&mut self, id: u64) {
        self.send(json!({"type": "ping", "id": id}));
        assert_eq!(self.recv().await, ServerMessage::Pong { id });
    }

    /// Nothing more arrives for a second (of paused time).
    async fn quiet(&mut self) {
        if let Ok(m) = tokio::time::timeout(Duration::from_secs(1), self.out.recv()).await {
            panic!("expected no message, got {m:?}");
        }
    }

    fn event(&self, ev: StreamEvent) {
        let senders = self.host.events.lock().unwrap();
        let _ = senders.last().expect("a stream was opened").send(ev);
    }

    fn calls(&self) -> Vec<Call> {
        self.host.calls.lock().unwrap().clone()
    }

    fn stops(&self) -> Vec<StreamId> {
        self.calls()
            .into_iter()
            .filter_map(|c| match c {
                Call::Stop(id) => Some(id),
                _ => None,
            })
            .collect()
    }

    async fn hello(&mut self) -> StreamId {
        self.send(json!({"type": "hello", "version": 1, "pipeline": "test-pattern", "params": {"width": 320}}));
        match self.recv().await {
            ServerMessage::Welcome { stream_id, version, .. } => {
                assert_eq!(version, VERSION);
                stream_id
            }
            other => panic!("expected welcome, got {other:?}"),
        }
    }

    /// hello, then the stream's offer reaches the client.
    async fn offered(&mut self) -> StreamId {
        let id = self.hello().await;
        self.event(StreamEvent::Offer(SDP.into()));
        assert_eq!(self.recv().await, ServerMessage::Offer { stream_id: id.clone(), sdp: SDP.into() });
        id
    }

    /// hello, offer and a good answer.
    async fn answered(&mut self) -> StreamId {
        let id = self.offered().await;
        self.send(json!({"type": "answer", "stream_id": id, "sdp": SDP}));
        self.pong(999).await;
        assert!(self.calls().contains(&Call::Answer(id.clone(), SDP.into())), "{:?}", self.calls());
        id
    }

    /// The handler returns (within an hour of paused time).
    async fn finished(&mut self) {
        tokio::time::timeout(Duration::from_secs(3600), &mut self.task)
            .await
            .expect("the handler did not return")
            .expect("the handler panicked");
    }
}

#[tokio::test(start_paused = true)]
async fn ping_is_answered_before_and_after_hello() {
    let mut c = Conn::start(limits());
    c.pong(1).await;
    c.pong(u64::MAX).await;
    c.send(json!({"type": "ping", "id": 7, "future_field": [1, 2, 3]}));
    assert_eq!(c.recv().await, ServerMessage::Pong { id: 7 }, "unknown fields are ignored");
    c.hello().await;
    c.pong(2).await;
    c.quiet().await;
}

#[tokio::test(start_paused = true)]
async fn other_protocol_versions_are_refused_without_a_stream() {
    let mut c = Conn::start(limits());
    for version in [json!(2), json!(0), json!(-1), json!(1.5), json!(4_294_967_297_u64)] {
        c.send(json!({"type": "hello", "version": version}));
        let (message, sid) = c.error(ErrorCode::UnsupportedVersion).await;
        assert!(message.contains(&format!("speaks {VERSION}")), "names the supported version: {message}");
        assert_eq!(sid, None);
    }
    c.send(json!({"type": "hello", "version": "1"}));
    let (message, _) = c.error(ErrorCode::BadRequest).await;
    assert!(message.contains("hello"), "{message}");
    assert!(c.calls().is_empty(), "no stream was opened: {:?}", c.calls());
    c.hello().await;
}

#[tokio::test(start_paused = true)]
async fn a_second_hello_while_live_is_out_of_order_and_harmless() {
    let mut c = Conn::start(limits());
    let id = c.offered().await;
    c.send(json!({"type": "hello", "version": 1}));
    let (message, sid) = c.error(ErrorCode::OutOfOrder).await;
    assert_eq!(sid, Some(id.clone()), "{message}");
    assert!(message.contains(&id.0), "{message}");
    assert_eq!(c.calls().iter().filter(|c| matches!(c, Call::Open { .. })).count(), 1);
    assert!(c.stops().is_empty());
    // The first stream carries on.
    c.send(json!({"type": "answer", "stream_id": id, "sdp": SDP}));
    c.pong(1).await;
    assert!(c.calls().contains(&Call::Answer(id, SDP.into())));
}

#[tokio::test(start_paused = true)]
async fn answers_out_of_turn_are_refused() {
    let mut c = Conn::start(limits());
    let id = c.hello().await;
    c.send(json!({"type": "answer", "stream_id": id, "sdp": SDP}));
    let (message, sid) = c.error(ErrorCode::OutOfOrder).await;
    assert!(message.contains("offer"), "{message}");
    assert_eq!(sid, Some(id.clone()));

    c.event(StreamEvent::Offer(SDP.into()));
    assert!(matches!(c.recv().await, ServerMessage::Offer { .. }));
    c.send(json!({"type": "answer", "stream_id": id, "sdp": SDP}));
    c.send(json!({"type": "answer", "stream_id": id, "sdp": SDP}));
    let (message, _) = c.error(ErrorCode::OutOfOrder).await;
    assert!(message.contains("answered"), "{message}");
    let answers = c.calls().iter().filter(|c| matches!(c, Call::Answer(..))).count();
    assert_eq!(answers, 1, "only the first answer is applied");
    assert!(c.stops().is_empty(), "the stream is still live");
}

#[tokio::test(start_paused = true)]
async fn an_empty_or_garbage_answer_is_refused_and_can_be_retried() {
    let mut c = Conn::start(limits());
    let id = c.offered().await;
    for sdp in ["", " \r\n\t", "garbage"] {
        c.send(json!({"type": "answer", "stream_id": id, "sdp": sdp}));
        let (message, sid) = c.error(ErrorCode::BadRequest).await;
        assert!(message.contains("SDP") || message.contains("sdp"), "{message}");
        assert_eq!(sid, Some(id.clone()));
    }
    assert!(c.stops().is_empty());
    c.send(json!({"type": "answer", "stream_id": id, "sdp": SDP}));
    c.pong(1).await;
    assert_eq!(c.calls().iter().filter(|c| matches!(c, Call::Answer(..))).count(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_renegotiation_offer_takes_one_more_answer() {
    let mut c = Conn::start(limits());
    let id = c.answered().await;
    c.event(StreamEvent::Offer(SDP.into()));
    assert!(matches!(c.recv().await, ServerMessage::Offer { .. }));
    c.send(json!({"type": "answer", "stream_id": id, "sdp": SDP}));
    c.pong(1).await;
    let answers = c.calls().iter().filter(|c| matches!(c, Call::Answer(..))).count();
    assert_eq!(answers, 2);
    // Answered in time: the answer timeout does not end the stream.
    tokio::time::sleep(ANSWER + ANSWER / 2).await;
    c.pong(2).await;
    assert!(c.stops().is_empty());
}

#[tokio::test(start_paused = true)]
async fn ice_before_the_answer_is_out_of_order() {
    let mut c = Conn::start(limits());
    let id = c.offered().await;
    c.send(json!({"type": "ice", "stream_id": id, "candidate": CANDIDATE, "sdp_mline_index": 0}));
    c.error(ErrorCode::OutOfOrder).await;
    assert!(!c.calls().iter().any(|c| matches!(c, Call::Candidate(..))));

    c.send(json!({"type": "answer", "stream_id": id, "sdp": SDP}));
    c.send(json!({"type": "ice", "stream_id": id, "candidate": CANDIDATE, "sdp_mline_index": 0}));
    c.send(json!({"type": "ice", "stream_id": id, "candidate": "", "sdp_mline_index": 0}));
    c.send(json!({"type": "ice", "stream_id": id, "candidate": "a=candidate:1\r\nm=evil", "sdp_mline_index": 0}));
    let (message, sid) = c.error(ErrorCode::BadRequest).await;
    assert!(message.contains("candidate"), "{message}");
    assert_eq!(sid, Some(id.clone()));
    let candidates: Vec<Call> = c.calls().into_iter().filter(|c| matches!(c, Call::Candidate(..))).collect();
    assert_eq!(candidates, [Call::Candidate(id.clone(), 0, CANDIDATE.into()), Call::Candidate(id, 0, String::new())]);
}

#[tokio::test(start_paused = true)]
async fn messages_for_other_streams_are_unknown_stream() {
    let mut c = Conn::start(limits());
    // Before any hello.
    for msg in [
        json!({"type": "answer", "stream_id": "s1", "sdp": SDP}),
        json!({"type": "ice", "stream_id": "s1", "candidate": CANDIDATE, "sdp_mline_index": 0}),
        json!({"type": "bye", "stream_id": "s1"}),
    ] {
        c.send(msg);
        let (_, sid) = c.error(ErrorCode::UnknownStream).await;
        assert_eq!(sid, Some(StreamId("s1".into())), "the error names the id sent");
    }
    let id = c.answered().await;
    let long = "z".repeat(3000);
    for other in ["nope", "", long.as_str()] {
        for msg in [
            json!({"type": "answer", "stream_id": other, "sdp": SDP}),
            json!({"type": "ice", "stream_id": other, "candidate": CANDIDATE, "sdp_mline_index": 0}),
            json!({"type": "bye", "stream_id": other, "reason": "x"}),
        ] {
            c.send(msg);
            let (message, sid) = c.error(ErrorCode::UnknownStream).await;
            assert_eq!(sid, Some(StreamId(other.into())), "the error names the id sent, not the live one");
            assert!(message.len() < 400, "the message does not echo a long id in full: {} bytes", message.len());
        }
    }
    assert!(c.stops().is_empty(), "the live stream is untouched");
    // A stream that has ended is unknown too.
    c.send(json!({"type": "bye", "stream_id": id}));
    c.pong(1).await;
    c.send(json!({"type": "ice", "stream_id": id, "candidate": CANDIDATE, "sdp_mline_index": 0}));
    let (_, sid) = c.error(ErrorCode::UnknownStream).await;
    assert_eq!(sid, Some(id));
}

#[tokio::test(start_paused = true)]
async fn frames_that_are_not_protocol_messages() {
    let mut c = Conn::start(limits());
    for bad in ["{", "", "   ", "nul", "{\"type\":\"ping\",\"id\":1", "\u{feff}{}", "{\"type\":\"ping\"}}"] {
        c.text(bad);
        let (message, sid) = c.error(ErrorCode::BadJson).await;
        assert!(message.contains("JSON"), "{bad:?}: {message}");
        assert_eq!(sid, None);
    }
    for not_object in ["[]", "7", "\"ping\"", "null", "{}", "{\"type\":7}", "{\"type\":null}", "{\"kind\":\"ping\"}"] {
        c.text(not_object);
        c.error(ErrorCode::BadJson).await;
    }
    c.frames.as_ref().unwrap().send(Frame::Binary(12)).unwrap();
    let (message, _) = c.error(ErrorCode::BadJson).await;
    assert!(message.contains("binary"), "{message}");
    c.pong(1).await;
}

#[tokio::test(start_paused = true)]
async fn unknown_types_are_named_and_cut_short() {
    let mut c = Conn::start(limits());
    c.send(json!({"type": "dance"}));
    let (message, _) = c.error(ErrorCode::UnknownType).await;
    assert!(message.contains("`dance`") && message.contains("hello"), "{message}");
    let long = "x".repeat(2000);
    c.send(json!({"type": long}));
    let (message, _) = c.error(ErrorCode::UnknownType).await;
    assert!(message.len() < 200, "{} bytes: {message}", message.len());
    for server_only in ["welcome", "offer", "pong", "error", "HELLO"] {
        c.send(json!({"type": server_only, "version": 1}));
        c.error(ErrorCode::UnknownType).await;
    }
    c.pong(1).await;
}

#[tokio::test(start_paused = true)]
async fn missing_and_mistyped_fields_are_named() {
    let mut c = Conn::start(limits());
    let id = c.offered().await;
    let cases = [
        (json!({"type": "hello"}), "version"),
        (json!({"type": "hello", "version": 1, "pipeline": 5}), "string"),
        (json!({"type": "hello", "version": 1, "params": [1]}), "map"),
        (json!({"type": "answer", "stream_id": id}), "sdp"),
        (json!({"type": "answer", "sdp": SDP}), "stream_id"),
        (json!({"type": "answer", "stream_id": 5, "sdp": SDP}), "string"),
        (json!({"type": "ice", "stream_id": id, "candidate": CANDIDATE}), "sdp_mline_index"),
        (json!({"type": "ice", "stream_id": id, "sdp_mline_index": 0}), "candidate"),
        (json!({"type": "ice", "stream_id": id, "candidate": CANDIDATE, "sdp_mline_index": -1}), "-1"),
        (json!({"type": "bye"}), "stream_id"),
        (json!({"type": "ping"}), "id"),
        (json!({"type": "ping", "id": "one"}), "string"),
        (json!({"type": "ping", "id": 1.5}), "1.5"),
    ];
    for (msg, named) in cases {
        c.send(msg.clone());
        let (message, _) = c.error(ErrorCode::BadRequest).await;
        assert!(message.contains(named), "{msg}: expected `{named}` in: {message}");
    }
    assert_eq!(c.calls().iter().filter(|c| matches!(c, Call::Open { .. })).count(), 1);
    assert!(c.stops().is_empty());
}

#[tokio::test(start_paused = true)]
async fn oversized_text_is_refused_and_the_connection_keeps_working() {
    let mut c = Conn::start(limits());
    let id = c.offered().await;
    let padding = "a".repeat(MAX_BYTES);
    c.send(json!({"type": "answer", "stream_id": id, "sdp": padding}));
    let (message, sid) = c.error(ErrorCode::TooLarge).await;
    assert!(message.contains(&MAX_BYTES.to_string()), "names the limit: {message}");
    assert_eq!(sid, None);
    assert!(!c.calls().iter().any(|c| matches!(c, Call::Answer(..))), "the frame was not acted on");
    // Exactly at the limit is fine.
    let ping = json!({"type": "ping", "id": 5}).to_string();
    let at_limit = format!("{ping:<width$}", width = MAX_BYTES);
    assert_eq!(at_limit.len(), MAX_BYTES);
    c.text(at_limit);
    assert_eq!(c.recv().await, ServerMessage::Pong { id: 5 });
    c.text(format!("{ping:<width$}", width = MAX_BYTES + 1));
    c.error(ErrorCode::TooLarge).await;
    c.pong(6).await;
    c.send(json!({"type": "answer", "stream_id": id, "sdp": SDP}));
    c.pong(7).await;
    assert!(c.calls().contains(&Call::Answer(id, SDP.into())));
}

#[tokio::test(start_paused = true)]
async fn hello_failures_create_no_stream() {
    let mut c = Conn::start(limits());
    c.send(json!({"type": "hello", "version": 1, "pipeline": "broken"}));
    c.error(ErrorCode::Pipeline).await;
    c.send(json!({"type": "hello", "version": 1, "pipeline": "full"}));
    c.error(ErrorCode::Busy).await;
    c.send(json!({"type": "answer", "stream_id": "s1", "sdp": SDP}));
    c.error(ErrorCode::UnknownStream).await;
    let id = c.hello().await;
    assert_eq!(id, StreamId("s1".into()));
}

#[tokio::test(start_paused = true)]
async fn the_stream_ending_sends_bye_with_its_reason() {
    let mut c = Conn::start(limits());
    let id = c.answered().await;
    c.event(StreamEvent::Candidate { mline: 0, candidate: CANDIDATE.into() });
    assert_eq!(
        c.recv().await,
        ServerMessage::Ice { stream_id: id.clone(), candidate: CANDIDATE.into(), sdp_mline_index: 0 }
    );
    c.event(StreamEvent::Ended("x".into()));
    assert_eq!(c.recv().await, ServerMessage::Bye { stream_id: id.clone(), reason: "x".into() });
    assert_eq!(c.stops(), std::slice::from_ref(&id));
    // The connection stays usable for a new stream.
    let second = c.hello().await;
    assert_ne!(second, id);
}

#[tokio::test(start_paused = true)]
async fn a_stream_whose_events_vanish_is_ended() {
    let mut c = Conn::start(limits());
    let id = c.answered().await;
    c.host.events.lock().unwrap().clear();
    match c.recv().await {
        ServerMessage::Bye { stream_id, .. } => assert_eq!(stream_id, id),
        other => panic!("expected bye, got {other:?}"),
    }
    assert_eq!(c.stops(), [id]);
}

#[tokio::test(start_paused = true)]
async fn client_bye_stops_the_stream_without_a_reply() {
    let mut c = Conn::start(limits());
    let id = c.answered().await;
    c.send(json!({"type": "bye", "stream_id": id, "reason": "page closed"}));
    c.pong(1).await;
    assert_eq!(c.stops(), std::slice::from_ref(&id));
    c.quiet().await;
    // Events of the old stream no longer reach the client.
    c.event(StreamEvent::Candidate { mline: 0, candidate: CANDIDATE.into() });
    c.quiet().await;
    let second = c.hello().await;
    assert_ne!(second, id);
}

#[tokio::test(start_paused = true)]
async fn closing_the_incoming_side_stops_the_stream() {
    let mut c = Conn::start(limits());
    let id = c.answered().await;
    c.frames = None;
    c.finished().await;
    assert_eq!(c.stops(), [id]);
}

#[tokio::test(start_paused = true)]
async fn closing_during_hello_still_stops_the_new_stream() {
    let mut c = Conn::start(limits());
    c.send(json!({"type": "hello", "version": 1}));
    c.frames = None;
    c.finished().await;
    assert_eq!(c.stops(), [StreamId("s1".into())]);
}

#[tokio::test(start_paused = true)]
async fn an_idle_connection_is_closed() {
    let mut c = Conn::start(limits());
    let id = c.answered().await;
    let start = tokio::time::Instant::now();
    let (message, _) = c.error(ErrorCode::BadRequest).await;
    assert!(message.contains("no message"), "{message}");
    c.finished().await;
    let waited = start.elapsed();
    assert!(waited >= IDLE && waited < IDLE + Duration::from_secs(1), "closed after {waited:?}");
    assert_eq!(c.stops(), [id]);
}

#[tokio::test(start_paused = true)]
async fn pings_keep_a_connection_open_but_stream_events_do_not() {
    let mut c = Conn::start(Limits { answer_timeout: IDLE * 10, ..limits() });
    c.hello().await;
    for i in 0..5 {
        tokio::time::sleep(IDLE / 2).await;
        c.pong(i).await;
    }
    // Only the stream talks from here on.
    let last_frame = tokio::time::Instant::now();
    c.event(StreamEvent::Offer(SDP.into()));
    assert!(matches!(c.recv().await, ServerMessage::Offer { .. }));
    let step = IDLE / 4 + Duration::from_secs(1);
    let mut closed = None;
    for _ in 0..8 {
        tokio::time::sleep(step).await;
        c.event(StreamEvent::Candidate { mline: 0, candidate: CANDIDATE.into() });
        match c.recv().await {
            ServerMessage::Ice { .. } => {}
            ServerMessage::Error { code: ErrorCode::BadRequest, message, .. } if message.contains("no message") => {
                closed = Some(last_frame.elapsed());
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let closed = closed.expect("server-side events kept an idle connection open");
    assert!(closed <= IDLE + step, "closed only after {closed:?}");
    c.finished().await;
}

#[tokio::test(start_paused = true)]
async fn an_unanswered_offer_ends_the_stream() {
    let limits = Limits { idle_timeout: Duration::from_secs(600), ..limits() };
    let mut c = Conn::start(limits);
    let id = c.offered().await;
    let start = tokio::time::Instant::now();
    match c.recv().await {
        ServerMessage::Bye { stream_id, reason } => {
            assert_eq!(stream_id, id);
            assert!(reason.contains("answer"), "{reason}");
        }
        other => panic!("expected bye, got {other:?}"),
    }
    let waited = start.elapsed();
    assert!(waited >= ANSWER && waited < ANSWER + Duration::from_secs(1), "ended after {waited:?}");
    assert_eq!(c.stops(), std::slice::from_ref(&id));
    // A late answer names a stream that is gone.
    c.send(json!({"type": "answer", "stream_id": id, "sdp": SDP}));
    c.error(ErrorCode::UnknownStream).await;
    c.pong(1).await;
}

#[tokio::test(start_paused = true)]
async fn the_answer_clock_starts_at_the_offer_not_the_hello() {
    let limits = Limits { idle_timeout: Duration::from_secs(600), ..limits() };
    let mut c = Conn::start(limits);
    c.hello().await;
    tokio::time::sleep(ANSWER * 3).await;
    c.pong(1).await;
    assert!(c.stops().is_empty(), "no offer yet, so no answer is owed");
}

#[tokio::test(start_paused = true)]
async fn hello_params_reach_the_host_as_given() {
    let mut c = Conn::start(limits());
    c.send(json!({"type": "hello", "version": 1, "pipeline": "p", "params": {"width": 320, "audio": false, "pattern": "ball"}}));
    assert!(matches!(c.recv().await, ServerMessage::Welcome { .. }));
    assert_eq!(
        c.calls()[0],
        Call::Open { pipeline: Some("p".into()), params: json!({"width": 320, "audio": false, "pattern": "ball"}) }
    );
}

// ---- real WebSockets against the in-process service --------------------------------------

use common::Ws;

const SMALL: &str = r#"{"width":320,"height":240,"framerate":15}"#;
const WAIT: Duration = Duration::from_secs(20);

async fn connect(service: &common::InProcess) -> Ws {
    service.signal().await
}

async fn send(ws: &mut Ws, msg: Value) {
    ws.send(Message::text(msg.to_string())).await.expect("send");
}

/// The next JSON text message, or a failure after `WAIT`.
async fn recv(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("no message from the server in time")
            .expect("the server closed the connection")
            .expect("WebSocket error");
        match msg {
            Message::Text(t) => return serde_json::from_str(&t).expect("the server sends JSON"),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

/// The next message of `kind`, skipping ICE candidates the stream trickles.
async fn recv_kind(ws: &mut Ws, kind: &str) -> Value {
    loop {
        let m = recv(ws).await;
        if m["type"] == kind {
            return m;
        }
        assert_eq!(m["type"], "ice", "expected {kind}, got {m}");
    }
}

async fn expect_error(ws: &mut Ws, code: &str) -> Value {
    let m = recv_kind(ws, "error").await;
    assert_eq!(m["code"], code, "{m}");
    assert!(m["message"].as_str().is_some_and(|s| !s.is_empty()), "{m}");
    m
}

async fn ping(ws: &mut Ws, id: u64) {
    send(ws, json!({"type": "ping", "id": id})).await;
    let m = recv_kind(ws, "pong").await;
    assert_eq!(m["id"], id);
}

async fn hello(ws: &mut Ws) -> Value {
    let params: Value = serde_json::from_str(SMALL).unwrap();
    send(ws, json!({"type": "hello", "version": 1, "pipeline": "test-pattern", "params": params})).await;
    let welcome = recv(ws).await;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    welcome
}

async fn live_streams(service: &common::InProcess) -> Vec<Value> {
    let admin = service.token("admin", playcast::auth::Role::Admin);
    let r = reqwest::Client::new()
        .get(service.url("/api/v1/streams"))
        .bearer_auth(admin)
        .send()
        .await
        .expect("GET /api/v1/streams");
    assert_eq!(r.status(), 200);
    r.json::<Vec<Value>>().await.expect("a JSON array")
}

async fn wait_no_streams(service: &common::InProcess) {
    common::eventually("every stream to be gone", WAIT, || async {
        live_streams(service).await.is_empty().then_some(())
    })
    .await;
}

/// The connection ends: a close frame, end of stream or a transport error.
async fn expect_closed(ws: &mut Ws) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await.expect("the server did not close the connection") {
            None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
            Some(Ok(_)) => continue,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_gets_a_welcome_and_a_browser_ready_offer() {
    let service = common::serve_in_process(|_| {}).await;
    let mut ws = connect(&service).await;
    ping(&mut ws, 1).await;
    let welcome = hello(&mut ws).await;
    assert_eq!(welcome["version"], 1);
    assert_eq!(welcome["encoder"], "x264enc", "{welcome}");
    assert_eq!(welcome["pipeline"], "test-pattern");
    assert_eq!((welcome["width"].as_i64(), welcome["height"].as_i64()), (Some(320), Some(240)));
    assert_eq!(welcome["framerate"], 15);
    assert_eq!(welcome["audio"], true);
    assert!(welcome["ice_servers"].is_array(), "{welcome}");
    let id = welcome["stream_id"].as_str().expect("stream_id").to_string();

    let offer = recv_kind(&mut ws, "offer").await;
    assert_eq!(offer["stream_id"], id.as_str());
    let sdp = offer["sdp"].as_str().expect("sdp");
    for needed in ["H264/90000", "packetization-mode=1", "transport-cc", "a=group:BUNDLE", "OPUS/48000"] {
        assert!(sdp.contains(needed), "offer lacks {needed}:\n{sdp}");
    }
    let plid = sdp.split("profile-level-id=").nth(1).expect("profile-level-id in the offer");
    assert!(plid.starts_with("42") || plid.starts_with("4d"), "profile-level-id {}", &plid[..6.min(plid.len())]);

    let listed = live_streams(&service).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["stream_id"], id.as_str());
    assert_eq!(listed[0]["encoder"], "x264enc");

    send(&mut ws, json!({"type": "bye", "stream_id": id, "reason": "done"})).await;
    ping(&mut ws, 2).await;
    wait_no_streams(&service).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_hellos_are_refused_and_nothing_is_injected() {
    let service = common::serve_in_process(|_| {}).await;
    let mut ws = connect(&service).await;

    send(&mut ws, json!({"type": "hello", "version": 1, "pipeline": "no-such-pipeline"})).await;
    let e = expect_error(&mut ws, "bad_request").await;
    assert!(e["message"].as_str().unwrap().contains("no-such-pipeline"), "{e}");

    send(&mut ws, json!({"type": "hello", "version": 1, "pipeline": "../../etc/passwd"})).await;
    expect_error(&mut ws, "bad_request").await;

    send(&mut ws, json!({"type": "hello", "version": 1, "params": {"width": 99999}})).await;
    let e = expect_error(&mut ws, "bad_request").await;
    assert!(e["message"].as_str().unwrap().contains("width"), "{e}");

    for bad in [json!({"width": "320"}), json!({"width": 320.5}), json!({"audio": "yes"}), json!({"framerate": 0})] {
        send(&mut ws, json!({"type": "hello", "version": 1, "params": bad})).await;
        expect_error(&mut ws, "bad_request").await;
    }

    let marker = std::env::temp_dir().join(format!("playcast-injected-{}", std::process::id()));
    let _ = std::fs::remove_file(&marker);
    for pattern in [
        format!("smpte ! filesink location={}", marker.display()),
        "smpte ! filesink location=/tmp/x".to_string(),
        "smpte\" ! fakesink".to_string(),
        "smpte horizontal-speed=1".to_string(),
        "${width}".to_string(),
    ] {
        send(&mut ws, json!({"type": "hello", "version": 1, "params": {"pattern": pattern}})).await;
        let e = expect_error(&mut ws, "bad_request").await;
        assert!(e["message"].as_str().unwrap().contains("pattern"), "{e}");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!marker.exists(), "a parameter value became a GStreamer element");
    assert!(live_streams(&service).await.is_empty(), "no stream was created");

    // The connection is still good for a valid hello.
    hello(&mut ws).await;
    assert_eq!(live_streams(&service).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_frames_and_a_noisy_neighbour() {
    let service = common::serve_in_process(|_| {}).await;
    let mut calm = connect(&service).await;
    let welcome = hello(&mut calm).await;
    let calm_id = welcome["stream_id"].as_str().unwrap().to_string();
    recv_kind(&mut calm, "offer").await;

    let mut noisy = connect(&service).await;
    // 70 KB: over the protocol's 64 KiB, under the transport's 1 MiB.
    let big = json!({"type": "ping", "id": 1, "pad": "p".repeat(70 * 1024)}).to_string();
    noisy.send(Message::text(big)).await.unwrap();
    let e = expect_error(&mut noisy, "too_large").await;
    assert!(e["message"].as_str().unwrap().contains("65536"), "{e}");
    ping(&mut noisy, 2).await;
    noisy.send(Message::binary(vec![0u8; 100])).await.unwrap();
    expect_error(&mut noisy, "bad_json").await;
    ping(&mut noisy, 3).await;

    // Over 1 MiB: the server drops the connection.
    let huge = "h".repeat((1 << 20) + 1024);
    let _ = noisy.send(Message::text(huge)).await;
    expect_closed(&mut noisy).await;

    // The other connection and its stream are unaffected.
    ping(&mut calm, 4).await;
    let listed = live_streams(&service).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["stream_id"], calm_id.as_str());
    let mut third = connect(&service).await;
    ping(&mut third, 5).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_sends_but_never_reads_is_closed() {
    let service = common::serve_in_process(|_| {}).await;
    // A small receive buffer (no autotuning), so what the client does not
    // read backs up into the service quickly.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(16 * 1024).unwrap();
    let stream = socket.connect(service.addr).await.unwrap();
    let url = format!("ws://{}/api/v1/signal", service.addr);
    let stream = tokio_tungstenite::MaybeTlsStream::Plain(stream);
    let (mut deaf, _) = tokio_tungstenite::client_async(url, stream).await.unwrap();
    let token = service.sign_in("player", playcast::auth::Role::Player).await;
    common::ws_authenticate(&mut deaf, &token, None).await;
    // Far more pongs than the socket buffers hold: the rest would queue in
    // the service without end.
    let sent = 400_000u64;
    for id in 0..sent {
        if deaf.feed(Message::text(json!({"type": "ping", "id": id}).to_string())).await.is_err() {
            break;
        }
    }
    let _ = deaf.flush().await;
    // Now read: what was buffered, then the end.
    let mut pongs = 0u64;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match tokio::time::timeout_at(deadline, deaf.next()).await.expect("the server did not close the connection") {
            Some(Ok(Message::Text(t))) if t.contains("\"pong\"") => pongs += 1,
            None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break,
            Some(Ok(_)) => {}
        }
    }
    assert!(pongs < sent, "{pongs} pongs: the service kept answering a client that did not read");
    let mut other = connect(&service).await;
    ping(&mut other, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_garbage_answer_is_refused_and_the_stream_stays_live() {
    let service = common::serve_in_process(|_| {}).await;
    let mut ws = connect(&service).await;
    let welcome = hello(&mut ws).await;
    let id = welcome["stream_id"].as_str().unwrap().to_string();
    recv_kind(&mut ws, "offer").await;

    for garbage in ["garbage", "", "v=0\r\n", "\u{0}\u{1}\u{2}"] {
        send(&mut ws, json!({"type": "answer", "stream_id": id, "sdp": garbage})).await;
        let e = expect_error(&mut ws, "bad_request").await;
        assert_eq!(e["stream_id"], id.as_str(), "{e}");
    }
    send(&mut ws, json!({"type": "answer", "stream_id": "someone-else", "sdp": SDP})).await;
    let e = expect_error(&mut ws, "unknown_stream").await;
    assert_eq!(e["stream_id"], "someone-else");
    ping(&mut ws, 1).await;
    let listed = live_streams(&service).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["stream_id"], id.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_short_connections_leave_no_stream_behind() {
    let service = common::serve_in_process(|c| {
        c.media.max_streams = 32;
        // Room for every connection of a wave even while the last wave cleans up.
        c.node.cpu_cores = 32;
    })
    .await;
    let token = service.sign_in("player", playcast::auth::Role::Player).await;
    for wave in 0..5 {
        let tasks: Vec<_> = (0..4)
            .map(|i| {
                let url = service.ws_url();
                let token = token.clone();
                tokio::spawn(async move {
                    let mut ws = common::ws_connect(&url, &token).await;
                    let params: Value = serde_json::from_str(SMALL).unwrap();
                    send(&mut ws, json!({"type": "hello", "version": 1, "params": params})).await;
                    match (wave + i) % 3 {
                        // Gone before the welcome.
                        0 => drop(ws),
                        // Gone right after the welcome, without a word.
                        1 => {
                            assert_eq!(recv(&mut ws).await["type"], "welcome");
                            drop(ws);
                        }
                        // A polite close.
                        _ => {
                            assert_eq!(recv(&mut ws).await["type"], "welcome");
                            ws.close(None).await.expect("close");
                        }
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("connection task");
        }
    }
    wait_no_streams(&service).await;
    let mut ws = connect(&service).await;
    hello(&mut ws).await;
}
