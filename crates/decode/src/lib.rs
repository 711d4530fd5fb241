//! Stateless decoding of one captured frame into owned, fixed-size packet
//! summaries (`PacketMeta`) or named weirds.
//!
//! Packet bytes never leave this crate: everything the tracker needs is
//! copied into `PacketMeta` (addresses, ports, flags, sequence numbers,
//! lengths, checksum verdict, layer-2 details). The decoder keeps no state
//! between frames; IP fragments leave as owned `Fragment` values for the
//! tracker's defragmenter.
#![forbid(unsafe_code)]

mod meta;
pub mod weird;

pub use meta::*;
pub use weird::Weird;
