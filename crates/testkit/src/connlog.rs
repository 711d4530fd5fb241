//! Reading conn.log output in tests: masking, JSON/TSV agreement, diffs.
//!
//! Golden logs are Zeek TSV files whose volatile values are masked:
//! `#open`/`#close` read `XXXX-XX-XX-XX-XX-XX`, every `uid` reads `X`, and
//! each `tunnel_parents` element is written as `#N`, the 1-based number of
//! the row in the same file that has that uid (`X` for a parent without a
//! row, such as an IP tunnel). [`normalize_tsv`] brings real output into
//! that form.

use std::collections::HashMap;

use crate::json::{self, Value};

/// What `#open` and `#close` values are replaced with.
pub const MASKED_TIME: &str = "XXXX-XX-XX-XX-XX-XX";

/// A Zeek TSV log split into its parts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TsvLog {
    /// Column names from `#fields`.
    pub fields: Vec<String>,
    /// Column types from `#types` (empty if the line is missing).
    pub types: Vec<String>,
    /// The `#unset_field` value (`-` unless the header says otherwise).
    pub unset: String,
    /// Data rows, split on TAB.
    pub rows: Vec<Vec<String>>,
}

impl TsvLog {
    pub fn column(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f == name)
    }
}

/// Splits a TSV log; fails on rows before `#fields` or with the wrong number
/// of columns.
pub fn parse_tsv(text: &str) -> Result<TsvLog, String> {
    let mut log = TsvLog {
        unset: "-".into(),
        ..TsvLog::default()
    };
    for (n, line) in text.lines().enumerate() {
        if let Some(meta) = line.strip_prefix('#') {
            let mut parts = meta.split('\t');
            match parts.next() {
                Some("fields") => log.fields = parts.map(str::to_owned).collect(),
                Some("types") => log.types = parts.map(str::to_owned).collect(),
                Some("unset_field") => log.unset = parts.next().unwrap_or("-").to_owned(),
                _ => {}
            }
            continue;
        }
        if log.fields.is_empty() {
            return Err(format!("line {}: data before #fields", n + 1));
        }
        let row: Vec<String> = line.split('\t').map(str::to_owned).collect();
        if row.len() != log.fields.len() {
            return Err(format!(
                "line {}: {} columns, #fields names {}",
                n + 1,
                row.len(),
                log.fields.len()
            ));
        }
        log.rows.push(row);
    }
    Ok(log)
}

/// Masks the volatile parts of a TSV log (see the module documentation) and
/// returns it otherwise unchanged, line by line. Lines that cannot be parsed
/// are left as they are, so a diff still shows them.
pub fn normalize_tsv(text: &str) -> String {
    let log = parse_tsv(text).ok();
    let uid_col = log.as_ref().and_then(|l| l.column("uid"));
    let parents_col = log.as_ref().and_then(|l| l.column("tunnel_parents"));
    let unset = log.as_ref().map_or("-", |l| l.unset.as_str());
    let mut row_of_uid = HashMap::new();
    if let (Some(log), Some(u)) = (&log, uid_col) {
        for (i, row) in log.rows.iter().enumerate() {
            if row[u] != "X" {
                row_of_uid.entry(row[u].clone()).or_insert(i + 1);
            }
        }
    }
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let masked = if line.starts_with("#open\t") {
            format!("#open\t{MASKED_TIME}")
        } else if line.starts_with("#close\t") {
            format!("#close\t{MASKED_TIME}")
        } else if line.starts_with('#') || log.is_none() {
            line.to_owned()
        } else {
            let mut cells: Vec<String> = line.split('\t').map(str::to_owned).collect();
            if let Some(u) = uid_col {
                cells[u] = "X".into();
            }
            if let Some(p) = parents_col {
                let v = &cells[p];
                if v != unset && v != "(empty)" {
                    let mut refs: Vec<String> = v
                        .split(',')
                        .map(|uid| match row_of_uid.get(uid) {
                            Some(n) => format!("#{n}"),
                            None if uid.starts_with('#') => uid.to_owned(),
                            None => "X".to_owned(),
                        })
                        .collect();
                    refs.sort();
                    cells[p] = refs.join(",");
                }
            }
            cells.join("\t")
        };
        out.push_str(&masked);
        out.push('\n');
    }
    out
}

/// Parses JSON-lines output into one object per non-empty line.
pub fn parse_json_lines(text: &str) -> Result<Vec<Vec<(String, Value)>>, String> {
    let mut rows = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match json::parse(line) {
            Ok(Value::Object(members)) => rows.push(members),
            Ok(_) => return Err(format!("line {}: not a JSON object", n + 1)),
            Err(e) => return Err(format!("line {}: {e}", n + 1)),
        }
    }
    Ok(rows)
}

/// Checks that JSON-lines output says the same as a TSV log of the same run,
/// following Zeek's JSON rules: unset fields are omitted, times and intervals
/// are numbers (equal to the TSV value within 1.5 µs, as the TSV is rounded
/// to 6 decimals), counts and ports are integers, bools are `true`/`false`,
/// sets are arrays. uids are not compared (only their presence and count).
/// Returns one message per disagreement.
pub fn json_matches_tsv(tsv: &TsvLog, json_rows: &[Vec<(String, Value)>]) -> Vec<String> {
    let mut problems = Vec::new();
    if tsv.rows.len() != json_rows.len() {
        problems.push(format!(
            "TSV has {} rows, JSON has {}",
            tsv.rows.len(),
            json_rows.len()
        ));
    }
    for (i, (row, obj)) in tsv.rows.iter().zip(json_rows).enumerate() {
        let mut seen: Vec<&str> = Vec::new();
        for (k, _) in obj {
            if seen.contains(&k.as_str()) {
                problems.push(format!("row {}: key {k:?} twice", i + 1));
            }
            seen.push(k);
            if !tsv.fields.contains(k) {
                problems.push(format!("row {}: key {k:?} is not a TSV column", i + 1));
            }
        }
        for (c, (name, cell)) in tsv.fields.iter().zip(row).enumerate() {
            let ty = tsv.types.get(c).map_or("string", String::as_str);
            let got = obj.iter().find(|(k, _)| k == name).map(|(_, v)| v);
            if let Some(msg) = cell_problem(name, ty, cell, &tsv.unset, got) {
                problems.push(format!("row {} {name}: {msg}", i + 1));
            }
        }
    }
    problems
}

fn cell_problem(
    name: &str,
    ty: &str,
    cell: &str,
    unset: &str,
    got: Option<&Value>,
) -> Option<String> {
    let Some(v) = got else {
        return (cell != unset).then(|| format!("missing in JSON (TSV {cell:?})"));
    };
    if cell == unset {
        return Some(format!("TSV unset but JSON has {v:?}"));
    }
    let ok = match (ty, v) {
        ("time" | "interval" | "double", Value::Number(_)) => {
            match (cell.parse::<f64>(), v.as_f64()) {
                (Ok(a), Some(b)) => (a - b).abs() <= 1.5e-6,
                _ => false,
            }
        }
        ("count" | "port" | "int", Value::Number(n)) => n == cell,
        ("bool", Value::Bool(b)) => cell == if *b { "T" } else { "F" },
        (t, Value::Array(items)) if t.starts_with("set[") || t.starts_with("vector[") => {
            let tsv_len = if cell == "(empty)" {
                0
            } else {
                cell.split(',').count()
            };
            if name == "tunnel_parents" {
                items.len() == tsv_len
            } else {
                let mut a: Vec<String> = items.iter().map(json_text).collect();
                let mut b: Vec<String> = if tsv_len == 0 {
                    Vec::new()
                } else {
                    cell.split(',').map(str::to_owned).collect()
                };
                a.sort();
                b.sort();
                a == b
            }
        }
        (_, Value::String(s)) if name == "uid" => !s.is_empty(),
        ("string" | "addr" | "enum" | "subnet", Value::String(s)) => {
            s == cell || (cell == "(empty)" && s.is_empty())
        }
        _ => false,
    };
    (!ok).then(|| format!("TSV {cell:?} ({ty}) vs JSON {v:?}"))
}

fn json_text(v: &Value) -> String {
    match v {
        Value::String(s) | Value::Number(s) => s.clone(),
        other => format!("{other:?}"),
    }
}

/// A line diff in unified style (`-` expected, `+` actual, ` ` both), with
/// the whole file as context: golden logs are a few lines long.
pub fn diff(expected: &str, actual: &str) -> String {
    let a: Vec<&str> = expected.lines().collect();
    let b: Vec<&str> = actual.lines().collect();
    // lcs[i][j] = length of the longest common subsequence of a[i..], b[j..]
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut out = String::from("--- expected\n+++ actual\n");
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            out += &format!(" {}\n", a[i]);
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            out += &format!("-{}\n", a[i]);
            i += 1;
        } else {
            out += &format!("+{}\n", b[j]);
            j += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "#separator \\x09\n#unset_field\t-\n#open\t2024-05-01-13-45-12\n\
#fields\tts\tuid\tduration\tlocal_orig\ttunnel_parents\tproto\n\
#types\ttime\tstring\tinterval\tbool\tset[string]\tenum\n\
1.000000\tCaaa\t-\tT\t-\tudp\n\
2.000000\tCbbb\t8.928880\tF\tCaaa,Czzz\ttcp\n\
#close\t2024-05-01-13-45-13\n";

    #[test]
    fn normalize_masks_times_uids_and_parents() {
        let n = normalize_tsv(LOG);
        let lines: Vec<&str> = n.lines().collect();
        assert_eq!(lines[2], "#open\tXXXX-XX-XX-XX-XX-XX");
        assert_eq!(lines[5], "1.000000\tX\t-\tT\t-\tudp");
        assert_eq!(lines[6], "2.000000\tX\t8.928880\tF\t#1,X\ttcp");
        assert_eq!(lines[7], "#close\tXXXX-XX-XX-XX-XX-XX");
        // Already normalized text is a fixed point.
        assert_eq!(normalize_tsv(&n), n);
    }

    #[test]
    fn parse_rejects_ragged_rows() {
        assert!(parse_tsv("#fields\ta\tb\n1\n").is_err());
        assert!(parse_tsv("1\t2\n").is_err());
        assert_eq!(parse_tsv(LOG).unwrap().rows.len(), 2);
    }

    #[test]
    fn json_agreement() {
        let tsv = parse_tsv(LOG).unwrap();
        let good = "{\"ts\":1.0,\"uid\":\"Cq\",\"local_orig\":true,\"proto\":\"udp\"}\n\
{\"ts\":2.0,\"uid\":\"Cr\",\"duration\":8.928879976272583,\"local_orig\":false,\"tunnel_parents\":[\"Cq\",\"Cs\"],\"proto\":\"tcp\"}\n";
        let rows = parse_json_lines(good).unwrap();
        assert_eq!(json_matches_tsv(&tsv, &rows), Vec::<String>::new());

        let bad =
            "{\"ts\":1.0,\"uid\":\"Cq\",\"duration\":0,\"local_orig\":\"T\",\"proto\":\"udp\"}\n";
        let rows = parse_json_lines(bad).unwrap();
        let problems = json_matches_tsv(&tsv, &rows);
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(parse_json_lines("{\"a\":1}\n[1]\n").is_err());
    }

    #[test]
    fn diff_marks_changed_lines() {
        let d = diff("a\nb\nc\n", "a\nB\nc\nd\n");
        assert_eq!(d, "--- expected\n+++ actual\n a\n-b\n+B\n c\n+d\n");
    }
}
