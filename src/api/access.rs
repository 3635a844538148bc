//! What each role allows, per action, and how a caller's roles combine.
//!
//! A caller may act on any interaction when one of its roles other than
//! agent allows the action. Otherwise, when the agent role allows it and the
//! caller is an agent, it may act only on its own interactions (offered to
//! or handled by it); otherwise it is refused with 403. "Only its own"
//! narrows the agent's allowance alone: an agent who is also a reporter
//! reads any interaction, but stops or changes only its own. An
//! administrator may do everything.

use super::ApiError;
use super::auth::Caller;
use crate::directory::Role;
use std::collections::BTreeSet;

/// What a request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Get or find interactions.
    Read,
    Submit,
    ChangeProperties,
    PlaceInQueue,
    Stop,
    /// List queues and look into one.
    SeeQueues,
    /// Act on an agent's own state: log in, readiness, log out, its live
    /// stream.
    Work,
    /// Accept or reject an offer, take from a workbin, transfer to an
    /// agent: an agent's own doing.
    Handle,
    /// Park an interaction in a workbin.
    PlaceInWorkbin,
    /// See what a workbin holds.
    SeeWorkbins,
    /// Pull interactions from a pull view and offer them to agents.
    Pull,
    /// See why an interaction went where it did.
    Explain,
    /// Ask who would get an interaction now, changing nothing.
    DryRun,
    /// See every agent's state.
    SeeAgents,
    /// Read the journal: the event feed.
    ReadEvents,
    /// See the live statistics of queues and agents.
    SeeStats,
}

/// How far an allowance reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reach {
    /// Only the interactions offered to or handled by the caller, as an
    /// agent; a submission lands in its hands.
    Own,
    Any,
}

/// Every role, in the order refusals name them.
const ROLES: [Role; 5] = [
    Role::Gateway,
    Role::Agent,
    Role::Router,
    Role::Reporter,
    Role::Admin,
];

/// What `role` allows for `action`, if anything.
pub fn allowance(role: Role, action: Action) -> Option<Reach> {
    use Action::*;
    match (role, action) {
        (Role::Admin, _) => Some(Reach::Any),
        (Role::Gateway, Read | Submit | ChangeProperties | Stop) => Some(Reach::Any),
        (
            Role::Agent,
            Read | Submit | ChangeProperties | PlaceInQueue | Stop | Work | Handle | PlaceInWorkbin
            | SeeWorkbins | Explain,
        ) => Some(Reach::Own),
        (
            Role::Router,
            Read | ChangeProperties | PlaceInQueue | Stop | SeeQueues | PlaceInWorkbin
            | SeeWorkbins | Pull | Explain | DryRun | SeeAgents | SeeStats,
        ) => Some(Reach::Any),
        (
            Role::Reporter,
            Read | SeeQueues | SeeWorkbins | Explain | SeeAgents | ReadEvents | SeeStats,
        ) => Some(Reach::Any),
        _ => None,
    }
}

/// The widest reach any of `roles` allows for `action`: `Any` if one of
/// them allows it on any interaction, else `Own` if the agent role allows
/// it, else `None`.
pub fn reach(roles: &BTreeSet<Role>, action: Action) -> Option<Reach> {
    roles
        .iter()
        .filter_map(|role| allowance(*role, action))
        .max()
}

impl Caller {
    /// How far the caller may take `action`, or 403 naming the roles that
    /// would allow it.
    pub fn may(&self, action: Action) -> Result<Reach, ApiError> {
        reach(&self.roles, action).ok_or_else(|| {
            let names: Vec<&str> = ROLES
                .into_iter()
                .filter(|role| *role != Role::Admin && allowance(*role, action).is_some())
                .map(Role::as_str)
                .collect();
            ApiError::Forbidden(format!(
                "'{}' needs the role {} for this request",
                self.person,
                names.join(" or ")
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Action::*;

    const ACTIONS: [Action; 16] = [
        Read,
        Submit,
        ChangeProperties,
        PlaceInQueue,
        Stop,
        SeeQueues,
        Work,
        Handle,
        PlaceInWorkbin,
        SeeWorkbins,
        Pull,
        Explain,
        DryRun,
        SeeAgents,
        ReadEvents,
        SeeStats,
    ];

    fn reach_of(roles: &[Role], action: Action) -> Option<Reach> {
        reach(&roles.iter().copied().collect(), action)
    }

    #[test]
    fn an_agent_alone_acts_on_its_own_only_and_never_sees_queues() {
        for action in [Read, Submit, ChangeProperties, PlaceInQueue, Stop] {
            assert_eq!(
                reach_of(&[Role::Agent], action),
                Some(Reach::Own),
                "{action:?}"
            );
        }
        assert_eq!(reach_of(&[Role::Agent], SeeQueues), None);
        for action in [Work, Handle, PlaceInWorkbin, SeeWorkbins, Explain] {
            assert_eq!(
                reach_of(&[Role::Agent], action),
                Some(Reach::Own),
                "{action:?}"
            );
        }
        for action in [Pull, DryRun, SeeAgents] {
            assert_eq!(reach_of(&[Role::Agent], action), None, "{action:?}");
        }
    }

    #[test]
    fn only_agents_handle_offers_and_only_routers_pull() {
        for role in [Role::Gateway, Role::Router, Role::Reporter] {
            assert_eq!(reach_of(&[role], Handle), None, "{role:?}");
            assert_eq!(reach_of(&[role], Work), None, "{role:?}");
        }
        assert_eq!(reach_of(&[Role::Router], Pull), Some(Reach::Any));
        assert_eq!(reach_of(&[Role::Reporter], Pull), None);
        assert_eq!(reach_of(&[Role::Reporter], DryRun), None);
        assert_eq!(reach_of(&[Role::Reporter], SeeAgents), Some(Reach::Any));
    }

    #[test]
    fn reporters_and_routers_see_the_statistics_agents_and_gateways_do_not() {
        assert_eq!(reach_of(&[Role::Reporter], SeeStats), Some(Reach::Any));
        assert_eq!(reach_of(&[Role::Router], SeeStats), Some(Reach::Any));
        assert_eq!(reach_of(&[Role::Admin], SeeStats), Some(Reach::Any));
        for role in [Role::Gateway, Role::Agent] {
            assert_eq!(reach_of(&[role], SeeStats), None, "{role:?}");
        }
    }

    #[test]
    fn only_reporters_read_the_event_feed() {
        assert_eq!(reach_of(&[Role::Reporter], ReadEvents), Some(Reach::Any));
        for role in [Role::Gateway, Role::Agent, Role::Router] {
            assert_eq!(reach_of(&[role], ReadEvents), None, "{role:?}");
        }
    }

    #[test]
    fn an_agent_and_reporter_reads_anything_but_changes_only_its_own() {
        let roles = [Role::Agent, Role::Reporter];
        assert_eq!(reach_of(&roles, Read), Some(Reach::Any));
        assert_eq!(reach_of(&roles, SeeQueues), Some(Reach::Any));
        for action in [Submit, ChangeProperties, PlaceInQueue, Stop] {
            assert_eq!(reach_of(&roles, action), Some(Reach::Own), "{action:?}");
        }
    }

    #[test]
    fn an_agent_and_router_routes_anything_but_submits_into_its_own_hands() {
        let roles = [Role::Agent, Role::Router];
        for action in [Read, ChangeProperties, PlaceInQueue, Stop, SeeQueues] {
            assert_eq!(reach_of(&roles, action), Some(Reach::Any), "{action:?}");
        }
        assert_eq!(reach_of(&roles, Submit), Some(Reach::Own));
    }

    #[test]
    fn an_agent_and_gateway_acts_as_a_gateway_where_a_gateway_may() {
        let roles = [Role::Agent, Role::Gateway];
        for action in [Read, Submit, ChangeProperties, Stop] {
            assert_eq!(reach_of(&roles, action), Some(Reach::Any), "{action:?}");
        }
        assert_eq!(reach_of(&roles, PlaceInQueue), Some(Reach::Own));
        assert_eq!(reach_of(&roles, SeeQueues), None);
    }

    #[test]
    fn a_gateway_a_router_and_a_reporter_alone() {
        assert_eq!(reach_of(&[Role::Gateway], PlaceInQueue), None);
        assert_eq!(reach_of(&[Role::Gateway], SeeQueues), None);
        assert_eq!(reach_of(&[Role::Gateway], Stop), Some(Reach::Any));
        assert_eq!(reach_of(&[Role::Router], Submit), None);
        assert_eq!(reach_of(&[Role::Router], Stop), Some(Reach::Any));
        for action in [Submit, ChangeProperties, PlaceInQueue, Stop] {
            assert_eq!(reach_of(&[Role::Reporter], action), None, "{action:?}");
        }
        assert_eq!(reach_of(&[Role::Reporter], Read), Some(Reach::Any));
    }

    #[test]
    fn an_administrator_may_do_everything_whatever_else_it_holds() {
        for action in ACTIONS {
            assert_eq!(reach_of(&[Role::Admin], action), Some(Reach::Any));
            assert_eq!(
                reach_of(&[Role::Admin, Role::Agent], action),
                Some(Reach::Any)
            );
        }
    }

    #[test]
    fn no_role_allows_nothing() {
        for action in ACTIONS {
            assert_eq!(reach_of(&[], action), None);
        }
    }

    #[test]
    fn adding_a_role_never_narrows() {
        // Every set of roles, as a bit mask over ROLES.
        for set in 0u32..(1 << ROLES.len()) {
            let roles: Vec<Role> = (0..ROLES.len())
                .filter(|i| set & (1 << i) != 0)
                .map(|i| ROLES[i])
                .collect();
            for extra in ROLES {
                let mut more = roles.clone();
                more.push(extra);
                for action in ACTIONS {
                    assert!(
                        reach_of(&more, action) >= reach_of(&roles, action),
                        "{more:?} {action:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_refusal_names_the_roles_that_would_allow_it() {
        let rita = Caller {
            person: "rita".into(),
            roles: [Role::Reporter].into(),
        };
        let refused = rita.may(Stop).unwrap_err().to_string();
        assert_eq!(
            refused,
            "'rita' needs the role gateway or agent or router for this request"
        );
        assert_eq!(rita.may(Read).unwrap(), Reach::Any);
    }
}
