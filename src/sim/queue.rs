//! The pending-event list: a 4-ary min-heap keyed by (time, sequence).
//!
//! A 4-ary heap halves the depth of a binary one and keeps the four children
//! of a node in one cache line or two, which is where a hold operation spends
//! its time. The sequence number breaks ties between events due at the same
//! time in the order they were scheduled, so runs are deterministic. Events
//! are small `Copy` values, so entries move by plain copies into a hole.
//!
//! A pop leaves the root vacant instead of refilling it at once: most
//! handlers schedule an event, which then drops into the vacant root and
//! sinks to its place, one pass where a refill and a push would take two.
//! Pop order depends on the keys alone (they are unique), never on how
//! the heap was arranged.

use super::SimTime;

const ARITY: usize = 4;

/// An event and its key: due time in the high 64 bits, sequence in the low,
/// so one integer comparison orders entries (and compiles to a conditional
/// move, where a tuple comparison branches unpredictably).
#[derive(Clone, Copy)]
struct Entry<E> {
    key: u128,
    event: E,
}

impl<E: Copy> Entry<E> {
    #[inline]
    fn at(&self) -> SimTime {
        (self.key >> 64) as SimTime
    }
}

/// A priority queue of events ordered by due time, first scheduled first at
/// equal times.
pub struct EventQueue<E> {
    heap: Vec<Entry<E>>,
    /// Whether `heap[0]` was popped and not yet refilled.
    root_vacant: bool,
    next_seq: u64,
}

impl<E: Copy> Default for EventQueue<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E: Copy> EventQueue<E> {
    /// An empty queue.
    pub fn new() -> Self {
        Self {
            heap: Vec::new(),
            root_vacant: false,
            next_seq: 0,
        }
    }

    /// Number of pending events.
    pub fn len(&self) -> usize {
        self.heap.len() - usize::from(self.root_vacant)
    }

    /// Whether no event is pending.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds `event` due at `at`.
    #[inline]
    pub fn push(&mut self, at: SimTime, event: E) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let entry = Entry {
            key: (u128::from(at) << 64) | u128::from(seq),
            event,
        };
        if self.root_vacant {
            self.root_vacant = false;
            self.sink(entry);
        } else {
            self.heap.push(entry);
            self.sift_up(self.heap.len() - 1, entry);
        }
    }

    /// Removes and returns the earliest event.
    #[inline]
    pub fn pop(&mut self) -> Option<(SimTime, E)> {
        if self.root_vacant {
            self.root_vacant = false;
            let last = self.heap.pop().expect("a vacant root is an entry");
            if !self.heap.is_empty() {
                self.sink(last);
            }
        }
        let first = *self.heap.first()?;
        self.root_vacant = true;
        Some((first.at(), first.event))
    }

    /// Puts `entry` in the vacant root and moves smaller children up until
    /// it fits.
    #[inline(always)]
    fn sink(&mut self, entry: Entry<E>) {
        let len = self.heap.len();
        let mut hole = 0;
        loop {
            let first_child = hole * ARITY + 1;
            if first_child >= len {
                break;
            }
            let smallest = self.smallest_child(first_child, len);
            if self.heap[smallest].key >= entry.key {
                break;
            }
            self.heap[hole] = self.heap[smallest];
            hole = smallest;
        }
        self.heap[hole] = entry;
    }

    /// Puts `entry` in the hole at `hole`, moving parents down into it
    /// until `entry` fits: one write per level instead of a swap.
    #[inline]
    fn sift_up(&mut self, mut hole: usize, entry: Entry<E>) {
        while hole > 0 {
            let parent = (hole - 1) / ARITY;
            if entry.key >= self.heap[parent].key {
                break;
            }
            self.heap[hole] = self.heap[parent];
            hole = parent;
        }
        self.heap[hole] = entry;
    }

    /// The child with the smallest key among those from `first_child`. A
    /// full set of four is compared as two pairs and their winners, with no
    /// loop and no data-dependent branch.
    #[inline]
    fn smallest_child(&self, first_child: usize, len: usize) -> usize {
        if let Some(children) = self.heap.get(first_child..first_child + ARITY) {
            let pick = |a: (usize, u128), b: (usize, u128)| if b.1 < a.1 { b } else { a };
            let left = pick((0, children[0].key), (1, children[1].key));
            let right = pick((2, children[2].key), (3, children[3].key));
            return first_child + pick(left, right).0;
        }
        (first_child + 1..len).fold(first_child, |smallest, child| {
            if self.heap[child].key < self.heap[smallest].key {
                child
            } else {
                smallest
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng, rngs::Xoshiro256PlusPlus};
    use std::collections::BTreeSet;

    #[test]
    fn pops_in_time_then_schedule_order() {
        let mut queue = EventQueue::new();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
        for label in 0..10_000u32 {
            queue.push(rng.random_range(0..500u64), label);
        }
        let mut last = (0u64, 0u32);
        let mut first = true;
        while let Some((at, label)) = queue.pop() {
            if !first {
                assert!(at > last.0 || (at == last.0 && label > last.1));
            }
            first = false;
            last = (at, label);
        }
        assert!(queue.is_empty());
    }

    /// Pushes and pops interleaved as a simulation does (most pushes drop
    /// into a vacant root) give the order of a sorted set of (time,
    /// schedule order).
    #[test]
    fn interleaved_pushes_and_pops_keep_the_order() {
        let mut queue = EventQueue::new();
        let mut sorted = BTreeSet::new();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(11);
        let mut now = 0u64;
        for label in 0..50_000u32 {
            let at = now + rng.random_range(0..100u64);
            queue.push(at, label);
            sorted.insert((at, label));
            for _ in 0..rng.random_range(0..3) {
                let expected = sorted.pop_first();
                assert_eq!(queue.pop(), expected);
                if let Some((at, _)) = expected {
                    now = at;
                }
                assert_eq!(queue.len(), sorted.len());
            }
        }
        while let Some(entry) = sorted.pop_first() {
            assert_eq!(queue.pop(), Some(entry));
        }
        assert!(queue.is_empty());
    }
}
