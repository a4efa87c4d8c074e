//! Bearer tokens against a real JWKS served on loopback: every malformed,
//! forged, expired or misdirected token is a 401 problem, never a 500; an
//! unreachable issuer is a 503, and keys fetched earlier keep serving.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::issuer::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use playcast::auth::{AuthError, Role, Verifier};
use playcast::config::AuthConfig;
use warp::Filter;

/// A key-set server on loopback that can be taken down and counts fetches.
struct JwksServer {
    url: String,
    up: Arc<AtomicBool>,
    fetches: Arc<AtomicUsize>,
}

async fn jwks_server(jwks: serde_json::Value) -> JwksServer {
    let up = Arc::new(AtomicBool::new(true));
    let fetches = Arc::new(AtomicUsize::new(0));
    let (u, f) = (up.clone(), fetches.clone());
    let route = warp::path!(".well-known" / "jwks.json").map(move || {
        f.fetch_add(1, Ordering::SeqCst);
        if u.load(Ordering::SeqCst) {
            warp::reply::with_status(warp::reply::json(&jwks), warp::http::StatusCode::OK)
        } else {
            warp::reply::with_status(warp::reply::json(&"down"), warp::http::StatusCode::SERVICE_UNAVAILABLE)
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/.well-known/jwks.json", listener.local_addr().unwrap());
    tokio::spawn(warp::serve(route).incoming(listener).run());
    JwksServer { url, up, fetches }
}

async fn setup() -> (Issuer, JwksServer, Verifier) {
    let iss = issuer();
    let server = jwks_server(iss.jwks.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let v = Verifier::new(&config(&server.url), dir.path()).unwrap();
    (iss, server, v)
}

#[tokio::test]
async fn valid_rs256_and_es256_tokens_pass_with_roles() {
    let (iss, _server, v) = setup().await;
    let id = v.verify(&sign(Algorithm::RS256, RSA_KID, &iss.rsa, &claims(serde_json::json!({})))).await.unwrap();
    assert_eq!((id.user_id.as_str(), id.role, id.session.as_deref()), ("user_alice", Role::Player, Some("sess_1")));
    let admin = claims(serde_json::json!({"metadata": {"role": "admin"}}));
    let id = v.verify(&sign(Algorithm::ES256, EC_KID, &iss.ec, &admin)).await.unwrap();
    assert_eq!(id.role, Role::Admin);
    // A configurable claim path.
    let mut cfg = config(&_server.url);
    cfg.role_claim = "public_metadata.playcast.role".into();
    let v2 = Verifier::new(&cfg, tempfile::tempdir().unwrap().path()).unwrap();
    let viewer = claims(serde_json::json!({"public_metadata": {"playcast": {"role": "viewer"}}}));
    assert_eq!(v2.verify(&sign(Algorithm::ES256, EC_KID, &iss.ec, &viewer)).await.unwrap().role, Role::Viewer);
    // Within the leeway an expired token still passes.
    let late = claims(serde_json::json!({"exp": now() - 2}));
    assert!(v.verify(&sign(Algorithm::RS256, RSA_KID, &iss.rsa, &late)).await.is_ok());
}

#[tokio::test]
async fn bad_tokens_are_refused_precisely() {
    let (iss, _server, v) = setup().await;
    let ok = claims(serde_json::json!({}));
    let hs_confusion = {
        let mut h = Header::new(Algorithm::HS256);
        h.kid = Some(RSA_KID.into());
        jsonwebtoken::encode(&h, &ok, &EncodingKey::from_secret(iss.rsa_public_pem.as_bytes())).unwrap()
    };
    let none = format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"JWT","kid":"rsa-1"}"#),
        b64(serde_json::to_string(&ok).unwrap().as_bytes())
    );
    // Change one character inside the signature (not the last, whose spare
    // bits must stay zero for the base64 to decode): valid base64, wrong signature.
    let bad_sig = {
        let t = sign(Algorithm::RS256, RSA_KID, &iss.rsa, &ok);
        let at = t.rfind('.').unwrap() + 20;
        let c = if &t[at..at + 1] == "A" { "B" } else { "A" };
        format!("{}{c}{}", &t[..at], &t[at + 1..])
    };
    type Case = (&'static str, String, fn(&AuthError) -> bool);
    let cases: Vec<Case> = vec![
        ("alg none", none, |e| matches!(e, AuthError::Malformed(_) | AuthError::Algorithm(_))),
        ("HS256 with the RSA public key", hs_confusion, |e| matches!(e, AuthError::Algorithm(_))),
        (
            "wrong issuer",
            sign(Algorithm::RS256, RSA_KID, &iss.rsa, &claims(serde_json::json!({"iss": "https://evil.test"}))),
            |e| *e == AuthError::Issuer,
        ),
        (
            "wrong azp",
            sign(Algorithm::RS256, RSA_KID, &iss.rsa, &claims(serde_json::json!({"azp": "https://evil.test"}))),
            |e| *e == AuthError::AuthorizedParty,
        ),
        ("no azp", sign(Algorithm::RS256, RSA_KID, &iss.rsa, &claims(serde_json::json!({"azp": null}))), |e| {
            *e == AuthError::AuthorizedParty
        }),
        ("expired", sign(Algorithm::RS256, RSA_KID, &iss.rsa, &claims(serde_json::json!({"exp": now() - 60}))), |e| {
            *e == AuthError::Expired
        }),
        (
            "nbf in the future",
            sign(Algorithm::RS256, RSA_KID, &iss.rsa, &claims(serde_json::json!({"nbf": now() + 600}))),
            |e| *e == AuthError::NotYetValid,
        ),
        ("bad signature", bad_sig, |e| *e == AuthError::Signature),
        ("key of the other algorithm", sign(Algorithm::ES256, RSA_KID, &iss.ec, &ok), |e| {
            matches!(e, AuthError::Algorithm(_))
        }),
        ("unknown kid", sign(Algorithm::RS256, "rsa-9", &iss.rsa, &ok), |e| matches!(e, AuthError::UnknownKid(_))),
        ("not a JWT", "hello".into(), |e| matches!(e, AuthError::Malformed(_))),
        ("garbage parts", "a.b.c".into(), |e| matches!(e, AuthError::Malformed(_))),
        ("100 KB", "a".repeat(100 * 1024), |e| matches!(e, AuthError::TooLarge(_))),
        ("empty", String::new(), |e| *e == AuthError::Missing),
        ("no sub", sign(Algorithm::RS256, RSA_KID, &iss.rsa, &claims(serde_json::json!({"sub": null}))), |e| {
            matches!(e, AuthError::Claims(_))
        }),
        (
            "unknown role",
            sign(Algorithm::RS256, RSA_KID, &iss.rsa, &claims(serde_json::json!({"metadata": {"role": "root"}}))),
            |e| matches!(e, AuthError::Claims(_)),
        ),
    ];
    for (name, token, expected) in cases {
        let e = v.verify(&token).await.expect_err(name);
        assert!(expected(&e), "{name}: got {e:?}");
        assert!(!e.is_unavailable(), "{name} is the token's fault, not ours");
    }
}

#[tokio::test]
async fn unknown_kids_refetch_at_most_once_per_interval() {
    let (iss, server, v) = setup().await;
    v.verify(&sign(Algorithm::RS256, RSA_KID, &iss.rsa, &claims(serde_json::json!({})))).await.unwrap();
    assert_eq!(server.fetches.load(Ordering::SeqCst), 1);
    for i in 0..20 {
        let t = sign(Algorithm::RS256, &format!("forged-{i}"), &iss.rsa, &claims(serde_json::json!({})));
        assert!(matches!(v.verify(&t).await, Err(AuthError::UnknownKid(_))));
    }
    assert_eq!(server.fetches.load(Ordering::SeqCst), 2, "one refetch for a flood of unknown kids");
}

#[tokio::test]
async fn issuer_down_is_503_and_cached_keys_keep_serving() {
    let iss = issuer();
    let server = jwks_server(iss.jwks.clone()).await;
    // Never fetched, issuer down: our fault, 503.
    server.up.store(false, Ordering::SeqCst);
    let v = Verifier::new(&config(&server.url), tempfile::tempdir().unwrap().path()).unwrap();
    let token = sign(Algorithm::RS256, RSA_KID, &iss.rsa, &claims(serde_json::json!({})));
    let e = v.verify(&token).await.unwrap_err();
    assert!(e.is_unavailable(), "{e:?}");
    // Further requests fail fast instead of each waiting on the issuer.
    for _ in 0..5 {
        assert!(v.verify(&token).await.unwrap_err().is_unavailable());
    }
    assert_eq!(server.fetches.load(Ordering::SeqCst), 1, "one fetch while the issuer is down");
    // Up, fetched; then down again: the cached keys still verify.
    server.up.store(true, Ordering::SeqCst);
    let mut cfg = config(&server.url);
    cfg.jwks_refetch_min = std::time::Duration::from_secs(0);
    let v = Verifier::new(&cfg, tempfile::tempdir().unwrap().path()).unwrap();
    v.verify(&token).await.unwrap();
    server.up.store(false, Ordering::SeqCst);
    v.verify(&token).await.expect("cached key serves while the issuer is down");
    let stranger = sign(Algorithm::RS256, "rsa-9", &iss.rsa, &claims(serde_json::json!({})));
    assert!(matches!(v.verify(&stranger).await, Err(AuthError::UnknownKid(_))));
    // A closed port entirely.
    let v = Verifier::new(&config("http://127.0.0.1:9/jwks.json"), tempfile::tempdir().unwrap().path()).unwrap();
    assert!(v.verify(&token).await.unwrap_err().is_unavailable());
}

#[tokio::test]
async fn http_answers_401_and_503_as_problems() {
    let iss = issuer();
    let server = jwks_server(iss.jwks.clone()).await;
    let svc = common::serve_in_process(|c| c.auth = config(&server.url)).await;
    let client = reqwest::Client::new();
    let me = format!("{}/api/v1/me", svc.base);
    let get = |auth: Option<String>| {
        let mut r = client.get(&me);
        if let Some(a) = auth {
            r = r.header("authorization", a);
        }
        r.send()
    };
    let good = sign(Algorithm::ES256, EC_KID, &iss.ec, &claims(serde_json::json!({"metadata": {"role": "admin"}})));
    let res = get(Some(format!("Bearer {good}"))).await.unwrap();
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!((body["user_id"].as_str(), body["role"].as_str()), (Some("user_alice"), Some("admin")));

    let expired = sign(Algorithm::RS256, RSA_KID, &iss.rsa, &claims(serde_json::json!({"exp": now() - 600})));
    for auth in [
        None,
        Some("Basic dXNlcjpwYXNz".to_string()),
        Some(format!("Bearer {expired}")),
        Some(format!("Bearer {}", "x".repeat(100 * 1024))),
        Some("Bearer not.a.jwt".into()),
    ] {
        let res = get(auth.clone()).await.unwrap();
        assert_eq!(res.status(), 401, "{auth:?}");
        assert_eq!(res.headers()["content-type"], "application/problem+json");
        let p: serde_json::Value = res.json().await.unwrap();
        assert_eq!(p["status"], 401);
        assert!(p["detail"].as_str().is_some_and(|d| !d.is_empty()), "{p}");
    }
    server.up.store(false, Ordering::SeqCst);
    let svc2 = common::serve_in_process(|c| c.auth = config(&server.url)).await;
    let res = client.get(format!("{}/api/v1/me", svc2.base)).bearer_auth(&good).send().await.unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    assert_eq!(res.headers()["retry-after"], "5");
}

#[tokio::test]
async fn dev_issuer_mints_verifiable_tokens_and_is_off_with_a_real_issuer() {
    let dir = tempfile::tempdir().unwrap();
    let dev = AuthConfig { issuers: vec![], jwks_url: String::new(), authorized_parties: vec![], ..config("") };
    let v = Verifier::new(&dev, dir.path()).unwrap();
    let issuer = v.dev_issuer().expect("dev issuer on the embedded defaults");
    let token = issuer.mint("bob", Role::Viewer, Duration::from_secs(60)).unwrap();
    let id = v.verify(&token).await.unwrap();
    assert_eq!((id.user_id.as_str(), id.role, id.issuer.as_str()), ("bob", Role::Viewer, "playcast-dev"));
    // The key survives a restart: a second verifier from the same folder accepts the token.
    let again = Verifier::new(&dev, dir.path()).unwrap();
    assert_eq!(again.verify(&token).await.unwrap().user_id, "bob");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(dir.path().join(playcast::auth::dev::KEY_FILE)).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600, "the signing key is private");
    // With a real issuer configured the dev issuer is gone, and its tokens are refused.
    let server = jwks_server(issuer.jwks()).await;
    let real = Verifier::new(&config(&server.url), dir.path()).unwrap();
    assert!(real.dev_issuer().is_none());
    assert_eq!(real.verify(&token).await.unwrap_err(), AuthError::Issuer);
}

#[test]
fn concurrent_first_runs_agree_on_one_dev_key() {
    let dir = tempfile::tempdir().unwrap();
    let kids: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| s.spawn(|| playcast::auth::dev::DevIssuer::load_or_create(dir.path()).unwrap().kid))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(kids.windows(2).all(|w| w[0] == w[1]), "{kids:?}");
    let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(leftovers, 1, "only the key file remains");
}

#[tokio::test]
async fn a_cached_token_still_expires() {
    let (iss, _server, _) = setup().await;
    let mut cfg = config(&_server.url);
    cfg.leeway = std::time::Duration::from_secs(0);
    let v = Verifier::new(&cfg, tempfile::tempdir().unwrap().path()).unwrap();
    let token = sign(Algorithm::RS256, RSA_KID, &iss.rsa, &claims(serde_json::json!({"exp": now() + 1})));
    v.verify(&token).await.unwrap();
    v.verify(&token).await.expect("served from the cache");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(v.verify(&token).await.unwrap_err(), AuthError::Expired);
}

#[tokio::test]
async fn login_upserts_the_user_and_me_shows_the_profile() {
    let iss = issuer();
    let server = jwks_server(iss.jwks.clone()).await;
    let svc = common::serve_in_process(|c| c.auth = config(&server.url)).await;
    let client = reqwest::Client::new();
    let token = sign(Algorithm::ES256, EC_KID, &iss.ec, &claims(serde_json::json!({"metadata": {"role": "viewer"}})));
    let me: serde_json::Value =
        client.get(format!("{}/api/v1/me", svc.base)).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    assert!(me["profile"].is_null(), "no profile before the first login: {me}");
    let res = client.post(format!("{}/api/v1/login", svc.base)).bearer_auth(&token).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let login: serde_json::Value = res.json().await.unwrap();
    assert_eq!((login["user_id"].as_str(), login["role"].as_str()), (Some("user_alice"), Some("viewer")));
    let me: serde_json::Value =
        client.get(format!("{}/api/v1/me", svc.base)).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    assert_eq!(me["profile"]["created_at"], login["profile"]["created_at"], "{me}");
    let stored = svc.state.store.user(&"user_alice".into()).await.unwrap().expect("user stored");
    assert_eq!(stored.role, "viewer");
    // Without a valid token there is no login.
    let res = client.post(format!("{}/api/v1/login", svc.base)).send().await.unwrap();
    assert_eq!(res.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_admins_reload_pipelines() {
    let svc = common::serve_in_process(|_| {}).await;
    let dev = svc.state.verifier.dev_issuer().expect("dev issuer on the defaults");
    let client = reqwest::Client::new();
    let url = format!("{}/api/v1/pipelines/reload", svc.base);
    let admin = dev.mint("root_user", Role::Admin, Duration::from_secs(60)).unwrap();
    let res = client.post(&url).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let list: serde_json::Value = res.json().await.unwrap();
    assert!(list.as_array().unwrap().iter().any(|p| p["name"] == "test-pattern"), "{list}");
    for role in [Role::Player, Role::Viewer] {
        let token = dev.mint("someone", role, Duration::from_secs(60)).unwrap();
        let res = client.post(&url).bearer_auth(&token).send().await.unwrap();
        assert_eq!(res.status(), 403, "{role}");
        assert_eq!(res.headers()["content-type"], "application/problem+json");
    }
    assert_eq!(client.post(&url).send().await.unwrap().status(), 401);
}

/// A token signed over the header and payload exactly as written (to make
/// what an encoder never would: repeated members, odd types).
fn sign_raw(alg: Algorithm, key: &EncodingKey, header: &str, payload: &str) -> String {
    let message = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), key, alg).unwrap();
    format!("{message}.{signature}")
}

#[tokio::test]
async fn stricter_tokens_are_refused_with_the_reason() {
    let (iss, _server, v) = setup().await;
    let rs = |header: &str, payload: &str| sign_raw(Algorithm::RS256, &iss.rsa, header, payload);
    let head = format!(r#"{{"alg":"RS256","typ":"JWT","kid":"{RSA_KID}"}}"#);
    // The valid claims as text, with `extra` spliced in before the closing brace.
    let body = |extra: &str| {
        let mut c = serde_json::to_string(&claims(serde_json::json!({}))).unwrap();
        c.pop();
        format!("{c}{extra}}}")
    };
    let with = |c: serde_json::Value| sign(Algorithm::RS256, RSA_KID, &iss.rsa, &claims(c));
    // Sanity: the raw signer makes tokens that pass.
    v.verify(&rs(&head, &body(""))).await.expect("a raw-signed valid token passes");

    type Case = (&'static str, String, &'static str);
    let cases: Vec<Case> = vec![
        (
            "crit naming an extension",
            rs(&format!(r#"{{"alg":"RS256","kid":"{RSA_KID}","crit":["exp"],"exp":1}}"#), &body("")),
            "the `crit` header names extensions this service does not implement: [\"exp\"]",
        ),
        (
            "crit empty",
            rs(&format!(r#"{{"alg":"RS256","kid":"{RSA_KID}","crit":[]}}"#), &body("")),
            "the `crit` header names extensions this service does not implement: []",
        ),
        (
            "repeated header member",
            rs(&format!(r#"{{"alg":"RS256","kid":"{RSA_KID}","kid":"{EC_KID}"}}"#), &body("")),
            "the token's header repeats the member `kid`",
        ),
        (
            "repeated claim",
            rs(&head, &body(r#","sub":"user_mallory""#)),
            "the token's payload repeats the member `sub`",
        ),
        (
            "repeated role inside metadata",
            rs(&head, &body(r#","metadata":{"role":"player","role":"admin"}"#)),
            "the token's payload repeats the member `role`",
        ),
        ("weak RSA key", sign(Algorithm::RS256, WEAK_KID, &iss.weak, &claims(serde_json::json!({}))), "1024 bits"),
        ("iat in the future", with(serde_json::json!({"iat": now() + 600})), "issued in the future"),
        ("iss as an array", with(serde_json::json!({"iss": [ISSUER]})), "`iss` must be a string"),
        ("sub as a number", with(serde_json::json!({"sub": 42})), "`sub` must be a string"),
        ("azp as an array", with(serde_json::json!({"azp": ["https://play.test"]})), "`azp` must be a string"),
        ("exp as a string", with(serde_json::json!({"exp": (now() + 60).to_string()})), "`exp` must be a whole number"),
        ("exp as a float", with(serde_json::json!({"exp": now() as f64 + 60.5})), "`exp` must be a whole number"),
        ("nbf as a string", with(serde_json::json!({"nbf": "0"})), "`nbf` must be a whole number"),
        ("iat as a bool", with(serde_json::json!({"iat": true})), "`iat` must be a whole number"),
        ("negative exp", with(serde_json::json!({"exp": -1})), "`exp` must be a whole number"),
        ("payload not an object", rs(&head, "[1,2]"), "the payload is not a JSON object"),
        ("payload not JSON", rs(&head, "{\"sub\":"), "the payload is not JSON"),
    ];
    for (name, token, reason) in cases {
        let e = v.verify(&token).await.expect_err(name);
        assert!(e.to_string().contains(reason), "{name}: got `{e}`, wanted `{reason}`");
        assert!(!e.is_unavailable(), "{name} is the token's fault");
    }
    // Within the leeway, a clock a little ahead at the issuer is fine.
    v.verify(&with(serde_json::json!({"iat": now() + 3}))).await.expect("iat within the leeway");
}

#[tokio::test]
async fn stricter_tokens_are_401_problems_over_http() {
    let iss = issuer();
    let server = jwks_server(iss.jwks.clone()).await;
    let svc = common::serve_in_process(|c| c.auth = config(&server.url)).await;
    let head = format!(r#"{{"alg":"RS256","typ":"JWT","kid":"{RSA_KID}"}}"#);
    let mut admin = serde_json::to_string(&claims(serde_json::json!({"metadata": {"role": "player"}}))).unwrap();
    admin.pop();
    admin.push_str(r#","metadata":{"role":"admin"}}"#);
    let token = sign_raw(Algorithm::RS256, &iss.rsa, &head, &admin);
    let res = reqwest::Client::new().get(format!("{}/api/v1/me", svc.base)).bearer_auth(token).send().await.unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let p: serde_json::Value = res.json().await.unwrap();
    assert!(p["detail"].as_str().unwrap().contains("repeats the member `metadata`"), "{p}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_refetch_does_not_stall_known_keys() {
    let iss = issuer();
    let server = slow_jwks_server(iss.jwks.clone()).await;
    let v = Arc::new(Verifier::new(&config(&server.url), tempfile::tempdir().unwrap().path()).unwrap());
    v.verify(&sign(Algorithm::ES256, EC_KID, &iss.ec, &claims(serde_json::json!({})))).await.unwrap();
    // The issuer now hangs past the client's timeout; an unknown kid refetches.
    let refetch = server.hanging_refetch(&v, &iss, "rsa-new").await;
    // Fresh tokens (never seen, so fully verified) with known keys go on.
    let slowest = *fresh_verifications(&v, &iss, 40, "s").await.last().unwrap();
    assert!(!refetch.is_finished(), "the refetch was still waiting while known keys verified");
    assert!(slowest < Duration::from_millis(250), "a known-key verification took {slowest:?} during a refetch");
    let e = refetch.await.unwrap().expect_err("the refetch times out");
    assert!(matches!(e, AuthError::UnknownKid(_)), "{e:?}");
}

#[tokio::test]
async fn concurrent_unknown_kids_share_one_fetch() {
    let iss = issuer();
    let server = slow_jwks_server(iss.jwks.clone()).await;
    let v = Arc::new(Verifier::new(&config(&server.url), tempfile::tempdir().unwrap().path()).unwrap());
    v.verify(&sign(Algorithm::ES256, EC_KID, &iss.ec, &claims(serde_json::json!({})))).await.unwrap();
    // The issuer rotates in a new kid (same key material) and answers slowly.
    {
        let mut set = server.jwks.lock().unwrap();
        let mut rotated = set["keys"][0].clone();
        rotated["kid"] = "rsa-2".into();
        set["keys"].as_array_mut().unwrap().push(rotated);
    }
    server.delay_ms.store(300, Ordering::SeqCst);
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let v = v.clone();
            let t = sign(Algorithm::RS256, "rsa-2", &iss.rsa, &claims(serde_json::json!({"sid": format!("s{i}")})));
            tokio::spawn(async move { v.verify(&t).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().expect("every caller gets the rotated key from the one fetch");
    }
    assert_eq!(server.fetches.load(Ordering::SeqCst), 2, "the first fetch and one shared refetch");
}

/// Serves one endless chunked answer, counting the bytes it got out.
async fn endless_jwks_server() -> (String, Arc<AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = sent.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut request = [0u8; 4096];
                let _ = sock.read(&mut request).await;
                let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
                if sock.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = format!("{:x}\r\n{}\r\n", 64 * 1024, " ".repeat(64 * 1024));
                // Ends when the client hangs up (or after 1 GiB, so it always stops).
                for _ in 0..16 * 1024 {
                    if sock.write_all(chunk.as_bytes()).await.is_err() {
                        return;
                    }
                    counter.fetch_add(64 * 1024, Ordering::SeqCst);
                }
            });
        }
    });
    (url, sent)
}

#[tokio::test]
async fn an_endless_key_set_is_cut_at_the_cap() {
    let (url, sent) = endless_jwks_server().await;
    let v = Verifier::new(&config(&url), tempfile::tempdir().unwrap().path()).unwrap();
    let iss = issuer();
    let started = std::time::Instant::now();
    let e = v.verify(&sign(Algorithm::RS256, RSA_KID, &iss.rsa, &claims(serde_json::json!({})))).await.unwrap_err();
    assert!(e.is_unavailable(), "{e:?}");
    assert!(e.to_string().contains("larger than 262144 bytes"), "{e}");
    // Cut at the cap, not at the client's 5 s timeout.
    assert!(started.elapsed() < Duration::from_secs(4), "took {:?}", started.elapsed());
    // What the server got out is the cap plus what the sockets buffer, far below the endless body.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let out = sent.load(Ordering::SeqCst);
    assert!(out < 64 * 1024 * 1024, "the server wrote {out} bytes before the client hung up");
}
