//! The interaction lifecycle as one typed state machine.
//!
//! Every change an interaction can go through is an [`Action`]; [`next`] says
//! which state it leads to from a given state, or that it is illegal there.
//! Nothing else in the crate decides whether a transition is allowed.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Where an interaction is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// In a queue, visible to its views.
    Queued,
    /// Held by an external routing client that pulled it from a view.
    Routing,
    /// Reserved for one agent; the invitation is pending.
    Offered,
    /// Accepted by an agent, who is working on it.
    Handling,
    /// Parked in a workbin.
    Parked,
    /// Terminal: processing stopped, with a reason.
    Stopped,
}

impl State {
    pub const ALL: [State; 6] = [
        State::Queued,
        State::Routing,
        State::Offered,
        State::Handling,
        State::Parked,
        State::Stopped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Queued => "queued",
            State::Routing => "routing",
            State::Offered => "offered",
            State::Handling => "handling",
            State::Parked => "parked",
            State::Stopped => "stopped",
        }
    }

    pub fn parse(s: &str) -> Option<State> {
        State::ALL.into_iter().find(|state| state.as_str() == s)
    }

    /// Whether the interaction is still part of the live set.
    pub fn is_live(self) -> bool {
        self != State::Stopped
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request that changes an interaction's state (or may leave it as is).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Pulled from a `pull` view by an external routing client.
    Pull,
    /// Reserved for an agent (an invitation is sent).
    Offer,
    /// The agent accepted the invitation.
    Accept,
    /// The agent rejected the invitation, or its timer expired.
    Reject,
    /// Placed in a queue (also: transferred to a queue).
    PlaceInQueue,
    /// Placed in a workbin.
    PlaceInWorkbin,
    /// Taken by an agent from a workbin.
    TakeFromWorkbin,
    /// Properties changed; the state stays.
    ChangeProperties,
    /// Processing stopped.
    Stop,
}

impl Action {
    pub const ALL: [Action; 9] = [
        Action::Pull,
        Action::Offer,
        Action::Accept,
        Action::Reject,
        Action::PlaceInQueue,
        Action::PlaceInWorkbin,
        Action::TakeFromWorkbin,
        Action::ChangeProperties,
        Action::Stop,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Pull => "pull",
            Action::Offer => "offer",
            Action::Accept => "accept",
            Action::Reject => "reject",
            Action::PlaceInQueue => "place in queue",
            Action::PlaceInWorkbin => "place in workbin",
            Action::TakeFromWorkbin => "take from workbin",
            Action::ChangeProperties => "change properties",
            Action::Stop => "stop",
        }
    }
}

/// The state `action` leads to from `from`, or `None` when it is illegal there.
///
/// An offered interaction is reserved for one agent: it cannot be moved until
/// the offer is accepted, rejected or revoked, but it can be stopped.
pub fn next(from: State, action: Action) -> Option<State> {
    use Action as A;
    use State as S;
    match (from, action) {
        (S::Stopped, _) => None,
        (_, A::ChangeProperties) => Some(from),
        (_, A::Stop) => Some(S::Stopped),
        (S::Queued, A::Pull) => Some(S::Routing),
        (S::Queued | S::Routing, A::Offer) => Some(S::Offered),
        (S::Offered, A::Accept) => Some(S::Handling),
        (S::Offered, A::Reject) => Some(S::Queued),
        (S::Queued | S::Routing | S::Handling | S::Parked, A::PlaceInQueue) => Some(S::Queued),
        (S::Queued | S::Routing | S::Handling, A::PlaceInWorkbin) => Some(S::Parked),
        (S::Parked, A::TakeFromWorkbin) => Some(S::Handling),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stopped_is_terminal() {
        for action in Action::ALL {
            assert_eq!(next(State::Stopped, action), None, "{action:?}");
        }
    }

    #[test]
    fn every_live_state_can_be_stopped_and_changed() {
        for state in State::ALL.into_iter().filter(|s| s.is_live()) {
            assert_eq!(next(state, Action::Stop), Some(State::Stopped));
            assert_eq!(next(state, Action::ChangeProperties), Some(state));
        }
    }

    #[test]
    fn offer_round_trip() {
        assert_eq!(next(State::Queued, Action::Offer), Some(State::Offered));
        assert_eq!(next(State::Offered, Action::Accept), Some(State::Handling));
        assert_eq!(next(State::Offered, Action::Reject), Some(State::Queued));
        assert_eq!(next(State::Handling, Action::Accept), None);
    }

    #[test]
    fn offered_cannot_be_moved() {
        assert_eq!(next(State::Offered, Action::PlaceInQueue), None);
        assert_eq!(next(State::Offered, Action::PlaceInWorkbin), None);
    }

    #[test]
    fn names_round_trip() {
        for state in State::ALL {
            assert_eq!(State::parse(state.as_str()), Some(state));
        }
        assert_eq!(State::parse("done"), None);
    }
}
