//! Whether a scope can be served: the processes its person may read, the
//! media types, capacity rules and agents it needs to read with them, and
//! the media the `[routing]` settings name.

use super::{Report, list};
use crate::directory::Directory;
use crate::live::ScopeState;
use crate::settings::RoutingSettings;

/// Checks `state` and `visible`, the directory as the instance's person
/// sees it, with the instance's `[routing]` settings.
pub(super) fn served(
    report: &mut Report,
    state: &ScopeState,
    visible: &Directory,
    routing: &RoutingSettings,
) {
    let identity = &state.identity;
    let Some(person) = identity.person.as_deref() else {
        let reason = state.problem.clone().unwrap_or_default();
        report.fail("scope", reason);
        return;
    };
    let groups = match identity.access_groups.as_slice() {
        [] => "no access group".to_owned(),
        [one] => format!("access group {one}"),
        many => format!("access groups {}", many.join(", ")),
    };
    let grant = match identity.access_groups.as_slice() {
        [] => format!("make person '{person}' a member of an access group and grant it"),
        [_] => "grant its access group".to_owned(),
        _ => "grant one of its access groups".to_owned(),
    };
    let revision = state
        .revision
        .map(|r| format!(" at revision {r}"))
        .unwrap_or_default();
    if state.served.processes.is_empty() {
        report.fail(
            "scope",
            format!(
                "person '{person}' ({groups}) may read no business process{revision}: {grant} \
                 read on the processes, or on their folder"
            ),
        );
        return;
    }
    report.pass(
        "scope",
        format!(
            "person {person} ({groups}) serves {}{revision}",
            list(state.served.processes.keys())
        ),
    );
    let none = |what: &str, consequence: &str| {
        format!(
            "person '{person}' may read none: {consequence}; {grant} read on the {what}, or on \
             their folder"
        )
    };
    report.record(
        "media types",
        if visible.media_types.is_empty() {
            Err(none(
                "media types",
                "every submit would be refused as of an unknown media type",
            ))
        } else {
            Ok(list(visible.media_types.keys()))
        },
    );
    report.record(
        "capacity rules",
        if visible.capacity_rules.is_empty() {
            Err(none(
                "capacity rules",
                "agents would be offered interactions under no rule of the tenant's",
            ))
        } else {
            Ok(list(visible.capacity_rules.keys()))
        },
    );
    let agents: Vec<&String> = visible
        .persons
        .values()
        .filter(|p| p.agent.is_some())
        .map(|p| &p.name)
        .collect();
    report.record(
        "agents",
        if agents.is_empty() {
            Err(none("agents", "no agent could submit here or be routed to"))
        } else {
            Ok(list(agents))
        },
    );
    if !visible.media_types.is_empty() {
        report.record("routing", routing_media(routing, visible, person));
    }
}

/// What the `[routing]` settings give agents, or the media they name that
/// the instance does not read: most likely a misspelt one, whose own entry
/// is then missing.
fn routing_media(
    routing: &RoutingSettings,
    visible: &Directory,
    person: &str,
) -> Result<String, String> {
    let named = routing
        .default_capacity
        .iter()
        .flat_map(|rule| rule.media.keys().map(|m| ("routing.default_capacity", m)))
        .chain(routing.after_work.keys().map(|m| ("routing.after_work", m)));
    let unknown: Vec<String> = named
        .filter(|(_, media)| !visible.media_types.contains_key(*media))
        .map(|(key, media)| format!("{key} names '{media}'"))
        .collect();
    if !unknown.is_empty() {
        let what = if unknown.len() == 1 {
            "a media type"
        } else {
            "media types"
        };
        return Err(format!(
            "{}: not {what} person '{person}' may read (it reads {})",
            unknown.join("; "),
            list(visible.media_types.keys())
        ));
    }
    let capacity = match &routing.default_capacity {
        Some(rule) => {
            let mut each: Vec<String> =
                rule.media.iter().map(|(m, n)| format!("{n} {m}")).collect();
            if let Some(total) = rule.total {
                each.push(format!("{total} in all"));
            }
            each.join(", ")
        }
        None => visible
            .media_types
            .keys()
            .map(|m| format!("1 {m}"))
            .collect::<Vec<_>>()
            .join(", "),
    };
    let after_work = if routing.after_work.is_empty() {
        "no after-work".to_owned()
    } else {
        let each: Vec<String> = routing
            .after_work
            .iter()
            .map(|(m, d)| format!("{m} {}", humantime::format_duration(*d)))
            .collect();
        format!("after-work {}", each.join(", "))
    };
    Ok(format!(
        "an agent without a capacity rule may hold {capacity}; {after_work}"
    ))
}
