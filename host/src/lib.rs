//! jobhost: a WebAssembly plugin host for job types. Plugins are components
//! built against `wit/plugin.wit`; the [`registry`] loads and validates them
//! and the [`runtime`] runs each job in a fresh sandbox under limits.

pub mod allocator;
pub mod api;
pub mod auth;
pub mod author;
pub mod bundled;
pub mod cli;
pub mod durable;
pub mod egress;
pub mod events;
mod faults;
pub mod identity;
pub mod job_type;
pub mod listener;
pub mod mcp;
pub mod metrics;
pub mod model;
pub mod registry;
pub mod runtime;
pub mod scheduler;
pub mod server;
pub mod service;
pub mod store;
pub mod ui;
pub mod vault;
pub mod webhooks;
pub mod worker;
