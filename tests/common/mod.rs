//! The harness shared by the integration tests: a fresh PostgreSQL database
//! per instance (dropped at the end, stale ones swept), instances built in
//! the test process on port 0 with typed helpers per endpoint, the tenant's
//! configuration server on a scratch copy of the example tenant (and the
//! tenant's two instances following it), and the real binary for what needs
//! a process of its own.
//!
//! Each test file uses a different part of it.
#![allow(dead_code, unused_imports)]

pub mod answer;
pub mod config_server;
pub mod db;
pub mod instance;
pub mod process;
pub mod session;
pub mod sse;
pub mod tenant;

pub use answer::Answer;
pub use config_server::TestConfigServer;
pub use db::TestDb;
pub use instance::{
    Solution, TestInstance, counts, gateway, journal_gaps, spawn_instance,
    spawn_instance_on_server, spawn_instance_with, start_on, start_on_server, tweak,
};
pub use sse::LiveStream;
pub use tenant::Tenant;

use std::future::Future;
use std::time::Duration;

/// Polls `check` every 20 ms until it returns `Some`, or panics with `what`
/// after `limit`.
pub async fn eventually<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
