//! Durable state: users, sessions and every session transition, in SQLite
//! (a file by default) or PostgreSQL (given a URL). Migrations run on connect.
//!
//! A transition is one transaction: the session row is updated only if it
//! still has the version that was read (a concurrent change makes the loser
//! fail, never both win), and the event row is written with it, so no
//! transition is ever recorded without its event or the other way round.

pub mod cache;
pub mod entity;
pub mod migration;

use std::time::Duration;

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectOptions, Database, DatabaseConnection, DbErr, EntityTrait, QueryFilter,
    QueryOrder, Set, TransactionTrait,
};
use sea_orm_migration::MigratorTrait;

use crate::auth::Role;
use crate::model::ids::{NodeId, SessionId, UserId};
use crate::model::lifecycle::{Event, SessionState, TransitionError};
use entity::{game, login_session, node, session, session_event, user};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[from] DbErr),
    #[error("no session `{0}`")]
    NotFound(String),
    #[error(transparent)]
    Transition(#[from] TransitionError),
    #[error("session `{0}` changed concurrently; retry")]
    Conflict(String),
    #[error("stored state of session `{id}` is unreadable: {message}")]
    Corrupt { id: String, message: String },
    #[error("this sign-in was revoked; sign in again")]
    Revoked,
}

/// What a new session record holds.
#[derive(Debug, Clone)]
pub struct NewSession<'a> {
    pub id: &'a SessionId,
    pub owner: &'a UserId,
    pub game: &'a str,
    pub pipeline: &'a str,
    pub node: &'a NodeId,
    /// Resolved pipeline parameters as JSON.
    pub params: String,
}

/// A recorded transition with what subscribers need to filter it.
#[derive(Debug, Clone)]
pub struct EventRecord {
    pub event: session_event::Model,
    pub owner: UserId,
    pub viewers: Vec<UserId>,
}

/// A PostgreSQL advisory lock key: transitions take it so event ids commit in
/// id order on every node, which lets subscribers trust "no gap, no loss".
const EVENT_ORDER_LOCK: i64 = 0x706c_6179_6361_7374;

#[derive(Clone)]
pub struct Store {
    db: DatabaseConnection,
}

impl Store {
    /// Connects (`sqlite://path?mode=rwc`, `sqlite::memory:`, `postgres://…`)
    /// and brings the schema up to date. `schema` selects a PostgreSQL schema.
    pub async fn connect(url: &str, schema: Option<&str>) -> Result<Self, StoreError> {
        let mut opts = ConnectOptions::new(url.to_string());
        opts.connect_timeout(Duration::from_secs(5)).acquire_timeout(Duration::from_secs(5)).sqlx_logging(false);
        if url.starts_with("sqlite::memory:") {
            // One connection: every connection to :memory: is a database of its own.
            opts.max_connections(1);
        }
        if let Some(s) = schema {
            opts.set_schema_search_path(s.to_string());
        }
        let db = Database::connect(opts).await?;
        migration::Migrator::up(&db, None).await?;
        Ok(Self { db })
    }

    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Answers when the database does (readiness).
    pub async fn ping(&self) -> Result<(), StoreError> {
        Ok(self.db.ping().await?)
    }

    /// Records a sign-in: creates the user or refreshes role and time.
    pub async fn upsert_user(&self, id: &UserId, role: Role) -> Result<user::Model, StoreError> {
        let now = chrono::Utc::now();
        let txn = self.db.begin().await?;
        let model = match user::Entity::find_by_id(id.as_str()).one(&txn).await? {
            Some(existing) => {
                let mut am: user::ActiveModel = existing.into();
                am.role = Set(role.to_string());
                am.last_login_at = Set(now);
                am.update(&txn).await?
            }
            None => {
                user::ActiveModel {
                    id: Set(id.to_string()),
                    role: Set(role.to_string()),
                    created_at: Set(now),
                    last_login_at: Set(now),
                }
                .insert(&txn)
                .await?
            }
        };
        txn.commit().await?;
        Ok(model)
    }

    pub async fn user(&self, id: &UserId) -> Result<Option<user::Model>, StoreError> {
        Ok(user::Entity::find_by_id(id.as_str()).one(&self.db).await?)
    }

    /// A new session in `Idle`, with its first event.
    pub async fn create_session(&self, new: NewSession<'_>) -> Result<(session::Model, EventRecord), StoreError> {
        let now = chrono::Utc::now();
        let state = SessionState::Idle;
        let txn = self.db.begin().await?;
        self.order_events(&txn).await?;
        let model = session::ActiveModel {
            id: Set(new.id.to_string()),
            owner: Set(new.owner.to_string()),
            pipeline: Set(new.pipeline.to_string()),
            state: Set(to_json(&state)),
            state_name: Set(state.name().to_string()),
            version: Set(1),
            created_at: Set(now),
            updated_at: Set(now),
            game: Set(new.game.to_string()),
            node: Set(new.node.to_string()),
            params: Set(new.params),
            viewers: Set("[]".into()),
            stats: Set(None),
        }
        .insert(&txn)
        .await?;
        let event = record_event(&txn, new.id, 1, "", state.name(), r#"{"event":"create"}"#.to_string(), now).await?;
        txn.commit().await?;
        let record = EventRecord { event, owner: new.owner.clone(), viewers: Vec::new() };
        Ok((model, record))
    }

    /// Serialises event-writing transactions on PostgreSQL (SQLite has one writer anyway).
    async fn order_events(&self, txn: &sea_orm::DatabaseTransaction) -> Result<(), DbErr> {
        use sea_orm::ConnectionTrait;
        if txn.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({EVENT_ORDER_LOCK})")).await?;
        }
        Ok(())
    }

    pub async fn session(&self, id: &SessionId) -> Result<session::Model, StoreError> {
        find_session(&self.db, id).await
    }

    /// Applies `event` through the lifecycle state machine and records it.
    pub async fn transition(
        &self,
        id: &SessionId,
        event: Event,
    ) -> Result<(session::Model, SessionState, EventRecord), StoreError> {
        let txn = self.db.begin().await?;
        self.order_events(&txn).await?;
        let row = find_session(&txn, id).await?;
        let current: SessionState = serde_json::from_str(&row.state)
            .map_err(|e| StoreError::Corrupt { id: id.to_string(), message: e.to_string() })?;
        let from = current.name();
        let next = current.next(event.clone())?;
        let now = chrono::Utc::now();
        let version = row.version + 1;
        let updated = session::Entity::update_many()
            .col_expr(session::Column::State, Expr::value(to_json(&next)))
            .col_expr(session::Column::StateName, Expr::value(next.name()))
            .col_expr(session::Column::Version, Expr::value(version))
            .col_expr(session::Column::UpdatedAt, Expr::value(now))
            .filter(session::Column::Id.eq(id.as_str()))
            .filter(session::Column::Version.eq(row.version))
            .exec(&txn)
            .await?;
        if updated.rows_affected != 1 {
            return Err(StoreError::Conflict(id.to_string()));
        }
        let recorded = record_event(&txn, id, version, from, next.name(), to_json(&event), now).await.map_err(|e| {
            match e.sql_err() {
                // The unique (session, seq) index: someone recorded this version first.
                Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => StoreError::Conflict(id.to_string()),
                _ => StoreError::Db(e),
            }
        })?;
        txn.commit().await?;
        // What the update wrote; no need to read it back.
        let model = session::Model {
            state: to_json(&next),
            state_name: next.name().to_string(),
            version,
            updated_at: now,
            ..row
        };
        let record = EventRecord { event: recorded, owner: owner_of(&model), viewers: viewers_of(&model) };
        Ok((model, next, record))
    }

    /// Transitions after `after` (a global event id), oldest first, at most `limit`.
    pub async fn events_after(&self, after: i64, limit: u64) -> Result<Vec<EventRecord>, StoreError> {
        use sea_orm::QuerySelect;
        let rows = session_event::Entity::find()
            .filter(session_event::Column::Id.gt(after))
            .order_by_asc(session_event::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await?;
        let ids: std::collections::BTreeSet<String> = rows.iter().map(|r| r.session_id.clone()).collect();
        let sessions: std::collections::HashMap<String, session::Model> = session::Entity::find()
            .filter(session::Column::Id.is_in(ids))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|s| (s.id.clone(), s))
            .collect();
        Ok(rows
            .into_iter()
            .map(|event| {
                let s = sessions.get(&event.session_id);
                EventRecord {
                    owner: s.map(owner_of).unwrap_or_else(|| UserId::from("")),
                    viewers: s.map(viewers_of).unwrap_or_default(),
                    event,
                }
            })
            .collect())
    }

    /// The newest global event id (0 when there is none).
    pub async fn last_event_id(&self) -> Result<i64, StoreError> {
        let last = session_event::Entity::find().order_by_desc(session_event::Column::Id).one(&self.db).await?;
        Ok(last.map_or(0, |e| e.id))
    }

    pub async fn set_viewers(&self, id: &SessionId, viewers: &[UserId]) -> Result<session::Model, StoreError> {
        let row = find_session(&self.db, id).await?;
        let mut am: session::ActiveModel = row.into();
        am.viewers = Set(to_json(&viewers));
        Ok(am.update(&self.db).await?)
    }

    pub async fn set_stats(&self, id: &SessionId, stats: &serde_json::Value) -> Result<(), StoreError> {
        session::Entity::update_many()
            .col_expr(session::Column::Stats, Expr::value(stats.to_string()))
            .filter(session::Column::Id.eq(id.as_str()))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Every session, newest first (admins).
    pub async fn all_sessions(&self, limit: u64) -> Result<Vec<session::Model>, StoreError> {
        use sea_orm::QuerySelect;
        Ok(session::Entity::find().order_by_desc(session::Column::CreatedAt).limit(limit).all(&self.db).await?)
    }

    /// Unfinished sessions that `node` ran (to reconcile after a crash).
    pub async fn unfinished_on(&self, node: &NodeId) -> Result<Vec<session::Model>, StoreError> {
        Ok(session::Entity::find()
            .filter(session::Column::Node.eq(node.as_str()))
            .filter(session::Column::StateName.ne(SessionState::Cleanup.name()))
            .all(&self.db)
            .await?)
    }

    /// Replaces the catalog's copy in the database with `games`.
    pub async fn sync_games(&self, games: &[crate::model::game::Game]) -> Result<(), StoreError> {
        let now = chrono::Utc::now();
        let txn = self.db.begin().await?;
        for g in games {
            let am = game::ActiveModel {
                id: Set(g.id.clone()),
                title: Set(g.title.clone()),
                pipeline: Set(g.pipeline.clone()),
                definition: Set(to_json(g)),
                updated_at: Set(now),
            };
            if game::Entity::find_by_id(g.id.clone()).one(&txn).await?.is_some() {
                am.update(&txn).await?;
            } else {
                am.insert(&txn).await?;
            }
        }
        game::Entity::delete_many()
            .filter(game::Column::Id.is_not_in(games.iter().map(|g| g.id.clone())))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(())
    }

    pub async fn games(&self) -> Result<Vec<game::Model>, StoreError> {
        Ok(game::Entity::find().order_by_asc(game::Column::Id).all(&self.db).await?)
    }

    /// Records a sign-in under `sid`; a revoked one stays revoked.
    pub async fn login(&self, sid: &str, user: &UserId) -> Result<login_session::Model, StoreError> {
        match login_session::Entity::find_by_id(sid.to_string()).one(&self.db).await? {
            Some(l) if l.revoked_at.is_some() => Err(StoreError::Revoked),
            Some(l) => Ok(l),
            None => Ok(login_session::ActiveModel {
                id: Set(sid.to_string()),
                user_id: Set(user.to_string()),
                created_at: Set(chrono::Utc::now()),
                revoked_at: Set(None),
            }
            .insert(&self.db)
            .await?),
        }
    }

    pub async fn login_session(&self, sid: &str) -> Result<Option<login_session::Model>, StoreError> {
        Ok(login_session::Entity::find_by_id(sid.to_string()).one(&self.db).await?)
    }

    pub async fn revoke_login(&self, sid: &str) -> Result<(), StoreError> {
        login_session::Entity::update_many()
            .col_expr(login_session::Column::RevokedAt, Expr::value(chrono::Utc::now()))
            .filter(login_session::Column::Id.eq(sid))
            .filter(login_session::Column::RevokedAt.is_null())
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Every transition of a session, oldest first.
    pub async fn events(&self, id: &SessionId) -> Result<Vec<session_event::Model>, StoreError> {
        Ok(session_event::Entity::find()
            .filter(session_event::Column::SessionId.eq(id.as_str()))
            .order_by_asc(session_event::Column::Seq)
            .all(&self.db)
            .await?)
    }

    /// Records that `id` (reachable at `address`) is alive now.
    pub async fn node_seen(&self, id: &NodeId, address: &str) -> Result<(), StoreError> {
        use sea_orm::sea_query::OnConflict;
        let am = node::ActiveModel {
            id: Set(id.to_string()),
            address: Set(address.to_string()),
            last_seen: Set(chrono::Utc::now()),
        };
        node::Entity::insert(am)
            .on_conflict(
                OnConflict::column(node::Column::Id)
                    .update_columns([node::Column::Address, node::Column::LastSeen])
                    .to_owned(),
            )
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Nodes whose last sign of life is older than `cutoff`.
    pub async fn nodes_silent_since(&self, cutoff: chrono::DateTime<chrono::Utc>) -> Result<Vec<NodeId>, StoreError> {
        let rows = node::Entity::find().filter(node::Column::LastSeen.lt(cutoff)).all(&self.db).await?;
        Ok(rows.into_iter().map(|n| NodeId::from(n.id)).collect())
    }

    /// Forgets a node that is gone and left nothing open.
    pub async fn forget_node(&self, id: &NodeId) -> Result<(), StoreError> {
        node::Entity::delete_by_id(id.as_str()).exec(&self.db).await?;
        Ok(())
    }

    /// When `id` last recorded a sign of life, if ever.
    pub async fn node_last_seen(&self, id: &NodeId) -> Result<Option<chrono::DateTime<chrono::Utc>>, StoreError> {
        Ok(node::Entity::find_by_id(id.as_str()).one(&self.db).await?.map(|n| n.last_seen))
    }

    /// Sessions not yet cleaned up (to reconcile after a crash).
    pub async fn unfinished_sessions(&self) -> Result<Vec<session::Model>, StoreError> {
        Ok(session::Entity::find()
            .filter(session::Column::StateName.ne(SessionState::Cleanup.name()))
            .order_by_asc(session::Column::CreatedAt)
            .all(&self.db)
            .await?)
    }

    /// Sessions a user owns or was shared, newest first.
    pub async fn sessions_visible_to(&self, user: &UserId, limit: u64) -> Result<Vec<session::Model>, StoreError> {
        use sea_orm::{Condition, QuerySelect};
        // The LIKE narrows candidates; the exact check is the parsed list below.
        let quoted = to_json(&user);
        let rows = session::Entity::find()
            .filter(
                Condition::any()
                    .add(session::Column::Owner.eq(user.as_str()))
                    .add(session::Column::Viewers.contains(quoted.trim_matches('"'))),
            )
            .order_by_desc(session::Column::CreatedAt)
            .limit(limit)
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().filter(|s| s.owner == user.as_str() || viewers_of(s).contains(user)).collect())
    }
}

async fn find_session<C: sea_orm::ConnectionTrait>(conn: &C, id: &SessionId) -> Result<session::Model, StoreError> {
    session::Entity::find_by_id(id.as_str())
        .one(conn)
        .await?
        .ok_or_else(|| StoreError::NotFound(id.as_str().chars().take(64).collect()))
}

/// Writes the event row of a transition (inside the caller's transaction).
async fn record_event<C: sea_orm::ConnectionTrait>(
    conn: &C,
    id: &SessionId,
    seq: i32,
    from: &str,
    to: &str,
    event: String,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<session_event::Model, DbErr> {
    session_event::ActiveModel {
        session_id: Set(id.to_string()),
        seq: Set(seq),
        from_state: Set(from.to_string()),
        to_state: Set(to.to_string()),
        event: Set(event),
        at: Set(at),
        ..Default::default()
    }
    .insert(conn)
    .await
}

/// The user ids a session is shared with.
pub fn viewers_of(s: &session::Model) -> Vec<UserId> {
    serde_json::from_str(&s.viewers).unwrap_or_default()
}

/// The user who owns a session.
pub fn owner_of(s: &session::Model) -> UserId {
    UserId::from(s.owner.as_str())
}

fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("lifecycle types serialize")
}
