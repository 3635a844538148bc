//! The live interactions by id: the engine's set, which the router reads.
//!
//! A B-tree, not a hash map: it grows a node at a time, where a hash map
//! moves its whole table at once (see [`Engine`](crate::engine::Engine)).
//! Two things keep a tree of a million cheap to search and to change:
//!
//! - it is keyed by the id's 128-bit value, which orders as the id does,
//!   so that each comparison is two integer comparisons rather than a
//!   byte-wise one;
//! - each interaction is held in a box of its own, so that a node holds
//!   pointers rather than interactions of some 350 bytes each: the keys and
//!   values a search and a change touch fit in a few cache lines, and an
//!   insert or a removal shifts 8-byte pointers within a node rather than
//!   whole interactions.

use crate::engine::Interaction;
use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use uuid::Uuid;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Live(BTreeMap<u128, Box<Interaction>>);

impl Live {
    pub fn new() -> Self {
        Live::default()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn get(&self, id: &Uuid) -> Option<&Interaction> {
        self.0.get(&id.as_u128()).map(|boxed| &**boxed)
    }

    pub fn get_mut(&mut self, id: &Uuid) -> Option<&mut Interaction> {
        self.0.get_mut(&id.as_u128()).map(|boxed| &mut **boxed)
    }

    pub fn contains_key(&self, id: &Uuid) -> bool {
        self.0.contains_key(&id.as_u128())
    }

    /// Puts `interaction` in under `id`; returns the one it replaces, whose
    /// box it takes over.
    pub fn insert(&mut self, id: Uuid, interaction: Interaction) -> Option<Interaction> {
        match self.0.entry(id.as_u128()) {
            Entry::Occupied(mut held) => {
                Some(std::mem::replace(&mut **held.get_mut(), interaction))
            }
            Entry::Vacant(place) => {
                place.insert(Box::new(interaction));
                None
            }
        }
    }

    pub fn remove(&mut self, id: &Uuid) -> Option<Interaction> {
        self.0.remove(&id.as_u128()).map(|boxed| *boxed)
    }

    /// In the order of the ids.
    pub fn iter(&self) -> impl Iterator<Item = (Uuid, &Interaction)> {
        self.0
            .iter()
            .map(|(id, interaction)| (Uuid::from_u128(*id), &**interaction))
    }

    /// In the order of the ids.
    pub fn values(&self) -> impl Iterator<Item = &Interaction> {
        self.0.values().map(|interaction| &**interaction)
    }
}

impl std::ops::Index<&Uuid> for Live {
    type Output = Interaction;

    /// Panics if `id` is not live.
    fn index(&self, id: &Uuid) -> &Interaction {
        self.get(id).expect("the interaction is live")
    }
}
