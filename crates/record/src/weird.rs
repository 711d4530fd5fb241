//! weird.log rows and their TSV writer.
//!
//! Owns the weird.log column layout (`#path weird`); the header, footer and
//! value formatting are the conn.log writer's (`tsv::AsciiLog`, `put_*`).

use std::io::{self, Write};

use quartet_wire::{Addr, Timestamp};

use crate::tsv::{self, AsciiLog, WallClock};
use crate::Uid;

/// One weird.log row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WeirdRecord {
    pub ts: Timestamp,
    /// The connection the weird belongs to, if any.
    pub uid: Option<Uid>,
    /// `(orig_h, orig_p, resp_h, resp_p)` of that connection.
    pub id: Option<(Addr, u16, Addr, u16)>,
    pub name: String,
    pub addl: Option<String>,
    pub notice: bool,
    /// The Zeek node that saw it; `zeek` for a standalone run.
    pub peer: String,
    pub source: Option<String>,
}

const WEIRD_FIELDS: [(&str, &str); 11] = [
    ("ts", "time"),
    ("uid", "string"),
    ("id.orig_h", "addr"),
    ("id.orig_p", "port"),
    ("id.resp_h", "addr"),
    ("id.resp_p", "port"),
    ("name", "string"),
    ("addl", "string"),
    ("notice", "bool"),
    ("peer", "string"),
    ("source", "string"),
];

/// Writes weird.log in Zeek's TSV form.
pub struct WeirdWriter<W: Write> {
    log: AsciiLog<W>,
}

impl<W: Write> WeirdWriter<W> {
    /// A writer stamping `#open`/`#close` with the local wall-clock time.
    pub fn new(out: W) -> Self {
        Self::with_clock(out, tsv::local_wall_time)
    }

    /// A writer taking `#open`/`#close` times from `clock` (for tests).
    pub fn with_clock(out: W, clock: WallClock) -> Self {
        WeirdWriter {
            log: AsciiLog::new(out, "weird", WEIRD_FIELDS, clock),
        }
    }

    pub fn write(&mut self, w: &WeirdRecord) -> io::Result<()> {
        let o = self.log.row()?;
        tsv::put_time(o, w.ts)?;
        tsv::put_sep(o)?;
        match w.uid {
            Some(u) => tsv::put_uid(o, u)?,
            None => tsv::put_unset(o)?,
        }
        tsv::put_sep(o)?;
        match w.id {
            Some((oh, op, rh, rp)) => {
                tsv::put_addr(o, oh)?;
                tsv::put_sep(o)?;
                tsv::put_count(o, op.into())?;
                tsv::put_sep(o)?;
                tsv::put_addr(o, rh)?;
                tsv::put_sep(o)?;
                tsv::put_count(o, rp.into())?;
            }
            None => o.write_all(b"-\t-\t-\t-")?,
        }
        tsv::put_sep(o)?;
        tsv::put_str(o, w.name.as_bytes(), false)?;
        tsv::put_sep(o)?;
        tsv::put_opt_str(o, w.addl.as_deref())?;
        tsv::put_sep(o)?;
        tsv::put_bool(o, w.notice)?;
        tsv::put_sep(o)?;
        tsv::put_str(o, w.peer.as_bytes(), false)?;
        tsv::put_sep(o)?;
        tsv::put_opt_str(o, w.source.as_deref())?;
        o.write_all(b"\n")
    }

    /// Writes `#close` (if any row was written) and flushes.
    pub fn finish(&mut self) -> io::Result<()> {
        self.log.finish()
    }

    /// Flushes and returns the output (call `finish` first for `#close`).
    pub fn into_inner(self) -> io::Result<W> {
        self.log.into_inner()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsv::tests::clock;

    #[test]
    fn weird_log_exact_bytes() {
        let mut w = WeirdWriter::with_clock(Vec::new(), clock);
        w.write(&WeirdRecord {
            ts: Timestamp::from_micros(1_334_094_648_590_126),
            uid: None,
            id: None,
            name: "truncated_IP".into(),
            addl: None,
            notice: false,
            peer: "zeek".into(),
            source: None,
        })
        .unwrap();
        w.write(&WeirdRecord {
            ts: Timestamp::from_micros(1_334_094_648_600_000),
            uid: Some(Uid { hi: 1, lo: 2 }),
            id: Some((Addr::v4([10, 0, 0, 1]), 1234, Addr::v4([10, 0, 0, 2]), 80)),
            name: "bad_TCP_checksum".into(),
            addl: Some(String::new()),
            notice: true,
            peer: "zeek".into(),
            source: Some("TCP".into()),
        })
        .unwrap();
        w.finish().unwrap();
        let got = String::from_utf8(w.into_inner().unwrap()).unwrap();
        assert_eq!(
            got,
            "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n\
            #path\tweird\n#open\t2024-05-01-13-45-12\n\
            #fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tname\taddl\tnotice\t\
            peer\tsource\n\
            #types\ttime\tstring\taddr\tport\taddr\tport\tstring\tstring\tbool\tstring\tstring\n\
            1334094648.590126\t-\t-\t-\t-\t-\ttruncated_IP\t-\tF\tzeek\t-\n\
            1334094648.600000\tC12\t10.0.0.1\t1234\t10.0.0.2\t80\tbad_TCP_checksum\t(empty)\t\
            T\tzeek\tTCP\n\
            #close\t2024-05-01-13-45-12\n"
        );
    }
}
