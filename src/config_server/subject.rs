//! Who logged in, and what of the directory that login may see.
//!
//! A person sees the directory as [`Directory::filtered_for`] that person.
//! An application sees it as its current `log_on_as` person does; without
//! one (or when that person no longer exists) it sees an empty tenant:
//! `Directory::empty` with the tenant's description.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::directory::{Directory, Role, SecretHash};

/// The principal of a session.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Subject {
    Application(String),
    Person(String),
}

impl Subject {
    pub fn name(&self) -> &str {
        match self {
            Subject::Application(name) | Subject::Person(name) => name,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Subject::Application(_) => "application",
            Subject::Person(_) => "person",
        }
    }

    /// The secret or password hash this subject logs in with in `dir`;
    /// `None` when it no longer exists or can no longer log in.
    pub fn credential<'d>(&self, dir: &'d Directory) -> Option<&'d SecretHash> {
        match self {
            Subject::Application(name) => dir.applications.get(name)?.secret_hash.as_ref(),
            Subject::Person(name) => dir.persons.get(name)?.password_hash.as_ref(),
        }
    }

    /// The person whose permissions apply to this subject in `dir`: the
    /// person itself, or the application's `log_on_as`. `None`: it sees
    /// nothing.
    pub fn viewer<'d>(&self, dir: &'d Directory) -> Option<&'d str> {
        let person = match self {
            Subject::Person(name) => name.as_str(),
            Subject::Application(name) => dir.applications.get(name)?.log_on_as.as_deref()?,
        };
        dir.persons
            .get_key_value(person)
            .map(|(name, _)| name.as_str())
    }

    /// The directory as this subject may read it. Without a viewer, the
    /// tenant's name and description only: the context every caller knows.
    pub fn visible(&self, dir: &Directory) -> Directory {
        match self.viewer(dir) {
            Some(person) => dir.filtered_for(person),
            None => {
                let mut empty = Directory::empty(&dir.tenant.name);
                empty.tenant.description = dir.tenant.description.clone();
                empty
            }
        }
    }

    /// Who this subject is in `dir`, for `whoami`.
    pub fn identity(&self, dir: &Directory) -> Identity {
        let person = self.viewer(dir);
        Identity {
            application: match self {
                Subject::Application(name) => Some(name.clone()),
                Subject::Person(_) => None,
            },
            person: person.map(str::to_owned),
            access_groups: person
                .map(|p| dir.groups_of(p).into_iter().map(str::to_owned).collect())
                .unwrap_or_default(),
            roles: person.map(|p| dir.roles_of(p)).unwrap_or_default(),
        }
    }
}

/// A subject as `whoami` describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Identity {
    /// The application that logged in, if it was one.
    pub application: Option<String>,
    /// The person whose permissions apply; `None`: it sees nothing.
    pub person: Option<String>,
    pub access_groups: BTreeSet<String>,
    pub roles: BTreeSet<Role>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acme() -> Directory {
        Directory::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/tenant"))
            .unwrap()
    }

    #[test]
    fn an_application_sees_as_its_person() {
        let dir = acme();
        let app = Subject::Application("ixs-sales".into());
        assert_eq!(app.viewer(&dir), Some("svc-sales"));
        let seen = app.visible(&dir);
        let processes: Vec<&str> = seen.processes.keys().map(String::as_str).collect();
        assert_eq!(processes, ["sales-chat", "sales-email"]);
        let who = app.identity(&dir);
        assert_eq!(who.application.as_deref(), Some("ixs-sales"));
        assert_eq!(who.person.as_deref(), Some("svc-sales"));
        assert!(who.access_groups.contains("sales-routing"));
    }

    #[test]
    fn an_application_without_person_sees_nothing() {
        let mut dir = acme();
        dir.applications.get_mut("ixs-sales").unwrap().log_on_as = None;
        let app = Subject::Application("ixs-sales".into());
        assert_eq!(app.viewer(&dir), None);
        let seen = app.visible(&dir);
        assert!(seen.processes.is_empty() && seen.persons.is_empty());
        assert!(seen.tenant.grants.is_empty());
        assert_eq!(seen.tenant.description, dir.tenant.description);
        let who = app.identity(&dir);
        assert_eq!(who.person, None);
        assert!(who.access_groups.is_empty() && who.roles.is_empty());
    }

    #[test]
    fn credentials_follow_the_directory() {
        let mut dir = acme();
        let anna = Subject::Person("anna".into());
        assert!(anna.credential(&dir).is_some());
        dir.persons.remove("anna");
        assert!(anna.credential(&dir).is_none());
        assert_eq!(anna.viewer(&dir), None);
    }
}
