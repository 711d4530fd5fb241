//! Zeek's JSON log form: one object per line (§2.5).
//!
//! Owns the JSON rendering of a `ConnRecord`: the TSV column names as keys in
//! the same order, unset fields omitted, times and intervals as doubles
//! printed the way rapidjson's `Writer::Double` prints them (shortest
//! round-trip digits, `3.0` for integral values, exponent form below
//! 1e-6 and from 1e21 on), counts as integers, sets as arrays. No meta lines.

use std::io::{self, BufWriter, Write};

use quartet_wire::Addr;

use crate::{Columns, ConnRecord, Sink, Uid, UID_MAX_LEN};

const BUF_CAPACITY: usize = 64 * 1024;

/// Writes conn.log as JSON lines.
pub struct JsonWriter<W: Write> {
    out: BufWriter<W>,
    columns: Columns,
    /// The line being formatted: one write per row, not one per value.
    row: Vec<u8>,
}

impl<W: Write> JsonWriter<W> {
    pub fn new(out: W, columns: Columns) -> Self {
        JsonWriter {
            out: BufWriter::with_capacity(BUF_CAPACITY, out),
            columns,
            row: Vec::with_capacity(1024),
        }
    }

    /// Flushes and returns the output.
    pub fn into_inner(self) -> io::Result<W> {
        self.out.into_inner().map_err(|e| e.into_error())
    }
}

/// Writes `"key":` preceded by a comma unless it is the first key.
fn key(o: &mut impl Write, k: &str) -> io::Result<()> {
    o.write_all(b",\"")?;
    o.write_all(k.as_bytes())?;
    o.write_all(b"\":")
}

fn put_u64(o: &mut impl Write, v: u64) -> io::Result<()> {
    o.write_all(itoa::Buffer::new().format(v).as_bytes())
}

fn put_uid(o: &mut impl Write, u: Uid) -> io::Result<()> {
    o.write_all(b"\"")?;
    o.write_all(u.encode(&mut [0; UID_MAX_LEN]).as_bytes())?;
    o.write_all(b"\"")
}

fn put_addr(o: &mut impl Write, a: Addr) -> io::Result<()> {
    o.write_all(b"\"")?;
    crate::tsv::put_addr(o, a)?;
    o.write_all(b"\"")
}

fn put_bool(o: &mut impl Write, v: bool) -> io::Result<()> {
    o.write_all(if v { b"true" } else { b"false" })
}

/// A JSON string. `"` and `\` are backslash-escaped, control bytes use the
/// short escapes or `\u00XX`, and bytes that are not valid UTF-8 print as
/// the text `\\xHH`, as Zeek's JSON formatter does.
pub(crate) fn put_json_str(o: &mut impl Write, s: &[u8]) -> io::Result<()> {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    o.write_all(b"\"")?;
    for chunk in s.utf8_chunks() {
        let valid = chunk.valid().as_bytes();
        let mut start = 0;
        for (i, &b) in valid.iter().enumerate() {
            let short: &[u8] = match b {
                b'"' => b"\\\"",
                b'\\' => b"\\\\",
                b'\n' => b"\\n",
                b'\r' => b"\\r",
                b'\t' => b"\\t",
                0x08 => b"\\b",
                0x0c => b"\\f",
                0..0x20 => &[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[usize::from(b >> 4)],
                    HEX[usize::from(b & 0xf)],
                ],
                _ => continue,
            };
            o.write_all(&valid[start..i])?;
            o.write_all(short)?;
            start = i + 1;
        }
        o.write_all(&valid[start..])?;
        for &b in chunk.invalid() {
            let lower = b"0123456789abcdef";
            o.write_all(&[
                b'\\',
                b'\\',
                b'x',
                lower[usize::from(b >> 4)],
                lower[usize::from(b & 0xf)],
            ])?;
        }
    }
    o.write_all(b"\"")
}

/// A double as rapidjson's `Writer::Double` prints it: the shortest digits
/// that round-trip, laid out by its `Prettify` rules. Non-finite values
/// print as `null` (Zeek's writer does that instead of failing).
pub(crate) fn put_json_f64(o: &mut impl Write, v: f64) -> io::Result<()> {
    if !v.is_finite() {
        return o.write_all(b"null");
    }
    if v.is_sign_negative() {
        o.write_all(b"-")?;
    }
    if v == 0.0 {
        return o.write_all(b"0.0");
    }
    // `{:e}` gives the shortest round-trip digits: `d[.ddd]e[-]x`.
    let mut sci = [0u8; 32];
    let n = {
        let mut cur = io::Cursor::new(&mut sci[..]);
        write!(cur, "{:e}", v.abs())?;
        cur.position() as usize
    };
    let sci = &sci[..n];
    let e_at = sci.iter().position(|&b| b == b'e').unwrap_or(n);
    let mut digits = [0u8; 20];
    let mut len = 0;
    for &b in sci[..e_at].iter().filter(|b| b.is_ascii_digit()) {
        digits[len] = b;
        len += 1;
    }
    let digits = &digits[..len];
    let exp: i32 = std::str::from_utf8(&sci[(e_at + 1).min(n)..])
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    // v = 0.digits * 10^kk, i.e. 10^(kk-1) <= v < 10^kk.
    let len = len as i32;
    let kk = exp + 1;
    let zeros = |o: &mut dyn Write, n: i32| -> io::Result<()> {
        for _ in 0..n {
            o.write_all(b"0")?;
        }
        Ok(())
    };
    if len <= kk && kk <= 21 {
        // 1234e7 -> 12340000000.0
        o.write_all(digits)?;
        zeros(o, kk - len)?;
        o.write_all(b".0")
    } else if 0 < kk && kk <= 21 {
        // 1234e-2 -> 12.34
        let kk = kk as usize;
        o.write_all(&digits[..kk])?;
        o.write_all(b".")?;
        o.write_all(&digits[kk..])
    } else if -6 < kk && kk <= 0 {
        // 1234e-6 -> 0.001234
        o.write_all(b"0.")?;
        zeros(o, -kk)?;
        o.write_all(digits)
    } else {
        // 1e30, 1.234e-33
        o.write_all(&digits[..1])?;
        if len > 1 {
            o.write_all(b".")?;
            o.write_all(&digits[1..])?;
        }
        o.write_all(b"e")?;
        o.write_all(itoa::Buffer::new().format(kk - 1).as_bytes())
    }
}

impl<W: Write> Sink for JsonWriter<W> {
    fn write(&mut self, r: &ConnRecord) -> io::Result<()> {
        let mut row = std::mem::take(&mut self.row);
        row.clear();
        // Writing to a vector cannot fail.
        let _ = json_row(&mut row, r, self.columns);
        let written = self.out.write_all(&row);
        self.row = row;
        written
    }

    fn finish(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Formats one JSON line with its newline.
fn json_row(o: &mut Vec<u8>, r: &ConnRecord, columns: Columns) -> io::Result<()> {
    o.write_all(b"{\"ts\":")?;
    put_json_f64(o, r.ts.as_f64())?;
    key(o, "uid")?;
    put_uid(o, r.uid)?;
    key(o, "id.orig_h")?;
    put_addr(o, r.orig_h)?;
    key(o, "id.orig_p")?;
    put_u64(o, r.orig_p.into())?;
    key(o, "id.resp_h")?;
    put_addr(o, r.resp_h)?;
    key(o, "id.resp_p")?;
    put_u64(o, r.resp_p.into())?;
    key(o, "proto")?;
    put_json_str(o, r.proto.name().as_bytes())?;
    if let Some(s) = &r.service {
        key(o, "service")?;
        put_json_str(o, s.as_bytes())?;
    }
    if r.duration_micros().is_some() {
        // Zeek subtracts the two doubles, so the noise of that
        // subtraction shows: 8.928879976272583, not 8.92888.
        key(o, "duration")?;
        put_json_f64(o, r.last_ts.as_f64() - r.ts.as_f64())?;
        key(o, "orig_bytes")?;
        put_u64(o, r.orig_bytes)?;
        key(o, "resp_bytes")?;
        put_u64(o, r.resp_bytes)?;
    }
    key(o, "conn_state")?;
    put_json_str(o, r.conn_state.name().as_bytes())?;
    if let Some(v) = r.local_orig {
        key(o, "local_orig")?;
        put_bool(o, v)?;
    }
    if let Some(v) = r.local_resp {
        key(o, "local_resp")?;
        put_bool(o, v)?;
    }
    key(o, "missed_bytes")?;
    put_u64(o, r.missed_bytes)?;
    if !r.history.is_empty() {
        key(o, "history")?;
        put_json_str(o, r.history.as_bytes())?;
    }
    for (k, v) in [
        ("orig_pkts", r.orig_pkts),
        ("orig_ip_bytes", r.orig_ip_bytes),
        ("resp_pkts", r.resp_pkts),
        ("resp_ip_bytes", r.resp_ip_bytes),
    ] {
        key(o, k)?;
        put_u64(o, v)?;
    }
    if let Some((first, rest)) = r.tunnel_parents.split_first() {
        key(o, "tunnel_parents")?;
        o.write_all(b"[")?;
        put_uid(o, *first)?;
        for u in rest {
            o.write_all(b",")?;
            put_uid(o, *u)?;
        }
        o.write_all(b"]")?;
    }
    key(o, "ip_proto")?;
    put_u64(o, r.ip_proto.into())?;
    if columns.vlan {
        for (k, v) in [("vlan", r.vlan), ("inner_vlan", r.inner_vlan)] {
            if let Some(v) = v {
                key(o, k)?;
                put_u64(o, v.into())?;
            }
        }
    }
    if columns.l2 {
        for (k, m) in [
            ("orig_l2_addr", r.orig_l2_addr),
            ("resp_l2_addr", r.resp_l2_addr),
        ] {
            if let Some(m) = m {
                key(o, k)?;
                o.write_all(b"\"")?;
                crate::tsv::put_mac(o, m)?;
                o.write_all(b"\"")?;
            }
        }
    }
    o.write_all(b"}\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsv::tests::{syn_only, teredo};

    fn f(v: f64) -> String {
        let mut o = Vec::new();
        put_json_f64(&mut o, v).unwrap();
        String::from_utf8(o).unwrap()
    }

    #[test]
    fn doubles_like_rapidjson() {
        assert_eq!(f(3.0), "3.0");
        assert_eq!(f(0.0), "0.0");
        assert_eq!(f(-0.0), "-0.0");
        assert_eq!(f(1210953052.202579), "1210953052.202579");
        assert_eq!(f(8.928879976272583), "8.928879976272583");
        assert_eq!(f(0.000357), "0.000357");
        assert_eq!(f(0.1), "0.1");
        assert_eq!(f(-2.5), "-2.5");
        assert_eq!(f(1e20), "100000000000000000000.0");
        assert_eq!(f(1e21), "1e21");
        assert_eq!(f(123e20), "1.23e22");
        assert_eq!(f(1.5e22), "1.5e22");
        assert_eq!(f(1e-6), "0.000001");
        assert_eq!(f(1e-7), "1e-7");
        assert_eq!(f(1.25e-7), "1.25e-7");
        assert_eq!(f(f64::NAN), "null");
        assert_eq!(f(f64::INFINITY), "null");
    }

    fn render(columns: Columns, r: &ConnRecord) -> String {
        let mut w = JsonWriter::new(Vec::new(), columns);
        w.write(r).unwrap();
        w.finish().unwrap();
        String::from_utf8(w.into_inner().unwrap()).unwrap()
    }

    #[test]
    fn teredo_example_of_the_spec() {
        // The uid of the spec's line, so the whole line compares verbatim.
        let r = ConnRecord {
            uid: Uid {
                hi: 2_634_953_715,
                lo: 1_932_270_900_258_979_652,
            },
            ..teredo()
        };
        assert_eq!(
            render(Columns::default(), &r),
            r#"{"ts":1210953052.202579,"uid":"CtPZjS20MLrsMUOJi2","id.orig_h":"192.168.2.16","id.orig_p":3797,"id.resp_h":"65.55.158.80","id.resp_p":3544,"proto":"udp","service":"teredo","duration":8.928879976272583,"orig_bytes":129,"resp_bytes":48,"conn_state":"SF","local_orig":true,"local_resp":false,"missed_bytes":0,"history":"Dd","orig_pkts":2,"orig_ip_bytes":185,"resp_pkts":1,"resp_ip_bytes":76,"ip_proto":17}"#
                .to_owned()
                + "\n"
        );
    }

    #[test]
    fn unset_fields_are_omitted() {
        let got = render(
            Columns {
                l2: true,
                vlan: true,
            },
            &syn_only(),
        );
        assert_eq!(
            got,
            "{\"ts\":1000000000.000005,\"uid\":\"C12\",\"id.orig_h\":\"2001::1\",\
            \"id.orig_p\":50000,\"id.resp_h\":\"10.0.0.1\",\"id.resp_p\":80,\"proto\":\"tcp\",\
            \"conn_state\":\"S0\",\"local_orig\":true,\"local_resp\":true,\"missed_bytes\":0,\
            \"history\":\"S\",\"orig_pkts\":1,\"orig_ip_bytes\":60,\"resp_pkts\":0,\
            \"resp_ip_bytes\":0,\"tunnel_parents\":[\"C34\",\"C56\"],\"ip_proto\":6,\"vlan\":13,\
            \"orig_l2_addr\":\"00:d0:03:3b:f4:00\"}\n"
        );
    }

    #[test]
    fn json_string_escaping() {
        let s = |b: &[u8]| {
            let mut o = Vec::new();
            put_json_str(&mut o, b).unwrap();
            String::from_utf8(o).unwrap()
        };
        assert_eq!(s(b"a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(s(b"\t\n\x01"), r#""\t\n\u0001""#);
        assert_eq!(s("é".as_bytes()), "\"é\"");
        assert_eq!(s(b"\xff"), r#""\\xff""#);
    }
}
