//! The agents' live state: logged in with which media, ready or not (and
//! why), what they hold against their capacity, since when they are idle,
//! how many offers they missed in a row, and whether their desktop's live
//! stream is connected.

use super::config::AgentProfile;
use super::explain::Pass;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One media an agent logged in with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaState {
    pub ready: bool,
    /// Why it is not ready (`break`, `missed_offers`, `disconnected`…).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// No new interaction of this media before then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_work_until: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Agent {
    #[serde(skip)]
    pub profile: AgentProfile,
    pub logged_in: bool,
    pub media: BTreeMap<String, MediaState>,
    /// Interactions offered to or handled by the agent, per media.
    pub load: BTreeMap<String, u32>,
    /// Since when it holds nothing new: its log-in, or the end of its last
    /// interaction.
    pub idle_since: DateTime<Utc>,
    pub missed_in_row: u32,
    pub connected: bool,
    /// While disconnected: when the grace ends.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grace_until: Option<DateTime<Utc>>,
}

impl Agent {
    pub fn new(profile: AgentProfile, now: DateTime<Utc>) -> Self {
        Agent {
            profile,
            logged_in: false,
            media: BTreeMap::new(),
            load: BTreeMap::new(),
            idle_since: now,
            missed_in_row: 0,
            connected: false,
            grace_until: None,
        }
    }

    pub fn name(&self) -> &str {
        &self.profile.name
    }

    pub fn total_load(&self) -> u32 {
        self.load.values().sum()
    }

    pub fn load_of(&self, media: &str) -> u32 {
        self.load.get(media).copied().unwrap_or(0)
    }

    /// Whether the agent could take one more interaction of `media` now, or
    /// why not.
    pub fn free_for(&self, media: &str, now: DateTime<Utc>) -> Result<(), Pass> {
        if !self.logged_in {
            return Err(Pass::LoggedOut);
        }
        let Some(state) = self.media.get(media) else {
            return Err(Pass::MediaNotLoggedIn);
        };
        if !self.connected {
            return Err(Pass::Disconnected);
        }
        if !state.ready {
            return Err(Pass::NotReady);
        }
        if state.after_work_until.is_some_and(|until| until > now) {
            return Err(Pass::AfterWork);
        }
        let capacity = &self.profile.capacity;
        let max = capacity.media.get(media).copied().unwrap_or(0);
        if self.load_of(media) >= max {
            return Err(Pass::NoCapacity);
        }
        if capacity
            .total
            .is_some_and(|total| self.total_load() >= total)
        {
            return Err(Pass::NoCapacity);
        }
        Ok(())
    }

    /// Whether the agent could hold one more interaction of `media`, ready
    /// or not (taking one from a workbin): logged in with it, and below its
    /// capacity.
    pub fn room_for(&self, media: &str) -> Result<(), Pass> {
        if !self.logged_in {
            return Err(Pass::LoggedOut);
        }
        if !self.media.contains_key(media) {
            return Err(Pass::MediaNotLoggedIn);
        }
        let capacity = &self.profile.capacity;
        let max = capacity.media.get(media).copied().unwrap_or(0);
        if self.load_of(media) >= max
            || capacity
                .total
                .is_some_and(|total| self.total_load() >= total)
        {
            return Err(Pass::NoCapacity);
        }
        Ok(())
    }

    /// Whether the agent has any free capacity at all now (on some media).
    pub fn any_free(&self, now: DateTime<Utc>) -> bool {
        self.media
            .keys()
            .any(|media| self.free_for(media, now).is_ok())
    }

    /// `load / overall capacity` compared exactly: whether `self` is less
    /// busy than `other`.
    pub fn less_busy_than(&self, other: &Agent) -> std::cmp::Ordering {
        let mine =
            u64::from(self.total_load()) * u64::from(other.profile.capacity.overall().max(1));
        let theirs =
            u64::from(other.total_load()) * u64::from(self.profile.capacity.overall().max(1));
        mine.cmp(&theirs)
    }

    pub fn hold(&mut self, media: &str) {
        *self.load.entry(media.to_owned()).or_default() += 1;
    }

    pub fn release(&mut self, media: &str) {
        if let Some(load) = self.load.get_mut(media) {
            *load = load.saturating_sub(1);
            if *load == 0 {
                self.load.remove(media);
            }
        }
    }

    /// Sets `media` (all of its media when `None`) ready or not.
    pub fn set_ready(&mut self, media: Option<&[String]>, ready: bool, reason: Option<&str>) {
        for (name, state) in self.media.iter_mut() {
            if media.is_none_or(|only| only.iter().any(|m| m == name)) {
                state.ready = ready;
                state.reason = if ready {
                    None
                } else {
                    reason.map(str::to_owned)
                };
            }
        }
    }
}
