//! ixs: an interaction routing server.
//!
//! See `ARCHITECTURE.md` for how the modules fit together.

pub mod api;
pub mod backoff;
pub mod bearer;
pub mod check;
pub mod config_client;
pub mod config_server;
pub mod daemon;
pub mod demo;
pub mod directory;
pub mod engine;
pub mod expr;
pub mod http_serve;
pub mod json_body;
pub mod live;
pub mod loadgen;
pub mod metrics;
pub mod naming;
pub mod report;
pub mod serde_words;
pub mod settings;
pub mod shutdown;
pub mod stats;
pub mod store;
pub mod telemetry;
