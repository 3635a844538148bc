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
        // Each map holds exactly the names `caller` may read, so a reference
        // to another object is kept when that map has it: no second walk of
        // the ACL chain.
        let folders = keep(&self.folders, |name, f| {
            let obj = ObjectRef::Folder(name);
            seen.read(obj).then(|| {
                let mut f = f.clone();
                f.grants = seen.grants(obj, &f.grants);
                f
            })
        });
        let folder =
            |folder: &Option<String>| folder.clone().filter(|name| folders.contains_key(name));
        let media_types = keep(&self.media_types, |name, m| {
            let obj = ObjectRef::MediaType(name);
            seen.read(obj).then(|| {
                let mut m = m.clone();
                m.grants = seen.grants(obj, &m.grants);
                m.folder = folder(&m.folder);
                m
            })
        });
        let capacity_rules = keep(&self.capacity_rules, |name, c| {
            let obj = ObjectRef::CapacityRule(name);
            seen.read(obj).then(|| {
                let mut c = c.clone();
                c.grants = seen.grants(obj, &c.grants);
                c.folder = folder(&c.folder);
                c.media.retain(|media, _| media_types.contains_key(media));
                c
            })
        });
        let persons = keep(&self.persons, |name, p| {
            let obj = ObjectRef::Person(name);
            seen.read(obj).then(|| {
                let mut p = p.clone();
                p.grants = seen.grants(obj, &p.grants);
                p.folder = folder(&p.folder);
                p.password_hash = None;
                if let Some(agent) = &mut p.agent {
                    agent.capacity_rule = agent
                        .capacity_rule
                        .take()
                        .filter(|rule| capacity_rules.contains_key(rule));
                }
                p
            })
        });
        let access_groups = keep(&self.access_groups, |name, g| {
            let obj = ObjectRef::AccessGroup(name);
            seen.read(obj).then(|| {
                let mut g = g.clone();
                g.grants = seen.grants(obj, &g.grants);
                g.folder = folder(&g.folder);
                g.members.retain(|member| persons.contains_key(member));
                g
            })
        });
        let applications = keep(&self.applications, |name, a| {
            let obj = ObjectRef::Application(name);
            seen.read(obj).then(|| {
                let mut a = a.clone();
                a.grants = seen.grants(obj, &a.grants);
                a.folder = folder(&a.folder);
                a.secret_hash = None;
                a.log_on_as = a
                    .log_on_as
                    .take()
                    .filter(|person| persons.contains_key(person));
                a
            })
        });
        Directory {
            tenant: Tenant {
                name: self.tenant.name.clone(),
                description: self.tenant.description.clone(),
                grants: seen.grants(ObjectRef::Tenant, &self.tenant.grants),
            },
            folders,
            media_types,
            capacity_rules,
            persons,
            access_groups,
            applications,
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
        // Grants only add up down the chain (see `acl`): whoever reads the
        // process reads every queue, view, strategy and workbin of it; only
        // who may read their grants differs.
        let pname = name;
        let mut seen_process = process.clone();
        seen_process.folder = seen.folder(&process.folder);
        for (qname, q) in &mut seen_process.queues {
            let queue = ObjectRef::Queue {
                process: pname,
                queue: qname,
            };
            q.grants = seen.grants(queue, &q.grants);
            for (vname, v) in &mut q.views {
                let view = ObjectRef::View {
                    process: pname,
                    queue: qname,
                    view: vname,
                };
                v.grants = seen.grants(view, &v.grants);
            }
        }
        for (sname, s) in &mut seen_process.strategies {
            let strategy = ObjectRef::Strategy {
                process: pname,
                strategy: sname,
            };
            s.grants = seen.grants(strategy, &s.grants);
        }
        for (wname, w) in &mut seen_process.workbins {
            let workbin = ObjectRef::Workbin {
                process: pname,
                workbin: wname,
            };
            w.grants = seen.grants(workbin, &w.grants);
        }
        seen_process.grants = seen.grants(obj, &process.grants);
        Some(seen_process)
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
