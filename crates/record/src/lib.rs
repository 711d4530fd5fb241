//! The connection record (one conn.log row) and the writers that print it.
//!
//! `ConnRecord` is plain owned data in conn.log column order; it holds no
//! borrows and no I/O handles. Sinks format it exactly as Zeek's ASCII and
//! JSON writers do and never compute or reorder anything.
#![forbid(unsafe_code)]

use std::io;

mod conn;
mod json;
mod tsv;
mod uid;
mod weird;

pub use conn::*;
pub use json::JsonWriter;
pub use tsv::{conn_fields, local_wall_time, TsvWriter, WallClock};
pub use uid::{UidGen, UID_MAX_LEN};
pub use weird::{WeirdRecord, WeirdWriter};

/// Where finished connections go. Rows are written in the order given.
pub trait Sink {
    fn write(&mut self, r: &ConnRecord) -> io::Result<()>;
    /// Writes any footer and flushes; call once, after the last row.
    fn finish(&mut self) -> io::Result<()>;
}

impl<S: Sink + ?Sized> Sink for Box<S> {
    fn write(&mut self, r: &ConnRecord) -> io::Result<()> {
        (**self).write(r)
    }

    fn finish(&mut self) -> io::Result<()> {
        (**self).finish()
    }
}

/// Collects records in memory, for tests of the layers above.
impl Sink for Vec<ConnRecord> {
    fn write(&mut self, r: &ConnRecord) -> io::Result<()> {
        self.push(r.clone());
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Optional conn.log columns, appended after `ip_proto`: vlan-logging's
/// `vlan`, `inner_vlan`, then mac-logging's `orig_l2_addr`, `resp_l2_addr`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Columns {
    /// mac-logging: `orig_l2_addr`, `resp_l2_addr`.
    pub l2: bool,
    /// vlan-logging: `vlan`, `inner_vlan`.
    pub vlan: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sinks_are_object_safe() {
        let r = tsv::tests::teredo();
        let mut sinks: Vec<Box<dyn Sink>> = vec![
            Box::new(TsvWriter::new(io::sink(), Columns::default())),
            Box::new(JsonWriter::new(
                io::sink(),
                Columns {
                    l2: true,
                    vlan: true,
                },
            )),
            Box::new(Vec::new()),
        ];
        for s in &mut sinks {
            s.write(&r).unwrap();
            s.finish().unwrap();
        }
    }
}
