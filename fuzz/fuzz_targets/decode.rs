//! Arbitrary frames through `quartet_decode::decode`, with every fragment it
//! yields fed to a `Defragmenter` and every completed datagram through
//! `decode_reassembled`, as the pipeline does. Must never panic; every frame
//! yields at least one item that is not a `Notice` (the decoder's contract).
//!
//! Input: one option byte, then frames, each
//! `linktype selector (1) | caplen (2, LE) | wire_len delta (1, signed) |
//!  time delta (1, signed, 10 s units) | caplen bytes`;
//! a short last frame takes what is left.
#![no_main]

use libfuzzer_sys::fuzz_target;
use quartet_decode::link::linktype;
use quartet_decode::{decode, decode_reassembled, DecodeConfig, Decoded};
use quartet_track::defrag::{Defragmenter, FRAG_TIMEOUT};
use quartet_wire::Timestamp;

/// The link types the decoder knows, then the raw-IP ones; a selector past
/// the list is taken as the link type itself.
const LINKTYPES: [u32; 14] = [
    linktype::NULL,
    linktype::ETHERNET,
    linktype::PPP,
    linktype::FDDI,
    linktype::PPP_SERIAL,
    linktype::IEEE802_11,
    linktype::LINUX_SLL,
    linktype::IEEE802_11_RADIO,
    linktype::NFLOG,
    linktype::LINUX_SLL2,
    12,  // RAW (OpenBSD numbering)
    101, // RAW
    228, // IPV4
    229, // IPV6
];

const MAX_FRAMES: usize = 64;

fuzz_target!(|data: &[u8]| {
    let Some((&opts, mut rest)) = data.split_first() else {
        return;
    };
    let cfg = DecodeConfig {
        ignore_checksums: opts & 1 != 0,
    };
    // A small byte budget exercises the defragmenter's eviction.
    let max_bytes = if opts & 2 != 0 { 4096 } else { 64 << 20 };
    let mut defrag = Defragmenter::new(FRAG_TIMEOUT, max_bytes);
    let mut ts = Timestamp::from_secs(1_000_000_000);
    let mut decoded = Vec::new();
    let mut frames = 0;
    while rest.len() >= 5 && frames < MAX_FRAMES {
        frames += 1;
        let sel = rest[0];
        let caplen = u16::from_le_bytes([rest[1], rest[2]]) as usize;
        let wire_delta = rest[3] as i8;
        ts = ts.add_micros(i64::from(rest[4] as i8) * 10_000_000);
        rest = &rest[5..];
        let frame = &rest[..caplen.min(rest.len())];
        rest = &rest[frame.len()..];
        let lt = LINKTYPES
            .get(sel as usize)
            .copied()
            .unwrap_or(u32::from(sel));
        let wire_len = (frame.len() as u32).wrapping_add(wire_delta as i32 as u32);

        decoded.clear();
        decode(&cfg, ts, lt, wire_len, frame, &mut decoded);
        assert!(
            decoded.iter().any(|d| !matches!(d, Decoded::Notice(_))),
            "frame yielded only notices: {decoded:?}"
        );
        // Completed datagrams are decoded onto the end of the same list.
        let mut i = 0;
        while i < decoded.len() {
            let item = std::mem::replace(&mut decoded[i], Decoded::NotIp);
            i += 1;
            if let Decoded::Fragment(frag) = item {
                defrag.expire(ts);
                let outcome = defrag.add(frag, ts);
                for w in outcome.weirds() {
                    assert!(!w.is_empty());
                }
                if let Some((head, payload)) = outcome.complete {
                    let before = decoded.len();
                    decode_reassembled(&cfg, ts, &head, &payload, &mut decoded);
                    assert!(
                        decoded[before..]
                            .iter()
                            .any(|d| !matches!(d, Decoded::Notice(_))),
                        "reassembled datagram yielded only notices"
                    );
                }
            }
            // Bounded: each reassembly consumes held fragments.
            assert!(i <= 1 << 16, "decode output does not end");
        }
        // The memory bound holds after every fragment.
        assert!(
            defrag.bytes() <= max_bytes,
            "defragmenter holds {} bytes",
            defrag.bytes()
        );
    }
    defrag.clear();
    assert!(defrag.is_empty());
    assert_eq!(defrag.bytes(), 0);
});
