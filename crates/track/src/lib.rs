//! Connection tracking with Zeek's semantics: one table of connections,
//! TCP/UDP/ICMP/unknown-transport machines, timers in packet time, reuse and
//! direction flips. Owns every connection outright; emits `ConnRecord`s when
//! connections are removed.
#![forbid(unsafe_code)]

pub mod ports;
pub mod site;
