//! Signaling protocol v1: JSON text messages tagged by `type`. The document
//! for people is `docs/SIGNALING.md`; these types are the source of truth.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::media::ice::IceServer;

pub const VERSION: u32 = 1;

/// Server-chosen stream identifier; it lives with the other ids.
pub use crate::model::ids::StreamId;

/// Messages a client sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    /// Asks for a stream of the game session `session_id` (created through the
    /// API), or without one, of a session made for this stream alone from
    /// `pipeline` (the server default if absent) and `params`.
    Hello {
        version: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        session_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pipeline: Option<String>,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        params: BTreeMap<String, serde_json::Value>,
    },
    /// The SDP answer to the server's offer.
    Answer { stream_id: StreamId, sdp: String },
    /// A trickled ICE candidate; empty means end of candidates.
    Ice { stream_id: StreamId, candidate: String, sdp_mline_index: u32 },
    /// Ends the stream.
    Bye {
        stream_id: StreamId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Keep-alive; answered by `pong` with the same id.
    Ping { id: u64 },
}

/// Messages the server sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// The stream exists; an offer follows.
    Welcome {
        version: u32,
        stream_id: StreamId,
        pipeline: String,
        encoder: String,
        width: Option<i64>,
        height: Option<i64>,
        framerate: Option<i64>,
        audio: bool,
        ice_servers: Vec<IceServer>,
    },
    Offer {
        stream_id: StreamId,
        sdp: String,
    },
    Ice {
        stream_id: StreamId,
        candidate: String,
        sdp_mline_index: u32,
    },
    /// The stream ended; `reason` says why.
    Bye {
        stream_id: StreamId,
        reason: String,
    },
    Error {
        code: ErrorCode,
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stream_id: Option<StreamId>,
        /// With `moved`: the signaling URL of the node that runs the session.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        location: Option<String>,
    },
    Pong {
        id: u64,
    },
    /// The server's view of the stream every 2 s (player only): sent rate,
    /// bandwidth estimate, ladder step, frame rates, encode time, RTT, loss.
    Quality {
        stream_id: StreamId,
        quality: serde_json::Value,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadJson,
    UnknownType,
    TooLarge,
    UnsupportedVersion,
    BadRequest,
    OutOfOrder,
    UnknownStream,
    /// No such session, or not one the caller may join.
    UnknownSession,
    /// The first message was not a valid `auth`.
    Unauthorized,
    /// The caller's role does not allow this.
    Forbidden,
    Pipeline,
    StreamFailed,
    Busy,
    /// The session runs on another node: reconnect to `location` and say hello there.
    Moved,
    Internal,
}

/// A message the server could not accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ProtocolError {
    pub code: ErrorCode,
    pub message: String,
    pub location: Option<String>,
}

impl ProtocolError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), location: None }
    }

    /// The session lives at `location` (another node's signaling URL).
    pub fn moved(location: String, message: impl Into<String>) -> Self {
        Self { code: ErrorCode::Moved, message: message.into(), location: Some(location) }
    }
}

const CLIENT_TYPES: &[&str] = &["hello", "answer", "ice", "bye", "ping"];

/// Decodes one client message, telling bad JSON, unknown types and bad
/// fields apart.
pub fn decode(text: &str) -> Result<ClientMessage, ProtocolError> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| ProtocolError::new(ErrorCode::BadJson, format!("not JSON: {e}")))?;
    let Some(obj) = value.as_object() else {
        return Err(ProtocolError::new(ErrorCode::BadJson, "a message must be a JSON object"));
    };
    let kind = match obj.get("type") {
        Some(serde_json::Value::String(t)) => t.clone(),
        Some(_) => return Err(ProtocolError::new(ErrorCode::BadJson, "`type` must be a string")),
        None => return Err(ProtocolError::new(ErrorCode::BadJson, "missing `type`")),
    };
    if !CLIENT_TYPES.contains(&kind.as_str()) {
        let shown: String = kind.chars().take(32).collect();
        return Err(ProtocolError::new(
            ErrorCode::UnknownType,
            format!("unknown message type `{shown}`; expected one of {}", CLIENT_TYPES.join(", ")),
        ));
    }
    if kind == "hello" {
        // Any number but 1 is another version, even one no u32 holds.
        if let Some(v) = obj.get("version").filter(|v| v.is_number() && v.as_f64() != Some(f64::from(VERSION))) {
            return Err(ProtocolError::new(
                ErrorCode::UnsupportedVersion,
                format!("protocol version {v} is not supported; this server speaks {VERSION}"),
            ));
        }
    }
    let msg: ClientMessage = serde_json::from_value(value)
        .map_err(|e| ProtocolError::new(ErrorCode::BadRequest, format!("`{kind}`: {e}")))?;
    if let ClientMessage::Hello { params, .. } = &msg {
        check_params(params)?;
    }
    Ok(msg)
}

/// Parameters are named like a pipeline file's and hold a string, number or
/// boolean. Anything else could not be a parameter, and a name such as
/// `$serde_json::private::RawValue` would read back as something else once
/// the params are written as JSON again (found by fuzzing).
fn check_params(params: &BTreeMap<String, serde_json::Value>) -> Result<(), ProtocolError> {
    for (name, value) in params {
        let shown: String = name.chars().take(32).collect();
        if !crate::media::spec::valid_ident(name) {
            return Err(ProtocolError::new(
                ErrorCode::BadRequest,
                format!("`hello`: `{shown}` is not a parameter name (lowercase letters, digits and _)"),
            ));
        }
        if value.is_object() || value.is_array() {
            return Err(ProtocolError::new(
                ErrorCode::BadRequest,
                format!("`hello`: parameter `{shown}` must be a string, number or boolean"),
            ));
        }
    }
    Ok(())
}

pub fn encode(msg: &ServerMessage) -> String {
    serde_json::to_string(msg).expect("server messages always serialize")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn errors_are_told_apart() {
        assert_eq!(decode("{").unwrap_err().code, ErrorCode::BadJson);
        assert_eq!(decode("[]").unwrap_err().code, ErrorCode::BadJson);
        assert_eq!(decode("{}").unwrap_err().code, ErrorCode::BadJson);
        assert_eq!(decode(r#"{"type":7}"#).unwrap_err().code, ErrorCode::BadJson);
        assert_eq!(decode(r#"{"type":"hello","version":4294967297}"#).unwrap_err().code, ErrorCode::UnsupportedVersion);
        assert_eq!(decode(r#"{"type":"hello","version":-1}"#).unwrap_err().code, ErrorCode::UnsupportedVersion);
        assert_eq!(decode(r#"{"type":"hello","version":"1"}"#).unwrap_err().code, ErrorCode::BadRequest);
        assert_eq!(decode(r#"{"type":"dance"}"#).unwrap_err().code, ErrorCode::UnknownType);
        let e = decode(r#"{"type":"answer","stream_id":"x"}"#).unwrap_err();
        assert_eq!(e.code, ErrorCode::BadRequest);
        assert!(e.message.contains("sdp"), "{}", e.message);
        let e = decode(r#"{"type":"ice","stream_id":"x","candidate":"c","sdp_mline_index":-1}"#).unwrap_err();
        assert_eq!(e.code, ErrorCode::BadRequest);
    }

    #[test]
    fn hello_params_are_names_and_scalars() {
        // Found by fuzzing: this name made the params read back differently once written as JSON again.
        let e = decode(r#"{"type":"hello","version":1,"params":{"w":1,"$serde_json::private::RawValue":"ball"}}"#)
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::BadRequest);
        assert!(e.message.contains("is not a parameter name"), "{}", e.message);
        let e = decode(r#"{"type":"hello","version":1,"params":{"width":[640]}}"#).unwrap_err();
        assert!(e.message.contains("`width` must be a string, number or boolean"), "{}", e.message);
        assert!(
            decode(r#"{"type":"hello","version":1,"params":{"audio_frame":"20","ratio":1.5,"audio":true}}"#).is_ok()
        );
    }

    #[test]
    fn unknown_fields_are_ignored_for_forward_compatibility() {
        let m = decode(r#"{"type":"ping","id":4,"future":true}"#).unwrap();
        assert_eq!(m, ClientMessage::Ping { id: 4 });
    }

    #[test]
    fn hello_with_params() {
        let m = decode(r#"{"type":"hello","version":1,"params":{"width":640}}"#).unwrap();
        let ClientMessage::Hello { version, pipeline, params, .. } = m else { panic!() };
        assert_eq!((version, pipeline), (1, None));
        assert_eq!(params["width"], 640);
    }

    fn arb_client() -> impl Strategy<Value = ClientMessage> {
        let id = "[a-f0-9-]{1,36}".prop_map(StreamId);
        prop_oneof![
            (Just(VERSION), proptest::option::of("[a-z-]{1,20}")).prop_map(|(version, pipeline)| {
                ClientMessage::Hello { version, session_id: None, pipeline, params: BTreeMap::new() }
            }),
            (id.clone(), ".*").prop_map(|(stream_id, sdp)| ClientMessage::Answer { stream_id, sdp }),
            (id.clone(), ".*", any::<u32>()).prop_map(|(stream_id, candidate, sdp_mline_index)| ClientMessage::Ice {
                stream_id,
                candidate,
                sdp_mline_index
            }),
            (id, proptest::option::of(".*")).prop_map(|(stream_id, reason)| ClientMessage::Bye { stream_id, reason }),
            any::<u64>().prop_map(|id| ClientMessage::Ping { id }),
        ]
    }

    proptest! {
        #[test]
        fn client_messages_round_trip(m in arb_client()) {
            let text = serde_json::to_string(&m).unwrap();
            prop_assert_eq!(decode(&text).unwrap(), m);
        }

        #[test]
        fn server_messages_round_trip(id in "[a-f0-9-]{1,36}", s in ".*", n in any::<u64>()) {
            for m in [
                ServerMessage::Offer { stream_id: StreamId(id.clone()), sdp: s.clone() },
                ServerMessage::Bye { stream_id: StreamId(id.clone()), reason: s.clone() },
                ServerMessage::Error { code: ErrorCode::OutOfOrder, message: s.clone(), stream_id: None, location: None },
                ServerMessage::Error { code: ErrorCode::Moved, message: s.clone(), stream_id: None, location: Some(s.clone()) },
                ServerMessage::Pong { id: n },
            ] {
                let back: ServerMessage = serde_json::from_str(&encode(&m)).unwrap();
                prop_assert_eq!(back, m);
            }
        }

        #[test]
        fn decode_never_panics(text in "\\PC{0,200}") {
            let _ = decode(&text);
        }
    }
}
