//! The directory as one person may see it.
//!
//! What the config server sends to a caller, and nothing more:
//! - an object the caller cannot `read` is absent, and so is everything
//!   inside it;
//! - an object's grants are shown only where the caller holds
//!   `read_permissions` on it (then in full: that is what the permission is
//!   for);
//! - names of objects the caller cannot read are removed from references:
//!   group members, `log_on_as`, an agent's capacity rule, a capacity rule's
//!   media, an object's folder;
//! - password and secret hashes are always removed.
//!
//! The tenant's name and description are always present; they are the
//! context every caller already knows.

use std::collections::BTreeMap;

use super::acl::{Caller, Grant, ObjectRef, Permission, Principal};
use super::model::{BusinessProcess, Directory, Tenant};

impl Directory {
    /// The directory as `person` may see it (see the module documentation).
    pub fn filtered_for(&self, person: &str) -> Directory {
        let caller = self.caller(Principal::Person(person));
        let seen = Seen {
            dir: self,
            caller: &caller,
        };
        Directory {
            tenant: Tenant {
                name: self.tenant.name.clone(),
                description: self.tenant.description.clone(),
                grants: seen.grants(ObjectRef::Tenant, &self.tenant.grants),
            },
            folders: keep(&self.folders, |name, f| {
                let obj = ObjectRef::Folder(name);
                seen.read(obj).then(|| {
                    let mut f = f.clone();
                    f.grants = seen.grants(obj, &f.grants);
                    f
                })
            }),
            media_types: keep(&self.media_types, |name, m| {
                let obj = ObjectRef::MediaType(name);
                seen.read(obj).then(|| {
                    let mut m = m.clone();
                    m.grants = seen.grants(obj, &m.grants);
                    m.folder = seen.folder(&m.folder);
                    m
                })
            }),
            capacity_rules: keep(&self.capacity_rules, |name, c| {
                let obj = ObjectRef::CapacityRule(name);
                seen.read(obj).then(|| {
                    let mut c = c.clone();
                    c.grants = seen.grants(obj, &c.grants);
                    c.folder = seen.folder(&c.folder);
                    c.media
                        .retain(|media, _| seen.read(ObjectRef::MediaType(media)));
                    c
                })
            }),
            persons: keep(&self.persons, |name, p| {
                let obj = ObjectRef::Person(name);
                seen.read(obj).then(|| {
                    let mut p = p.clone();
                    p.grants = seen.grants(obj, &p.grants);
                    p.folder = seen.folder(&p.folder);
                    p.password_hash = None;
                    if let Some(agent) = &mut p.agent {
                        agent.capacity_rule = agent
                            .capacity_rule
                            .take()
                            .filter(|rule| seen.read(ObjectRef::CapacityRule(rule)));
                    }
                    p
                })
            }),
            access_groups: keep(&self.access_groups, |name, g| {
                let obj = ObjectRef::AccessGroup(name);
                seen.read(obj).then(|| {
                    let mut g = g.clone();
                    g.grants = seen.grants(obj, &g.grants);
                    g.folder = seen.folder(&g.folder);
                    g.members
                        .retain(|member| seen.read(ObjectRef::Person(member)));
                    g
                })
            }),
            applications: keep(&self.applications, |name, a| {
                let obj = ObjectRef::Application(name);
                seen.read(obj).then(|| {
                    let mut a = a.clone();
                    a.grants = seen.grants(obj, &a.grants);
                    a.folder = seen.folder(&a.folder);
                    a.secret_hash = None;
                    a.log_on_as = a
                        .log_on_as
                        .take()
                        .filter(|person| seen.read(ObjectRef::Person(person)));
                    a
                })
            }),
            processes: keep(&self.processes, |name, _| {
                self.process_as_seen_by(&caller, name)
            }),
        }
    }

    /// Business process `name` as `caller` sees it, or `None` when it cannot
    /// read it.
    pub(crate) fn process_as_seen_by(
        &self,
        caller: &Caller<'_>,
        name: &str,
    ) -> Option<BusinessProcess> {
        let seen = Seen { dir: self, caller };
        let process = self.processes.get(name)?;
        let obj = ObjectRef::BusinessProcess(name);
        if !seen.read(obj) {
            return None;
        }
        let pname = name;
        Some(BusinessProcess {
            name: process.name.clone(),
            description: process.description.clone(),
            folder: seen.folder(&process.folder),
            queues: keep(&process.queues, |qname, q| {
                let obj = ObjectRef::Queue {
                    process: pname,
                    queue: qname,
                };
                seen.read(obj).then(|| {
                    let mut q = q.clone();
                    q.grants = seen.grants(obj, &q.grants);
                    q.views.retain(|vname, v| {
                        let obj = ObjectRef::View {
                            process: pname,
                            queue: qname,
                            view: vname,
                        };
                        v.grants = seen.grants(obj, &v.grants);
                        seen.read(obj)
                    });
                    q
                })
            }),
            strategies: keep(&process.strategies, |sname, s| {
                let obj = ObjectRef::Strategy {
                    process: pname,
                    strategy: sname,
                };
                seen.read(obj).then(|| {
                    let mut s = s.clone();
                    s.grants = seen.grants(obj, &s.grants);
                    s
                })
            }),
            workbins: keep(&process.workbins, |wname, w| {
                let obj = ObjectRef::Workbin {
                    process: pname,
                    workbin: wname,
                };
                seen.read(obj).then(|| {
                    let mut w = w.clone();
                    w.grants = seen.grants(obj, &w.grants);
                    w
                })
            }),
            grants: seen.grants(obj, &process.grants),
        })
    }
}

/// The permission checks of one filtering pass.
struct Seen<'d, 'c> {
    dir: &'d Directory,
    caller: &'c Caller<'d>,
}

impl Seen<'_, '_> {
    fn read(&self, obj: ObjectRef<'_>) -> bool {
        self.dir.caller_can(self.caller, Permission::Read, obj)
    }

    fn grants(&self, obj: ObjectRef<'_>, grants: &[Grant]) -> Vec<Grant> {
        if self
            .dir
            .caller_can(self.caller, Permission::ReadPermissions, obj)
        {
            grants.to_vec()
        } else {
            Vec::new()
        }
    }

    fn folder(&self, folder: &Option<String>) -> Option<String> {
        folder
            .clone()
            .filter(|name| self.read(ObjectRef::Folder(name)))
    }
}

/// The entries of `map` that `f` keeps, as `f` rewrites them.
fn keep<T>(
    map: &BTreeMap<String, T>,
    mut f: impl FnMut(&str, &T) -> Option<T>,
) -> BTreeMap<String, T> {
    map.iter()
        .filter_map(|(name, value)| Some((name.clone(), f(name, value)?)))
        .collect()
}
