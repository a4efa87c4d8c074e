//! The cache on both backends: in-process and the real Redis (127.0.0.1:6379,
//! or `PLAYCAST_TEST_REDIS_URL`). Each behaviour is one function taking a
//! [`Cache`]; `on_both_backends!` turns it into `<behaviour>::memory` and
//! `<behaviour>::redis` tests. Every Redis cache lives under a prefix of its
//! own, so tests sharing the server never see each other's keys or channels.
//! A Redis that cannot be reached fails the Redis tests; nothing is skipped.
//!
//! Restarting the server is covered by `tests/cache_restart.rs`.

mod common;

use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fred::prelude::{ClientLike, KeysInterface, PubsubInterface};
use playcast::store::cache::{Cache, CacheError, Received, Subscription};

use common::eventually;

const REDIS_URL: &str = "redis://127.0.0.1:6379";
/// Longest wait for something that should happen promptly (a message, an expiry).
const PATIENCE: Duration = Duration::from_secs(10);
const SHORT_TTL: Duration = Duration::from_millis(300);
/// How long a subscription must stay silent to count as receiving nothing.
const QUIET: Duration = Duration::from_millis(300);

fn redis_url() -> String {
    std::env::var("PLAYCAST_TEST_REDIS_URL").unwrap_or_else(|_| REDIS_URL.into())
}

fn unique_prefix() -> String {
    format!("test-{}", uuid::Uuid::new_v4().simple())
}

/// A Redis cache under `prefix`; fails the test if Redis is down.
async fn redis_cache(prefix: &str) -> Cache {
    let url = redis_url();
    match Cache::redis(&url, prefix).await {
        Ok(cache) => cache,
        Err(e) => panic!("Redis at {url} is needed (scripts/setup.sh test starts it): {e}"),
    }
}

/// Deletes what a test left under `prefix`, through a cache of its own (the
/// test's cache may be gone by now).
async fn purge(prefix: &str) {
    let cache = redis_cache(prefix).await;
    for key in cache.keys("").await.unwrap() {
        cache.delete(&key).await.unwrap();
    }
}

/// A plain client on the test server, for what the cache does not offer:
/// writing foreign values and asking about subscriptions.
async fn raw_redis() -> fred::prelude::Client {
    let config = fred::prelude::Config::from_url(&redis_url()).expect("the test Redis URL parses");
    let client = fred::prelude::Builder::from_config(config).build().expect("a Redis client");
    client.init().await.expect("connecting to the test Redis");
    client
}

/// How many connections the server has subscribed to `channel` (a full name).
async fn subscribers(raw: &fred::prelude::Client, channel: &str) -> u64 {
    let (name, count): (String, u64) = raw.pubsub_numsub(channel).await.unwrap();
    assert_eq!(name, channel);
    count
}

/// A loopback port nobody listens on (bound, then released).
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding a loopback port");
    listener.local_addr().expect("local address").port()
}

/// Each `$behaviour(cache)` as `$behaviour::memory` and `$behaviour::redis`;
/// with `two caches`, `$behaviour(a, b)` gets two separate caches (two Redis
/// prefixes, one a string prefix of the other).
macro_rules! on_both_backends {
    ($($behaviour:ident),* $(,)?) => {$(
        mod $behaviour {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn memory() {
                super::$behaviour(Cache::memory()).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn redis() {
                let prefix = unique_prefix();
                super::$behaviour(redis_cache(&prefix).await).await;
                purge(&prefix).await;
            }
        }
    )*};
    (two caches: $($behaviour:ident),* $(,)?) => {$(
        mod $behaviour {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn memory() {
                super::$behaviour(Cache::memory(), Cache::memory()).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn redis() {
                let a = unique_prefix();
                let b = format!("{a}-b");
                super::$behaviour(redis_cache(&a).await, redis_cache(&b).await).await;
                purge(&a).await;
                purge(&b).await;
            }
        }
    )*};
}

on_both_backends!(
    put_get_delete,
    overwrite_replaces_value_and_ttl,
    ttl_expires,
    zero_ttl_leaves_nothing,
    keys_are_sorted_and_match_only_their_prefix,
    heartbeat_expires_unless_refreshed,
    subscription_is_live_once_subscribe_returns,
    messages_arrive_in_order,
    dropped_subscriber_stops_and_others_keep_receiving,
    two_subscribers_get_the_same_messages,
    lagging_subscriber_is_told_what_it_missed,
    hostile_keys_and_values_round_trip,
    hostile_messages_and_channels_round_trip,
    subscription_ends_with_the_cache,
    reports_healthy,
);
on_both_backends!(two caches: caches_are_isolated);

/// The next item, failing the test if none comes in time or the cache is gone.
async fn next(sub: &mut Subscription) -> Received {
    match tokio::time::timeout(PATIENCE, sub.recv()).await {
        Ok(Some(received)) => received,
        Ok(None) => panic!("{sub:?} ended: its cache is gone"),
        Err(_) => panic!("nothing arrived on {sub:?} within {PATIENCE:?}"),
    }
}

/// The next item, which must be a message.
async fn message(sub: &mut Subscription) -> String {
    match next(sub).await {
        Received::Message(text) => text,
        other => panic!("expected a message on {sub:?}, got {other:?}"),
    }
}

async fn assert_quiet(sub: &mut Subscription) {
    if let Ok(received) = tokio::time::timeout(QUIET, sub.recv()).await {
        panic!("{sub:?} should have received nothing, got {received:?}");
    }
}

fn sorted(keys: &[&str]) -> Vec<String> {
    let mut keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    keys.sort();
    keys
}

async fn get(cache: &Cache, key: &str) -> Option<String> {
    cache.get(key).await.unwrap_or_else(|e| panic!("get {key:?}: {e}"))
}

async fn keys(cache: &Cache, prefix: &str) -> Vec<String> {
    cache.keys(prefix).await.unwrap_or_else(|e| panic!("keys {prefix:?}: {e}"))
}

/// Waits until `key` has expired (and is gone from the key list too).
async fn expires(cache: &Cache, key: &str) {
    eventually(&format!("{key:?} to expire"), PATIENCE, || async move {
        (get(cache, key).await.is_none() && !keys(cache, key).await.iter().any(|k| k == key)).then_some(())
    })
    .await;
}

async fn put_get_delete(cache: Cache) {
    assert_eq!(get(&cache, "missing").await, None);
    cache.put("session:1", "active", None).await.unwrap();
    assert_eq!(get(&cache, "session:1").await.as_deref(), Some("active"));
    assert_eq!(keys(&cache, "").await, ["session:1"]);
    cache.delete("session:1").await.unwrap();
    assert_eq!(get(&cache, "session:1").await, None);
    assert!(keys(&cache, "").await.is_empty());
    // Removing a missing key is not an error.
    cache.delete("session:1").await.unwrap();
    cache.delete("never-there").await.unwrap();
}

async fn overwrite_replaces_value_and_ttl(cache: Cache) {
    cache.put("k", "first", None).await.unwrap();
    cache.put("k", "second", None).await.unwrap();
    assert_eq!(get(&cache, "k").await.as_deref(), Some("second"));
    assert_eq!(keys(&cache, "").await, ["k"]);

    // An overwrite without a TTL clears the old one...
    cache.put("was-short", "short", Some(SHORT_TTL)).await.unwrap();
    cache.put("was-short", "kept", None).await.unwrap();
    // ...and one with a TTL puts it on an entry that had none.
    cache.put("was-long", "long", None).await.unwrap();
    cache.put("was-long", "short", Some(SHORT_TTL)).await.unwrap();
    expires(&cache, "was-long").await;
    tokio::time::sleep(SHORT_TTL).await;
    assert_eq!(get(&cache, "was-short").await.as_deref(), Some("kept"));
}

async fn ttl_expires(cache: Cache) {
    let start = Instant::now();
    cache.put("short", "v", Some(SHORT_TTL)).await.unwrap();
    let read = get(&cache, "short").await;
    // Read before the TTL ran out (unless the machine stalled that long), so
    // it must still be there.
    assert!(read.as_deref() == Some("v") || start.elapsed() >= SHORT_TTL, "expired early: {read:?}");
    cache.put("stays", "v", None).await.unwrap();
    expires(&cache, "short").await;
    assert_eq!(get(&cache, "stays").await.as_deref(), Some("v"));
    assert_eq!(keys(&cache, "").await, ["stays"]);

    // Below Redis's millisecond resolution still expires (it is not "no TTL"),
    // and one too long to represent is kept.
    cache.put("tiny", "v", Some(Duration::from_micros(1))).await.unwrap();
    expires(&cache, "tiny").await;
    cache.put("forever", "v", Some(Duration::MAX)).await.unwrap();
    assert_eq!(get(&cache, "forever").await.as_deref(), Some("v"));
}

async fn zero_ttl_leaves_nothing(cache: Cache) {
    cache.put("fresh", "v", Some(Duration::ZERO)).await.unwrap();
    assert_eq!(get(&cache, "fresh").await, None);
    cache.put("old", "v", None).await.unwrap();
    cache.put("old", "v2", Some(Duration::ZERO)).await.unwrap();
    assert_eq!(get(&cache, "old").await, None);
    cache.heartbeat("beat", "v", Duration::ZERO).await.unwrap();
    assert_eq!(get(&cache, "beat").await, None);
    assert!(keys(&cache, "").await.is_empty());
}

async fn keys_are_sorted_and_match_only_their_prefix(cache: Cache) {
    let all = ["session:b", "session:a", "session:c:1", "sessions", "node:1", "x*y", "x?", "x[1]", "x\\z", "xa"];
    for key in all {
        cache.put(key, "v", None).await.unwrap();
    }
    assert_eq!(keys(&cache, "").await, sorted(&all));
    assert_eq!(keys(&cache, "session:").await, ["session:a", "session:b", "session:c:1"]);
    assert_eq!(keys(&cache, "session").await, ["session:a", "session:b", "session:c:1", "sessions"]);
    assert_eq!(keys(&cache, "session:c:1").await, ["session:c:1"]);
    assert!(keys(&cache, "nothing").await.is_empty());
    // Glob characters in a prefix match only themselves.
    assert_eq!(keys(&cache, "x*").await, ["x*y"]);
    assert_eq!(keys(&cache, "x?").await, ["x?"]);
    assert_eq!(keys(&cache, "x[").await, ["x[1]"]);
    assert_eq!(keys(&cache, "x\\").await, ["x\\z"]);
    cache.delete("session:a").await.unwrap();
    assert_eq!(keys(&cache, "session:").await, ["session:b", "session:c:1"]);
}

async fn caches_are_isolated(a: Cache, b: Cache) {
    a.put("shared", "from a", None).await.unwrap();
    b.put("shared", "from b", None).await.unwrap();
    a.put("only-a", "v", None).await.unwrap();
    assert_eq!(get(&a, "shared").await.as_deref(), Some("from a"));
    assert_eq!(get(&b, "shared").await.as_deref(), Some("from b"));
    assert_eq!(get(&b, "only-a").await, None);
    assert_eq!(keys(&a, "").await, ["only-a", "shared"]);
    assert_eq!(keys(&b, "").await, ["shared"]);
    b.delete("shared").await.unwrap();
    assert_eq!(get(&a, "shared").await.as_deref(), Some("from a"));

    let mut on_a = a.subscribe("events").await.unwrap();
    let mut on_b = b.subscribe("events").await.unwrap();
    a.publish("events", "for a").await.unwrap();
    b.publish("events", "for b").await.unwrap();
    assert_eq!(message(&mut on_a).await, "for a");
    assert_eq!(message(&mut on_b).await, "for b");
    assert_quiet(&mut on_a).await;
    assert_quiet(&mut on_b).await;
}

async fn heartbeat_expires_unless_refreshed(cache: Cache) {
    cache.heartbeat("node:1", "alive", SHORT_TTL).await.unwrap();
    // Refreshed every third of its TTL for twice the TTL: still alive.
    for _ in 0..6 {
        tokio::time::sleep(SHORT_TTL / 3).await;
        cache.heartbeat("node:1", "alive", SHORT_TTL).await.unwrap();
        assert_eq!(get(&cache, "node:1").await.as_deref(), Some("alive"));
    }
    assert_eq!(keys(&cache, "node:").await, ["node:1"]);
    expires(&cache, "node:1").await;
    assert!(keys(&cache, "node:").await.is_empty());
}

/// The contract of `subscribe`: a message published right after it returns is
/// received. A miss is a race, so this tries many fresh channels.
async fn subscription_is_live_once_subscribe_returns(cache: Cache) {
    const ROUNDS: usize = 500;
    for round in 0..ROUNDS {
        let channel = format!("fresh:{round}");
        let mut sub = cache.subscribe(&channel).await.unwrap();
        cache.publish(&channel, "first").await.unwrap();
        match tokio::time::timeout(PATIENCE, sub.recv()).await {
            Ok(Some(received)) => assert_eq!(received, Received::Message("first".into()), "round {round}"),
            Ok(None) => panic!("{sub:?} ended"),
            Err(_) => panic!("round {round}: the message published right after subscribe() returned never arrived"),
        }
    }
}

async fn messages_arrive_in_order(cache: Cache) {
    const COUNT: usize = 1000;
    // Nobody listens yet: this one is not delivered to the later subscriber.
    cache.publish("events", "early").await.unwrap();
    let mut sub = cache.subscribe("events").await.unwrap();
    let publisher = cache.clone();
    let publishing = tokio::spawn(async move {
        for i in 0..COUNT {
            publisher.publish("events", &format!("m{i}")).await.unwrap();
        }
    });
    for i in 0..COUNT {
        assert_eq!(message(&mut sub).await, format!("m{i}"));
    }
    publishing.await.unwrap();
    assert_quiet(&mut sub).await;
}

async fn dropped_subscriber_stops_and_others_keep_receiving(cache: Cache) {
    let mut a = cache.subscribe("events").await.unwrap();
    let mut b = cache.subscribe("events").await.unwrap();
    cache.publish("events", "1").await.unwrap();
    assert_eq!(message(&mut a).await, "1");
    assert_eq!(message(&mut b).await, "1");
    drop(a);
    cache.publish("events", "2").await.unwrap();
    cache.publish("events", "3").await.unwrap();
    assert_eq!(message(&mut b).await, "2");
    assert_eq!(message(&mut b).await, "3");
    // Dropping the last one and subscribing again at once: the new
    // subscription is live (the old one's cleanup must not undo it).
    drop(b);
    let mut c = cache.subscribe("events").await.unwrap();
    cache.publish("events", "4").await.unwrap();
    assert_eq!(message(&mut c).await, "4");
    // Give a late cleanup time to strike, then check again.
    tokio::time::sleep(QUIET).await;
    cache.publish("events", "5").await.unwrap();
    assert_eq!(message(&mut c).await, "5");
    assert_quiet(&mut c).await;
}

async fn two_subscribers_get_the_same_messages(cache: Cache) {
    let mut a = cache.subscribe("events").await.unwrap();
    let mut b = cache.subscribe("events").await.unwrap();
    let mut other = cache.subscribe("other").await.unwrap();
    for i in 0..100 {
        cache.publish("events", &i.to_string()).await.unwrap();
    }
    for i in 0..100 {
        assert_eq!(message(&mut a).await, i.to_string());
        assert_eq!(message(&mut b).await, i.to_string());
    }
    assert_quiet(&mut other).await;
}

async fn lagging_subscriber_is_told_what_it_missed(cache: Cache) {
    // More than any subscriber queue holds; the reader keeps up batch by batch.
    const SENT: usize = 10_000;
    const BATCH: usize = 500;
    let mut reader = cache.subscribe("events").await.unwrap();
    let mut sleeper = cache.subscribe("events").await.unwrap();
    for start in (0..SENT).step_by(BATCH) {
        for i in start..start + BATCH {
            cache.publish("events", &i.to_string()).await.unwrap();
        }
        for i in start..start + BATCH {
            assert_eq!(next(&mut reader).await, Received::Message(i.to_string()), "the reader kept up");
        }
    }
    let missed = match next(&mut sleeper).await {
        Received::Lagged(missed) => usize::try_from(missed).unwrap(),
        other => panic!("the sleeping subscriber should hear it lagged first, got {other:?}"),
    };
    assert!(0 < missed && missed < SENT, "missed {missed} of {SENT}");
    // Then it goes on from the oldest message still queued, in order.
    for i in missed..SENT {
        assert_eq!(message(&mut sleeper).await, i.to_string());
    }
    assert_quiet(&mut sleeper).await;
    assert_quiet(&mut reader).await;
}

async fn hostile_keys_and_values_round_trip(cache: Cache) {
    let entries = [
        ("line\nbreak", "value\r\nwith\nCRLF\r\n"),
        ("ключ-🔑-鍵", "значение ✓ 🎮"),
        ("", "under the empty key"),
        ("empty value", ""),
        ("nul\0byte", "nul\0value"),
        (" spaced\tkey ", "  "),
        ("*", "a star"),
    ];
    for (key, value) in entries {
        cache.put(key, value, None).await.unwrap_or_else(|e| panic!("put {key:?}: {e}"));
    }
    for (key, value) in entries {
        assert_eq!(get(&cache, key).await.as_deref(), Some(value), "key {key:?}");
    }
    assert_eq!(keys(&cache, "").await, sorted(&entries.map(|(k, _)| k)));
    assert_eq!(keys(&cache, "line\n").await, ["line\nbreak"]);
    assert_eq!(keys(&cache, "ключ").await, ["ключ-🔑-鍵"]);

    let big: String = "0123456789abcdef🎮\n".chars().cycle().take(1 << 20).collect();
    assert!(big.len() >= 1 << 20);
    cache.put("big", &big, None).await.unwrap();
    let read = get(&cache, "big").await.expect("the 1 MB value is there");
    assert!(read == big, "the 1 MB value came back changed ({} bytes, not {})", read.len(), big.len());

    for (key, _) in entries {
        cache.delete(key).await.unwrap();
    }
    assert_eq!(keys(&cache, "").await, ["big"]);
}

async fn hostile_messages_and_channels_round_trip(cache: Cache) {
    let channels = ["chan\nnel", "канал 🎮", "", "*"];
    let messages = ["multi\r\nline\n", "✓ 🎮 鍵", "", "nul\0"];
    let mut subs = Vec::new();
    for channel in channels {
        subs.push(cache.subscribe(channel).await.unwrap_or_else(|e| panic!("subscribe {channel:?}: {e}")));
    }
    for (channel, sub) in channels.iter().zip(&mut subs) {
        for text in messages {
            cache.publish(channel, &format!("{channel}|{text}")).await.unwrap();
        }
        for text in messages {
            assert_eq!(message(sub).await, format!("{channel}|{text}"));
        }
    }
    // "*" is a channel name, not a pattern: the others heard nothing more.
    for sub in &mut subs {
        assert_quiet(sub).await;
    }

    let big: String = "🎮 frame\n".chars().cycle().take(1 << 20).collect();
    cache.publish(channels[0], &big).await.unwrap();
    let read = message(&mut subs[0]).await;
    assert!(read == big, "the 1 MB message came back changed ({} bytes, not {})", read.len(), big.len());
}

async fn subscription_ends_with_the_cache(cache: Cache) {
    let mut sub = cache.subscribe("events").await.unwrap();
    drop(cache);
    match tokio::time::timeout(PATIENCE, sub.recv()).await {
        Ok(None) => {}
        Ok(Some(received)) => panic!("the cache is gone, yet {received:?} arrived"),
        Err(_) => panic!("recv did not end within {PATIENCE:?} after the cache was dropped"),
    }
}

async fn reports_healthy(cache: Cache) {
    assert!(cache.is_healthy().await, "{} cache reports unhealthy", cache.backend());
}

// Redis only.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_caches_with_the_same_prefix_share_state() {
    let prefix = unique_prefix();
    let (a, b) = (redis_cache(&prefix).await, redis_cache(&prefix).await);
    assert_eq!(a.backend(), playcast::config::CacheBackend::Redis);
    let mut sub = b.subscribe("events").await.unwrap();
    a.put("session:1", "active", None).await.unwrap();
    assert_eq!(get(&b, "session:1").await.as_deref(), Some("active"));
    a.publish("events", "hello").await.unwrap();
    assert_eq!(message(&mut sub).await, "hello");
    purge(&prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_invalid_url_is_reported_without_the_password() {
    for url in [
        "redis://user:secretpw@host:notaport",
        "redis://user:secretpw@host:6379/notadb",
        "redis://user:secretpw@host:6379/0/extra",
        "redis://:secretpw@",
        "user:secretpw@host",
    ] {
        match Cache::redis(url, "p").await {
            Err(e @ CacheError::InvalidUrl(_)) => {
                let shown = format!("{e} / {e:?}");
                assert!(!shown.contains("secretpw"), "{url}: the error shows the password: {shown}");
            }
            Err(other) => panic!("{url}: expected InvalidUrl, got {other:?}"),
            Ok(_) => panic!("{url}: accepted"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_tls_url_never_falls_back_to_plaintext() {
    // The test server speaks plain TCP, so `rediss://` must fail (in the TLS
    // handshake, or refused as unsupported), never connect unencrypted.
    let url = redis_url();
    assert!(url.starts_with("redis://"), "this test needs a plaintext Redis, not {url}");
    // The server is up, so a failure below is the TLS one.
    assert!(redis_cache(&unique_prefix()).await.is_healthy().await);
    let url = url.replacen("redis://", "rediss://", 1);
    let start = Instant::now();
    if Cache::redis(&url, &unique_prefix()).await.is_ok() {
        panic!("{url} connected to a server without TLS: the connection is not encrypted");
    }
    assert!(start.elapsed() < Duration::from_secs(5), "took {:?}", start.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_unreachable_server_fails_promptly() {
    // Refused at once; an address that never answers, within the 2 s connect timeout.
    let refused = format!("redis://user:secretpw@127.0.0.1:{}", closed_port());
    let silent = "redis://user:secretpw@192.0.2.1:6379".to_string();
    for (url, limit) in [(refused, Duration::from_secs(3)), (silent, Duration::from_secs(5))] {
        let start = Instant::now();
        match Cache::redis(&url, "p").await {
            Err(e @ CacheError::Unavailable(_)) => {
                let shown = format!("{e} / {e:?}");
                assert!(!shown.contains("secretpw"), "{url}: the error shows the password: {shown}");
            }
            Err(other) => panic!("{url}: expected Unavailable, got {other:?}"),
            Ok(_) => panic!("{url}: connected"),
        }
        assert!(start.elapsed() < limit, "{url}: took {:?}", start.elapsed());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_wrong_credentials_fail_without_echoing_them() {
    // The server is up, so the failure below is the sign-in's.
    assert!(redis_cache(&unique_prefix()).await.is_healthy().await);
    let url = redis_url().replacen("redis://", "redis://nobody:secretpw@", 1);
    match Cache::redis(&url, &unique_prefix()).await {
        Err(e) => {
            let shown = format!("{e} / {e:?}");
            assert!(!shown.contains("secretpw"), "the error shows the password: {shown}");
        }
        Ok(_) => panic!("signed in as a user that does not exist"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_value_that_is_not_text_is_reported() {
    let prefix = unique_prefix();
    let cache = redis_cache(&prefix).await;
    let raw = raw_redis().await;
    let bytes: &[u8] = &[0xff, 0xfe, 0x00, 0x80];
    raw.set::<(), _, _>(format!("{prefix}:binary"), bytes, None, None, false).await.unwrap();
    match cache.get("binary").await {
        Err(CacheError::NotText(key)) => assert_eq!(key, "binary"),
        other => panic!("expected NotText, got {other:?}"),
    }
    // Others are unaffected and the key is still listed.
    cache.put("text", "v", None).await.unwrap();
    assert_eq!(get(&cache, "text").await.as_deref(), Some("v"));
    assert_eq!(keys(&cache, "").await, ["binary", "text"]);
    purge(&prefix).await;
    raw.quit().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_dropping_the_last_subscription_unsubscribes_on_the_server() {
    let prefix = unique_prefix();
    let cache = redis_cache(&prefix).await;
    let raw = raw_redis().await;
    // The name the cache gives the channel inside Redis (see src/store/cache/redis.rs).
    let channel = format!("{prefix}:events");
    let a = cache.subscribe("events").await.unwrap();
    let b = cache.subscribe("events").await.unwrap();
    // One connection subscribes for every local subscriber.
    assert_eq!(subscribers(&raw, &channel).await, 1);
    drop(a);
    tokio::time::sleep(QUIET).await;
    assert_eq!(subscribers(&raw, &channel).await, 1, "b still listens");
    drop(b);
    eventually("the server-side unsubscribe", PATIENCE, || async {
        (subscribers(&raw, &channel).await == 0).then_some(())
    })
    .await;
    raw.quit().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_dropping_a_subscription_to_a_busy_channel_unsubscribes_on_the_server() {
    // Messages keep arriving while the subscription is dropped, so some reach
    // the cache between the drop and its cleanup. A miss is a race: many rounds.
    const ROUNDS: usize = 40;
    let prefix = unique_prefix();
    let cache = redis_cache(&prefix).await;
    let raw = raw_redis().await;
    for round in 0..ROUNDS {
        let channel = format!("busy:{round}");
        let mut sub = cache.subscribe(&channel).await.unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let publishing = tokio::spawn({
            let (cache, channel, stop) = (cache.clone(), channel.clone(), stop.clone());
            async move {
                while !stop.load(Ordering::Relaxed) {
                    cache.publish(&channel, "busy").await.unwrap();
                }
            }
        });
        message(&mut sub).await;
        drop(sub);
        tokio::time::sleep(Duration::from_millis(20)).await;
        stop.store(true, Ordering::Relaxed);
        publishing.await.unwrap();
        let full = format!("{prefix}:{channel}");
        eventually(
            &format!("round {round}: the server-side unsubscribe of {full}"),
            Duration::from_secs(3),
            || async { (subscribers(&raw, &full).await == 0).then_some(()) },
        )
        .await;
    }
    raw.quit().await.unwrap();
}
