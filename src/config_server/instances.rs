//! The interaction servers the configuration server knows: each one says at
//! log-in which solution it serves and the address it serves on, and is
//! connected while its watch stream is open. Readers of an application see
//! its instance (`GET /v1/instances`), so that one reporter's credentials
//! find every instance of the tenant.
//!
//! An active instance and its hot backup share their application: each is
//! listed by its own address, and `connected` is per application (the
//! server cannot tell which of the two a watch stream is from), so it
//! says whether the solution follows the configuration server.
//!
//! Kept in memory: after a restart of the configuration server each
//! instance announces itself again when it logs in anew (its token is
//! refused and its watch reconnects), so the list fills again by itself.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::Serialize;

/// What an interaction server says of itself when it logs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    /// Its instance name: the solution it serves.
    pub instance: String,
    /// The base URL its API answers on, e.g. `http://10.0.0.5:7201`.
    pub address: String,
}

/// One interaction server, as a reader of its application sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstanceView {
    pub application: String,
    pub instance: String,
    pub address: String,
    /// The latest revision it read or was sent.
    pub revision: u64,
    /// Whether an instance of its application follows the configuration
    /// server now (a watch stream of the application is open).
    pub connected: bool,
    /// When it last logged in, read or was sent a revision.
    pub last_seen: DateTime<Utc>,
}

#[derive(Debug)]
struct Known {
    instance: String,
    revision: u64,
    last_seen: DateTime<Utc>,
}

#[derive(Debug, Default)]
struct Registry {
    /// (application, address) → what it said and when.
    announced: BTreeMap<(String, String), Known>,
    /// Application → its open watch streams, announced or not.
    watches: BTreeMap<String, usize>,
}

/// The registry.
#[derive(Debug, Default)]
pub struct Instances {
    registry: Mutex<Registry>,
}

impl Instances {
    /// `application` logged in at `revision` and said what it is.
    pub fn announce(
        &self,
        application: &str,
        announced: Announcement,
        revision: u64,
        now: DateTime<Utc>,
    ) {
        self.lock().announced.insert(
            (application.to_owned(), announced.address),
            Known {
                instance: announced.instance,
                revision,
                last_seen: now,
            },
        );
    }

    /// `application` read or was sent `revision`: each of its instances
    /// follows the same revisions.
    pub fn saw(&self, application: &str, revision: u64, now: DateTime<Utc>) {
        let mut registry = self.lock();
        let of_application = registry
            .announced
            .iter_mut()
            .filter(|((app, _), _)| app == application);
        for (_, known) in of_application {
            known.revision = known.revision.max(revision);
            known.last_seen = now;
        }
    }

    /// `application` opened a watch stream: connected until the returned
    /// guard is dropped (with the stream).
    pub fn watching(self: &Arc<Self>, application: &str) -> Watching {
        *self
            .lock()
            .watches
            .entry(application.to_owned())
            .or_default() += 1;
        Watching {
            instances: self.clone(),
            application: application.to_owned(),
        }
    }

    /// Every known instance whose application `may_read` admits, by
    /// application name.
    pub fn list(&self, may_read: impl Fn(&str) -> bool) -> Vec<InstanceView> {
        let registry = self.lock();
        registry
            .announced
            .iter()
            .filter(|((application, _), _)| may_read(application))
            .map(|((application, address), known)| InstanceView {
                application: application.clone(),
                instance: known.instance.clone(),
                address: address.clone(),
                revision: known.revision,
                connected: registry.watches.get(application).is_some_and(|n| *n > 0),
                last_seen: known.last_seen,
            })
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Registry> {
        // A panic while holding it leaves plain data, still consistent.
        self.registry
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// An open watch stream of an application.
#[derive(Debug)]
pub struct Watching {
    instances: Arc<Instances>,
    application: String,
}

impl Drop for Watching {
    fn drop(&mut self) {
        let mut registry = self.instances.lock();
        if let Some(open) = registry.watches.get_mut(&self.application) {
            *open -= 1;
            if *open == 0 {
                registry.watches.remove(&self.application);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + secs, 0).unwrap()
    }

    fn sales() -> Announcement {
        Announcement {
            instance: "sales".into(),
            address: "http://127.0.0.1:7201".into(),
        }
    }

    #[test]
    fn an_instance_is_connected_while_a_watch_is_open_and_shown_to_its_readers_only() {
        let instances = Arc::new(Instances::default());
        instances.announce("ixs-sales", sales(), 3, at(0));
        let everyone = |_: &str| true;
        assert!(!instances.list(everyone)[0].connected);

        let first = instances.watching("ixs-sales");
        let second = instances.watching("ixs-sales");
        instances.saw("ixs-sales", 4, at(5));
        // Logging in again keeps the open streams.
        instances.announce("ixs-sales", sales(), 4, at(6));
        let listed = instances.list(everyone);
        assert_eq!(
            listed,
            [InstanceView {
                application: "ixs-sales".into(),
                instance: "sales".into(),
                address: "http://127.0.0.1:7201".into(),
                revision: 4,
                connected: true,
                last_seen: at(6),
            }]
        );
        drop(first);
        assert!(instances.list(everyone)[0].connected);
        drop(second);
        assert!(!instances.list(everyone)[0].connected);

        assert_eq!(instances.list(|app| app != "ixs-sales"), []);
    }

    #[test]
    fn a_standby_is_listed_by_its_own_address_and_a_watch_before_the_announcement_counts() {
        let instances = Arc::new(Instances::default());
        // A stream opened before the instance said what it is.
        let early = instances.watching("ixs-sales");
        instances.announce("ixs-sales", sales(), 2, at(0));
        let standby = Announcement {
            instance: "sales".into(),
            address: "http://127.0.0.1:7301".into(),
        };
        instances.announce("ixs-sales", standby, 2, at(1));
        let late = instances.watching("ixs-sales");
        drop(early);
        let listed = instances.list(|_| true);
        let addresses: Vec<(&str, bool)> = listed
            .iter()
            .map(|i| (i.address.as_str(), i.connected))
            .collect();
        assert_eq!(
            addresses,
            [
                ("http://127.0.0.1:7201", true),
                ("http://127.0.0.1:7301", true)
            ]
        );
        drop(late);
        assert!(instances.list(|_| true).iter().all(|i| !i.connected));
    }

    #[test]
    fn a_revision_seen_never_goes_back_and_an_unknown_application_is_not_listed() {
        let instances = Arc::new(Instances::default());
        instances.saw("ixs-support", 9, at(0));
        drop(instances.watching("ixs-support"));
        assert_eq!(instances.list(|_| true), []);
        instances.announce("ixs-sales", sales(), 5, at(0));
        instances.saw("ixs-sales", 3, at(1));
        assert_eq!(instances.list(|_| true)[0].revision, 5);
    }
}
