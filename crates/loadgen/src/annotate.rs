//! What the handshake of each connection looked like on the wire.
//!
//! The application sees one `connect()` where the wire may show more: on a
//! reused 4-tuple the server's stack can still hold the previous
//! connection and answer the new SYN with a bare ACK of that old connection;
//! the client's stack then sends a RST and retransmits the SYN (same ISN).
//! The generator cannot see that through the socket API, so after the
//! capture it reads its own savefile (Ethernet/IPv4/TCP headers only) and
//! counts, for every connection, the client's SYNs and the stale ACKs that
//! answered them before the SYN-ACK.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::ConnTruth;

/// Fills `syns` and `stale_acks` of `conns` (sorted by start) from `pcap`.
pub fn handshakes(pcap: &Path, conns: &mut [ConnTruth]) -> Result<()> {
    // Per tuple, the indices of its connections in start order.
    let mut by_tuple: HashMap<(u16, u16), Vec<usize>> = HashMap::new();
    for (i, c) in conns.iter().enumerate() {
        by_tuple.entry((c.orig_p, c.resp_p)).or_default().push(i);
    }
    // Per connection: the SYN-ACK was seen.
    let mut established = vec![false; conns.len()];
    let mut cap = pcap::Capture::from_file(pcap)
        .with_context(|| format!("reading back {}", pcap.display()))?;
    if cap.get_datalink() != pcap::Linktype::ETHERNET {
        bail!("annotating needs an Ethernet capture (device lo)");
    }
    loop {
        let p = match cap.next_packet() {
            Ok(p) => p,
            Err(pcap::Error::NoMorePackets) => break,
            Err(e) => return Err(e).context("reading back the capture"),
        };
        let ts = p.header.ts.tv_sec as f64 + p.header.ts.tv_usec as f64 * 1e-6;
        let d = p.data;
        // Ethernet (14) + IPv4 + TCP up to the flags byte.
        if d.len() < 14 + 20 || d[12..14] != [0x08, 0x00] || d[14] >> 4 != 4 {
            continue;
        }
        let ihl = usize::from(d[14] & 0x0f) * 4;
        let tcp = 14 + ihl;
        if d[14 + 9] != 6 || d.len() < tcp + 20 {
            continue;
        }
        let total = usize::from(u16::from_be_bytes([d[16], d[17]]));
        let sport = u16::from_be_bytes([d[tcp], d[tcp + 1]]);
        let dport = u16::from_be_bytes([d[tcp + 2], d[tcp + 3]]);
        let doff = usize::from(d[tcp + 12] >> 4) * 4;
        let payload = total.saturating_sub(ihl + doff);
        let flags = d[tcp + 13];
        let (fin, syn, rst, ack) = (
            flags & 0x01 != 0,
            flags & 0x02 != 0,
            flags & 0x04 != 0,
            flags & 0x10 != 0,
        );
        let (from_client, key) =
            match (by_tuple.get(&(sport, dport)), by_tuple.get(&(dport, sport))) {
                (Some(_), _) => (true, (sport, dport)),
                (None, Some(_)) => (false, (dport, sport)),
                _ => continue,
            };
        let list = &by_tuple[&key];
        // The connection of this packet: the last one started before it.
        let k = list.partition_point(|&i| conns[i].start <= ts);
        let Some(&i) = k.checked_sub(1).and_then(|k| list.get(k)) else {
            continue;
        };
        if from_client && syn && !ack {
            conns[i].syns += 1;
        } else if !from_client && syn && ack {
            established[i] = true;
        } else if !from_client
            && ack
            && !syn
            && !fin
            && !rst
            && payload == 0
            && conns[i].syns > 0
            && !established[i]
        {
            conns[i].stale_acks += 1;
        }
    }
    Ok(())
}
