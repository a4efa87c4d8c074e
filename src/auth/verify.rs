//! Token verification: header checks first (size, shape, algorithm, kid),
//! then the signature with the issuer's key, then the claims.

use std::time::Duration;

use jsonwebtoken::{Algorithm, Validation};
use serde::Serialize;

use super::dev::{self, DevIssuer};
use super::jwks::Jwks;
use super::{AuthError, Role};
use crate::config::AuthConfig;
use crate::sync::Locked;

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
    Remote(Box<Jwks>),
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
            let jwks = Jwks::new(config.jwks_url.clone(), config.jwks_cache, config.jwks_refetch_min);
            (Keys::Remote(Box::new(jwks)), config.issuers.clone())
        };
        Ok(Self {
            keys,
            verified: Default::default(),
            issuers,
            authorized_parties: config.authorized_parties.clone(),
            role_claim: config.role_claim.split('.').map(str::to_string).collect(),
            leeway: config.leeway,
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
        if let Some(id) = self.verified.locked().get(token) {
            // Signature, issuer and claims were checked; only time moves on.
            if now <= id.expires_at + self.leeway.as_secs() {
                return Ok(id.clone());
            }
            return Err(AuthError::Expired);
        }
        let id = self.verify_uncached(token).await?;
        let mut cache = self.verified.locked();
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
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs();
        let header = check_unsigned(token, now, self.leeway.as_secs())?;
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

/// Every check made before a key is looked up: size, shape, base64url JSON
/// objects without repeated members, no `crit`, registered claims of the
/// right types with `iat` not after `now` plus `leeway`, and an accepted
/// algorithm. Nothing here is trusted yet; it only refuses early. Public so
/// that fuzzing reaches the parsing without a signature.
pub fn check_unsigned(token: &str, now: u64, leeway: u64) -> Result<jsonwebtoken::Header, AuthError> {
    if token.is_empty() {
        return Err(AuthError::Missing);
    }
    if token.len() > MAX_TOKEN_BYTES {
        return Err(AuthError::TooLarge(token.len()));
    }
    if token.split('.').count() != 3 {
        return Err(AuthError::Malformed("expected three dot-separated parts".into()));
    }
    let mut parts = token.split('.');
    let (head, body) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
    check_header(&part_json(head, "header")?)?;
    check_registered_claims(&part_json(body, "payload")?, now, leeway)?;
    let header = jsonwebtoken::decode_header(token).map_err(|e| AuthError::Malformed(e.to_string()))?;
    if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
        return Err(AuthError::Algorithm(format!("{:?}", header.alg)));
    }
    Ok(header)
}

/// One part of a token as a JSON object, refused when it is not one or when
/// any object in it repeats a member name (a parser keeping the last of two
/// `role`s would let a token say two things).
fn part_json(segment: &str, part: &'static str) -> Result<serde_json::Map<String, serde_json::Value>, AuthError> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| AuthError::Malformed(format!("the {part} is not base64url")))?;
    let repeated = std::cell::RefCell::new(None);
    let mut de = serde_json::Deserializer::from_slice(&bytes);
    let scan = serde::de::DeserializeSeed::deserialize(members::Unique(&repeated), &mut de).and_then(|()| de.end());
    if let Some(name) = repeated.into_inner() {
        return Err(AuthError::DuplicateMember { part, name: name.chars().take(64).collect() });
    }
    scan.map_err(|e| AuthError::Malformed(format!("the {part} is not JSON: {e}")))?;
    match serde_json::from_slice(&bytes) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        _ => Err(AuthError::Malformed(format!("the {part} is not a JSON object"))),
    }
}

/// RFC 7515, 4.1.11: a recipient that does not implement every extension
/// `crit` names must refuse the token. This service implements none.
fn check_header(header: &serde_json::Map<String, serde_json::Value>) -> Result<(), AuthError> {
    match header.get("crit") {
        None => Ok(()),
        Some(crit) => Err(AuthError::Critical(crit.to_string().chars().take(128).collect())),
    }
}

/// The registered claims' JSON types (RFC 7519, 4.1), checked before any of
/// them is trusted: strings for `iss`, `sub` and `azp`, integer seconds for
/// `exp`, `nbf` and `iat`; and `iat` not later than now plus the leeway.
fn check_registered_claims(
    claims: &serde_json::Map<String, serde_json::Value>,
    now: u64,
    leeway: u64,
) -> Result<(), AuthError> {
    for name in ["iss", "sub", "azp"] {
        if claims.get(name).is_some_and(|v| !v.is_string()) {
            return Err(AuthError::Claims(format!("`{name}` must be a string")));
        }
    }
    for name in ["exp", "nbf", "iat"] {
        if claims.get(name).is_some_and(|v| !v.is_u64()) {
            return Err(AuthError::Claims(format!("`{name}` must be a whole number of seconds since the epoch")));
        }
    }
    if claims.get("iat").and_then(|v| v.as_u64()).is_some_and(|iat| iat > now.saturating_add(leeway)) {
        return Err(AuthError::IssuedInFuture);
    }
    Ok(())
}

/// A JSON walk that stops at the first object member named twice.
mod members {
    use std::cell::RefCell;
    use std::collections::HashSet;
    use std::fmt;

    use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};

    /// Walks one value; the first repeated name is left in the cell.
    pub struct Unique<'a>(pub &'a RefCell<Option<String>>);

    impl<'de> DeserializeSeed<'de> for Unique<'_> {
        type Value = ();
        fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for Unique<'_> {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("JSON")
        }
        fn visit_bool<E>(self, _: bool) -> Result<(), E> {
            Ok(())
        }
        fn visit_i64<E>(self, _: i64) -> Result<(), E> {
            Ok(())
        }
        fn visit_u64<E>(self, _: u64) -> Result<(), E> {
            Ok(())
        }
        fn visit_f64<E>(self, _: f64) -> Result<(), E> {
            Ok(())
        }
        fn visit_str<E>(self, _: &str) -> Result<(), E> {
            Ok(())
        }
        fn visit_unit<E>(self) -> Result<(), E> {
            Ok(())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            while seq.next_element_seed(Unique(self.0))?.is_some() {}
            Ok(())
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            let mut seen = HashSet::new();
            while let Some(name) = map.next_key::<String>()? {
                if seen.contains(&name) {
                    *self.0.borrow_mut() = Some(name);
                    return Err(de::Error::custom("repeated member"));
                }
                map.next_value_seed(Unique(self.0))?;
                seen.insert(name);
            }
            Ok(())
        }
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
