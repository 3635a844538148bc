//! Permissions: who may do what on which object.
//!
//! The rule, in full:
//!
//! 1. A [`Grant`] gives a set of permissions to one access group or one person.
//! 2. Every object has its own grants. Grants also *propagate downwards*: the
//!    tenant's grants apply to every object; a folder's grants apply to the
//!    objects in that folder; a business process's grants apply to its queues,
//!    strategies and workbins; a queue's grants apply to its views.
//! 3. A person holds a permission on an object when any grant on the object or
//!    on one of its ancestors gives that permission to the person itself or to
//!    an access group the person is a member of.
//! 4. Nothing else grants anything: there is no deny, no implication between
//!    permissions (`change` does not imply `read`), and an unknown person,
//!    "nobody" or an object that does not exist holds nothing.
//!
//! Because grants only add up along the chain, a child can never be less
//! readable than its process: whoever reads a process reads all of it.

use std::collections::{BTreeSet, HashSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use super::model::Directory;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// See the object and receive its change notifications.
    Read,
    Change,
    /// Use the object: run a strategy, submit to a queue…
    Execute,
    Delete,
    /// See the object's grants.
    ReadPermissions,
    ChangePermissions,
}

impl Permission {
    pub const ALL: [Permission; 6] = [
        Permission::Read,
        Permission::Change,
        Permission::Execute,
        Permission::Delete,
        Permission::ReadPermissions,
        Permission::ChangePermissions,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Read => "read",
            Permission::Change => "change",
            Permission::Execute => "execute",
            Permission::Delete => "delete",
            Permission::ReadPermissions => "read_permissions",
            Permission::ChangePermissions => "change_permissions",
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One ACL entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Grant {
    pub to: Grantee,
    pub permissions: BTreeSet<Permission>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Grantee {
    Group(String),
    Person(String),
}

/// Who is asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Principal<'a> {
    /// A person, by login name; its access groups are looked up.
    Person(&'a str),
    /// An application without `log_on_as`: holds no permission at all.
    Nobody,
}

impl<'a> From<&'a str> for Principal<'a> {
    fn from(person: &'a str) -> Self {
        Principal::Person(person)
    }
}

/// Names an object of the directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObjectRef<'a> {
    Tenant,
    Folder(&'a str),
    MediaType(&'a str),
    CapacityRule(&'a str),
    Person(&'a str),
    AccessGroup(&'a str),
    Application(&'a str),
    BusinessProcess(&'a str),
    Queue {
        process: &'a str,
        queue: &'a str,
    },
    View {
        process: &'a str,
        queue: &'a str,
        view: &'a str,
    },
    Strategy {
        process: &'a str,
        strategy: &'a str,
    },
    Workbin {
        process: &'a str,
        workbin: &'a str,
    },
}

/// A person together with its access groups, resolved once so that many
/// checks can share the lookup.
#[derive(Debug, Clone)]
pub(crate) struct Caller<'a> {
    person: Option<&'a str>,
    groups: HashSet<&'a str>,
}

impl<'a> Caller<'a> {
    pub(crate) fn nobody() -> Self {
        Caller {
            person: None,
            groups: HashSet::new(),
        }
    }

    fn is_granted(&self, grantee: &Grantee) -> bool {
        match grantee {
            Grantee::Person(name) => self.person == Some(name.as_str()),
            Grantee::Group(name) => self.groups.contains(name.as_str()),
        }
    }
}

/// The grants that apply to one object: its own and its ancestors'. At most
/// five levels (tenant, folder, process, queue, view).
struct AclChain<'d> {
    levels: [&'d [Grant]; 5],
    len: usize,
}

impl<'d> AclChain<'d> {
    fn new(tenant: &'d [Grant]) -> Self {
        AclChain {
            levels: [tenant, &[], &[], &[], &[]],
            len: 1,
        }
    }

    fn push(&mut self, grants: &'d [Grant]) {
        self.levels[self.len] = grants;
        self.len += 1;
    }

    fn grants(&self) -> impl Iterator<Item = &'d Grant> + '_ {
        self.levels[..self.len]
            .iter()
            .flat_map(|level| level.iter())
    }
}

impl Directory {
    /// Whether `who` holds `perm` on `obj` (see the module documentation for
    /// the rule). An object that does not exist is denied.
    pub fn can(&self, who: Principal<'_>, perm: Permission, obj: ObjectRef<'_>) -> bool {
        let caller = self.caller(who);
        self.caller_can(&caller, perm, obj)
    }

    /// Every permission `who` holds on `obj`.
    pub fn permissions(&self, who: Principal<'_>, obj: ObjectRef<'_>) -> BTreeSet<Permission> {
        let caller = self.caller(who);
        let Some(chain) = self.acl_chain(obj) else {
            return BTreeSet::new();
        };
        chain
            .grants()
            .filter(|g| caller.is_granted(&g.to))
            .flat_map(|g| g.permissions.iter().copied())
            .collect()
    }

    pub(crate) fn caller<'a>(&'a self, who: Principal<'a>) -> Caller<'a> {
        match who {
            Principal::Nobody => Caller::nobody(),
            Principal::Person(person) => Caller {
                person: Some(person),
                groups: self.groups_of(person).into_iter().collect(),
            },
        }
    }

    pub(crate) fn caller_can(
        &self,
        caller: &Caller<'_>,
        perm: Permission,
        obj: ObjectRef<'_>,
    ) -> bool {
        if caller.person.is_none() {
            return false;
        }
        let Some(chain) = self.acl_chain(obj) else {
            return false;
        };
        chain
            .grants()
            .any(|g| g.permissions.contains(&perm) && caller.is_granted(&g.to))
    }

    /// The grants that apply to `obj`, from the tenant down; `None` when the
    /// object does not exist.
    fn acl_chain(&self, obj: ObjectRef<'_>) -> Option<AclChain<'_>> {
        // A child's chain is its parent's plus its own grants.
        let (mut chain, own) = match obj {
            ObjectRef::Tenant => return Some(AclChain::new(&self.tenant.grants)),
            ObjectRef::Folder(name) => (
                AclChain::new(&self.tenant.grants),
                &self.folders.get(name)?.grants,
            ),
            ObjectRef::MediaType(name) => {
                let o = self.media_types.get(name)?;
                (self.in_folder(&o.folder), &o.grants)
            }
            ObjectRef::CapacityRule(name) => {
                let o = self.capacity_rules.get(name)?;
                (self.in_folder(&o.folder), &o.grants)
            }
            ObjectRef::Person(name) => {
                let o = self.persons.get(name)?;
                (self.in_folder(&o.folder), &o.grants)
            }
            ObjectRef::AccessGroup(name) => {
                let o = self.access_groups.get(name)?;
                (self.in_folder(&o.folder), &o.grants)
            }
            ObjectRef::Application(name) => {
                let o = self.applications.get(name)?;
                (self.in_folder(&o.folder), &o.grants)
            }
            ObjectRef::BusinessProcess(process) => {
                let p = self.processes.get(process)?;
                (self.in_folder(&p.folder), &p.grants)
            }
            ObjectRef::Queue { process, queue } => (
                self.acl_chain(ObjectRef::BusinessProcess(process))?,
                &self.processes.get(process)?.queues.get(queue)?.grants,
            ),
            ObjectRef::View {
                process,
                queue,
                view,
            } => (
                self.acl_chain(ObjectRef::Queue { process, queue })?,
                &self
                    .processes
                    .get(process)?
                    .queues
                    .get(queue)?
                    .views
                    .get(view)?
                    .grants,
            ),
            ObjectRef::Strategy { process, strategy } => (
                self.acl_chain(ObjectRef::BusinessProcess(process))?,
                &self
                    .processes
                    .get(process)?
                    .strategies
                    .get(strategy)?
                    .grants,
            ),
            ObjectRef::Workbin { process, workbin } => (
                self.acl_chain(ObjectRef::BusinessProcess(process))?,
                &self.processes.get(process)?.workbins.get(workbin)?.grants,
            ),
        };
        chain.push(own);
        Some(chain)
    }

    /// The chain above an object filed in `folder`: the tenant's grants and
    /// the folder's.
    fn in_folder(&self, folder: &Option<String>) -> AclChain<'_> {
        let mut chain = AclChain::new(&self.tenant.grants);
        if let Some(f) = folder.as_deref().and_then(|name| self.folders.get(name)) {
            chain.push(&f.grants);
        }
        chain
    }
}
