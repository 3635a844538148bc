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
use super::config::{OrderField, OrderKey, View};
use crate::engine::Interaction;
use chrono::{DateTime, Utc};
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

/// Priority points are scaled by this, so that aging can move them by
/// fractions.
const SCALE: i128 = 1_000_000;

/// An interaction's place in a view: smaller is served first. It also
/// carries what ranks it against the heads of other views, so that a freed
/// agent compares heads without looking the interactions up.
///
/// The values the view's order may name are held once each, and the order
/// as codes ([`OrderCode`]) that name them: 64 bytes, one cache line, where
/// a value per order field held next to the ranking ones took 112. A view's
/// index holds one per waiting interaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortKey {
    /// The aged priority ([`aged_priority`]).
    aged: i128,
    id: Uuid,
    /// In microseconds.
    submitted: i64,
    /// When it was placed in its queue, in microseconds; `i64::MAX`, after
    /// every time, when it was not.
    placed: i64,
    /// The view's order, its first four fields; `NONE` after the last.
    order: [u8; 4],
}

/// One field of a view's order, in a [`SortKey`]: which (the low bits)
/// and whether descending.
struct OrderCode;

impl OrderCode {
    const NONE: u8 = 0;
    const PRIORITY: u8 = 1;
    const SUBMITTED_AT: u8 = 2;
    const PLACED_IN_QUEUE_AT: u8 = 3;
    const ID: u8 = 4;
    const FIELD: u8 = 0x0f;
    const DESCENDING: u8 = 0x80;

    fn of(order: &OrderKey) -> u8 {
        let field = match order.field {
            OrderField::Priority => Self::PRIORITY,
            OrderField::SubmittedAt => Self::SUBMITTED_AT,
            OrderField::PlacedInQueueAt => Self::PLACED_IN_QUEUE_AT,
            OrderField::Id => Self::ID,
        };
        if order.descending {
            field | Self::DESCENDING
        } else {
            field
        }
    }
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
    let mut order = [OrderCode::NONE; 4];
    for (code, key) in order.iter_mut().zip(&view.order) {
        *code = OrderCode::of(key);
    }
    SortKey {
        aged: aged_priority(view, interaction),
        id: interaction.id,
        submitted: interaction.submitted_at.timestamp_micros(),
        placed: interaction
            .placed_in_queue_at
            .map_or(i64::MAX, |at| at.timestamp_micros()),
        order,
    }
}

impl Ord for SortKey {
    /// By the view's order; keys it leaves equal by the aged priority, the
    /// submission time and the id (then the rest, which the id decides
    /// already, so that only equal keys compare equal).
    fn cmp(&self, other: &Self) -> Ordering {
        for code in self.order {
            let by_field = match code & OrderCode::FIELD {
                OrderCode::PRIORITY => self.aged.cmp(&other.aged),
                OrderCode::SUBMITTED_AT => self.submitted.cmp(&other.submitted),
                OrderCode::PLACED_IN_QUEUE_AT => self.placed.cmp(&other.placed),
                // The id as a signed value, as the order has always read it.
                OrderCode::ID => (self.id.as_u128() as i128).cmp(&(other.id.as_u128() as i128)),
                _ => break,
            };
            let by_field = if code & OrderCode::DESCENDING != 0 {
                by_field.reverse()
            } else {
                by_field
            };
            if by_field != Ordering::Equal {
                return by_field;
            }
        }
        self.aged
            .cmp(&other.aged)
            .then(self.submitted.cmp(&other.submitted))
            .then(self.id.cmp(&other.id))
            .then(self.placed.cmp(&other.placed))
            .then(self.order.cmp(&other.order))
    }
}

impl PartialOrd for SortKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
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

/// Interactions in a view's order, with the first kept apart: a freed
/// agent reads the head of every index it is eligible for, and reading it
/// here costs the same with a hundred waiting as with a million, where
/// finding it in the tree walks down a path that grows with the depth.
#[derive(Debug, Default)]
pub struct Waiting {
    keys: BTreeSet<SortKey>,
    head: Option<SortKey>,
}

impl Waiting {
    /// The first in the view's order.
    pub fn head(&self) -> Option<&SortKey> {
        self.head.as_ref()
    }

    /// All of them, in the view's order.
    pub fn iter(&self) -> impl Iterator<Item = &SortKey> {
        self.keys.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn insert(&mut self, key: SortKey) {
        if self.keys.insert(key) && self.head.is_none_or(|head| key < head) {
            self.head = Some(key);
        }
    }

    pub fn remove(&mut self, key: &SortKey) {
        if self.keys.remove(key) && self.head.as_ref() == Some(key) {
            self.head = self.keys.first().copied();
        }
    }
}

/// The waiting interactions of one view.
#[derive(Debug, Default)]
pub struct ViewIndex {
    /// step → media → in the view's order. Only steps open to several
    /// agents. (Nested, so that a lookup borrows the media's name.)
    pub open: BTreeMap<usize, BTreeMap<String, Waiting>>,
    /// agent → the interactions whose step waits for that agent alone.
    pub reserved: BTreeMap<String, Waiting>,
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
