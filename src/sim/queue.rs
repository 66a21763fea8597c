//! The pending-event list: a 4-ary min-heap keyed by (time, sequence).
//!
//! A 4-ary heap halves the depth of a binary one and keeps the four children
//! of a node in one cache line or two, which is where a hold operation spends
//! its time. The sequence number breaks ties between events due at the same
//! time in the order they were scheduled, so runs are deterministic.

use super::SimTime;

const ARITY: usize = 4;

struct Entry<E> {
    at: SimTime,
    seq: u64,
    event: E,
}

impl<E> Entry<E> {
    #[inline]
    fn key(&self) -> (SimTime, u64) {
        (self.at, self.seq)
    }
}

/// A priority queue of events ordered by due time, first scheduled first at
/// equal times.
pub struct EventQueue<E> {
    heap: Vec<Entry<E>>,
    next_seq: u64,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> EventQueue<E> {
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
        self.heap.first().map(|entry| entry.at)
    }

    /// Adds `event` due at `at`.
    #[inline]
    pub fn push(&mut self, at: SimTime, event: E) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.heap.push(Entry { at, seq, event });
        self.sift_up(self.heap.len() - 1);
    }

    /// Removes and returns the earliest event.
    #[inline]
    pub fn pop(&mut self) -> Option<(SimTime, E)> {
        if self.heap.is_empty() {
            return None;
        }
        let last = self.heap.len() - 1;
        self.heap.swap(0, last);
        let entry = self.heap.pop().expect("non-empty heap");
        if !self.heap.is_empty() {
            self.sift_down(0);
        }
        Some((entry.at, entry.event))
    }

    fn sift_up(&mut self, mut index: usize) {
        while index > 0 {
            let parent = (index - 1) / ARITY;
            if self.heap[index].key() < self.heap[parent].key() {
                self.heap.swap(index, parent);
                index = parent;
            } else {
                break;
            }
        }
    }

    fn sift_down(&mut self, mut index: usize) {
        let len = self.heap.len();
        loop {
            let first_child = index * ARITY + 1;
            if first_child >= len {
                break;
            }
            let last_child = (first_child + ARITY).min(len);
            let mut smallest = first_child;
            for child in first_child + 1..last_child {
                if self.heap[child].key() < self.heap[smallest].key() {
                    smallest = child;
                }
            }
            if self.heap[smallest].key() < self.heap[index].key() {
                self.heap.swap(index, smallest);
                index = smallest;
            } else {
                break;
            }
        }
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
