//! The pending-event list: a 4-ary min-heap keyed by (time, sequence).
//!
//! A 4-ary heap halves the depth of a binary one and keeps the four children
//! of a node in one cache line or two, which is where a hold operation spends
//! its time. The sequence number breaks ties between events due at the same
//! time in the order they were scheduled, so runs are deterministic. Events
//! are small `Copy` values, so entries move by plain copies into a hole.

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
            next_seq: 0,
        }
    }

    /// Number of pending events.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether no event is pending.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Due time of the earliest event.
    #[inline]
    pub fn peek_time(&self) -> Option<SimTime> {
        self.heap.first().map(Entry::at)
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
        // Move parents down into the hole until the new entry fits: one
        // write per level instead of a swap.
        let mut hole = self.heap.len();
        self.heap.push(entry);
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

    /// Removes and returns the earliest event.
    #[inline]
    pub fn pop(&mut self) -> Option<(SimTime, E)> {
        let last = self.heap.pop()?;
        let Some(&first) = self.heap.first() else {
            return Some((last.at(), last.event));
        };
        // The last entry refills the root's hole: smaller children move up
        // until it fits.
        let len = self.heap.len();
        let mut hole = 0;
        loop {
            let first_child = hole * ARITY + 1;
            if first_child >= len {
                break;
            }
            let (smallest, smallest_key) = self.smallest_child(first_child, len);
            if smallest_key >= last.key {
                break;
            }
            self.heap[hole] = self.heap[smallest];
            hole = smallest;
        }
        self.heap[hole] = last;
        Some((first.at(), first.event))
    }

    /// The child with the smallest key among those from `first_child`, and
    /// its key. A full set of four is compared as two pairs and their
    /// winners, with no loop and no data-dependent branch.
    #[inline]
    fn smallest_child(&self, first_child: usize, len: usize) -> (usize, u128) {
        if let Some(children) = self.heap.get(first_child..first_child + ARITY) {
            let pick = |a: (usize, u128), b: (usize, u128)| if b.1 < a.1 { b } else { a };
            let left = pick((0, children[0].key), (1, children[1].key));
            let right = pick((2, children[2].key), (3, children[3].key));
            let (offset, key) = pick(left, right);
            return (first_child + offset, key);
        }
        (first_child + 1..len).fold(
            (first_child, self.heap[first_child].key),
            |smallest, child| {
                let key = self.heap[child].key;
                if key < smallest.1 {
                    (child, key)
                } else {
                    smallest
                }
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng, rngs::Xoshiro256PlusPlus};

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
}
