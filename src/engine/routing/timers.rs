//! The step timers, kept per (view, step) in the order interactions reached
//! the step.
//!
//! A step lasts the same `timeout` for every interaction that reaches it,
//! so the deadlines of one (view, step) come in the order the interactions
//! arrive there: a queue, pushed at the back and popped at the front, with
//! no ordered set of every waiting interaction to search. An interaction
//! that leaves before its deadline leaves a hole where it was (found by its
//! position, without a search); holes at the front are skipped, and a block
//! of positions that holds only holes is freed, so what a hole costs is
//! bounded.
//!
//! A deadline that would come before the last one pushed (a clock set back,
//! or two interactions reaching the step at the same instant out of id
//! order) is not queued: `push` says so and the router keeps that timer in
//! its ordered set with the others. Together they fire in the order of
//! (deadline, id, view), as one ordered set of every timer would.

use chrono::{DateTime, Utc};
use std::collections::{BTreeSet, VecDeque};
use uuid::Uuid;

/// Positions per block.
const BLOCK: u64 = 32;

type Entry = Option<(DateTime<Utc>, Uuid)>;
type Block = Box<[Entry; BLOCK as usize]>;

/// The timers of one (view, step). Positions only grow; position `p` is in
/// block `p / BLOCK`.
#[derive(Debug, Default)]
struct Queue {
    /// From block number `first` on; `None`: a block with no timer left.
    blocks: VecDeque<Option<Block>>,
    /// Per block in `blocks`: how many timers it still holds.
    held: VecDeque<u16>,
    first: u64,
    /// The position of the front timer (or `tail` when there is none).
    head: u64,
    /// The position the next push takes.
    tail: u64,
    /// The last one pushed.
    last: Option<(DateTime<Utc>, Uuid)>,
}

impl Queue {
    fn front(&self) -> Option<(DateTime<Utc>, Uuid)> {
        if self.head == self.tail {
            return None;
        }
        self.entry(self.head)
    }

    fn entry(&self, at: u64) -> Entry {
        let block = self.blocks.get((at / BLOCK - self.first) as usize)?;
        block.as_ref()?[(at % BLOCK) as usize]
    }

    /// Queues `timer` if it comes after every one queued before; its
    /// position.
    fn push(&mut self, timer: (DateTime<Utc>, Uuid)) -> Option<u64> {
        if let Some(last) = self.last.filter(|_| self.head < self.tail) {
            if timer == last && self.entry(self.tail - 1) == Some(timer) {
                // The same timer: it is there once.
                return Some(self.tail - 1);
            }
            if timer <= last {
                return None;
            }
        }
        let at = self.tail;
        let index = (at / BLOCK - self.first) as usize;
        if index == self.blocks.len() {
            self.blocks
                .push_back(Some(Box::new([None; BLOCK as usize])));
            self.held.push_back(0);
        }
        if let Some(block) = self.blocks[index].as_mut() {
            block[(at % BLOCK) as usize] = Some(timer);
            self.held[index] += 1;
        }
        self.tail += 1;
        self.last = Some(timer);
        Some(at)
    }

    /// Takes the timer at `at` out, if it is still there.
    fn remove(&mut self, at: u64) -> Entry {
        if at < self.head || at >= self.tail {
            return None;
        }
        let index = (at / BLOCK - self.first) as usize;
        let block = self.blocks[index].as_mut()?;
        let taken = block[(at % BLOCK) as usize].take()?;
        self.held[index] -= 1;
        // A full block with no timer left goes; the one being filled stays.
        let filled = (self.first + index as u64 + 1) * BLOCK <= self.tail;
        if self.held[index] == 0 && filled {
            self.blocks[index] = None;
        }
        if at == self.head {
            self.skip_holes();
        }
        Some(taken)
    }

    /// Moves the head to the next timer, dropping the blocks before it.
    fn skip_holes(&mut self) {
        while self.head < self.tail {
            match &self.blocks[(self.head / BLOCK - self.first) as usize] {
                Some(block) if block[(self.head % BLOCK) as usize].is_some() => break,
                Some(_) => self.head += 1,
                None => self.head = ((self.head / BLOCK + 1) * BLOCK).min(self.tail),
            }
        }
        while self.first < self.head / BLOCK {
            self.blocks.pop_front();
            self.held.pop_front();
            self.first += 1;
        }
    }
}

/// Every routed (view, step)'s queue of timers, and their fronts in the
/// order they fire.
#[derive(Debug, Default)]
pub struct StepTimers {
    /// By view, then step.
    queues: Vec<Vec<Queue>>,
    /// (deadline, id, view, step) of the front of every non-empty queue.
    fronts: BTreeSet<(DateTime<Utc>, Uuid, usize, usize)>,
}

impl StepTimers {
    /// Queues the timer of `id` at `step` of `view`; its position there,
    /// `None` if it does not come after the last one queued there.
    pub fn push(
        &mut self,
        view: usize,
        step: usize,
        deadline: DateTime<Utc>,
        id: Uuid,
    ) -> Option<u64> {
        if self.queues.len() <= view {
            self.queues.resize_with(view + 1, Vec::new);
        }
        let steps = &mut self.queues[view];
        if steps.len() <= step {
            steps.resize_with(step + 1, Queue::default);
        }
        let queue = &mut steps[step];
        let was_empty = queue.front().is_none();
        let at = queue.push((deadline, id))?;
        if was_empty {
            self.fronts.insert((deadline, id, view, step));
        }
        Some(at)
    }

    /// Takes the timer at position `at` of (`view`, `step`) out, if it is
    /// still there.
    pub fn remove(&mut self, view: usize, step: usize, at: u64) {
        let Some(queue) = self.queues.get_mut(view).and_then(|s| s.get_mut(step)) else {
            return;
        };
        let front = queue.front();
        let Some((deadline, id)) = queue.remove(at) else {
            return;
        };
        if front == Some((deadline, id)) {
            self.fronts.remove(&(deadline, id, view, step));
            if let Some((deadline, id)) = queue.front() {
                self.fronts.insert((deadline, id, view, step));
            }
        }
    }

    /// The timer that fires first: its deadline, interaction and view.
    pub fn first(&self) -> Option<(DateTime<Utc>, Uuid, usize)> {
        self.fronts
            .first()
            .map(|&(deadline, id, view, _)| (deadline, id, view))
    }

    /// Takes out the timer [`StepTimers::first`] names.
    pub fn pop_first(&mut self) {
        let Some(&(_, _, view, step)) = self.fronts.first() else {
            return;
        };
        let queue = &mut self.queues[view][step];
        let at = queue.head;
        self.remove(view, step, at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + secs, 0).unwrap()
    }

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn drain(timers: &mut StepTimers) -> Vec<(i64, u128, usize)> {
        let mut out = Vec::new();
        while let Some((deadline, id, view)) = timers.first() {
            out.push((deadline.timestamp() - 1_800_000_000, id.as_u128(), view));
            timers.pop_first();
        }
        out
    }

    #[test]
    fn timers_fire_in_deadline_then_id_then_view_order_across_queues() {
        let mut timers = StepTimers::default();
        assert!(timers.push(0, 0, at(10), id(5)).is_some());
        assert!(timers.push(1, 2, at(5), id(9)).is_some());
        assert!(timers.push(0, 1, at(10), id(5)).is_some());
        assert!(timers.push(0, 0, at(20), id(1)).is_some());
        assert!(timers.push(1, 2, at(10), id(2)).is_some());
        assert_eq!(
            drain(&mut timers),
            vec![(5, 9, 1), (10, 2, 1), (10, 5, 0), (10, 5, 0), (20, 1, 0)]
        );
    }

    #[test]
    fn a_timer_out_of_order_is_refused() {
        let mut timers = StepTimers::default();
        assert!(timers.push(0, 0, at(10), id(5)).is_some());
        assert_eq!(timers.push(0, 0, at(9), id(6)), None);
        assert_eq!(timers.push(0, 0, at(10), id(4)), None);
        assert!(timers.push(0, 0, at(10), id(6)).is_some());
        assert_eq!(drain(&mut timers), vec![(10, 5, 0), (10, 6, 0)]);
        // An empty queue takes any.
        assert!(timers.push(0, 0, at(1), id(1)).is_some());
    }

    #[test]
    fn the_same_timer_pushed_twice_is_there_once() {
        let mut timers = StepTimers::default();
        let first = timers.push(0, 0, at(10), id(5));
        assert!(first.is_some());
        assert_eq!(timers.push(0, 0, at(10), id(5)), first);
        assert_eq!(drain(&mut timers), vec![(10, 5, 0)]);
    }

    #[test]
    fn removed_timers_leave_holes_that_are_skipped_and_freed() {
        let mut timers = StepTimers::default();
        let n = 10 * BLOCK as i64;
        let positions: Vec<u64> = (0..n)
            .map(|k| timers.push(0, 0, at(k), id(k as u128)).unwrap())
            .collect();
        // Keep every 7th, and the last.
        for (k, &p) in positions.iter().enumerate() {
            if k % 7 != 0 && k as i64 != n - 1 {
                timers.remove(0, 0, p);
            }
        }
        // Removing twice, or what was never there, changes nothing.
        timers.remove(0, 0, positions[1]);
        timers.remove(0, 0, 10_000);
        timers.remove(3, 3, 0);
        let queue = &timers.queues[0][0];
        assert!(queue.blocks.iter().all(Option::is_some));
        let expected: Vec<(i64, u128, usize)> = (0..n)
            .filter(|k| k % 7 == 0 || *k == n - 1)
            .map(|k| (k, k as u128, 0))
            .collect();
        assert_eq!(drain(&mut timers), expected);
        let queue = &timers.queues[0][0];
        assert!(queue.blocks.len() <= 1);
        assert!(timers.fronts.is_empty());
    }

    #[test]
    fn a_block_of_holes_is_freed_before_it_reaches_the_front() {
        let mut timers = StepTimers::default();
        let positions: Vec<u64> = (0..3 * BLOCK as i64)
            .map(|k| timers.push(0, 0, at(k), id(k as u128)).unwrap())
            .collect();
        // The whole second block goes: freed while the first still waits.
        for &p in &positions[BLOCK as usize..2 * BLOCK as usize] {
            timers.remove(0, 0, p);
        }
        let queue = &timers.queues[0][0];
        assert!(queue.blocks[1].is_none());
        assert_eq!(drain(&mut timers).len(), 2 * BLOCK as usize);
        // Empty, then filled again from where it was.
        assert!(timers.push(0, 0, at(1000), id(1)).is_some());
        assert_eq!(drain(&mut timers), vec![(1000, 1, 0)]);
    }
}
