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
//!
//! It also counts the stray RSTs of an older connection that reach the
//! tuple during this one: the previous connection's late ACK (its client
//! reset it first, pattern `latency`) meets a server with no socket for
//! it, and the server's stack answers with a RST at that ACK's number, in
//! the old sequence space. The answer can be captured after the next
//! connection's SYN. Before the SYN-ACK the client drops a RST that does
//! not acknowledge its SYN (RFC 793 3.9); after the handshake it only
//! challenges one outside its RCV.NXT (RFC 5961). Either way the
//! connection goes on; a tracker that honours the RST does not.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::ConnTruth;

/// Fills `syns`, `stale_acks` and `stray_rsts` of `conns` (sorted by
/// start) from `pcap`.
pub fn handshakes(pcap: &Path, conns: &mut [ConnTruth]) -> Result<()> {
    // Per tuple, the indices of its connections in start order.
    let mut by_tuple: HashMap<(u16, u16), Vec<usize>> = HashMap::new();
    for (i, c) in conns.iter().enumerate() {
        by_tuple.entry((c.orig_p, c.resp_p)).or_default().push(i);
    }
    // Per connection: the SYN-ACK was seen; the client's and the server's
    // initial sequence numbers.
    let mut established = vec![false; conns.len()];
    let mut isn: Vec<[Option<u32>; 2]> = vec![[None; 2]; conns.len()];
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
        let seq = u32::from_be_bytes([d[tcp + 4], d[tcp + 5], d[tcp + 6], d[tcp + 7]]);
        let ack_no = u32::from_be_bytes([d[tcp + 8], d[tcp + 9], d[tcp + 10], d[tcp + 11]]);
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
            isn[i][0] = Some(seq);
        } else if !from_client && syn && ack {
            established[i] = true;
            isn[i][1] = Some(seq);
        } else if rst && established[i] {
            // The sender's own sequence space: its ISN, its bytes, its SYN
            // and FIN. A RST anywhere else belongs to an older connection.
            let (start, bytes) = if from_client {
                (isn[i][0], conns[i].orig_bytes)
            } else {
                (isn[i][1], conns[i].resp_bytes)
            };
            if start.is_some_and(|s| u64::from(seq.wrapping_sub(s)) > bytes + 2) {
                conns[i].stray_rsts += 1;
            }
        } else if rst && !from_client && conns[i].syns > 0 {
            // Before the SYN-ACK: the client is in SYN-SENT and takes only
            // a RST acknowledging its SYN (a refusal); any other is an
            // older connection's, and the client drops it (RFC 793 3.9).
            let refusal = ack && isn[i][0].is_some_and(|s| ack_no == s.wrapping_add(1));
            if !refusal {
                conns[i].stray_rsts += 1;
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Closer, Pattern};
    use quartet_testkit::pcap::{linktype, PcapWriter};
    use quartet_testkit::{Conversation, Packet, PacketBuilder, Tcp, TcpFlags};
    use std::time::Duration;

    const T0: u64 = 1_700_000_000;

    fn at(us: u64) -> Duration {
        Duration::from_secs(T0) + Duration::from_micros(us)
    }

    fn conn(pattern: Pattern, start_us: u64, bytes: (u64, u64)) -> ConnTruth {
        ConnTruth {
            id: 0,
            pattern,
            orig_h: "127.0.0.1".into(),
            orig_p: 40000,
            resp_h: "127.0.0.1".into(),
            resp_p: 8080,
            orig_bytes: bytes.0,
            resp_bytes: bytes.1,
            closed_first: Closer::Server,
            aborted: false,
            aborted_by: None,
            start: (T0 as f64) + start_us as f64 * 1e-6,
            end: (T0 as f64) + (start_us + 900) as f64 * 1e-6,
            tuple_seq: 0,
            connect_retries: 0,
            connect_wait_us: 0,
            connect_us: 0,
            after_server_time_wait: false,
            after_client_time_wait: false,
            syns: 0,
            stale_acks: 0,
            stray_rsts: 0,
        }
    }

    /// The client and server ends of the tuple (those of `conn`).
    fn ends() -> (std::net::SocketAddr, std::net::SocketAddr) {
        (
            "127.0.0.1:40000".parse().unwrap(),
            "127.0.0.1:8080".parse().unwrap(),
        )
    }

    /// A `latency` connection whose client resets it and then sends its
    /// late ACK of the server's FIN, and the next connection on the tuple,
    /// which goes on to close, with `extra` (a RST from the server) in
    /// between; returns the two connections annotated.
    fn annotate(extra: Packet) -> Vec<ConnTruth> {
        let (c, s) = ends();
        let mut old = Conversation::new(c, s).isn(1000, 5000);
        old.syn(at(0))
            .synack(at(1))
            .ack(at(2))
            .data_c2s(at(3), 4)
            .ack_s2c(at(4))
            .fin_s2c(at(5))
            .rst_c2s(at(6))
            .ack_c2s(at(7));
        let mut new = Conversation::new(c, s).isn(9000, 70_000);
        new.syn(at(100))
            .synack(at(102))
            .ack(at(103))
            .data_c2s(at(104), 4)
            .ack_s2c(at(105))
            .data_s2c(at(107), 30)
            .fin_s2c(at(108))
            .fin_c2s(at(109))
            .ack_c2s(at(110));
        let mut packets = old.into_packets();
        packets.extend(new.into_packets());
        packets.push(extra);
        packets.sort_by_key(|p| p.ts);

        let dir = std::env::temp_dir().join(format!(
            "quartet-annotate-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("stray.pcap");
        let mut w = PcapWriter::create(&path, linktype::ETHERNET).unwrap();
        w.write_packets(&packets).unwrap();
        w.finish().unwrap();

        let mut conns = vec![
            conn(Pattern::Latency, 0, (4, 0)),
            conn(Pattern::Assassinate, 100, (4, 30)),
        ];
        handshakes(&path, &mut conns).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!((conns[0].syns, conns[0].stray_rsts), (1, 0));
        assert_eq!(conns[1].syns, 1);
        assert_eq!(conns[0].stale_acks + conns[1].stale_acks, 0);
        conns
    }

    /// The server's RST answering the old late ACK, at that ACK's number
    /// (the old sequence space), at `us`.
    fn late_rst(us: u64, flags: TcpFlags, ack: u32) -> Packet {
        let (c, s) = ends();
        Packet {
            ts: at(us),
            frame: PacketBuilder::tcp(s, c, Tcp::new(flags).seq(5002).ack(ack)).build(),
        }
    }

    /// The server's RST of the old connection captured after the next
    /// connection's handshake is stray; the client's own RST of the first
    /// connection is in its own space and is not.
    #[test]
    fn a_late_rst_of_the_previous_connection_is_stray() {
        let conns = annotate(late_rst(106, TcpFlags::RST, 0));
        assert_eq!(conns[1].stray_rsts, 1);
    }

    /// The same RST captured between the next connection's SYN and its
    /// SYN-ACK: it does not acknowledge that SYN, so the client in SYN-SENT
    /// drops it (RFC 793 3.9): stray too. A RST/ACK acknowledging the SYN
    /// is the server's refusal and is not.
    #[test]
    fn a_late_rst_before_the_syn_ack_is_stray_unless_it_acks_the_syn() {
        let rst_ack = TcpFlags(TcpFlags::RST.0 | TcpFlags::ACK.0);
        for (flags, ack, stray) in [
            (TcpFlags::RST, 0, 1),
            (rst_ack, 9000, 1),
            (rst_ack, 9001, 0),
        ] {
            let conns = annotate(late_rst(101, flags, ack));
            assert_eq!(conns[1].stray_rsts, stray, "{flags:?} ack {ack}");
        }
    }
}
