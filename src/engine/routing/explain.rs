//! Why each routing decision was made: the agents considered and, for each
//! one passed over, the reason. Kept in memory, a few decisions per
//! interaction and a bounded number of agents per decision, never written
//! to the journal.

use crate::engine::Name;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use uuid::Uuid;

/// Why an agent was not chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Pass {
    /// The step's target does not hold for the agent.
    NotEligible,
    /// Eligible at a later step the interaction has not reached yet.
    StepNotReached,
    /// The step waits for another agent (its last or preferred agent).
    ReservedForAnother,
    LoggedOut,
    /// Logged in, but not with the interaction's media.
    MediaNotLoggedIn,
    NotReady,
    AfterWork,
    NoCapacity,
    /// Its desktop's live stream is not connected.
    Disconnected,
    /// It rejected or let this interaction's offer time out, and another
    /// eligible agent was free.
    RejectedRecently,
    /// Eligible and free, but the step's selection preferred another.
    NotSelected,
}

impl Pass {
    pub fn as_str(self) -> &'static str {
        match self {
            Pass::NotEligible => "not_eligible",
            Pass::StepNotReached => "step_not_reached",
            Pass::ReservedForAnother => "reserved_for_another",
            Pass::LoggedOut => "logged_out",
            Pass::MediaNotLoggedIn => "media_not_logged_in",
            Pass::NotReady => "not_ready",
            Pass::AfterWork => "after_work",
            Pass::NoCapacity => "no_capacity",
            Pass::Disconnected => "disconnected",
            Pass::RejectedRecently => "rejected_recently",
            Pass::NotSelected => "not_selected",
        }
    }
}

/// One agent passed over, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Passed {
    pub agent: Name,
    pub reason: Pass,
    /// The step the reason refers to (1-based), where it refers to one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<usize>,
}

/// One routing decision for an interaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub at: DateTime<Utc>,
    pub process: Name,
    pub queue: Name,
    pub view: Name,
    pub strategy: Name,
    /// The step in force (1-based).
    pub step: usize,
    pub select: &'static str,
    /// The agent offered the interaction; `None`: it waits.
    pub chosen: Option<Name>,
    /// Agents passed over, up to [`MAX_PASSED`].
    pub passed: Vec<Passed>,
    /// How many agents were passed over for each reason, all of them.
    pub counts: BTreeMap<&'static str, usize>,
}

/// How many passed-over agents a decision names; the counts cover all.
pub const MAX_PASSED: usize = 64;
/// How many decisions are kept per interaction.
pub const KEPT_DECISIONS: usize = 8;

impl Decision {
    pub fn pass(&mut self, agent: &str, reason: Pass, step: Option<usize>) {
        *self.counts.entry(reason.as_str()).or_default() += 1;
        if self.passed.len() < MAX_PASSED {
            self.passed.push(Passed {
                agent: agent.into(),
                reason,
                step,
            });
        }
    }
}

/// Recent decisions per interaction.
#[derive(Debug, Default)]
pub struct Explanations {
    by_interaction: BTreeMap<Uuid, VecDeque<Decision>>,
}

impl Explanations {
    pub fn record(&mut self, id: Uuid, decision: Decision) {
        // Most interactions are offered once: room for one decision.
        let kept = self
            .by_interaction
            .entry(id)
            .or_insert_with(|| VecDeque::with_capacity(1));
        if kept.len() == KEPT_DECISIONS {
            kept.pop_front();
        }
        kept.push_back(decision);
    }

    pub fn of(&self, id: Uuid) -> Vec<Decision> {
        self.by_interaction
            .get(&id)
            .map(|kept| kept.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Keeps only the latest decision about `id`: the one that sent it
    /// where it went.
    pub fn keep_last(&mut self, id: Uuid) {
        if let Some(kept) = self.by_interaction.get_mut(&id) {
            let excess = kept.len().saturating_sub(1);
            kept.drain(..excess);
            kept.shrink_to_fit();
        }
    }

    /// Forgets an interaction that is no longer routed.
    pub fn forget(&mut self, id: Uuid) {
        self.by_interaction.remove(&id);
    }
}
