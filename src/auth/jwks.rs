//! The issuer's JSON Web Key Set, fetched over HTTP and cached. An unknown
//! `kid` triggers a refetch (key rotation), at most once per interval so a
//! flood of forged kids cannot hammer the issuer. While the issuer is down,
//! keys fetched earlier keep serving until they age out.
//!
//! A slow or hostile issuer costs only its own time: the cache's lock is held
//! for lookups, never across a fetch, so tokens with known keys verify while
//! a refetch waits; callers that need the keys while a fetch is under way
//! wait for that one fetch instead of starting their own; and the body is
//! capped while it is read, so an endless or huge answer costs at most the cap.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey};
use tokio::sync::watch;

use super::AuthError;
use crate::sync::Locked;

/// A verification key and the algorithm it is for.
#[derive(Clone)]
pub struct Key {
    pub algorithm: Algorithm,
    pub key: DecodingKey,
}

/// Key sets larger than this are refused, counted while the body arrives.
pub const MAX_JWKS_BYTES: usize = 256 * 1024;

/// RSA moduli shorter than this are refused (NIST SP 800-131A: 2048 bits at least).
pub const MIN_RSA_BITS: usize = 2048;

/// The usable keys of a set, and the kids refused with the reason.
#[derive(Default)]
pub struct KeySet {
    pub keys: HashMap<String, Key>,
    pub refused: HashMap<String, String>,
}

#[derive(Default)]
struct Cache {
    set: KeySet,
    fetched_at: Option<Instant>,
    /// Last fetch caused by an unknown kid while the keys were fresh.
    last_kid_refetch: Option<Instant>,
    /// Last failed fetch: while the issuer is down, requests fail fast
    /// instead of each waiting out a fetch.
    last_failure: Option<Instant>,
    /// A fetch is under way; others wait for it (`done`) instead of fetching.
    in_flight: bool,
}

pub struct Jwks {
    url: String,
    client: reqwest::Client,
    /// Keys older than this are no longer trusted without a refetch.
    max_age: Duration,
    /// Minimum time between two fetches triggered by unknown kids.
    min_refetch: Duration,
    /// Held only to read or replace the keys, never across an await.
    cache: Mutex<Cache>,
    /// Counts finished fetches; callers waiting on one watch it move.
    done: watch::Sender<u64>,
}

/// What a caller does after one look at the cache.
enum Next {
    Answer(Result<Key, AuthError>),
    /// Fetch; `fresh` says whether the keys held now are still trusted.
    Fetch {
        fresh: bool,
    },
    /// Another caller is fetching: wait for it, then look again.
    Wait(watch::Receiver<u64>),
}

/// Ends a fetch whatever happens to the future doing it (a dropped request
/// included), so the callers waiting on it never wait forever.
struct FetchTurn<'a>(&'a Jwks);

impl Drop for FetchTurn<'_> {
    fn drop(&mut self) {
        self.0.lock().in_flight = false;
        self.0.done.send_modify(|n| *n += 1);
    }
}

impl Jwks {
    pub fn new(url: String, max_age: Duration, min_refetch: Duration) -> Self {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .expect("an HTTP client with a timeout builds");
        Self { url, client, max_age, min_refetch, cache: Mutex::new(Cache::default()), done: watch::Sender::new(0) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.locked()
    }

    /// The key for `kid`, fetching the set when needed.
    pub async fn key(&self, kid: &str) -> Result<Key, AuthError> {
        // At most two looks: one before a fetch (ours or another's), one after.
        for _ in 0..2 {
            match self.next(kid) {
                Next::Answer(a) => return a,
                Next::Wait(mut rx) => {
                    let _ = rx.changed().await;
                }
                Next::Fetch { fresh } => {
                    let turn = FetchTurn(self);
                    let fetched = self.fetch().await;
                    let mut cache = self.lock();
                    match fetched {
                        Ok(set) => {
                            for (kid, why) in &set.refused {
                                if !cache.set.refused.contains_key(kid) {
                                    tracing::warn!(url = %self.url, kid = %kid, reason = %why, "JWKS key refused");
                                }
                            }
                            cache.set = set;
                            cache.fetched_at = Some(Instant::now());
                            cache.last_failure = None;
                        }
                        Err(e) => {
                            tracing::warn!(url = %self.url, error = %e, "JWKS fetch failed");
                            cache.last_failure = Some(Instant::now());
                            if !fresh {
                                drop(cache);
                                drop(turn);
                                return Err(AuthError::KeysUnavailable(e));
                            }
                        }
                    }
                    let answer = lookup(&cache.set, kid);
                    drop(cache);
                    drop(turn);
                    return answer;
                }
            }
        }
        lookup(&self.lock().set, kid)
    }

    /// One look at the cache: answer from it, fetch, or wait for a fetch.
    fn next(&self, kid: &str) -> Next {
        let mut cache = self.lock();
        let fresh = cache.fetched_at.is_some_and(|t| t.elapsed() < self.max_age);
        if fresh {
            if let Some(k) = cache.set.keys.get(kid) {
                return Next::Answer(Ok(k.clone()));
            }
        }
        if cache.in_flight {
            return Next::Wait(self.done.subscribe());
        }
        // Stale keys are refetched unless a fetch just failed; fresh ones only
        // once per interval, so a new key is found at once but forged kids
        // cannot hammer the issuer.
        let failed_recently = cache.last_failure.is_some_and(|t| t.elapsed() < self.min_refetch);
        if !fresh && failed_recently {
            return Next::Answer(Err(AuthError::KeysUnavailable("the last fetch failed moments ago".into())));
        }
        let may_fetch = !fresh || cache.last_kid_refetch.is_none_or(|t| t.elapsed() >= self.min_refetch);
        if !may_fetch {
            return Next::Answer(lookup(&cache.set, kid));
        }
        if fresh {
            cache.last_kid_refetch = Some(Instant::now());
        }
        cache.in_flight = true;
        Next::Fetch { fresh }
    }

    async fn fetch(&self) -> Result<KeySet, String> {
        let mut res = self.client.get(&self.url).send().await.map_err(|e| e.to_string())?;
        if !res.status().is_success() {
            return Err(format!("HTTP {}", res.status()));
        }
        let too_large = || format!("key set larger than {MAX_JWKS_BYTES} bytes");
        if res.content_length().is_some_and(|n| n > MAX_JWKS_BYTES as u64) {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = res.chunk().await.map_err(|e| e.to_string())? {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        let set: JwkSet = serde_json::from_slice(&body).map_err(|e| format!("not a JWK set: {e}"))?;
        Ok(parse_set(&set))
    }
}

fn lookup(set: &KeySet, kid: &str) -> Result<Key, AuthError> {
    if let Some(k) = set.keys.get(kid) {
        return Ok(k.clone());
    }
    let shown: String = kid.chars().take(64).collect();
    Err(match set.refused.get(kid) {
        Some(why) => AuthError::KeyRefused { kid: shown, reason: why.clone() },
        None => AuthError::UnknownKid(shown),
    })
}

/// Usable keys of a set by kid. Keys of other types or without a kid are
/// skipped; RSA keys shorter than [`MIN_RSA_BITS`] are refused by name.
pub fn parse_set(set: &JwkSet) -> KeySet {
    let mut out = KeySet::default();
    for jwk in &set.keys {
        let Some(kid) = jwk.common.key_id.clone() else { continue };
        let algorithm = match &jwk.algorithm {
            AlgorithmParameters::RSA(rsa) => {
                let bits = modulus_bits(&rsa.n);
                if bits < MIN_RSA_BITS {
                    out.refused.insert(kid, format!("RSA key of {bits} bits, fewer than {MIN_RSA_BITS}"));
                    continue;
                }
                Algorithm::RS256
            }
            AlgorithmParameters::EllipticCurve(ec) if ec.curve == jsonwebtoken::jwk::EllipticCurve::P256 => {
                Algorithm::ES256
            }
            _ => continue,
        };
        if let Ok(key) = DecodingKey::from_jwk(jwk) {
            out.keys.insert(kid, Key { algorithm, key });
        }
    }
    out
}

/// The bit length of a base64url big-endian modulus (0 when it does not decode).
fn modulus_bits(n: &str) -> usize {
    let Ok(bytes) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(n.trim_end_matches('=')) else {
        return 0;
    };
    match bytes.iter().position(|&b| b != 0) {
        Some(i) => (bytes.len() - i) * 8 - bytes[i].leading_zeros() as usize,
        None => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::modulus_bits;
    use base64::Engine;

    #[test]
    fn modulus_bits_counts_from_the_first_set_bit() {
        let enc = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        assert_eq!(modulus_bits(&enc(&[0x80; 256])), 2048);
        assert_eq!(modulus_bits(&enc(&[0x00, 0x80, 0x00])), 16);
        assert_eq!(modulus_bits(&enc(&[0x01; 128])), 1017);
        assert_eq!(modulus_bits(&enc(&[0; 4])), 0);
        assert_eq!(modulus_bits("!!"), 0);
    }
}
