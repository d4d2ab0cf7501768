//! `jobhost migrate`: brings a PostgreSQL database's schema up to this
//! build's version and exits.

use crate::store::postgres::{Database, DatabaseConfig};
use clap::Args;
use std::time::Duration;

/// Which database, and how long to wait for it.
#[derive(Debug, Args)]
pub struct DatabaseArgs {
    /// The PostgreSQL database: `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`
    /// (or libpq's `host=... dbname=...` form; a directory as host is a Unix socket).
    #[arg(
        long,
        env = "JOBHOST_DATABASE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub database: String,
    /// Seconds to wait for a connection before giving up.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=300))]
    pub database_connect_timeout: u64,
}

impl DatabaseArgs {
    /// The settings these arguments ask for.
    pub fn config(&self) -> DatabaseConfig {
        DatabaseConfig {
            connect_timeout: Duration::from_secs(self.database_connect_timeout),
            ..DatabaseConfig::new(self.database.clone())
        }
    }
}

/// Applies the missing migrations and says what it did.
pub fn main(args: &DatabaseArgs) -> anyhow::Result<i32> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let db = Database::connect(&args.config()).await?;
        let done = db.migrate().await?;
        if done.applied.is_empty() {
            println!(
                "the schema of {} is up to date (version {})",
                db.target(),
                done.version
            );
        } else {
            for m in &done.applied {
                println!("applied migration {}: {}", m.version, m.name);
            }
            println!(
                "the schema of {} is at version {}",
                db.target(),
                done.version
            );
        }
        Ok(0)
    })
}
