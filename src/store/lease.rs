//! The instance lease: one row per database naming the one instance that may
//! write to it. The holder renews it; every batch it commits checks, in the
//! same transaction, that its epoch still holds, so a paused or partitioned
//! former holder can never write after a backup took over. The database's
//! clock decides expiry, so the instances' clocks need not agree.

use chrono::{DateTime, Utc};
use std::fmt;
use uuid::Uuid;

/// Who asks for the lease: the instance's name plus what tells one run from
/// another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseHolder {
    /// The instance name from its settings (e.g. `sales`).
    pub instance: String,
    /// Unique per run: host, process id and a random id.
    pub id: String,
}

impl LeaseHolder {
    pub fn new(instance: &str) -> Self {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_else(|_| "unknown-host".to_owned());
        LeaseHolder {
            instance: instance.to_owned(),
            id: format!("{host}:{}:{}", std::process::id(), Uuid::now_v7()),
        }
    }
}

/// Proof of holding the lease, checked by every write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    pub holder: String,
    pub epoch: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseOutcome {
    Acquired(Fence),
    /// Someone else holds it.
    Held {
        instance: String,
        holder: String,
        expires_at: DateTime<Utc>,
    },
}

impl fmt::Display for LeaseOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LeaseOutcome::Acquired(fence) => write!(f, "acquired at epoch {}", fence.epoch),
            LeaseOutcome::Held {
                instance,
                holder,
                expires_at,
            } => write!(
                f,
                "held by instance '{instance}' ({holder}) until {expires_at} unless renewed"
            ),
        }
    }
}
