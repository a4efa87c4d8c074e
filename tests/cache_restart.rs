//! The Redis cache across a server restart, on a private `redis-server` (a
//! free loopback port, no persistence) that the test kills with SIGKILL and
//! starts again on the same port. While it is down every operation fails
//! promptly with `Unavailable`; once it is back each subscription reports
//! `Reconnected` and carries new messages, and commands work again.
//!
//! Needs `redis-server` on the PATH (scripts/setup.sh test installs it).

mod common;

use std::time::{Duration, Instant};

use common::redis::PrivateRedis;
use playcast::store::cache::{Cache, CacheError, Received, Subscription};

/// Bound on one operation against a dead server: the cache's own (a 2 s
/// command timeout plus 0.5 s grace) and slack for a busy machine.
const FAIL_WITHIN: Duration = Duration::from_secs(5);
/// Bound on the health check against a dead server (its own is 0.5 s + 0.5 s).
const UNHEALTHY_WITHIN: Duration = Duration::from_secs(2);
/// Bound on getting back after the restart (reconnect delays are capped at 2 s).
const RECOVER_WITHIN: Duration = Duration::from_secs(20);
const QUIET: Duration = Duration::from_millis(500);

async fn next(sub: &mut Subscription, within: Duration) -> Received {
    match tokio::time::timeout(within, sub.recv()).await {
        Ok(Some(received)) => received,
        Ok(None) => panic!("{sub:?} ended: its cache is gone"),
        Err(_) => panic!("nothing arrived on {sub:?} within {within:?}"),
    }
}

async fn assert_quiet(sub: &mut Subscription) {
    if let Ok(received) = tokio::time::timeout(QUIET, sub.recv()).await {
        panic!("{sub:?} should have received nothing, got {received:?}");
    }
}

/// Runs `op` against the dead server: it must fail with `Unavailable` within
/// [`FAIL_WITHIN`].
async fn fails_promptly<T>(what: &str, op: impl std::future::Future<Output = Result<T, CacheError>>) {
    let start = Instant::now();
    let result = op.await;
    let took = start.elapsed();
    match result {
        Err(CacheError::Unavailable(_)) => {}
        Err(other) => panic!("{what} while Redis is down: expected Unavailable, got {other:?}"),
        Ok(_) => panic!("{what} succeeded while Redis is down"),
    }
    assert!(took < FAIL_WITHIN, "{what} took {took:?} to fail while Redis is down");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn survives_a_server_restart() {
    let mut server = PrivateRedis::start();
    let cache = match Cache::redis(&server.url(), "restart").await {
        Ok(cache) => cache,
        Err(e) => panic!("connecting to the private Redis at {}: {e}", server.url()),
    };
    let mut events = cache.subscribe("events").await.unwrap();
    let mut other = cache.subscribe("other").await.unwrap();
    cache.publish("events", "before").await.unwrap();
    assert_eq!(next(&mut events, FAIL_WITHIN).await, Received::Message("before".into()));
    cache.put("old", "v", None).await.unwrap();
    assert!(cache.is_healthy().await);

    server.kill();

    // Every operation fails, and promptly (all at once, so the test does not
    // wait out one timeout after another).
    let start = Instant::now();
    let healthy = cache.is_healthy().await;
    assert!(!healthy && start.elapsed() < UNHEALTHY_WITHIN, "healthy: {healthy} after {:?}", start.elapsed());
    tokio::join!(
        fails_promptly("put", cache.put("ghost", "written while down", None)),
        fails_promptly("get", cache.get("old")),
        fails_promptly("delete", cache.delete("old")),
        fails_promptly("keys", cache.keys("")),
        fails_promptly("heartbeat", cache.heartbeat("beat", "v", Duration::from_secs(60))),
        fails_promptly("publish", cache.publish("events", "lost")),
        fails_promptly("subscribe", cache.subscribe("late")),
    );
    assert_quiet(&mut events).await;

    server.spawn();

    // Each subscription hears about the gap once the subscription is live again.
    assert_eq!(next(&mut events, RECOVER_WITHIN).await, Received::Reconnected);
    assert_eq!(next(&mut other, RECOVER_WITHIN).await, Received::Reconnected);
    // Published as soon as the notice is in (retried while the command
    // connection is still coming back, each try with its own text): it must
    // arrive, since the notice promises the subscription is live again, and a
    // try that failed must not arrive as well.
    let start = Instant::now();
    let mut attempt = 0;
    while let Err(e) = cache.publish("events", &format!("after the notice {attempt}")).await {
        assert!(start.elapsed() < RECOVER_WITHIN, "publish still fails {:?} after the restart: {e}", start.elapsed());
        attempt += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(next(&mut events, FAIL_WITHIN).await, Received::Message(format!("after the notice {attempt}")));
    cache.put("after", "v", None).await.unwrap();
    assert_eq!(cache.get("after").await.unwrap().as_deref(), Some("v"));
    // The restarted server is empty (the cache is not the source of truth),
    // and the write that failed while it was down did not land afterwards.
    assert_eq!(cache.get("old").await.unwrap(), None);
    assert_eq!(cache.get("ghost").await.unwrap(), None);
    assert_eq!(cache.keys("").await.unwrap(), ["after"]);
    assert!(cache.is_healthy().await);

    for i in 0..100 {
        cache.publish("events", &format!("after {i}")).await.unwrap();
    }
    cache.publish("other", "after").await.unwrap();
    for i in 0..100 {
        assert_eq!(next(&mut events, FAIL_WITHIN).await, Received::Message(format!("after {i}")));
    }
    assert_eq!(next(&mut other, FAIL_WITHIN).await, Received::Message("after".into()));
    assert_quiet(&mut events).await;

    // A subscription made after the restart works as well.
    let mut late = cache.subscribe("late").await.unwrap();
    cache.publish("late", "hello").await.unwrap();
    assert_eq!(next(&mut late, FAIL_WITHIN).await, Received::Message("hello".into()));
}
