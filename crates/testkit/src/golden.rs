//! The golden traces: one tiny capture per behaviour, and the README sample.
//!
//! `mkgolden` writes these to `tests/golden/<case>/trace.pcap` and
//! `samples/sample.pcap`; the test `tests/committed_traces.rs` checks the
//! committed files still match. The expected `conn.log` of each case is
//! written by hand next to its trace, and its `README` derives every value
//! from the rules of zeek-conn-semantics.md. Change a case here only
//! together with its expected log and README.
//!
//! Conventions shared by the cases: the client is 10.0.0.1 (private, so
//! `local_orig` is T) and the server 93.184.216.34 (public, `local_resp` F);
//! every case starts at [`T0`] = 1700000000.123456; TCP segments carry no
//! options (40 IP bytes plus payload), the client's ISN is 1000 and the
//! server's 5000 unless a case says otherwise.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use crate::conversation::{Conversation, Dir};
use crate::packet::{Icmp, PacketBuilder, TcpFlags};
use crate::pcap::{linktype, merge, Packet};

/// Start time of every golden case: 1700000000.123456.
pub const T0: Duration = Duration::new(1_700_000_000, 123_456_000);

pub const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
pub const SERVER: IpAddr = IpAddr::V4(Ipv4Addr::new(93, 184, 216, 34));

/// One golden case: its directory name and its packets.
#[derive(Clone, Debug)]
pub struct Case {
    pub name: &'static str,
    pub linktype: u32,
    pub packets: Vec<Packet>,
}

/// `T0` plus `ms` milliseconds.
fn at(ms: u64) -> Duration {
    T0 + Duration::from_millis(ms)
}

fn client(port: u16) -> SocketAddr {
    SocketAddr::new(CLIENT, port)
}

fn server(port: u16) -> SocketAddr {
    SocketAddr::new(SERVER, port)
}

fn tcp(name: &'static str, c: Conversation) -> Case {
    Case {
        name,
        linktype: linktype::ETHERNET,
        packets: c.into_packets(),
    }
}

fn frames(name: &'static str, frames: Vec<(Duration, Vec<u8>)>) -> Case {
    let packets = frames
        .into_iter()
        .map(|(ts, frame)| Packet { ts, frame })
        .collect();
    Case {
        name,
        linktype: linktype::ETHERNET,
        packets,
    }
}

/// All golden cases, in directory-name order.
pub fn cases() -> Vec<Case> {
    let mut all = vec![
        tcp_sf(),
        tcp_syn_only(),
        tcp_syn_retransmit(),
        tcp_rej(),
        tcp_rej_retry(),
        tcp_midstream_flip(),
        tcp_rsto(),
        tcp_retransmit(),
        tcp_bad_checksum("tcp-bad-checksum"),
        tcp_bad_checksum("tcp-bad-checksum-ignored"),
        tcp_ipv6(),
        udp_sf(),
        udp_reply_only(),
        icmp_echo(),
        unknown_transport(),
    ];
    all.sort_by_key(|c| c.name);
    all
}

/// Handshake, data both ways, FIN from each side, final ACK: SF `ShADadFf`.
fn tcp_sf() -> Case {
    let mut c = Conversation::new(client(40000), server(80));
    c.syn(at(0))
        .synack(at(10))
        .ack(at(20))
        .data_c2s(at(30), 100);
    c.ack_s2c(at(40))
        .data_s2c(at(50), 200)
        .fin_c2s(at(60))
        .fin_s2c(at(70))
        .ack(at(80));
    tcp("tcp-sf", c)
}

/// A lone SYN: S0 `S`, duration and bytes unset.
fn tcp_syn_only() -> Case {
    let mut c = Conversation::new(client(40001), server(443));
    c.syn(at(0));
    tcp("tcp-syn-only", c)
}

/// The same SYN (same ISN) again one second later: S0 `S`, 2 packets.
fn tcp_syn_retransmit() -> Case {
    let mut c = Conversation::new(client(40002), server(443));
    c.syn(at(0)).syn(at(1000));
    tcp("tcp-syn-retransmit", c)
}

/// SYN answered by RST+ACK (seq 0): REJ `Sr`.
fn tcp_rej() -> Case {
    let mut c = Conversation::new(client(40003), server(443)).isn(1000, 0);
    c.syn(at(0)).rst_s2c(at(1));
    tcp("tcp-rej", c)
}

/// SYN, RST+ACK, then the same SYN one second later and another RST+ACK:
/// the retry reuses the closed connection's key, giving two REJ rows.
fn tcp_rej_retry() -> Case {
    let mut c = Conversation::new(client(40004), server(443)).isn(1000, 0);
    c.syn(at(0)).rst_s2c(at(1)).syn(at(1000)).rst_s2c(at(1001));
    tcp("tcp-rej-retry", c)
}

/// First packet is server data from port 80: flipped, both sides partial.
fn tcp_midstream_flip() -> Case {
    let mut c = Conversation::new(client(40005), server(80)).isn(3000, 7000);
    c.data_s2c(at(0), 100)
        .ack(at(10))
        .data_c2s(at(20), 50)
        .ack_s2c(at(30));
    tcp("tcp-midstream-flip", c)
}

/// Established connection aborted by the originator's RST: RSTO `ShADaR`.
fn tcp_rsto() -> Case {
    let mut c = Conversation::new(client(40006), server(443));
    c.syn(at(0)).synack(at(10)).ack(at(20)).data_c2s(at(30), 20);
    c.ack_s2c(at(40)).rst_c2s(at(50));
    tcp("tcp-rsto", c)
}

/// A data segment sent twice before it is acknowledged: `T`.
fn tcp_retransmit() -> Case {
    let mut c = Conversation::new(client(40007), server(443));
    c.syn(at(0))
        .synack(at(10))
        .ack(at(20))
        .data_c2s(at(30), 100);
    c.retransmit(at(230), Dir::C2S, 100).ack_s2c(at(240));
    c.fin_c2s(at(250)).fin_s2c(at(260)).ack(at(270));
    tcp("tcp-retransmit", c)
}

/// A SYN whose TCP checksum is wrong. Without `-C` the connection exists
/// but nothing is counted (`C`, OTH); the `-ignored` variant runs with `-C`
/// (its `flags` file) and sees a plain S0.
fn tcp_bad_checksum(name: &'static str) -> Case {
    let mut c = Conversation::new(client(40008), server(443));
    c.send_with(at(0), Dir::C2S, 1000, TcpFlags::SYN, 0, |p| {
        p.corrupt_checksum()
    });
    tcp(name, c)
}

/// SF over IPv6 (60-byte bare segments).
fn tcp_ipv6() -> Case {
    let c6: SocketAddr = "[2001:db8::10]:40009".parse().expect("literal");
    let s6: SocketAddr = "[2606:2800:220:1:248:1893:25c8:1946]:443"
        .parse()
        .expect("literal");
    let mut c = Conversation::new(c6, s6);
    c.syn(at(0)).synack(at(10)).ack(at(20)).data_c2s(at(30), 10);
    c.data_s2c(at(40), 20)
        .fin_c2s(at(50))
        .fin_s2c(at(60))
        .ack(at(70));
    tcp("tcp-ipv6", c)
}

/// One request, one reply, to a port that is not a likely server port.
fn udp_sf() -> Case {
    let (c, s) = (client(50000), server(9999));
    frames(
        "udp-sf",
        vec![
            (at(0), PacketBuilder::udp(c, s).payload_len(32).build()),
            (at(20), PacketBuilder::udp(s, c).payload_len(64).build()),
        ],
    )
}

/// A single datagram from port 53 to a client port: flipped, SHR `^d`.
fn udp_reply_only() -> Case {
    let (c, s) = (client(50001), server(53));
    frames(
        "udp-reply-only",
        vec![(at(0), PacketBuilder::udp(s, c).payload_len(40).build())],
    )
}

/// Echo request and reply with 56 bytes of data: ports 8/0, OTH.
fn icmp_echo() -> Case {
    let req = PacketBuilder::icmp(CLIENT, SERVER, Icmp::echo_request(0x1234, 1)).payload_len(56);
    let rep = PacketBuilder::icmp(SERVER, CLIENT, Icmp::echo_reply(0x1234, 1)).payload_len(56);
    frames(
        "icmp-echo",
        vec![(at(0), req.build()), (at(25), rep.build())],
    )
}

/// IP protocol 132 (SCTP, which Zeek does not analyse) one packet each way.
fn unknown_transport() -> Case {
    let p = |s, d| PacketBuilder::ip(s, d, 132).payload_len(32).build();
    frames(
        "unknown-transport",
        vec![(at(0), p(CLIENT, SERVER)), (at(500), p(SERVER, CLIENT))],
    )
}

/// A small, realistic capture for the README: a DNS lookup, an HTTP fetch,
/// an HTTPS connection cut by the client, a refused SSH attempt and three
/// pings.
pub fn sample() -> Vec<Packet> {
    let host: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 168, 1, 10));
    let resolver = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 168, 1, 1)), 53);
    let web = IpAddr::V4(Ipv4Addr::new(93, 184, 216, 34));
    let t = Duration::new(1_700_000_000, 0);
    let ms = |n: u64| t + Duration::from_millis(n);

    let dns_c = SocketAddr::new(host, 53001);
    let dns = vec![
        Packet {
            ts: ms(0),
            frame: PacketBuilder::udp(dns_c, resolver)
                .payload(&dns_query(0x4a1f))
                .build(),
        },
        Packet {
            ts: ms(12),
            frame: PacketBuilder::udp(resolver, dns_c)
                .payload(&dns_answer(0x4a1f, web))
                .build(),
        },
    ];

    let mut http = Conversation::new(SocketAddr::new(host, 49152), SocketAddr::new(web, 80))
        .isn(3_221_225_473, 1_234_567_890);
    let get =
        b"GET / HTTP/1.1\r\nHost: example.com\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n";
    let body = "<!doctype html><html><head><title>Example Domain</title></head>\
                <body><h1>Example Domain</h1></body></html>\n";
    let resp = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=UTF-8\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    http.syn(ms(20))
        .synack(ms(45))
        .ack(ms(46))
        .data(ms(46), Dir::C2S, get);
    http.ack_s2c(ms(71))
        .data(ms(72), Dir::S2C, resp.as_bytes())
        .ack(ms(73));
    http.fin_c2s(ms(80)).fin_s2c(ms(104)).ack(ms(105));

    let mut tls = Conversation::new(SocketAddr::new(host, 49153), SocketAddr::new(web, 443))
        .isn(2_000_000_000, 4_000_000_000);
    tls.syn(ms(300))
        .synack(ms(325))
        .ack(ms(326))
        .data_c2s(ms(327), 517);
    tls.ack_s2c(ms(352))
        .data_s2c(ms(353), 1400)
        .data_s2c(ms(353), 1400)
        .ack(ms(354));
    tls.rst_c2s(ms(900));

    let ssh = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 168, 1, 20)), 22);
    let mut rej = Conversation::new(SocketAddr::new(host, 49154), ssh).isn(77_777, 0);
    rej.syn(ms(500)).rst_s2c(ms(501));

    let dns8 = IpAddr::V4(Ipv4Addr::new(8, 8, 8, 8));
    let mut ping = Vec::new();
    for seq in 1..=3u16 {
        let sent = ms(1000 * u64::from(seq));
        let req = PacketBuilder::icmp(host, dns8, Icmp::echo_request(0x0b0b, seq)).payload_len(56);
        let rep = PacketBuilder::icmp(dns8, host, Icmp::echo_reply(0x0b0b, seq)).payload_len(56);
        ping.push(Packet {
            ts: sent,
            frame: req.build(),
        });
        ping.push(Packet {
            ts: sent + Duration::from_micros(14_250),
            frame: rep.build(),
        });
    }

    merge([
        dns,
        http.into_packets(),
        tls.into_packets(),
        rej.into_packets(),
        ping,
    ])
}

/// The question section for `example.com IN A`.
fn dns_question() -> Vec<u8> {
    let mut q = Vec::new();
    for label in ["example", "com"] {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q
}

fn dns_query(id: u16) -> Vec<u8> {
    let mut m = id.to_be_bytes().to_vec();
    m.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    m.extend_from_slice(&dns_question());
    m
}

fn dns_answer(id: u16, addr: IpAddr) -> Vec<u8> {
    let IpAddr::V4(v4) = addr else {
        panic!("A record needs IPv4")
    };
    let mut m = id.to_be_bytes().to_vec();
    m.extend_from_slice(&[0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]);
    m.extend_from_slice(&dns_question());
    m.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4]);
    m.extend_from_slice(&v4.octets());
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_names_are_unique_and_sorted() {
        let names: Vec<_> = cases().iter().map(|c| c.name).collect();
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(names, sorted);
    }

    #[test]
    fn every_case_has_packets_in_time_order() {
        for c in cases().iter().chain([&Case {
            name: "sample",
            linktype: linktype::ETHERNET,
            packets: sample(),
        }]) {
            assert!(!c.packets.is_empty(), "{}", c.name);
            assert!(
                c.packets.windows(2).all(|w| w[0].ts <= w[1].ts),
                "{}",
                c.name
            );
        }
    }
}
