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
//!
//! The box of an interaction that leaves is kept for the next one to come
//! in (a few of them): a box just left is still in the processor's cache,
//! where a fresh one, with a million others around it, is mostly not, and
//! filling it would wait on memory.

use crate::engine::Interaction;
use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use uuid::Uuid;

/// How many boxes of interactions that left are kept for new ones.
const SPARE: usize = 16;

#[derive(Default)]
pub struct Live {
    map: BTreeMap<u128, Box<Interaction>>,
    /// Boxes of interactions that left, their content stale: the boxes
    /// themselves are the point, to be refilled in place.
    #[allow(clippy::vec_box)]
    spare: Vec<Box<Interaction>>,
}

impl Clone for Live {
    /// The same interactions, without spare boxes.
    fn clone(&self) -> Self {
        Live {
            map: self.map.clone(),
            spare: Vec::new(),
        }
    }
}

impl std::fmt::Debug for Live {
    /// The interactions; of the spare boxes, how many (their content is
    /// stale).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live")
            .field("map", &self.map)
            .field("spare", &self.spare.len())
            .finish()
    }
}

impl PartialEq for Live {
    /// The same interactions; spare boxes do not count.
    fn eq(&self, other: &Self) -> bool {
        self.map == other.map
    }
}

impl Live {
    pub fn new() -> Self {
        Live::default()
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn get(&self, id: &Uuid) -> Option<&Interaction> {
        self.map.get(&id.as_u128()).map(|boxed| &**boxed)
    }

    pub fn get_mut(&mut self, id: &Uuid) -> Option<&mut Interaction> {
        self.map.get_mut(&id.as_u128()).map(|boxed| &mut **boxed)
    }

    pub fn contains_key(&self, id: &Uuid) -> bool {
        self.map.contains_key(&id.as_u128())
    }

    /// Puts `interaction` in under `id`; returns the one it replaces, whose
    /// box it takes over.
    pub fn insert(&mut self, id: Uuid, interaction: Interaction) -> Option<Interaction> {
        match self.map.entry(id.as_u128()) {
            Entry::Occupied(mut held) => {
                Some(std::mem::replace(&mut **held.get_mut(), interaction))
            }
            Entry::Vacant(place) => {
                let boxed = match self.spare.pop() {
                    Some(mut boxed) => {
                        *boxed = interaction;
                        boxed
                    }
                    None => Box::new(interaction),
                };
                place.insert(boxed);
                None
            }
        }
    }

    /// Takes `id` out, in its box: the interaction is not moved, so that
    /// a caller who only reads it does not copy it. Give the box back with
    /// [`Live::recycle`] once done with it.
    pub fn remove(&mut self, id: &Uuid) -> Option<Box<Interaction>> {
        self.map.remove(&id.as_u128())
    }

    /// Keeps the box of an interaction that left for the next one to come
    /// in.
    pub fn recycle(&mut self, boxed: Box<Interaction>) {
        if self.spare.len() < SPARE {
            self.spare.push(boxed);
        }
    }

    /// Takes `id` out and keeps its box for the next one.
    pub fn discard(&mut self, id: &Uuid) {
        if let Some(boxed) = self.remove(id) {
            self.recycle(boxed);
        }
    }

    /// In the order of the ids.
    pub fn iter(&self) -> impl Iterator<Item = (Uuid, &Interaction)> {
        self.map
            .iter()
            .map(|(id, interaction)| (Uuid::from_u128(*id), &**interaction))
    }

    /// In the order of the ids.
    pub fn values(&self) -> impl Iterator<Item = &Interaction> {
        self.map.values().map(|interaction| &**interaction)
    }
}

impl std::ops::Index<&Uuid> for Live {
    type Output = Interaction;

    /// Panics if `id` is not live.
    fn index(&self, id: &Uuid) -> &Interaction {
        self.get(id).expect("the interaction is live")
    }
}
