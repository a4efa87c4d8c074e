//! Token verification: header checks first (size, shape, algorithm, kid),
//! then the signature with the issuer's key, then the claims.

use std::time::Duration;

use jsonwebtoken::{Algorithm, Validation};
use serde::Serialize;

use super::dev::{self, DevIssuer};
use super::jwks::Jwks;
use super::{AuthError, Role};
use crate::config::AuthConfig;

/// Tokens larger than this are refused before any parsing.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Who a valid token speaks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Identity {
    /// `sub`: the user id.
    pub user_id: String,
    pub role: Role,
    pub issuer: String,
    /// `sid`: the issuer's session, when it names one.
    pub session: Option<String>,
    /// `exp`, seconds since the Unix epoch.
    pub expires_at: u64,
}

enum Keys {
    Dev(Box<DevIssuer>),
    Remote(Jwks),
}

/// Verified tokens kept to skip the signature check on reuse (a browser
/// sends the same token with every request until it refreshes it).
const VERIFIED_CACHE_ENTRIES: usize = 4096;

pub struct Verifier {
    keys: Keys,
    verified: std::sync::Mutex<std::collections::HashMap<String, Identity>>,
    issuers: Vec<String>,
    authorized_parties: Vec<String>,
    role_claim: Vec<String>,
    leeway: Duration,
}

impl Verifier {
    /// A verifier for the configured issuer, or for the development issuer
    /// (whose key lives in `data_dir`) when none is configured.
    pub fn new(config: &AuthConfig, data_dir: &std::path::Path) -> Result<Self, AuthError> {
        let (keys, issuers) = if config.dev_issuer_active() {
            (Keys::Dev(Box::new(DevIssuer::load_or_create(data_dir)?)), vec![dev::ISSUER.to_string()])
        } else {
            let jwks = Jwks::new(
                config.jwks_url.clone(),
                Duration::from_secs(config.jwks_cache_secs),
                Duration::from_secs(config.jwks_refetch_min_secs),
            );
            (Keys::Remote(jwks), config.issuers.clone())
        };
        Ok(Self {
            keys,
            verified: Default::default(),
            issuers,
            authorized_parties: config.authorized_parties.clone(),
            role_claim: config.role_claim.split('.').map(str::to_string).collect(),
            leeway: Duration::from_secs(config.leeway_secs),
        })
    }

    /// The development issuer, when it is the one in use.
    pub fn dev_issuer(&self) -> Option<&DevIssuer> {
        match &self.keys {
            Keys::Dev(d) => Some(d),
            Keys::Remote(_) => None,
        }
    }

    pub async fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs();
        if let Some(id) = self.verified.lock().unwrap_or_else(|e| e.into_inner()).get(token) {
            // Signature, issuer and claims were checked; only time moves on.
            if now <= id.expires_at + self.leeway.as_secs() {
                return Ok(id.clone());
            }
            return Err(AuthError::Expired);
        }
        let id = self.verify_uncached(token).await?;
        let mut cache = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= VERIFIED_CACHE_ENTRIES {
            cache.retain(|_, id| now <= id.expires_at + self.leeway.as_secs());
            if cache.len() >= VERIFIED_CACHE_ENTRIES {
                cache.clear();
            }
        }
        cache.insert(token.to_string(), id.clone());
        Ok(id)
    }

    /// Full verification: header, key, signature, claims.
    pub async fn verify_uncached(&self, token: &str) -> Result<Identity, AuthError> {
        if token.is_empty() {
            return Err(AuthError::Missing);
        }
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::TooLarge(token.len()));
        }
        if token.split('.').count() != 3 {
            return Err(AuthError::Malformed("expected three dot-separated parts".into()));
        }
        let header = jsonwebtoken::decode_header(token).map_err(|e| AuthError::Malformed(e.to_string()))?;
        if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
            return Err(AuthError::Algorithm(format!("{:?}", header.alg)));
        }
        let kid = header.kid.ok_or(AuthError::NoKid)?;
        let (algorithm, key) = match &self.keys {
            Keys::Dev(d) if kid == d.kid => (Algorithm::ES256, d.decoding.clone()),
            Keys::Dev(_) => return Err(AuthError::UnknownKid(kid.chars().take(64).collect())),
            Keys::Remote(jwks) => {
                let k = jwks.key(&kid).await?;
                (k.algorithm, k.key)
            }
        };
        // The key decides the algorithm, never the token: no HS256 with a public key.
        if header.alg != algorithm {
            return Err(AuthError::Algorithm(format!("{:?} for a {:?} key", header.alg, algorithm)));
        }
        let mut validation = Validation::new(algorithm);
        validation.leeway = self.leeway.as_secs();
        validation.validate_nbf = true;
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["exp", "sub", "iss"]);
        validation.set_issuer(&self.issuers);
        let data = jsonwebtoken::decode::<serde_json::Value>(token, &key, &validation).map_err(map_error)?;
        let claims = data.claims;
        if !self.authorized_parties.is_empty() {
            let azp = claims.get("azp").and_then(|v| v.as_str()).ok_or(AuthError::AuthorizedParty)?;
            if !self.authorized_parties.iter().any(|p| p == azp) {
                return Err(AuthError::AuthorizedParty);
            }
        }
        let text = |name: &str| claims.get(name).and_then(|v| v.as_str()).map(str::to_string);
        let user_id = text("sub")
            .filter(|s| !s.is_empty() && s.len() <= 256)
            .ok_or_else(|| AuthError::Claims("`sub` must be a non-empty string of at most 256 characters".into()))?;
        let role = match self.role_claim.iter().try_fold(&claims, |v, k| v.get(k)) {
            None | Some(serde_json::Value::Null) => Role::Player,
            Some(serde_json::Value::String(r)) => r.parse()?,
            Some(_) => return Err(AuthError::Claims("the role claim must be a string".into())),
        };
        Ok(Identity {
            user_id,
            role,
            issuer: text("iss").unwrap_or_default(),
            session: text("sid"),
            expires_at: claims.get("exp").and_then(|v| v.as_u64()).unwrap_or(0),
        })
    }
}

fn map_error(e: jsonwebtoken::errors::Error) -> AuthError {
    use jsonwebtoken::errors::ErrorKind as K;
    match e.kind() {
        K::ExpiredSignature => AuthError::Expired,
        K::ImmatureSignature => AuthError::NotYetValid,
        K::InvalidIssuer => AuthError::Issuer,
        K::InvalidSignature => AuthError::Signature,
        K::InvalidAlgorithm | K::InvalidAlgorithmName | K::UnsupportedAlgorithm => AuthError::Algorithm(format!("{e}")),
        K::MissingRequiredClaim(c) => AuthError::Claims(format!("missing `{c}`")),
        K::InvalidClaimFormat(c) => AuthError::Claims(format!("`{c}` has the wrong type")),
        _ => AuthError::Malformed(e.to_string()),
    }
}
