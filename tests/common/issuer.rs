//! A token issuer for tests and benchmarks: RSA, EC and a weak RSA key, their
//! key set, and key-set servers on loopback (one that can be delayed or swapped).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use playcast::auth::{AuthError, Identity, Verifier};
use playcast::config::AuthConfig;
use rsa::pkcs8::DecodePrivateKey;
use rsa::traits::PublicKeyParts;
use warp::Filter;

pub const ISSUER: &str = "https://issuer.test";
pub const RSA_KID: &str = "rsa-1";
pub const EC_KID: &str = "ec-1";
pub const WEAK_KID: &str = "rsa-weak";

pub fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

pub struct Issuer {
    pub rsa: EncodingKey,
    /// A 1024-bit RSA key the set also lists, which the service must refuse.
    pub weak: EncodingKey,
    pub rsa_public_pem: String,
    pub ec: EncodingKey,
    pub jwks: serde_json::Value,
}

pub fn issuer() -> Issuer {
    let pem = std::fs::read_to_string(super::repo().join("tests/fixtures/rsa-test-key.pem")).unwrap();
    let private = rsa::RsaPrivateKey::from_pkcs8_pem(&pem).unwrap();
    let public = private.to_public_key();
    let rsa_public_pem = rsa::pkcs8::EncodePublicKey::to_public_key_pem(&public, rsa::pkcs8::LineEnding::LF).unwrap();
    let ec_secret = p256::SecretKey::from_slice(&[7u8; 32]).unwrap();
    let point = p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&ec_secret.public_key(), false);
    let ec_der = p256::pkcs8::EncodePrivateKey::to_pkcs8_der(&ec_secret).unwrap();
    let weak_pem = std::fs::read_to_string(super::repo().join("tests/fixtures/rsa-1024-weak-key.pem")).unwrap();
    let weak_public = rsa::RsaPrivateKey::from_pkcs8_pem(&weak_pem).unwrap().to_public_key();
    assert_eq!(weak_public.n().bits(), 1024);
    Issuer {
        rsa: EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
        weak: EncodingKey::from_rsa_pem(weak_pem.as_bytes()).unwrap(),
        rsa_public_pem,
        ec: EncodingKey::from_ec_der(ec_der.as_bytes()),
        jwks: serde_json::json!({"keys": [
            {"kty": "RSA", "kid": RSA_KID, "alg": "RS256", "use": "sig",
             "n": b64(&public.n().to_bytes_be()), "e": b64(&public.e().to_bytes_be())},
            {"kty": "EC", "kid": EC_KID, "crv": "P-256", "alg": "ES256", "use": "sig",
             "x": b64(point.x().unwrap()), "y": b64(point.y().unwrap())},
            {"kty": "RSA", "kid": WEAK_KID, "alg": "RS256", "use": "sig",
             "n": b64(&weak_public.n().to_bytes_be()), "e": b64(&weak_public.e().to_bytes_be())},
        ]}),
    }
}

pub fn config(url: &str) -> AuthConfig {
    AuthConfig {
        issuers: vec![ISSUER.into()],
        jwks_url: url.into(),
        authorized_parties: vec!["https://play.test".into()],
        role_claim: "metadata.role".into(),
        leeway: std::time::Duration::from_secs(5),
        jwks_cache: std::time::Duration::from_secs(3600),
        jwks_refetch_min: std::time::Duration::from_secs(30),
        insecure_dev_issuer_on_network: false,
        clerk_publishable_key: String::new(),
    }
}

pub fn claims(extra: serde_json::Value) -> serde_json::Value {
    let mut c = serde_json::json!({
        "iss": ISSUER, "sub": "user_alice", "azp": "https://play.test", "sid": "sess_1",
        "iat": now(), "nbf": now() - 1, "exp": now() + 60,
    });
    for (k, v) in extra.as_object().unwrap() {
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v.clone();
        }
    }
    c
}

pub fn sign(alg: Algorithm, kid: &str, key: &EncodingKey, c: &serde_json::Value) -> String {
    let mut h = Header::new(alg);
    h.kid = Some(kid.into());
    jsonwebtoken::encode(&h, c, key).unwrap()
}

/// A key-set server whose answer can be delayed, swapped or made hostile.
pub struct SlowJwks {
    pub url: String,
    pub delay_ms: Arc<AtomicUsize>,
    pub fetches: Arc<AtomicUsize>,
    pub jwks: Arc<std::sync::Mutex<serde_json::Value>>,
}

pub async fn slow_jwks_server(jwks: serde_json::Value) -> SlowJwks {
    let delay_ms = Arc::new(AtomicUsize::new(0));
    let fetches = Arc::new(AtomicUsize::new(0));
    let jwks = Arc::new(std::sync::Mutex::new(jwks));
    let (d, f, j) = (delay_ms.clone(), fetches.clone(), jwks.clone());
    let route = warp::path!(".well-known" / "jwks.json").and_then(move || {
        let (d, f, j) = (d.clone(), f.clone(), j.clone());
        async move {
            f.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(d.load(Ordering::SeqCst) as u64)).await;
            let body = j.lock().unwrap().clone();
            Ok::<_, warp::Rejection>(warp::reply::json(&body))
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/.well-known/jwks.json", listener.local_addr().unwrap());
    tokio::spawn(warp::serve(route).incoming(listener).run());
    SlowJwks { url, delay_ms, fetches, jwks }
}

impl SlowJwks {
    /// Makes the key set hang past the client's timeout and starts verifying
    /// a token whose `kid` it does not list; returns once that refetch waits.
    pub async fn hanging_refetch(
        &self,
        v: &Arc<Verifier>,
        iss: &Issuer,
        kid: &str,
    ) -> tokio::task::JoinHandle<Result<Identity, AuthError>> {
        self.delay_ms.store(30_000, Ordering::SeqCst);
        let stranger = sign(Algorithm::RS256, kid, &iss.rsa, &claims(serde_json::json!({})));
        let refetch = {
            let v = v.clone();
            tokio::spawn(async move { v.verify(&stranger).await })
        };
        while self.fetches.load(Ordering::SeqCst) < 2 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        refetch
    }
}

/// Fresh known-key tokens verified one after another (each never seen, so
/// fully checked): the latencies, sorted.
pub async fn fresh_verifications(v: &Verifier, iss: &Issuer, n: usize, tag: &str) -> Vec<Duration> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let t = sign(Algorithm::ES256, EC_KID, &iss.ec, &claims(serde_json::json!({"sid": format!("{tag}{i}")})));
        let started = std::time::Instant::now();
        v.verify(&t).await.expect("a known key verifies");
        out.push(started.elapsed());
    }
    out.sort();
    out
}
