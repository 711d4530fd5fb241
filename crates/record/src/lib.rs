//! The connection record (one conn.log row) and the writers that print it.
//!
//! `ConnRecord` is plain owned data in conn.log column order; it holds no
//! borrows and no I/O handles. Sinks format it exactly as Zeek's ASCII and
//! JSON writers do and never compute or reorder anything.
#![forbid(unsafe_code)]

mod conn;

pub use conn::*;
