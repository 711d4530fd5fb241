//! Connection tracking with Zeek's semantics: one table of connections,
//! TCP/UDP/ICMP/unknown-transport machines, timers in packet time, reuse and
//! direction flips. The tracker owns every connection outright and emits a
//! `ConnRecord` when a connection is removed (timer, reuse, end of input).
//!
//! Time is packet time only: before each packet the network time advances
//! to the packet's timestamp and every timer due by then fires, in due-time
//! order. Nothing here reads a clock.
#![forbid(unsafe_code)]

pub mod defrag;
mod history;
pub mod ports;
pub mod site;
mod tcp;
mod timer;
mod tunnels;

use hashbrown::{HashMap, HashTable};
use history::{History, Letter, Scaled, Seen};
use ports::LikelyServerPorts;
use quartet_decode::{Checksum, EncapStack, IcmpMeta, PacketMeta, TcpHeaderStatus, Transport};
use quartet_record::{ConnRecord, ConnState, Proto, RemovalOrder, Uid, UidGen, WeirdRecord};
use quartet_wire::{Addr, Timestamp};
use site::LocalNets;
use tcp::{Reuse, TcpConn, TcpCtx, TcpState, SECOND, SESSION_TIMER};
use timer::{Entry, TimerKind, TimerQueue};

pub use tcp::TcpState as EndpointState;
pub use tunnels::TunnelUids;

/// `udp_inactivity_timeout` = `icmp_inactivity_timeout` =
/// `unknown_ip_inactivity_timeout`; TCP starts with it too (§4.3).
const INITIAL_INACTIVITY: i64 = 60 * SECOND;
/// `tcp_inactivity_timeout`.
const TCP_INACTIVITY: i64 = 300 * SECOND;
/// `Conn::port_inactivity_timeouts` for ftp, ssh, telnet and rlogin.
const LONG_INACTIVITY: i64 = 3600 * SECOND;
/// `dns_session_timeout`: a UDP DNS session ends after this long idle.
const DNS_SESSION_TIMEOUT: i64 = 10 * SECOND;
/// `Tunnel::max_changes_per_connection`.
const MAX_TUNNEL_CHANGES: u8 = 5;

/// Settings of the tracker.
#[derive(Clone, Debug, Default)]
pub struct TrackConfig {
    pub likely_server_ports: LikelyServerPorts,
    pub local_nets: LocalNets,
    pub uid_seed: u64,
    /// Keep weird.log records in `Tracker::weird_records`.
    pub weird_log: bool,
    pub tcp_model: TcpModel,
    /// Keep the layer-2 addresses of each connection's first packet (for the
    /// orig_l2_addr/resp_l2_addr columns); off, they cost no memory.
    pub l2_addrs: bool,
    /// At most this many connections are tracked at once (0: no limit).
    /// When full, one is evicted to make room (see `Tracker::evict_one`).
    pub max_conns: usize,
}

/// How TCP connections are told apart and closed (docs/tcp-models.md).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TcpModel {
    /// Zeek's rules, bug for bug (the default).
    #[default]
    Zeek,
    /// What a correct passive tracker does where Zeek's rules go wrong:
    /// TIME_WAIT tombstones, RFC 1122 reopening, no split of an established
    /// connection by an unanswered SYN, RSTs checked against the window.
    Strict,
}

/// Maximum segment lifetime of the strict model: 30 s, so a tombstone lasts
/// 2MSL = 60 s, Linux's TIME_WAIT length (TCP_TIMEWAIT_LEN). RFC 793's 2 min
/// MSL is far longer than any stack waits in practice.
pub const STRICT_MSL: i64 = 30 * SECOND;

/// What is left of a closed TCP connection in the strict model while its
/// TIME_WAIT lasts (2MSL from the close).
#[derive(Clone, Debug)]
struct Tombstone {
    expires: Timestamp,
    /// The old originator, and the highest sequence number (one past the
    /// last octet) each side used.
    orig: (Addr, u16),
    final_seq: [u32; 2],
    /// The last SYN refused here: if the peer answers it after all (it
    /// checked timestamps, which the tombstone does not), the connection
    /// opens with it.
    refused_syn: Option<Box<PacketMeta>>,
}

/// Canonical connection key: the lower (address, port) endpoint first, so
/// both directions of a conversation find the same entry. One-way ICMP
/// messages keep the sender first (§3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnKey {
    pub a: Addr,
    pub b: Addr,
    pub pa: u16,
    pub pb: u16,
    pub proto: u8,
}

impl ConnKey {
    fn new(src: Addr, sport: u16, dst: Addr, dport: u16, proto: u8, canonical: bool) -> Self {
        Self::sided(src, sport, dst, dport, proto, canonical).0
    }

    /// The key of a packet, and whether its sender is the key's first
    /// endpoint (`a`); see `Conn::sent_by_orig`.
    fn sided(
        src: Addr,
        sport: u16,
        dst: Addr,
        dport: u16,
        proto: u8,
        canonical: bool,
    ) -> (Self, bool) {
        if canonical && (dst, dport) < (src, sport) {
            let key = ConnKey {
                a: dst,
                b: src,
                pa: dport,
                pb: sport,
                proto,
            };
            (key, false)
        } else {
            let key = ConnKey {
                a: src,
                b: dst,
                pa: sport,
                pb: dport,
                proto,
            };
            (key, true)
        }
    }

    /// Word-wise multiply-xor over the key, then an avalanche (murmur3's
    /// finaliser): a few cycles, no per-byte loop.
    fn hash64(&self) -> u64 {
        let w = |b: &[u8]| u64::from_le_bytes(b.try_into().expect("8 bytes"));
        let ports = (self.pa as u64) << 24 | (self.pb as u64) << 8 | self.proto as u64;
        let mut h = w(&self.a.0[..8]).wrapping_mul(0x9e37_79b9_7f4a_7c15)
            ^ w(&self.a.0[8..]).wrapping_mul(0xc2b2_ae3d_27d4_eb4f)
            ^ w(&self.b.0[..8]).wrapping_mul(0x1656_67b1_9e37_79f9)
            ^ w(&self.b.0[8..]).wrapping_mul(0x85eb_ca77_c2b2_ae63)
            ^ ports.wrapping_mul(0x27d4_eb2f_1656_67c5);
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }

    /// The hash the connection table uses. The reader picks the shard of a
    /// connection that is neither TCP nor UDP from the top bits of
    /// `hash64` (`flow_hash`; the top three for eight shards), so within
    /// one shard those bits are alike; the table takes its bucket bits
    /// from the low end of the upper half, and its 7-bit tags from the top
    /// of the lower half, clear of them.
    fn table_hash(&self) -> u64 {
        self.hash64().rotate_left(32)
    }

    fn bytes(&self) -> [u8; 37] {
        let mut k = [0u8; 37];
        k[..16].copy_from_slice(&self.a.0);
        k[16..32].copy_from_slice(&self.b.0);
        k[32..34].copy_from_slice(&self.pa.to_be_bytes());
        k[34..36].copy_from_slice(&self.pb.to_be_bytes());
        k[36] = self.proto;
        k
    }
}

/// A connection's key as the connection keeps it: an IPv4 key (most
/// connections) in 13 bytes inline, any other behind a pointer of its own.
/// 16 bytes instead of `ConnKey`'s 38.
#[derive(Clone, Debug)]
enum StoredKey {
    V4 {
        a: [u8; 4],
        b: [u8; 4],
        pa: u16,
        pb: u16,
        proto: u8,
    },
    Wide(Box<ConnKey>),
}

impl StoredKey {
    fn new(k: &ConnKey) -> Self {
        if k.a.is_v4() && k.b.is_v4() {
            StoredKey::V4 {
                a: k.a.octets_v4(),
                b: k.b.octets_v4(),
                pa: k.pa,
                pb: k.pb,
                proto: k.proto,
            }
        } else {
            StoredKey::Wide(Box::new(*k))
        }
    }

    fn get(&self) -> ConnKey {
        match self {
            &StoredKey::V4 {
                a,
                b,
                pa,
                pb,
                proto,
            } => ConnKey {
                a: Addr::v4(a),
                b: Addr::v4(b),
                pa,
                pb,
                proto,
            },
            StoredKey::Wide(k) => **k,
        }
    }

    fn matches(&self, k: &ConnKey) -> bool {
        match self {
            &StoredKey::V4 {
                a,
                b,
                pa,
                pb,
                proto,
            } => {
                pa == k.pa
                    && pb == k.pb
                    && proto == k.proto
                    && k.a == Addr::v4(a)
                    && k.b == Addr::v4(b)
            }
            StoredKey::Wide(w) => **w == *k,
        }
    }

    /// The first (`a`) or second endpoint of the key.
    fn endpoint(&self, first: bool) -> (Addr, u16) {
        match self {
            &StoredKey::V4 { a, b, pa, pb, .. } => {
                if first {
                    (Addr::v4(a), pa)
                } else {
                    (Addr::v4(b), pb)
                }
            }
            StoredKey::Wide(k) => {
                if first {
                    (k.a, k.pa)
                } else {
                    (k.b, k.pb)
                }
            }
        }
    }

    fn proto(&self) -> u8 {
        match self {
            StoredKey::V4 { proto, .. } => *proto,
            StoredKey::Wide(k) => k.proto,
        }
    }

    /// The order of the keys themselves (`ConnKey`'s), without rebuilding
    /// two IPv4 keys: their addresses differ only in the last 4 bytes.
    fn cmp_key(&self, other: &StoredKey) -> std::cmp::Ordering {
        match (self, other) {
            (
                StoredKey::V4 {
                    a,
                    b,
                    pa,
                    pb,
                    proto,
                },
                StoredKey::V4 {
                    a: a2,
                    b: b2,
                    pa: pa2,
                    pb: pb2,
                    proto: proto2,
                },
            ) => (a, b, pa, pb, proto).cmp(&(a2, b2, pa2, pb2, proto2)),
            _ => self.get().cmp(&other.get()),
        }
    }

    /// Both endpoints are the same (a host talking to itself on one port).
    fn is_loop(&self) -> bool {
        self.endpoint(true) == self.endpoint(false)
    }
}

/// Anomalies by Zeek weird name: counted always; the names raised by the
/// packet being handled are kept until the tracker attaches them to the
/// connection for weird.log.
#[derive(Clone, Debug, Default)]
pub struct Weirds {
    /// Counts by the address of the name. Every name is a `&'static str`
    /// constant, so its address tells it apart without hashing or comparing
    /// its text, which cost about 3% of a run on the mix (where one packet
    /// in seven raises a weird, most of them `bad_TCP_checksum`). A text
    /// the compiler placed at two addresses gets two entries, which
    /// [`Weirds::counts`] adds up.
    by_addr: hashbrown::HashMap<usize, (&'static str, u64)>,
    pending: Vec<&'static str>,
}

impl Weirds {
    pub fn add(&mut self, name: &'static str) {
        self.by_addr
            .entry(name.as_ptr() as usize)
            .or_insert((name, 0))
            .1 += 1;
        self.pending.push(name);
    }

    /// How often each weird was raised, by name.
    pub fn counts(&self) -> Vec<(&'static str, u64)> {
        let mut v: Vec<(&'static str, u64)> = self.by_addr.values().copied().collect();
        v.sort_unstable();
        v.dedup_by(|b, a| {
            let same = a.0 == b.0;
            if same {
                a.1 += b.1;
            }
            same
        });
        v
    }
}

/// Where a packet handed to the tracker ended up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disposition {
    /// Counted in a connection's `*_pkts`.
    Counted,
    /// Not counted; the named drop counter it went to.
    Dropped(&'static str),
}

/// Packet accounting: every packet handed to the tracker ends up in exactly
/// one of these.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrackStats {
    /// Packets counted in a connection's `*_pkts`.
    pub counted: u64,
    /// TCP packets dropped for a bad header length or truncated options.
    pub dropped_bad_header: u64,
    /// Packets dropped for a bad transport checksum.
    pub dropped_bad_checksum: u64,
    /// ICMP packets not captured in full (they add bytes but no packet).
    pub icmp_incomplete: u64,
    /// Late segments absorbed by a TIME_WAIT tombstone (strict model).
    pub absorbed_time_wait: u64,
    /// TIME_WAIT assassinations: a new SYN reopened a 4-tuple within 2MSL
    /// of its FIN-closed connection (both models; from a tombstone: strict).
    pub time_wait_reopened: u64,
    /// SYNs refused by a tombstone: the peer still held the old connection.
    pub stale_peer_syns: u64,
    /// RSTs the receiver would not honour, ignored (strict): in SYN-SENT
    /// one not acknowledging the SYN, after it one not at RCV.NXT.
    pub rst_outside_window: u64,
    /// Connections written early to stay within `max_conns`.
    pub evicted: u64,
    /// Handshakes that completed only after a stale ACK of an older
    /// connection answered the SYN, and the setup delay that cost in total.
    pub stale_peer_setups: u64,
    pub stale_setup_delay_us: u64,
    pub conns_created: u64,
    pub conns_removed: u64,
}

/// A connection's transport, with the little each kind keeps beside it:
/// a TCP connection's inactivity class, whether the DNS/NTP direction
/// heuristic already looked at a UDP message. One byte: as an enum with
/// fields it would take a tag, and the protocol's own data (`Conn::aux`)
/// a tag of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// TCP, with `Inactivity::Initial`, `Tcp` or `Long`.
    TcpInitial,
    TcpTcp,
    TcpLong,
    Udp,
    /// UDP whose direction heuristic already looked at a message.
    UdpChecked,
    Icmp,
    Other,
}

/// The TCP states of a tracker's connections, each at a fixed index for
/// its connection's life (`Conn::aux`): 64 bytes apiece in one vector
/// instead of a heap allocation each with the allocator's 8 bytes, and a
/// 4-byte index instead of a pointer. A freed index is reused by the next TCP
/// connection; its state is reset when freed, so what it allocated (the
/// rarely used part) goes with the connection.
#[derive(Debug, Default)]
struct TcpSlab {
    items: Vec<TcpConn>,
    free: Vec<u32>,
}

impl TcpSlab {
    fn insert(&mut self, t: TcpConn) -> u32 {
        match self.free.pop() {
            Some(i) => {
                self.items[i as usize] = t;
                i
            }
            None => {
                self.items.push(t);
                (self.items.len() - 1) as u32
            }
        }
    }

    /// Drops what the state at `i` allocated; the index is not reused.
    fn reset(&mut self, i: u32) {
        self.items[i as usize] = TcpConn::default();
    }

    /// Resets the state at `i` and lets the next connection reuse it.
    fn release(&mut self, i: u32) {
        self.reset(i);
        self.free.push(i);
    }

    fn clear(&mut self) {
        self.items.clear();
        self.free.clear();
    }
}

impl std::ops::Index<u32> for TcpSlab {
    type Output = TcpConn;
    fn index(&self, i: u32) -> &TcpConn {
        &self.items[i as usize]
    }
}

impl std::ops::IndexMut<u32> for TcpSlab {
    fn index_mut(&mut self, i: u32) -> &mut TcpConn {
        &mut self.items[i as usize]
    }
}

/// What only some connections need, allocated when one does: layer-2
/// addresses (when those columns are written), a tunnel encapsulation, the
/// weird names already in weird.log, a uid incarnation other than 0, bad
/// UDP checksums.
#[derive(Clone, Debug, Default)]
struct Extras {
    l2: [Option<[u8; 6]>; 2],
    /// Which connection of its key this is, when not the first one created
    /// at its first packet's time (see `Tracker::create`); the uid is made
    /// from it.
    incarnation: u64,
    /// UDP: bad checksums per role (`C`/`c`, scaled).
    udp_checksum_errors: [Scaled; 2],
    /// A fingerprint of the last packet's encapsulation (0: none), and how
    /// often it changed. The stack itself is not kept.
    encap: u64,
    encap_changes: u8,
    /// The last packet's time, when `Conn::last_off` cannot hold it.
    last: Timestamp,
    /// The high 32 bits of the connection's counters (see `Counter`),
    /// indexed `counter as usize + role`.
    carry: [u32; 6],
    tunnel_parents: Vec<Uid>,
    logged_weirds: Vec<&'static str>,
}

/// Which inactivity timeout a connection has (§4.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Inactivity {
    Initial,
    Tcp,
    Long,
}

impl Inactivity {
    fn micros(self) -> i64 {
        match self {
            Inactivity::Initial => INITIAL_INACTIVITY,
            Inactivity::Tcp => TCP_INACTIVITY,
            Inactivity::Long => LONG_INACTIVITY,
        }
    }
}

/// A connection's 64-bit counters, each kept as its low 32 bits inline
/// (`Conn::pkts`, `Conn::ip_bytes`, the UDP and ICMP payload `bytes`) and
/// the carries above them in `Extras::carry`, allocated at the first carry:
/// 4 GiB in one direction of one connection is rare, and the 16 bytes
/// saved are in every connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Counter {
    Pkts = 0,
    IpBytes = 2,
    Bytes = 4,
}

/// `Conn::last_off` of a last time kept in `Extras::last`.
const LAST_IN_EXTRAS: u32 = u32::MAX;

/// A VLAN id slot with no VLAN (ids are 12 bits).
const NO_VLAN: u16 = u16::MAX;

/// One tracked connection. Kept small: it is most of the tracker's memory
/// (docs/benchmarks.md). The endpoints are the key's, the uid and the
/// local_orig/local_resp flags are computed when needed, and what few
/// connections use lives in `extras`.
#[derive(Debug)]
struct Conn {
    key: StoredKey,
    start: Timestamp,
    /// The last packet's time as microseconds after `start`, or `LAST_IN_EXTRAS`
    /// (more than 71 minutes later, or before `start`): then in `Extras::last`.
    last_off: u32,
    /// Packets and IP bytes per role, low 32 bits (see `Counter`).
    pkts: [u32; 2],
    ip_bytes: [u32; 2],
    history: History,
    seen: Seen,
    kind: Kind,
    /// The protocol's data, by `kind`: TCP's state index in the tracker's
    /// `TcpSlab` (`[index, 0]`); UDP's and ICMP's payload bytes per role,
    /// low 32 bits (`Counter::Bytes`); nothing for other transports.
    aux: [u32; 2],
    extras: Option<Box<Extras>>,
    /// Outer and inner VLAN id of the first packet (`NO_VLAN`: none).
    vlan: [u16; 2],
    /// The originator is the key's first endpoint (`a`, `pa`).
    orig_is_a: bool,
    /// Generation of the slot: a timer entry scheduled with another one
    /// belonged to an earlier connection of the slot.
    gen: u32,
}

impl Conn {
    fn orig(&self) -> (Addr, u16) {
        self.key.endpoint(self.orig_is_a)
    }

    fn resp(&self) -> (Addr, u16) {
        self.key.endpoint(!self.orig_is_a)
    }

    /// Whether a packet of this connection whose sender is the key's first
    /// endpoint (`src_is_a`, from `ConnKey::sided`) comes from the
    /// originator: `(src, sport) == self.orig()` without rebuilding the
    /// endpoints. A sender that is not `a` is `b` and differs from `a`.
    fn sent_by_orig(&self, src_is_a: bool) -> bool {
        if src_is_a {
            self.orig_is_a || self.key.is_loop()
        } else {
            !self.orig_is_a
        }
    }

    fn uid(&self, uids: &UidGen) -> Uid {
        let incarnation = self.extras.as_ref().map_or(0, |x| x.incarnation);
        uids.uid(&self.key.get().bytes(), self.start, incarnation)
    }

    /// Analyzer-timer epoch (TCP's; the DNS session timer of a UDP
    /// connection is never cancelled).
    fn epoch(&self, tcps: &TcpSlab) -> u8 {
        match self.tcp() {
            Some(t) => tcps[t].epoch,
            None => 0,
        }
    }

    /// The transport (kept as the protocol state's kind).
    fn proto(&self) -> Proto {
        match self.kind {
            Kind::TcpInitial | Kind::TcpTcp | Kind::TcpLong => Proto::Tcp,
            Kind::Udp | Kind::UdpChecked => Proto::Udp,
            Kind::Icmp => Proto::Icmp,
            Kind::Other => Proto::UnknownTransport,
        }
    }

    /// A TCP connection's index in the tracker's `TcpSlab`.
    fn tcp(&self) -> Option<u32> {
        (self.proto() == Proto::Tcp).then_some(self.aux[0])
    }

    /// Whether `aux` holds payload byte counts (UDP, ICMP).
    fn counts_bytes(&self) -> bool {
        matches!(self.proto(), Proto::Udp | Proto::Icmp)
    }

    fn inactivity(&self) -> Inactivity {
        match self.kind {
            Kind::TcpTcp => Inactivity::Tcp,
            Kind::TcpLong => Inactivity::Long,
            _ => Inactivity::Initial,
        }
    }

    /// Only TCP connections change class (at the handshake).
    fn set_inactivity(&mut self, i: Inactivity) {
        if self.proto() == Proto::Tcp {
            self.kind = match i {
                Inactivity::Initial => Kind::TcpInitial,
                Inactivity::Tcp => Kind::TcpTcp,
                Inactivity::Long => Kind::TcpLong,
            };
        }
    }

    fn last(&self) -> Timestamp {
        if self.last_off == LAST_IN_EXTRAS {
            self.extras.as_ref().map_or(self.start, |x| x.last)
        } else {
            self.start.add_micros(i64::from(self.last_off))
        }
    }

    fn set_last(&mut self, t: Timestamp) {
        match u32::try_from(t.micros() - self.start.micros()) {
            Ok(off) if off != LAST_IN_EXTRAS => self.last_off = off,
            _ => {
                self.last_off = LAST_IN_EXTRAS;
                self.extras().last = t;
            }
        }
    }

    fn encap(&self) -> u64 {
        self.extras.as_ref().map_or(0, |x| x.encap)
    }

    fn extras(&mut self) -> &mut Extras {
        self.extras.get_or_insert_with(Default::default)
    }

    /// The inline low word of a counter, and the `Extras` holding its
    /// carries. `Counter::Bytes` of a TCP connection is not kept: a
    /// scratch word stands in.
    fn counter_parts<'a>(
        &'a mut self,
        c: Counter,
        dir: usize,
        scratch: &'a mut u32,
    ) -> (&'a mut u32, &'a mut Option<Box<Extras>>) {
        let lo = match c {
            Counter::Pkts => &mut self.pkts[dir],
            Counter::IpBytes => &mut self.ip_bytes[dir],
            Counter::Bytes if self.counts_bytes() => &mut self.aux[dir],
            Counter::Bytes => scratch,
        };
        (lo, &mut self.extras)
    }

    fn add(&mut self, c: Counter, dir: usize, v: u32) {
        let mut scratch = 0;
        let (lo, extras) = self.counter_parts(c, dir, &mut scratch);
        let (sum, carry) = lo.overflowing_add(v);
        *lo = sum;
        if carry {
            extras.get_or_insert_with(Default::default).carry[c as usize + dir] += 1;
        }
    }

    /// Takes back what `add` counted (never more).
    fn sub(&mut self, c: Counter, dir: usize, v: u32) {
        let mut scratch = 0;
        let (lo, extras) = self.counter_parts(c, dir, &mut scratch);
        let (diff, borrow) = lo.overflowing_sub(v);
        *lo = diff;
        if borrow {
            if let Some(x) = extras {
                x.carry[c as usize + dir] -= 1;
            }
        }
    }

    fn get(&self, c: Counter, dir: usize) -> u64 {
        let lo = match c {
            Counter::Pkts => self.pkts[dir],
            Counter::IpBytes => self.ip_bytes[dir],
            Counter::Bytes if self.counts_bytes() => self.aux[dir],
            Counter::Bytes => 0,
        };
        let hi = self
            .extras
            .as_ref()
            .map_or(0, |x| x.carry[c as usize + dir]);
        (hi as u64) << 32 | lo as u64
    }

    /// Swaps the roles: the endpoints and everything counted per role.
    fn flip(&mut self) {
        self.orig_is_a = !self.orig_is_a;
        self.pkts.swap(0, 1);
        self.ip_bytes.swap(0, 1);
        if let Some(x) = &mut self.extras {
            x.l2.swap(0, 1);
            for pair in x.carry.chunks_exact_mut(2) {
                pair.swap(0, 1);
            }
        }
        if self.counts_bytes() {
            self.aux.swap(0, 1);
        }
    }

    fn count(&mut self, dir: usize, ip_len: u32) {
        self.add(Counter::Pkts, dir, 1);
        self.add(Counter::IpBytes, dir, ip_len);
    }

    fn record(&self, tcps: &TcpSlab, uids: &UidGen, local: &LocalNets) -> ConnRecord {
        let (orig_bytes, resp_bytes, conn_state, missed) = match self.proto() {
            Proto::Tcp => {
                let t = &tcps[self.aux[0]];
                let (o, r) = t.sizes();
                (
                    o,
                    r,
                    tcp_conn_state(t, self.history.as_str()),
                    t.missed_bytes(),
                )
            }
            Proto::Udp => {
                let bytes = [self.get(Counter::Bytes, 0), self.get(Counter::Bytes, 1)];
                let pkts = [self.get(Counter::Pkts, 0), self.get(Counter::Pkts, 1)];
                let state = match (pkts[0] > 0 || bytes[0] > 0, pkts[1] > 0 || bytes[1] > 0) {
                    (true, true) => ConnState::SF,
                    (true, false) => ConnState::S0,
                    (false, true) => ConnState::SHR,
                    (false, false) => ConnState::OTH,
                };
                (bytes[0], bytes[1], state, 0)
            }
            Proto::Icmp => (
                self.get(Counter::Bytes, 0),
                self.get(Counter::Bytes, 1),
                ConnState::OTH,
                0,
            ),
            Proto::UnknownTransport => (0, 0, ConnState::OTH, 0),
        };
        let (orig, resp) = (self.orig(), self.resp());
        let (local_orig, local_resp) = if local.is_empty() {
            (None, None)
        } else {
            (Some(local.contains(orig.0)), Some(local.contains(resp.0)))
        };
        let extras = self.extras.as_deref();
        let vlan = |v: u16| (v != NO_VLAN).then_some(v);
        ConnRecord {
            ts: self.start,
            last_ts: self.last(),
            uid: self.uid(uids),
            orig_h: orig.0,
            orig_p: orig.1,
            resp_h: resp.0,
            resp_p: resp.1,
            proto: self.proto(),
            service: None,
            orig_bytes,
            resp_bytes,
            conn_state,
            local_orig,
            local_resp,
            missed_bytes: missed,
            history: self.history.as_str().into(),
            orig_pkts: self.get(Counter::Pkts, 0),
            orig_ip_bytes: self.get(Counter::IpBytes, 0),
            resp_pkts: self.get(Counter::Pkts, 1),
            resp_ip_bytes: self.get(Counter::IpBytes, 1),
            tunnel_parents: extras.map_or(Vec::new(), |x| x.tunnel_parents.clone()),
            // The key's protocol is the packet's IP protocol number.
            ip_proto: self.key.proto(),
            orig_l2_addr: extras.and_then(|x| x.l2[0]),
            resp_l2_addr: extras.and_then(|x| x.l2[1]),
            vlan: vlan(self.vlan[0]),
            inner_vlan: vlan(self.vlan[1]),
            order: RemovalOrder::default(),
        }
    }
}

/// conn_state of a TCP connection from its endpoint states (§4.4).
fn tcp_conn_state(t: &TcpConn, history: &str) -> ConnState {
    use TcpState::*;
    let (os, rs) = t.states();
    let (osz, rsz) = t.sizes();
    if rs == Reset {
        if matches!(os, SynSent | SynAckSent) || (os == Reset && osz == 0 && rsz == 0) {
            ConnState::REJ
        } else if os.is_inactive() {
            ConnState::RSTRH
        } else {
            ConnState::RSTR
        }
    } else if os == Reset {
        if rs.is_inactive() {
            if rstos0_pattern(history) {
                ConnState::RSTOS0
            } else {
                ConnState::OTH
            }
        } else {
            ConnState::RSTO
        }
    } else if os == Closed && rs == Closed {
        ConnState::SF
    } else if os == Closed {
        if rs.is_inactive() {
            ConnState::SH
        } else {
            ConnState::S2
        }
    } else if rs == Closed {
        if os.is_inactive() {
            ConnState::SHR
        } else {
            ConnState::S3
        }
    } else if os == SynSent && rs == Inactive {
        ConnState::S0
    } else if os == Established && rs == Established {
        ConnState::S1
    } else {
        ConnState::OTH
    }
}

/// The anchored history pattern `^?S[^HAFGIQ]*R.*` of RSTOS0.
fn rstos0_pattern(h: &str) -> bool {
    let b = h.strip_prefix('^').unwrap_or(h).as_bytes();
    if b.first() != Some(&b'S') {
        return false;
    }
    for &c in &b[1..] {
        if c == b'R' {
            return true;
        }
        if b"HAFGIQ".contains(&c) {
            return false;
        }
    }
    false
}

/// Ports and key canonicalisation of an ICMP message (§3.3).
fn icmp_ports(m: &IcmpMeta) -> (u16, u16, bool) {
    let t = m.icmp_type;
    let counterpart = if m.v6 {
        match t {
            128 => Some(129),
            129 => Some(128),
            133 => Some(134),
            134 => Some(133),
            135 => Some(136),
            136 => Some(135),
            130 => Some(131),
            131 => Some(130),
            139 => Some(140),
            140 => Some(139),
            144 => Some(145),
            145 => Some(144),
            _ => None,
        }
    } else {
        match t {
            8 => Some(0),
            0 => Some(8),
            13 => Some(14),
            14 => Some(13),
            15 => Some(16),
            16 => Some(15),
            10 => Some(9),
            9 => Some(10),
            17 => Some(18),
            18 => Some(17),
            _ => None,
        }
    };
    match counterpart {
        Some(c) => (t as u16, c, true),
        None => (t as u16, m.code as u16, false),
    }
}

/// The connection table of one shard, with its timers.
pub struct Tracker {
    cfg: TrackConfig,
    uids: UidGen,
    /// Slot numbers of the live connections, found by key (the key itself
    /// is kept once, in the connection).
    table: HashTable<u32>,
    conns: Vec<Option<Conn>>,
    tcps: TcpSlab,
    /// Free slots, with the generation their next connection takes.
    free: Vec<(u32, u32)>,
    timers: TimerQueue,
    /// TIME_WAIT tombstones of the strict model, and their expiry order.
    tombstones: HashMap<ConnKey, Tombstone>,
    tomb_expiry: std::collections::BinaryHeap<std::cmp::Reverse<(Timestamp, ConnKey)>>,
    /// Tunnel uids for `process` (the single-reader path).
    tunnels: TunnelUids,
    /// Tunnel parent of the packet being handled.
    parent: Option<Uid>,
    /// Phase and cause time of the removals being made (see `RemovalOrder`).
    removal: (u8, Timestamp),
    /// Where the next eviction scan starts.
    evict_cursor: usize,
    /// The removal being made is a timer's (not a reuse or an eviction).
    removal_by_timer: bool,
    /// Connections created per key in the microsecond `uid_ts`.
    uid_ts: Option<Timestamp>,
    uid_counts: HashMap<ConnKey, u64>,
    now: Timestamp,
    started: bool,
    pub weirds: Weirds,
    /// weird.log rows waiting to be written (only with `weird_log`).
    pub weird_records: Vec<WeirdRecord>,
    pub stats: TrackStats,
}

impl Tracker {
    pub fn new(cfg: TrackConfig) -> Self {
        let uids = UidGen::new(cfg.uid_seed);
        let tunnels = TunnelUids::new(cfg.uid_seed);
        Tracker {
            cfg,
            uids,
            table: HashTable::new(),
            conns: Vec::new(),
            tcps: TcpSlab::default(),
            free: Vec::new(),
            timers: TimerQueue::default(),
            tunnels,
            tombstones: HashMap::new(),
            tomb_expiry: std::collections::BinaryHeap::new(),
            parent: None,
            removal: (0, Timestamp::ZERO),
            evict_cursor: 0,
            removal_by_timer: false,
            uid_ts: None,
            uid_counts: HashMap::new(),
            now: Timestamp::ZERO,
            started: false,
            weirds: Weirds::default(),
            weird_records: Vec::new(),
            stats: TrackStats::default(),
        }
    }

    /// Slot of the live connection with this key.
    fn find(&self, key: &ConnKey) -> Option<u32> {
        let conns = &self.conns;
        self.table
            .find(key.table_hash(), |&i| {
                conns[i as usize]
                    .as_ref()
                    .is_some_and(|c| c.key.matches(key))
            })
            .copied()
    }

    /// Connections currently tracked.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Due time of the earliest pending timer (possibly a cancelled one).
    pub fn next_due(&self) -> Option<Timestamp> {
        self.timers.peek_due()
    }

    /// Pending timer entries (cancelled ones included until they come due).
    pub fn pending_timers(&self) -> usize {
        self.timers.len()
    }

    /// Advances network time to `ts` (never backwards) and fires every
    /// timer due by then.
    pub fn advance(&mut self, ts: Timestamp, out: &mut impl FnMut(ConnRecord)) {
        if !self.started || ts > self.now {
            self.now = ts;
            self.started = true;
        }
        // Zeek dispatches at most `max_timer_expires` (300) timers per
        // packet; we fire every due timer. The limit only shows in traces
        // with hundreds of simultaneous expirations, and honouring it would
        // make the output depend on how connections are spread over shards.
        while let Some(e) = self.timers.pop_due(self.now) {
            self.fire(e, out);
        }
        if !self.tomb_expiry.is_empty() {
            self.expire_tombstones();
        }
    }

    /// Handles one decoded packet and says where it was counted.
    pub fn process(&mut self, m: &PacketMeta, out: &mut impl FnMut(ConnRecord)) -> Disposition {
        let parent = self.tunnels.observe(m);
        self.process_resolved(m, parent, out)
    }

    /// Handles a packet whose tunnel parent was resolved by a
    /// [`TunnelUids`] that saw every packet before it (the sharded reader).
    pub fn process_resolved(
        &mut self,
        m: &PacketMeta,
        parent: Option<Uid>,
        out: &mut impl FnMut(ConnRecord),
    ) -> Disposition {
        self.advance(m.ts, out);
        // Only the counters a packet can end in are compared, not the whole
        // statistics block, on every packet.
        let s = &self.stats;
        let before = (
            s.counted,
            s.dropped_bad_checksum,
            s.dropped_bad_header,
            s.absorbed_time_wait,
        );
        self.parent = parent;
        let idx = self.dispatch(m, out);
        if let Some(idx) = idx {
            self.check_encapsulation(idx, m, parent);
        }
        if !self.weirds.pending.is_empty() {
            self.log_weirds(idx, m.ts);
        }
        let s = &self.stats;
        if s.counted > before.0 {
            Disposition::Counted
        } else if s.dropped_bad_checksum > before.1 {
            Disposition::Dropped("bad_checksum")
        } else if s.dropped_bad_header > before.2 {
            Disposition::Dropped("bad_tcp_header")
        } else if s.absorbed_time_wait > before.3 {
            Disposition::Dropped("time_wait_absorbed")
        } else {
            Disposition::Dropped("icmp_incomplete")
        }
    }

    /// Attaches the weirds raised by the current packet to its connection
    /// and queues them for weird.log: the first of each name per connection.
    fn log_weirds(&mut self, idx: Option<u32>, ts: Timestamp) {
        let pending = std::mem::take(&mut self.weirds.pending);
        if self.cfg.weird_log {
            let conn = idx.and_then(|i| self.conns[i as usize].as_mut());
            match conn {
                Some(c) => {
                    let uid = c.uid(&self.uids);
                    let (orig, resp) = (c.orig(), c.resp());
                    for &name in &pending {
                        let logged = &mut c.extras().logged_weirds;
                        if logged.contains(&name) {
                            continue;
                        }
                        logged.push(name);
                        self.weird_records.push(WeirdRecord {
                            ts,
                            uid: Some(uid),
                            id: Some((orig.0, orig.1, resp.0, resp.1)),
                            name: name.to_string(),
                            addl: None,
                            notice: false,
                            peer: "quartet".to_string(),
                            source: None,
                        });
                    }
                }
                None => {
                    for &name in &pending {
                        self.weird_records.push(WeirdRecord {
                            ts,
                            uid: None,
                            id: None,
                            name: name.to_string(),
                            addl: None,
                            notice: false,
                            peer: "quartet".to_string(),
                            source: None,
                        });
                    }
                }
            }
        }
        let mut pending = pending;
        pending.clear();
        self.weirds.pending = pending;
    }

    /// Runs the packet through its protocol machine; returns the slot of
    /// the connection it belongs to.
    fn dispatch(&mut self, m: &PacketMeta, out: &mut impl FnMut(ConnRecord)) -> Option<u32> {
        match &m.transport {
            Transport::Tcp(t) => self.tcp_packet(m, t, out),
            Transport::Udp(u) => {
                let (key, src_is_a) = ConnKey::sided(m.src, u.sport, m.dst, u.dport, 17, true);
                let idx = match self.find(&key) {
                    Some(i) => i,
                    None => {
                        let lsp = &self.cfg.likely_server_ports;
                        let flip = lsp.is_likely(17, u.sport)
                            && !lsp.is_likely(17, u.dport)
                            && !is_broadcast(m.dst);
                        self.create(m, key, (u.sport, u.dport), Proto::Udp, flip, out)
                    }
                };
                let conn = self.conns[idx as usize]
                    .as_mut()
                    .expect("table points at a live slot");
                let dir = if conn.sent_by_orig(src_is_a) { 0 } else { 1 };
                let resp_port = conn.resp().1;
                if u.checksum == Checksum::Bad {
                    self.weirds.add("bad_UDP_checksum");
                    self.stats.dropped_bad_checksum += 1;
                    if conn.extras().udp_checksum_errors[dir].event() {
                        conn.history.add(b'C', dir == 0);
                    }
                    return Some(idx);
                }
                conn.set_last(m.ts);
                conn.history
                    .check(&mut conn.seen, Letter::Data, b'D', dir == 0);
                conn.add(Counter::Bytes, dir, (u.udp_len as u32).saturating_sub(8));
                let app_flip = conn.kind != Kind::UdpChecked
                    && app_direction_flip(&self.cfg.likely_server_ports, resp_port, dir, u, m.dst);
                if u.payload_len > 0 {
                    conn.kind = Kind::UdpChecked;
                }
                conn.count(dir, m.ip_len);
                self.stats.counted += 1;
                if app_flip {
                    // The DNS and NTP analyzers flip roles after the packet was
                    // booked: counters and byte sums stay where they are
                    // (btest ntp.misordered-ntp logs `D^`, 2 orig packets).
                    conn.orig_is_a = !conn.orig_is_a;
                    if let Some(x) = &mut conn.extras {
                        x.l2.swap(0, 1);
                    }
                    conn.history.mark('^');
                }
                Some(idx)
            }
            Transport::Icmp(i) => {
                let (sport, dport, canonical) = icmp_ports(i);
                let (key, src_is_a) = ConnKey::sided(
                    m.src,
                    sport,
                    m.dst,
                    dport,
                    if i.v6 { 58 } else { 1 },
                    canonical,
                );
                let idx = match self.find(&key) {
                    Some(i) => i,
                    None => self.create(m, key, (sport, dport), Proto::Icmp, false, out),
                };
                let conn = self.conns[idx as usize]
                    .as_mut()
                    .expect("table points at a live slot");
                let dir = if conn.sent_by_orig(src_is_a) { 0 } else { 1 };
                if i.checksum == Checksum::Bad {
                    self.weirds.add("bad_ICMP_checksum");
                    self.stats.dropped_bad_checksum += 1;
                    return Some(idx);
                }
                conn.set_last(m.ts);
                conn.add(Counter::Bytes, dir, i.len.saturating_sub(8));
                if i.complete {
                    conn.count(dir, m.ip_len);
                    self.stats.counted += 1;
                } else {
                    self.stats.icmp_incomplete += 1;
                }
                Some(idx)
            }
            Transport::Other => {
                let (key, src_is_a) = ConnKey::sided(m.src, 0, m.dst, 0, m.ip_proto, true);
                let idx = match self.find(&key) {
                    Some(i) => i,
                    None => self.create(m, key, (0, 0), Proto::UnknownTransport, false, out),
                };
                let conn = self.conns[idx as usize]
                    .as_mut()
                    .expect("table points at a live slot");
                let dir = if conn.sent_by_orig(src_is_a) { 0 } else { 1 };
                conn.set_last(m.ts);
                conn.count(dir, m.ip_len);
                self.stats.counted += 1;
                Some(idx)
            }
        }
    }

    fn tcp_packet(
        &mut self,
        m: &PacketMeta,
        t: &quartet_decode::TcpMeta,
        out: &mut impl FnMut(ConnRecord),
    ) -> Option<u32> {
        use quartet_decode::tcp_flags as F;
        let (key, src_is_a) = ConnKey::sided(m.src, t.sport, m.dst, t.dport, 6, true);
        let strict = self.cfg.tcp_model == TcpModel::Strict;
        let mut found = self.find(&key);
        if let Some(idx) = found {
            let conn = self.conns[idx as usize]
                .as_ref()
                .expect("table points at a live slot");
            let Some(ti) = conn.tcp() else {
                unreachable!("tcp key maps to a tcp connection")
            };
            let tc = &self.tcps[ti];
            let is_orig = conn.sent_by_orig(src_is_a);
            let decision = if strict {
                tc.strict_reuse(t, is_orig)
            } else {
                tc.is_reuse(t, m.ts, conn.last())
            };
            // A new SYN while the old connection, closed by a FIN exchange,
            // is still within 2MSL: the TIME_WAIT holder let it in (both
            // models note it).
            let assassination = matches!(decision, Reuse::Yes(_))
                && t.has(F::SYN)
                && !t.has(F::ACK)
                && tc.time_wait_seqs().is_some()
                && m.ts.micros() - conn.last().micros() < 2 * STRICT_MSL;
            match decision {
                Reuse::Yes(weird) => {
                    if let Some(w) = weird {
                        self.weirds.add(w);
                    }
                    if assassination {
                        self.weirds.add("TIME_WAIT_assassinated");
                        self.stats.time_wait_reopened += 1;
                    }
                    self.removal = (0, self.now);
                    self.remove(idx, out);
                    found = None;
                }
                Reuse::Stray => {
                    // An unanswered SYN inside an established connection:
                    // counted there, remembered, not run through the machine.
                    self.weirds.add("SYN_inside_connection");
                    let conn = self.conns[idx as usize].as_mut().expect("live slot");
                    let dir = if is_orig { 0 } else { 1 };
                    conn.count(dir, m.ip_len);
                    if let Some(ti) = conn.tcp() {
                        self.tcps[ti].set_pending_syn(*m, dir);
                    }
                    self.stats.counted += 1;
                    return Some(idx);
                }
                Reuse::Answered => {
                    // The responder answered the stray SYN: the old
                    // connection ends where that SYN was, a new one starts
                    // with it.
                    let conn = self.conns[idx as usize].as_mut().expect("live slot");
                    let pending = conn.tcp().and_then(|ti| self.tcps[ti].take_pending_syn());
                    if let Some(p) = pending {
                        let (syn, dir) = *p;
                        conn.sub(Counter::Pkts, dir, 1);
                        conn.sub(Counter::IpBytes, dir, syn.ip_len);
                        self.stats.counted -= 1;
                        self.weirds.add("stray_SYN_answered");
                        self.removal = (0, self.now);
                        self.remove(idx, out);
                        let Transport::Tcp(st) = &syn.transport else {
                            unreachable!("pending SYN is TCP")
                        };
                        self.tcp_packet(&syn, st, out);
                        return self.tcp_packet(m, t, out);
                    }
                }
                Reuse::No => {}
            }
        } else if strict {
            if let Some(tomb) = self.live_tombstone(&key) {
                // The host holding TIME_WAIT drops a segment that fails its
                // checks, as anywhere else: it reopens, ends or refuses
                // nothing (and is not kept for a replay).
                if drop_corrupt(t, &mut self.weirds, &mut self.stats) != Corrupt::No {
                    return None;
                }
                let syn = t.has(F::SYN) && !t.has(F::ACK);
                let sender = if (m.src, t.sport) == tomb.orig { 0 } else { 1 };
                if let Some(refused) = &tomb.refused_syn {
                    let answers = matches!(&refused.transport, Transport::Tcp(r)
                        if t.has(F::SYN) && t.has(F::ACK) && t.ack == r.seq.wrapping_add(1)
                            && (m.src, t.sport) != (refused.src, r.sport));
                    if answers {
                        // The peer accepted the refused SYN: the connection
                        // opens with it (moved from the absorbed count).
                        // It was booked as absorbed when it came; it
                        // builds the connection's state but is not counted
                        // a second time.
                        let syn_meta = **refused;
                        self.tombstones.remove(&key);
                        self.stats.stale_peer_syns -= 1;
                        self.stats.time_wait_reopened += 1;
                        self.weirds.add("TIME_WAIT_assassinated");
                        if let Transport::Tcp(st) = &syn_meta.transport {
                            let before = self.stats.counted;
                            let idx = self.tcp_packet(&syn_meta, st, out);
                            // The replay counts it (a corrupt SYN is never kept
                            // for one); uncount it.
                            debug_assert!(self.stats.counted > before);
                            if self.stats.counted > before {
                                if let Some(c) = idx.and_then(|i| self.conns[i as usize].as_mut()) {
                                    let dir = if (syn_meta.src, st.sport) == c.orig() {
                                        0
                                    } else {
                                        1
                                    };
                                    c.sub(Counter::Pkts, dir, 1);
                                    c.sub(Counter::IpBytes, dir, syn_meta.ip_len);
                                    self.stats.counted -= 1;
                                }
                            }
                        }
                        return self.tcp_packet(m, t, out);
                    }
                }
                // RFC 1122 4.2.2.13: a SYN may reopen a connection in
                // TIME_WAIT only with an ISN beyond the old incarnation.
                let reopens = syn && (t.seq.wrapping_sub(tomb.final_seq[sender]) as i32) > 0;
                if reopens {
                    self.tombstones.remove(&key);
                    self.stats.time_wait_reopened += 1;
                    self.weirds.add("TIME_WAIT_assassinated");
                } else {
                    if syn {
                        self.stats.stale_peer_syns += 1;
                        self.weirds.add("SYN_refused_by_TIME_WAIT");
                        if let Some(tb) = self.tombstones.get_mut(&key) {
                            tb.refused_syn = Some(Box::new(*m));
                        }
                    }
                    if t.has(F::RST) {
                        // A RST ends TIME_WAIT (Linux's default, RFC 1337
                        // protection off).
                        self.tombstones.remove(&key);
                    }
                    self.stats.absorbed_time_wait += 1;
                    return None;
                }
            }
        }
        let idx = match found {
            Some(i) => i,
            None => {
                let flip = self.tcp_creation_flip(m, t);
                self.create(m, key, (t.sport, t.dport), Proto::Tcp, flip, out)
            }
        };
        Some(self.tcp_segment(idx, m, t, src_is_a))
    }

    /// Runs a TCP segment through its connection's machine. Inlined into
    /// `tcp_packet`, with the machine, for the same reason as
    /// `TcpConn::process`.
    #[inline(always)]
    fn tcp_segment(
        &mut self,
        idx: u32,
        m: &PacketMeta,
        t: &quartet_decode::TcpMeta,
        src_is_a: bool,
    ) -> u32 {
        let slot = idx as usize;
        let conn = self.conns[slot]
            .as_mut()
            .expect("table points at a live slot");
        let gen = conn.gen;
        let is_orig = conn.sent_by_orig(src_is_a);
        let Some(ti) = conn.tcp() else {
            unreachable!("tcp key maps to a tcp connection")
        };
        let tc = &mut self.tcps[ti];
        match drop_corrupt(t, &mut self.weirds, &mut self.stats) {
            Corrupt::No => {}
            Corrupt::Header => return idx,
            Corrupt::Checksum => {
                tc.checksum_error(is_orig, &mut conn.history);
                return idx;
            }
        }
        let mut last = conn.last();
        let mut ctx = TcpCtx {
            now: m.ts,
            history: &mut conn.history,
            seen: &mut conn.seen,
            last_time: &mut last,
            timers: &mut self.timers,
            slot: idx,
            gen,
            weirds: &mut self.weirds,
            flips: 0,
            switch_timeout: false,
            established: false,
            strict: self.cfg.tcp_model == TcpModel::Strict,
            rst_ignored: false,
            stale_delay: None,
        };
        tc.process(is_orig, t, &mut ctx);
        if ctx.rst_ignored {
            self.stats.rst_outside_window += 1;
        }
        if let Some(d) = ctx.stale_delay {
            self.stats.stale_peer_setups += 1;
            self.stats.stale_setup_delay_us += d.max(0) as u64;
        }
        let (flips, switch, established) = (ctx.flips, ctx.switch_timeout, ctx.established);
        conn.set_last(last);
        if flips % 2 == 1 {
            conn.flip();
        }
        if switch && conn.inactivity() == Inactivity::Initial {
            conn.set_inactivity(Inactivity::Tcp);
        }
        if established && matches!(conn.resp().1, 21 | 22 | 23 | 513) {
            conn.set_inactivity(Inactivity::Long);
        }
        // A flip inside the packet (`H` -> `^h`, SYN/SYN-ACK reversal) moves
        // the sender to the other role; the packet counts for its new role
        // (core.local-flip).
        let sender_is_orig = is_orig != (flips % 2 == 1);
        conn.count(if sender_is_orig { 0 } else { 1 }, m.ip_len);
        self.stats.counted += 1;
        self.compact_timers();
        idx
    }

    /// Drops cancelled timer entries when enough accumulated (see
    /// `TimerQueue::compact_if_grown`).
    #[inline]
    fn compact_timers(&mut self) {
        let (conns, tcps) = (&self.conns, &self.tcps);
        self.timers.compact_if_grown(|e| timer_live(conns, tcps, e));
    }

    /// A packet arrived with a different encapsulation than the previous
    /// one: its innermost parent joins `tunnel_parents`, up to
    /// `Tunnel::max_changes_per_connection` changes (then `X`).
    fn check_encapsulation(&mut self, idx: u32, m: &PacketMeta, parent: Option<Uid>) {
        let Some(conn) = self.conns[idx as usize].as_ref() else {
            return;
        };
        let fp = encap_fingerprint(&m.encap);
        if conn.encap() == fp {
            return;
        }
        let conn = self.conns[idx as usize].as_mut().expect("checked above");
        let seen_x = conn.history.contains(b'X');
        let x = conn.extras();
        // Every change counts, to or from no encapsulation as well
        // (btest tunnels.count-default-tunnel-changes logs `DX`).
        if x.encap_changes >= MAX_TUNNEL_CHANGES {
            self.weirds
                .add("tunnel_max_changes_per_connection_exceeded");
            x.encap = fp;
            if !seen_x {
                conn.history.mark('X');
            }
            return;
        }
        x.encap_changes += 1;
        if let Some(p) = parent {
            if !x.tunnel_parents.contains(&p) {
                x.tunnel_parents.push(p);
            }
        }
        x.encap = fp;
    }

    /// Creation-time flip for TCP (§3.4).
    fn tcp_creation_flip(&self, m: &PacketMeta, t: &quartet_decode::TcpMeta) -> bool {
        use quartet_decode::tcp_flags as F;
        let plain_syn = t.has(F::SYN) && !t.has(F::ACK);
        if plain_syn || is_broadcast(m.dst) {
            return false;
        }
        let lsp = &self.cfg.likely_server_ports;
        if !lsp.is_likely(6, t.sport) {
            return false;
        }
        if lsp.is_likely(6, t.dport) {
            return !t.has(F::SYN) && t.sport < t.dport;
        }
        true
    }

    fn create(
        &mut self,
        m: &PacketMeta,
        key: ConnKey,
        ports: (u16, u16),
        proto: Proto,
        flip: bool,
        out: &mut impl FnMut(ConnRecord),
    ) -> u32 {
        if self.cfg.max_conns > 0 && self.table.len() >= self.cfg.max_conns {
            self.evict_one(out);
        }
        // The uid hashes (seed, key, first-packet time, n). n is 0 for the
        // first connection of a key created at network time = packet time,
        // so tunnel parents can be derived (`TunnelUids`); a further one in
        // the same microsecond of network time (reuse, eviction, a timer),
        // or one created by a packet older than network time, takes a value
        // made of network time and a per-microsecond count, which no other
        // connection of the key can have. All of a key's packets are on one
        // shard, and network time is the same in every shard layout.
        if self.uid_ts != Some(self.now) {
            self.uid_ts = Some(self.now);
            self.uid_counts.clear();
        }
        let count = {
            let n = self.uid_counts.entry(key).or_insert(0);
            *n += 1;
            *n - 1
        };
        let incarnation = if count == 0 && m.ts == self.now {
            0
        } else {
            ((self.now.micros() as u64) << 16 | (count & 0xffff)) + 1
        };
        let fp = encap_fingerprint(&m.encap);
        let l2 = self.cfg.l2_addrs && (m.l2.src.is_some() || m.l2.dst.is_some());
        let extras = (l2 || fp != 0 || self.parent.is_some() || incarnation != 0).then(|| {
            Box::new(Extras {
                l2: if l2 { [m.l2.src, m.l2.dst] } else { [None; 2] },
                incarnation,
                encap: fp,
                tunnel_parents: self.parent.into_iter().collect(),
                ..Extras::default()
            })
        });
        let orig_is_a = (m.src, ports.0) == (key.a, key.pa);
        let mut conn = Conn {
            key: StoredKey::new(&key),
            start: m.ts,
            last_off: 0,
            pkts: [0; 2],
            ip_bytes: [0; 2],
            history: History::default(),
            seen: Seen::default(),
            kind: match proto {
                Proto::Tcp => Kind::TcpInitial,
                Proto::Udp => Kind::Udp,
                Proto::Icmp => Kind::Icmp,
                Proto::UnknownTransport => Kind::Other,
            },
            aux: match proto {
                Proto::Tcp => [self.tcps.insert(TcpConn::new()), 0],
                _ => [0; 2],
            },
            extras,
            vlan: [
                m.l2.vlan.unwrap_or(NO_VLAN),
                m.l2.inner_vlan.unwrap_or(NO_VLAN),
            ],
            orig_is_a,
            gen: 0,
        };
        if flip {
            conn.flip();
            conn.history.mark('^');
        }
        let (idx, gen) = match self.free.pop() {
            Some((i, gen)) => {
                conn.gen = gen;
                self.conns[i as usize] = Some(conn);
                (i, gen)
            }
            None => {
                self.conns.push(Some(conn));
                ((self.conns.len() - 1) as u32, 0)
            }
        };
        let conns = &self.conns;
        self.table.insert_unique(key.table_hash(), idx, |&i| {
            conns[i as usize]
                .as_ref()
                .map_or(0, |c| c.key.get().table_hash())
        });
        self.stats.conns_created += 1;
        self.timers.schedule(
            m.ts.add_micros(INITIAL_INACTIVITY),
            idx,
            gen,
            TimerKind::Inactivity,
            0,
        );
        if proto == Proto::Tcp {
            self.timers.schedule(
                self.now.add_micros(tcp::FIVE_SECONDS),
                idx,
                gen,
                TimerKind::Expire,
                0,
            );
        }
        if proto == Proto::Udp {
            // Zeek's DNS analyzer ends a UDP DNS session after
            // `dns_session_timeout` (10 s) without packets, checked every
            // 10 s from creation (btest tunnels.teredo: one DNS flow with a
            // 16 s pause is two rows). The analyzer is there when the DNS
            // scripts were loaded; they make 53/udp, 53/tcp and 5353/udp
            // likely server ports together (a run that adds 53/udp alone,
            // like btest spicy.terminate-session, has no DNS analyzer).
            let resp_port = self.conns[idx as usize].as_ref().map_or(0, |c| c.resp().1);
            if matches!(resp_port, 53 | 5353 | 5355)
                && dns_analyzer_loaded(&self.cfg.likely_server_ports)
            {
                self.timers.schedule(
                    self.now.add_micros(DNS_SESSION_TIMEOUT),
                    idx,
                    gen,
                    TimerKind::DnsExpire,
                    0,
                );
            }
        }
        self.compact_timers();
        idx
    }

    fn remove(&mut self, idx: u32, out: &mut impl FnMut(ConnRecord)) {
        let Some(conn) = self.conns[idx as usize].take() else {
            return;
        };
        let key = conn.key.get();
        if let Ok(entry) = self.table.find_entry(key.table_hash(), |&i| i == idx) {
            entry.remove();
        }
        // The end-of-input flush empties the table: nothing reuses a slot
        // then, and lists of millions of freed slots would only raise the
        // peak.
        let flushing = self.removal.0 == 2;
        if !flushing {
            self.free.push((idx, conn.gen.wrapping_add(1)));
            // Its pending entries are dead now (the inactivity one at
            // least, unless that is the timer removing it).
            self.timers.note_dead();
        }
        self.stats.conns_removed += 1;
        // Only a connection that ran its course leaves a tombstone: one
        // removed because a new SYN reopened its 4-tuple does not.
        if self.cfg.tcp_model == TcpModel::Strict && self.removal.0 == 0 && self.removal_by_timer {
            self.leave_tombstone(&conn);
        }
        let mut r = conn.record(&self.tcps, &self.uids, &self.cfg.local_nets);
        if let Some(ti) = conn.tcp() {
            if flushing {
                self.tcps.reset(ti);
            } else {
                self.tcps.release(ti);
            }
        }
        r.order = RemovalOrder {
            phase: self.removal.0,
            at: self.now,
            due: self.removal.1,
            key: key.bytes(),
        };
        out(r);
    }

    /// Makes room for one connection when `max_conns` is reached, in the
    /// order Linux conntrack drops entries: an unanswered attempt first
    /// (a TCP SYN or SYN-ACK never answered, a UDP flow never answered),
    /// else the least recently seen. Looks at up to 64 slots from a rotating
    /// cursor, so eviction costs a bounded amount of work; the evicted
    /// connection is written with its history so far.
    fn evict_one(&mut self, out: &mut impl FnMut(ConnRecord)) {
        let n = self.conns.len();
        if n == 0 {
            return;
        }
        let mut best: Option<(bool, Timestamp, u32)> = None;
        for step in 0..n.min(64) {
            let i = (self.evict_cursor + step) % n;
            let Some(c) = self.conns[i].as_ref() else {
                continue;
            };
            let unanswered = match c.tcp() {
                Some(t) => {
                    let (o, r) = self.tcps[t].states();
                    matches!(o, TcpState::SynSent | TcpState::SynAckSent) && r == TcpState::Inactive
                }
                _ => c.get(Counter::Pkts, 1) == 0,
            };
            let cand = (!unanswered, c.last(), i as u32);
            if best.is_none_or(|b| cand < b) {
                best = Some(cand);
            }
        }
        self.evict_cursor = (self.evict_cursor + 64) % n;
        if let Some((_, _, idx)) = best {
            self.stats.evicted += 1;
            self.removal = (0, self.now);
            self.remove(idx, out);
        }
    }

    /// Strict model: a connection closed by a FIN exchange leaves a
    /// tombstone until 2MSL after its last packet, as the host that closed
    /// first keeps TIME_WAIT that long. A connection ended by a RST leaves
    /// none: no host keeps state for it.
    fn leave_tombstone(&mut self, conn: &Conn) {
        let Some(ti) = conn.tcp() else {
            return;
        };
        let tc = &self.tcps[ti];
        let Some(final_seq) = tc.time_wait_seqs() else {
            return;
        };
        let expires = conn.last().add_micros(2 * STRICT_MSL);
        if expires <= self.now {
            return;
        }
        let key = conn.key.get();
        self.tombstones.insert(
            key,
            Tombstone {
                expires,
                orig: conn.orig(),
                final_seq,
                refused_syn: None,
            },
        );
        self.tomb_expiry.push(std::cmp::Reverse((expires, key)));
    }

    fn live_tombstone(&mut self, key: &ConnKey) -> Option<Tombstone> {
        let t = self.tombstones.get(key)?;
        if t.expires <= self.now {
            self.tombstones.remove(key);
            return None;
        }
        Some(t.clone())
    }

    fn expire_tombstones(&mut self) {
        while let Some(std::cmp::Reverse((at, key))) = self.tomb_expiry.peek().copied() {
            if at > self.now {
                break;
            }
            self.tomb_expiry.pop();
            if self
                .tombstones
                .get(&key)
                .is_some_and(|t| t.expires <= self.now)
            {
                self.tombstones.remove(&key);
            }
        }
    }

    /// Runs a due timer; false when it had been cancelled (its connection
    /// is gone or its analyzer timers were cancelled).
    fn fire(&mut self, e: Entry, out: &mut impl FnMut(ConnRecord)) -> bool {
        if !timer_live(&self.conns, &self.tcps, &e) {
            return false;
        }
        let now = self.now;
        self.removal = (self.removal.0, e.due);
        self.removal_by_timer = true;
        let fired = self.fire_kind(e, now, out);
        self.removal_by_timer = false;
        fired
    }

    fn fire_kind(&mut self, e: Entry, now: Timestamp, out: &mut impl FnMut(ConnRecord)) -> bool {
        let slot = e.slot as usize;
        let Some(conn) = self.conns[slot].as_mut() else {
            return false;
        };
        match e.kind {
            TimerKind::Inactivity => {
                let due = conn.last().add_micros(conn.inactivity().micros());
                if due <= now {
                    self.remove(e.slot, out);
                } else {
                    self.timers
                        .schedule(due, e.slot, e.gen, TimerKind::Inactivity, 0);
                }
            }
            TimerKind::Expire => {
                let last = conn.last();
                let epoch = conn.epoch(&self.tcps);
                if let Some(ti) = conn.tcp() {
                    let tc = &mut self.tcps[ti];
                    match tc.expire_check(now, last) {
                        None => self.remove(e.slot, out),
                        Some(true) => self.timers.schedule(
                            now.add_micros(SESSION_TIMER),
                            e.slot,
                            e.gen,
                            TimerKind::Expire,
                            epoch,
                        ),
                        Some(false) => {}
                    }
                }
            }
            TimerKind::Attempt => {
                if let Some(ti) = conn.tcp() {
                    if self.tcps[ti].attempt_expired() {
                        self.remove(e.slot, out);
                    }
                }
            }
            TimerKind::Delete => self.remove(e.slot, out),
            TimerKind::DnsExpire => {
                if conn.last().add_micros(DNS_SESSION_TIMEOUT) < now {
                    self.remove(e.slot, out);
                } else {
                    let epoch = conn.epoch(&self.tcps);
                    self.timers.schedule(
                        now.add_micros(DNS_SESSION_TIMEOUT),
                        e.slot,
                        e.gen,
                        TimerKind::DnsExpire,
                        epoch,
                    );
                }
            }
        }
        true
    }

    /// End of input: fires the attempt timers (they run at shutdown), then
    /// flushes every remaining connection in key order.
    pub fn finish(&mut self, out: &mut impl FnMut(ConnRecord)) {
        self.removal = (1, self.now);
        while let Some(e) = self.timers.pop() {
            if e.kind == TimerKind::Attempt {
                self.fire(e, out);
            }
        }
        self.removal = (2, Timestamp::ZERO);
        // The timers and the table are done with: freed first, so the list
        // of what is left (slot numbers, 4 bytes each, not a copy of every
        // key) does not add to the peak.
        self.timers.clear();
        self.table = HashTable::new();
        let conns = &self.conns;
        let mut rest: Vec<u32> = (0..conns.len() as u32)
            .filter(|&i| conns[i as usize].is_some())
            .collect();
        rest.sort_unstable_by(|&x, &y| {
            match (conns[x as usize].as_ref(), conns[y as usize].as_ref()) {
                (Some(c), Some(d)) => c.key.cmp_key(&d.key),
                (c, d) => c.is_some().cmp(&d.is_some()),
            }
        });
        for idx in rest {
            self.remove(idx, out);
        }
        self.timers.clear();
        self.tombstones.clear();
        self.tomb_expiry.clear();
        self.conns.clear();
        self.tcps.clear();
        self.free.clear();
    }
}

/// The direction heuristics of Zeek's DNS and NTP analyzers (§3.4,
/// application-level flips), applied to the first message of a UDP
/// connection whose responder port the analyzer serves. An analyzer is
/// present when its port is among the likely server ports (its scripts were
/// loaded).
fn app_direction_flip(
    lsp: &LikelyServerPorts,
    resp_port: u16,
    dir: usize,
    u: &quartet_decode::UdpMeta,
    dst: Addr,
) -> bool {
    if dir != 0 || !lsp.is_likely(17, resp_port) {
        return false;
    }
    match resp_port {
        // DNS: a response (QR bit) from the originator, unless sent to a
        // multicast address.
        53 | 5353 | 5355 => {
            dns_analyzer_loaded(lsp)
                && u.payload_len >= 12
                && u.head[2] & 0x80 != 0
                && !is_multicast(dst)
        }
        // NTP: a server-mode (4) message from the originator.
        123 => u.payload_len >= 48 && u.head[0] & 0x07 == 4,
        _ => false,
    }
}

/// Zeek's DNS scripts make 53/udp, 53/tcp and 5353/udp likely server ports
/// together; a run that only added 53/udp (btest spicy.terminate-session)
/// has no DNS analyzer.
/// Whether a timer entry still belongs to its connection: not removed
/// since (same slot generation) and, for an analyzer timer, not cancelled
/// by an epoch bump. A dead entry stays dead, so it may be dropped early.
fn timer_live(conns: &[Option<Conn>], tcps: &TcpSlab, e: &Entry) -> bool {
    match conns.get(e.slot as usize) {
        Some(Some(conn)) if conn.gen == e.gen => {
            !e.kind.is_analyzer() || e.epoch == conn.epoch(tcps)
        }
        _ => false,
    }
}

fn dns_analyzer_loaded(lsp: &LikelyServerPorts) -> bool {
    lsp.is_likely(17, 53) && lsp.is_likely(6, 53) && lsp.is_likely(17, 5353)
}

fn is_multicast(a: Addr) -> bool {
    if a.is_v4() {
        a.octets_v4()[0] >= 224 && a.octets_v4()[0] <= 239
    } else {
        a.0[0] == 0xff
    }
}

/// A fingerprint of an encapsulation stack, 0 for none: compares stacks
/// without keeping them.
fn encap_fingerprint(e: &EncapStack) -> u64 {
    use std::hash::BuildHasher;
    if e.is_empty() {
        return 0;
    }
    // foldhash with a fixed seed (the value never leaves the process): a
    // few times cheaper than SipHash, run for every encapsulated packet.
    foldhash::fast::FixedState::with_seed(0).hash_one(e) | 1
}

/// A hash of the packet's connection key that is the same for both
/// directions (it hashes the canonical key), for spreading connections over
/// shards: every packet of a connection lands on the same shard.
pub fn flow_hash(m: &PacketMeta) -> u64 {
    let key = match &m.transport {
        Transport::Tcp(t) => ConnKey::new(m.src, t.sport, m.dst, t.dport, 6, true),
        Transport::Udp(u) => ConnKey::new(m.src, u.sport, m.dst, u.dport, 17, true),
        Transport::Icmp(i) => {
            let (sp, dp, canonical) = icmp_ports(i);
            ConnKey::new(m.src, sp, m.dst, dp, if i.v6 { 58 } else { 1 }, canonical)
        }
        Transport::Other => ConnKey::new(m.src, 0, m.dst, 0, m.ip_proto, true),
    };
    key.hash64()
}

fn is_broadcast(a: Addr) -> bool {
    a.is_v4() && a.octets_v4() == [255, 255, 255, 255]
}

/// Why a TCP segment was dropped before reaching any state.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Corrupt {
    No,
    Header,
    Checksum,
}

/// Drops a segment whose header or checksum fails (Zeek's rule: it changes
/// no state), counting it and raising its weird.
#[inline]
fn drop_corrupt(
    t: &quartet_decode::TcpMeta,
    weirds: &mut Weirds,
    stats: &mut TrackStats,
) -> Corrupt {
    match t.header_status {
        TcpHeaderStatus::Ok => {}
        TcpHeaderStatus::BadHeaderLen => {
            weirds.add("bad_TCP_header_len");
            stats.dropped_bad_header += 1;
            return Corrupt::Header;
        }
        TcpHeaderStatus::Truncated => {
            weirds.add("truncated_header");
            stats.dropped_bad_header += 1;
            return Corrupt::Header;
        }
    }
    if t.checksum == Checksum::Bad {
        weirds.add("bad_TCP_checksum");
        stats.dropped_bad_checksum += 1;
        return Corrupt::Checksum;
    }
    Corrupt::No
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rstos0_matches_only_the_anchored_pattern() {
        assert!(rstos0_pattern("SR"));
        assert!(rstos0_pattern("^SdR"));
        assert!(
            rstos0_pattern("ShR"),
            "lower-case letters do not stop the match"
        );
        assert!(!rstos0_pattern("R"));
        assert!(!rstos0_pattern("SAR"));
    }

    #[test]
    fn keys_are_canonical() {
        let a = Addr::v4([10, 0, 0, 1]);
        let b = Addr::v4([10, 0, 0, 2]);
        assert_eq!(
            ConnKey::new(a, 1000, b, 80, 6, true),
            ConnKey::new(b, 80, a, 1000, 6, true)
        );
        assert_ne!(
            ConnKey::new(a, 3, b, 3, 1, false),
            ConnKey::new(b, 3, a, 3, 1, false)
        );
    }

    /// A UDP connection from 10.0.0.1:5000 to 10.0.0.2:53 first seen at
    /// `start`, nothing counted yet.
    fn udp_conn(start: Timestamp) -> Conn {
        let key = ConnKey::new(
            Addr::v4([10, 0, 0, 1]),
            5000,
            Addr::v4([10, 0, 0, 2]),
            53,
            17,
            true,
        );
        Conn {
            key: StoredKey::new(&key),
            start,
            last_off: 0,
            pkts: [0; 2],
            ip_bytes: [0; 2],
            history: History::default(),
            seen: Seen::default(),
            kind: Kind::Udp,
            aux: [0; 2],
            extras: None,
            vlan: [NO_VLAN; 2],
            orig_is_a: true,
            gen: 0,
        }
    }

    #[test]
    fn counters_carry_into_extras_past_32_bits() {
        let mut c = udp_conn(Timestamp::ZERO);
        // 70,000 datagrams of 65,535 IP bytes: past 2^32 in the origin.
        for _ in 0..70_000 {
            c.count(0, 65_535);
            c.add(Counter::Bytes, 0, 65_507);
        }
        c.count(1, 40);
        assert!(c.extras.is_some(), "the carry allocated the extras");
        assert_eq!(c.get(Counter::Pkts, 0), 70_000);
        assert_eq!(c.get(Counter::IpBytes, 0), 70_000 * 65_535);
        assert_eq!(c.get(Counter::Bytes, 0), 70_000 * 65_507);
        // Taking back a packet across the 2^32 boundary borrows.
        let before = c.get(Counter::IpBytes, 0);
        c.ip_bytes[0] = 10;
        let hi = c.get(Counter::IpBytes, 0) - 10;
        c.sub(Counter::IpBytes, 0, 20);
        assert_eq!(c.get(Counter::IpBytes, 0), hi - 10);
        c.add(Counter::IpBytes, 0, 20);
        assert_eq!(c.get(Counter::IpBytes, 0), hi + 10);
        assert!(before > u32::MAX as u64);
        // A role flip moves the carries with the low words.
        c.flip();
        assert_eq!(c.get(Counter::Pkts, 1), 70_000);
        assert_eq!(c.get(Counter::Bytes, 1), 70_000 * 65_507);
        assert_eq!(c.get(Counter::Pkts, 0), 1);
        assert_eq!(c.get(Counter::IpBytes, 0), 40);
        let r = c.record(&TcpSlab::default(), &UidGen::new(0), &LocalNets::default());
        assert_eq!((r.orig_pkts, r.resp_pkts), (1, 70_000));
        assert_eq!(r.resp_bytes, 70_000 * 65_507);
    }

    #[test]
    fn last_time_beyond_32_bits_of_microseconds_is_kept_whole() {
        let start = Timestamp::from_micros(1_000_000_000_000_000);
        let mut c = udp_conn(start);
        assert_eq!(c.last(), start);
        let soon = start.add_micros(i64::from(u32::MAX) - 1);
        c.set_last(soon);
        assert!(c.extras.is_none(), "71 minutes fit inline");
        assert_eq!(c.last(), soon);
        for t in [
            start.add_micros(i64::from(u32::MAX)),
            start.add_micros(3 * 86_400_000_000),
            start.add_micros(-1),
        ] {
            c.set_last(t);
            assert_eq!(c.last(), t);
        }
        assert!(c.extras.is_some());
        c.set_last(soon);
        assert_eq!(c.last(), soon, "back inline");
    }

    #[test]
    fn weird_counts_add_up_one_name_at_two_addresses() {
        let mut w = Weirds::default();
        // The same text at another address, as a constant of another crate
        // may be.
        let copy: &'static str = Box::leak(String::from("bad_TCP_checksum").into_boxed_str());
        assert_ne!(copy.as_ptr(), "bad_TCP_checksum".as_ptr());
        w.add("bad_TCP_checksum");
        w.add("data_before_established");
        w.add(copy);
        w.add("bad_TCP_checksum");
        assert_eq!(
            w.counts(),
            vec![("bad_TCP_checksum", 3), ("data_before_established", 1)]
        );
        assert_eq!(
            w.pending,
            vec![
                "bad_TCP_checksum",
                "data_before_established",
                "bad_TCP_checksum",
                "bad_TCP_checksum"
            ]
        );
    }
}
#[cfg(test)]
mod size_guard {
    /// The per-connection structures are most of the tracker's memory
    /// (docs/benchmarks.md): growing them is a decision, not an accident.
    #[test]
    fn connection_state_stays_small() {
        use std::mem::size_of;
        assert!(
            size_of::<Option<super::Conn>>() <= 88,
            "{}",
            size_of::<Option<super::Conn>>()
        );
        assert!(
            size_of::<super::tcp::TcpConn>() <= 56,
            "{}",
            size_of::<super::tcp::TcpConn>()
        );
    }
}
