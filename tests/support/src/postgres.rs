//! A throwaway PostgreSQL cluster for tests and benchmarks: initialised in
//! a temporary directory, listening only on a Unix socket there, stopped and
//! removed when dropped. Run as the `postgres` system user when the caller
//! is root (initdb refuses root). Debian's `postgresql` package provides it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

/// A running cluster.
pub struct Postgres {
    bin: PathBuf,
    dir: PathBuf,
    /// Run PostgreSQL's programs as this user (`runuser`), if any.
    user: Option<&'static str>,
    /// The server's options, as `pg_ctl -o` takes them.
    options: String,
}

/// Why a cluster could not be had, naming what to install.
pub fn missing() -> Option<String> {
    match bin_dir() {
        Some(_) => None,
        None => Some(
            "PostgreSQL's server programs (initdb, pg_ctl) are not installed \
             (`apt-get install postgresql`)"
                .into(),
        ),
    }
}

/// Where `initdb` and `pg_ctl` are: `pg_config --bindir`, else the newest
/// of Debian's `/usr/lib/postgresql/*/bin`.
fn bin_dir() -> Option<PathBuf> {
    let from_config = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let mut candidates: Vec<PathBuf> = from_config.into_iter().collect();
    if let Ok(versions) = std::fs::read_dir("/usr/lib/postgresql") {
        let mut found: Vec<PathBuf> = versions.flatten().map(|v| v.path().join("bin")).collect();
        found.sort();
        candidates.extend(found.into_iter().rev());
    }
    candidates
        .into_iter()
        .find(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

impl Postgres {
    /// Starts a fresh cluster (a few seconds). `fsync` off: tests need no
    /// durability across power loss; benchmarks should use
    /// [`Postgres::start_durable`].
    pub fn start() -> Result<Postgres, String> {
        Postgres::start_with(false)
    }

    /// Starts a fresh cluster that syncs its WAL as a production one does.
    pub fn start_durable() -> Result<Postgres, String> {
        Postgres::start_with(true)
    }

    fn start_with(fsync: bool) -> Result<Postgres, String> {
        static N: AtomicU32 = AtomicU32::new(0);
        let bin = bin_dir().ok_or_else(|| missing().unwrap_or_default())?;
        let dir = std::env::temp_dir().join(format!(
            "jobhost-pg-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let user = is_root().then_some("postgres");
        let options = format!(
            "-c listen_addresses='' -k {} -c fsync={} -c max_connections=200",
            dir.display(),
            if fsync { "on" } else { "off" }
        );
        let pg = Postgres {
            bin,
            dir,
            user,
            options,
        };
        if let Some(user) = user {
            pg.check(Command::new("chown").args([user, &pg.dir.display().to_string()]))?;
        }
        let data = pg.dir.join("data");
        pg.check(
            pg.program("initdb")
                .args([
                    "-U",
                    "postgres",
                    "-A",
                    "trust",
                    "--no-sync",
                    "-E",
                    "UTF8",
                    "-D",
                ])
                .arg(&data),
        )?;
        pg.restart()?;
        Ok(pg)
    }

    fn program(&self, name: &str) -> Command {
        let path = self.bin.join(name);
        let mut c = match self.user {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(path);
                c
            }
            None => Command::new(path),
        };
        // The caller's directory may be closed to that user.
        c.current_dir(&self.dir);
        c
    }

    fn check(&self, command: &mut Command) -> Result<Output, String> {
        let out = command.output().map_err(|e| format!("{command:?}: {e}"))?;
        if out.status.success() {
            Ok(out)
        } else {
            Err(format!(
                "{command:?} failed ({}): {}{}",
                out.status,
                String::from_utf8_lossy(&out.stderr),
                std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
            ))
        }
    }

    /// Stops the cluster at once, as a crash would (`pg_ctl stop -m
    /// immediate`); [`Postgres::restart`] starts it again.
    pub fn stop(&self) -> Result<(), String> {
        self.check(
            self.program("pg_ctl")
                .args(["-w", "-m", "immediate", "-D"])
                .arg(self.dir.join("data"))
                .arg("stop"),
        )
        .map(drop)
    }

    /// Starts a stopped cluster again, as it was started.
    pub fn restart(&self) -> Result<(), String> {
        self.check(
            self.program("pg_ctl")
                .args(["-w", "-t", "60", "-D"])
                .arg(self.dir.join("data"))
                .args(["-o", &self.options, "-l"])
                .arg(self.dir.join("log"))
                .arg("start"),
        )
        .map(drop)
    }

    /// The directory holding the cluster's socket.
    pub fn socket_dir(&self) -> &Path {
        &self.dir
    }

    /// Creates database `name`; returns its URL.
    pub fn create_database(&self, name: &str) -> Result<String, String> {
        self.check(self.program("createdb").args([
            "-h",
            &self.dir.display().to_string(),
            "-U",
            "postgres",
            name,
        ]))?;
        Ok(self.url(name))
    }

    /// The URL of database `name` (user `postgres`, over the socket).
    pub fn url(&self, name: &str) -> String {
        format!("host={} user=postgres dbname={name}", self.dir.display())
    }

    /// Runs `sql` in database `name` with `psql`; its unaligned output.
    pub fn psql(&self, name: &str, sql: &str) -> Result<String, String> {
        let out = self.check(self.program("psql").args([
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            &self.dir.display().to_string(),
            "-U",
            "postgres",
            "-d",
            name,
            "-c",
            sql,
        ]))?;
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self
            .program("pg_ctl")
            .args(["-m", "immediate", "-D"])
            .arg(self.dir.join("data"))
            .arg("stop")
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
