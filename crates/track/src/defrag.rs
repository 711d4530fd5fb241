//! IP fragment reassembly (Zeek §11).
//!
//! The decoder hands every fully captured fragment over as an owned
//! [`Fragment`]; the [`Defragmenter`] collects them per `(src, dst, id,
//! v6)` and returns the datagram once the fragment at offset 0, the last
//! fragment (MF clear) and everything between have arrived. The caller then
//! decodes it with [`quartet_decode::decode_reassembled`] at the time of the
//! completing fragment.
//!
//! Owns the reassembly state, its expiry (`frag_timeout`, counted from the
//! first fragment, as Zeek's per-datagram timer) and its memory bound
//! (oldest datagrams are dropped when the held bytes exceed the limit).
//! Overlapping data keeps the bytes that arrived first. Weirds are reported
//! in [`Outcome::weirds`]; only the ones documented as dropping a fragment
//! do so.

use std::collections::{BTreeMap, HashMap};

use quartet_decode::Fragment;
use quartet_wire::{Addr, Timestamp};

/// Zeek's `frag_timeout` default is 0 (never); Zeek's default scripts set
/// 5 minutes, which is what the tracker uses.
pub const FRAG_TIMEOUT: i64 = 5 * 60 * 1_000_000;

/// A non-last fragment shorter than this is `excessively_small_fragment`.
const MIN_FRAG_SIZE: usize = 64;

/// The largest datagram payload an IPv4/IPv6 length field can describe.
const MAX_DATAGRAM: u64 = 65_535;

type Key = (Addr, Addr, u32, bool);

/// What adding one fragment did.
#[derive(Debug, Default)]
pub struct Outcome {
    weirds: [Option<&'static str>; 3],
    /// The completed datagram: the fragment at offset 0 (its `payload`
    /// emptied; its header, addresses, layer-2 details and encapsulation
    /// are what `decode_reassembled` uses) and the whole reassembled
    /// payload.
    pub complete: Option<(Box<Fragment>, Vec<u8>)>,
    /// The fragment was discarded (a weird says why).
    pub dropped: bool,
}

impl Outcome {
    /// The weirds this fragment raised, in order (Zeek weird names).
    pub fn weirds(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.weirds.iter().flatten().copied()
    }

    fn weird(&mut self, name: &'static str) {
        if let Some(slot) = self.weirds.iter_mut().find(|w| w.is_none()) {
            *slot = Some(name);
        }
    }

    fn drop_with(mut self, name: &'static str) -> Self {
        self.weird(name);
        self.dropped = true;
        self
    }
}

/// One datagram being reassembled.
struct Partial {
    created: Timestamp,
    seq: u64,
    /// The fragment at offset 0, payload moved into `data`.
    head: Option<Box<Fragment>>,
    /// Protocol of the first fragment seen.
    proto: u8,
    /// End of the datagram payload, once the last fragment was seen.
    total: Option<u32>,
    /// Payload bytes; `have` says which are valid.
    data: Vec<u8>,
    /// Sorted, disjoint, non-adjacent covered ranges `[start, end)`.
    have: Vec<(u32, u32)>,
}

impl Partial {
    fn bytes(&self) -> usize {
        self.data.len() + self.head.as_ref().map_or(0, |h| h.header.len())
    }

    fn complete(&self) -> bool {
        match (self.total, &self.head, self.have.as_slice()) {
            (Some(t), Some(_), [(0, end)]) => *end == t,
            (Some(0), Some(_), []) => true,
            _ => false,
        }
    }

    /// Copies `payload` at `off`, keeping bytes already present. Returns
    /// (overlapped, overlapping bytes differed).
    fn insert(&mut self, off: u32, payload: &[u8]) -> (bool, bool) {
        let end = off + payload.len() as u32;
        if self.data.len() < end as usize {
            self.data.resize(end as usize, 0);
        }
        let (mut overlap, mut differ) = (false, false);
        for &(s, e) in &self.have {
            let (lo, hi) = (s.max(off), e.min(end));
            if lo < hi {
                overlap = true;
                let old = &self.data[lo as usize..hi as usize];
                let new = &payload[(lo - off) as usize..(hi - off) as usize];
                differ |= old != new;
            }
        }
        // Fill the gaps only: earlier data wins.
        let mut pos = off;
        for &(s, e) in &self.have {
            if e <= pos || s >= end {
                continue;
            }
            if s > pos {
                copy(&mut self.data, off, payload, pos, s);
            }
            pos = pos.max(e);
        }
        if pos < end {
            copy(&mut self.data, off, payload, pos, end);
        }
        self.have.push((off, end));
        self.have.sort_unstable();
        let mut merged: Vec<(u32, u32)> = Vec::with_capacity(self.have.len());
        for &(s, e) in &self.have {
            match merged.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        self.have = merged;
        (overlap, differ)
    }
}

/// Copies datagram bytes `[from, to)` of `payload` (which starts at `off`).
fn copy(data: &mut [u8], off: u32, payload: &[u8], from: u32, to: u32) {
    data[from as usize..to as usize]
        .copy_from_slice(&payload[(from - off) as usize..(to - off) as usize]);
}

/// Reassembles IP fragments into datagrams; see the module docs.
pub struct Defragmenter {
    timeout: i64,
    max_bytes: usize,
    bytes: usize,
    seq: u64,
    partials: HashMap<Key, Partial>,
    /// Datagrams by age: `(created, seq)`.
    order: BTreeMap<(Timestamp, u64), Key>,
    /// Datagrams dropped unfinished to stay under `max_bytes`.
    pub evicted: u64,
    /// Datagrams dropped unfinished by `expire`.
    pub expired: u64,
}

impl Defragmenter {
    /// `timeout` in microseconds (Zeek's `frag_timeout`, [`FRAG_TIMEOUT`];
    /// 0 = never), `max_bytes` the bound on held fragment data.
    pub fn new(timeout: i64, max_bytes: usize) -> Self {
        Defragmenter {
            timeout,
            max_bytes,
            bytes: 0,
            seq: 0,
            partials: HashMap::new(),
            order: BTreeMap::new(),
            evicted: 0,
            expired: 0,
        }
    }

    /// Datagrams in progress.
    pub fn len(&self) -> usize {
        self.partials.len()
    }

    /// Releases every buffered datagram (end of input).
    pub fn clear(&mut self) {
        while !self.is_empty() {
            self.expire(Timestamp(i64::MAX));
        }
    }

    pub fn is_empty(&self) -> bool {
        self.partials.is_empty()
    }

    /// Bytes of fragment data held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Adds one fragment at time `now` (Zeek's network time).
    pub fn add(&mut self, mut frag: Box<Fragment>, now: Timestamp) -> Outcome {
        let mut out = Outcome::default();
        let len = frag.payload.len();
        let end = u64::from(frag.offset) + len as u64;
        if frag.df {
            out.weird("fragment_with_DF");
        }
        if frag.more && len < MIN_FRAG_SIZE {
            out.weird("excessively_small_fragment");
        }
        if end + frag.header.len() as u64 > MAX_DATAGRAM {
            return out.drop_with("excessively_large_fragment");
        }
        let end = end as u32;
        let key = (frag.src, frag.dst, frag.id, frag.v6);
        if !self.partials.contains_key(&key) {
            self.seq += 1;
            self.order.insert((now, self.seq), key);
            self.partials.insert(
                key,
                Partial {
                    created: now,
                    seq: self.seq,
                    head: None,
                    proto: frag.proto,
                    total: None,
                    data: Vec::new(),
                    have: Vec::new(),
                },
            );
        }
        let p = self.partials.get_mut(&key).expect("inserted above");
        if frag.proto != p.proto {
            return out.drop_with("fragment_protocol_inconsistency");
        }
        if let Some(total) = p.total {
            if end > total || (!frag.more && end != total) {
                return out.drop_with("fragment_size_inconsistency");
            }
        } else if !frag.more {
            if p.have.last().is_some_and(|&(_, e)| e > end) {
                return out.drop_with("fragment_size_inconsistency");
            }
            p.total = Some(end);
        }
        let before = p.bytes();
        let payload = std::mem::take(&mut frag.payload);
        let (overlap, differ) = p.insert(frag.offset, &payload);
        if differ {
            out.weird("fragment_inconsistency");
        } else if overlap {
            out.weird("fragment_overlap");
        }
        if frag.offset == 0 && p.head.is_none() {
            p.head = Some(frag);
        }
        let after = p.bytes();
        self.bytes = self.bytes + after - before;
        if p.complete() {
            let p = self.remove(&key).expect("present");
            let mut data = p.data;
            data.truncate(p.total.unwrap_or(0) as usize);
            out.complete = Some((p.head.expect("complete has a head"), data));
            return out;
        }
        // Stay under the memory bound, oldest first.
        while self.bytes > self.max_bytes {
            let Some((_, k)) = self.order.pop_first() else {
                break;
            };
            if self.remove(&k).is_some() {
                self.evicted += 1;
            }
        }
        out
    }

    /// Drops the datagrams whose first fragment is `timeout` old at `now`.
    pub fn expire(&mut self, now: Timestamp) {
        if self.timeout <= 0 {
            return;
        }
        while let Some((&(created, _), &k)) = self.order.first_key_value() {
            if created.add_micros(self.timeout) > now {
                break;
            }
            if self.remove(&k).is_some() {
                self.expired += 1;
            }
        }
    }

    fn remove(&mut self, k: &Key) -> Option<Partial> {
        let p = self.partials.remove(k)?;
        self.order.remove(&(p.created, p.seq));
        self.bytes -= p.bytes();
        Some(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quartet_decode::{decode_reassembled, Checksum, DecodeConfig, Decoded, Transport};

    const CFG: DecodeConfig = DecodeConfig {
        ignore_checksums: false,
    };

    /// A UDP datagram (zero checksum: none over IPv4) of `n` payload bytes
    /// 10.0.0.1 -> 10.0.0.2, cut into IPv4 fragments at the given offsets
    /// (multiples of 8), built by hand as the decoder would hand them over.
    #[allow(clippy::vec_box)] // `add` takes boxed fragments
    fn fragments(n: usize, cuts: &[usize], id: u16) -> (Vec<u8>, Vec<Box<Fragment>>) {
        let mut dgram = vec![0x03, 0xe8, 0, 53];
        dgram.extend(((8 + n) as u16).to_be_bytes());
        dgram.extend([0, 0]);
        dgram.extend((0..n).map(|i| (i * 7) as u8));
        let (src, dst) = (Addr::v4([10, 0, 0, 1]), Addr::v4([10, 0, 0, 2]));
        let mut bounds = vec![0];
        bounds.extend(cuts);
        bounds.push(dgram.len());
        let frags = bounds
            .windows(2)
            .map(|w| {
                Box::new(Fragment {
                    ts: Timestamp(0),
                    v6: false,
                    src,
                    dst,
                    id: u32::from(id),
                    key_src: src,
                    key_dst: dst,
                    proto: 17,
                    offset: w[0] as u32,
                    more: w[1] != dgram.len(),
                    df: false,
                    header: vec![0x45; 20],
                    payload: dgram[w[0]..w[1]].to_vec(),
                    ..Fragment::default()
                })
            })
            .collect();
        (dgram, frags)
    }

    fn weirds(o: &Outcome) -> Vec<&'static str> {
        o.weirds().collect()
    }

    fn check_udp(head: &Fragment, payload: &[u8], n: usize) {
        let mut v = Vec::new();
        decode_reassembled(&CFG, Timestamp(9), head, payload, &mut v);
        match &v[..] {
            [Decoded::Packet(m)] => match m.transport {
                Transport::Udp(u) => {
                    assert_eq!(u.payload_len as usize, n);
                    assert_eq!(u.checksum, Checksum::Unchecked);
                    assert_eq!(m.ip_len as usize, 20 + 8 + n);
                }
                t => panic!("{t:?}"),
            },
            v => panic!("{v:?}"),
        }
    }

    #[test]
    fn in_order() {
        let (dgram, fs) = fragments(300, &[104, 208], 1);
        let mut d = Defragmenter::new(FRAG_TIMEOUT, 1 << 20);
        let mut done = None;
        for (i, f) in fs.into_iter().enumerate() {
            let o = d.add(f, Timestamp(i as i64));
            assert!(weirds(&o).is_empty(), "{:?}", weirds(&o));
            if let Some(c) = o.complete {
                done = Some(c);
            }
        }
        let (head, payload) = done.expect("complete");
        assert_eq!(payload, dgram);
        assert!(head.payload.is_empty() && head.offset == 0);
        check_udp(&head, &payload, 300);
        assert_eq!((d.len(), d.bytes()), (0, 0));
    }

    #[test]
    fn out_of_order_completes_on_the_last_arrival() {
        let (dgram, mut fs) = fragments(300, &[104, 208], 2);
        fs.reverse();
        let mut d = Defragmenter::new(FRAG_TIMEOUT, 1 << 20);
        let f0 = fs.pop().unwrap();
        for f in fs {
            assert!(d.add(f, Timestamp(1)).complete.is_none());
        }
        assert_eq!(d.len(), 1);
        let o = d.add(f0, Timestamp(2));
        let (head, payload) = o.complete.expect("complete");
        assert_eq!(payload, dgram);
        check_udp(&head, &payload, 300);
        assert!(d.is_empty());
    }

    #[test]
    fn duplicates_and_overlaps() {
        let (dgram, fs) = fragments(300, &[104, 208], 3);
        let mut d = Defragmenter::new(FRAG_TIMEOUT, 1 << 20);
        assert!(weirds(&d.add(fs[0].clone(), Timestamp(0))).is_empty());
        // The same fragment again: an overlap with equal bytes.
        assert_eq!(
            weirds(&d.add(fs[0].clone(), Timestamp(1))),
            ["fragment_overlap"]
        );
        // Overlapping with different bytes: the first bytes are kept.
        let mut bad = fs[1].clone();
        bad.offset -= 8;
        bad.payload = vec![0xee; bad.payload.len() + 8];
        assert_eq!(
            weirds(&d.add(bad, Timestamp(2))),
            ["fragment_inconsistency"]
        );
        let o = d.add(fs[2].clone(), Timestamp(3));
        // The bad fragment covered part of [104, 208) with 0xee.
        let (_, payload) = o.complete.expect("complete");
        assert_eq!(payload[..104], dgram[..104]);
        assert_eq!(payload[104..200], vec![0xee; 96][..]);
        assert_eq!(payload[208..], dgram[208..]);
    }

    #[test]
    fn small_df_size_and_protocol_weirds() {
        let (_, fs) = fragments(100, &[16], 4);
        let mut d = Defragmenter::new(FRAG_TIMEOUT, 1 << 20);
        let mut first = fs[0].clone();
        first.df = true;
        assert_eq!(
            weirds(&d.add(first, Timestamp(0))),
            ["fragment_with_DF", "excessively_small_fragment"]
        );
        let mut other = fs[1].clone();
        other.proto = 6;
        let o = d.add(other, Timestamp(0));
        assert!(o.dropped);
        assert_eq!(weirds(&o), ["fragment_protocol_inconsistency"]);
        assert!(d.add(fs[1].clone(), Timestamp(0)).complete.is_some());

        // A second last fragment that ends elsewhere.
        let (_, fs) = fragments(100, &[16], 5);
        assert!(d.add(fs[1].clone(), Timestamp(0)).complete.is_none());
        let mut short = fs[1].clone();
        short.payload.truncate(8);
        let o = d.add(short, Timestamp(0));
        assert_eq!(weirds(&o), ["fragment_size_inconsistency"]);
        let mut big = fs[0].clone();
        big.offset = 65_528;
        assert_eq!(
            weirds(&d.add(big, Timestamp(0))),
            ["excessively_small_fragment", "excessively_large_fragment"]
        );
    }

    #[test]
    fn timeout_and_memory_bound() {
        let mut d = Defragmenter::new(1_000, 1 << 20);
        let (_, a) = fragments(300, &[104], 6);
        let (_, b) = fragments(300, &[104], 7);
        d.add(a[0].clone(), Timestamp(0));
        d.add(b[0].clone(), Timestamp(500));
        d.expire(Timestamp(999));
        assert_eq!(d.len(), 2);
        d.expire(Timestamp(1000));
        assert_eq!((d.len(), d.expired), (1, 1));
        // The expired datagram no longer completes.
        assert!(d.add(a[1].clone(), Timestamp(1001)).complete.is_none());
        assert!(d.add(b[1].clone(), Timestamp(1002)).complete.is_some());

        // Room for about one partial datagram: the oldest goes.
        let mut d = Defragmenter::new(FRAG_TIMEOUT, 200);
        d.add(a[0].clone(), Timestamp(0));
        d.add(b[0].clone(), Timestamp(1));
        assert_eq!((d.len(), d.evicted), (1, 1));
        assert!(d.bytes() <= 200);
        assert!(d.add(b[1].clone(), Timestamp(2)).complete.is_some());
        assert_eq!(d.bytes(), 0);
    }
}
