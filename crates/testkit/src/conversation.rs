//! Scripting one TCP connection packet by packet.
//!
//! A [`Conversation`] knows the client and server sockets and each side's
//! next sequence number, so a test only says *what* happens and *when*:
//!
//! ```
//! use std::time::Duration;
//! use quartet_testkit::Conversation;
//! let t = Duration::from_secs(1_700_000_000);
//! let ms = Duration::from_millis;
//! let mut c = Conversation::new("10.0.0.1:40000".parse().unwrap(), "93.184.216.34:80".parse().unwrap());
//! c.syn(t).synack(t + ms(10)).ack(t + ms(20)).data_c2s(t + ms(30), 100);
//! c.fin_c2s(t + ms(40)).fin_s2c(t + ms(50)).ack(t + ms(60));
//! assert_eq!(c.packets().len(), 7);
//! ```
//!
//! Sequence numbers: each side starts at its ISN (default 1000 for the
//! client, 5000 for the server). A segment is sent at the side's next
//! sequence number, which then advances by the payload length plus one for
//! SYN and one for FIN. SYNs are always sent at the ISN, so calling `syn`
//! twice retransmits it. Segments with ACK acknowledge the peer's next
//! sequence number. RST segments do not advance anything.

use std::net::SocketAddr;
use std::time::Duration;

use crate::packet::{PacketBuilder, Tcp, TcpFlags, DEFAULT_DST_MAC, DEFAULT_SRC_MAC};
use crate::pcap::Packet;

/// Direction of a segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dir {
    /// Client to server.
    C2S,
    /// Server to client.
    S2C,
}

impl Dir {
    fn side(self) -> usize {
        match self {
            Dir::C2S => 0,
            Dir::S2C => 1,
        }
    }
}

/// One scripted TCP connection; see the module documentation.
#[derive(Clone, Debug)]
pub struct Conversation {
    addrs: [SocketAddr; 2],
    macs: [[u8; 6]; 2],
    isn: [u32; 2],
    next: [u32; 2],
    window: u16,
    tags: Vec<u16>,
    raw_ip: bool,
    packets: Vec<Packet>,
}

impl Conversation {
    pub fn new(client: SocketAddr, server: SocketAddr) -> Self {
        Conversation {
            addrs: [client, server],
            macs: [DEFAULT_SRC_MAC, DEFAULT_DST_MAC],
            isn: [1000, 5000],
            next: [1000, 5000],
            window: 65535,
            tags: Vec::new(),
            raw_ip: false,
            packets: Vec::new(),
        }
    }

    /// Initial sequence numbers of the client and the server.
    pub fn isn(mut self, client: u32, server: u32) -> Self {
        self.isn = [client, server];
        self.next = [client, server];
        self
    }

    /// Window advertised by both sides (default 65535).
    pub fn window(mut self, window: u16) -> Self {
        self.window = window;
        self
    }

    /// MAC addresses of the client and the server.
    pub fn macs(mut self, client: [u8; 6], server: [u8; 6]) -> Self {
        self.macs = [client, server];
        self
    }

    /// Adds an 802.1Q tag to every frame.
    pub fn vlan(mut self, id: u16) -> Self {
        self.tags.push(id);
        self
    }

    /// Frames without a link layer (for link types RAW/IPV4/IPV6).
    pub fn raw_ip(mut self) -> Self {
        self.raw_ip = true;
        self
    }

    pub fn client(&self) -> SocketAddr {
        self.addrs[0]
    }

    pub fn server(&self) -> SocketAddr {
        self.addrs[1]
    }

    /// The sequence number the next segment from `dir`'s sender will carry.
    pub fn next_seq(&self, dir: Dir) -> u32 {
        self.next[dir.side()]
    }

    /// Client SYN at the client's ISN.
    pub fn syn(&mut self, t: Duration) -> &mut Self {
        self.send_at(t, Dir::C2S, self.isn[0], TcpFlags::SYN, 0)
    }

    /// Server SYN+ACK at the server's ISN.
    pub fn synack(&mut self, t: Duration) -> &mut Self {
        self.send_at(t, Dir::S2C, self.isn[1], TcpFlags::SYN | TcpFlags::ACK, 0)
    }

    /// The client's pure ACK (the third packet of a handshake).
    pub fn ack(&mut self, t: Duration) -> &mut Self {
        self.ack_c2s(t)
    }

    pub fn ack_c2s(&mut self, t: Duration) -> &mut Self {
        self.send(t, Dir::C2S, TcpFlags::ACK, 0)
    }

    pub fn ack_s2c(&mut self, t: Duration) -> &mut Self {
        self.send(t, Dir::S2C, TcpFlags::ACK, 0)
    }

    /// `len` bytes of filler from the client, with PSH+ACK.
    pub fn data_c2s(&mut self, t: Duration, len: usize) -> &mut Self {
        self.send(t, Dir::C2S, TcpFlags::PSH | TcpFlags::ACK, len)
    }

    /// `len` bytes of filler from the server, with PSH+ACK.
    pub fn data_s2c(&mut self, t: Duration, len: usize) -> &mut Self {
        self.send(t, Dir::S2C, TcpFlags::PSH | TcpFlags::ACK, len)
    }

    /// The given bytes from `dir`'s sender, with PSH+ACK.
    pub fn data(&mut self, t: Duration, dir: Dir, bytes: &[u8]) -> &mut Self {
        let seq = self.next[dir.side()];
        let flags = TcpFlags::PSH | TcpFlags::ACK;
        self.send_with(t, dir, seq, flags, bytes.len(), |p| p.payload(bytes))
    }

    /// FIN+ACK from the client.
    pub fn fin_c2s(&mut self, t: Duration) -> &mut Self {
        self.send(t, Dir::C2S, TcpFlags::FIN | TcpFlags::ACK, 0)
    }

    /// FIN+ACK from the server.
    pub fn fin_s2c(&mut self, t: Duration) -> &mut Self {
        self.send(t, Dir::S2C, TcpFlags::FIN | TcpFlags::ACK, 0)
    }

    /// RST+ACK from the client.
    pub fn rst_c2s(&mut self, t: Duration) -> &mut Self {
        self.send(t, Dir::C2S, TcpFlags::RST | TcpFlags::ACK, 0)
    }

    /// RST+ACK from the server (give the server ISN 0 for the usual answer
    /// to a refused SYN).
    pub fn rst_s2c(&mut self, t: Duration) -> &mut Self {
        self.send(t, Dir::S2C, TcpFlags::RST | TcpFlags::ACK, 0)
    }

    /// Sends the last `len` data bytes of `dir`'s sender again (PSH+ACK).
    pub fn retransmit(&mut self, t: Duration, dir: Dir, len: usize) -> &mut Self {
        let seq = self.next[dir.side()].wrapping_sub(len as u32);
        self.send_at(t, dir, seq, TcpFlags::PSH | TcpFlags::ACK, len)
    }

    /// A segment with any flags at the sender's next sequence number.
    pub fn send(&mut self, t: Duration, dir: Dir, flags: TcpFlags, len: usize) -> &mut Self {
        let seq = self.next[dir.side()];
        self.send_at(t, dir, seq, flags, len)
    }

    /// A segment at an explicit sequence number. The sender's next sequence
    /// number only moves forward (retransmissions leave it alone).
    pub fn send_at(
        &mut self,
        t: Duration,
        dir: Dir,
        seq: u32,
        flags: TcpFlags,
        len: usize,
    ) -> &mut Self {
        self.send_with(t, dir, seq, flags, len, |p| p)
    }

    /// Like [`Conversation::send_at`], with a last chance to adjust the
    /// packet, e.g. `|p| p.corrupt_checksum()`.
    pub fn send_with(
        &mut self,
        t: Duration,
        dir: Dir,
        seq: u32,
        flags: TcpFlags,
        len: usize,
        adjust: impl FnOnce(PacketBuilder) -> PacketBuilder,
    ) -> &mut Self {
        let (me, peer) = (dir.side(), 1 - dir.side());
        let ack = if flags.contains(TcpFlags::ACK) {
            self.next[peer]
        } else {
            0
        };
        let tcp = Tcp::new(flags).seq(seq).ack(ack).window(self.window);
        let mut p = PacketBuilder::tcp(self.addrs[me], self.addrs[peer], tcp)
            .payload_len(len)
            .macs(self.macs[me], self.macs[peer]);
        for id in &self.tags {
            p = p.vlan(*id);
        }
        if self.raw_ip {
            p = p.raw_ip();
        }
        let frame = adjust(p).build();
        if !flags.contains(TcpFlags::RST) {
            let mut end = seq.wrapping_add(len as u32);
            end = end.wrapping_add(u32::from(flags.contains(TcpFlags::SYN)));
            end = end.wrapping_add(u32::from(flags.contains(TcpFlags::FIN)));
            if (end.wrapping_sub(self.next[me]) as i32) > 0 {
                self.next[me] = end;
            }
        }
        self.packets.push(Packet { ts: t, frame });
        self
    }

    /// The packets scripted so far, in call order.
    pub fn packets(&self) -> &[Packet] {
        &self.packets
    }

    pub fn into_packets(self) -> Vec<Packet> {
        self.packets
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(p: &Packet) -> (u16, u16, u32, u32, u8, usize) {
        let ip = &p.frame[14..];
        let tcp = &ip[20..];
        let hlen = usize::from(tcp[12] >> 4) * 4;
        (
            u16::from_be_bytes([tcp[0], tcp[1]]),
            u16::from_be_bytes([tcp[2], tcp[3]]),
            u32::from_be_bytes(tcp[4..8].try_into().unwrap()),
            u32::from_be_bytes(tcp[8..12].try_into().unwrap()),
            tcp[13],
            tcp.len() - hlen,
        )
    }

    #[test]
    fn handshake_data_and_close_track_sequence_numbers() {
        let t = Duration::from_secs(1);
        let mut c = Conversation::new(
            "10.0.0.1:40000".parse().unwrap(),
            "93.184.216.34:80".parse().unwrap(),
        );
        c.syn(t)
            .syn(t)
            .synack(t)
            .ack(t)
            .data_c2s(t, 100)
            .retransmit(t, Dir::C2S, 100);
        c.data_s2c(t, 200).fin_c2s(t).fin_s2c(t).ack(t);
        let got: Vec<_> = c.packets().iter().map(fields).collect();
        assert_eq!(
            got,
            [
                (40000, 80, 1000, 0, 0x02, 0),
                (40000, 80, 1000, 0, 0x02, 0),
                (80, 40000, 5000, 1001, 0x12, 0),
                (40000, 80, 1001, 5001, 0x10, 0),
                (40000, 80, 1001, 5001, 0x18, 100),
                (40000, 80, 1001, 5001, 0x18, 100),
                (80, 40000, 5001, 1101, 0x18, 200),
                (40000, 80, 1101, 5201, 0x11, 0),
                (80, 40000, 5201, 1102, 0x11, 0),
                (40000, 80, 1102, 5202, 0x10, 0),
            ]
        );
        // Frames go from the sender's MAC to the receiver's.
        assert_eq!(&c.packets()[2].frame[6..12], &DEFAULT_DST_MAC);
    }

    #[test]
    fn rst_does_not_advance_and_adjust_applies() {
        let t = Duration::ZERO;
        let mut c = Conversation::new("10.0.0.1:1".parse().unwrap(), "10.0.0.2:2".parse().unwrap())
            .isn(7, 0)
            .vlan(5);
        c.syn(t)
            .rst_s2c(t)
            .send_with(t, Dir::C2S, 7, TcpFlags::SYN, 0, |p| p.ttl(3));
        assert_eq!(c.next_seq(Dir::S2C), 0);
        let rst = &c.packets()[1].frame;
        assert_eq!(&rst[12..16], &[0x81, 0, 0, 5]);
        assert_eq!(rst[18 + 8], 64);
        assert_eq!(c.packets()[2].frame[18 + 8], 3);
    }

    #[test]
    fn sequence_numbers_wrap() {
        let t = Duration::ZERO;
        let mut c = Conversation::new("10.0.0.1:1".parse().unwrap(), "10.0.0.2:2".parse().unwrap())
            .isn(u32::MAX - 10, 0);
        c.syn(t).data_c2s(t, 20);
        assert_eq!(c.next_seq(Dir::C2S), 10);
    }
}
