//! Why a player's message was dropped for what it says, counted per reason so
//! the session view and `/metrics` show what a client gets wrong, not only
//! that it gets something wrong.

use std::sync::atomic::{AtomicU64, Ordering};

/// What was wrong with a dropped message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// A text message: the protocol is binary.
    Text,
    Empty,
    /// Another protocol version.
    Version,
    UnknownKind,
    /// Shorter or longer than its kind's fixed layout.
    Length,
    /// A field outside its range: a key code that is no Linux key code, an
    /// unknown mouse button, a gamepad, axis or button past the limits, a
    /// flag other than 0 or 1.
    OutOfRange,
    /// Clipboard text over the protocol's limit.
    Oversized,
    /// Clipboard text that is not UTF-8.
    NotUtf8,
    /// A Linux key code this server has no key for (no keysym).
    UnknownKey,
}

impl DropReason {
    pub const ALL: [DropReason; 9] = [
        DropReason::Text,
        DropReason::Empty,
        DropReason::Version,
        DropReason::UnknownKind,
        DropReason::Length,
        DropReason::OutOfRange,
        DropReason::Oversized,
        DropReason::NotUtf8,
        DropReason::UnknownKey,
    ];

    /// The name in the session view and the `reason` label of `/metrics`.
    pub fn name(self) -> &'static str {
        match self {
            DropReason::Text => "text",
            DropReason::Empty => "empty",
            DropReason::Version => "version",
            DropReason::UnknownKind => "unknown_kind",
            DropReason::Length => "length",
            DropReason::OutOfRange => "out_of_range",
            DropReason::Oversized => "oversized",
            DropReason::NotUtf8 => "not_utf8",
            DropReason::UnknownKey => "unknown_key",
        }
    }
}

/// One counter per [`DropReason`].
#[derive(Debug, Default)]
pub struct DropCounts([AtomicU64; DropReason::ALL.len()]);

impl DropCounts {
    /// Counts one drop; returns how many of this reason so far.
    pub fn add(&self, reason: DropReason) -> u64 {
        self.0[reason as usize].fetch_add(1, Ordering::Relaxed) + 1
    }

    pub fn get(&self, reason: DropReason) -> u64 {
        self.0[reason as usize].load(Ordering::Relaxed)
    }

    /// Every reason by name, zeros too, so a reader sees the whole set.
    pub fn snapshot(&self) -> serde_json::Value {
        let by_name: serde_json::Map<String, serde_json::Value> =
            DropReason::ALL.iter().map(|r| (r.name().to_string(), self.get(*r).into())).collect();
        by_name.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_reason_has_its_own_counter_and_name() {
        let c = DropCounts::default();
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i, "ALL is in declaration order");
            for _ in 0..=i {
                c.add(*r);
            }
        }
        let snap = c.snapshot();
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(snap[r.name()], (i + 1) as u64, "{snap}");
        }
        assert_eq!(snap.as_object().unwrap().len(), DropReason::ALL.len());
    }
}
