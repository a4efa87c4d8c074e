//! Authentication like a Clerk backend: bearer JWTs (RS256 or ES256) checked
//! against a JWKS, an issuer allowlist and an authorized-party allowlist, with
//! the role read from a configurable claim path. A development issuer with a
//! key of its own serves the embedded defaults and is off whenever a real
//! issuer is configured.

pub mod dev;
pub mod jwks;
pub mod verify;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use verify::{Identity, Verifier};

/// What a signed-in user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Every session, pipeline reload, node view.
    Admin,
    /// Own sessions only.
    Player,
    /// Watches sessions shared with them; sends no input.
    Viewer,
}

impl FromStr for Role {
    type Err = AuthError;

    fn from_str(s: &str) -> Result<Self, AuthError> {
        match s {
            "admin" => Ok(Role::Admin),
            "player" => Ok(Role::Player),
            "viewer" => Ok(Role::Viewer),
            other => Err(AuthError::Claims(format!("unknown role `{}`", other.chars().take(32).collect::<String>()))),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Admin => "admin",
            Role::Player => "player",
            Role::Viewer => "viewer",
        })
    }
}

/// Why a token was refused. Everything but `KeysUnavailable` is the caller's
/// problem (401); that one is ours (503).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no bearer token")]
    Missing,
    #[error("token is {0} bytes, more than the {max} accepted", max = verify::MAX_TOKEN_BYTES)]
    TooLarge(usize),
    #[error("not a JWT: {0}")]
    Malformed(String),
    #[error("algorithm {0} is not accepted; tokens must be RS256 or ES256")]
    Algorithm(String),
    #[error("token has no `kid` header")]
    NoKid,
    #[error("no key `{0}` in the issuer's key set")]
    UnknownKid(String),
    #[error("key `{kid}` of the issuer's key set is refused: {reason}")]
    KeyRefused { kid: String, reason: String },
    #[error("the `crit` header names extensions this service does not implement: {0}")]
    Critical(String),
    #[error("the token's {part} repeats the member `{name}`")]
    DuplicateMember { part: &'static str, name: String },
    #[error("signature does not verify")]
    Signature,
    #[error("token expired")]
    Expired,
    #[error("token not valid yet (nbf in the future)")]
    NotYetValid,
    #[error("token issued in the future (iat later than now plus the leeway)")]
    IssuedInFuture,
    #[error("issuer is not accepted")]
    Issuer,
    #[error("authorized party (azp) is not accepted")]
    AuthorizedParty,
    #[error("claims: {0}")]
    Claims(String),
    #[error("the issuer's keys cannot be fetched: {0}")]
    KeysUnavailable(String),
    #[error("the development issuer is off: a real issuer is configured")]
    DevIssuerOff,
    #[error("development issuer key {path}: {message}")]
    DevKey { path: String, message: String },
}

impl AuthError {
    /// True when the fault is on our side, not the token's.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, AuthError::KeysUnavailable(_))
    }
}
