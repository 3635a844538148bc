//! Live statistics over a rolling window, computed from the committed
//! journal alone (`GET /v1/stats`).
//!
//! [`Window`] is pure: journal entries go in, in commit order, with the
//! time they carry; a snapshot comes out at a `now` passed in, and whatever
//! fell out of the window is pruned. The daemon's task feeds it (the
//! journal of the window from the database at start, then the writer's
//! live tail), so that a restart rebuilds the same figures from the same
//! journal; the API adds the engine's live gauges (depth, oldest age,
//! agents' state and load).
//!
//! What each entry means here:
//! - a queue is *entered* by `submitted` (queued, not an agent's own
//!   submission) and `placed_in_queue` (not the return of a pulled or
//!   pending interaction to its own queue after a routing timeout or a
//!   restart);
//! - `offered`, `rejected`, `offer_timed_out` count for the queue and, the
//!   last two, as *missed* for the agent the entry names; an offer of a
//!   transfer between agents counts for the agents only;
//! - `accepted` counts for the queue (not a transfer's) and as *handled*
//!   for the agent; its wait runs from when the interaction was placed in
//!   its queue (`placed_in_queue_at` in the entry's details) to the accept:
//!   a rejected or timed-out offer does not restart it;
//! - `processing_stopped` counts as *stopped*, and as *abandoned* when it
//!   was still waiting (queued, offered or pulled by a routing client);
//! - an agent *holds* an interaction from `accepted` (or
//!   `taken_from_workbin`, or its own submission) until an entry takes it
//!   out of its hands (stopped, placed in a queue or a workbin, revoked, a
//!   transfer accepted by another). An entry that takes out of an agent's
//!   hands an interaction taken before the window says so (`from` handling,
//!   the agent), and the hold is counted from the window's start;
//! - an agent is logged in from `agent_logged_in` to `agent_logged_out`; a
//!   log-out or any entry of an agent not known to be logged in means it
//!   was since before the window. Agents logged in now and interactions
//!   held now with nothing of them in the window (the engine's view,
//!   passed to [`Window::snapshot`]) count from the window's start too.

mod board;

pub use board::Board;

use crate::engine::EventKind;
use crate::store::JournalEntry;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use uuid::Uuid;

type At = DateTime<Utc>;

/// What happened in a queue, at a time.
#[derive(Debug, Clone, Copy, PartialEq)]
enum QueueMark {
    Entered,
    Offered,
    /// With the wait from entering the queue, when known.
    Accepted(Option<Duration>),
    Rejected,
    OfferTimedOut,
    /// Stopped; `true` while still waiting (abandoned).
    Stopped(bool),
}

/// What happened to an agent, at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AgentMark {
    Handled,
    Missed,
}

/// A span of time; `None` at the start: since before the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    start: Option<At>,
    end: Option<At>,
}

#[derive(Debug, Default)]
struct AgentLog {
    marks: VecDeque<(At, AgentMark)>,
    /// Logged-in spans, in order; the last may be open.
    logged_in: Vec<Span>,
    /// Spans during which it held one interaction, closed ones.
    held: Vec<Span>,
    /// Interactions it holds now, since when.
    holding: HashMap<Uuid, Option<At>>,
}

impl AgentLog {
    fn logged_in_now(&self) -> bool {
        self.logged_in.last().is_some_and(|span| span.end.is_none())
    }

    fn log_in(&mut self, at: Option<At>) {
        if !self.logged_in_now() {
            self.logged_in.push(Span {
                start: at,
                end: None,
            });
        }
    }

    fn log_out(&mut self, at: At) {
        if !self.logged_in_now() {
            self.logged_in.push(Span {
                start: None,
                end: None,
            });
        }
        if let Some(span) = self.logged_in.last_mut() {
            span.end = Some(at);
        }
    }

    fn release(&mut self, id: Uuid, at: At) {
        let start = self.holding.remove(&id).unwrap_or(None);
        self.held.push(Span {
            start,
            end: Some(at),
        });
    }
}

/// The journal's figures over a rolling window.
#[derive(Debug)]
pub struct Window {
    span: Duration,
    /// The position of the last entry applied.
    position: i64,
    queues: BTreeMap<(String, String), VecDeque<(At, QueueMark)>>,
    agents: BTreeMap<String, AgentLog>,
    /// Who holds each interaction known to be held.
    holders: HashMap<Uuid, String>,
}

/// The engine's view at the time of a snapshot.
#[derive(Debug, Clone, Default)]
pub struct Live {
    /// Every queue to report, with its service-level target.
    pub queues: BTreeMap<(String, String), std::time::Duration>,
    /// The agents logged in now, with the interactions each holds.
    pub agents: BTreeMap<String, Vec<Uuid>>,
}

/// A queue's figures over the window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueFigures {
    pub process: String,
    pub queue: String,
    pub entered: u64,
    pub offered: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub offer_timed_out: u64,
    /// Stopped while still waiting, before an agent accepted it.
    pub abandoned: u64,
    pub stopped: u64,
    /// The mean wait from entering the queue to the accept, in seconds.
    pub wait_avg_secs: Option<f64>,
    /// The 90th percentile of those waits (nearest rank), in seconds.
    pub wait_p90_secs: Option<f64>,
    pub service_level_target_secs: u64,
    /// The share of accepts whose wait was at most the target, 0 to 1.
    pub service_level: Option<f64>,
}

/// An agent's figures over the window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentFigures {
    pub name: String,
    /// Offers it accepted.
    pub handled: u64,
    /// Offers it rejected or let time out.
    pub missed: u64,
    /// Seconds logged in within the window.
    pub logged_in_secs: f64,
    /// Seconds of those during which it held at least one interaction.
    pub holding_secs: f64,
    /// `holding_secs / logged_in_secs`, 0 to 1; none when not logged in
    /// within the window.
    pub occupancy: Option<f64>,
}

/// The window's figures at a time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Snapshot {
    pub at: At,
    pub window_secs: i64,
    /// The position of the last journal entry counted.
    pub position: i64,
    pub queues: Vec<QueueFigures>,
    pub agents: Vec<AgentFigures>,
}

/// The details of an entry that the figures read; everything else in them
/// (a submitted interaction's properties…) is passed over unread.
#[derive(Debug, Default, Deserialize)]
struct Details {
    /// A submitted interaction's state.
    state: Option<String>,
    reason: Option<String>,
    /// Where it came from: a state, or a place with the state and agent.
    from: Option<From>,
    /// An offer of a transfer between agents.
    transfer: Option<bool>,
    transferred_from: Option<String>,
    placed_in_queue_at: Option<At>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum From {
    State(String),
    Place {
        state: Option<String>,
        agent: Option<String>,
    },
}

impl Details {
    fn of(entry: &JournalEntry) -> Details {
        serde_json::from_str(entry.event.data.as_raw().get()).unwrap_or_default()
    }

    fn state(&self) -> Option<&str> {
        self.state.as_deref()
    }

    /// The state the entry says the interaction came from.
    fn previous_state(&self) -> Option<&str> {
        match &self.from {
            Some(From::State(state)) => Some(state),
            Some(From::Place { state, .. }) => state.as_deref(),
            None => None,
        }
    }

    fn previous_agent(&self) -> Option<&str> {
        match &self.from {
            Some(From::Place { agent, .. }) => agent.as_deref(),
            _ => None,
        }
    }
}

impl Window {
    pub fn new(span: std::time::Duration) -> Window {
        Window {
            span: Duration::from_std(span).unwrap_or(Duration::MAX),
            position: 0,
            queues: BTreeMap::new(),
            agents: BTreeMap::new(),
            holders: HashMap::new(),
        }
    }

    /// Counts only entries after `position` from now on: the journal
    /// before it lies outside the window.
    pub fn resume_after(&mut self, position: i64) {
        self.position = self.position.max(position);
    }

    /// The position of the last entry applied.
    pub fn position(&self) -> i64 {
        self.position
    }

    fn queue_mark(&mut self, entry: &JournalEntry, mark: QueueMark) {
        let event = &entry.event;
        if let (Some(process), Some(queue)) = (&event.process, &event.queue) {
            self.queues
                .entry((process.to_string(), queue.to_string()))
                .or_default()
                .push_back((event.at, mark));
        }
    }

    fn agent(&mut self, name: &str) -> &mut AgentLog {
        self.agents.entry(name.to_owned()).or_default()
    }

    fn agent_mark(&mut self, entry: &JournalEntry, mark: AgentMark) {
        if let Some(agent) = &entry.event.agent {
            let at = entry.event.at;
            let log = self.agent(agent);
            // Offers go to logged-in agents only.
            log.log_in(None);
            log.marks.push_back((at, mark));
        }
    }

    /// Applies one committed entry; an entry at or before the last position
    /// applied is passed over.
    pub fn apply(&mut self, entry: &JournalEntry) {
        if entry.position <= self.position {
            return;
        }
        self.position = entry.position;
        let event = &entry.event;
        let at = event.at;
        let data = Details::of(entry);
        let transfer = data.transfer == Some(true);
        match event.kind {
            // An agent's own submission starts in its hands, not queued.
            EventKind::Submitted if data.state() == Some("queued") => {
                self.queue_mark(entry, QueueMark::Entered);
            }
            // Not the return of a pulled or pending interaction to its own
            // queue.
            EventKind::PlacedInQueue
                if !matches!(data.reason.as_deref(), Some("recovery" | "routing_timeout")) =>
            {
                self.queue_mark(entry, QueueMark::Entered);
            }
            EventKind::Offered => {
                self.queue_mark(entry, QueueMark::Offered);
                if let Some(agent) = &event.agent {
                    self.agent(agent).log_in(None);
                }
            }
            EventKind::Accepted => {
                if data.transferred_from.is_none() {
                    let wait = data.placed_in_queue_at.map(|since| at - since);
                    self.queue_mark(entry, QueueMark::Accepted(wait));
                }
                self.agent_mark(entry, AgentMark::Handled);
            }
            EventKind::Rejected => {
                if !transfer {
                    self.queue_mark(entry, QueueMark::Rejected);
                }
                self.agent_mark(entry, AgentMark::Missed);
            }
            EventKind::OfferTimedOut => {
                if !transfer {
                    self.queue_mark(entry, QueueMark::OfferTimedOut);
                }
                self.agent_mark(entry, AgentMark::Missed);
            }
            EventKind::ProcessingStopped => {
                let waiting = matches!(
                    data.previous_state(),
                    Some("queued" | "offered" | "routing")
                );
                self.queue_mark(entry, QueueMark::Stopped(waiting));
            }
            EventKind::AgentLoggedIn => {
                if let Some(agent) = &event.agent {
                    self.agent(agent).log_in(Some(at));
                }
            }
            EventKind::AgentLoggedOut => {
                if let Some(agent) = &event.agent {
                    self.agent(agent).log_out(at);
                }
            }
            EventKind::AgentReady | EventKind::AgentNotReady => {
                if let Some(agent) = &event.agent {
                    self.agent(agent).log_in(None);
                }
            }
            _ => {}
        }
        self.hold(entry, &data, transfer);
    }

    /// Who holds the interaction after `entry`, and the hold it ends.
    fn hold(&mut self, entry: &JournalEntry, data: &Details, transfer: bool) {
        let event = &entry.event;
        let Some(id) = event.interaction_id else {
            return;
        };
        let at = event.at;
        let after = match event.kind {
            EventKind::Accepted | EventKind::TakenFromWorkbin => {
                event.agent.as_deref().map(str::to_owned)
            }
            EventKind::Submitted if data.state() == Some("handling") => {
                event.agent.as_deref().map(str::to_owned)
            }
            EventKind::PropertiesChanged | EventKind::Transferred | EventKind::Offered => return,
            EventKind::Rejected | EventKind::OfferTimedOut if transfer => return,
            _ => None,
        };
        // Who held it before: as known, or as the entry says for one taken
        // before the window.
        let before = self.holders.get(&id).cloned().or_else(|| {
            let said = match event.kind {
                EventKind::Accepted => data.transferred_from.clone(),
                _ if data.previous_state() == Some("handling") => data
                    .previous_agent()
                    .map(str::to_owned)
                    .or_else(|| event.agent.as_deref().map(str::to_owned)),
                _ => None,
            };
            if let Some(agent) = &said {
                self.agent(agent).holding.insert(id, None);
            }
            said
        });
        if before == after {
            return;
        }
        if let Some(agent) = before {
            self.holders.remove(&id);
            self.agent(&agent).release(id, at);
        }
        if let Some(agent) = after {
            self.holders.insert(id, agent.clone());
            let log = self.agent(&agent);
            log.log_in(None);
            log.holding.insert(id, Some(at));
        }
    }

    /// Forgets what ended before the window that ends at `now`.
    pub fn prune(&mut self, now: At) {
        let cutoff = now - self.span;
        for marks in self.queues.values_mut() {
            while marks.front().is_some_and(|(at, _)| *at < cutoff) {
                marks.pop_front();
            }
        }
        self.queues.retain(|_, marks| !marks.is_empty());
        let holders = &self.holders;
        self.agents.retain(|name, log| {
            while log.marks.front().is_some_and(|(at, _)| *at < cutoff) {
                log.marks.pop_front();
            }
            let over = |span: &Span| span.end.is_some_and(|end| end < cutoff);
            log.logged_in.retain(|span| !over(span));
            log.held.retain(|span| !over(span));
            let holds = holders.values().any(|holder| holder == name);
            !(log.marks.is_empty()
                && log.logged_in.is_empty()
                && log.held.is_empty()
                && log.holding.is_empty()
                && !holds)
        });
    }

    /// The figures of the window ending at `now`, with the engine's `live`
    /// view; prunes first.
    pub fn snapshot(&mut self, now: At, live: &Live) -> Snapshot {
        self.prune(now);
        let cutoff = now - self.span;
        let queues = live
            .queues
            .iter()
            .map(|((process, queue), target)| {
                let marks = self
                    .queues
                    .get(&(process.clone(), queue.clone()))
                    .map(|marks| marks.iter().filter(|(at, _)| *at >= cutoff && *at <= now));
                queue_figures(process, queue, *target, marks.into_iter().flatten())
            })
            .collect();
        let mut names: BTreeSet<&String> = self.agents.keys().collect();
        names.extend(live.agents.keys());
        let agents = names
            .into_iter()
            .map(|name| {
                agent_figures(
                    name,
                    self.agents.get(name),
                    live.agents.get(name),
                    cutoff,
                    now,
                )
            })
            .collect();
        Snapshot {
            at: now,
            window_secs: self.span.num_seconds(),
            position: self.position,
            queues,
            agents,
        }
    }
}

fn secs(d: Duration) -> f64 {
    d.num_milliseconds() as f64 / 1000.0
}

fn queue_figures<'a>(
    process: &str,
    queue: &str,
    target: std::time::Duration,
    marks: impl Iterator<Item = &'a (At, QueueMark)>,
) -> QueueFigures {
    let mut figures = QueueFigures {
        process: process.to_owned(),
        queue: queue.to_owned(),
        entered: 0,
        offered: 0,
        accepted: 0,
        rejected: 0,
        offer_timed_out: 0,
        abandoned: 0,
        stopped: 0,
        wait_avg_secs: None,
        wait_p90_secs: None,
        service_level_target_secs: target.as_secs(),
        service_level: None,
    };
    let mut waits = Vec::new();
    for (_, mark) in marks {
        match mark {
            QueueMark::Entered => figures.entered += 1,
            QueueMark::Offered => figures.offered += 1,
            QueueMark::Accepted(wait) => {
                figures.accepted += 1;
                waits.extend(wait.map(|w| w.max(Duration::zero())));
            }
            QueueMark::Rejected => figures.rejected += 1,
            QueueMark::OfferTimedOut => figures.offer_timed_out += 1,
            QueueMark::Stopped(waiting) => {
                figures.stopped += 1;
                figures.abandoned += u64::from(*waiting);
            }
        }
    }
    if !waits.is_empty() {
        waits.sort();
        let n = waits.len();
        let total: f64 = waits.iter().map(|w| secs(*w)).sum();
        figures.wait_avg_secs = Some(total / n as f64);
        // Nearest rank: the smallest wait at or above 90 % of them.
        let rank = (n * 9).div_ceil(10).max(1);
        figures.wait_p90_secs = Some(secs(waits[rank - 1]));
        let target = Duration::from_std(target).unwrap_or(Duration::MAX);
        let within = waits.iter().filter(|w| **w <= target).count();
        figures.service_level = Some(within as f64 / n as f64);
    }
    figures
}

/// `spans` clamped to `[cutoff, now]`, merged, in order.
fn union(spans: impl Iterator<Item = Span>, cutoff: At, now: At) -> Vec<(At, At)> {
    let mut clamped: Vec<(At, At)> = spans
        .map(|span| {
            let start = span.start.map_or(cutoff, |s| s.max(cutoff));
            let end = span.end.map_or(now, |e| e.min(now));
            (start, end)
        })
        .filter(|(start, end)| start < end)
        .collect();
    clamped.sort();
    let mut merged: Vec<(At, At)> = Vec::new();
    for (start, end) in clamped {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    merged
}

fn length(spans: &[(At, At)]) -> Duration {
    spans
        .iter()
        .fold(Duration::zero(), |sum, (start, end)| sum + (*end - *start))
}

/// The time both sets of merged spans cover.
fn overlap(a: &[(At, At)], b: &[(At, At)]) -> Duration {
    let mut total = Duration::zero();
    for (a_start, a_end) in a {
        for (b_start, b_end) in b {
            let start = (*a_start).max(*b_start);
            let end = (*a_end).min(*b_end);
            if start < end {
                total += end - start;
            }
        }
    }
    total
}

fn agent_figures(
    name: &str,
    log: Option<&AgentLog>,
    live: Option<&Vec<Uuid>>,
    cutoff: At,
    now: At,
) -> AgentFigures {
    let empty = AgentLog::default();
    let log = log.unwrap_or(&empty);
    let count = |wanted: AgentMark| {
        log.marks
            .iter()
            .filter(|(at, mark)| *mark == wanted && *at >= cutoff && *at <= now)
            .count() as u64
    };
    let mut logged_in = log.logged_in.clone();
    if live.is_some() && !log.logged_in_now() {
        // Logged in now, with nothing of it in the window: since before.
        logged_in.push(Span {
            start: None,
            end: None,
        });
    }
    let mut held = log.held.clone();
    held.extend(log.holding.values().map(|start| Span {
        start: *start,
        end: None,
    }));
    for id in live.into_iter().flatten() {
        if !log.holding.contains_key(id) {
            // Held now, taken before the window.
            held.push(Span {
                start: None,
                end: None,
            });
        }
    }
    let logged_in = union(logged_in.into_iter(), cutoff, now);
    let held = union(held.into_iter(), cutoff, now);
    let logged_in_time = length(&logged_in);
    let holding_time = overlap(&logged_in, &held);
    AgentFigures {
        name: name.to_owned(),
        handled: count(AgentMark::Handled),
        missed: count(AgentMark::Missed),
        logged_in_secs: secs(logged_in_time),
        holding_secs: secs(holding_time),
        occupancy: (logged_in_time > Duration::zero())
            .then(|| secs(holding_time) / secs(logged_in_time)),
    }
}

#[cfg(test)]
mod tests;
