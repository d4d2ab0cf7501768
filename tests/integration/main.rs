//! Integration tests: real components built from `plugins/` (the examples
//! by the host's build script, the fixtures by `jobhost-test-support`'s),
//! loaded and run through the public API, the CLI binary, the router
//! in-process, and the real server over HTTP on 127.0.0.1.

mod app;
#[path = "../components.rs"]
mod components;
mod origin;
mod python;
mod server;
mod support;
mod torture;
mod webhooks;

mod api_jobs;
mod api_runs;
mod author;
mod backends;
mod batch;
mod cache;
mod cli;
mod configs;
mod contract;
mod crashing_hosts;
mod damage;
mod egress;
mod egress_tls;
mod events;
mod examples;
mod fairness;
mod health;
mod hostile;
mod hostile_clients;
mod idempotency;
mod isolation;
mod job_changes;
mod leases;
mod lists;
mod llm;
mod logs;
mod mcp;
mod metrics;
mod openapi;
mod options;
mod pause;
mod plugins;
mod polyglot;
mod polyglot_authoring;
mod polyglot_egress;
mod postgres;

mod registry;
mod reload;
mod rerun;
mod retries;
mod schedules;
mod secrets;
mod serve_postgres;
mod several_hosts;
mod streams;
mod tokens;
mod ui;
mod uploads;
