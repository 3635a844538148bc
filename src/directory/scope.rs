//! The scope of an interaction server: the business processes its identity
//! may read.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::acl::Principal;
use super::model::{BusinessProcess, Directory, Role};

/// What one application serves, and as whom.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    pub application: String,
    /// The `log_on_as` person; `None` when the application runs as nobody.
    pub person: Option<String>,
    /// The access groups of that person.
    pub access_groups: BTreeSet<String>,
    /// The roles those groups confer.
    pub roles: BTreeSet<Role>,
    /// Every business process the person can read, as the person sees it
    /// (grants are shown only where it holds `read_permissions`).
    pub processes: BTreeMap<String, BusinessProcess>,
}

impl Scope {
    pub fn process_names(&self) -> impl Iterator<Item = &str> {
        self.processes.keys().map(String::as_str)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    #[error("no application named '{0}'")]
    UnknownApplication(String),
}

impl Directory {
    /// The scope of application `app`: its `log_on_as` person, that person's
    /// groups and roles, and the processes it can read. An application without
    /// `log_on_as` gets an empty scope with `person: None`.
    pub fn scope_for_application(&self, app: &str) -> Result<Scope, ScopeError> {
        let application = self
            .applications
            .get(app)
            .ok_or_else(|| ScopeError::UnknownApplication(app.to_owned()))?;
        let Some(person) = application.log_on_as.as_deref() else {
            return Ok(Scope {
                application: app.to_owned(),
                person: None,
                access_groups: BTreeSet::new(),
                roles: BTreeSet::new(),
                processes: BTreeMap::new(),
            });
        };
        let caller = self.caller(Principal::Person(person));
        let processes = self
            .processes
            .keys()
            .filter_map(|name| {
                let process = self.process_as_seen_by(&caller, name)?;
                Some((name.clone(), process))
            })
            .collect();
        Ok(Scope {
            application: app.to_owned(),
            person: Some(person.to_owned()),
            access_groups: self
                .groups_of(person)
                .into_iter()
                .map(str::to_owned)
                .collect(),
            roles: self.roles_of(person),
            processes,
        })
    }
}
