//! `ConnRecord` and the small value types of its columns.

pub use compact_str::CompactString;
use quartet_wire::{Addr, Timestamp};

/// A Zeek connection uid: 96 random-looking bits, printed as `C` + base62.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Uid {
    pub hi: u32,
    pub lo: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Proto {
    Tcp,
    Udp,
    Icmp,
    UnknownTransport,
}

impl Proto {
    pub fn name(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Icmp => "icmp",
            Proto::UnknownTransport => "unknown_transport",
        }
    }
}

/// Zeek's conn_state values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConnState {
    S0,
    S1,
    SF,
    REJ,
    S2,
    S3,
    RSTO,
    RSTR,
    RSTOS0,
    RSTRH,
    SH,
    SHR,
    OTH,
}

impl ConnState {
    pub fn name(self) -> &'static str {
        match self {
            ConnState::S0 => "S0",
            ConnState::S1 => "S1",
            ConnState::SF => "SF",
            ConnState::REJ => "REJ",
            ConnState::S2 => "S2",
            ConnState::S3 => "S3",
            ConnState::RSTO => "RSTO",
            ConnState::RSTR => "RSTR",
            ConnState::RSTOS0 => "RSTOS0",
            ConnState::RSTRH => "RSTRH",
            ConnState::SH => "SH",
            ConnState::SHR => "SHR",
            ConnState::OTH => "OTH",
        }
    }
}

/// When and why a connection was removed: the order in which records are
/// written. Not a column. Records are written by `(phase, at, due, key)`:
/// removal network time, then the due time of the timer that removed the
/// connection (or `at` for a removal caused by a packet), then the raw
/// connection key. This order does not depend on how connections are
/// spread over shards.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RemovalOrder {
    /// 0 while reading; 1 for attempts removed at end of input; 2 for the
    /// final flush.
    pub phase: u8,
    pub at: Timestamp,
    pub due: Timestamp,
    /// The canonical connection key bytes (lower endpoint first).
    pub key: [u8; 37],
}

impl Default for RemovalOrder {
    fn default() -> Self {
        RemovalOrder {
            phase: 0,
            at: Timestamp::ZERO,
            due: Timestamp::ZERO,
            key: [0; 37],
        }
    }
}

/// One conn.log row, in column order. Optional columns (l2 addresses, VLAN
/// ids) are filled always and printed only when the sink was asked to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnRecord {
    /// Time of the packet that created the connection.
    pub ts: Timestamp,
    /// Time of the last packet that extended the connection; `duration` is
    /// `last_ts - ts` and is printed (with the byte counts) only when > 0.
    pub last_ts: Timestamp,
    pub uid: Uid,
    pub orig_h: Addr,
    pub orig_p: u16,
    pub resp_h: Addr,
    pub resp_p: u16,
    pub proto: Proto,
    /// Comma-joined analyzer names; `None` prints `-`.
    pub service: Option<String>,
    pub orig_bytes: u64,
    pub resp_bytes: u64,
    pub conn_state: ConnState,
    pub local_orig: Option<bool>,
    pub local_resp: Option<bool>,
    pub missed_bytes: u64,
    /// History letters; empty prints `-`. Inline up to 24 letters (a
    /// record per connection, and nearly every history is shorter): no
    /// allocation and free per record for the text.
    pub history: CompactString,
    pub orig_pkts: u64,
    pub orig_ip_bytes: u64,
    pub resp_pkts: u64,
    pub resp_ip_bytes: u64,
    /// uids of the encapsulating connections; empty prints `-`.
    pub tunnel_parents: Vec<Uid>,
    pub ip_proto: u8,
    pub orig_l2_addr: Option<[u8; 6]>,
    pub resp_l2_addr: Option<[u8; 6]>,
    pub vlan: Option<u16>,
    pub inner_vlan: Option<u16>,
    /// Where this row goes in the output (not printed).
    pub order: RemovalOrder,
}

impl ConnRecord {
    /// `duration` in microseconds when it is printed (strictly positive).
    pub fn duration_micros(&self) -> Option<i64> {
        let d = self.last_ts.micros() - self.ts.micros();
        (d > 0).then_some(d)
    }
}
