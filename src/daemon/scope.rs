//! The instance's scope from the tenant's directory files: who it runs as,
//! and what of the tenant that identity may read.

use crate::api::Identity;
use crate::directory::{Directory, Dispatch};
use crate::engine::{Served, ServedProcess};
use crate::settings::Settings;
use anyhow::Context;

/// Loads the directory and computes this instance's identity and scope.
///
/// The instance sees the directory as its log-on-as person may: processes,
/// media types and agents it cannot read do not exist for it. An
/// application without a log-on-as person runs as nobody and serves
/// nothing.
pub fn resolve(settings: &Settings) -> anyhow::Result<(Identity, Served)> {
    let path = &settings.config_server.directory;
    let directory = Directory::load(path)
        .with_context(|| format!("the tenant directory {} is invalid", path.display()))?;
    from_directory(settings, &directory)
}

pub fn from_directory(
    settings: &Settings,
    directory: &Directory,
) -> anyhow::Result<(Identity, Served)> {
    let application = &settings.instance.application;
    let scope = directory
        .scope_for_application(application)
        .with_context(|| format!("setting `instance.application` = '{application}'"))?;
    let identity = Identity {
        instance: settings.instance.name.clone(),
        application: application.clone(),
        person: scope.person.clone(),
        access_groups: scope.access_groups.iter().cloned().collect(),
    };
    let Some(person) = &scope.person else {
        return Ok((identity, Served::default()));
    };
    let visible = directory.filtered_for(person);
    for (name, process) in &scope.processes {
        for (queue_name, queue) in &process.queues {
            for (view_name, view) in &queue.views {
                crate::expr::parse(&view.condition).with_context(|| {
                    format!(
                        "business process '{name}', queue '{queue_name}', view '{view_name}': \
                         invalid condition"
                    )
                })?;
                if let Dispatch::Strategy(strategy) = &view.dispatch {
                    anyhow::ensure!(
                        process.strategies.contains_key(strategy),
                        "business process '{name}', view '{view_name}': unknown strategy '{strategy}'"
                    );
                }
            }
        }
    }
    let served = Served {
        processes: scope
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
        media_types: visible.media_types.keys().cloned().collect(),
        agents: visible
            .persons
            .values()
            .filter(|p| p.agent.is_some())
            .map(|p| p.name.clone())
            .collect(),
    };
    Ok((identity, served))
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
            tenant(),
        )
    }

    #[test]
    fn each_example_instance_serves_its_own_solution() {
        let (identity, served) = resolve(&settings("sales", "ixs-sales")).unwrap();
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

        let (_, served) = resolve(&settings("support", "ixs-support")).unwrap();
        let processes: Vec<_> = served.processes.keys().map(String::as_str).collect();
        assert_eq!(processes, ["support-chat", "support-email"]);
        let agents: Vec<_> = served.agents.iter().map(String::as_str).collect();
        assert_eq!(agents, ["bea", "bob"]);
    }

    #[test]
    fn an_unknown_application_is_named() {
        let error = resolve(&settings("sales", "ixs-nobody")).unwrap_err();
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
