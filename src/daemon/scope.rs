//! The instance's identity and scope: who it runs as, and what of the
//! tenant that identity may read. From the tenant's directory files, or from
//! a snapshot the configuration server sent (already filtered to what the
//! application's person may read).

use crate::config_client::{Snapshot, Whoami};
use crate::directory::Directory;
use crate::engine::{Served, ServedProcess};
use crate::live::{Identity, ScopeSource, ScopeState};
use crate::settings::Settings;
use anyhow::Context;
use std::path::Path;
use std::sync::Arc;

/// Serving nothing, for `reason`.
pub fn nothing(settings: &Settings, source: ScopeSource, reason: String) -> ScopeState {
    ScopeState {
        identity: Identity {
            instance: settings.instance.name.clone(),
            application: settings.instance.application.clone(),
            person: None,
            access_groups: Vec::new(),
        },
        served: Served::default(),
        routing: Default::default(),
        revision: None,
        source,
        problem: Some(reason),
    }
}

/// The scope from the tenant's files in `path`.
pub fn from_files(settings: &Settings, path: &Path) -> anyhow::Result<ScopeState> {
    let directory = Directory::load(path)
        .with_context(|| format!("the tenant directory {} is invalid", path.display()))?;
    from_directory(settings, &directory)
}

/// The scope from the whole tenant directory, as the application's person
/// may see it.
pub fn from_directory(settings: &Settings, directory: &Directory) -> anyhow::Result<ScopeState> {
    let application = &settings.instance.application;
    let scope = directory
        .scope_for_application(application)
        .with_context(|| format!("setting `instance.application` = '{application}'"))?;
    let whoami = Whoami {
        application: Some(application.clone()),
        person: scope.person.clone(),
        access_groups: scope.access_groups.clone(),
        roles: scope.roles.clone(),
        revision: 0,
    };
    let visible = match &scope.person {
        Some(person) => directory.filtered_for(person),
        None => Directory::empty(&directory.tenant.name),
    };
    let mut state = from_snapshot(
        settings,
        &whoami,
        &Snapshot {
            revision: 0,
            directory: visible,
        },
        ScopeSource::Directory,
    )?;
    state.revision = None;
    Ok(state)
}

/// The scope from what the configuration server sent: every process in the
/// snapshot is one the application's person may read.
pub fn from_snapshot(
    settings: &Settings,
    whoami: &Whoami,
    snapshot: &Snapshot,
    source: ScopeSource,
) -> anyhow::Result<ScopeState> {
    let identity = Identity {
        instance: settings.instance.name.clone(),
        application: settings.instance.application.clone(),
        person: whoami.person.clone(),
        access_groups: whoami.access_groups.iter().cloned().collect(),
    };
    let directory = &snapshot.directory;
    if whoami.person.is_none() {
        let mut state = nothing(
            settings,
            source,
            format!(
                "application '{}' has no log-on-as person: it runs as nobody and serves nothing",
                settings.instance.application
            ),
        );
        state.revision = Some(snapshot.revision);
        return Ok(state);
    }
    // Every condition, target and strategy reference is checked here, so
    // that a revision the router cannot serve is refused with its place.
    let routing = Arc::new(super::routing::config(directory, &settings.routing)?);
    let served = Served {
        processes: directory
            .processes
            .iter()
            .map(|(name, process)| {
                (
                    name.clone(),
                    ServedProcess {
                        queues: process.queues.keys().cloned().collect(),
                        workbins: process.workbins.keys().cloned().collect(),
                    },
                )
            })
            .collect(),
        media_types: directory.media_types.keys().cloned().collect(),
        agents: directory
            .persons
            .values()
            .filter(|p| p.agent.is_some())
            .map(|p| p.name.clone())
            .collect(),
    };
    let problem = served.processes.is_empty().then(|| {
        format!(
            "person '{}' may read no business process",
            whoami.person.as_deref().unwrap_or_default()
        )
    });
    Ok(ScopeState {
        identity,
        served,
        routing,
        revision: Some(snapshot.revision),
        source,
        problem,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    fn tenant() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("config/tenant")
    }

    fn settings(name: &str, application: &str) -> Settings {
        crate::settings::for_instance(
            name,
            application,
            "127.0.0.1:0".parse().unwrap(),
            "postgres://postgres@127.0.0.1:5432/unused",
            crate::settings::ScopeFrom::Directory(tenant()),
        )
    }

    #[test]
    fn each_example_instance_serves_its_own_solution() {
        let state = from_files(&settings("sales", "ixs-sales"), &tenant()).unwrap();
        let (identity, served) = (state.identity, state.served);
        assert_eq!(identity.person.as_deref(), Some("svc-sales"));
        assert_eq!(identity.access_groups, vec!["sales-routing".to_owned()]);
        let processes: Vec<_> = served.processes.keys().map(String::as_str).collect();
        assert_eq!(processes, ["sales-chat", "sales-email"]);
        assert!(served.has_queue("sales-email", "inbound"));
        assert!(served.has_queue("sales-email", "overflow"));
        let agents: Vec<_> = served.agents.iter().map(String::as_str).collect();
        assert_eq!(agents, ["anna", "arno"]);
        for media in ["email", "chat"] {
            assert!(served.media_types.contains(media), "{media}");
        }

        let served = from_files(&settings("support", "ixs-support"), &tenant())
            .unwrap()
            .served;
        let processes: Vec<_> = served.processes.keys().map(String::as_str).collect();
        assert_eq!(processes, ["support-chat", "support-email"]);
        let agents: Vec<_> = served.agents.iter().map(String::as_str).collect();
        assert_eq!(agents, ["bea", "bob"]);
    }

    #[test]
    fn an_unknown_application_is_named() {
        let error = from_files(&settings("sales", "ixs-nobody"), &tenant()).unwrap_err();
        assert!(format!("{error:#}").contains("ixs-nobody"), "{error:#}");
    }

    #[test]
    fn an_invalid_view_condition_is_refused_with_its_place() {
        let mut directory = Directory::load(&tenant()).unwrap();
        let view = directory
            .processes
            .get_mut("sales-email")
            .and_then(|p| p.queues.get_mut("inbound"))
            .and_then(|q| q.views.values_mut().next())
            .unwrap();
        view.condition = "priority >=".into();
        let error = from_directory(&settings("sales", "ixs-sales"), &directory).unwrap_err();
        let text = format!("{error:#}");
        assert!(
            text.contains("sales-email") && text.contains("inbound"),
            "{text}"
        );
        assert!(text.contains("column"), "{text}");
    }
}
