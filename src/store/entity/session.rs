//! A game session and where it is in its lifecycle.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sessions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// User id of the owner.
    pub owner: String,
    pub pipeline: String,
    /// The lifecycle state as JSON (`{"state": "...", ...}`), see `session::lifecycle`.
    #[sea_orm(column_type = "Text")]
    pub state: String,
    /// The state's name alone, for queries.
    pub state_name: String,
    /// Bumped by every transition; a transition applies only to the version it read.
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// Catalog id of the game.
    pub game: String,
    /// The node that runs it.
    pub node: String,
    /// Resolved pipeline parameters as JSON.
    #[sea_orm(column_type = "Text")]
    pub params: String,
    /// User ids the owner shared it with, as a JSON array.
    #[sea_orm(column_type = "Text")]
    pub viewers: String,
    /// Final statistics as JSON, written at cleanup.
    #[sea_orm(column_type = "Text", nullable)]
    pub stats: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
