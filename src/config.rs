//! Service configuration: embedded defaults, then an optional TOML file, then
//! `PLAYCAST__SECTION__KEY` environment variables, validated once at start.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
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
    pub connect_timeout_secs: u64,
    /// Ends a session with no input for this long.
    pub idle_timeout_secs: u64,
    pub max_duration_secs: u64,
    /// A quality alert when the player's round-trip time exceeds this (ms)…
    pub quality_rtt_ms: u32,
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
    /// How often the node says it is alive (cache and database), ms.
    pub heartbeat_ms: u64,
    /// A node silent this long is presumed dead and its sessions fail, ms.
    pub heartbeat_ttl_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheConfig {
    /// `redis://…`; empty: in-process.
    pub url: Secret,
    /// Put in front of every key and channel, so services can share one Redis.
    pub prefix: String,
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
    pub drain_secs: u64,
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
    /// Clock skew allowed on `exp`, `nbf` and `iat`, in seconds.
    pub leeway_secs: u64,
    /// Keys fetched longer ago than this are refetched before use, in seconds.
    pub jwks_cache_secs: u64,
    /// An unknown `kid` refetches the key set at most this often, in seconds.
    pub jwks_refetch_min_secs: u64,
    /// Lets the development issuer mint tokens for clients that are not on
    /// loopback: anyone who can reach the service becomes any user, admin
    /// included. Off unless an operator sets it on purpose.
    #[serde(default)]
    pub insecure_dev_issuer_on_network: bool,
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
    /// Lifetime of generated TURN credentials, in seconds.
    pub turn_ttl_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignalingConfig {
    /// Largest accepted signaling message in bytes; larger ones get `too_large`.
    pub max_message_bytes: usize,
    /// A connection that sends nothing for this long is closed, in seconds.
    pub idle_timeout_secs: u64,
    /// A stream whose offer is not answered within this time ends, in seconds.
    pub answer_timeout_secs: u64,
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
    /// Loads defaults, then `file` if given, then the process environment.
    /// The configuration from the defaults, `file` and the process's
    /// environment, checked by this module and then by `check`: the settings
    /// other modules own (the element policy is media's) are judged there, and
    /// an error is still blamed on the file or variable that set the field.
    pub fn load(file: Option<&Path>, check: &dyn Fn(&Config) -> Result<(), FieldError>) -> Result<Self, ConfigError> {
        Self::load_with_env_checked(file, std::env::vars(), check)
    }

    /// [`Config::load`] with the given environment and no outside check.
    pub fn load_with_env(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        Self::load_with_env_checked(file, env, &|_| Ok(()))
    }

    pub fn load_with_env_checked(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        check: &dyn Fn(&Config) -> Result<(), FieldError>,
    ) -> Result<Self, ConfigError> {
        let mut table = parse_table("<defaults>", DEFAULT_TOML)?;
        locate_shipped(&mut table, &shipped_bases());
        let mut origin = "<defaults>".to_string();
        if let Some(path) = file {
            let text = crate::files::read_text(path, crate::files::MAX_CONFIG_BYTES)
                .map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
            origin = path.display().to_string();
            // Typed check of the file alone first, so errors point at its lines.
            toml::from_str::<PartialCheck>(&text).map_err(|e| syntax(&origin, &text, &e))?;
            let mut layer = parse_table(&origin, &text)?;
            let folder = std::path::absolute(path)
                .map_err(|source| ConfigError::Read { path: path.to_owned(), source })?
                .parent()
                .map(Path::to_owned)
                .unwrap_or_default();
            resolve_against(&mut layer, &folder);
            merge(&mut table, layer);
        }
        // Which variable set which field, to blame the right one.
        let mut from_env: Vec<(String, String)> = Vec::new();
        for (name, value) in env {
            let Some(rest) = name.strip_prefix("PLAYCAST__") else {
                continue;
            };
            let keys: Vec<String> = rest.split("__").map(|k| k.to_ascii_lowercase()).collect();
            set_path(&mut table, &keys, &value).map_err(|message| ConfigError::Env { name: name.clone(), message })?;
            // Type-check after each variable so a bad value is blamed on its variable.
            Config::deserialize(toml::Value::Table(table.clone()))
                .map_err(|e| ConfigError::Env { name: name.clone(), message: e.message().to_string() })?;
            from_env.push((keys.join("."), name));
        }
        let config: Config = Config::deserialize(toml::Value::Table(table)).map_err(|e| ConfigError::Syntax {
            origin: origin.clone(),
            line: 1,
            message: e.message().to_string(),
        })?;
        config
            .validate(&origin)
            .and_then(|()| {
                check(&config).map_err(|e| ConfigError::Invalid {
                    origin: origin.clone(),
                    field: e.field,
                    message: e.message,
                })
            })
            .map_err(|e| match e {
                ConfigError::Invalid { field, message, origin } => {
                    let origin =
                        from_env.iter().rev().find(|(f, _)| f == field).map(|(_, n)| n.clone()).unwrap_or(origin);
                    ConfigError::Invalid { origin, field, message }
                }
                e => e,
            })?;
        Ok(config)
    }

    fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        let invalid = |field, message: &str| ConfigError::Invalid {
            origin: origin.to_string(),
            field,
            message: message.to_string(),
        };
        if self.media.max_streams == 0 {
            return Err(invalid("media.max_streams", "must be at least 1"));
        }
        let a = &self.node.advertise;
        if !(a.is_empty() || a.starts_with("http://") || a.starts_with("https://")) {
            return Err(invalid("node.advertise", "an http:// or https:// URL, or empty"));
        }
        if !(100..=60_000).contains(&self.node.heartbeat_ms) {
            return Err(invalid("node.heartbeat_ms", "100 to 60000"));
        }
        if self.node.heartbeat_ttl_ms < 2 * self.node.heartbeat_ms || self.node.heartbeat_ttl_ms > 600_000 {
            return Err(invalid("node.heartbeat_ttl_ms", "at least twice node.heartbeat_ms and at most 600000"));
        }
        if self.server.drain_secs > 86_400 {
            return Err(invalid("server.drain_secs", "at most 86400 (a day)"));
        }
        if self.signaling.max_message_bytes < 1024 || self.signaling.max_message_bytes > 1 << 20 {
            return Err(invalid("signaling.max_message_bytes", "must be between 1024 and 1048576"));
        }
        for url in &self.ice.stun_urls {
            if !url.starts_with("stun:") && !url.starts_with("stuns:") {
                return Err(invalid("ice.stun_urls", "each URL must start with stun: or stuns:"));
            }
        }
        for url in &self.ice.turn_urls {
            if !url.starts_with("turn:") && !url.starts_with("turns:") {
                return Err(invalid("ice.turn_urls", "each URL must start with turn: or turns:"));
            }
        }
        if !self.ice.turn_urls.is_empty() && self.ice.turn_secret.0.is_empty() {
            return Err(invalid("ice.turn_secret", "turn_urls are set but turn_secret is empty"));
        }
        if self.auth.issuers.is_empty() != self.auth.jwks_url.is_empty() {
            return Err(invalid("auth.jwks_url", "auth.issuers and auth.jwks_url are set together or not at all"));
        }
        if !self.auth.jwks_url.is_empty()
            && !self.auth.jwks_url.starts_with("https://")
            && !self.auth.jwks_url.starts_with("http://127.")
            && !self.auth.jwks_url.starts_with("http://localhost")
        {
            return Err(invalid("auth.jwks_url", "must be https:// (plain http only to this machine)"));
        }
        if self.auth.role_claim.is_empty() || self.auth.role_claim.split('.').any(str::is_empty) {
            return Err(invalid("auth.role_claim", "must be a dotted claim path such as metadata.role"));
        }
        if self.auth.leeway_secs > 300 {
            return Err(invalid("auth.leeway_secs", "at most 300"));
        }
        if self.signaling.idle_timeout_secs == 0 || self.signaling.answer_timeout_secs == 0 {
            return Err(invalid("signaling.idle_timeout_secs", "signaling timeouts must be at least 1 second"));
        }
        let db = &self.state.database_url.0;
        if !db.is_empty() && !["sqlite:", "postgres://", "postgresql://"].iter().any(|p| db.starts_with(p)) {
            return Err(invalid("state.database_url", "must start with sqlite:, postgres:// or postgresql://"));
        }
        if self.ice.turn_ttl_secs == 0 {
            return Err(invalid("ice.turn_ttl_secs", "must be at least 1"));
        }
        let s = &self.sessions;
        if s.connect_timeout_secs == 0 {
            return Err(invalid("sessions.connect_timeout_secs", "must be at least 1"));
        }
        if s.idle_timeout_secs == 0 {
            return Err(invalid("sessions.idle_timeout_secs", "must be at least 1"));
        }
        if s.max_duration_secs == 0 {
            return Err(invalid("sessions.max_duration_secs", "must be at least 1"));
        }
        if !(1..=10_000).contains(&s.quality_rtt_ms) {
            return Err(invalid("sessions.quality_rtt_ms", "1 to 10000"));
        }
        if !(1..=100).contains(&s.quality_loss_percent) {
            return Err(invalid("sessions.quality_loss_percent", "1 to 100"));
        }
        if !(1..=100).contains(&s.quality_samples) {
            return Err(invalid("sessions.quality_samples", "1 to 100"));
        }
        let cache = &self.cache.url.0;
        if cache.starts_with("rediss://") {
            return Err(invalid("cache.url", "rediss:// (TLS) is not supported; reach Redis over a private network"));
        }
        if !cache.is_empty() && !cache.starts_with("redis://") {
            return Err(invalid("cache.url", "must start with redis://"));
        }
        let prefix = &self.cache.prefix;
        if prefix.is_empty()
            || prefix.len() > 64
            || !prefix.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(invalid("cache.prefix", "1 to 64 letters, digits, `-`, `_` or `.`"));
        }
        if self.node.id.len() > 64 || self.node.id.chars().any(|c| !(c.is_ascii_alphanumeric() || "-_.".contains(c))) {
            return Err(invalid("node.id", "at most 64 letters, digits, `-`, `_` or `.`"));
        }
        Ok(())
    }

    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.signaling.idle_timeout_secs)
    }
}

/// Every section optional: used only to point at the line of a type error in a file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct PartialCheck {
    server: Option<PartialServer>,
    media: Option<PartialMedia>,
    ice: Option<PartialIce>,
    signaling: Option<PartialSignaling>,
    auth: Option<PartialAuth>,
    state: Option<PartialState>,
    sessions: Option<PartialSessions>,
    node: Option<PartialNode>,
    cache: Option<PartialCache>,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct PartialSessions {
    games_file: Option<PathBuf>,
    saves_dir: Option<PathBuf>,
    connect_timeout_secs: Option<u64>,
    idle_timeout_secs: Option<u64>,
    max_duration_secs: Option<u64>,
    quality_rtt_ms: Option<u32>,
    quality_loss_percent: Option<u32>,
    quality_samples: Option<u32>,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct PartialNode {
    id: Option<String>,
    advertise: Option<String>,
    cpu_cores: Option<u32>,
    memory_mb: Option<u64>,
    gpu_encoder_slots: Option<Vec<u32>>,
    heartbeat_ms: Option<u64>,
    heartbeat_ttl_ms: Option<u64>,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct PartialCache {
    url: Option<String>,
    prefix: Option<String>,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct PartialState {
    database_url: Option<String>,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct PartialAuth {
    issuers: Option<Vec<String>>,
    jwks_url: Option<String>,
    authorized_parties: Option<Vec<String>>,
    role_claim: Option<String>,
    leeway_secs: Option<u64>,
    jwks_cache_secs: Option<u64>,
    jwks_refetch_min_secs: Option<u64>,
    insecure_dev_issuer_on_network: Option<bool>,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct PartialServer {
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    drain_secs: Option<u64>,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct PartialMedia {
    pipelines_dir: Option<PathBuf>,
    default_pipeline: Option<String>,
    max_streams: Option<usize>,
    allow_elements: Option<Vec<String>>,
    deny_elements: Option<Vec<String>>,
    insecure_host_elements: Option<Vec<String>>,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct PartialIce {
    stun_urls: Option<Vec<String>>,
    turn_urls: Option<Vec<String>>,
    turn_secret: Option<String>,
    turn_ttl_secs: Option<u64>,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct PartialSignaling {
    max_message_bytes: Option<usize>,
    idle_timeout_secs: Option<u64>,
    answer_timeout_secs: Option<u64>,
}

/// The settings that name a file or folder (`section`, `key`).
const PATH_SETTINGS: [(&str, &str); 4] =
    [("server", "data_dir"), ("media", "pipelines_dir"), ("sessions", "games_file"), ("sessions", "saves_dir")];

/// Of those, the ones whose embedded default is a file shipped with the service.
const SHIPPED_SETTINGS: [(&str, &str); 2] = [("media", "pipelines_dir"), ("sessions", "games_file")];

/// Where the shipped pipeline files and games catalog are looked for when the
/// embedded defaults name them, first found wins: `<exe>/../share/playcast`
/// (the binary's own installation, e.g. /usr/bin -> /usr/share/playcast),
/// the working directory (a source checkout), the checkout a Cargo build
/// folder is in (`<checkout>/target/<profile>/playcast`), then
/// `/usr/share/playcast` (a binary copied elsewhere). They are installed files rather than text
/// embedded in the binary because pipeline files are the operator's
/// interface: the folder catalog watches, reloads and checks real files, and
/// one code path serves both the defaults and an operator's own folder.
pub fn shipped_bases() -> Vec<PathBuf> {
    let exe = std::env::current_exe().ok();
    // /usr for /usr/bin/playcast, <checkout>/target for target/debug/playcast.
    let prefix = exe.as_deref().and_then(Path::parent).and_then(Path::parent);
    let mut bases: Vec<PathBuf> = prefix.map(|p| p.join("share/playcast")).into_iter().collect();
    bases.extend(std::env::current_dir().ok());
    if let Some(build) = prefix.filter(|p| p.file_name().is_some_and(|n| n == "target")) {
        bases.extend(build.parent().map(Path::to_owned));
    }
    bases.push(PathBuf::from("/usr/share/playcast"));
    bases
}

/// Turns the embedded defaults' relative shipped paths into the first of
/// `bases` that holds them; none: the working directory's, so an error names
/// an absolute path.
fn locate_shipped(table: &mut toml::Table, bases: &[PathBuf]) {
    for (section, key) in SHIPPED_SETTINGS {
        let Some(toml::Value::String(rel)) = table.get(section).and_then(|s| s.get(key)) else { continue };
        let rel = PathBuf::from(rel);
        if rel.is_absolute() {
            continue;
        }
        let found = bases
            .iter()
            .map(|b| b.join(&rel))
            .find(|p| p.exists())
            .or_else(|| std::path::absolute(&rel).ok())
            .unwrap_or(rel);
        set_string(table, section, key, found);
    }
}

/// Relative paths in a configuration file are relative to that file's folder,
/// wherever the service is started from. Empty means "the default" and stays.
fn resolve_against(layer: &mut toml::Table, folder: &Path) {
    for (section, key) in PATH_SETTINGS {
        let Some(toml::Value::String(value)) = layer.get(section).and_then(|s| s.get(key)) else { continue };
        if value.is_empty() || Path::new(value).is_absolute() {
            continue;
        }
        let resolved = folder.join(value);
        set_string(layer, section, key, resolved);
    }
}

fn set_string(table: &mut toml::Table, section: &str, key: &str, path: PathBuf) {
    // TOML holds UTF-8 only; a path that is not stays as written.
    if let (Some(toml::Value::Table(t)), Some(path)) = (table.get_mut(section), path.to_str()) {
        t.insert(key.to_string(), toml::Value::String(path.to_string()));
    }
}

fn parse_table(origin: &str, text: &str) -> Result<toml::Table, ConfigError> {
    text.parse::<toml::Table>().map_err(|e| syntax(origin, text, &e))
}

fn syntax(origin: &str, text: &str, e: &toml::de::Error) -> ConfigError {
    ConfigError::Syntax {
        origin: origin.to_string(),
        line: e.span().map(|s| line_of(text, s.start)).unwrap_or(0),
        message: e.message().to_string(),
    }
}

/// 1-based line of a byte offset.
pub fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())].iter().filter(|b| **b == b'\n').count() + 1
}

fn merge(base: &mut toml::Table, overlay: toml::Table) {
    for (k, v) in overlay {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

fn set_path(table: &mut toml::Table, keys: &[String], raw: &str) -> Result<(), String> {
    let (last, parents) = keys.split_last().ok_or("empty key")?;
    let mut cur = table;
    for k in parents {
        cur = match cur.get_mut(k) {
            Some(toml::Value::Table(t)) => t,
            _ => return Err(format!("unknown section `{k}`")),
        };
    }
    let old = cur.get(last).ok_or_else(|| format!("unknown setting `{last}`"))?;
    let value = match old {
        toml::Value::String(_) => toml::Value::String(raw.to_string()),
        toml::Value::Integer(_) => toml::Value::Integer(raw.parse().map_err(|_| format!("`{raw}` is not an integer"))?),
        toml::Value::Boolean(_) => {
            toml::Value::Boolean(raw.parse().map_err(|_| format!("`{raw}` is not true or false"))?)
        }
        toml::Value::Array(_) => toml::Value::Array(
            raw.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                // Lists of numbers (GPU slots) and of strings (URLs) share this path.
                .map(|s| s.parse().map(toml::Value::Integer).unwrap_or_else(|_| toml::Value::String(s.to_string())))
                .collect(),
        ),
        _ => return Err("this setting cannot be set from the environment".into()),
    };
    cur.insert(last.clone(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn shipped_files_are_found_in_the_first_base_that_has_them() {
        let dir = tempfile::tempdir().unwrap();
        let (empty, install) = (dir.path().join("empty"), dir.path().join("share/playcast"));
        std::fs::create_dir_all(install.join("pipelines")).unwrap();
        std::fs::create_dir_all(install.join("config")).unwrap();
        std::fs::write(install.join("config/games.toml"), "").unwrap();
        let mut table = parse_table("<defaults>", DEFAULT_TOML).unwrap();
        locate_shipped(&mut table, &[empty.clone(), install.clone()]);
        let c = Config::deserialize(toml::Value::Table(table)).unwrap();
        assert_eq!(c.media.pipelines_dir, install.join("pipelines"));
        assert_eq!(c.sessions.games_file, install.join("config/games.toml"));
        // Nowhere: an absolute path in the working directory, for the error to name.
        let mut table = parse_table("<defaults>", DEFAULT_TOML).unwrap();
        locate_shipped(&mut table, &[empty]);
        let c = Config::deserialize(toml::Value::Table(table)).unwrap();
        assert_eq!(c.media.pipelines_dir, std::env::current_dir().unwrap().join("pipelines"));
    }

    #[test]
    fn secret_debug_is_redacted() {
        let s = Secret("hunter2".into());
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
