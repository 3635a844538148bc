//! Whether a scope can be served: the processes its person may read, and
//! the media types, capacity rules and agents it needs to read with them.

use super::{Report, list};
use crate::directory::Directory;
use crate::live::ScopeState;

/// Checks `state` and `visible`, the directory as the instance's person
/// sees it.
pub(super) fn served(report: &mut Report, state: &ScopeState, visible: &Directory) {
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
}
