//! Durable state: users, sessions and every session transition, in SQLite
//! (a file by default) or PostgreSQL (given a URL). Migrations run on connect.
//!
//! A transition is one transaction: the session row is updated only if it
//! still has the version that was read (a concurrent change makes the loser
//! fail, never both win), and the event row is written with it, so no
//! transition is ever recorded without its event or the other way round.

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
use crate::session::lifecycle::{Event, SessionState, TransitionError};
use entity::{session, session_event, user};

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
}

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

    /// Records a sign-in: creates the user or refreshes role and time.
    pub async fn upsert_user(&self, id: &str, role: Role) -> Result<user::Model, StoreError> {
        let now = chrono::Utc::now();
        let txn = self.db.begin().await?;
        let model = match user::Entity::find_by_id(id.to_string()).one(&txn).await? {
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

    pub async fn user(&self, id: &str) -> Result<Option<user::Model>, StoreError> {
        Ok(user::Entity::find_by_id(id.to_string()).one(&self.db).await?)
    }

    /// A new session in `Idle`, with its first event.
    pub async fn create_session(&self, id: &str, owner: &str, pipeline: &str) -> Result<session::Model, StoreError> {
        let now = chrono::Utc::now();
        let state = SessionState::Idle;
        let txn = self.db.begin().await?;
        let model = session::ActiveModel {
            id: Set(id.to_string()),
            owner: Set(owner.to_string()),
            pipeline: Set(pipeline.to_string()),
            state: Set(to_json(&state)),
            state_name: Set(state.name().to_string()),
            version: Set(1),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&txn)
        .await?;
        record_event(&txn, id, 1, "", state.name(), r#"{"event":"create"}"#.to_string(), now).await?;
        txn.commit().await?;
        Ok(model)
    }

    pub async fn session(&self, id: &str) -> Result<session::Model, StoreError> {
        find_session(&self.db, id).await
    }

    /// Applies `event` through the lifecycle state machine and records it.
    pub async fn transition(&self, id: &str, event: Event) -> Result<(session::Model, SessionState), StoreError> {
        let txn = self.db.begin().await?;
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
            .filter(session::Column::Id.eq(id))
            .filter(session::Column::Version.eq(row.version))
            .exec(&txn)
            .await?;
        if updated.rows_affected != 1 {
            return Err(StoreError::Conflict(id.to_string()));
        }
        record_event(&txn, id, version, from, next.name(), to_json(&event), now).await.map_err(|e| {
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
        Ok((model, next))
    }

    /// Every transition of a session, oldest first.
    pub async fn events(&self, id: &str) -> Result<Vec<session_event::Model>, StoreError> {
        Ok(session_event::Entity::find()
            .filter(session_event::Column::SessionId.eq(id))
            .order_by_asc(session_event::Column::Seq)
            .all(&self.db)
            .await?)
    }

    /// Sessions not yet cleaned up (to reconcile after a crash).
    pub async fn unfinished_sessions(&self) -> Result<Vec<session::Model>, StoreError> {
        Ok(session::Entity::find()
            .filter(session::Column::StateName.ne(SessionState::Cleanup.name()))
            .order_by_asc(session::Column::CreatedAt)
            .all(&self.db)
            .await?)
    }

    /// Sessions of one owner, newest first.
    pub async fn sessions_of(&self, owner: &str) -> Result<Vec<session::Model>, StoreError> {
        Ok(session::Entity::find()
            .filter(session::Column::Owner.eq(owner))
            .order_by_desc(session::Column::CreatedAt)
            .all(&self.db)
            .await?)
    }
}

async fn find_session<C: sea_orm::ConnectionTrait>(conn: &C, id: &str) -> Result<session::Model, StoreError> {
    session::Entity::find_by_id(id.to_string())
        .one(conn)
        .await?
        .ok_or_else(|| StoreError::NotFound(id.chars().take(64).collect()))
}

/// Writes the event row of a transition (inside the caller's transaction).
async fn record_event<C: sea_orm::ConnectionTrait>(
    conn: &C,
    id: &str,
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

fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("lifecycle types serialize")
}
