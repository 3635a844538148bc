//! Each routed view's ordered indexes: the interactions its condition
//! selects, by the step of its strategy they are at and their media, in the
//! view's order, so that the head an agent may take is found without
//! walking the queue.
//!
//! With priority aging (`rate` points per second of waiting) the effective
//! priority `priority + rate × (now − submitted)` orders interactions the
//! same as the static `priority − rate × submitted`: the key never changes
//! while the interaction waits, and the index is never re-sorted.

use super::InView;
use super::config::{OrderField, View};
use crate::engine::Interaction;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

/// Priority points are scaled by this, so that aging can move them by
/// fractions.
const SCALE: i128 = 1_000_000;

/// An interaction's place in a view: smaller is served first. It also
/// carries what ranks it against the heads of other views, so that a freed
/// agent compares heads without looking the interactions up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct SortKey {
    order: [i128; 4],
    /// The aged priority ([`aged_priority`]).
    aged: i128,
    submitted: i64,
    id: Uuid,
}

fn micros(at: DateTime<Utc>) -> i128 {
    i128::from(at.timestamp_micros())
}

/// The priority with aging, scaled, as a static key: larger is more urgent.
pub fn aged_priority(view: &View, interaction: &Interaction) -> i128 {
    let base = i128::from(interaction.priority) * SCALE;
    match view.aging {
        Some(aging) => {
            let per = i128::from(aging.per.num_microseconds().unwrap_or(i64::MAX).max(1));
            base - micros(interaction.submitted_at) * i128::from(aging.points) * SCALE / per
        }
        None => base,
    }
}

pub fn sort_key(view: &View, interaction: &Interaction) -> SortKey {
    let aged = aged_priority(view, interaction);
    let mut key = [0i128; 4];
    for (slot, order) in key.iter_mut().zip(&view.order) {
        let value = match order.field {
            OrderField::Priority => aged,
            OrderField::SubmittedAt => micros(interaction.submitted_at),
            OrderField::PlacedInQueueAt => interaction.placed_in_queue_at.map_or(i128::MAX, micros),
            OrderField::Id => interaction.id.as_u128() as i128,
        };
        *slot = if order.descending { -value } else { value };
    }
    SortKey {
        order: key,
        aged,
        submitted: interaction.submitted_at.timestamp_micros(),
        id: interaction.id,
    }
}

impl SortKey {
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// Across views, at `now`: the highest effective priority first, then
    /// the longest wait.
    pub fn rank(&self, view: &View, now: DateTime<Utc>) -> (i128, i64, Uuid) {
        let lift = match view.aging {
            Some(aging) => {
                let per = i128::from(aging.per.num_microseconds().unwrap_or(i64::MAX).max(1));
                micros(now) * i128::from(aging.points) * SCALE / per
            }
            None => 0,
        };
        (-(self.aged + lift), self.submitted, self.id)
    }
}

/// The waiting interactions of one view.
#[derive(Debug, Default)]
pub struct ViewIndex {
    /// step → media → in the view's order. Only steps open to several
    /// agents. (Nested, so that a lookup borrows the media's name.)
    pub open: BTreeMap<usize, BTreeMap<String, BTreeSet<SortKey>>>,
    /// agent → the interactions whose step waits for that agent alone.
    pub reserved: BTreeMap<String, BTreeSet<SortKey>>,
}

impl ViewIndex {
    /// Puts an interaction of `media` in at `in_view`'s step.
    pub fn insert(&mut self, in_view: &InView, media: &str) {
        let set = match &in_view.reserved_for {
            Some(agent) => match self.reserved.get_mut(agent.as_str()) {
                Some(set) => set,
                None => self.reserved.entry(agent.clone()).or_default(),
            },
            None => {
                let by_media = self.open.entry(in_view.step).or_default();
                match by_media.get_mut(media) {
                    Some(set) => set,
                    None => by_media.entry(media.to_owned()).or_default(),
                }
            }
        };
        set.insert(in_view.key);
    }

    /// Takes an interaction of `media` out of `in_view`'s step.
    pub fn remove(&mut self, in_view: &InView, media: &str) {
        match &in_view.reserved_for {
            Some(agent) => {
                if let Some(set) = self.reserved.get_mut(agent.as_str()) {
                    set.remove(&in_view.key);
                    if set.is_empty() {
                        self.reserved.remove(agent.as_str());
                    }
                }
            }
            None => {
                let Some(by_media) = self.open.get_mut(&in_view.step) else {
                    return;
                };
                if let Some(set) = by_media.get_mut(media) {
                    set.remove(&in_view.key);
                    if set.is_empty() {
                        by_media.remove(media);
                    }
                }
                if by_media.is_empty() {
                    self.open.remove(&in_view.step);
                }
            }
        }
    }
}
