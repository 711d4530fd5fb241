//! Timers in packet time.
//!
//! A binary heap of `(due, sequence)` entries pointing at a connection slot
//! and generation. Cancellation is lazy: an entry whose connection was
//! removed (generation changed) or whose analyzer-timer epoch was bumped is
//! skipped when it comes due. Entries with equal due times fire in the order
//! they were scheduled, as Zeek's timer queue does.

use quartet_wire::Timestamp;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// What a timer does when it fires (the Zeek timer it mirrors).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum TimerKind {
    /// Connection inactivity timer (re-armed while the connection is busy).
    Inactivity,
    /// TCP expire timer: removes lingering closed or half-open connections.
    Expire,
    /// TCP attempt timer: removes unanswered SYN / SYN-ACK attempts; also
    /// fires at end of input.
    Attempt,
    /// Removal after a complete close (`tcp_close_delay`).
    Delete,
    /// The DNS analyzer's session timer (`dns_session_timeout`).
    DnsExpire,
}

impl TimerKind {
    /// Analyzer timers are cancelled together when a TCP close completes;
    /// the inactivity timer belongs to the connection and survives.
    pub(crate) fn is_analyzer(self) -> bool {
        !matches!(self, TimerKind::Inactivity)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Entry {
    pub due: Timestamp,
    pub seq: u64,
    pub slot: u32,
    pub gen: u32,
    pub kind: TimerKind,
    pub epoch: u32,
}

/// The heap is compacted no smaller than this many entries.
const MIN_COMPACT: usize = 4096;

#[derive(Default)]
pub(crate) struct TimerQueue {
    heap: BinaryHeap<Reverse<Entry>>,
    next_seq: u64,
    /// Size the heap may reach before the next compaction.
    compact_at: usize,
}

impl TimerQueue {
    pub(crate) fn schedule(
        &mut self,
        due: Timestamp,
        slot: u32,
        gen: u32,
        kind: TimerKind,
        epoch: u32,
    ) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.heap.push(Reverse(Entry {
            due,
            seq,
            slot,
            gen,
            kind,
            epoch,
        }));
    }

    /// Removes and returns the earliest entry due at or before `now`.
    pub(crate) fn pop_due(&mut self, now: Timestamp) -> Option<Entry> {
        match self.heap.peek() {
            Some(Reverse(e)) if e.due <= now => self.heap.pop().map(|Reverse(e)| e),
            _ => None,
        }
    }

    /// Due time of the earliest entry.
    pub(crate) fn peek_due(&self) -> Option<Timestamp> {
        self.heap.peek().map(|Reverse(e)| e.due)
    }

    /// Removes and returns the earliest entry, due or not.
    pub(crate) fn pop(&mut self) -> Option<Entry> {
        self.heap.pop().map(|Reverse(e)| e)
    }

    /// Drops the entries `live` refuses (cancelled: they would be skipped
    /// when due) once the heap has doubled since the last compaction, so
    /// the cost is amortized O(1) per entry. Without it a flood of
    /// connections removed long before their timers (evicted by
    /// `--max-conns`, ended by a RST) keeps a dead entry each for minutes
    /// of network time, whatever the connection limit.
    pub(crate) fn compact_if_grown(&mut self, mut live: impl FnMut(&Entry) -> bool) {
        if self.heap.len() <= self.compact_at.max(MIN_COMPACT) {
            return;
        }
        self.heap.retain(|Reverse(e)| live(e));
        let len = self.heap.len();
        self.heap.shrink_to(len * 2);
        self.compact_at = len * 2;
    }

    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }

    pub(crate) fn clear(&mut self) {
        self.heap.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_in_due_then_schedule_order() {
        let mut q = TimerQueue::default();
        q.schedule(Timestamp(20), 1, 0, TimerKind::Expire, 0);
        q.schedule(Timestamp(10), 2, 0, TimerKind::Attempt, 0);
        q.schedule(Timestamp(10), 3, 0, TimerKind::Delete, 0);
        assert!(q.pop_due(Timestamp(9)).is_none());
        assert_eq!(q.pop_due(Timestamp(10)).unwrap().slot, 2);
        assert_eq!(q.pop_due(Timestamp(10)).unwrap().slot, 3);
        assert!(q.pop_due(Timestamp(19)).is_none());
        assert_eq!(q.pop_due(Timestamp(25)).unwrap().slot, 1);
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn compaction_drops_dead_entries_once_the_heap_doubled() {
        let mut q = TimerQueue::default();
        for i in 0..MIN_COMPACT as u32 {
            q.schedule(Timestamp(i as i64), i, 0, TimerKind::Inactivity, 0);
        }
        q.compact_if_grown(|_| false);
        assert_eq!(q.len(), MIN_COMPACT, "not above the minimum yet");
        q.schedule(Timestamp(1), 7, 1, TimerKind::Expire, 0);
        // Keep the odd slots: the order of what is left is unchanged.
        q.compact_if_grown(|e| e.slot % 2 == 1);
        assert_eq!(q.len(), MIN_COMPACT / 2 + 1);
        assert_eq!(q.pop().map(|e| (e.slot, e.gen)), Some((1, 0)));
        assert_eq!(q.pop().map(|e| (e.slot, e.gen)), Some((7, 1)));
        assert_eq!(q.pop().map(|e| e.slot), Some(3));
    }
}
