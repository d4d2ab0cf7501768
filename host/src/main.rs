//! The `jobhost` binary: parses the command line and hands over to the library.

use clap::Parser;
use std::io::IsTerminal;

#[global_allocator]
static ALLOCATOR: jobhost::allocator::Allocator = jobhost::allocator::Allocator;

fn main() -> std::process::ExitCode {
    let cli = jobhost::cli::Cli::parse();
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into());
    // Colour only on a terminal: a file or a pipe gets plain text.
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    if cli.json_logs() {
        logs.json().init();
    } else {
        logs.init();
    }
    match jobhost::cli::main(cli) {
        Ok(code) => std::process::ExitCode::from(code as u8),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}
