//! Each routed view's ordered indexes: the interactions its condition
//! selects, by the step of its strategy they are at and their media, in the
//! view's order, so that the head an agent may take is found without
//! walking the queue.
//!
//! With priority aging (`rate` points per second of waiting) the effective
//! priority `priority + rate × (now − submitted)` orders interactions the
//! same as the static `priority − rate × submitted`: the key never changes
//! while the interaction waits, and the index is never re-sorted.

use super::config::{OrderField, View};
use crate::engine::Interaction;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

/// Priority points are scaled by this, so that aging can move them by
/// fractions.
const SCALE: i128 = 1_000_000;

/// An interaction's place in a view: smaller is served first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct SortKey([i128; 4], Uuid);

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

/// The effective priority at `now`, scaled: what orders heads across views.
pub fn effective_priority(view: &View, interaction: &Interaction, now: DateTime<Utc>) -> i128 {
    let base = i128::from(interaction.priority) * SCALE;
    match view.aging {
        Some(aging) => {
            let per = i128::from(aging.per.num_microseconds().unwrap_or(i64::MAX).max(1));
            let waited = (micros(now) - micros(interaction.submitted_at)).max(0);
            base + waited * i128::from(aging.points) * SCALE / per
        }
        None => base,
    }
}

pub fn sort_key(view: &View, interaction: &Interaction) -> SortKey {
    let mut key = [0i128; 4];
    for (slot, order) in key.iter_mut().zip(&view.order) {
        let value = match order.field {
            OrderField::Priority => aged_priority(view, interaction),
            OrderField::SubmittedAt => micros(interaction.submitted_at),
            OrderField::PlacedInQueueAt => interaction.placed_in_queue_at.map_or(i128::MAX, micros),
            OrderField::Id => interaction.id.as_u128() as i128,
        };
        *slot = if order.descending { -value } else { value };
    }
    SortKey(key, interaction.id)
}

impl SortKey {
    pub fn id(&self) -> Uuid {
        self.1
    }
}

/// The waiting interactions of one view.
#[derive(Debug, Default)]
pub struct ViewIndex {
    /// (step, media) → in the view's order. Only steps open to several
    /// agents.
    pub open: BTreeMap<(usize, String), BTreeSet<SortKey>>,
    /// agent → the interactions whose step waits for that agent alone.
    pub reserved: BTreeMap<String, BTreeSet<SortKey>>,
    /// Every interaction in the view, in its order, whatever its step: the
    /// view's snapshot and depth.
    pub all: BTreeSet<SortKey>,
}

impl ViewIndex {
    pub fn len(&self) -> usize {
        self.all.len()
    }
}
