//! uids of tunnels, known before a packet reaches its connection's shard.
//!
//! An inner connection names the uid of its innermost encapsulation in
//! `tunnel_parents` (§13.1). For a UDP tunnel that is the uid of the outer
//! UDP connection, for an IP tunnel the uid of the outer address pair. The
//! outer connection may live in another shard than the inner one, so the
//! parent uid is not looked up in a table: it is derived here, from what
//! every packet shows, the same way the outer connection derives its own
//! uid (seed, key and first-packet time). This mirrors the lifetime of UDP
//! connections on tunnel ports, and of any UDP flow from its first packet
//! that carried a tunnel: one starts with its first packet and ends once
//! network time reaches its last accepted packet plus the UDP inactivity
//! timeout. (A flow found by its payload after earlier plain packets is the
//! one case where the derived uid can miss; Zeek finds such flows by the
//! same payload test, so its first packet usually is a tunnel packet.)

use crate::ConnKey;
use hashbrown::HashMap;
use quartet_decode::{Checksum, Encap, PacketMeta, Transport};
use quartet_record::{Uid, UidGen};
use quartet_wire::{Addr, Timestamp};

/// UDP ports on which Zeek finds tunnels by port (VXLAN, Geneve, GTPv1-U and
/// -C, Teredo, AYIYA, GRE over UDP).
const TUNNEL_PORTS: [u16; 7] = [4789, 6081, 2152, 2123, 3544, 5072, 4754];
/// `udp_inactivity_timeout`.
const UDP_TIMEOUT: i64 = 60_000_000;
/// `Tunnel::ip_tunnel_timeout`.
const IP_TUNNEL_TIMEOUT: i64 = 24 * 3600 * 1_000_000;
/// Entries are swept after this many packets.
const SWEEP_EVERY: u32 = 1 << 16;

#[derive(Clone, Debug)]
pub struct TunnelUids {
    uids: UidGen,
    /// Outer UDP flows: first-packet time and last accepted packet time.
    udp: HashMap<ConnKey, (Timestamp, Timestamp)>,
    /// IP tunnels by unordered address pair: uid and last use.
    ip: HashMap<(Addr, Addr), (Uid, Timestamp)>,
    now: Timestamp,
    since_sweep: u32,
}

impl TunnelUids {
    pub fn new(seed: u64) -> Self {
        TunnelUids {
            uids: UidGen::new(seed),
            udp: HashMap::new(),
            ip: HashMap::new(),
            now: Timestamp::ZERO,
            since_sweep: 0,
        }
    }

    /// Sees a packet (in arrival order, before the tracker handles it) and
    /// returns the uid of its innermost encapsulation, if it has one.
    pub fn observe(&mut self, m: &PacketMeta) -> Option<Uid> {
        if m.ts > self.now {
            self.now = m.ts;
        }
        self.since_sweep += 1;
        if self.since_sweep >= SWEEP_EVERY {
            self.sweep();
        }
        if let Transport::Udp(u) = &m.transport {
            if u.tunnel.is_some()
                || TUNNEL_PORTS.contains(&u.sport)
                || TUNNEL_PORTS.contains(&u.dport)
            {
                let key = ConnKey::new(m.src, u.sport, m.dst, u.dport, 17, true);
                let accepted = u.checksum != Checksum::Bad;
                self.udp_flow(key, m.ts, accepted);
            }
        }
        match m.encap.innermost()? {
            Encap::Udp {
                src,
                sport,
                dst,
                dport,
            } => {
                let key = ConnKey::new(src, sport, dst, dport, 17, true);
                let (start, _) = match self.udp.get(&key) {
                    Some(&e) if e.1.add_micros(UDP_TIMEOUT) > self.now => e,
                    // The outer packet was on no tunnel port (found by its
                    // payload): the flow is known from its first tunnel packet.
                    _ => self.udp_flow(key, m.ts, true),
                };
                Some(self.uids.uid(&key.bytes(), start, 0))
            }
            Encap::Ip { a, b } => {
                let pair = if a <= b { (a, b) } else { (b, a) };
                let ts = m.ts;
                let fresh = |uids: &UidGen| {
                    let mut k = [0u8; 32];
                    k[..16].copy_from_slice(&pair.0 .0);
                    k[16..].copy_from_slice(&pair.1 .0);
                    uids.uid(&k, ts, 1)
                };
                let e = self
                    .ip
                    .entry(pair)
                    .or_insert_with(|| (fresh(&self.uids), ts));
                if e.1.add_micros(IP_TUNNEL_TIMEOUT) <= ts {
                    e.0 = fresh(&self.uids);
                }
                e.1 = e.1.max(ts);
                Some(e.0)
            }
        }
    }

    fn udp_flow(&mut self, key: ConnKey, ts: Timestamp, accepted: bool) -> (Timestamp, Timestamp) {
        let now = self.now;
        let e = self.udp.entry(key).or_insert((ts, ts));
        if e.1.add_micros(UDP_TIMEOUT) <= now {
            // The previous connection of this key has timed out.
            *e = (ts, ts);
        } else if accepted {
            e.1 = ts;
        }
        *e
    }

    fn sweep(&mut self) {
        self.since_sweep = 0;
        let now = self.now;
        self.udp.retain(|_, e| e.1.add_micros(UDP_TIMEOUT) > now);
        self.ip
            .retain(|_, e| e.1.add_micros(IP_TUNNEL_TIMEOUT) > now);
    }

    /// Entries held (for the empty-after-flush invariant).
    pub fn len(&self) -> usize {
        self.udp.len() + self.ip.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn clear(&mut self) {
        self.udp.clear();
        self.ip.clear();
    }
}
