//! The ids the service passes around: sessions, streams, users and nodes.
//! Each is its own type so that one cannot be handed where another is meant;
//! on the wire and in the database each is the plain string it wraps.
//!
//! Deserializing trusts the text (it comes from our own rows, the cache and
//! messages this service wrote); an id from outside, such as a path
//! parameter or a client's message, goes through [`SessionId::parse`]. User
//! ids a client names (whom a session is shared with) have no fixed form and
//! are checked for length where they are taken (`Manager::share`).

use std::borrow::Borrow;
use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! string_id {
    ($(#[$doc:meta])* $field:vis $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(transparent)]
        #[schema(value_type = String)]
        pub struct $name($field String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_inner(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        // Maps keyed by the id can be looked up with a `&str`: the derived
        // Hash and Ord are those of the string.
        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }
    };
}

/// Builds ids whose text this service trusts as it is.
macro_rules! from_text {
    ($name:ident) => {
        impl From<String> for $name {
            fn from(s: String) -> Self {
                $name(s)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                $name(s.to_owned())
            }
        }
    };
}

string_id! {
    /// A game session: a UUID this service chose when it started the session.
    SessionId
}

string_id! {
    /// A media stream: a UUID the node chose when it opened the stream.
    // `pub`: its field stays open, signaling's tests build ids by hand.
    pub StreamId
}

string_id! {
    /// A user, as the identity provider names them (the token's subject).
    UserId
}

string_id! {
    /// A node of the fleet, from the configuration or chosen at start.
    NodeId
}

from_text!(UserId);
from_text!(NodeId);
from_text!(StreamId);

/// A session id that is not a UUID: no such session can exist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{shown}` is not a session id")]
pub struct MalformedId {
    /// The id as given, cut short for messages.
    pub shown: String,
}

impl SessionId {
    /// A fresh id for a new session.
    pub fn new() -> Self {
        SessionId(uuid::Uuid::new_v4().to_string())
    }

    /// An id from outside (a path parameter, a client's message): refused
    /// unless it is a UUID, the only kind of id this service gives out.
    pub fn parse(s: &str) -> Result<Self, MalformedId> {
        match uuid::Uuid::parse_str(s) {
            Ok(u) if u.hyphenated().to_string() == s => Ok(SessionId(s.to_owned())),
            _ => Err(MalformedId { shown: s.chars().take(64).collect() }),
        }
    }

    /// An id read back from our own rows or the cache, which only hold ids
    /// this service made.
    pub fn stored(s: impl Into<String>) -> Self {
        SessionId(s.into())
    }
}

impl Default for SessionId {
    fn default() -> Self {
        Self::new()
    }
}

impl std::str::FromStr for SessionId {
    type Err = MalformedId;

    fn from_str(s: &str) -> Result<Self, MalformedId> {
        Self::parse(s)
    }
}

impl StreamId {
    /// A fresh id for a new stream.
    pub fn new() -> Self {
        StreamId(uuid::Uuid::new_v4().to_string())
    }
}

impl Default for StreamId {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_id_is_a_uuid_as_this_service_writes_it() {
        let id = SessionId::new();
        assert_eq!(SessionId::parse(id.as_str()), Ok(id.clone()));
        assert_eq!(id.to_string().parse::<SessionId>(), Ok(id));
        for bad in [
            "",
            "no-such-session",
            "../etc",
            "6F9619FF-8B86-D011-B42D-00C04FC964FF",
            "{6f9619ff-8b86-d011-b42d-00c04fc964ff}",
        ] {
            assert!(SessionId::parse(bad).is_err(), "{bad}");
        }
        let long = "x".repeat(500);
        assert_eq!(SessionId::parse(&long).unwrap_err().shown.len(), 64);
    }

    #[test]
    fn ids_are_their_strings_on_the_wire() {
        let id = UserId::from("alice");
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"alice\"");
        assert_eq!(serde_json::from_str::<UserId>("\"alice\"").unwrap(), id);
        assert_eq!(id, "alice");
        let mut by_node = std::collections::BTreeMap::new();
        by_node.insert(NodeId::from("node-a"), 1);
        assert_eq!(by_node.get("node-a"), Some(&1));
    }
}
