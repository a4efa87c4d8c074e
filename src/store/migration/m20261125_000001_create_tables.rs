//! Users, sessions and session events.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Role,
    CreatedAt,
    LastLoginAt,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
    Owner,
    Pipeline,
    State,
    StateName,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum SessionEvents {
    Table,
    Id,
    SessionId,
    Seq,
    FromState,
    ToState,
    Event,
    At,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Users::Table)
                .if_not_exists()
                .col(ColumnDef::new(Users::Id).string().not_null().primary_key())
                .col(ColumnDef::new(Users::Role).string().not_null())
                .col(ColumnDef::new(Users::CreatedAt).timestamp_with_time_zone().not_null())
                .col(ColumnDef::new(Users::LastLoginAt).timestamp_with_time_zone().not_null())
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Sessions::Table)
                .if_not_exists()
                .col(ColumnDef::new(Sessions::Id).string().not_null().primary_key())
                .col(ColumnDef::new(Sessions::Owner).string().not_null())
                .col(ColumnDef::new(Sessions::Pipeline).string().not_null())
                .col(ColumnDef::new(Sessions::State).text().not_null())
                .col(ColumnDef::new(Sessions::StateName).string().not_null())
                .col(ColumnDef::new(Sessions::Version).integer().not_null())
                .col(ColumnDef::new(Sessions::CreatedAt).timestamp_with_time_zone().not_null())
                .col(ColumnDef::new(Sessions::UpdatedAt).timestamp_with_time_zone().not_null())
                .to_owned(),
        )
        .await?;
        m.create_index(Index::create().name("sessions_owner").table(Sessions::Table).col(Sessions::Owner).to_owned())
            .await?;
        m.create_index(
            Index::create().name("sessions_state_name").table(Sessions::Table).col(Sessions::StateName).to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(SessionEvents::Table)
                .if_not_exists()
                .col(ColumnDef::new(SessionEvents::Id).big_integer().not_null().auto_increment().primary_key())
                .col(ColumnDef::new(SessionEvents::SessionId).string().not_null())
                .col(ColumnDef::new(SessionEvents::Seq).integer().not_null())
                .col(ColumnDef::new(SessionEvents::FromState).string().not_null())
                .col(ColumnDef::new(SessionEvents::ToState).string().not_null())
                .col(ColumnDef::new(SessionEvents::Event).text().not_null())
                .col(ColumnDef::new(SessionEvents::At).timestamp_with_time_zone().not_null())
                .foreign_key(
                    ForeignKey::create()
                        .from(SessionEvents::Table, SessionEvents::SessionId)
                        .to(Sessions::Table, Sessions::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        // One event per version: a second writer of the same transition fails here.
        m.create_index(
            Index::create()
                .name("session_events_seq")
                .table(SessionEvents::Table)
                .col(SessionEvents::SessionId)
                .col(SessionEvents::Seq)
                .unique()
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(SessionEvents::Table).to_owned()).await?;
        m.drop_table(Table::drop().table(Sessions::Table).to_owned()).await?;
        m.drop_table(Table::drop().table(Users::Table).to_owned()).await
    }
}
