//! PostgreSQL, the store several jobhost hosts are to share (sled stays the
//! default store of a single host): connecting through a bounded pool, the
//! versioned schema ([`Database::migrate`]), jobs and runs stored, runs
//! taken from the queue the hosts share and written under fencing
//! ([`Database::begin_claim`]), and the store's traits on top
//! ([`Postgres`]).
//!
//! Work in progress: `jobhost migrate` uses it, and [`Postgres`] implements
//! every store trait ([`crate::store::Backend`]); the server does not store
//! in PostgreSQL yet.

mod asks;
mod backend;
mod checkpoints;
mod events;
mod idempotency;
mod jobs;
mod logs;
mod migrate;
mod queue;
mod registry;
mod runs;
mod schedules;
mod secrets;
mod webhooks;

pub use backend::Postgres;
pub use migrate::{Applied, MIGRATIONS, Migration, Migrations};
pub use queue::Taking;

use std::time::Duration;
use tokio_postgres::config::Host;

/// What goes wrong talking to the database. Messages name the database by
/// host and name, never by its URL (which may carry a password).
#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    /// The URL does not parse or names no database.
    #[error("the database URL is not usable: {0}")]
    Url(String),
    /// No connection could be made.
    #[error("cannot reach the database {target}: {reason}")]
    Unreachable {
        /// Host(s) and database name.
        target: String,
        /// Why, as the driver said it.
        reason: String,
    },
    /// A statement failed.
    #[error("the database {target} refused {what}: {reason}")]
    Statement {
        /// Host(s) and database name.
        target: String,
        /// What was being done.
        what: String,
        /// Why, as the server said it.
        reason: String,
    },
    /// The database's schema is newer than this build knows.
    #[error(
        "the database {target} has schema version {found}, newer than this build of jobhost knows ({known}): run a newer jobhost"
    )]
    NewerSchema {
        /// Host(s) and database name.
        target: String,
        /// The database's version.
        found: i32,
        /// The newest version this build has.
        known: i32,
    },
    /// A write for an attempt that no longer holds the run (fencing).
    #[error("attempt {attempt} no longer holds the run: {why}")]
    Stale {
        /// The writer's attempt.
        attempt: u32,
        /// What holds it now.
        why: String,
    },
    /// A conditional write found another state than expected.
    #[error("the record changed meanwhile")]
    Conflict,
    /// A stored record does not decode.
    #[error("the stored {record} {id} is damaged and cannot be read: {reason}")]
    Corrupt {
        /// What kind of record.
        record: crate::store::Record,
        /// Which one.
        id: String,
        /// Why it does not decode.
        reason: String,
    },
    /// Another host serving the database has this host's id.
    #[error(
        "another host serving {target} has this host's id `{host}` (its data directory's host-id file): was the data directory copied? Remove host-id from the copy to give it an id of its own"
    )]
    HostIdInUse {
        /// The id.
        host: String,
        /// Host(s) and database name.
        target: String,
    },
    /// A migration applied earlier differs from this build's.
    #[error(
        "migration {version} ({name}) was applied to {target} from different SQL than this build's; this database and build do not belong together"
    )]
    Altered {
        /// Host(s) and database name.
        target: String,
        /// The migration's version.
        version: i32,
        /// The migration's name.
        name: String,
    },
}

/// How to reach the database.
#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    /// A libpq-style URL or key=value string (`postgres://user@host/db`,
    /// `host=/run/postgresql dbname=jobhost`).
    pub url: String,
    /// Most connections open at once.
    pub pool_size: usize,
    /// Longest wait to open a connection, and for a free one in the pool.
    pub connect_timeout: Duration,
}

impl DatabaseConfig {
    /// `url` with the default pool size (16) and connect timeout (5 s).
    pub fn new(url: impl Into<String>) -> Self {
        DatabaseConfig {
            url: url.into(),
            pool_size: 16,
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// A pool of connections to one database.
#[derive(Clone)]
pub struct Database {
    pool: deadpool_postgres::Pool,
    target: String,
}

impl Database {
    /// Parses the URL and checks the database answers; the pool then opens
    /// connections as they are needed, up to its size.
    pub async fn connect(config: &DatabaseConfig) -> Result<Self, DatabaseError> {
        let mut pg: tokio_postgres::Config = config
            .url
            .parse()
            .map_err(|e: tokio_postgres::Error| DatabaseError::Url(e.to_string()))?;
        if pg.get_dbname().is_none() {
            return Err(DatabaseError::Url(
                "it names no database (postgres://USER@HOST/DATABASE)".into(),
            ));
        }
        if pg.get_application_name().is_none() {
            pg.application_name("jobhost");
        }
        pg.connect_timeout(config.connect_timeout);
        let target = describe(&pg);
        let manager = deadpool_postgres::Manager::from_config(
            pg,
            tokio_postgres::NoTls,
            deadpool_postgres::ManagerConfig {
                recycling_method: deadpool_postgres::RecyclingMethod::Fast,
            },
        );
        let pool = deadpool_postgres::Pool::builder(manager)
            .max_size(config.pool_size.max(1))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(config.connect_timeout))
            .create_timeout(Some(config.connect_timeout))
            .build()
            .map_err(|e| DatabaseError::Url(e.to_string()))?;
        let db = Database { pool, target };
        drop(db.client().await?); // back to the pool, open
        Ok(db)
    }

    /// The database as messages name it: host(s) and database name.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// A connection from the pool.
    pub(crate) async fn client(&self) -> Result<deadpool_postgres::Client, DatabaseError> {
        self.pool
            .get()
            .await
            .map_err(|e| DatabaseError::Unreachable {
                target: self.target.clone(),
                reason: match e {
                    deadpool_postgres::PoolError::Backend(e) => reason(&e),
                    other => other.to_string(),
                },
            })
    }

    /// Tries to take session advisory lock `key` on `client`, or on a new
    /// connection out of the pool: the lock is held until that connection
    /// closes. Returns the connection and whether it holds the lock
    /// (another session may).
    pub(crate) async fn try_hold(
        &self,
        client: Option<deadpool_postgres::ClientWrapper>,
        key: i64,
        what: &str,
    ) -> Result<(deadpool_postgres::ClientWrapper, bool), DatabaseError> {
        let client = match client {
            Some(client) => client,
            None => deadpool_postgres::Object::take(self.client().await?),
        };
        let row = client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&key])
            .await
            .map_err(|e| self.refused(what, &e))?;
        let held = row.get::<_, bool>(0);
        Ok((client, held))
    }

    /// A failed statement, with what was being done; a lost connection
    /// or a server shutting down or starting reads as unreachable.
    pub(crate) fn refused(&self, what: &str, e: &tokio_postgres::Error) -> DatabaseError {
        if lost(e) {
            return DatabaseError::Unreachable {
                target: self.target.clone(),
                reason: format!("{what}: {}", reason(e)),
            };
        }
        DatabaseError::Statement {
            target: self.target.clone(),
            what: what.to_string(),
            reason: reason(e),
        }
    }
}

/// Whether `e` says the connection is gone or the server cannot serve
/// (SQLSTATE class 08, or 57P01-57P03: shutting down, crashed, starting),
/// rather than that a statement was refused.
fn lost(e: &tokio_postgres::Error) -> bool {
    match e.code() {
        Some(code) => {
            let code = code.code();
            code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03")
        }
        None => e.is_closed() || e.as_db_error().is_none(),
    }
}

impl DatabaseError {
    /// Whether the database could not be reached (worth retrying soon),
    /// rather than refusing what was asked.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, DatabaseError::Unreachable { .. })
    }
}

/// The advisory lock key named by `name`: the first 8 bytes of its SHA-256.
pub(crate) fn advisory_key(name: &str) -> i64 {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(name.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

/// The driver's error with its cause (`tokio_postgres::Error`'s own text
/// is often just "error connecting to server").
fn reason(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{}: {}", db.code().code(), db.message());
    }
    match std::error::Error::source(e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

/// A record stored as JSON in `column` of `row`, or
/// [`DatabaseError::Corrupt`] naming it as `record` `id`.
fn decode<T: serde::de::DeserializeOwned>(
    row: &tokio_postgres::Row,
    column: usize,
    record: crate::store::Record,
    id: impl FnOnce() -> String,
) -> Result<T, DatabaseError> {
    row.try_get::<_, tokio_postgres::types::Json<T>>(column)
        .map(|tokio_postgres::types::Json(value)| value)
        .map_err(|e| DatabaseError::Corrupt {
            record,
            id: id(),
            reason: cause(&e),
        })
}

/// Why a value did not decode: the deserialiser's message.
fn cause(e: &tokio_postgres::Error) -> String {
    match std::error::Error::source(e) {
        Some(cause) => cause.to_string(),
        None => e.to_string(),
    }
}

/// "`db` on host:port" (no user, no password).
fn describe(pg: &tokio_postgres::Config) -> String {
    let ports = pg.get_ports();
    let hosts: Vec<String> = pg
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
            match h {
                Host::Tcp(name) => format!("{name}:{port}"),
                #[cfg(unix)]
                Host::Unix(dir) => format!("{}/.s.PGSQL.{port}", dir.display()),
            }
        })
        .collect();
    let hosts = if hosts.is_empty() {
        "localhost:5432".to_string()
    } else {
        hosts.join(",")
    };
    format!(
        "\"{}\" on {hosts}",
        pg.get_dbname().unwrap_or("(no database)")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_target_never_shows_the_password() {
        let pg: tokio_postgres::Config = "postgres://alice:s3cret@db.example:6543/jobs"
            .parse()
            .unwrap();
        let target = describe(&pg);
        assert_eq!(target, "\"jobs\" on db.example:6543");
        assert!(!target.contains("s3cret"));
        let pg: tokio_postgres::Config = "host=/run/pg dbname=jobhost".parse().unwrap();
        assert_eq!(describe(&pg), "\"jobhost\" on /run/pg/.s.PGSQL.5432");
    }

    #[tokio::test]
    async fn a_url_without_a_database_is_refused_before_connecting() {
        let e = Database::connect(&DatabaseConfig::new("postgres://u@localhost"))
            .await
            .err()
            .expect("refused");
        assert!(e.to_string().contains("names no database"), "{e}");
        let e = Database::connect(&DatabaseConfig::new("postgres://u@host:notaport/db"))
            .await
            .err()
            .expect("refused");
        assert!(matches!(e, DatabaseError::Url(_)), "{e}");
    }
}
