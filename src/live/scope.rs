//! The scope in force: who the instance runs as and what of the tenant it
//! serves, as the live task and the API both see it.

use crate::engine::Served;
use crate::engine::routing::RoutingConfig;
use serde::Serialize;
use std::fmt;
use std::sync::Arc;

/// Who this instance is, as the directory says.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Identity {
    pub instance: String,
    pub application: String,
    /// The person the application logs on as; `None`: it sees nothing.
    pub person: Option<String>,
    pub access_groups: Vec<String>,
}

/// Where the scope in force came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ScopeSource {
    /// The tenant's files, read directly.
    Directory,
    /// The configuration server, live.
    ConfigServer,
    /// The last snapshot kept in this instance's database: the configuration
    /// server is unreachable.
    Cache,
}

impl fmt::Display for ScopeSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ScopeSource::Directory => "the tenant's directory files",
            ScopeSource::ConfigServer => "the configuration server",
            ScopeSource::Cache => "the cached snapshot (the configuration server is unreachable)",
        })
    }
}

/// The identity and scope in force.
#[derive(Debug, Clone, PartialEq)]
pub struct ScopeState {
    pub identity: Identity,
    pub served: Served,
    /// How the served processes are routed: views, strategies, agents.
    pub routing: Arc<RoutingConfig>,
    /// The configuration server's revision it reflects.
    pub revision: Option<u64>,
    pub source: ScopeSource,
    /// Why the instance serves nothing, when it does not (e.g. its secret
    /// was refused).
    pub problem: Option<String>,
}
