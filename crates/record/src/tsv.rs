//! Zeek's ASCII log format: meta lines, tab-separated rows, `#close`.
//!
//! Owns the byte-exact layout of a Zeek TSV log (§2.1-§2.4 of the semantics
//! document): the header, the value formatting (`-` for unset, `(empty)` for
//! empty, `T`/`F`, six-decimal times, string escaping) and the footer. The
//! header is written with the first row, as Zeek creates a log file lazily:
//! a run without rows writes nothing at all. Rows are formatted straight
//! into a `BufWriter`, without allocating.
//!
//! `AsciiLog` and the `put_*` helpers are shared with the weird.log writer.

use std::io::{self, BufWriter, Write};

use quartet_wire::{Addr, Timestamp};

use crate::{Columns, ConnRecord, Sink, Uid, UID_MAX_LEN};

/// Returns the wall-clock time for `#open`/`#close`, `%Y-%m-%d-%H-%M-%S`.
pub type WallClock = fn() -> String;

/// The current local time as Zeek prints it in `#open` and `#close`.
pub fn local_wall_time() -> String {
    chrono::Local::now().format("%Y-%m-%d-%H-%M-%S").to_string()
}

const BUF_CAPACITY: usize = 64 * 1024;

/// The 22 default conn.log columns, then the optional ones in Zeek's load
/// order (vlan-logging assumed before mac-logging).
const CONN_FIELDS: [(&str, &str); 22] = [
    ("ts", "time"),
    ("uid", "string"),
    ("id.orig_h", "addr"),
    ("id.orig_p", "port"),
    ("id.resp_h", "addr"),
    ("id.resp_p", "port"),
    ("proto", "enum"),
    ("service", "string"),
    ("duration", "interval"),
    ("orig_bytes", "count"),
    ("resp_bytes", "count"),
    ("conn_state", "string"),
    ("local_orig", "bool"),
    ("local_resp", "bool"),
    ("missed_bytes", "count"),
    ("history", "string"),
    ("orig_pkts", "count"),
    ("orig_ip_bytes", "count"),
    ("resp_pkts", "count"),
    ("resp_ip_bytes", "count"),
    ("tunnel_parents", "set[string]"),
    ("ip_proto", "count"),
];
const VLAN_FIELDS: [(&str, &str); 2] = [("vlan", "int"), ("inner_vlan", "int")];
const L2_FIELDS: [(&str, &str); 2] = [("orig_l2_addr", "string"), ("resp_l2_addr", "string")];

/// The `(name, type)` pairs of conn.log's columns for `columns`, in order.
pub fn conn_fields(columns: Columns) -> impl Iterator<Item = (&'static str, &'static str)> {
    let vlan: &[_] = if columns.vlan { &VLAN_FIELDS } else { &[] };
    let l2: &[_] = if columns.l2 { &L2_FIELDS } else { &[] };
    CONN_FIELDS.iter().chain(vlan).chain(l2).copied()
}

/// One Zeek ASCII log stream: writes the header before the first row and
/// `#close` on finish.
pub(crate) struct AsciiLog<W: Write> {
    out: BufWriter<W>,
    path: &'static str,
    fields: Vec<(&'static str, &'static str)>,
    clock: WallClock,
    opened: bool,
}

impl<W: Write> AsciiLog<W> {
    pub(crate) fn new(
        out: W,
        path: &'static str,
        fields: impl IntoIterator<Item = (&'static str, &'static str)>,
        clock: WallClock,
    ) -> Self {
        AsciiLog {
            out: BufWriter::with_capacity(BUF_CAPACITY, out),
            path,
            fields: fields.into_iter().collect(),
            clock,
            opened: false,
        }
    }

    /// The output, with the header written if this is the first row.
    pub(crate) fn row(&mut self) -> io::Result<&mut BufWriter<W>> {
        if !self.opened {
            self.opened = true;
            self.write_header()?;
        }
        Ok(&mut self.out)
    }

    fn write_header(&mut self) -> io::Result<()> {
        let o = &mut self.out;
        // A space, not a tab, after `#separator`; the tab is spelled `\x09`.
        o.write_all(b"#separator \\x09\n#set_separator\t,\n")?;
        o.write_all(b"#empty_field\t(empty)\n#unset_field\t-\n")?;
        writeln!(o, "#path\t{}", self.path)?;
        writeln!(o, "#open\t{}", (self.clock)())?;
        o.write_all(b"#fields")?;
        for (name, _) in &self.fields {
            write!(o, "\t{name}")?;
        }
        o.write_all(b"\n#types")?;
        for (_, ty) in &self.fields {
            write!(o, "\t{ty}")?;
        }
        o.write_all(b"\n")
    }

    /// Writes `#close` (if the log was opened) and flushes.
    pub(crate) fn finish(&mut self) -> io::Result<()> {
        if self.opened {
            writeln!(self.out, "#close\t{}", (self.clock)())?;
        }
        self.out.flush()
    }

    pub(crate) fn into_inner(self) -> io::Result<W> {
        self.out.into_inner().map_err(|e| e.into_error())
    }
}

pub(crate) fn put_sep(o: &mut impl Write) -> io::Result<()> {
    o.write_all(b"\t")
}

pub(crate) fn put_unset(o: &mut impl Write) -> io::Result<()> {
    o.write_all(b"-")
}

pub(crate) fn put_count(o: &mut impl Write, v: u64) -> io::Result<()> {
    o.write_all(itoa::Buffer::new().format(v).as_bytes())
}

pub(crate) fn put_bool(o: &mut impl Write, v: bool) -> io::Result<()> {
    o.write_all(if v { b"T" } else { b"F" })
}

/// `time`/`interval` from integer microseconds: six fixed decimals.
pub(crate) fn put_time(o: &mut impl Write, t: Timestamp) -> io::Result<()> {
    let us = t.micros();
    if us < 0 {
        return write!(o, "{t}");
    }
    let mut frac = *b".000000";
    let mut r = (us % 1_000_000) as u32;
    for d in frac[1..].iter_mut().rev() {
        *d = b'0' + (r % 10) as u8;
        r /= 10;
    }
    o.write_all(itoa::Buffer::new().format(us / 1_000_000).as_bytes())?;
    o.write_all(&frac)
}

pub(crate) fn put_addr(o: &mut impl Write, a: Addr) -> io::Result<()> {
    if !a.is_v4() {
        return write!(o, "{a}");
    }
    // A dotted quad by hand: the formatting machinery costs far more.
    let mut buf = [0u8; 15];
    let mut n = 0;
    for (i, b) in a.octets_v4().into_iter().enumerate() {
        if i > 0 {
            buf[n] = b'.';
            n += 1;
        }
        if b >= 100 {
            buf[n] = b'0' + b / 100;
            n += 1;
        }
        if b >= 10 {
            buf[n] = b'0' + b / 10 % 10;
            n += 1;
        }
        buf[n] = b'0' + b % 10;
        n += 1;
    }
    o.write_all(&buf[..n])
}

pub(crate) fn put_uid(o: &mut impl Write, u: Uid) -> io::Result<()> {
    o.write_all(u.encode(&mut [0; UID_MAX_LEN]).as_bytes())
}

pub(crate) fn put_opt_bool(o: &mut impl Write, v: Option<bool>) -> io::Result<()> {
    match v {
        Some(v) => put_bool(o, v),
        None => put_unset(o),
    }
}

pub(crate) fn put_opt_str(o: &mut impl Write, v: Option<&str>) -> io::Result<()> {
    match v {
        Some(s) => put_str(o, s.as_bytes(), false),
        None => put_unset(o),
    }
}

/// Lower-case hex with colons, as mac-logging prints link-layer addresses.
pub(crate) fn put_mac(o: &mut impl Write, m: [u8; 6]) -> io::Result<()> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut buf = [b':'; 17];
    for (i, b) in m.iter().enumerate() {
        buf[3 * i] = HEX[usize::from(b >> 4)];
        buf[3 * i + 1] = HEX[usize::from(b & 0xf)];
    }
    o.write_all(&buf)
}

fn put_hex_escape(o: &mut impl Write, b: u8) -> io::Result<()> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    o.write_all(&[
        b'\\',
        b'x',
        HEX[usize::from(b >> 4)],
        HEX[usize::from(b & 0xf)],
    ])
}

/// A string value, escaped as Zeek's ASCII writer does: empty prints
/// `(empty)`; a value equal to `-` or `(empty)` gets its first byte
/// escaped so it cannot be read as unset/empty; control bytes, `\`, and
/// bytes that are not valid UTF-8 print as `\xHH`; inside a set the set
/// separator `,` does too. The field separator (TAB) is a control byte.
pub(crate) fn put_str(o: &mut impl Write, s: &[u8], in_set: bool) -> io::Result<()> {
    // Printable ASCII without `\` or `,` (history letters, service names)
    // is written as it is.
    if s.len() > 1
        && s.iter()
            .all(|&b| (0x20..0x7f).contains(&b) && b != b'\\' && b != b',')
        && s != b"(empty)"
    {
        return o.write_all(s);
    }
    let mut s = s;
    match s {
        b"" => return o.write_all(b"(empty)"),
        b"-" | b"(empty)" => {
            put_hex_escape(o, s[0])?;
            s = &s[1..];
        }
        _ => {}
    }
    for chunk in s.utf8_chunks() {
        let valid = chunk.valid().as_bytes();
        let mut start = 0;
        for (i, &b) in valid.iter().enumerate() {
            if b < 0x20 || b == 0x7f || b == b'\\' || (in_set && b == b',') {
                o.write_all(&valid[start..i])?;
                put_hex_escape(o, b)?;
                start = i + 1;
            }
        }
        o.write_all(&valid[start..])?;
        for &b in chunk.invalid() {
            put_hex_escape(o, b)?;
        }
    }
    Ok(())
}

/// Writes conn.log in Zeek's TSV form.
pub struct TsvWriter<W: Write> {
    log: AsciiLog<W>,
    columns: Columns,
    /// The row being formatted: one write per row, not one per value.
    row: Vec<u8>,
}

impl<W: Write> TsvWriter<W> {
    /// A writer stamping `#open`/`#close` with the local wall-clock time.
    pub fn new(out: W, columns: Columns) -> Self {
        Self::with_clock(out, columns, local_wall_time)
    }

    /// A writer taking `#open`/`#close` times from `clock` (for tests).
    pub fn with_clock(out: W, columns: Columns, clock: WallClock) -> Self {
        TsvWriter {
            log: AsciiLog::new(out, "conn", conn_fields(columns), clock),
            columns,
            row: Vec::with_capacity(512),
        }
    }

    /// Flushes and returns the output (call `finish` first for `#close`).
    pub fn into_inner(self) -> io::Result<W> {
        self.log.into_inner()
    }
}

impl<W: Write> Sink for TsvWriter<W> {
    fn write(&mut self, r: &ConnRecord) -> io::Result<()> {
        let mut row = std::mem::take(&mut self.row);
        row.clear();
        // Writing to a vector cannot fail.
        let _ = format_row(&mut row, r, self.columns);
        let written = self.log.row().and_then(|o| o.write_all(&row));
        self.row = row;
        written
    }

    fn finish(&mut self) -> io::Result<()> {
        self.log.finish()
    }
}

/// The conn.log row's own forms of `put_count`, `put_time`, `put_uid` and
/// `put_addr`, writing to the end of the row's vector: each reserves a
/// fixed number of bytes (stores the compiler writes inline), puts the
/// text in place and cuts the vector back to its end. Writing a value's
/// few bytes as a slice of varying length is a call to `memcpy`, and a
/// row has twenty such values: on captures of many short connections those
/// calls were most of the time spent formatting rows (perf on the churn
/// capture), which is a tenth of a one-thread run there.
mod row {
    use quartet_wire::{Addr, Timestamp};

    use crate::{Uid, UID_MAX_LEN};

    /// "00" to "99", for two digits at a time.
    static PAIRS: [u8; 200] = {
        let mut t = [0u8; 200];
        let mut i = 0;
        while i < 100 {
            t[2 * i] = b'0' + (i / 10) as u8;
            t[2 * i + 1] = b'0' + (i % 10) as u8;
            i += 1;
        }
        t
    };

    /// Writes the decimal digits of `v` over all of `d`, which is exactly
    /// as long as the number has digits.
    #[inline]
    fn digits(d: &mut [u8], mut v: u64) {
        let mut i = d.len();
        while v >= 100 {
            let p = (v % 100) as usize * 2;
            v /= 100;
            i -= 2;
            d[i] = PAIRS[p];
            d[i + 1] = PAIRS[p + 1];
        }
        if v >= 10 {
            let p = v as usize * 2;
            d[i - 2] = PAIRS[p];
            d[i - 1] = PAIRS[p + 1];
        } else {
            d[i - 1] = b'0' + v as u8;
        }
    }

    #[inline]
    fn len10(v: u64) -> usize {
        v.checked_ilog10().map_or(1, |l| l as usize + 1)
    }

    #[inline]
    pub(super) fn count(o: &mut Vec<u8>, v: u64) {
        let (start, n) = (o.len(), len10(v));
        o.extend_from_slice(&[0; 20]);
        digits(&mut o[start..start + n], v);
        o.truncate(start + n);
    }

    /// `time`/`interval` with six decimals; a time before 1970 takes the
    /// general path.
    #[inline]
    pub(super) fn time(o: &mut Vec<u8>, t: Timestamp) {
        let us = t.micros();
        if us < 0 {
            let _ = super::put_time(o, t);
            return;
        }
        let (secs, frac) = ((us / 1_000_000) as u64, (us % 1_000_000) as u64);
        let (start, n) = (o.len(), len10(secs));
        // The fraction's leading zeros are the fill.
        o.extend_from_slice(&[b'0'; 27]);
        digits(&mut o[start..start + n], secs);
        o[start + n] = b'.';
        digits(&mut o[start + n + 1..start + n + 7], frac);
        o.truncate(start + n + 7);
    }

    #[inline]
    pub(super) fn uid(o: &mut Vec<u8>, u: Uid) {
        let start = o.len();
        o.extend_from_slice(&[0; UID_MAX_LEN]);
        let buf: &mut [u8; UID_MAX_LEN] = (&mut o[start..])
            .try_into()
            .expect("UID_MAX_LEN bytes were added");
        let n = u.encode_bytes(buf);
        o.truncate(start + n);
    }

    /// A dotted quad in place; IPv6 takes the general path.
    #[inline]
    pub(super) fn addr(o: &mut Vec<u8>, a: Addr) {
        if !a.is_v4() {
            let _ = super::put_addr(o, a);
            return;
        }
        let start = o.len();
        o.extend_from_slice(&[0; 15]);
        let mut n = start;
        for (i, b) in a.octets_v4().into_iter().enumerate() {
            if i > 0 {
                o[n] = b'.';
                n += 1;
            }
            let k = len10(b.into());
            digits(&mut o[n..n + k], b.into());
            n += k;
        }
        o.truncate(n);
    }
}

/// Formats one conn.log row with its newline.
fn format_row(o: &mut Vec<u8>, r: &ConnRecord, columns: Columns) -> io::Result<()> {
    row::time(o, r.ts);
    o.push(b'\t');
    row::uid(o, r.uid);
    o.push(b'\t');
    row::addr(o, r.orig_h);
    o.push(b'\t');
    row::count(o, r.orig_p.into());
    o.push(b'\t');
    row::addr(o, r.resp_h);
    o.push(b'\t');
    row::count(o, r.resp_p.into());
    o.push(b'\t');
    o.write_all(r.proto.name().as_bytes())?;
    put_sep(o)?;
    put_opt_str(o, r.service.as_deref())?;
    put_sep(o)?;
    // duration, orig_bytes and resp_bytes are set together, only when
    // the duration is positive (§2.2).
    match r.duration_micros() {
        Some(d) => {
            row::time(o, Timestamp::from_micros(d));
            o.push(b'\t');
            row::count(o, r.orig_bytes);
            o.push(b'\t');
            row::count(o, r.resp_bytes);
        }
        None => o.extend_from_slice(b"-\t-\t-"),
    }
    o.push(b'\t');
    o.extend_from_slice(r.conn_state.name().as_bytes());
    o.push(b'\t');
    put_opt_bool(o, r.local_orig)?;
    o.push(b'\t');
    put_opt_bool(o, r.local_resp)?;
    o.push(b'\t');
    row::count(o, r.missed_bytes);
    o.push(b'\t');
    put_opt_str(o, (!r.history.is_empty()).then_some(r.history.as_str()))?;
    for v in [r.orig_pkts, r.orig_ip_bytes, r.resp_pkts, r.resp_ip_bytes] {
        o.push(b'\t');
        row::count(o, v);
    }
    o.push(b'\t');
    // An empty set is never logged: the field is unset (`-`).
    match r.tunnel_parents.split_first() {
        None => o.push(b'-'),
        Some((first, rest)) => {
            row::uid(o, *first);
            for u in rest {
                o.push(b',');
                row::uid(o, *u);
            }
        }
    }
    o.push(b'\t');
    row::count(o, r.ip_proto.into());
    if columns.vlan {
        for v in [r.vlan, r.inner_vlan] {
            o.push(b'\t');
            match v {
                Some(v) => row::count(o, v.into()),
                None => o.push(b'-'),
            }
        }
    }
    if columns.l2 {
        for m in [r.orig_l2_addr, r.resp_l2_addr] {
            put_sep(o)?;
            match m {
                Some(m) => put_mac(o, m)?,
                None => put_unset(o)?,
            }
        }
    }
    o.write_all(b"\n")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::{ConnState, Proto};

    pub(crate) fn clock() -> String {
        "2024-05-01-13-45-12".to_string()
    }

    /// The row's in-place writers print what the general ones print, at
    /// every digit count and after text already in the row.
    #[test]
    fn row_writers_match_the_general_ones() {
        let mut values = vec![0u64, 1, 9, 10, 11, 99, 100, 101, 65_535, u64::MAX];
        for p in 0..20 {
            let t = 10u64.pow(p);
            values.extend([t - 1, t, t + 1]);
            values.extend(t.checked_mul(7).map(|m| m + 3));
        }
        let general = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut v = b"x\t".to_vec();
            f(&mut v);
            v
        };
        for &v in &values {
            let want = general(&|o| put_count(o, v).unwrap());
            assert_eq!(general(&|o| row::count(o, v)), want, "count {v}");
        }
        for us in [
            0i64,
            5,
            999_999,
            1_000_000,
            1_000_005,
            1_210_953_052_202_579,
            i64::MAX,
            -1,
            -1_500_000,
        ] {
            let t = Timestamp::from_micros(us);
            let want = general(&|o| put_time(o, t).unwrap());
            assert_eq!(general(&|o| row::time(o, t)), want, "time {us}");
        }
        for (hi, lo) in [
            (0, 0),
            (7, 99),
            (u32::MAX, u64::MAX),
            (61, 62),
            (1, 1 << 40),
        ] {
            let u = Uid { hi, lo };
            let want = general(&|o| put_uid(o, u).unwrap());
            assert_eq!(general(&|o| row::uid(o, u)), want, "uid {hi} {lo}");
        }
        for a in [
            Addr::v4([0, 0, 0, 0]),
            Addr::v4([255, 255, 255, 255]),
            Addr::v4([10, 9, 100, 99]),
            Addr::v4([1, 22, 103, 4]),
            Addr::v6([0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
        ] {
            let want = general(&|o| put_addr(o, a).unwrap());
            assert_eq!(general(&|o| row::addr(o, a)), want, "addr {a:?}");
        }
    }

    /// The Teredo UDP connection of §2.5 / §15.
    pub(crate) fn teredo() -> ConnRecord {
        ConnRecord {
            ts: Timestamp::from_micros(1_210_953_052_202_579),
            last_ts: Timestamp::from_micros(1_210_953_061_131_459),
            uid: Uid { hi: 7, lo: 99 },
            orig_h: Addr::v4([192, 168, 2, 16]),
            orig_p: 3797,
            resp_h: Addr::v4([65, 55, 158, 80]),
            resp_p: 3544,
            proto: Proto::Udp,
            service: Some("teredo".into()),
            orig_bytes: 129,
            resp_bytes: 48,
            conn_state: ConnState::SF,
            local_orig: Some(true),
            local_resp: Some(false),
            missed_bytes: 0,
            history: "Dd".into(),
            orig_pkts: 2,
            orig_ip_bytes: 185,
            resp_pkts: 1,
            resp_ip_bytes: 76,
            tunnel_parents: vec![],
            ip_proto: 17,
            orig_l2_addr: None,
            resp_l2_addr: None,
            vlan: None,
            inner_vlan: None,
            order: Default::default(),
        }
    }

    /// A single-SYN S0 inside a tunnel: duration and byte counts unset.
    pub(crate) fn syn_only() -> ConnRecord {
        ConnRecord {
            ts: Timestamp::from_micros(1_000_000_000_000_005),
            last_ts: Timestamp::from_micros(1_000_000_000_000_005),
            uid: Uid { hi: 1, lo: 2 },
            orig_h: Addr::v6([0x20, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
            orig_p: 50000,
            resp_h: Addr::v4([10, 0, 0, 1]),
            resp_p: 80,
            proto: Proto::Tcp,
            service: None,
            orig_bytes: 0,
            resp_bytes: 0,
            conn_state: ConnState::S0,
            local_orig: Some(true),
            local_resp: Some(true),
            missed_bytes: 0,
            history: "S".into(),
            orig_pkts: 1,
            orig_ip_bytes: 60,
            resp_pkts: 0,
            resp_ip_bytes: 0,
            tunnel_parents: vec![Uid { hi: 3, lo: 4 }, Uid { hi: 5, lo: 6 }],
            ip_proto: 6,
            orig_l2_addr: Some([0x00, 0xd0, 0x03, 0x3b, 0xf4, 0x00]),
            resp_l2_addr: None,
            vlan: Some(13),
            inner_vlan: None,
            order: Default::default(),
        }
    }

    fn render(columns: Columns, records: &[ConnRecord]) -> String {
        let mut w = TsvWriter::with_clock(Vec::new(), columns, clock);
        for r in records {
            w.write(r).unwrap();
        }
        w.finish().unwrap();
        String::from_utf8(w.into_inner().unwrap()).unwrap()
    }

    const HEAD: &str = "#separator \\x09\n\
        #set_separator\t,\n\
        #empty_field\t(empty)\n\
        #unset_field\t-\n\
        #path\tconn\n\
        #open\t2024-05-01-13-45-12\n";
    const FIELDS: &str = "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\t\
        proto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\t\
        local_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\t\
        resp_ip_bytes\ttunnel_parents\tip_proto";
    const TYPES: &str = "#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\t\
        interval\tcount\tcount\tstring\tbool\tbool\tcount\tstring\tcount\tcount\t\
        count\tcount\tset[string]\tcount";

    #[test]
    fn default_columns_exact_bytes() {
        let got = render(Columns::default(), &[teredo(), syn_only()]);
        let want = format!(
            "{HEAD}{FIELDS}\n{TYPES}\n\
            1210953052.202579\tC7B1\t192.168.2.16\t3797\t65.55.158.80\t3544\tudp\tteredo\t\
            8.928880\t129\t48\tSF\tT\tF\t0\tDd\t2\t185\t1\t76\t-\t17\n\
            1000000000.000005\tC12\t2001::1\t50000\t10.0.0.1\t80\ttcp\t-\t-\t-\t-\tS0\tT\tT\t\
            0\tS\t1\t60\t0\t0\tC34,C56\t6\n\
            #close\t2024-05-01-13-45-12\n"
        );
        assert_eq!(got, want);
    }

    #[test]
    fn optional_columns_vlan_then_l2() {
        let got = render(
            Columns {
                l2: true,
                vlan: true,
            },
            &[syn_only()],
        );
        let want = format!(
            "{HEAD}{FIELDS}\tvlan\tinner_vlan\torig_l2_addr\tresp_l2_addr\n\
            {TYPES}\tint\tint\tstring\tstring\n\
            1000000000.000005\tC12\t2001::1\t50000\t10.0.0.1\t80\ttcp\t-\t-\t-\t-\tS0\tT\tT\t\
            0\tS\t1\t60\t0\t0\tC34,C56\t6\t13\t-\t00:d0:03:3b:f4:00\t-\n\
            #close\t2024-05-01-13-45-12\n"
        );
        assert_eq!(got, want);
    }

    #[test]
    fn header_matches_corpus_l2_case() {
        // core.history-flip: mac-logging alone.
        let got = render(
            Columns {
                l2: true,
                vlan: false,
            },
            &[teredo()],
        );
        assert!(got.contains(&format!("{FIELDS}\torig_l2_addr\tresp_l2_addr\n")));
        assert!(got.contains(&format!("{TYPES}\tstring\tstring\n")));
        assert!(got.contains("\t17\t-\t-\n"));
    }

    #[test]
    fn no_rows_writes_nothing() {
        assert_eq!(render(Columns::default(), &[]), "");
    }

    fn escaped(s: &[u8], in_set: bool) -> String {
        let mut v = Vec::new();
        put_str(&mut v, s, in_set).unwrap();
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn string_escaping() {
        assert_eq!(escaped(b"", false), "(empty)");
        assert_eq!(escaped(b"-", false), "\\x2d");
        assert_eq!(escaped(b"(empty)", false), "\\x28empty)");
        assert_eq!(escaped(b"--", false), "--");
        assert_eq!(escaped(b"a\tb\x7f\n", false), "a\\x09b\\x7f\\x0a");
        assert_eq!(escaped(b"a\\b", false), "a\\x5cb");
        assert_eq!(escaped(b"krb,gssapi", false), "krb,gssapi");
        assert_eq!(escaped(b"a,b", true), "a\\x2cb");
        assert_eq!(escaped("caf\u{e9}".as_bytes(), false), "caf\u{e9}");
        assert_eq!(escaped(b"x\xff\xc3", false), "x\\xff\\xc3");
    }

    #[test]
    fn time_formatting() {
        let t = |us| {
            let mut v = Vec::new();
            put_time(&mut v, Timestamp::from_micros(us)).unwrap();
            String::from_utf8(v).unwrap()
        };
        for us in [
            0,
            5,
            357,
            1_000_000,
            8_928_880,
            1_210_953_047_736_921,
            -1,
            -1_500_000,
        ] {
            assert_eq!(t(us), Timestamp::from_micros(us).to_string());
        }
        assert_eq!(t(357), "0.000357");
    }

    #[test]
    fn v4_addresses_by_hand() {
        for b in [0u8, 1, 9, 10, 42, 99, 100, 101, 199, 200, 255] {
            for a in [Addr::v4([b, 0, b, 255]), Addr::v4([255, b, 7, b])] {
                let mut v = Vec::new();
                put_addr(&mut v, a).unwrap();
                assert_eq!(String::from_utf8(v).unwrap(), a.to_string());
            }
        }
    }

    #[test]
    fn mac_formatting() {
        let mut v = Vec::new();
        put_mac(&mut v, [0xaa, 0xbb, 0x0c, 0xdd, 0xee, 0x0f]).unwrap();
        assert_eq!(v, b"aa:bb:0c:dd:ee:0f");
    }

    #[test]
    fn local_wall_time_shape() {
        let s = local_wall_time();
        assert_eq!(s.len(), 19);
        assert!(s
            .bytes()
            .enumerate()
            .all(|(i, b)| if [4, 7, 10, 13, 16].contains(&i) {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }));
    }
}
