//! Token verification cost per request with the keys already cached, against
//! the bare library call (signature and claims checked with a key in hand) as
//! the baseline in the same run; then the cost of a known-key verification
//! while a refetch for an unknown key hangs on a slow issuer, against the same
//! verifications with no refetch in flight.
//!
//! `cargo bench --bench token_verify`

use std::time::Duration;

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;

use common::issuer::{config, fresh_verifications, issuer, slow_jwks_server};
use criterion::{criterion_group, Criterion};
use jsonwebtoken::{Algorithm, Validation};
use playcast::auth::{Role, Verifier};
use playcast::config::AuthConfig;

fn dev_config() -> AuthConfig {
    AuthConfig {
        issuers: vec![],
        jwks_url: String::new(),
        authorized_parties: vec![],
        role_claim: "metadata.role".into(),
        leeway: std::time::Duration::from_secs(5),
        jwks_cache: std::time::Duration::from_secs(3600),
        jwks_refetch_min: std::time::Duration::from_secs(30),
        insecure_dev_issuer_on_network: false,
        clerk_publishable_key: String::new(),
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

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1e6
}

/// The slow-issuer case: the same verifier and tokens, first with the key set
/// answering at once (baseline), then while an unknown `kid` waits on a key
/// set that takes 30 s to answer (the client gives up after its timeout).
fn slow_issuer() {
    const N: usize = 2000;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let iss = issuer();
        let server = slow_jwks_server(iss.jwks.clone()).await;
        let dir = tempfile::tempdir().unwrap();
        let v = Arc::new(Verifier::new(&config(&server.url), dir.path()).unwrap());
        fresh_verifications(&v, &iss, 50, "warm").await;
        let idle = fresh_verifications(&v, &iss, N, "idle").await;

        let refetch = server.hanging_refetch(&v, &iss, "rsa-unknown").await;
        let during = fresh_verifications(&v, &iss, N, "during").await;
        assert!(
            !refetch.is_finished(),
            "the refetch ended before the measurement did; the figure would not be under a hanging refetch"
        );
        refetch.abort();

        println!("\nknown-key verification (ES256, fresh tokens, {N} each), microseconds");
        println!("| case | p50 | p95 | p99 | max |");
        println!("| --- | ---: | ---: | ---: | ---: |");
        for (name, r) in [("key set answering (baseline)", &idle), ("while a refetch hangs on a 30 s issuer", &during)]
        {
            println!(
                "| {name} | {:.0} | {:.0} | {:.0} | {:.0} |",
                pct(r, 0.5),
                pct(r, 0.95),
                pct(r, 0.99),
                pct(r, 1.0)
            );
        }
        println!(
            "| ratio | {:.2}x | {:.2}x | {:.2}x | |",
            pct(&during, 0.5) / pct(&idle, 0.5),
            pct(&during, 0.95) / pct(&idle, 0.95),
            pct(&during, 0.99) / pct(&idle, 0.99)
        );
    });
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    slow_issuer();
}
