//! The ordered index of one queue: the queued interactions in routing order
//! (`priority desc, submitted_at asc`, ties by id) and by age.

use chrono::{DateTime, Utc};
use std::cmp::Reverse;
use std::collections::BTreeSet;
use uuid::Uuid;

type OrderKey = (Reverse<i32>, DateTime<Utc>, Uuid);

#[derive(Debug, Default, Clone)]
pub struct QueueIndex {
    order: BTreeSet<OrderKey>,
    by_age: BTreeSet<(DateTime<Utc>, Uuid)>,
}

impl QueueIndex {
    pub fn insert(&mut self, id: Uuid, priority: i32, submitted_at: DateTime<Utc>) {
        self.order.insert((Reverse(priority), submitted_at, id));
        self.by_age.insert((submitted_at, id));
    }

    pub fn remove(&mut self, id: Uuid, priority: i32, submitted_at: DateTime<Utc>) {
        self.order.remove(&(Reverse(priority), submitted_at, id));
        self.by_age.remove(&(submitted_at, id));
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// When the longest-waiting interaction was submitted.
    pub fn oldest(&self) -> Option<DateTime<Utc>> {
        self.by_age.first().map(|(at, _)| *at)
    }

    /// Ids in routing order.
    pub fn in_order(&self) -> impl Iterator<Item = Uuid> + '_ {
        self.order.iter().map(|(_, _, id)| *id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn priority_first_then_age() {
        let mut q = QueueIndex::default();
        let (a, b, c) = (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3));
        q.insert(a, 1, at(0));
        q.insert(b, 5, at(10));
        q.insert(c, 5, at(5));
        assert_eq!(q.in_order().collect::<Vec<_>>(), vec![c, b, a]);
        assert_eq!(q.oldest(), Some(at(0)));
        q.remove(a, 1, at(0));
        assert_eq!(q.oldest(), Some(at(5)));
        assert_eq!(q.len(), 2);
    }
}
