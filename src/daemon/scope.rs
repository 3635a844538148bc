//! TEMPORARY compile shim (replaced once the directory lands).
use crate::api::Identity;
use crate::engine::{Served, ServedProcess};
use crate::settings::Settings;

pub fn resolve(settings: &Settings) -> anyhow::Result<(Identity, Served)> {
    let p = |qs: &[&str]| ServedProcess {
        queues: qs.iter().map(|s| s.to_string()).collect(),
        workbins: Default::default(),
    };
    let (a, b) = if settings.instance.name == "sales" {
        ("sales-email", "sales-chat")
    } else {
        ("support-email", "support-chat")
    };
    Ok((
        Identity {
            instance: settings.instance.name.clone(),
            application: settings.instance.application.clone(),
            person: None,
            access_groups: vec![],
        },
        Served {
            processes: [
                (a.to_string(), p(&["inbound", "overflow"])),
                (b.to_string(), p(&["inbound", "overflow"])),
            ]
            .into(),
            media_types: ["email".to_string(), "chat".to_string()].into(),
            agents: ["anna".to_string()].into(),
        },
    ))
}
