//! What routing is configured with: the views of each queue with their
//! order, aging and strategy, the strategies' steps, the agents' profiles
//! and capacity, and the timers. Built by the daemon from the directory and
//! the settings; the router only reads it.

use crate::expr::Expr;
use chrono::Duration;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// How a step picks among its ready, eligible agents with free capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Select {
    /// The one longest since it last finished an interaction or logged in.
    LongestIdle,
    /// The lowest load relative to its capacity, then the longest idle.
    LeastBusy,
    /// The next after the view's last choice, in name order.
    RoundRobin,
    /// The agent who last handled an interaction of the same
    /// `properties.customer_id` in this process; none: the step is skipped.
    LastAgent,
}

impl Select {
    pub fn as_str(self) -> &'static str {
        match self {
            Select::LongestIdle => "longest_idle",
            Select::LeastBusy => "least_busy",
            Select::RoundRobin => "round_robin",
            Select::LastAgent => "last_agent",
        }
    }
}

/// The target of a step that names one agent through the interaction:
/// honoured only while that agent exists here, skipped at once otherwise.
pub const PREFERRED_AGENT_TARGET: &str = "agent.name = properties.preferred_agent";

/// One step of a strategy.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Which agents may take the interaction at this step.
    pub target: Expr,
    pub select: Select,
    /// How long the step lasts, from when the interaction reached it.
    pub timeout: Duration,
    /// The target reads only `agent.*`: whether an agent is eligible does
    /// not depend on the interaction.
    pub agent_only: bool,
    /// The step serves one agent named by the interaction
    /// (`properties.preferred_agent`).
    pub preferred: bool,
}

impl Step {
    pub fn new(target: Expr, select: Select, timeout: Duration) -> Self {
        let agent_only = target
            .paths()
            .all(|path| path.first().is_some_and(|first| first == "agent"));
        let preferred = target.to_string() == PREFERRED_AGENT_TARGET;
        Step {
            target,
            select,
            timeout,
            agent_only,
            preferred,
        }
    }

    /// Whether the step waits for one agent the interaction names (its last
    /// agent, its preferred agent).
    pub fn reserved(&self) -> bool {
        self.preferred || self.select == Select::LastAgent
    }
}

/// What happens when the last step's timeout passes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Exhausted {
    /// Placed in another queue of the same process, keeping its age.
    PlaceInQueue(String),
    /// Stopped, with this reason.
    Stop(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Strategy {
    pub name: String,
    pub steps: Vec<Step>,
    pub on_exhausted: Exhausted,
}

/// The fields a view may sort on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderField {
    Priority,
    SubmittedAt,
    PlacedInQueueAt,
    Id,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderKey {
    pub field: OrderField,
    pub descending: bool,
}

/// Priority aging: `points` of priority per `per` of waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Aging {
    pub points: i64,
    pub per: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Dispatch {
    /// ixs routes the view's interactions by this strategy.
    Strategy(Arc<Strategy>),
    /// An external routing client pulls them.
    Pull,
}

/// One enabled view of a queue.
#[derive(Debug, Clone, PartialEq)]
pub struct View {
    pub process: String,
    pub queue: String,
    pub name: String,
    /// Which of the queue's interactions the view holds (interaction fields
    /// only).
    pub condition: Expr,
    pub order: Vec<OrderKey>,
    pub aging: Option<Aging>,
    pub dispatch: Dispatch,
}

impl View {
    pub fn strategy(&self) -> Option<&Strategy> {
        match &self.dispatch {
            Dispatch::Strategy(strategy) => Some(strategy),
            Dispatch::Pull => None,
        }
    }
}

/// How many interactions of each media an agent may hold at once, offers
/// included; a media not listed is never offered. `total` caps the sum.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capacity {
    pub media: BTreeMap<String, u32>,
    pub total: Option<u32>,
}

impl Capacity {
    /// What the agent may hold in all: `total`, or the sum of the media.
    pub fn overall(&self) -> u32 {
        self.total
            .unwrap_or_else(|| self.media.values().copied().sum())
    }
}

/// A person of the tenant who can work as an agent here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentProfile {
    pub name: String,
    pub skills: BTreeMap<String, u8>,
    pub groups: BTreeSet<String>,
    pub capacity: Capacity,
}

/// The router's timers and limits.
#[derive(Debug, Clone, PartialEq)]
pub struct Timing {
    /// An offer not answered within this is revoked.
    pub delivery_timeout: Duration,
    /// Offers rejected or timed out in a row before the agent is set not
    /// ready (`missed_offers`).
    pub missed_offers_limit: u32,
    /// Per media: how long after finishing an interaction the agent gets no
    /// new one of that media.
    pub after_work: BTreeMap<String, Duration>,
    /// How long an agent's live stream may be gone before the agent is set
    /// not ready (`disconnected`).
    pub desktop_grace: Duration,
    /// A handled interaction with no request on it by its agent for this
    /// long is revoked back to its queue.
    pub handling_timeout: Duration,
    /// An interaction pulled by a routing client and not offered, placed or
    /// stopped within this goes back to its queue.
    pub routing_timeout: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            delivery_timeout: Duration::seconds(30),
            missed_offers_limit: 3,
            after_work: BTreeMap::new(),
            desktop_grace: Duration::seconds(30),
            handling_timeout: Duration::minutes(180),
            routing_timeout: Duration::minutes(720),
        }
    }
}

/// Everything routing is configured with.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RoutingConfig {
    /// The enabled views, in (process, queue, name) order.
    pub views: Vec<Arc<View>>,
    pub agents: BTreeMap<String, AgentProfile>,
    pub timing: Timing,
    /// (process, workbin) of the workbins an agent group shares; every other
    /// workbin is one per agent.
    pub group_workbins: BTreeSet<(String, String)>,
    /// (process, queue) → its service-level target: the wait within which
    /// an accept counts as answered in time, in the live statistics. A
    /// queue not listed has the directory's default.
    pub service_levels: BTreeMap<(String, String), std::time::Duration>,
}
