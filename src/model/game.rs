//! A game of the catalog, as the session core launches it and the store
//! keeps a copy of it. Loading and checking the catalog file is
//! `session::games`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Game {
    #[serde(skip_deserializing)]
    pub id: String,
    pub title: String,
    /// The pipeline file (by name) that captures it.
    pub pipeline: String,
    /// argv of the game; absent when the pipeline itself is the picture.
    #[serde(default)]
    pub command: Option<Vec<String>>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Pipeline parameters the game fixes (a player's request cannot change them).
    #[serde(default)]
    pub params: BTreeMap<String, serde_json::Value>,
    /// What one session reserves on the node.
    #[serde(default = "one")]
    pub cpu_cores: u32,
    #[serde(default = "default_memory")]
    pub memory_mb: u64,
    /// Processes and threads the session may have at once (where the node has
    /// a `pids` cgroup): a fork bomb stops there.
    #[serde(default = "default_max_processes")]
    pub max_processes: u32,
    /// A picture the player app's library shows: an `https://` or `http://`
    /// URL, or a path on this service (`/…`). Left out of the stored copy
    /// when absent, so nodes that predate it still read the copy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub art: Option<String>,
}

fn one() -> u32 {
    1
}

fn default_memory() -> u64 {
    512
}

/// Room for a game with many threads, its display and its sound server.
pub const DEFAULT_MAX_PROCESSES: u32 = 1024;

fn default_max_processes() -> u32 {
    DEFAULT_MAX_PROCESSES
}
