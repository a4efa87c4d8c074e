//! The store on every backend it supports: SQLite in memory, a SQLite file,
//! and the real PostgreSQL (127.0.0.1:5432, database `test`, a schema of the
//! test's own). The same checks run on each.

mod common;

use std::sync::Arc;

use playcast::auth::Role;
use playcast::session::lifecycle::{EndReason, Event, SessionState};
use playcast::store::{Store, StoreError};
use sea_orm::ConnectionTrait;

const PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A store per backend; the PostgreSQL one lives in a fresh schema dropped afterwards.
struct Backend {
    name: &'static str,
    store: Store,
    _file: Option<tempfile::TempDir>,
    pg_schema: Option<String>,
}

impl Backend {
    async fn all() -> Vec<Backend> {
        let dir = tempfile::tempdir().unwrap();
        let file_url = format!("sqlite://{}?mode=rwc", dir.path().join("playcast.sqlite").display());
        let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
        let pg_url = std::env::var("PLAYCAST_TEST_DATABASE_URL").unwrap_or_else(|_| PG_URL.into());
        let admin = sea_orm::Database::connect(&pg_url)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL at {pg_url} is needed (scripts/test starts it): {e}"));
        admin.execute_unprepared(&format!("CREATE SCHEMA \"{schema}\"")).await.unwrap();
        vec![
            Backend {
                name: "sqlite memory",
                store: Store::connect("sqlite::memory:", None).await.unwrap(),
                _file: None,
                pg_schema: None,
            },
            Backend {
                name: "sqlite file",
                store: Store::connect(&file_url, None).await.unwrap(),
                _file: Some(dir),
                pg_schema: None,
            },
            Backend {
                name: "postgresql",
                store: Store::connect(&pg_url, Some(&schema)).await.unwrap(),
                _file: None,
                pg_schema: Some(schema),
            },
        ]
    }

    async fn drop_schema(&self) {
        if let Some(s) = &self.pg_schema {
            self.store.connection().execute_unprepared(&format!("DROP SCHEMA \"{s}\" CASCADE")).await.unwrap();
        }
    }
}

fn sid() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_are_created_then_refreshed() {
    for b in Backend::all().await {
        let first = b.store.upsert_user("user_a", Role::Player).await.unwrap();
        let again = b.store.upsert_user("user_a", Role::Admin).await.unwrap();
        assert_eq!(again.created_at, first.created_at, "{}", b.name);
        assert_eq!(again.role, "admin", "{}", b.name);
        assert!(again.last_login_at >= first.last_login_at, "{}", b.name);
        assert!(b.store.user("nobody").await.unwrap().is_none());
        b.drop_schema().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_transition_is_recorded_with_its_event() {
    for b in Backend::all().await {
        let id = sid();
        b.store.create_session(&id, "user_a", "test-pattern").await.unwrap();
        for ev in [Event::Start, Event::Launched, Event::Connected, Event::Pause, Event::Resume] {
            b.store.transition(&id, ev).await.unwrap();
        }
        let (row, state) = b.store.transition(&id, Event::End { reason: EndReason::User }).await.unwrap();
        assert_eq!(state, SessionState::Terminated { reason: EndReason::User }, "{}", b.name);
        assert_eq!((row.state_name.as_str(), row.version), ("terminated", 7), "{}", b.name);
        let events = b.store.events(&id).await.unwrap();
        let path: Vec<(&str, &str)> = events.iter().map(|e| (e.from_state.as_str(), e.to_state.as_str())).collect();
        assert_eq!(
            path,
            [
                ("", "idle"),
                ("idle", "initializing"),
                ("initializing", "connecting"),
                ("connecting", "active"),
                ("active", "paused"),
                ("paused", "active"),
                ("active", "terminated")
            ],
            "{}",
            b.name
        );
        assert!(events.iter().enumerate().all(|(i, e)| e.seq == i as i32 + 1), "{}: seq has no gaps", b.name);
        assert!(events[6].event.contains("\"user\""), "{}: the reason is kept: {}", b.name, events[6].event);
        assert_eq!(b.store.unfinished_sessions().await.unwrap().len(), 1, "{}", b.name);
        b.store.transition(&id, Event::CleanedUp).await.unwrap();
        assert!(b.store.unfinished_sessions().await.unwrap().is_empty(), "{}", b.name);
        b.drop_schema().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn illegal_transitions_change_nothing() {
    for b in Backend::all().await {
        let id = sid();
        b.store.create_session(&id, "user_a", "test-pattern").await.unwrap();
        let err = b.store.transition(&id, Event::Pause).await.unwrap_err();
        assert!(matches!(err, StoreError::Transition(_)), "{}: {err:?}", b.name);
        assert_eq!(err.to_string(), "cannot pause a session that is idle");
        let row = b.store.session(&id).await.unwrap();
        assert_eq!((row.state_name.as_str(), row.version), ("idle", 1), "{}", b.name);
        assert_eq!(b.store.events(&id).await.unwrap().len(), 1, "{}", b.name);
        assert!(matches!(b.store.transition("nope", Event::Start).await, Err(StoreError::NotFound(_))));
        b.drop_schema().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_transitions_never_both_win() {
    for b in Backend::all().await {
        let id = sid();
        b.store.create_session(&id, "user_a", "test-pattern").await.unwrap();
        for ev in [Event::Start, Event::Launched, Event::Connected] {
            b.store.transition(&id, ev).await.unwrap();
        }
        // Eight clients press pause at once: exactly one pauses.
        let store = Arc::new(b.store.clone());
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (s, id) = (store.clone(), id.clone());
                tokio::spawn(async move { s.transition(&id, Event::Pause).await })
            })
            .collect();
        let mut wins = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(_) => wins += 1,
                // Lost the race after reading (conflict) or read the paused state (illegal);
                // SQLite may also report its lock being busy.
                Err(StoreError::Conflict(_) | StoreError::Transition(_) | StoreError::Db(_)) => {}
                Err(e) => panic!("{}: unexpected {e:?}", b.name),
            }
        }
        assert_eq!(wins, 1, "{}: exactly one pause wins", b.name);
        let row = b.store.session(&id).await.unwrap();
        let events = b.store.events(&id).await.unwrap();
        assert_eq!((row.state_name.as_str(), row.version), ("paused", 5), "{}", b.name);
        assert_eq!(events.len() as i32, row.version, "{}: one event per version", b.name);
        b.drop_schema().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_failure_is_a_503_not_a_500() {
    let pg_url = std::env::var("PLAYCAST_TEST_DATABASE_URL").unwrap_or_else(|_| PG_URL.into());
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    let admin = sea_orm::Database::connect(&pg_url).await.expect("PostgreSQL is needed (scripts/test starts it)");
    admin.execute_unprepared(&format!("CREATE SCHEMA \"{schema}\"")).await.unwrap();
    let url = format!("{pg_url}?options=-c%20search_path%3D{schema}");
    let svc = common::serve_in_process(|c| c.state.database_url = playcast::config::Secret(url.clone())).await;
    let token = svc
        .state
        .verifier
        .dev_issuer()
        .unwrap()
        .mint("user_db", Role::Player, std::time::Duration::from_secs(60))
        .unwrap();
    let client = reqwest::Client::new();
    let login = || client.post(format!("{}/api/v1/login", svc.base)).bearer_auth(&token).send();
    assert_eq!(login().await.unwrap().status(), 200);
    // The database loses its tables under the running service.
    admin.execute_unprepared(&format!("DROP SCHEMA \"{schema}\" CASCADE")).await.unwrap();
    let res = login().await.unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    assert_eq!(res.headers()["retry-after"], "5");
    let p: serde_json::Value = res.json().await.unwrap();
    assert_eq!(p["type"], "https://playcast.dev/problems/state-unavailable", "{p}");
}
