//! Timers in packet time.
//!
//! Entries point at a connection slot and generation. Cancellation is lazy:
//! an entry whose connection was removed (generation changed) or whose
//! analyzer-timer epoch was bumped is skipped when it comes due. Entries
//! come out in `(due, scheduling order)` order: equal due times fire in the
//! order they were scheduled, as Zeek's timer queue does, and the output of
//! the whole program depends on it.
//!
//! # Design: a hierarchical timing wheel
//!
//! Times are mapped to unsigned *keys* (`due as u64 ^ 1 << 63`, which keeps
//! the order of every `i64`, negative ones included). The wheel has a
//! current time `cur`, never later than its earliest entry, and four
//! *levels* of 256 *buckets* above a sorted *run*:
//!
//! * `run`: the entries of `cur`'s 256 µs block (same key bits from bit 8
//!   up), sorted by key, stably: equal keys stay in scheduling order;
//! * level `L` (0–3): an entry whose key first differs from `cur` in bits
//!   `8 + 8L .. 16 + 8L` sits there, in bucket `(k >> (8 + 8L)) & 255`.
//!   It agrees with `cur` on every higher bit and its digit there is larger
//!   than `cur`'s, so a bucket holds one aligned range of time: 256 µs,
//!   65 ms, 16.8 s or 71.6 min wide at levels 0 to 3;
//! * `far`: entries that differ from `cur` at bit 40 or above (more than
//!   12.7 days ahead, or across a 2^40 µs boundary), in a binary heap keyed
//!   `(key, seq)`;
//! * `early`: entries scheduled *before* `cur` (a due time in the past, or
//!   before a time the wheel already moved to), a heap keyed `(key, seq)`.
//!
//! In time order, `early` comes first, then `run`, levels 0 to 3 and
//! `far`: each holds only entries later than those before it. Within a
//! level, the lowest occupied bucket is the earliest. So the earliest bucket is found with three
//! `trailing_zeros` on occupancy bitmaps (non-empty levels, non-zero words
//! of a level, buckets of a word): empty buckets and levels are never
//! visited, however far time jumps. Where an entry sits depends only on
//! its due time and `cur`: all pending entries with the same due time are
//! in the same place.
//!
//! Moving on: when `run` is empty and time reaches the start of the earliest
//! bucket, it is *cascaded*: `cur` becomes the start of the bucket and its
//! entries are re-placed relative to it, each going down at least one
//! level, those of the new `cur`'s block into `run`, which is then sorted.
//! When the levels are empty, the earliest 2^40 µs block of `far` is
//! brought in the same way. A 5 s timer is placed twice, a 60 s to 3600 s
//! one three times, each time by an O(1) append, then sorted once among the
//! entries of its 256 µs block; there is no O(log n) step per entry. `cur`
//! only moves when `pop_due` is called with a time at or after the start of
//! the earliest bucket, so it stays at or before the caller's present, and
//! a timer scheduled for a time still to come goes in the wheel. When the
//! queue empties, `cur` restarts at the last time seen.
//!
//! # Why the order is exact without a stored sequence number
//!
//! Buckets are FIFO lists: entries are appended when scheduled and a
//! cascade moves a bucket in list order. As all entries with the same due
//! time are in the same place, a cascade moves all of them together into
//! places holding none of that due time, keeping their relative order, and
//! an entry with that due time scheduled afterwards is appended after them
//! (in `run`: inserted after the entries with a key up to its own). So
//! within one due time every bucket and `run` stay in scheduling order, and
//! the stable sort of `run` keeps it. The heaps are ordered by `(key, seq)`
//! with a 64-bit counter that cannot wrap; their entries never share a due
//! time with the wheel's (`early` is before `cur`, `far` in a later 2^40 µs
//! block), and a block of `far` goes into empty levels in `(key, seq)`
//! order. The wheel stores no sequence number at all.
//!
//! # Memory
//!
//! Buckets are chains of 32-entry chunks in one slab (`Vec<Chunk>` with a
//! free list). An entry is 12 bytes (`slot`, `gen`, the low 32 bits of
//! the due key) plus a tag byte in a parallel array (its kind, and its
//! analyzer epoch, which a connection bumps at most twice): 13 bytes per
//! pending entry (13.25 with the chunk header), and at most one partly
//! filled chunk (424 bytes) per non-empty bucket. 32 bits of the key are
//! enough: in a bucket the bits from its width up are those of the bucket's
//! start, and its width is at most 2^32 µs. `slot` and `gen` are kept
//! whole. Entries in `run` (one 256 µs block), `early` and `far` (rare)
//! take 32 bytes. `peek_due` returns a cached exact minimum (each bucket
//! keeps the smallest key appended to it), which every operation updates
//! in O(1).

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
    const ALL: [TimerKind; 5] = [
        TimerKind::Inactivity,
        TimerKind::Expire,
        TimerKind::Attempt,
        TimerKind::Delete,
        TimerKind::DnsExpire,
    ];

    /// Analyzer timers are cancelled together when a TCP close completes;
    /// the inactivity timer belongs to the connection and survives.
    pub(crate) fn is_analyzer(self) -> bool {
        !matches!(self, TimerKind::Inactivity)
    }
}

/// A timer that came due.
///
/// `seq` numbers the entries in the order the queue returned them (the
/// wheel keeps scheduling order without storing a per-entry sequence), so
/// popped entries are in strictly increasing `seq` order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Entry {
    pub due: Timestamp,
    pub seq: u64,
    pub slot: u32,
    pub gen: u32,
    pub kind: TimerKind,
    pub epoch: u8,
}

/// Analyzer epochs an entry can carry: `0..EPOCHS`.
pub(crate) const EPOCHS: u8 = 32;

/// An entry's kind and analyzer epoch in one byte, kept beside its item:
/// the kind in the low 3 bits, the epoch in the high 5.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Tag(u8);

impl Tag {
    fn new(kind: TimerKind, epoch: u8) -> Tag {
        debug_assert!(epoch < EPOCHS);
        Tag(kind as u8 | epoch << 3)
    }

    /// An expire entry and the attempt entry scheduled right after it
    /// for the same connection, time and epoch, in one (see `Pairable`).
    fn pair(epoch: u8) -> Tag {
        debug_assert!(epoch < EPOCHS);
        Tag(PAIR | epoch << 3)
    }

    fn is_pair(self) -> bool {
        self.0 & 7 == PAIR
    }

    /// The kind, or for a pair its first one (`Expire`).
    fn kind(self) -> TimerKind {
        match self.0 & 7 {
            PAIR => TimerKind::Expire,
            k => TimerKind::ALL[k as usize % TimerKind::ALL.len()],
        }
    }

    fn epoch(self) -> u8 {
        self.0 >> 3
    }
}

/// The kind code of a pair tag (`Tag::pair`), after those of `TimerKind`.
const PAIR: u8 = TimerKind::ALL.len() as u8;
const _: () = assert!(PAIR < 8);

/// The last entry scheduled, when it is an expire entry appended to a
/// bucket: an attempt entry for the same connection, due time and epoch
/// scheduled next (a TCP connection opened by a SYN schedules both, 5 s
/// ahead) is folded into it instead of taking an entry of its own. Nothing
/// can come between the two in the order, so the pair fires as the two
/// would: `pop_due` returns the expire entry and leaves the attempt entry
/// in its place in `run`.
#[derive(Clone, Copy)]
struct Pairable {
    key: u64,
    slot: u32,
    gen: u32,
    epoch: u8,
    /// The chunk it is the last entry of.
    chunk: u32,
}

/// Low bits of the key resolved by sorting `run` (its block is 256 µs).
const RUN_BITS: u32 = 8;
/// Bits of the key per level.
const LEVEL_BITS: u32 = 8;
const SLOTS: usize = 1 << LEVEL_BITS;
const WORDS: usize = SLOTS / 64;
const LEVELS: usize = 4;
/// Keys that differ from `cur` at or above this bit go to `far`.
const NEAR_BITS: u32 = RUN_BITS + LEVEL_BITS * LEVELS as u32;
/// Entries per chunk.
const CHUNK: usize = 32;
const NIL: u32 = u32::MAX;
const SIGN: u64 = 1 << 63;

// A bucket's entries keep the key bits below the bucket's width in
// `Item::lo`, and the occupancy summary of a level fits one word.
const _: () = assert!(RUN_BITS + LEVEL_BITS * (LEVELS as u32 - 1) <= 32 && WORDS <= 64);

/// Order-preserving map of a time to an unsigned key.
fn key(t: Timestamp) -> u64 {
    (t.0 as u64) ^ SIGN
}

fn time(k: u64) -> Timestamp {
    Timestamp((k ^ SIGN) as i64)
}

/// The low `bits` bits set (`bits` < 64).
const fn low_mask(bits: u32) -> u64 {
    (1 << bits) - 1
}

/// Log2 of the width of a level's buckets.
const fn width_bits(level: usize) -> u32 {
    RUN_BITS + LEVEL_BITS * level as u32
}

/// A wheel entry without its tag (kept beside it in the chunk).
#[derive(Clone, Copy, Default)]
struct Item {
    /// Low 32 bits of the due key.
    lo: u32,
    slot: u32,
    gen: u32,
}

#[derive(Clone)]
struct Chunk {
    items: [Item; CHUNK],
    tags: [Tag; CHUNK],
    len: u32,
    /// Next chunk of the list (or of the free list).
    next: u32,
}

/// A FIFO list of chunks.
#[derive(Clone, Copy)]
struct List {
    head: u32,
    tail: u32,
}

impl List {
    const EMPTY: List = List {
        head: NIL,
        tail: NIL,
    };

    fn is_empty(self) -> bool {
        self.head == NIL
    }
}

#[derive(Clone, Copy)]
struct Bucket {
    list: List,
    /// Smallest key appended since the bucket was last emptied.
    min: u64,
}

impl Bucket {
    const EMPTY: Bucket = Bucket {
        list: List::EMPTY,
        min: u64::MAX,
    };
}

/// An entry of `run`, with its whole key.
#[derive(Clone, Copy)]
struct Due {
    key: u64,
    item: Item,
    tag: Tag,
}

/// An entry of the `early` and `far` heaps, ordered by `(key, seq)`
/// (`seq` is unique, so the other fields are never compared).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Wide {
    key: u64,
    seq: u64,
    slot: u32,
    gen: u32,
    tag: Tag,
}

/// The earliest bucket, or `far` block.
#[derive(Clone, Copy)]
struct Front {
    /// Its start: `cur` moves there when it is cascaded.
    start: u64,
    /// Key of its earliest entry.
    min: u64,
    /// Level and bucket, or `None` for the first block of `far`.
    at: Option<(usize, usize)>,
}

pub(crate) struct TimerQueue {
    chunks: Vec<Chunk>,
    /// Head of the free chunk list.
    free: u32,
    buckets: [[Bucket; SLOTS]; LEVELS],
    /// Non-empty buckets of each level.
    occupied: [[u64; WORDS]; LEVELS],
    /// Non-zero words of `occupied`, per level.
    word_mask: [u64; LEVELS],
    /// Non-empty levels.
    level_mask: u32,
    /// The pending entries of `cur`'s 256 µs block, sorted by key (stably:
    /// scheduling order among equal keys) from `run_pos` on.
    run: Vec<Due>,
    run_pos: usize,
    early: BinaryHeap<Reverse<Wide>>,
    far: BinaryHeap<Reverse<Wide>>,
    wide_seq: u64,
    /// Current time of the wheel (a key); every entry outside `early` is
    /// due at or after it.
    cur: u64,
    /// Latest time passed to `pop_due` (0: none): where `cur` restarts when
    /// the queue is empty.
    horizon: u64,
    /// Key of the earliest entry (exact; meaningless when empty).
    next_min: u64,
    /// `pop_due` has nothing to do before this key: the earliest entry, or
    /// the start of the earliest bucket if that is earlier (time to cascade).
    next_event: u64,
    len: usize,
    popped: u64,
    /// Size the queue may reach before the next compaction.
    compact_at: usize,
    /// Entries the owner said it cancelled since the last compaction (a
    /// hint: `note_dead`).
    dead: usize,
    pairable: Option<Pairable>,
}

/// The queue is compacted no smaller than this many entries.
const MIN_COMPACT: usize = 4096;

impl Default for TimerQueue {
    fn default() -> Self {
        TimerQueue {
            chunks: Vec::new(),
            free: NIL,
            buckets: [[Bucket::EMPTY; SLOTS]; LEVELS],
            occupied: [[0; WORDS]; LEVELS],
            word_mask: [0; LEVELS],
            level_mask: 0,
            run: Vec::new(),
            run_pos: 0,
            early: BinaryHeap::new(),
            far: BinaryHeap::new(),
            wide_seq: 0,
            cur: 0,
            horizon: 0,
            next_min: u64::MAX,
            next_event: u64::MAX,
            len: 0,
            popped: 0,
            compact_at: 0,
            dead: 0,
            pairable: None,
        }
    }
}

impl TimerQueue {
    pub(crate) fn schedule(
        &mut self,
        due: Timestamp,
        slot: u32,
        gen: u32,
        kind: TimerKind,
        epoch: u8,
    ) {
        let k = key(due);
        if let Some(p) = self.pairable.take() {
            if kind == TimerKind::Attempt
                && (p.key, p.slot, p.gen, p.epoch) == (k, slot, gen, epoch)
            {
                let chunk = &mut self.chunks[p.chunk as usize];
                let last = (chunk.len as usize + CHUNK - 1) % CHUNK;
                chunk.tags[last] = Tag::pair(epoch);
                self.len += 1;
                return;
            }
        }
        let tag = Tag::new(kind, epoch);
        if self.len == 0 {
            // Nothing pending: restart the wheel at the present (or at the
            // entry, if it is earlier or no time was seen yet).
            self.cur = if self.horizon == 0 {
                k
            } else {
                self.horizon.min(k)
            };
        }
        self.len += 1;
        self.next_min = self.next_min.min(k);
        let diff = k ^ self.cur;
        let item = Item {
            lo: k as u32,
            slot,
            gen,
        };
        let start = if k < self.cur || diff >> NEAR_BITS != 0 {
            self.schedule_wide(k, item, tag)
        } else if diff >> RUN_BITS == 0 {
            self.insert_run(k, item, tag);
            k
        } else {
            let (start, chunk) = self.place(k, item, tag);
            if kind == TimerKind::Expire {
                self.pairable = Some(Pairable {
                    key: k,
                    slot,
                    gen,
                    epoch,
                    chunk,
                });
            }
            start
        };
        self.next_event = self.next_event.min(start);
    }

    /// Removes and returns the earliest entry due at or before `now`.
    #[inline]
    pub(crate) fn pop_due(&mut self, now: Timestamp) -> Option<Entry> {
        let nk = key(now);
        self.horizon = self.horizon.max(nk);
        if nk < self.next_event {
            return None;
        }
        self.pop_reached(nk)
    }

    /// `pop_due` once time `nk` has reached `next_event`.
    #[inline(never)]
    fn pop_reached(&mut self, nk: u64) -> Option<Entry> {
        self.pairable = None;
        if let Some(Reverse(w)) = self.early.peek() {
            // `next_event` is the top of `early` here, so it is due.
            debug_assert!(w.key <= nk);
            let w = *w;
            self.early.pop();
            self.len -= 1;
            self.refresh();
            return Some(self.entry(w.key, w.slot, w.gen, w.tag));
        }
        if self.run_pos == self.run.len() {
            self.catch_up(nk);
        }
        let out = match self.run.get(self.run_pos) {
            Some(&d) if d.key <= nk && d.tag.is_pair() => {
                // The expire half now; the attempt half stays first in line.
                let epoch = d.tag.epoch();
                self.run[self.run_pos].tag = Tag::new(TimerKind::Attempt, epoch);
                self.len -= 1;
                let expire = Tag::new(TimerKind::Expire, epoch);
                Some(self.entry(d.key, d.item.slot, d.item.gen, expire))
            }
            Some(&d) if d.key <= nk => {
                self.run_pos += 1;
                if self.run_pos == self.run.len() {
                    self.run.clear();
                    self.run_pos = 0;
                }
                self.len -= 1;
                Some(self.entry(d.key, d.item.slot, d.item.gen, d.tag))
            }
            _ => None,
        };
        self.refresh();
        out
    }

    /// Due time of the earliest entry.
    pub(crate) fn peek_due(&self) -> Option<Timestamp> {
        (self.len > 0).then(|| time(self.next_min))
    }

    /// Removes and returns the earliest entry, due or not.
    pub(crate) fn pop(&mut self) -> Option<Entry> {
        if self.len == 0 {
            return None;
        }
        self.pop_due(time(self.next_min))
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Drops the entries `live` refuses (cancelled: they would be skipped
    /// when due) once the queue has doubled since the last compaction, so
    /// the cost is amortized O(1) per entry. Without it a flood of
    /// connections removed long before their timers (evicted by
    /// `--max-conns`, ended by a RST) keeps a dead entry each for minutes
    /// of network time, whatever the connection limit. The order of what is
    /// left does not change.
    ///
    /// It also runs once the entries noted dead (`note_dead`) reach an
    /// eighth of the queue: connections closed or removed in a burst (a
    /// wave of RSTs, the end of a scan) otherwise keep one dead entry each
    /// for up to a timeout, a third of the queue's memory at the peak of a
    /// capture whose millions of connections all end together. Each such
    /// compaction follows `len / 8` notes, so it too is amortized O(1).
    ///
    /// Called on the per-packet path: the test is inlined, the work is not.
    #[inline]
    pub(crate) fn compact_if_grown(&mut self, live: impl FnMut(&Entry) -> bool) {
        if self.len > MIN_COMPACT && (self.len > self.compact_at || self.dead * 8 >= self.len) {
            self.compact(live);
        }
    }

    #[cold]
    fn compact(&mut self, mut live: impl FnMut(&Entry) -> bool) {
        self.retain(&mut live);
        self.compact_at = self.len * 2;
        self.dead = 0;
    }

    /// The owner cancelled an entry (it will be skipped when due).
    pub(crate) fn note_dead(&mut self) {
        self.dead += 1;
    }

    /// Keeps only the entries `live` accepts, in their order.
    fn retain(&mut self, live: &mut impl FnMut(&Entry) -> bool) {
        self.pairable = None;
        let mut keep = |k: u64, item: &Item, tag: Tag| {
            live(&Entry {
                due: time(k),
                seq: 0,
                slot: item.slot,
                gen: item.gen,
                kind: tag.kind(),
                epoch: tag.epoch(),
            })
        };
        let mut kept = 0usize;
        let wide = |w: &Wide| Item {
            lo: w.key as u32,
            slot: w.slot,
            gen: w.gen,
        };
        self.early.retain(|Reverse(w)| keep(w.key, &wide(w), w.tag));
        self.far.retain(|Reverse(w)| keep(w.key, &wide(w), w.tag));
        kept += self.early.len() + self.far.len();
        let run: Vec<Due> = self.run[self.run_pos..]
            .iter()
            .filter(|d| keep(d.key, &d.item, d.tag))
            .copied()
            .collect();
        kept += run.len() + run.iter().filter(|d| d.tag.is_pair()).count();
        self.run = run;
        self.run_pos = 0;
        for level in 0..LEVELS {
            let shift = width_bits(level);
            for slot in 0..SLOTS {
                if self.occupied[level][slot / 64] & (1 << (slot % 64)) == 0 {
                    continue;
                }
                let start = (self.cur & !low_mask(shift + LEVEL_BITS)) | ((slot as u64) << shift);
                let old = std::mem::replace(&mut self.buckets[level][slot], Bucket::EMPTY).list;
                let mut list = List::EMPTY;
                let mut min = u64::MAX;
                let mut c = old.head;
                while c != NIL {
                    let chunk = self.chunks[c as usize].clone();
                    self.release(c);
                    for i in 0..(chunk.len as usize).min(CHUNK) {
                        let k = start | (u64::from(chunk.items[i].lo) & low_mask(shift));
                        if keep(k, &chunk.items[i], chunk.tags[i]) {
                            list = self.push(list, chunk.items[i], chunk.tags[i]);
                            min = min.min(k);
                            // A pair is two entries.
                            kept += 1 + usize::from(chunk.tags[i].is_pair());
                        }
                    }
                    c = chunk.next;
                }
                if list.is_empty() {
                    self.unoccupy(level, slot);
                } else {
                    self.buckets[level][slot] = Bucket { list, min };
                }
            }
        }
        self.len = kept;
        self.refresh();
    }

    /// Drops every entry and frees the chunks.
    pub(crate) fn clear(&mut self) {
        self.pairable = None;
        self.chunks = Vec::new();
        self.free = NIL;
        self.buckets = [[Bucket::EMPTY; SLOTS]; LEVELS];
        self.occupied = [[0; WORDS]; LEVELS];
        self.word_mask = [0; LEVELS];
        self.level_mask = 0;
        self.run.clear();
        self.run_pos = 0;
        self.early.clear();
        self.far.clear();
        self.next_min = u64::MAX;
        self.next_event = u64::MAX;
        self.len = 0;
    }

    fn entry(&mut self, k: u64, slot: u32, gen: u32, tag: Tag) -> Entry {
        let seq = self.popped;
        self.popped += 1;
        Entry {
            due: time(k),
            seq,
            slot,
            gen,
            kind: tag.kind(),
            epoch: tag.epoch(),
        }
    }

    /// Puts an entry in `early` or `far`; returns the key from which
    /// `pop_due` has to look at it.
    #[cold]
    fn schedule_wide(&mut self, k: u64, item: Item, tag: Tag) -> u64 {
        let wide = Wide {
            key: k,
            seq: self.wide_seq,
            slot: item.slot,
            gen: item.gen,
            tag,
        };
        self.wide_seq += 1;
        if k < self.cur {
            self.early.push(Reverse(wide));
            k
        } else {
            self.far.push(Reverse(wide));
            k & !low_mask(NEAR_BITS)
        }
    }

    /// Schedules an entry in `cur`'s block: after the pending entries of
    /// `run` due at or before it.
    #[cold]
    fn insert_run(&mut self, k: u64, item: Item, tag: Tag) {
        let at = self.run_pos + self.run[self.run_pos..].partition_point(|d| d.key <= k);
        self.run.insert(at, Due { key: k, item, tag });
    }

    /// Puts an entry due at `k` (after `cur`'s 256 µs block, in the same
    /// 2^40 µs block) in its bucket; returns the start of the bucket and
    /// the chunk the entry went into.
    #[inline(always)]
    fn place(&mut self, k: u64, item: Item, tag: Tag) -> (u64, u32) {
        let diff = k ^ self.cur;
        debug_assert!(k > self.cur && diff >> NEAR_BITS == 0 && diff >> RUN_BITS != 0);
        let level = ((63 - diff.leading_zeros() - RUN_BITS) / LEVEL_BITS) as usize % LEVELS;
        let shift = width_bits(level);
        let slot = ((k >> shift) as usize) & (SLOTS - 1);
        let bucket = &mut self.buckets[level][slot];
        let list = bucket.list;
        if list.is_empty() {
            bucket.min = k;
            self.occupied[level][slot / 64] |= 1 << (slot % 64);
            self.word_mask[level] |= 1 << (slot / 64);
            self.level_mask |= 1 << level;
        } else if k < bucket.min {
            bucket.min = k;
        }
        let list = self.push(list, item, tag);
        self.buckets[level][slot].list = list;
        (k & !low_mask(shift), list.tail)
    }

    /// Appends to a list; returns the updated list.
    #[inline(always)]
    fn push(&mut self, mut list: List, item: Item, tag: Tag) -> List {
        if list.tail == NIL || self.chunks[list.tail as usize].len as usize == CHUNK {
            let c = self.alloc();
            if list.tail == NIL {
                list.head = c;
            } else {
                self.chunks[list.tail as usize].next = c;
            }
            list.tail = c;
        }
        let chunk = &mut self.chunks[list.tail as usize];
        let i = chunk.len as usize % CHUNK;
        chunk.items[i] = item;
        chunk.tags[i] = tag;
        chunk.len += 1;
        list
    }

    fn alloc(&mut self) -> u32 {
        if self.free != NIL {
            let c = self.free;
            let chunk = &mut self.chunks[c as usize];
            self.free = chunk.next;
            chunk.len = 0;
            chunk.next = NIL;
            return c;
        }
        let c = u32::try_from(self.chunks.len())
            .ok()
            .filter(|&c| c != NIL)
            .expect("timer queue: too many chunks");
        self.chunks.push(Chunk {
            items: [Item::default(); CHUNK],
            tags: [Tag(0); CHUNK],
            len: 0,
            next: NIL,
        });
        c
    }

    fn release(&mut self, c: u32) {
        self.chunks[c as usize].next = self.free;
        self.free = c;
    }

    /// The earliest bucket or `far` block, found with the occupancy masks.
    fn front(&self) -> Option<Front> {
        if self.level_mask != 0 {
            let level = self.level_mask.trailing_zeros() as usize % LEVELS;
            let w = self.word_mask[level].trailing_zeros() as usize % WORDS;
            let slot = w * 64 + self.occupied[level][w].trailing_zeros() as usize % 64;
            let shift = width_bits(level);
            let start = (self.cur & !low_mask(shift + LEVEL_BITS)) | ((slot as u64) << shift);
            return Some(Front {
                start,
                min: self.buckets[level][slot].min,
                at: Some((level, slot)),
            });
        }
        self.far.peek().map(|Reverse(w)| Front {
            start: w.key & !low_mask(NEAR_BITS),
            min: w.key,
            at: None,
        })
    }

    /// With `run` empty, cascades the earliest buckets while time `nk` has
    /// reached their start.
    fn catch_up(&mut self, nk: u64) {
        while self.run.is_empty() {
            match self.front() {
                Some(f) if f.start <= nk => match f.at {
                    Some((level, slot)) => self.cascade(level, slot, f.start),
                    None => self.enter_block(f.start),
                },
                _ => break,
            }
        }
    }

    /// Marks a bucket empty in the occupancy bitmaps.
    fn unoccupy(&mut self, level: usize, slot: usize) {
        let words = &mut self.occupied[level];
        words[slot / 64] &= !(1 << (slot % 64));
        if words[slot / 64] == 0 {
            self.word_mask[level] &= !(1 << (slot / 64));
            if self.word_mask[level] == 0 {
                self.level_mask &= !(1 << level);
            }
        }
    }

    /// Moves `cur` to the start of the earliest bucket and re-places its
    /// entries, in order, relative to it; those of the new `cur`'s block
    /// make the new `run`.
    #[inline(never)]
    fn cascade(&mut self, level: usize, slot: usize, start: u64) {
        debug_assert!(self.run.is_empty());
        let list = std::mem::replace(&mut self.buckets[level][slot], Bucket::EMPTY).list;
        self.unoccupy(level, slot);
        self.cur = start;
        let mask = low_mask(width_bits(level));
        let mut c = list.head;
        while c != NIL {
            // Copied out and released first: the chunk, still in cache, is
            // the next one the re-placed entries are appended to.
            let chunk = self.chunks[c as usize].clone();
            self.release(c);
            for i in 0..(chunk.len as usize).min(CHUNK) {
                let item = chunk.items[i];
                let k = start | (u64::from(item.lo) & mask);
                if (k ^ start) >> RUN_BITS == 0 {
                    self.run.push(Due {
                        key: k,
                        item,
                        tag: chunk.tags[i],
                    });
                } else {
                    self.place(k, item, chunk.tags[i]);
                }
            }
            c = chunk.next;
        }
        // Stable: equal keys stay in scheduling order.
        self.run.sort_by_key(|d| d.key);
    }

    /// With the levels empty, moves `cur` to the start of the next 2^40 µs
    /// block and brings that block's `far` entries in, in `(key, seq)` order.
    #[cold]
    fn enter_block(&mut self, start: u64) {
        debug_assert!(self.run.is_empty() && self.level_mask == 0);
        self.cur = start;
        while let Some(Reverse(w)) = self.far.peek() {
            if (w.key ^ start) >> NEAR_BITS != 0 {
                break;
            }
            let w = *w;
            self.far.pop();
            let item = Item {
                lo: w.key as u32,
                slot: w.slot,
                gen: w.gen,
            };
            if (w.key ^ start) >> RUN_BITS == 0 {
                // In key order already.
                self.run.push(Due {
                    key: w.key,
                    item,
                    tag: w.tag,
                });
            } else {
                self.place(w.key, item, w.tag);
            }
        }
    }

    /// Recomputes the cached earliest key and next event.
    fn refresh(&mut self) {
        let (min, event) = if let Some(Reverse(w)) = self.early.peek() {
            (w.key, w.key)
        } else if let Some(d) = self.run.get(self.run_pos) {
            (d.key, d.key)
        } else {
            self.front()
                .map_or((u64::MAX, u64::MAX), |f| (f.min, f.start))
        };
        self.next_min = min;
        self.next_event = event;
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
}

#[cfg(test)]
mod differential {
    //! The wheel against the binary heap it replaced, on random workloads.
    use super::*;

    /// The previous implementation: a binary heap ordered by `(due, seq)`.
    #[derive(Default)]
    struct Reference {
        heap: BinaryHeap<Reverse<(Timestamp, u64, Fired)>>,
        next_seq: u64,
    }

    type Fired = (Timestamp, u32, u32, TimerKind, u8);

    impl Reference {
        fn schedule(&mut self, due: Timestamp, slot: u32, gen: u32, kind: TimerKind, epoch: u8) {
            self.heap
                .push(Reverse((due, self.next_seq, (due, slot, gen, kind, epoch))));
            self.next_seq += 1;
        }

        fn pop_due(&mut self, now: Timestamp) -> Option<Fired> {
            match self.heap.peek() {
                Some(Reverse(e)) if e.0 <= now => self.pop(),
                _ => None,
            }
        }

        fn pop(&mut self) -> Option<Fired> {
            self.heap.pop().map(|Reverse((_, _, fired))| fired)
        }

        fn peek_due(&self) -> Option<Timestamp> {
            self.heap.peek().map(|Reverse(e)| e.0)
        }
    }

    fn fired(e: Entry) -> Fired {
        (e.due, e.slot, e.gen, e.kind, e.epoch)
    }

    /// SplitMix64.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    const SECOND: i64 = 1_000_000;

    /// Runs both queues side by side and checks every answer.
    struct Pair {
        q: TimerQueue,
        r: Reference,
        slot: u32,
        max_len: usize,
    }

    impl Pair {
        fn new() -> Self {
            Pair {
                q: TimerQueue::default(),
                r: Reference::default(),
                slot: 0,
                max_len: 0,
            }
        }

        fn schedule(&mut self, due: Timestamp, rng: &mut Rng) {
            // Unique slots make any reordering visible; gen and epoch use
            // their whole range.
            self.slot = self.slot.wrapping_add(1);
            let gen = rng.next() as u32;
            let epoch = if rng.below(4) == 0 {
                EPOCHS - 1 - rng.below(3) as u8
            } else {
                rng.below(EPOCHS as u64) as u8
            };
            let kind = TimerKind::ALL[rng.below(5) as usize];
            self.q.schedule(due, self.slot, gen, kind, epoch);
            self.r.schedule(due, self.slot, gen, kind, epoch);
            self.check();
        }

        fn pop_due(&mut self, now: Timestamp) -> Option<Fired> {
            let got = self.q.pop_due(now).map(fired);
            assert_eq!(got, self.r.pop_due(now), "pop_due({now:?})");
            self.check();
            got
        }

        fn drain_due(&mut self, now: Timestamp) {
            while self.pop_due(now).is_some() {}
        }

        fn pop(&mut self) -> Option<Fired> {
            let got = self.q.pop().map(fired);
            assert_eq!(got, self.r.pop(), "pop");
            self.check();
            got
        }

        fn clear(&mut self) {
            self.q.clear();
            self.r.heap.clear();
            self.check();
        }

        /// Drops about a third of the entries (chosen by slot) from both.
        fn compact(&mut self) {
            let live = |slot: u32| slot.wrapping_mul(2_654_435_761) >> 30 != 0;
            self.q.retain(&mut |e: &Entry| live(e.slot));
            self.r.heap.retain(|Reverse((_, _, f))| live(f.1));
            self.check();
        }

        fn check(&mut self) {
            assert_eq!(self.q.peek_due(), self.r.peek_due(), "peek_due");
            assert_eq!(self.q.len(), self.r.heap.len(), "len");
            self.max_len = self.max_len.max(self.q.len());
        }
    }

    /// A due time relative to `now`, from a mix of the tracker's constant
    /// timeouts, past times, ties, far futures and extreme values.
    fn due_near(now: i64, rng: &mut Rng) -> Timestamp {
        const TIMEOUTS: [i64; 7] = [
            0,
            5 * SECOND,
            10 * SECOND,
            60 * SECOND,
            300 * SECOND,
            3600 * SECOND,
            1,
        ];
        let t = match rng.below(20) {
            0..=9 => now.saturating_add(TIMEOUTS[rng.below(7) as usize]),
            10 => now,
            11 => now.saturating_sub(rng.below(10 * SECOND as u64) as i64),
            12 => now.saturating_sub(rng.below(1 << 40) as i64),
            13 => now.saturating_add(rng.below(1 << 40) as i64),
            14 => now.saturating_add(rng.below(100) as i64),
            15 => now.saturating_add(rng.below(SECOND as u64) as i64),
            16 => match rng.below(6) {
                0 => i64::MIN,
                1 => i64::MAX,
                2 => 0,
                3 => -1,
                4 => rng.next() as i64,
                _ => i64::MAX - rng.below(1000) as i64,
            },
            // A few fixed instants, for many ties.
            17 => (now / SECOND) * SECOND + rng.below(3) as i64,
            _ => now.saturating_add((1 << NEAR_BITS) - rng.below(1 << 20) as i64),
        };
        Timestamp(t)
    }

    /// Moves time on, mostly by microseconds, sometimes by days, sometimes
    /// backwards (`pop_due` must not care) or to extreme values.
    fn step(now: i64, rng: &mut Rng) -> i64 {
        match rng.below(40) {
            0..=24 => now.saturating_add(rng.below(50) as i64),
            25..=31 => now.saturating_add(rng.below(2 * SECOND as u64) as i64),
            32..=34 => now.saturating_add(rng.below(400 * SECOND as u64) as i64),
            35 => now.saturating_add(rng.below(30 * 86_400 * SECOND as u64) as i64),
            36 => now.saturating_sub(rng.below(1000 * SECOND as u64) as i64),
            37 => now.saturating_add(1 << [36, 40, 44][rng.below(3) as usize]),
            38 => [i64::MIN, i64::MAX, 0, -5 * SECOND][rng.below(4) as usize],
            _ => now,
        }
    }

    #[test]
    fn random_operations_match_the_heap() {
        for seed in 0..200u64 {
            let mut rng = Rng(seed);
            let mut p = Pair::new();
            let mut now: i64 = match seed % 4 {
                0 => 1_700_000_000 * SECOND,
                1 => 0,
                2 => -3 * SECOND,
                _ => rng.next() as i64,
            };
            for _ in 0..3000 {
                match rng.below(100) {
                    0..=44 => {
                        let due = due_near(now, &mut rng);
                        p.schedule(due, &mut rng);
                    }
                    45..=79 => {
                        now = step(now, &mut rng);
                        p.drain_due(Timestamp(now));
                    }
                    80..=89 => {
                        p.pop_due(Timestamp(now));
                    }
                    90..=95 => {
                        // The end-of-input drain, interrupted.
                        for _ in 0..rng.below(20) {
                            p.pop();
                        }
                    }
                    96 => {
                        let t = Timestamp(now.saturating_add(rng.below(1 << 38) as i64));
                        p.pop_due(t);
                    }
                    97 => p.clear(),
                    98 => p.compact(),
                    _ => {
                        // A burst of equal due times.
                        let due = due_near(now, &mut rng);
                        for _ in 0..rng.below(200) {
                            p.schedule(due, &mut rng);
                        }
                    }
                }
            }
            while p.pop().is_some() {}
            assert_eq!(p.q.len(), 0);
        }
    }

    #[test]
    fn compaction_waits_for_the_queue_to_double() {
        let mut q = TimerQueue::default();
        for i in 0..MIN_COMPACT as u32 {
            q.schedule(Timestamp(i64::from(i)), i, 0, TimerKind::Inactivity, 0);
        }
        q.compact_if_grown(|_| false);
        assert_eq!(q.len(), MIN_COMPACT, "not above the minimum yet");
        q.schedule(Timestamp(1), 7, 1, TimerKind::Expire, 0);
        // Keep the odd slots: the order of what is left is unchanged.
        q.compact_if_grown(|e| e.slot % 2 == 1);
        assert_eq!(q.len(), MIN_COMPACT / 2 + 1);
        let popped: Vec<(u32, u32)> = std::iter::from_fn(|| q.pop().map(|e| (e.slot, e.gen)))
            .take(3)
            .collect();
        assert_eq!(popped, vec![(1, 0), (7, 1), (3, 0)]);
        // The next compaction waits until the queue doubles again.
        q.compact_if_grown(|_| false);
        assert_eq!(q.len(), MIN_COMPACT / 2 - 2);
    }

    #[test]
    fn an_attempt_right_after_its_expire_shares_the_entry() {
        let mut q = TimerQueue::default();
        let t = |us: i64| Timestamp(1_000_000 + us);
        q.schedule(t(0), 99, 0, TimerKind::Inactivity, 0);
        q.pop_due(t(0));
        // Due 5 s ahead: before, the pair, after (same due), and a pair
        // broken by another entry between its halves.
        q.schedule(t(5_000_000), 1, 0, TimerKind::Expire, 0);
        q.schedule(t(5_000_000), 2, 3, TimerKind::Expire, 1);
        q.schedule(t(5_000_000), 2, 3, TimerKind::Attempt, 1);
        q.schedule(t(5_000_000), 4, 0, TimerKind::Delete, 0);
        q.schedule(t(5_000_000), 5, 0, TimerKind::Expire, 0);
        q.schedule(t(5_000_000), 6, 0, TimerKind::Delete, 0);
        q.schedule(t(5_000_000), 5, 0, TimerKind::Attempt, 0);
        // Not paired: another epoch, another time.
        q.schedule(t(6_000_000), 7, 0, TimerKind::Expire, 0);
        q.schedule(t(6_000_000), 7, 0, TimerKind::Attempt, 1);
        q.schedule(t(7_000_000), 8, 0, TimerKind::Expire, 0);
        q.schedule(t(7_000_001), 8, 0, TimerKind::Attempt, 0);
        assert_eq!(q.len(), 11);
        let stored: u32 = q.chunks.iter().map(|c| c.len).sum();
        assert_eq!(stored, 10, "one pair, every other entry on its own");
        // Compaction keeps the pair whole.
        q.compact_at = 0;
        q.retain(&mut |_| true);
        assert_eq!(q.len(), 11);
        let mut fired = Vec::new();
        // Scheduling between the halves' pops goes after both.
        while let Some(e) = q.pop_due(t(10_000_000)) {
            if e.slot == 2 && e.kind == TimerKind::Expire {
                q.schedule(e.due, 9, 0, TimerKind::Delete, 0);
            }
            fired.push((e.slot, e.kind, e.epoch));
        }
        use TimerKind::*;
        assert_eq!(
            fired,
            vec![
                (1, Expire, 0),
                (2, Expire, 1),
                (2, Attempt, 1),
                (4, Delete, 0),
                (5, Expire, 0),
                (6, Delete, 0),
                (5, Attempt, 0),
                (9, Delete, 0),
                (7, Expire, 0),
                (7, Attempt, 1),
                (8, Expire, 0),
                (8, Attempt, 0),
            ]
        );
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn compaction_follows_an_eighth_noted_dead() {
        let mut q = TimerQueue::default();
        let n = 8 * MIN_COMPACT as u32;
        for i in 0..n {
            q.schedule(Timestamp(i64::from(i)), i, 0, TimerKind::Inactivity, 0);
        }
        q.compact_if_grown(|_| true);
        assert_eq!(q.len(), n as usize, "first compaction: all live");
        // The queue has not doubled: only the notes can bring the next one.
        for _ in 0..n / 8 - 1 {
            q.note_dead();
        }
        q.compact_if_grown(|e| e.slot >= n / 8);
        assert_eq!(q.len(), n as usize, "one note short of an eighth");
        q.note_dead();
        q.compact_if_grown(|e| e.slot >= n / 8);
        assert_eq!(q.len(), (n - n / 8) as usize);
        assert_eq!(q.pop().map(|e| e.slot), Some(n / 8), "order kept");
    }

    /// The tracker's workload: time advances by microseconds per packet,
    /// each packet schedules "now + constant", timers fire as time passes;
    /// crosses a 2^40 µs boundary (the `far` heap) and ends with a drain.
    #[test]
    fn packet_workload_matches_the_heap() {
        let mut rng = Rng(7);
        let mut p = Pair::new();
        // Just before a 2^40 µs boundary of the key space.
        let mut now: i64 = ((1_700_000_000 * SECOND) | low_mask(NEAR_BITS) as i64) - 4000 * SECOND;
        for _ in 0..200_000 {
            now += rng.below(40_000) as i64;
            p.drain_due(Timestamp(now));
            let delay = [5, 10, 60, 300, 3600][rng.below(5) as usize] * SECOND;
            p.schedule(Timestamp(now + delay), &mut rng);
            if rng.below(3) == 0 {
                p.schedule(Timestamp(now + 5 * SECOND), &mut rng);
            }
        }
        assert!(p.max_len > 10_000);
        while p.pop().is_some() {}
    }

    /// Schedules straight into an empty queue, without any `pop_due` first,
    /// with the first due time later than the next ones.
    #[test]
    fn first_schedule_later_than_the_next() {
        let mut rng = Rng(3);
        let mut p = Pair::new();
        p.schedule(Timestamp(60 * SECOND), &mut rng);
        p.schedule(Timestamp(5 * SECOND), &mut rng);
        p.schedule(Timestamp(5 * SECOND), &mut rng);
        p.schedule(Timestamp(-5 * SECOND), &mut rng);
        p.schedule(Timestamp(60 * SECOND), &mut rng);
        p.drain_due(Timestamp(5 * SECOND));
        p.schedule(Timestamp(SECOND), &mut rng);
        p.schedule(Timestamp(60 * SECOND), &mut rng);
        while p.pop().is_some() {}
    }

    #[test]
    fn extreme_times() {
        let mut rng = Rng(11);
        let mut p = Pair::new();
        for t in [
            i64::MAX,
            i64::MIN,
            0,
            -1,
            1,
            i64::MAX,
            i64::MIN,
            i64::MAX - 1,
        ] {
            p.schedule(Timestamp(t), &mut rng);
        }
        p.drain_due(Timestamp(-1));
        p.schedule(Timestamp(i64::MIN), &mut rng);
        p.drain_due(Timestamp(i64::MAX - 1));
        p.schedule(Timestamp(i64::MAX), &mut rng);
        p.schedule(Timestamp(0), &mut rng);
        p.drain_due(Timestamp(i64::MAX));
        assert_eq!(p.q.len(), 0);
    }

    /// The wheel keeps up with time while a timer far in the future stays
    /// pending: timers scheduled "now + constant" go in the wheel, not in the
    /// heaps, even after weeks of capture time.
    #[test]
    fn wheel_follows_time() {
        let mut q = TimerQueue::default();
        let mut now = 1_700_000_000 * SECOND;
        assert!(q.pop_due(Timestamp(now)).is_none());
        q.schedule(
            Timestamp(now + 40 * 86_400 * SECOND),
            0,
            0,
            TimerKind::Expire,
            0,
        );
        let mut fired = 0;
        for i in 0..100_000 {
            now += 30 * SECOND;
            while let Some(e) = q.pop_due(Timestamp(now)) {
                assert!(e.due <= Timestamp(now));
                fired += 1;
            }
            q.schedule(Timestamp(now + 5 * SECOND), i, 0, TimerKind::Delete, 0);
            q.schedule(
                Timestamp(now + 3600 * SECOND),
                i,
                0,
                TimerKind::Inactivity,
                0,
            );
        }
        assert!(fired > 190_000);
        assert!(q.early.is_empty());
        // Only the 40-day timer and the 3600 s timers scheduled across a
        // 2^40 µs boundary (one every 12.7 days) went to `far`.
        assert!(q.wide_seq < 1_000, "{}", q.wide_seq);
    }

    #[test]
    fn memory_per_entry() {
        // 12 bytes of item plus the tag byte, in 32-entry chunks.
        assert_eq!(std::mem::size_of::<Item>(), 12);
        assert!(std::mem::size_of::<Chunk>() <= CHUNK * 13 + 8);
        // Chunks are recycled: a steady state does not grow the slab.
        let mut q = TimerQueue::default();
        let mut now = 1_700_000_000 * SECOND;
        for i in 0..200_000u32 {
            now += 100;
            while q.pop_due(Timestamp(now)).is_some() {}
            q.schedule(Timestamp(now + 5 * SECOND), i, 0, TimerKind::Expire, 0);
        }
        let pending = q.len();
        assert_eq!(pending, 50_000);
        assert!(
            q.chunks.len() * CHUNK < pending + pending / 4,
            "{}",
            q.chunks.len()
        );
    }
}
