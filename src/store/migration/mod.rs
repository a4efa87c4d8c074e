//! Schema migrations, run at every start.

use sea_orm_migration::prelude::*;

mod m20261125_000001_create_tables;
mod m20261126_000002_games_and_logins;
mod m20261130_000003_nodes;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_create_tables::Migration),
            Box::new(m20261126_000002_games_and_logins::Migration),
            Box::new(m20261130_000003_nodes::Migration),
        ]
    }
}
