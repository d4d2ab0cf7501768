//! `jobhost token create|list|revoke`: the token file of a data directory,
//! changed under its lock; a running server on that directory picks the
//! change up within a second.

use crate::auth::{Role, file};
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};

/// Manage bearer tokens.
#[derive(Debug, Subcommand)]
pub(super) enum TokenCommand {
    /// Create a token and print it (only its digest is stored).
    Create {
        /// The user's email, recorded as `created_by`.
        #[arg(long)]
        user: String,
        /// The tenant the token is scoped to.
        #[arg(long, default_value = "default")]
        tenant: String,
        /// operator (manages job types and reads /metrics for all tenants), admin, user or agent.
        #[arg(long, default_value = "user")]
        role: Role,
        #[command(flatten)]
        file: TokenFile,
    },
    /// List tokens: id, user, tenant, role, creation time (never the tokens).
    List {
        /// Only this tenant's.
        #[arg(long)]
        tenant: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        file: TokenFile,
    },
    /// Revoke a token by its id (from `token list`).
    Revoke {
        /// The token's id: 16 hex digits.
        id: String,
        #[command(flatten)]
        file: TokenFile,
    },
}

#[derive(Debug, Args)]
pub(super) struct TokenFile {
    /// Token file; default DATA_DIR/tokens.json.
    #[arg(long, env = "JOBHOST_TOKENS_FILE")]
    tokens_file: Option<PathBuf>,
}

impl TokenFile {
    fn path(&self, data_dir: &Path) -> PathBuf {
        self.tokens_file
            .clone()
            .unwrap_or_else(|| data_dir.join("tokens.json"))
    }
}

/// Runs a token command; the exit code.
pub(super) fn main(command: TokenCommand, data_dir: &Path) -> anyhow::Result<i32> {
    match command {
        TokenCommand::Create {
            user,
            tenant,
            role,
            file,
        } => {
            let path = file.path(data_dir);
            let (token, entry) = file::create(&path, &user, &tenant, role)?;
            println!("{token}");
            eprintln!(
                "created {} token {} for {user} in tenant {tenant}, in {} \
                 (shown only once; a server using that file accepts it within a second)",
                role.as_str(),
                entry.id(),
                path.display()
            );
            Ok(0)
        }
        TokenCommand::List { tenant, json, file } => {
            let path = file.path(data_dir);
            let tokens: Vec<file::Entry> = file::read(&path)?
                .tokens
                .into_iter()
                .filter(|e| tenant.as_deref().is_none_or(|t| e.tenant.0 == t))
                .collect();
            if json {
                let items: Vec<_> = tokens.iter().map(file::Entry::view).collect();
                println!("{}", serde_json::to_string_pretty(&items)?);
                return Ok(0);
            }
            println!(
                "{:<16}  {:<8}  {:<16}  {:<27}  user",
                "id", "role", "tenant", "created"
            );
            for e in &tokens {
                let created = e.view()["created_at"].as_str().unwrap_or("-").to_string();
                println!(
                    "{:<16}  {:<8}  {:<16}  {:<27}  {}",
                    e.id(),
                    e.role.as_str(),
                    e.tenant.0,
                    created,
                    e.user
                );
            }
            Ok(0)
        }
        TokenCommand::Revoke { id, file } => {
            let path = file.path(data_dir);
            match file::revoke(&path, &id, |_| true)? {
                Some(e) => {
                    println!(
                        "revoked token {id} of {} (tenant {}); a server using {} refuses it within a second",
                        e.user,
                        e.tenant,
                        path.display()
                    );
                    Ok(0)
                }
                None => {
                    eprintln!("error: no token with id `{id}` in {}", path.display());
                    Ok(2)
                }
            }
        }
    }
}
