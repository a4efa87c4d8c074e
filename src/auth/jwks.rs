//! The issuer's JSON Web Key Set, fetched over HTTP and cached. An unknown
//! `kid` triggers a refetch (key rotation), at most once per interval so a
//! flood of forged kids cannot hammer the issuer. While the issuer is down,
//! keys fetched earlier keep serving until they age out.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey};
use tokio::sync::Mutex;

use super::AuthError;

/// A verification key and the algorithm it is for.
#[derive(Clone)]
pub struct Key {
    pub algorithm: Algorithm,
    pub key: DecodingKey,
}

struct Cache {
    keys: HashMap<String, Key>,
    fetched_at: Option<Instant>,
    /// Last fetch caused by an unknown kid while the keys were fresh.
    last_kid_refetch: Option<Instant>,
    /// Last failed fetch: while the issuer is down, requests fail fast
    /// instead of each waiting out a fetch.
    last_failure: Option<Instant>,
}

pub struct Jwks {
    url: String,
    client: reqwest::Client,
    /// Keys older than this are no longer trusted without a refetch.
    max_age: Duration,
    /// Minimum time between two fetches triggered by unknown kids.
    min_refetch: Duration,
    cache: Mutex<Cache>,
}

/// Key sets larger than this are refused.
const MAX_JWKS_BYTES: usize = 256 * 1024;

impl Jwks {
    pub fn new(url: String, max_age: Duration, min_refetch: Duration) -> Self {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .expect("an HTTP client with a timeout builds");
        Self {
            url,
            client,
            max_age,
            min_refetch,
            cache: Mutex::new(Cache {
                keys: HashMap::new(),
                fetched_at: None,
                last_kid_refetch: None,
                last_failure: None,
            }),
        }
    }

    /// The key for `kid`, fetching the set when needed.
    pub async fn key(&self, kid: &str) -> Result<Key, AuthError> {
        let mut cache = self.cache.lock().await;
        let fresh = cache.fetched_at.is_some_and(|t| t.elapsed() < self.max_age);
        if fresh {
            if let Some(k) = cache.keys.get(kid) {
                return Ok(k.clone());
            }
        }
        // Stale keys are refetched unless a fetch just failed; fresh ones only
        // once per interval, so a new key is found at once but forged kids
        // cannot hammer the issuer.
        let failed_recently = cache.last_failure.is_some_and(|t| t.elapsed() < self.min_refetch);
        if !fresh && failed_recently {
            return Err(AuthError::KeysUnavailable("the last fetch failed moments ago".into()));
        }
        let may_fetch = !fresh || cache.last_kid_refetch.is_none_or(|t| t.elapsed() >= self.min_refetch);
        if may_fetch {
            if fresh {
                cache.last_kid_refetch = Some(Instant::now());
            }
            match self.fetch().await {
                Ok(keys) => {
                    cache.keys = keys;
                    cache.fetched_at = Some(Instant::now());
                    cache.last_failure = None;
                }
                Err(e) => {
                    tracing::warn!(url = %self.url, error = %e, "JWKS fetch failed");
                    cache.last_failure = Some(Instant::now());
                    if !fresh {
                        return Err(AuthError::KeysUnavailable(e));
                    }
                }
            }
        }
        cache.keys.get(kid).cloned().ok_or_else(|| AuthError::UnknownKid(kid.chars().take(64).collect()))
    }

    async fn fetch(&self) -> Result<HashMap<String, Key>, String> {
        let res = self.client.get(&self.url).send().await.map_err(|e| e.to_string())?;
        if !res.status().is_success() {
            return Err(format!("HTTP {}", res.status()));
        }
        let body = res.bytes().await.map_err(|e| e.to_string())?;
        if body.len() > MAX_JWKS_BYTES {
            return Err(format!("key set of {} bytes is too large", body.len()));
        }
        let set: JwkSet = serde_json::from_slice(&body).map_err(|e| format!("not a JWK set: {e}"))?;
        Ok(parse_set(&set))
    }
}

/// Usable keys of a set by kid; keys of other types or without a kid are skipped.
pub fn parse_set(set: &JwkSet) -> HashMap<String, Key> {
    let mut keys = HashMap::new();
    for jwk in &set.keys {
        let Some(kid) = jwk.common.key_id.clone() else { continue };
        let algorithm = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => Algorithm::RS256,
            AlgorithmParameters::EllipticCurve(ec) if ec.curve == jsonwebtoken::jwk::EllipticCurve::P256 => {
                Algorithm::ES256
            }
            _ => continue,
        };
        if let Ok(key) = DecodingKey::from_jwk(jwk) {
            keys.insert(kid, Key { algorithm, key });
        }
    }
    keys
}
