//! Service configuration: embedded defaults, then an optional TOML file, then
//! `PLAYCAST__SECTION__KEY` environment variables, validated once at start.
//!
//! Layout: the settings and their checks here; `load` layers the sources
//! (figment) and blames an error on its file line or variable; `paths` finds
//! the shipped files and resolves a file's relative paths; `deprecated`
//! reads the numeric `*_secs`/`*_ms` keys that durations replaced.

mod deprecated;
mod load;
mod paths;

pub use paths::shipped_bases;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The defaults compiled into the binary; `config/default.toml` is the same text.
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

/// A setting that is well-formed but not acceptable, as the module that owns
/// its meaning judges it (`Config::load`'s `check`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    /// Dotted name of the setting, e.g. `media.deny_elements`.
    pub field: &'static str,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading {path}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{origin}:{line}: {message}")]
    Syntax { origin: String, line: usize, message: String },
    #[error("environment variable {name}: {message}")]
    Env { name: String, message: String },
    #[error("{origin}: {field}: {message}")]
    Invalid { origin: String, field: &'static str, message: String },
    /// More than one of the above, in the order the sources were read.
    #[error("{}", lines(.0))]
    Several(Vec<ConfigError>),
}

impl ConfigError {
    /// One error as it is, several as [`ConfigError::Several`].
    fn gathered(mut errors: Vec<ConfigError>) -> Self {
        match errors.len() {
            1 => errors.remove(0),
            _ => ConfigError::Several(errors),
        }
    }
}

/// Each error on a line of its own, with its cause (a `Read` error's).
fn lines(errors: &[ConfigError]) -> String {
    let line = |e: &ConfigError| match std::error::Error::source(e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    };
    errors.iter().map(line).collect::<Vec<_>>().join("\n")
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub media: MediaConfig,
    pub ice: IceConfig,
    pub signaling: SignalingConfig,
    pub auth: AuthConfig,
    pub state: StateConfig,
    pub sessions: SessionsConfig,
    pub node: NodeConfig,
    pub cache: CacheConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionsConfig {
    /// The games catalog (TOML).
    pub games_file: PathBuf,
    /// Parent of the per-user save folders; empty: `saves/` in `server.data_dir`.
    pub saves_dir: PathBuf,
    /// Ends a session whose player has not connected within this time.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Ends a session with no input for this long.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub max_duration: Duration,
    /// A quality alert when the player's round-trip time exceeds this…
    #[serde(with = "humantime_serde")]
    pub quality_rtt: Duration,
    /// …or the loss its receiver reports exceeds this (percent)…
    pub quality_loss_percent: u32,
    /// …in this many samples (2 s apart) in a row.
    pub quality_samples: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// Empty: an id created once and kept in `server.data_dir`.
    pub id: String,
    /// Where clients and other nodes reach this node (`http://host:port`),
    /// published with its heartbeat. Empty: `http://` + `server.listen`.
    pub advertise: String,
    /// CPU cores sessions may reserve; 0: the machine's.
    pub cpu_cores: u32,
    /// Memory sessions may reserve, MiB; 0: the machine's.
    pub memory_mb: u64,
    /// Hardware encoder sessions per GPU.
    pub gpu_encoder_slots: Vec<u32>,
    /// How often the node says it is alive (cache and database).
    #[serde(with = "humantime_serde")]
    pub heartbeat: Duration,
    /// A node silent this long is presumed dead and its sessions fail.
    #[serde(with = "humantime_serde")]
    pub heartbeat_ttl: Duration,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheConfig {
    /// `redis://…`; empty: in-process.
    pub url: Secret,
    /// Put in front of every key and channel, so services can share one Redis.
    pub prefix: String,
}

impl CacheConfig {
    /// Which cache `url` names; [`Config::load`] has refused any other.
    pub fn backend(&self) -> CacheBackend {
        CacheBackend::of_url(&self.url.0).unwrap_or(CacheBackend::Memory)
    }
}

/// Where live session state, heartbeats and events go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CacheBackend {
    /// In this process: the node is the whole fleet.
    Memory,
    /// A Redis server shared by the nodes of a deployment.
    Redis,
}

impl CacheBackend {
    /// Empty `cache.url` is the in-process cache, `redis://…` is Redis.
    pub fn of_url(url: &str) -> Result<Self, String> {
        if url.is_empty() {
            return Ok(CacheBackend::Memory);
        }
        match url.split_once("://").map(|(scheme, _)| scheme) {
            Some("redis") => Ok(CacheBackend::Redis),
            Some("rediss") => Err("rediss:// (TLS) is not supported; reach Redis over a private network".into()),
            Some(other) => Err(format!(
                "unknown cache backend `{other}`: must start with redis://, or be empty for the in-process cache"
            )),
            None => Err("must start with redis://, or be empty for the in-process cache".into()),
        }
    }

    /// The name `/api/v1/ready` and `/api/v1/node` answer with.
    pub fn as_str(self) -> &'static str {
        match self {
            CacheBackend::Memory => "memory",
            CacheBackend::Redis => "redis",
        }
    }
}

impl std::fmt::Display for CacheBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateConfig {
    /// `postgres://…` or `sqlite://…`; empty: a SQLite file in `server.data_dir`.
    pub database_url: Secret,
}

impl Config {
    /// The database to use, with the embedded default filled in.
    pub fn database_url(&self) -> String {
        if self.state.database_url.0.is_empty() {
            format!("sqlite://{}?mode=rwc", self.server.data_dir.join("playcast.sqlite").display())
        } else {
            self.state.database_url.0.clone()
        }
    }

    pub fn saves_dir(&self) -> PathBuf {
        if self.sessions.saves_dir.as_os_str().is_empty() {
            self.server.data_dir.join("saves")
        } else {
            self.sessions.saves_dir.clone()
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address the HTTP/WebSocket server binds.
    pub listen: SocketAddr,
    /// Where the service keeps its own files (the development issuer's key).
    pub data_dir: PathBuf,
    /// On SIGTERM, running sessions play on for up to this long (no new ones
    /// are taken) before they are ended; 0 ends them at once.
    #[serde(with = "humantime_serde")]
    pub drain: Duration,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// Accepted `iss` values. Empty (with `jwks_url` empty): the development issuer.
    pub issuers: Vec<String>,
    /// The issuer's JSON Web Key Set, e.g. `https://<app>.clerk.accounts.dev/.well-known/jwks.json`.
    pub jwks_url: String,
    /// Accepted `azp` values (the origins of your front ends); empty accepts any.
    pub authorized_parties: Vec<String>,
    /// Dotted path of the claim holding the role; `player` when absent.
    pub role_claim: String,
    /// Clock skew allowed on `exp`, `nbf` and `iat`.
    #[serde(with = "humantime_serde")]
    pub leeway: Duration,
    /// Keys fetched longer ago than this are refetched before use.
    #[serde(with = "humantime_serde")]
    pub jwks_cache: Duration,
    /// An unknown `kid` refetches the key set at most this often.
    #[serde(with = "humantime_serde")]
    pub jwks_refetch_min: Duration,
    /// Lets the development issuer mint tokens for clients that are not on
    /// loopback: anyone who can reach the service becomes any user, admin
    /// included. Off unless an operator sets it on purpose.
    #[serde(default)]
    pub insecure_dev_issuer_on_network: bool,
    /// The Clerk instance's publishable key (`pk_live_…`), which the web app
    /// signs in with (`GET /api/v1/client-config`); empty: no Clerk sign-in.
    #[serde(default)]
    pub clerk_publishable_key: String,
}

impl AuthConfig {
    /// The development issuer serves only when no real issuer is configured.
    pub fn dev_issuer_active(&self) -> bool {
        self.issuers.is_empty() && self.jwks_url.is_empty()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaConfig {
    /// Folder of pipeline description files, watched for edits.
    pub pipelines_dir: PathBuf,
    /// Pipeline used when a client does not name one.
    pub default_pipeline: String,
    /// Streams this node runs at once; more are refused with `busy`.
    pub max_streams: usize,
    /// The element policy (`media::policy`). Non-empty: the only elements a
    /// pipeline file may name.
    #[serde(default)]
    pub allow_elements: Vec<String>,
    /// Elements refused on top of the built-in host-access list.
    #[serde(default)]
    pub deny_elements: Vec<String>,
    /// Built-in host-access elements (files, descriptors, shared memory)
    /// pipeline files may use anyway. Empty unless an operator means it.
    #[serde(default)]
    pub insecure_host_elements: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IceConfig {
    /// `stun:host:port` URLs handed to webrtcbin and to clients.
    pub stun_urls: Vec<String>,
    /// `turn:`/`turns:` URLs of a coturn (or compatible) server.
    pub turn_urls: Vec<String>,
    /// coturn `static-auth-secret` for time-limited credentials.
    pub turn_secret: Secret,
    /// Lifetime of generated TURN credentials.
    #[serde(with = "humantime_serde")]
    pub turn_ttl: Duration,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignalingConfig {
    /// Largest accepted signaling message in bytes; larger ones get `too_large`.
    pub max_message_bytes: usize,
    /// A connection that sends nothing for this long is closed.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// A stream whose offer is not answered within this time ends.
    #[serde(with = "humantime_serde")]
    pub answer_timeout: Duration,
}

/// A string whose `Debug` never shows its value.
#[derive(Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "\"<redacted>\"" })
    }
}

impl Config {
    /// This module's own checks, every refusal (one per setting);
    /// [`Config::load`] blames each on the file line or variable that set it.
    fn validate(&self) -> Vec<FieldError> {
        let mut problems = Vec::new();
        let mut invalid = |field, message: &str| problems.push(FieldError { field, message: message.to_string() });
        if self.media.max_streams == 0 {
            invalid("media.max_streams", "must be at least 1");
        }
        let a = &self.node.advertise;
        if !(a.is_empty() || a.starts_with("http://") || a.starts_with("https://")) {
            invalid("node.advertise", "an http:// or https:// URL, or empty");
        }
        let node = &self.node;
        if !(Duration::from_millis(100)..=Duration::from_secs(60)).contains(&node.heartbeat) {
            invalid("node.heartbeat", "100ms to 1m");
        }
        if node.heartbeat_ttl < 2 * node.heartbeat || node.heartbeat_ttl > Duration::from_secs(600) {
            invalid("node.heartbeat_ttl", "at least twice node.heartbeat and at most 10m");
        }
        if self.server.drain > Duration::from_secs(86_400) {
            invalid("server.drain", "at most 1day");
        }
        if self.signaling.max_message_bytes < 1024 || self.signaling.max_message_bytes > 1 << 20 {
            invalid("signaling.max_message_bytes", "must be between 1024 and 1048576");
        }
        if self.ice.stun_urls.iter().any(|url| !url.starts_with("stun:") && !url.starts_with("stuns:")) {
            invalid("ice.stun_urls", "each URL must start with stun: or stuns:");
        }
        if self.ice.turn_urls.iter().any(|url| !url.starts_with("turn:") && !url.starts_with("turns:")) {
            invalid("ice.turn_urls", "each URL must start with turn: or turns:");
        }
        if !self.ice.turn_urls.is_empty() && self.ice.turn_secret.0.is_empty() {
            invalid("ice.turn_secret", "turn_urls are set but turn_secret is empty");
        }
        if self.auth.issuers.is_empty() != self.auth.jwks_url.is_empty() {
            invalid("auth.jwks_url", "auth.issuers and auth.jwks_url are set together or not at all");
        } else if !self.auth.jwks_url.is_empty()
            && !self.auth.jwks_url.starts_with("https://")
            && !self.auth.jwks_url.starts_with("http://127.")
            && !self.auth.jwks_url.starts_with("http://localhost")
        {
            invalid("auth.jwks_url", "must be https:// (plain http only to this machine)");
        }
        if self.auth.role_claim.is_empty() || self.auth.role_claim.split('.').any(str::is_empty) {
            invalid("auth.role_claim", "must be a dotted claim path such as metadata.role");
        }
        if self.auth.leeway > Duration::from_secs(300) {
            invalid("auth.leeway", "at most 5m");
        }
        let key = &self.auth.clerk_publishable_key;
        if !key.is_empty() && !key.starts_with("pk_test_") && !key.starts_with("pk_live_") {
            invalid("auth.clerk_publishable_key", "a Clerk publishable key starts with pk_test_ or pk_live_");
        } else if !key.is_empty() && self.auth.dev_issuer_active() {
            invalid("auth.clerk_publishable_key", "set with auth.issuers and auth.jwks_url, the Clerk instance's");
        }
        let second = Duration::from_secs(1);
        if self.signaling.idle_timeout < second {
            invalid("signaling.idle_timeout", "signaling timeouts must be at least 1s");
        }
        if self.signaling.answer_timeout < second {
            invalid("signaling.answer_timeout", "signaling timeouts must be at least 1s");
        }
        let db = &self.state.database_url.0;
        if !db.is_empty() && !["sqlite:", "postgres://", "postgresql://"].iter().any(|p| db.starts_with(p)) {
            invalid("state.database_url", "must start with sqlite:, postgres:// or postgresql://");
        }
        // TURN credentials carry their expiry in whole seconds.
        if self.ice.turn_ttl < second {
            invalid("ice.turn_ttl", "must be at least 1s");
        }
        let s = &self.sessions;
        for (field, value) in [
            ("sessions.connect_timeout", s.connect_timeout),
            ("sessions.idle_timeout", s.idle_timeout),
            ("sessions.max_duration", s.max_duration),
        ] {
            if value < second {
                invalid(field, "must be at least 1s");
            }
        }
        if !(Duration::from_millis(1)..=Duration::from_secs(10)).contains(&s.quality_rtt) {
            invalid("sessions.quality_rtt", "1ms to 10s");
        }
        if !(1..=100).contains(&s.quality_loss_percent) {
            invalid("sessions.quality_loss_percent", "1 to 100");
        }
        if !(1..=100).contains(&s.quality_samples) {
            invalid("sessions.quality_samples", "1 to 100");
        }
        if let Err(message) = CacheBackend::of_url(&self.cache.url.0) {
            invalid("cache.url", &message);
        }
        let prefix = &self.cache.prefix;
        if prefix.is_empty()
            || prefix.len() > 64
            || !prefix.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            invalid("cache.prefix", "1 to 64 letters, digits, `-`, `_` or `.`");
        }
        if self.node.id.len() > 64 || self.node.id.chars().any(|c| !(c.is_ascii_alphanumeric() || "-_.".contains(c))) {
            invalid("node.id", "at most 64 letters, digits, `-`, `_` or `.`");
        }
        problems
    }

    pub fn idle_timeout(&self) -> Duration {
        self.signaling.idle_timeout
    }
}

/// 1-based line of a byte offset.
pub fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())].iter().filter(|b| **b == b'\n').count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn defaults_load_and_validate() {
        let c = Config::load_with_env(None, env(&[])).unwrap();
        assert_eq!(c.media.default_pipeline, "test-pattern");
        assert!(c.ice.turn_urls.is_empty());
    }

    #[test]
    fn env_overrides_typed_values() {
        let c = Config::load_with_env(
            None,
            env(&[
                ("PLAYCAST__MEDIA__MAX_STREAMS", "3"),
                ("PLAYCAST__ICE__STUN_URLS", "stun:a:3478, stun:b:3478"),
                ("UNRELATED", "x"),
            ]),
        )
        .unwrap();
        assert_eq!(c.media.max_streams, 3);
        assert_eq!(c.ice.stun_urls, vec!["stun:a:3478", "stun:b:3478"]);
    }

    #[test]
    fn env_errors_name_the_variable() {
        let e = Config::load_with_env(None, env(&[("PLAYCAST__MEDIA__MAX_STREAMS", "many")])).unwrap_err().to_string();
        assert!(e.contains("PLAYCAST__MEDIA__MAX_STREAMS"), "{e}");
        let e = Config::load_with_env(None, env(&[("PLAYCAST__MEDIA__NOPE", "1")])).unwrap_err().to_string();
        assert!(e.contains("unknown setting `nope`"), "{e}");
    }

    #[test]
    fn file_errors_carry_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, "[media]\nmax_streams = 2\npipelines_dir = 7\n").unwrap();
        let e = Config::load_with_env(Some(&path), env(&[])).unwrap_err().to_string();
        assert!(e.starts_with(&format!("{}:3:", path.display())), "{e}");
        std::fs::write(&path, "[media\n").unwrap();
        let e = Config::load_with_env(Some(&path), env(&[])).unwrap_err().to_string();
        assert!(e.contains("bad.toml:1:"), "{e}");
        std::fs::write(&path, "[media]\nmax_stream = 2\n").unwrap();
        let e = Config::load_with_env(Some(&path), env(&[])).unwrap_err().to_string();
        assert!(e.contains("bad.toml:2:") && e.contains("max_stream"), "{e}");
    }

    #[test]
    fn bad_env_values_blame_their_variable() {
        for (name, value) in [
            ("PLAYCAST__SIGNALING__MAX_MESSAGE_BYTES", "-5"),
            ("PLAYCAST__MEDIA__MAX_STREAMS", "0"),
            ("PLAYCAST__SESSIONS__QUALITY_RTT_MS", "0"),
            ("PLAYCAST__SESSIONS__QUALITY_LOSS_PERCENT", "101"),
            ("PLAYCAST__SESSIONS__QUALITY_SAMPLES", "0"),
            ("PLAYCAST__CACHE__URL", "rediss://cache:6379"),
            ("PLAYCAST__CACHE__PREFIX", "a:b"),
        ] {
            let e = Config::load_with_env(None, env(&[(name, value)])).unwrap_err().to_string();
            assert!(e.contains(name), "{name}={value}: {e}");
        }
    }

    #[test]
    fn turn_without_secret_is_refused() {
        let e =
            Config::load_with_env(None, env(&[("PLAYCAST__ICE__TURN_URLS", "turn:t:3478")])).unwrap_err().to_string();
        assert!(e.contains("turn_secret"), "{e}");
    }

    #[test]
    fn relative_paths_in_a_file_are_from_its_folder() {
        let dir = tempfile::tempdir().unwrap();
        let etc = dir.path().join("etc");
        std::fs::create_dir(&etc).unwrap();
        let path = etc.join("playcast.toml");
        std::fs::write(
            &path,
            "[server]\ndata_dir = \"state\"\n[media]\npipelines_dir = \"../pipelines\"\n\
             [sessions]\ngames_file = \"/abs/games.toml\"\nsaves_dir = \"\"\n",
        )
        .unwrap();
        let c = Config::load_with_env(Some(&path), env(&[])).unwrap();
        assert_eq!(c.server.data_dir, etc.join("state"));
        assert_eq!(c.media.pipelines_dir, etc.join("../pipelines"));
        assert_eq!(c.sessions.games_file, Path::new("/abs/games.toml"));
        // Empty still means "in server.data_dir".
        assert_eq!(c.saves_dir(), etc.join("state/saves"));
        // A variable is not in a file: its relative path stays the caller's.
        let c = Config::load_with_env(Some(&path), env(&[("PLAYCAST__SERVER__DATA_DIR", "here")])).unwrap();
        assert_eq!(c.server.data_dir, Path::new("here"));
    }

    #[test]
    fn durations_are_written_with_their_unit() {
        let c = Config::load_with_env(None, env(&[])).unwrap();
        assert_eq!(c.sessions.connect_timeout, Duration::from_secs(60));
        assert_eq!(c.sessions.quality_rtt, Duration::from_millis(150));
        assert_eq!(c.node.heartbeat_ttl, Duration::from_secs(3));
        assert_eq!(c.ice.turn_ttl, Duration::from_secs(86_400));
        let c = Config::load_with_env(
            None,
            env(&[("PLAYCAST__SERVER__DRAIN", "5m"), ("PLAYCAST__NODE__HEARTBEAT", "250ms")]),
        )
        .unwrap();
        assert_eq!(c.server.drain, Duration::from_secs(300));
        assert_eq!(c.node.heartbeat, Duration::from_millis(250));
        let e = Config::load_with_env(None, env(&[("PLAYCAST__SERVER__DRAIN", "soon")])).unwrap_err().to_string();
        assert!(e.starts_with("environment variable PLAYCAST__SERVER__DRAIN: "), "{e}");
    }

    #[test]
    fn old_numeric_keys_are_read_for_one_release() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.toml");
        std::fs::write(&path, "[sessions]\nconnect_timeout_secs = 30\n[node]\nheartbeat_ms = 500\n").unwrap();
        let c = Config::load_with_env(Some(&path), env(&[("PLAYCAST__AUTH__LEEWAY_SECS", "7")])).unwrap();
        assert_eq!(c.sessions.connect_timeout, Duration::from_secs(30));
        assert_eq!(c.node.heartbeat, Duration::from_millis(500));
        assert_eq!(c.auth.leeway, Duration::from_secs(7));
        // An old variable over a new key of the file: the later source wins, as ever.
        std::fs::write(&path, "[server]\ndrain = \"1m\"\n").unwrap();
        let c = Config::load_with_env(Some(&path), env(&[("PLAYCAST__SERVER__DRAIN_SECS", "90")])).unwrap();
        assert_eq!(c.server.drain, Duration::from_secs(90));
    }

    #[test]
    fn an_old_key_and_its_new_one_together_are_refused_naming_both() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("both.toml");
        std::fs::write(&path, "[server]\ndrain = \"1m\"\n\ndrain_secs = 60\n").unwrap();
        let e = Config::load_with_env(Some(&path), env(&[])).unwrap_err().to_string();
        assert!(e.starts_with(&format!("{}:4: ", path.display())), "{e}");
        assert!(e.contains("server.drain_secs") && e.contains("server.drain "), "{e}");
        let e = Config::load_with_env(
            None,
            env(&[("PLAYCAST__SERVER__DRAIN_SECS", "60"), ("PLAYCAST__SERVER__DRAIN", "1m")]),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("PLAYCAST__SERVER__DRAIN_SECS") && e.contains("PLAYCAST__SERVER__DRAIN "), "{e}");
        let e = Config::load_with_env(None, env(&[("PLAYCAST__SERVER__DRAIN_SECS", "soon")])).unwrap_err().to_string();
        assert!(e.contains("PLAYCAST__SERVER__DRAIN_SECS: `soon` is not an integer"), "{e}");
    }

    #[test]
    fn refusals_name_the_file_line_or_variable_that_set_the_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, "[media]\n\nmax_streams = 0\n[node]\nheartbeat_ms = 5\n").unwrap();
        let e = Config::load_with_env(Some(&path), env(&[])).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "{p}:3: media.max_streams: must be at least 1\n{p}:5: node.heartbeat: 100ms to 1m",
                p = path.display()
            )
        );
        std::fs::write(&path, "[node]\nheartbeat_ms = 5\n").unwrap();
        let e = Config::load_with_env(Some(&path), env(&[])).unwrap_err().to_string();
        assert_eq!(e, format!("{}:2: node.heartbeat: 100ms to 1m", path.display()));
        std::fs::write(&path, "[server]\ndrain = 300\n").unwrap();
        let e = Config::load_with_env(Some(&path), env(&[])).unwrap_err().to_string();
        assert!(e.starts_with(&format!("{}:2: server.drain: invalid type", path.display())), "{e}");
        std::fs::write(&path, "[server]\ndrain = \"1m\"\n").unwrap();
        let e =
            Config::load_with_env(Some(&path), env(&[("PLAYCAST__SERVER__DRAIN", "2days")])).unwrap_err().to_string();
        assert_eq!(e, "PLAYCAST__SERVER__DRAIN: server.drain: at most 1day");
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.toml");
        std::fs::write(
            &path,
            "[server]\ndrain = \"soon\"\n[cache]\nurl = \"memcached://cache:11211\"\n[media]\nmax_stream = 2\n",
        )
        .unwrap();
        let e = Config::load_with_env(Some(&path), env(&[("PLAYCAST__NODE__HEARTBEAT", "5ms")])).unwrap_err();
        assert!(matches!(&e, ConfigError::Several(all) if all.len() == 4), "{e:?}");
        let text = e.to_string();
        let lines: Vec<&str> = text.lines().collect();
        let p = path.display();
        // The file's unknown key, the value that does not fit, then the refusals.
        assert_eq!(lines.len(), 4, "{text}");
        assert_eq!(lines[0], format!("{p}:6: unknown setting `max_stream` in [media]"), "{text}");
        assert_eq!(lines[1], format!("{p}:2: server.drain: invalid value string \"soon\", expected a duration"));
        assert_eq!(lines[2], "PLAYCAST__NODE__HEARTBEAT: node.heartbeat: 100ms to 1m", "{text}");
        assert!(lines[3].starts_with(&format!("{p}:4: cache.url: unknown cache backend `memcached`")), "{text}");

        // Each of them alone is the error it always was.
        std::fs::write(&path, "[server]\ndrain = \"soon\"\n").unwrap();
        let e = Config::load_with_env(Some(&path), env(&[])).unwrap_err();
        assert!(matches!(e, ConfigError::Syntax { line: 2, .. }), "{e:?}");
    }

    #[test]
    fn the_cache_backend_comes_from_its_url() {
        let c = Config::load_with_env(None, env(&[])).unwrap();
        assert_eq!(c.cache.backend(), CacheBackend::Memory);
        let c = Config::load_with_env(None, env(&[("PLAYCAST__CACHE__URL", "redis://cache:6379")])).unwrap();
        assert_eq!(c.cache.backend(), CacheBackend::Redis);
        assert_eq!(c.cache.backend().as_str(), "redis");
        let e = Config::load_with_env(None, env(&[("PLAYCAST__CACHE__URL", "memcached://cache:11211")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("PLAYCAST__CACHE__URL: cache.url: unknown cache backend `memcached`"), "{e}");
    }

    #[test]
    fn secret_debug_is_redacted() {
        let s = Secret("hunter2".into());
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
