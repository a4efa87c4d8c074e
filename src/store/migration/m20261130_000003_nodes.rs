//! Nodes' last sign of life in the database: a second witness beside the
//! cache's heartbeat, so a node that lost only Redis is not declared dead.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Nodes {
    Table,
    Id,
    Address,
    LastSeen,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Nodes::Table)
                .if_not_exists()
                .col(ColumnDef::new(Nodes::Id).string().not_null().primary_key())
                .col(ColumnDef::new(Nodes::Address).string().not_null())
                .col(ColumnDef::new(Nodes::LastSeen).timestamp_with_time_zone().not_null())
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Nodes::Table).to_owned()).await
    }
}
