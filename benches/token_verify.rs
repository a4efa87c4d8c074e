//! Token verification cost per request with the keys already cached, against
//! the bare library call (signature and claims checked with a key in hand) as
//! the baseline in the same run.
//!
//! `cargo bench --bench token_verify`

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use jsonwebtoken::{Algorithm, Validation};
use playcast::auth::{Role, Verifier};
use playcast::config::AuthConfig;

fn dev_config() -> AuthConfig {
    AuthConfig {
        issuers: vec![],
        jwks_url: String::new(),
        authorized_parties: vec![],
        role_claim: "metadata.role".into(),
        leeway_secs: 5,
        jwks_cache_secs: 3600,
        jwks_refetch_min_secs: 30,
        insecure_dev_issuer_on_network: false,
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let verifier = Verifier::new(&dev_config(), dir.path()).unwrap();
    let issuer = verifier.dev_issuer().unwrap();
    let token = issuer.mint("user_bench", Role::Player, Duration::from_secs(3600)).unwrap();
    rt.block_on(verifier.verify(&token)).unwrap();

    let mut group = c.benchmark_group("token verification (ES256)");
    group.bench_function("baseline: jsonwebtoken::decode with the key", |b| {
        let mut v = Validation::new(Algorithm::ES256);
        v.set_issuer(&["playcast-dev"]);
        b.iter(|| jsonwebtoken::decode::<serde_json::Value>(&token, &issuer.decoding, &v).unwrap())
    });
    group.bench_function("playcast: first sight of a token (full check)", |b| {
        b.to_async(&rt).iter(|| async { verifier.verify_uncached(&token).await.unwrap() })
    });
    group.bench_function("playcast: a token seen before (every later request)", |b| {
        b.to_async(&rt).iter(|| async { verifier.verify(&token).await.unwrap() })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
