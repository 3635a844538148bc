//! The example tenant, the permission rule, scope, filtering and log-in.

use std::collections::BTreeSet;
use std::path::Path;

use super::*;

fn acme() -> Directory {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/tenant");
    Directory::load(&dir).unwrap_or_else(|e| panic!("the example tenant must load:\n{e}"))
}

fn names<'a>(it: impl IntoIterator<Item = &'a str>) -> BTreeSet<&'a str> {
    it.into_iter().collect()
}

// --- The example tenant ---------------------------------------------------------

#[test]
fn example_tenant_loads() {
    let dir = acme();
    assert_eq!(dir.tenant.name, "acme");
    assert_eq!(dir.processes.len(), 4);
    assert_eq!(
        names(dir.media_types.keys().map(String::as_str)),
        names(["email", "chat", "workitem"])
    );
    for process in dir.processes.values() {
        assert_eq!(
            names(process.queues.keys().map(String::as_str)),
            names(["inbound", "overflow"])
        );
        let all = &process.queues["inbound"].views["all"];
        assert_eq!(all.condition, "true");
        assert_eq!(all.order, order::default_order());
        assert!(
            matches!(&all.dispatch, Dispatch::Strategy(s) if process.strategies.contains_key(s))
        );
        assert_eq!(process.workbins["drafts"].owner, WorkbinOwner::Agent);
    }
}

#[test]
fn example_scopes_are_disjoint_solutions() {
    let dir = acme();
    let sales = dir.scope_for_application("ixs-sales").unwrap();
    assert_eq!(
        names(sales.process_names()),
        names(["sales-email", "sales-chat"])
    );
    assert_eq!(sales.person.as_deref(), Some("svc-sales"));
    assert_eq!(
        sales.access_groups,
        BTreeSet::from(["sales-routing".to_owned()])
    );
    // Full definitions: the scope carries the process with all its children.
    assert_eq!(
        sales.processes["sales-email"].queues,
        dir.processes["sales-email"].queues
    );
    assert_eq!(
        sales.processes["sales-chat"].strategies,
        dir.processes["sales-chat"].strategies
    );

    let support = dir.scope_for_application("ixs-support").unwrap();
    assert_eq!(
        names(support.process_names()),
        names(["support-email", "support-chat"])
    );
    assert_eq!(support.person.as_deref(), Some("svc-support"));
}

#[test]
fn application_without_log_on_as_sees_nothing() {
    let mut dir = acme();
    dir.applications.get_mut("ixs-sales").unwrap().log_on_as = None;
    let scope = dir.scope_for_application("ixs-sales").unwrap();
    assert_eq!(scope.person, None);
    assert!(scope.processes.is_empty());
    assert!(scope.access_groups.is_empty() && scope.roles.is_empty());
    assert_eq!(
        dir.scope_for_application("ixs-nope"),
        Err(ScopeError::UnknownApplication("ixs-nope".into()))
    );
}

#[test]
fn example_gateway_reads_all_four_processes_and_no_agent() {
    let dir = acme();
    for process in dir.processes.keys() {
        let obj = ObjectRef::BusinessProcess(process);
        assert!(
            dir.can("gateway".into(), Permission::Read, obj),
            "{process}"
        );
        assert!(
            dir.can("gateway".into(), Permission::Execute, obj),
            "{process}"
        );
        assert!(
            !dir.can("gateway".into(), Permission::Change, obj),
            "{process}"
        );
    }
    assert!(!dir.can(
        "gateway".into(),
        Permission::Read,
        ObjectRef::Person("anna")
    ));
    assert_eq!(dir.roles_of("gateway"), BTreeSet::from([Role::Gateway]));
}

#[test]
fn example_roles_and_admin() {
    let dir = acme();
    assert_eq!(dir.roles_of("anna"), BTreeSet::from([Role::Agent]));
    assert_eq!(dir.roles_of("rita"), BTreeSet::from([Role::Reporter]));
    assert_eq!(dir.roles_of("admin"), BTreeSet::from([Role::Admin]));
    assert!(dir.roles_of("svc-sales").is_empty());
    assert!(dir.roles_of("nobody").is_empty());
    for perm in Permission::ALL {
        assert!(dir.can("admin".into(), perm, ObjectRef::Tenant));
        assert!(dir.can(
            "admin".into(),
            perm,
            ObjectRef::View {
                process: "support-chat",
                queue: "overflow",
                view: "all"
            }
        ));
    }
    // The sales server reads its agents, the shared media, not support's.
    assert!(dir.can(
        "svc-sales".into(),
        Permission::Read,
        ObjectRef::Person("anna")
    ));
    assert!(dir.can(
        "svc-sales".into(),
        Permission::Read,
        ObjectRef::CapacityRule("blended")
    ));
    assert!(!dir.can(
        "svc-sales".into(),
        Permission::Read,
        ObjectRef::Person("bea")
    ));
}

#[test]
fn example_credentials_verify() {
    let dir = acme();
    assert_eq!(
        dir.verify_person("anna", "demo").map(|p| p.name.as_str()),
        Some("anna")
    );
    assert!(dir.verify_person("anna", "Demo").is_none());
    assert!(
        dir.verify_person("svc-sales", "demo").is_none(),
        "no password: no log-in"
    );
    assert!(dir.verify_person("ghost", "demo").is_none());
    assert!(
        dir.verify_application("ixs-support", "demo-secret")
            .is_some()
    );
    assert!(dir.verify_application("ixs-support", "demo").is_none());
    assert!(dir.verify_application("ixs-ghost", "demo-secret").is_none());
}

#[test]
fn example_filtered_for_the_sales_server() {
    let dir = acme();
    let seen = dir.filtered_for("svc-sales");
    assert_eq!(
        names(seen.processes.keys().map(String::as_str)),
        names(["sales-email", "sales-chat"])
    );
    assert_eq!(
        names(seen.persons.keys().map(String::as_str)),
        names(["anna", "arno", "svc-sales"])
    );
    assert_eq!(seen.media_types.len(), 3);
    // What the configuration server sends keeps a view's aging.
    assert_eq!(
        seen.processes["sales-email"].queues["inbound"].views["all"]
            .aging
            .map(|a| a.to_string())
            .as_deref(),
        Some("1/10s")
    );
    assert!(seen.persons.values().all(|p| p.password_hash.is_none()));
    assert!(seen.applications.values().all(|a| a.secret_hash.is_none()));
    // No `read_permissions`: no grants shown anywhere.
    assert!(seen.tenant.grants.is_empty() && seen.folders["sales"].grants.is_empty());
    assert!(seen.processes.values().all(|p| p.grants.is_empty()));
    // The admin sees everything, grants included, hashes still stripped.
    let all = dir.filtered_for("admin");
    assert_eq!(all.processes.len(), 4);
    assert_eq!(
        all.processes["sales-email"].grants,
        dir.processes["sales-email"].grants
    );
    assert!(all.persons.values().all(|p| p.password_hash.is_none()));
}

#[test]
fn directory_round_trips_through_json() {
    let dir = acme();
    let json = serde_json::to_string(&dir).unwrap();
    let back: Directory = serde_json::from_str(&json).unwrap();
    assert_eq!(back, dir);
    // A view's aging as written; a view without it has no key at all.
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    let queues = &value["processes"]["sales-email"]["queues"];
    assert_eq!(queues["inbound"]["views"]["all"]["aging"], "1/10s");
    let overflow = queues["overflow"]["views"]["all"].as_object().unwrap();
    assert!(!overflow.contains_key("aging"), "{overflow:?}");
    let scope = dir.scope_for_application("ixs-sales").unwrap();
    let back: Scope = serde_json::from_str(&serde_json::to_string(&scope).unwrap()).unwrap();
    assert_eq!(back, scope);
}

#[test]
fn debug_output_never_shows_hashes() {
    let dir = acme();
    let shown = format!("{dir:?}");
    assert!(!shown.contains("$argon2"));
    assert!(shown.contains("SecretHash(<redacted>)"));
}

// --- The permission rule ----------------------------------------------------------

const RULES: &str = r#"
[tenant]
name = "t"

[folder.f]
[folder.other]

[person.alice]
[person.bob]
[person.carol]

[access_group.readers]
members = ["alice"]

[process.in-folder]
folder = "f"
[process.in-folder.queue.q.view.v]
[process.in-folder.strategy.s]
step = [{ target = "true", timeout = "1s" }]
on_exhausted = { stop = "none" }
[process.in-folder.workbin.w]
owner = "agent"

[process.loose.queue.q.view.v]
"#;

fn rules(extra: &str) -> Directory {
    Directory::from_sources(&[("rules.toml", RULES), ("extra.toml", extra)]).unwrap()
}

const IN_FOLDER_CHILDREN: [ObjectRef<'static>; 5] = [
    ObjectRef::BusinessProcess("in-folder"),
    ObjectRef::Queue {
        process: "in-folder",
        queue: "q",
    },
    ObjectRef::View {
        process: "in-folder",
        queue: "q",
        view: "v",
    },
    ObjectRef::Strategy {
        process: "in-folder",
        strategy: "s",
    },
    ObjectRef::Workbin {
        process: "in-folder",
        workbin: "w",
    },
];

#[test]
fn nothing_granted_is_denied() {
    let dir = rules("");
    for who in ["alice", "bob", "nobody"] {
        for perm in Permission::ALL {
            assert!(!dir.can(who.into(), perm, ObjectRef::Tenant));
            for obj in IN_FOLDER_CHILDREN {
                assert!(!dir.can(who.into(), perm, obj));
            }
        }
    }
}

#[test]
fn tenant_grant_propagates_to_everything() {
    let dir = rules("");
    let mut dir2 = dir.clone();
    dir2.tenant.grants.push(Grant {
        to: Grantee::Group("readers".into()),
        permissions: BTreeSet::from([Permission::Read]),
    });
    for obj in IN_FOLDER_CHILDREN.into_iter().chain([
        ObjectRef::Tenant,
        ObjectRef::Folder("other"),
        ObjectRef::Person("bob"),
        ObjectRef::AccessGroup("readers"),
        ObjectRef::View {
            process: "loose",
            queue: "q",
            view: "v",
        },
    ]) {
        assert!(!dir.can("alice".into(), Permission::Read, obj));
        assert!(dir2.can("alice".into(), Permission::Read, obj), "{obj:?}");
        assert!(!dir2.can("bob".into(), Permission::Read, obj), "{obj:?}");
    }
}

#[test]
fn folder_grant_propagates_to_the_folder_only() {
    let dir = Directory::from_sources(&[(
        "rules.toml",
        &RULES.replace(
            "[folder.f]\n",
            "[folder.f]\ngrant = [{ group = \"readers\", permissions = [\"read\"] }]\n",
        ),
    )])
    .unwrap();
    assert!(dir.can("alice".into(), Permission::Read, ObjectRef::Folder("f")));
    for obj in IN_FOLDER_CHILDREN {
        assert!(dir.can("alice".into(), Permission::Read, obj), "{obj:?}");
    }
    assert!(!dir.can(
        "alice".into(),
        Permission::Read,
        ObjectRef::BusinessProcess("loose")
    ));
    assert!(!dir.can("alice".into(), Permission::Read, ObjectRef::Folder("other")));
    assert!(!dir.can("alice".into(), Permission::Read, ObjectRef::Tenant));
}

#[test]
fn per_object_grant_covers_the_object_and_its_children_only() {
    let dir = rules("");
    let mut dir = dir;
    let grant = Grant {
        to: Grantee::Person("bob".into()),
        permissions: BTreeSet::from([Permission::Change]),
    };
    dir.processes
        .get_mut("in-folder")
        .unwrap()
        .queues
        .get_mut("q")
        .unwrap()
        .grants
        .push(grant);
    let queue = ObjectRef::Queue {
        process: "in-folder",
        queue: "q",
    };
    let view = ObjectRef::View {
        process: "in-folder",
        queue: "q",
        view: "v",
    };
    assert!(dir.can("bob".into(), Permission::Change, queue));
    assert!(dir.can("bob".into(), Permission::Change, view));
    assert!(!dir.can(
        "bob".into(),
        Permission::Change,
        ObjectRef::BusinessProcess("in-folder")
    ));
    assert!(!dir.can(
        "bob".into(),
        Permission::Change,
        ObjectRef::Strategy {
            process: "in-folder",
            strategy: "s"
        }
    ));
    assert!(!dir.can(
        "bob".into(),
        Permission::Change,
        ObjectRef::Queue {
            process: "loose",
            queue: "q"
        }
    ));
}

#[test]
fn person_grant_and_group_grant() {
    let dir = rules(
        r#"
[process.p]
grant = [
  { person = "bob", permissions = ["read"] },
  { group = "readers", permissions = ["read", "execute"] },
]
"#,
    );
    let p = ObjectRef::BusinessProcess("p");
    assert!(dir.can("bob".into(), Permission::Read, p), "a person grant");
    assert!(!dir.can("bob".into(), Permission::Execute, p));
    assert!(
        dir.can("alice".into(), Permission::Execute, p),
        "a group grant, through membership"
    );
    assert!(!dir.can("carol".into(), Permission::Read, p), "neither");
    assert_eq!(
        dir.permissions("alice".into(), p),
        BTreeSet::from([Permission::Read, Permission::Execute])
    );
    // Membership is what counts: leaving the group loses the grant.
    let mut dir = dir;
    dir.access_groups
        .get_mut("readers")
        .unwrap()
        .members
        .clear();
    assert!(!dir.can("alice".into(), Permission::Read, p));
}

#[test]
fn no_permission_implies_another() {
    for perm in Permission::ALL {
        let extra =
            format!("[process.p]\ngrant = [{{ person = \"bob\", permissions = [\"{perm}\"] }}]\n");
        let dir = rules(&extra);
        let granted = dir.permissions("bob".into(), ObjectRef::BusinessProcess("p"));
        assert_eq!(granted, BTreeSet::from([perm]));
    }
}

#[test]
fn all_means_every_permission() {
    let dir = rules("[process.p]\ngrant = [{ person = \"bob\", permissions = [\"all\"] }]\n");
    let granted = dir.permissions("bob".into(), ObjectRef::BusinessProcess("p"));
    assert_eq!(granted, Permission::ALL.into_iter().collect());
}

#[test]
fn nobody_and_missing_objects_are_denied() {
    let mut dir = rules("");
    dir.tenant.grants.push(Grant {
        to: Grantee::Person("bob".into()),
        permissions: Permission::ALL.into_iter().collect(),
    });
    assert!(dir.can("bob".into(), Permission::Read, ObjectRef::Tenant));
    assert!(!dir.can(Principal::Nobody, Permission::Read, ObjectRef::Tenant));
    assert!(!dir.can(
        "bob".into(),
        Permission::Read,
        ObjectRef::BusinessProcess("ghost")
    ));
    assert!(!dir.can(
        "bob".into(),
        Permission::Read,
        ObjectRef::Queue {
            process: "loose",
            queue: "ghost"
        }
    ));
    assert!(!dir.can(
        "bob".into(),
        Permission::Read,
        ObjectRef::View {
            process: "loose",
            queue: "q",
            view: "ghost"
        }
    ));
}

#[test]
fn filtered_directory_drops_references_to_what_is_hidden() {
    let dir = rules(
        r#"
[process.p]
folder = "f"
grant = [{ person = "bob", permissions = ["read", "read_permissions"] }]

[access_group.mixed]
members = ["alice", "bob"]
grant = [{ person = "bob", permissions = ["read"] }]
"#,
    );
    let mut dir = dir;
    dir.persons.get_mut("bob").unwrap().grants.push(Grant {
        to: Grantee::Person("bob".into()),
        permissions: BTreeSet::from([Permission::Read]),
    });
    let seen = dir.filtered_for("bob");
    assert_eq!(
        names(seen.processes.keys().map(String::as_str)),
        names(["p"])
    );
    let p = &seen.processes["p"];
    assert_eq!(p.folder, None, "bob cannot read folder f");
    assert_eq!(
        p.grants, dir.processes["p"].grants,
        "bob holds read_permissions"
    );
    assert_eq!(
        seen.access_groups["mixed"].members,
        BTreeSet::from(["bob".to_owned()])
    );
    assert!(seen.access_groups["mixed"].grants.is_empty());
    assert_eq!(
        names(seen.persons.keys().map(String::as_str)),
        names(["bob"])
    );
}
