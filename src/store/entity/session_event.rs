//! Every lifecycle transition of a session, with its time and reason.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "session_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub session_id: String,
    /// The session's version after this transition: 1, 2, 3, … without gaps.
    pub seq: i32,
    pub from_state: String,
    pub to_state: String,
    /// The event as JSON (`{"event": "...", ...}`).
    #[sea_orm(column_type = "Text")]
    pub event: String,
    pub at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
