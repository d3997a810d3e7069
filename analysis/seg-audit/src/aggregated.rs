//! `seg audit --aggregated FILE`: the result of the emitted SQL
//! ([`crate::sql`]), saved as CSV with its header or as JSON lines, read
//! back into an [`Aggregate`] exactly as the streaming path builds one.

use crate::aggregate::interface_gaps;
use crate::model::{Aggregate, Counts, Endpoint, Gap, GapCause, Interface, TupleKey, Window};
use crate::plan::Plan;
use seg_check::inventory::Inventory;
use seg_flows::{GapKind, Verdict};
use seg_ir::{IdentityId, Timestamp};
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::Path;

/// Read an aggregated file; `Err` is a message naming the file and line.
pub fn read_file(path: &Path, plan: &Plan, inventory: &Inventory) -> Result<Aggregate, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    read(&path.display().to_string(), &text, plan, inventory)
}

/// 9999-12-31T23:59:59Z, the latest time a row may carry.
const LATEST: i64 = 253_402_300_799;

/// One row, by column name.
type Row = HashMap<String, Option<String>>;

pub fn read(
    name: &str,
    text: &str,
    plan: &Plan,
    inventory: &Inventory,
) -> Result<Aggregate, String> {
    let rows = if text.trim_start().starts_with('{') {
        json_rows(name, text)?
    } else {
        csv_rows(name, text)?
    };
    let ids: HashMap<&str, IdentityId> = inventory
        .identities
        .iter()
        .map(|i| (i.name.as_str(), i.id))
        .collect();
    let mut agg = Builder {
        name,
        ids,
        tuples: BTreeMap::new(),
        covered: BTreeMap::new(),
        gaps: BTreeMap::new(),
        endpoints: BTreeMap::new(),
        counters: Default::default(),
    };
    for (line, row) in rows {
        agg.row(line, &row)?;
    }
    Ok(agg.finish(plan))
}

struct Builder<'a> {
    name: &'a str,
    ids: HashMap<&'a str, IdentityId>,
    tuples: BTreeMap<TupleKey, Counts>,
    covered: BTreeMap<String, Vec<(Timestamp, Timestamp)>>,
    gaps: BTreeMap<Option<String>, Vec<(i64, i64, GapKind)>>,
    endpoints: BTreeMap<String, std::collections::BTreeSet<Endpoint>>,
    counters: crate::model::Counters,
}

impl Builder<'_> {
    fn err(&self, line: usize, msg: impl std::fmt::Display) -> String {
        format!("{}:{line}: {msg}", self.name)
    }

    fn get<'r>(&self, row: &'r Row, col: &str) -> Option<&'r str> {
        row.get(col)
            .and_then(|v| v.as_deref())
            .filter(|s| !s.is_empty())
    }

    fn int(&self, line: usize, row: &Row, col: &str) -> Result<Option<i64>, String> {
        match self.get(row, col) {
            None => Ok(None),
            Some(s) => s
                .parse::<i64>()
                .map(Some)
                .map_err(|_| self.err(line, format!("`{col}` is not a whole number: `{s}`"))),
        }
    }

    fn need(&self, line: usize, row: &Row, col: &str) -> Result<i64, String> {
        self.int(line, row, col)?
            .ok_or_else(|| self.err(line, format!("`{col}` is missing")))
    }

    /// A `first_seen`–`last_seen` span: Unix seconds of years 1970–9999, in order.
    fn span(&self, line: usize, row: &Row) -> Result<(i64, i64), String> {
        let mut out = [0; 2];
        for (slot, col) in out.iter_mut().zip(["first_seen", "last_seen"]) {
            let t = self.need(line, row, col)?;
            if !(0..=LATEST).contains(&t) {
                return Err(self.err(
                    line,
                    format!("`{col}` is not a time in Unix seconds from 1970 to 9999: `{t}`"),
                ));
            }
            *slot = t;
        }
        let [a, b] = out;
        if b < a {
            return Err(self.err(line, "`last_seen` is before `first_seen`"));
        }
        Ok((a, b))
    }

    fn endpoint(&self, line: usize, row: &Row, id: &str, addr: &str) -> Result<Endpoint, String> {
        if let Some(name) = self.get(row, id) {
            return self
                .ids
                .get(name)
                .map(|i| Endpoint::Identity(*i))
                .ok_or_else(|| {
                    self.err(
                        line,
                        format!("identity `{name}` is not in the inventory: was the SQL emitted from another one?"),
                    )
                });
        }
        let a = self
            .get(row, addr)
            .ok_or_else(|| self.err(line, format!("neither `{id}` nor `{addr}` is given")))?;
        a.parse::<IpAddr>()
            .map(Endpoint::Address)
            .map_err(|_| self.err(line, format!("`{addr}` is not an address: `{a}`")))
    }

    fn row(&mut self, line: usize, row: &Row) -> Result<(), String> {
        let kind = self.get(row, "kind").unwrap_or("");
        match kind {
            "tuple" => {
                let protocol = self.need(line, row, "protocol")?;
                let port = self.need(line, row, "port")?;
                let verdict = self
                    .get(row, "verdict")
                    .and_then(Verdict::from_name)
                    .ok_or_else(|| {
                        self.err(
                            line,
                            "`verdict` is not one of allowed, denied, audit, unknown",
                        )
                    })?;
                let key = TupleKey {
                    src: self.endpoint(line, row, "src", "src_addr")?,
                    dst: self.endpoint(line, row, "dst", "dst_addr")?,
                    protocol: u8::try_from(protocol)
                        .map_err(|_| self.err(line, "`protocol` is not 0–255"))?,
                    port: u16::try_from(port)
                        .map_err(|_| self.err(line, "`port` is not 0–65535"))?,
                    verdict,
                    slice: u32::try_from(self.need(line, row, "slice")?)
                        .map_err(|_| self.err(line, "`slice` is out of range"))?,
                };
                let (first, last) = self.span(line, row)?;
                let counts = Counts {
                    records: self.count(line, row, "records")?,
                    packets: self.count(line, row, "packets")?,
                    bytes: self.count(line, row, "bytes")?,
                    unattested: self.count(line, row, "unattested")?,
                    first_seen: Timestamp(first),
                    last_seen: Timestamp(last),
                };
                self.tuples
                    .entry(key)
                    .and_modify(|c| c.add(&counts))
                    .or_insert(counts);
            }
            "covered" => {
                let iface = self.iface(line, row)?;
                let (a, b) = self.span(line, row)?;
                self.covered
                    .entry(iface)
                    .or_default()
                    .push((Timestamp(a), Timestamp(b)));
            }
            "gap" => {
                let iface = self.get(row, "interface").map(str::to_string);
                let cause = self
                    .get(row, "verdict")
                    .and_then(GapKind::from_name)
                    .ok_or_else(|| {
                        self.err(line, "a gap's cause (`verdict`) is not nodata or skipdata")
                    })?;
                let (a, b) = self.span(line, row)?;
                self.gaps.entry(iface).or_default().push((a, b, cause));
            }
            "endpoint" => {
                let iface = self.iface(line, row)?;
                let e = self.endpoint(line, row, "src", "src_addr")?;
                self.endpoints.entry(iface).or_default().insert(e);
            }
            "count" => {
                let n = self.count(line, row, "records")?;
                match self.get(row, "src").unwrap_or("") {
                    "flows" => self.counters.flows = n,
                    "replies" => self.counters.replies = n,
                    "undetermined" => self.counters.undetermined = n,
                    "gap_records" => self.counters.gap_records = n,
                    _ => {}
                }
            }
            other => {
                return Err(self.err(
                    line,
                    format!("unknown row kind `{other}` (expected tuple, covered, gap, endpoint or count)"),
                ));
            }
        }
        Ok(())
    }

    fn count(&self, line: usize, row: &Row, col: &str) -> Result<u64, String> {
        let n = self.int(line, row, col)?.unwrap_or(0);
        u64::try_from(n).map_err(|_| self.err(line, format!("`{col}` is negative")))
    }

    fn iface(&self, line: usize, row: &Row) -> Result<String, String> {
        self.get(row, "interface")
            .map(str::to_string)
            .ok_or_else(|| self.err(line, "`interface` is missing"))
    }

    fn finish(self, plan: &Plan) -> Aggregate {
        let mut lo: Option<i64> = None;
        let mut hi: Option<i64> = None;
        let mut see = |a: i64, b: i64| {
            lo = Some(lo.map_or(a, |x| x.min(a)));
            hi = Some(hi.map_or(b, |x| x.max(b)));
        };
        for c in self.tuples.values() {
            see(c.first_seen.0, c.last_seen.0 + 1);
        }
        for spans in self.covered.values() {
            for (a, b) in spans {
                see(a.0, b.0);
            }
        }
        let window = Window {
            since: plan.since.unwrap_or(Timestamp(lo.unwrap_or(0))),
            until: plan.until.unwrap_or(Timestamp(hi.unwrap_or(0))),
        };
        let mut names: std::collections::BTreeSet<String> = self.covered.keys().cloned().collect();
        names.extend(self.endpoints.keys().cloned());
        names.extend(self.gaps.keys().flatten().cloned());
        let mut interfaces = BTreeMap::new();
        let mut gaps: Vec<Gap> = Vec::new();
        for (a, b, kind) in self.gaps.get(&None).into_iter().flatten() {
            gaps.push(Gap {
                interface: None,
                start: Timestamp(*a),
                end: Timestamp(*b),
                cause: GapCause::Source(*kind),
            });
        }
        for name in names {
            let mut covered = self.covered.get(&name).cloned().unwrap_or_default();
            covered.sort();
            let mut source = self
                .gaps
                .get(&Some(name.clone()))
                .cloned()
                .unwrap_or_default();
            source.sort();
            let continuous = !source.is_empty();
            gaps.extend(interface_gaps(
                &name,
                &covered,
                &source,
                continuous,
                window,
                plan.max_gap,
            ));
            interfaces.insert(
                name.clone(),
                Interface {
                    covered,
                    continuous,
                    endpoints: self.endpoints.get(&name).cloned().unwrap_or_default(),
                },
            );
        }
        gaps.sort();
        Aggregate {
            window,
            window_given: plan.since.is_some() && plan.until.is_some(),
            tuples: self.tuples,
            interfaces,
            gaps,
            counters: self.counters,
        }
    }
}

fn json_rows(name: &str, text: &str) -> Result<Vec<(usize, Row)>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| format!("{name}:{}: not a JSON object: {e}", i + 1))?;
        let obj = v
            .as_object()
            .ok_or_else(|| format!("{name}:{}: not a JSON object", i + 1))?;
        let row = obj
            .iter()
            .map(|(k, v)| {
                let s = match v {
                    serde_json::Value::Null => None,
                    serde_json::Value::String(s) => Some(s.clone()),
                    other => Some(other.to_string()),
                };
                (k.clone(), s)
            })
            .collect();
        out.push((i + 1, row));
    }
    Ok(out)
}

/// RFC 4180 CSV with a header line; an empty unquoted field is NULL.
fn csv_rows(name: &str, text: &str) -> Result<Vec<(usize, Row)>, String> {
    let mut records = Vec::new();
    let mut field = String::new();
    let mut quoted_field = false;
    let mut record: Vec<Option<String>> = Vec::new();
    let mut in_quotes = false;
    let mut line = 1usize;
    let mut record_line = 1usize;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if in_quotes {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => in_quotes = false,
                '\n' => {
                    line += 1;
                    field.push(c);
                }
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.is_empty() => {
                in_quotes = true;
                quoted_field = true;
            }
            ',' => {
                record.push(take(&mut field, &mut quoted_field));
            }
            '\r' => {}
            '\n' => {
                record.push(take(&mut field, &mut quoted_field));
                records.push((record_line, std::mem::take(&mut record)));
                line += 1;
                record_line = line;
            }
            _ => field.push(c),
        }
    }
    if in_quotes {
        return Err(format!(
            "{name}:{record_line}: a quoted field is not closed"
        ));
    }
    if !field.is_empty() || !record.is_empty() {
        record.push(take(&mut field, &mut quoted_field));
        records.push((record_line, record));
    }
    let mut it = records
        .into_iter()
        .filter(|(_, r)| !(r.len() == 1 && r[0].is_none()));
    let Some((_, header)) = it.next() else {
        return Ok(Vec::new());
    };
    let header: Vec<String> = header.into_iter().map(|h| h.unwrap_or_default()).collect();
    if !header.iter().any(|h| h == "kind") {
        return Err(format!(
            "{name}:1: the header has no `kind` column: expected the columns {}",
            crate::sql::COLUMNS.join(",")
        ));
    }
    let mut out = Vec::new();
    for (l, r) in it {
        if r.len() != header.len() {
            return Err(format!(
                "{name}:{l}: {} fields where the header has {}",
                r.len(),
                header.len()
            ));
        }
        out.push((l, header.iter().cloned().zip(r).collect()));
    }
    Ok(out)
}

fn take(field: &mut String, quoted: &mut bool) -> Option<String> {
    let s = std::mem::take(field);
    let was_quoted = std::mem::replace(quoted, false);
    if s.is_empty() && !was_quoted {
        None
    } else {
        Some(s)
    }
}
