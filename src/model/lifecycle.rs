//! The game-session lifecycle as one explicit state machine:
//!
//! ```text
//! Idle → Initializing → Connecting → Active ⇄ Paused → Terminated → Cleanup
//!   any live state ─────────────────────────────→ Error ──────────→ Cleanup
//! ```
//!
//! Every change goes through [`SessionState::next`]; anything it refuses is an
//! illegal transition (the API answers 409), and the state is left as it was.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a session ended normally.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// The owner (or an admin) ended it.
    User,
    /// No input for longer than the idle timeout.
    IdleTimeout,
    /// It ran for the maximum duration.
    MaxDuration,
    /// No peer connected in time.
    ConnectTimeout,
    /// The game process exited.
    GameExited,
    /// The player left a session made for one stream alone.
    PlayerLeft,
    /// The node is shutting down.
    Shutdown,
}

impl fmt::Display for EndReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EndReason::User => "ended by the user",
            EndReason::IdleTimeout => "no input for too long",
            EndReason::MaxDuration => "the maximum session time was reached",
            EndReason::ConnectTimeout => "the player did not connect in time",
            EndReason::GameExited => "the game exited",
            EndReason::PlayerLeft => "the player left",
            EndReason::Shutdown => "the service is shutting down",
        })
    }
}

/// Where a session is. Data the state needs travels with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SessionState {
    /// Requested, nothing allocated yet.
    Idle,
    /// Resources are being allocated and the game launched.
    Initializing,
    /// The stream runs; waiting for the player's peer connection.
    Connecting,
    /// Streaming to a connected player.
    Active,
    /// Streaming stopped at the player's request; resources held.
    Paused,
    /// Ended normally; cleanup is due.
    Terminated { reason: EndReason },
    /// Failed; cleanup is due.
    Error { reason: String },
    /// Resources freed. Final.
    Cleanup,
}

/// What happens to a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// Begin allocating resources.
    Start,
    /// Resources allocated, game and stream running.
    Launched,
    /// The player's peer connection is up.
    Connected,
    Pause,
    Resume,
    End {
        reason: EndReason,
    },
    Fail {
        reason: String,
    },
    /// Processes killed, resources freed, final stats stored.
    CleanedUp,
    /// The quality monitor's alert on the player's connection; the state stays.
    Quality {
        alert: QualityAlert,
        rtt_ms: Option<u32>,
        loss_percent: Option<u32>,
        /// Frames sent over frames the source made, percent, when below target.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fps_percent: Option<u32>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QualityAlert {
    Degraded,
    Recovered,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot {event} a session that is {from}")]
pub struct TransitionError {
    pub from: &'static str,
    pub event: &'static str,
}

impl SessionState {
    /// The only way a session changes state.
    pub fn next(self, event: Event) -> Result<SessionState, TransitionError> {
        use Event as E;
        use SessionState as S;
        let refuse = |from: &SessionState, event: &Event| TransitionError { from: from.name(), event: event.name() };
        Ok(match (self, event) {
            (S::Idle, E::Start) => S::Initializing,
            (S::Initializing, E::Launched) => S::Connecting,
            (S::Connecting, E::Connected) => S::Active,
            (S::Active, E::Pause) => S::Paused,
            (S::Paused, E::Resume) => S::Active,
            (S::Idle | S::Initializing | S::Connecting | S::Active | S::Paused, E::End { reason }) => {
                S::Terminated { reason }
            }
            (
                S::Idle | S::Initializing | S::Connecting | S::Active | S::Paused | S::Terminated { .. },
                E::Fail { reason },
            ) => S::Error { reason },
            (S::Terminated { .. } | S::Error { .. }, E::CleanedUp) => S::Cleanup,
            (s @ (S::Connecting | S::Active | S::Paused), E::Quality { .. }) => s,
            (from, event) => return Err(refuse(&from, &event)),
        })
    }

    /// Stable name, as stored and shown.
    /// Every state's name, in lifecycle order.
    pub const NAMES: [&'static str; 8] =
        ["idle", "initializing", "connecting", "active", "paused", "terminated", "error", "cleanup"];

    pub fn name(&self) -> &'static str {
        match self {
            SessionState::Idle => "idle",
            SessionState::Initializing => "initializing",
            SessionState::Connecting => "connecting",
            SessionState::Active => "active",
            SessionState::Paused => "paused",
            SessionState::Terminated { .. } => "terminated",
            SessionState::Error { .. } => "error",
            SessionState::Cleanup => "cleanup",
        }
    }

    /// Holds resources that cleanup must free.
    pub fn is_live(&self) -> bool {
        !matches!(self, SessionState::Cleanup)
    }

    /// Nothing can happen to it any more.
    pub fn is_final(&self) -> bool {
        matches!(self, SessionState::Cleanup)
    }
}

impl fmt::Display for SessionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Event {
    pub fn name(&self) -> &'static str {
        match self {
            Event::Start => "start",
            Event::Launched => "launch",
            Event::Connected => "connect",
            Event::Pause => "pause",
            Event::Resume => "resume",
            Event::End { .. } => "end",
            Event::Fail { .. } => "fail",
            Event::CleanedUp => "clean up",
            Event::Quality { .. } => "report quality of",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Each state's schema variant names exactly the fields serde writes for
    /// it, all of them required, and its `state` is the state's name.
    #[test]
    fn the_state_schema_matches_what_serde_writes() {
        let schema = serde_json::to_value(<SessionState as utoipa::PartialSchema>::schema()).unwrap();
        let variants = schema["oneOf"].as_array().unwrap();
        assert_eq!(variants.len(), SessionState::NAMES.len());
        let states = [
            SessionState::Idle,
            SessionState::Initializing,
            SessionState::Connecting,
            SessionState::Active,
            SessionState::Paused,
            SessionState::Terminated { reason: EndReason::IdleTimeout },
            SessionState::Error { reason: "no encoder slot".into() },
            SessionState::Cleanup,
        ];
        for s in states {
            let json = serde_json::to_value(&s).unwrap();
            assert_eq!(json["state"], s.name());
            let variant = variants
                .iter()
                .find(|v| v["properties"]["state"]["enum"] == serde_json::json!([s.name()]))
                .unwrap_or_else(|| panic!("no schema variant for {}", s.name()));
            let mut written: Vec<&String> = json.as_object().unwrap().keys().collect();
            written.sort();
            let mut listed: Vec<&String> = variant["properties"].as_object().unwrap().keys().collect();
            listed.sort();
            let mut required: Vec<&str> =
                variant["required"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
            required.sort_unstable();
            assert_eq!(written, listed, "{}", s.name());
            assert_eq!(written, required, "{}", s.name());
        }
        let reasons = serde_json::to_value(<EndReason as utoipa::PartialSchema>::schema()).unwrap();
        let reasons = reasons["enum"].as_array().unwrap();
        assert!(reasons.contains(&serde_json::to_value(EndReason::IdleTimeout).unwrap()), "{reasons:?}");
        assert_eq!(reasons.len(), 7);
    }

    fn run(events: &[Event]) -> Result<SessionState, TransitionError> {
        events.iter().cloned().try_fold(SessionState::Idle, SessionState::next)
    }

    #[test]
    fn the_happy_path_with_a_pause() {
        let s = run(&[
            Event::Start,
            Event::Launched,
            Event::Connected,
            Event::Pause,
            Event::Resume,
            Event::End { reason: EndReason::User },
            Event::CleanedUp,
        ])
        .unwrap();
        assert_eq!(s, SessionState::Cleanup);
    }

    #[test]
    fn failures_go_through_error_to_cleanup() {
        let s = run(&[Event::Start, Event::Fail { reason: "no encoder slot".into() }]).unwrap();
        assert_eq!(s, SessionState::Error { reason: "no encoder slot".into() });
        assert_eq!(s.next(Event::CleanedUp).unwrap(), SessionState::Cleanup);
    }

    #[test]
    fn illegal_transitions_are_named() {
        let e = run(&[Event::Start, Event::Pause]).unwrap_err();
        assert_eq!(e.to_string(), "cannot pause a session that is initializing");
        let e = run(&[Event::Start, Event::Launched, Event::Connected, Event::Resume]).unwrap_err();
        assert_eq!(e, TransitionError { from: "active", event: "resume" });
        let done = run(&[Event::End { reason: EndReason::User }, Event::CleanedUp]).unwrap();
        for ev in [Event::Start, Event::Resume, Event::Fail { reason: "x".into() }, Event::CleanedUp] {
            assert!(done.clone().next(ev).is_err(), "cleanup is final");
        }
    }

    #[test]
    fn states_serialize_with_their_data() {
        let s = SessionState::Terminated { reason: EndReason::IdleTimeout };
        assert_eq!(
            serde_json::to_value(&s).unwrap(),
            serde_json::json!({"state": "terminated", "reason": "idle_timeout"})
        );
    }

    fn arb_event() -> impl Strategy<Value = Event> {
        prop_oneof![
            Just(Event::Start),
            Just(Event::Launched),
            Just(Event::Connected),
            Just(Event::Pause),
            Just(Event::Resume),
            Just(Event::End { reason: EndReason::User }),
            Just(Event::End { reason: EndReason::GameExited }),
            "[a-z ]{0,12}".prop_map(|reason| Event::Fail { reason }),
            Just(Event::CleanedUp),
            Just(Event::Quality {
                alert: QualityAlert::Degraded,
                rtt_ms: Some(200),
                loss_percent: None,
                fps_percent: None
            }),
        ]
    }

    proptest! {
        /// Whatever arrives, in whatever order: no panic, refused events
        /// leave the state alone, Paused is only entered from Active, and
        /// Cleanup is only entered from Terminated or Error and never left.
        #[test]
        fn any_event_sequence_keeps_the_invariants(events in proptest::collection::vec(arb_event(), 0..40)) {
            let mut state = SessionState::Idle;
            for ev in events {
                let before = state.clone();
                match before.clone().next(ev.clone()) {
                    Ok(after) => {
                        if after == SessionState::Paused && before != SessionState::Paused {
                            prop_assert_eq!(&before, &SessionState::Active);
                        }
                        if after == SessionState::Cleanup {
                            let from_end = matches!(before, SessionState::Terminated { .. } | SessionState::Error { .. });
                            prop_assert!(from_end, "cleanup entered from {}", before);
                        }
                        prop_assert!(!before.is_final());
                        state = after;
                    }
                    Err(e) => prop_assert_eq!(e.from, before.name()),
                }
            }
        }
    }
}
