//! What the engine serves: the business processes in this instance's scope,
//! with the queues and workbins they define, and the tenant's media types and
//! agents. Built by the daemon from the directory; the engine only reads it.

use std::collections::{BTreeMap, BTreeSet};

/// One business process as the engine sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServedProcess {
    pub queues: BTreeSet<String>,
    pub workbins: BTreeSet<String>,
}

/// The engine's view of its scope.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Served {
    pub processes: BTreeMap<String, ServedProcess>,
    pub media_types: BTreeSet<String>,
    pub agents: BTreeSet<String>,
}

impl Served {
    pub fn process(&self, name: &str) -> Option<&ServedProcess> {
        self.processes.get(name)
    }

    pub fn serves(&self, process: &str) -> bool {
        self.processes.contains_key(process)
    }

    pub fn has_queue(&self, process: &str, queue: &str) -> bool {
        self.process(process)
            .is_some_and(|p| p.queues.contains(queue))
    }
}
