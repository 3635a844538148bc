//! What changed between two views of the directory.
//!
//! A view is flattened into its objects, each keyed by kind and name: the
//! tenant, folders, media types, capacity rules, persons, access groups,
//! applications and business processes (a process carries its queues,
//! views, strategies and workbins, so a change to any of them is a change
//! of the process). Diffing two views *as one caller sees them* is what makes
//! a permission change that hides an object arrive as `deleted`, and one that
//! reveals it as `created`.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::directory::Directory;

/// The kinds of top-level objects, in the order changes are reported:
/// objects that others refer to come first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectKind {
    Tenant,
    Folder,
    MediaType,
    CapacityRule,
    Person,
    AccessGroup,
    Application,
    Process,
}

impl ObjectKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::Tenant => "tenant",
            ObjectKind::Folder => "folder",
            ObjectKind::MediaType => "media_type",
            ObjectKind::CapacityRule => "capacity_rule",
            ObjectKind::Person => "person",
            ObjectKind::AccessGroup => "access_group",
            ObjectKind::Application => "application",
            ObjectKind::Process => "process",
        }
    }
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The SSE event name of a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Created,
    Changed,
    Deleted,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Created => "created",
            ChangeKind::Changed => "changed",
            ChangeKind::Deleted => "deleted",
        }
    }
}

/// One object created, changed or deleted. `object` is the new state, and
/// `None` for a deletion.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ObjectChange {
    #[serde(skip)]
    pub change: ChangeKind,
    pub kind: ObjectKind,
    pub name: String,
    pub object: Option<Value>,
}

/// A view of the directory as a map of its objects.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Objects(BTreeMap<(ObjectKind, String), Value>);

impl Objects {
    /// The objects of `dir` (which should already be filtered for the
    /// caller: this function reports whatever it is given).
    pub fn of(dir: &Directory) -> Objects {
        let mut objects = BTreeMap::new();
        let mut put = |kind, name: &str, value: Value| {
            objects.insert((kind, name.to_owned()), value);
        };
        put(ObjectKind::Tenant, &dir.tenant.name, json(&dir.tenant));
        for (name, o) in &dir.folders {
            put(ObjectKind::Folder, name, json(o));
        }
        for (name, o) in &dir.media_types {
            put(ObjectKind::MediaType, name, json(o));
        }
        for (name, o) in &dir.capacity_rules {
            put(ObjectKind::CapacityRule, name, json(o));
        }
        for (name, o) in &dir.persons {
            put(ObjectKind::Person, name, json(o));
        }
        for (name, o) in &dir.access_groups {
            put(ObjectKind::AccessGroup, name, json(o));
        }
        for (name, o) in &dir.applications {
            put(ObjectKind::Application, name, json(o));
        }
        for (name, o) in &dir.processes {
            put(ObjectKind::Process, name, json(o));
        }
        Objects(objects)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// What turns `self` into `next`, in kind then name order.
    pub fn changes_to(&self, next: &Objects) -> Vec<ObjectChange> {
        let mut changes = Vec::new();
        for (key, old) in &self.0 {
            match next.0.get(key) {
                None => changes.push(change(ChangeKind::Deleted, key, None)),
                Some(new) if new != old => {
                    changes.push(change(ChangeKind::Changed, key, Some(new)));
                }
                Some(_) => {}
            }
        }
        for (key, new) in &next.0 {
            if !self.0.contains_key(key) {
                changes.push(change(ChangeKind::Created, key, Some(new)));
            }
        }
        changes.sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));
        changes
    }
}

fn change(
    change: ChangeKind,
    (kind, name): &(ObjectKind, String),
    object: Option<&Value>,
) -> ObjectChange {
    ObjectChange {
        change,
        kind: *kind,
        name: name.clone(),
        object: object.cloned(),
    }
}

fn json<T: Serialize>(value: &T) -> Value {
    // The directory's types serialise to JSON without fail: string keys,
    // no non-finite floats.
    serde_json::to_value(value).expect("directory objects serialise to JSON")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::{Grant, Grantee, Permission};

    fn acme() -> Directory {
        Directory::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/tenant"))
            .unwrap()
    }

    fn summary(changes: &[ObjectChange]) -> Vec<(&'static str, &'static str, &str)> {
        changes
            .iter()
            .map(|c| (c.change.as_str(), c.kind.as_str(), c.name.as_str()))
            .collect()
    }

    fn seen_by(dir: &Directory, person: &str) -> Objects {
        Objects::of(&dir.filtered_for(person))
    }

    #[test]
    fn equal_views_have_no_changes() {
        let dir = acme();
        let objects = Objects::of(&dir);
        assert!(objects.changes_to(&objects.clone()).is_empty());
        assert!(objects.len() > 20);
    }

    #[test]
    fn created_changed_and_deleted() {
        let old = acme();
        let mut new = old.clone();
        new.media_types.remove("workitem");
        let mut social = new.media_types["chat"].clone();
        social.name = "social".into();
        new.media_types.insert("social".into(), social);
        new.processes
            .get_mut("sales-chat")
            .unwrap()
            .queues
            .get_mut("overflow")
            .unwrap()
            .description = "Changed".into();
        let changes = Objects::of(&old).changes_to(&Objects::of(&new));
        assert_eq!(
            summary(&changes),
            [
                ("created", "media_type", "social"),
                ("deleted", "media_type", "workitem"),
                ("changed", "process", "sales-chat"),
            ]
        );
        assert!(changes[1].object.is_none());
        let process = changes[2].object.as_ref().unwrap();
        assert_eq!(process["queues"]["overflow"]["description"], "Changed");
    }

    #[test]
    fn a_permission_change_hides_and_reveals() {
        let old = acme();
        let mut new = old.clone();
        // Move sales-chat out of the sales folder and let support read it.
        let chat = new.processes.get_mut("sales-chat").unwrap();
        chat.folder = None;
        chat.grants.push(Grant {
            to: Grantee::Group("support-routing".into()),
            permissions: [Permission::Read].into(),
        });
        let sales = seen_by(&old, "svc-sales").changes_to(&seen_by(&new, "svc-sales"));
        assert_eq!(summary(&sales), [("deleted", "process", "sales-chat")]);
        let support = seen_by(&old, "svc-support").changes_to(&seen_by(&new, "svc-support"));
        assert_eq!(summary(&support), [("created", "process", "sales-chat")]);
        let created = support[0].object.as_ref().unwrap();
        assert_eq!(created["name"], "sales-chat");
        // Grants are not shown without read_permissions.
        assert_eq!(created["grants"], serde_json::json!([]));
        // The administrator sees it all along: for it, the process changed.
        let admin = seen_by(&old, "admin").changes_to(&seen_by(&new, "admin"));
        assert_eq!(summary(&admin), [("changed", "process", "sales-chat")]);
    }

    #[test]
    fn a_change_nobody_can_read_is_not_reported() {
        let old = acme();
        let mut new = old.clone();
        new.processes.get_mut("support-email").unwrap().description = "Changed".into();
        let sales = seen_by(&old, "svc-sales").changes_to(&seen_by(&new, "svc-sales"));
        assert!(sales.is_empty());
    }

    #[test]
    fn a_hash_change_is_invisible_to_callers() {
        let old = acme();
        let mut new = old.clone();
        new.applications.get_mut("ixs-sales").unwrap().secret_hash =
            Some(crate::directory::SecretHash::new("$argon2id$other"));
        let admin = seen_by(&old, "admin").changes_to(&seen_by(&new, "admin"));
        assert!(admin.is_empty());
    }

    #[test]
    fn a_renamed_tenant_is_deleted_then_created() {
        let old = acme();
        let mut new = old.clone();
        new.tenant.name = "acme2".into();
        let changes = Objects::of(&old).changes_to(&Objects::of(&new));
        assert_eq!(
            summary(&changes),
            [
                ("deleted", "tenant", "acme"),
                ("created", "tenant", "acme2")
            ]
        );
    }
}
