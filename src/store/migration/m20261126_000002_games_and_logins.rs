//! Games, login sessions, and what a session runs (game, node, parameters,
//! viewers, final statistics).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Games {
    Table,
    Id,
    Title,
    Pipeline,
    Definition,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum LoginSessions {
    Table,
    Id,
    UserId,
    CreatedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Game,
    Node,
    Params,
    Viewers,
    Stats,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Games::Table)
                .if_not_exists()
                .col(ColumnDef::new(Games::Id).string().not_null().primary_key())
                .col(ColumnDef::new(Games::Title).string().not_null())
                .col(ColumnDef::new(Games::Pipeline).string().not_null())
                .col(ColumnDef::new(Games::Definition).text().not_null())
                .col(ColumnDef::new(Games::UpdatedAt).timestamp_with_time_zone().not_null())
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(LoginSessions::Table)
                .if_not_exists()
                .col(ColumnDef::new(LoginSessions::Id).string().not_null().primary_key())
                .col(ColumnDef::new(LoginSessions::UserId).string().not_null())
                .col(ColumnDef::new(LoginSessions::CreatedAt).timestamp_with_time_zone().not_null())
                .col(ColumnDef::new(LoginSessions::RevokedAt).timestamp_with_time_zone().null())
                .to_owned(),
        )
        .await?;
        // SQLite alters one column per statement.
        for col in [
            ColumnDef::new(Sessions::Game).string().not_null().default("").to_owned(),
            ColumnDef::new(Sessions::Node).string().not_null().default("").to_owned(),
            ColumnDef::new(Sessions::Params).text().not_null().default("{}").to_owned(),
            ColumnDef::new(Sessions::Viewers).text().not_null().default("[]").to_owned(),
            ColumnDef::new(Sessions::Stats).text().null().to_owned(),
        ] {
            m.alter_table(Table::alter().table(Sessions::Table).add_column(col).to_owned()).await?;
        }
        m.create_index(Index::create().name("sessions_node").table(Sessions::Table).col(Sessions::Node).to_owned())
            .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(Index::drop().name("sessions_node").table(Sessions::Table).to_owned()).await?;
        for col in [Sessions::Stats, Sessions::Viewers, Sessions::Params, Sessions::Node, Sessions::Game] {
            m.alter_table(Table::alter().table(Sessions::Table).drop_column(col).to_owned()).await?;
        }
        m.drop_table(Table::drop().table(LoginSessions::Table).to_owned()).await?;
        m.drop_table(Table::drop().table(Games::Table).to_owned()).await
    }
}
