//! Integration tests: real components built from `plugins/` by the host's
//! build script, loaded and run through the public API and the CLI binary.

mod support;

mod cache;
mod cli;
mod examples;
mod hostile;
mod registry;
