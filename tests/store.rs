//! The store on every backend it supports: SQLite in memory, a SQLite file,
//! and the real PostgreSQL (127.0.0.1:5432, database `test`, a schema of the
//! test's own). The same checks run on each.

mod common;

use std::sync::Arc;

use playcast::auth::Role;
use playcast::model::{NodeId, SessionId, UserId};
use playcast::session::lifecycle::{EndReason, Event, SessionState};
use playcast::store::{NewSession, Store, StoreError};
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

fn sid() -> SessionId {
    SessionId::new()
}

fn user(id: &str) -> UserId {
    UserId::from(id)
}

fn node(id: &str) -> NodeId {
    NodeId::from(id)
}

async fn create(store: &Store, id: &SessionId, owner: &str) {
    let new = NewSession {
        id,
        owner: &user(owner),
        game: "test-pattern",
        pipeline: "test-pattern",
        node: &node("n1"),
        params: "{}".into(),
    };
    store.create_session(new).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_have_one_global_order_with_owners_and_viewers() {
    for b in Backend::all().await {
        let before = b.store.last_event_id().await.unwrap();
        let (x, y) = (sid(), sid());
        create(&b.store, &x, "ann").await;
        create(&b.store, &y, "bob").await;
        b.store.set_viewers(&y, &[user("ann")]).await.unwrap();
        b.store.transition(&x, Event::Start).await.unwrap();
        let (_, _, rec) = b.store.transition(&y, Event::Start).await.unwrap();
        assert_eq!(rec.viewers, [user("ann")], "{}", b.name);
        let all = b.store.events_after(before, 100).await.unwrap();
        let ids: Vec<i64> = all.iter().map(|r| r.event.id).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{}: {ids:?}", b.name);
        let who: Vec<(&str, &str)> = all.iter().map(|r| (r.owner.as_str(), r.event.to_state.as_str())).collect();
        assert_eq!(who, [("ann", "idle"), ("bob", "idle"), ("ann", "initializing"), ("bob", "initializing")]);
        assert_eq!(b.store.last_event_id().await.unwrap(), *ids.last().unwrap(), "{}", b.name);
        assert_eq!(b.store.events_after(ids[1], 1).await.unwrap()[0].event.id, ids[2], "{}: paged", b.name);
        // ann sees her own and the one shared with her; bob only his.
        assert_eq!(b.store.sessions_visible_to(&user("ann"), 10).await.unwrap().len(), 2, "{}", b.name);
        assert_eq!(b.store.sessions_visible_to(&user("bob"), 10).await.unwrap().len(), 1, "{}", b.name);
        assert!(b.store.sessions_visible_to(&user("an"), 10).await.unwrap().is_empty(), "{}: no prefix match", b.name);
        assert_eq!(b.store.unfinished_on(&node("n1")).await.unwrap().len(), 2, "{}", b.name);
        assert!(b.store.unfinished_on(&node("n2")).await.unwrap().is_empty(), "{}", b.name);
        b.drop_schema().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_ins_are_kept_until_revoked() {
    for b in Backend::all().await {
        let ann = user("ann");
        let first = b.store.login("sess_1", &ann).await.unwrap();
        let again = b.store.login("sess_1", &ann).await.unwrap();
        assert_eq!(first.created_at, again.created_at, "{}", b.name);
        b.store.revoke_login("sess_1").await.unwrap();
        b.store.revoke_login("sess_1").await.unwrap();
        assert!(matches!(b.store.login("sess_1", &ann).await, Err(StoreError::Revoked)), "{}", b.name);
        assert!(b.store.login_session("sess_1").await.unwrap().unwrap().revoked_at.is_some(), "{}", b.name);
        assert!(b.store.login_session("nope").await.unwrap().is_none(), "{}", b.name);
        b.drop_schema().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_games_table_follows_the_catalog() {
    let catalog = playcast::session::games::load(&common::repo().join("config/games.toml")).unwrap();
    let games: Vec<_> = catalog.into_values().collect();
    for b in Backend::all().await {
        b.store.sync_games(&games).await.unwrap();
        assert_eq!(b.store.games().await.unwrap().len(), games.len(), "{}", b.name);
        b.store.sync_games(&games[..1]).await.unwrap();
        let left = b.store.games().await.unwrap();
        assert_eq!(left.len(), 1, "{}: removed games leave the table", b.name);
        assert_eq!(left[0].id, games[0].id);
        b.drop_schema().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_are_created_then_refreshed() {
    for b in Backend::all().await {
        let first = b.store.upsert_user(&user("user_a"), Role::Player).await.unwrap();
        let again = b.store.upsert_user(&user("user_a"), Role::Admin).await.unwrap();
        assert_eq!(again.created_at, first.created_at, "{}", b.name);
        assert_eq!(again.role, "admin", "{}", b.name);
        assert!(again.last_login_at >= first.last_login_at, "{}", b.name);
        assert!(b.store.user(&user("nobody")).await.unwrap().is_none());
        b.drop_schema().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_transition_is_recorded_with_its_event() {
    for b in Backend::all().await {
        let id = sid();
        create(&b.store, &id, "user_a").await;
        for ev in [Event::Start, Event::Launched, Event::Connected, Event::Pause, Event::Resume] {
            b.store.transition(&id, ev).await.unwrap();
        }
        let (row, state, _) = b.store.transition(&id, Event::End { reason: EndReason::User }).await.unwrap();
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
        create(&b.store, &id, "user_a").await;
        let err = b.store.transition(&id, Event::Pause).await.unwrap_err();
        assert!(matches!(err, StoreError::Transition(_)), "{}: {err:?}", b.name);
        assert_eq!(err.to_string(), "cannot pause a session that is idle");
        let row = b.store.session(&id).await.unwrap();
        assert_eq!((row.state_name.as_str(), row.version), ("idle", 1), "{}", b.name);
        assert_eq!(b.store.events(&id).await.unwrap().len(), 1, "{}", b.name);
        assert!(matches!(b.store.transition(&sid(), Event::Start).await, Err(StoreError::NotFound(_))));
        b.drop_schema().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_transitions_never_both_win() {
    for b in Backend::all().await {
        let id = sid();
        create(&b.store, &id, "user_a").await;
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
