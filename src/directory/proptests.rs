//! Properties of permissions, scope and filtering over random directories.

use std::collections::{BTreeMap, BTreeSet};

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::{Strategy as Gen, *};

use super::model::Strategy;
use super::*;

/// A random directory, by indices; `build` turns it into objects.
#[derive(Debug, Clone)]
struct Spec {
    persons: usize,
    /// One member bitmask per access group.
    groups: Vec<u8>,
    folders: usize,
    /// The folder index of each business process.
    processes: Vec<Option<usize>>,
    /// The `log_on_as` person index of each application.
    applications: Vec<Option<usize>>,
    grants: Vec<GrantSpec>,
}

#[derive(Debug, Clone)]
struct GrantSpec {
    /// Tenant, folder, process, queue, view, person, group or application.
    level: u8,
    object: usize,
    to_group: bool,
    grantee: usize,
    /// A bitmask over `Permission::ALL`.
    permissions: u8,
}

fn grant_spec() -> impl Gen<Value = GrantSpec> {
    (0u8..8, 0usize..8, any::<bool>(), 0usize..8, 1u8..64).prop_map(
        |(level, object, to_group, grantee, permissions)| GrantSpec {
            level,
            object,
            to_group,
            grantee,
            permissions,
        },
    )
}

fn spec() -> impl Gen<Value = Spec> {
    (
        1usize..6,
        vec(any::<u8>(), 0..4),
        0usize..3,
        vec(option::of(0usize..3), 0..6),
        vec(option::weighted(0.8, 0usize..6), 1..4),
        vec(grant_spec(), 0..14),
    )
        .prop_map(
            |(persons, groups, folders, processes, applications, grants)| Spec {
                persons,
                groups,
                folders,
                processes,
                applications,
                grants,
            },
        )
}

fn name(prefix: &str, i: usize) -> String {
    format!("{prefix}{i}")
}

const FAKE_HASH: &str = "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g";

fn build(spec: &Spec) -> Directory {
    let mut dir = Directory::empty("t");
    for i in 0..spec.persons {
        dir.persons.insert(
            name("p", i),
            Person {
                name: name("p", i),
                description: String::new(),
                folder: (spec.folders > 0).then(|| name("f", i % spec.folders)),
                password_hash: Some(SecretHash::new(FAKE_HASH)),
                agent: None,
                grants: Vec::new(),
            },
        );
    }
    for (i, members) in spec.groups.iter().enumerate() {
        dir.access_groups.insert(
            name("g", i),
            AccessGroup {
                name: name("g", i),
                description: String::new(),
                folder: None,
                members: (0..spec.persons)
                    .filter(|p| members & (1 << p) != 0)
                    .map(|p| name("p", p))
                    .collect(),
                roles: BTreeSet::from([Role::Agent]),
                grants: Vec::new(),
            },
        );
    }
    for i in 0..spec.folders {
        dir.folders.insert(
            name("f", i),
            Folder {
                name: name("f", i),
                description: String::new(),
                grants: Vec::new(),
            },
        );
    }
    for (i, folder) in spec.processes.iter().enumerate() {
        dir.processes.insert(
            name("bp", i),
            process(&name("bp", i), folder.filter(|f| *f < spec.folders)),
        );
    }
    for (i, person) in spec.applications.iter().enumerate() {
        dir.applications.insert(
            name("a", i),
            Application {
                name: name("a", i),
                description: String::new(),
                folder: None,
                kind: ApplicationKind::InteractionServer,
                secret_hash: Some(SecretHash::new(FAKE_HASH)),
                log_on_as: person.map(|p| name("p", p % spec.persons)),
                grants: Vec::new(),
            },
        );
    }
    for grant in &spec.grants {
        add_grant(&mut dir, spec, grant);
    }
    dir
}

fn process(name: &str, folder: Option<usize>) -> BusinessProcess {
    let view = View {
        name: "v".into(),
        description: String::new(),
        condition: "true".into(),
        order: order::default_order(),
        aging: None,
        enabled: true,
        dispatch: Dispatch::Strategy("s".into()),
        grants: Vec::new(),
    };
    BusinessProcess {
        name: name.into(),
        description: String::new(),
        folder: folder.map(|f| format!("f{f}")),
        queues: BTreeMap::from([(
            "q".into(),
            Queue {
                name: "q".into(),
                description: String::new(),
                views: BTreeMap::from([("v".into(), view)]),
                service_level: None,
                grants: Vec::new(),
            },
        )]),
        strategies: BTreeMap::from([(
            "s".into(),
            Strategy {
                name: "s".into(),
                description: String::new(),
                steps: vec![Step {
                    target: "true".into(),
                    select: Select::LongestIdle,
                    timeout: HumanDuration::from_secs(30),
                }],
                on_exhausted: OnExhausted::PlaceInQueue("q".into()),
                grants: Vec::new(),
            },
        )]),
        workbins: BTreeMap::from([(
            "w".into(),
            Workbin {
                name: "w".into(),
                description: String::new(),
                owner: WorkbinOwner::Agent,
                grants: Vec::new(),
            },
        )]),
        grants: Vec::new(),
    }
}

/// Adds `grant` where it points; a grant to a level that has no object is
/// dropped.
fn add_grant(dir: &mut Directory, spec: &Spec, grant: &GrantSpec) {
    let to = if grant.to_group && !spec.groups.is_empty() {
        Grantee::Group(name("g", grant.grantee % spec.groups.len()))
    } else {
        Grantee::Person(name("p", grant.grantee % spec.persons))
    };
    let permissions = Permission::ALL
        .into_iter()
        .enumerate()
        .filter(|(i, _)| grant.permissions & (1 << i) != 0)
        .map(|(_, p)| p)
        .collect();
    let g = Grant { to, permissions };
    let pick = |n: usize| (n > 0).then(|| grant.object % n);
    let process = pick(spec.processes.len()).map(|i| name("bp", i));
    let grants = match grant.level {
        0 => Some(&mut dir.tenant.grants),
        1 => pick(spec.folders).map(|i| &mut dir.folders.get_mut(&name("f", i)).unwrap().grants),
        2 => process.map(|p| &mut dir.processes.get_mut(&p).unwrap().grants),
        3 => process.map(|p| {
            &mut dir
                .processes
                .get_mut(&p)
                .unwrap()
                .queues
                .get_mut("q")
                .unwrap()
                .grants
        }),
        4 => process.map(|p| {
            let queue = dir
                .processes
                .get_mut(&p)
                .unwrap()
                .queues
                .get_mut("q")
                .unwrap();
            &mut queue.views.get_mut("v").unwrap().grants
        }),
        5 => Some(
            &mut dir
                .persons
                .get_mut(&name("p", grant.object % spec.persons))
                .unwrap()
                .grants,
        ),
        6 => pick(spec.groups.len())
            .map(|i| &mut dir.access_groups.get_mut(&name("g", i)).unwrap().grants),
        _ => pick(spec.applications.len())
            .map(|i| &mut dir.applications.get_mut(&name("a", i)).unwrap().grants),
    };
    if let Some(grants) = grants {
        grants.push(g);
    }
}

fn scope_names(dir: &Directory, app: &str) -> BTreeSet<String> {
    dir.scope_for_application(app)
        .unwrap()
        .processes
        .into_keys()
        .collect()
}

fn readable_processes(dir: &Directory, person: &str) -> BTreeSet<String> {
    dir.processes
        .keys()
        .filter(|p| {
            dir.can(
                person.into(),
                Permission::Read,
                ObjectRef::BusinessProcess(p),
            )
        })
        .cloned()
        .collect()
}

/// Every object of `seen`, as a reference into it.
fn objects(seen: &Directory) -> Vec<ObjectRef<'_>> {
    let mut all = vec![ObjectRef::Tenant];
    all.extend(seen.folders.keys().map(|n| ObjectRef::Folder(n)));
    all.extend(seen.media_types.keys().map(|n| ObjectRef::MediaType(n)));
    all.extend(
        seen.capacity_rules
            .keys()
            .map(|n| ObjectRef::CapacityRule(n)),
    );
    all.extend(seen.persons.keys().map(|n| ObjectRef::Person(n)));
    all.extend(seen.access_groups.keys().map(|n| ObjectRef::AccessGroup(n)));
    all.extend(seen.applications.keys().map(|n| ObjectRef::Application(n)));
    for (p, process) in &seen.processes {
        all.push(ObjectRef::BusinessProcess(p));
        for (q, queue) in &process.queues {
            all.push(ObjectRef::Queue {
                process: p,
                queue: q,
            });
            for v in queue.views.keys() {
                all.push(ObjectRef::View {
                    process: p,
                    queue: q,
                    view: v,
                });
            }
        }
        all.extend(process.strategies.keys().map(|s| ObjectRef::Strategy {
            process: p,
            strategy: s,
        }));
        all.extend(process.workbins.keys().map(|w| ObjectRef::Workbin {
            process: p,
            workbin: w,
        }));
    }
    all
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The scope is exactly the processes `can(read)` allows, as the person
    /// sees them.
    #[test]
    fn scope_is_exactly_what_can_read_allows(spec in spec()) {
        let dir = build(&spec);
        for (app, application) in &dir.applications {
            let scope = dir.scope_for_application(app).unwrap();
            match &application.log_on_as {
                None => prop_assert!(scope.processes.is_empty() && scope.person.is_none()),
                Some(person) => {
                    let names: BTreeSet<String> = scope.processes.keys().cloned().collect();
                    prop_assert_eq!(&names, &readable_processes(&dir, person));
                    let seen = dir.filtered_for(person);
                    prop_assert_eq!(&scope.processes, &seen.processes);
                }
            }
        }
    }

    /// Adding a grant never shrinks a scope nor a permission.
    #[test]
    fn adding_a_grant_never_shrinks(spec in spec(), extra in grant_spec()) {
        let before = build(&spec);
        let mut after_spec = spec.clone();
        after_spec.grants.push(extra);
        let after = build(&after_spec);
        for app in before.applications.keys() {
            prop_assert!(scope_names(&before, app).is_subset(&scope_names(&after, app)));
        }
        for person in before.persons.keys() {
            for obj in objects(&before) {
                for perm in Permission::ALL {
                    prop_assert!(!before.can(person.as_str().into(), perm, obj) || after.can(person.as_str().into(), perm, obj));
                }
            }
        }
    }

    /// Removing a grant never widens a scope nor a permission.
    #[test]
    fn removing_a_grant_never_widens(spec in spec(), which in any::<prop::sample::Index>()) {
        prop_assume!(!spec.grants.is_empty());
        let before = build(&spec);
        let mut after_spec = spec.clone();
        after_spec.grants.remove(which.index(spec.grants.len()));
        let after = build(&after_spec);
        for app in before.applications.keys() {
            prop_assert!(scope_names(&after, app).is_subset(&scope_names(&before, app)));
        }
        for person in before.persons.keys() {
            for obj in objects(&before) {
                for perm in Permission::ALL {
                    prop_assert!(!after.can(person.as_str().into(), perm, obj) || before.can(person.as_str().into(), perm, obj));
                }
            }
        }
    }

    /// A filtered directory holds nothing its person cannot read, no grants
    /// it cannot read, no reference to hidden persons and no hash.
    #[test]
    fn filtered_holds_only_what_the_person_reads(spec in spec()) {
        let dir = build(&spec);
        for person in dir.persons.keys() {
            let who = Principal::Person(person);
            let seen = dir.filtered_for(person);
            for obj in objects(&seen) {
                if obj != ObjectRef::Tenant {
                    prop_assert!(dir.can(who, Permission::Read, obj), "{:?} visible to {}", obj, person);
                }
            }
            prop_assert_eq!(seen.processes.keys().cloned().collect::<BTreeSet<_>>(), readable_processes(&dir, person));
            prop_assert!(seen.persons.values().all(|p| p.password_hash.is_none()));
            prop_assert!(seen.applications.values().all(|a| a.secret_hash.is_none()));
            for group in seen.access_groups.values() {
                prop_assert!(group.members.iter().all(|m| seen.persons.contains_key(m)));
                // ... and every readable member is kept.
                let mut readable = dir.access_groups[&group.name].members.clone();
                readable.retain(|m| dir.can(who, Permission::Read, ObjectRef::Person(m)));
                prop_assert_eq!(&group.members, &readable);
                if !group.grants.is_empty() {
                    prop_assert!(dir.can(who, Permission::ReadPermissions, ObjectRef::AccessGroup(&group.name)));
                }
            }
            for app in seen.applications.values() {
                prop_assert!(app.log_on_as.iter().all(|p| seen.persons.contains_key(p)));
                let readable = dir.applications[&app.name]
                    .log_on_as
                    .clone()
                    .filter(|p| dir.can(who, Permission::Read, ObjectRef::Person(p)));
                prop_assert_eq!(&app.log_on_as, &readable);
            }
            if !seen.tenant.grants.is_empty() {
                prop_assert!(dir.can(who, Permission::ReadPermissions, ObjectRef::Tenant));
            }
            let json = serde_json::to_string(&seen).unwrap();
            prop_assert!(!json.contains("argon2"));
        }
    }
}
