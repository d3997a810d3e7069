//! Splits a JSON byte stream into records without parsing them, holding at
//! most one record (bounded) in memory. Accepted layouts:
//!
//! - JSON lines (one object a line; a line that does not close its object is
//!   one malformed record and the next line starts afresh);
//! - concatenated or pretty-printed objects;
//! - a top-level array of objects (`gcloud logging read --format=json`);
//! - an object with a `"records": [...]` array (Azure blobs): its elements
//!   are the records and the rest of the wrapper is ignored.

use crate::detect::Context;
use crate::error::FlowError;
use crate::lines::read_some;
use crate::record::Origin;
use std::io::{self, Read};

const CHUNK: usize = 256 * 1024;

/// One record as split: its bytes or why it is not one.
pub(crate) enum Piece<'a> {
    Record(&'a [u8]),
    Bad(String),
}

/// A record's origin, and its value or why it is malformed.
pub(crate) type Parsed<T> = (Origin, Result<T, String>);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// Not decided: before the first record ends.
    Unknown,
    /// Each record on its own line.
    Lines,
    /// Records may span lines.
    Document,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Where {
    /// Between top-level values.
    Top,
    /// Inside a top-level array: its elements are records.
    Array,
    /// Inside a top-level object, looking for its `records` key.
    Wrapper,
    /// Inside the wrapper's `records` array.
    Records,
    /// Inside the wrapper after its `records` array: skipped.
    AfterRecords,
}

pub(crate) struct JsonRecords {
    src: Box<dyn Read + Send>,
    buf: Vec<u8>,
    pos: usize,
    end: usize,
    eof: bool,
    max: usize,
    /// Current line (1-based) at `pos`.
    line: u64,
    layout: Layout,
    place: Where,
    depth: usize,
    in_string: bool,
    escaped: bool,
    /// The record being collected, and whether it is (depth at which it started).
    rec: Vec<u8>,
    rec_depth: Option<usize>,
    rec_line: u64,
    rec_too_long: bool,
    /// The wrapper object's bytes, kept until we know it has no `records`.
    /// In the wrapper at depth 1: the last string seen and whether the
    /// parser expects a key.
    key: Vec<u8>,
    expect_key: bool,
    last_key_is_records: bool,
    /// A record handed out by `peek` and not yet consumed.
    pending: bool,
    /// The line the last record started on.
    record_line: u64,
}

impl JsonRecords {
    pub(crate) fn new(src: Box<dyn Read + Send>, max: usize) -> JsonRecords {
        JsonRecords {
            src,
            buf: vec![0; CHUNK],
            pos: 0,
            end: 0,
            eof: false,
            max,
            line: 1,
            layout: Layout::Unknown,
            place: Where::Top,
            depth: 0,
            in_string: false,
            escaped: false,
            rec: Vec::new(),
            rec_depth: None,
            rec_line: 1,
            rec_too_long: false,
            key: Vec::new(),
            expect_key: false,
            last_key_is_records: false,
            pending: false,
            record_line: 0,
        }
    }

    /// The next record without consuming it.
    pub(crate) fn peek(&mut self) -> io::Result<Option<(u64, Piece<'_>)>> {
        if !self.pending {
            match self.advance()? {
                None => return Ok(None),
                Some(Err(message)) => {
                    // Keep the message in `rec` so a second call returns it too.
                    self.rec = message.into_bytes();
                    self.rec_too_long = true;
                }
                Some(Ok(())) => self.rec_too_long = false,
            }
            self.pending = true;
        }
        Ok(Some((self.record_line, self.piece())))
    }

    pub(crate) fn next_piece(&mut self) -> io::Result<Option<(u64, Piece<'_>)>> {
        if self.pending {
            self.pending = false;
            return Ok(Some((self.record_line, self.piece())));
        }
        match self.advance()? {
            None => Ok(None),
            Some(Ok(())) => Ok(Some((self.record_line, Piece::Record(&self.rec)))),
            Some(Err(message)) => Ok(Some((self.record_line, Piece::Bad(message)))),
        }
    }

    /// The next record parsed as `T`: where it is, and the value or why it
    /// is malformed. `None` at the end of the stream.
    pub(crate) fn next_parsed<'a, T: serde::Deserialize<'a>>(
        &'a mut self,
        ctx: &Context,
    ) -> Result<Option<Parsed<T>>, FlowError> {
        let piece = self
            .next_piece()
            .map_err(|e| FlowError::read(&ctx.file, ctx.gzip, &e))?;
        let Some((line, piece)) = piece else {
            return Ok(None);
        };
        let origin = Origin {
            file: ctx.index,
            line,
        };
        let value = match piece {
            Piece::Bad(m) => Err(m),
            Piece::Record(bytes) => serde_json::from_slice(bytes).map_err(|e| e.to_string()),
        };
        Ok(Some((origin, value)))
    }

    fn piece(&self) -> Piece<'_> {
        if self.rec_too_long {
            Piece::Bad(String::from_utf8_lossy(&self.rec).into_owned())
        } else {
            Piece::Record(&self.rec)
        }
    }

    /// Scan to the end of the next record: `Ok(())` with it in `rec`, or the
    /// reason it is malformed.
    fn advance(&mut self) -> io::Result<Option<Result<(), String>>> {
        loop {
            if self.pos == self.end {
                if self.eof {
                    return Ok(self.finish());
                }
                self.pos = 0;
                self.end = read_some(&mut self.src, &mut self.buf)?;
                if self.end == 0 {
                    self.eof = true;
                }
                continue;
            }
            if self.layout == Layout::Lines
                && self.place == Where::Top
                && self.depth == 0
                && self.rec_depth.is_none()
                && !self.in_string
            {
                if let Some(result) = self.whole_line() {
                    return Ok(Some(result));
                }
                if self.pos == self.end {
                    // Blank lines to the end of the buffer.
                    continue;
                }
            }
            let b = self.buf[self.pos];
            self.pos += 1;
            if let Some(result) = self.byte(b) {
                return Ok(Some(result));
            }
        }
    }

    /// JSON lines, between records: when the next line is in the buffer and
    /// starts an object, it is the record, taken whole (its syntax is left
    /// to the parser: a line holding two objects is then malformed).
    fn whole_line(&mut self) -> Option<Result<(), String>> {
        let (nl, line) = loop {
            let rest = &self.buf[self.pos..self.end];
            let nl = memchr::memchr(b'\n', rest)?;
            let line = rest[..nl].trim_ascii();
            if !line.is_empty() {
                break (nl, line);
            }
            self.pos += nl + 1;
            self.line += 1;
        };
        if line[0] != b'{' {
            return None;
        }
        self.record_line = self.line;
        let result = if line.len() > self.max {
            Err(format!("the record is longer than {} bytes", self.max))
        } else {
            self.rec.clear();
            self.rec.extend_from_slice(line);
            Ok(())
        };
        self.pos += nl + 1;
        self.line += 1;
        Some(result)
    }

    /// The stream ended: an unfinished record is malformed.
    fn finish(&mut self) -> Option<Result<(), String>> {
        if self.rec_depth.take().is_some() || (self.place == Where::Wrapper && self.depth > 0) {
            self.record_line = self.rec_line;
            self.depth = 0;
            self.place = Where::Top;
            return Some(Err("the JSON ends inside this record".to_string()));
        }
        if self.depth > 0 {
            self.depth = 0;
            self.place = Where::Top;
            self.record_line = self.line;
            return Some(Err("the JSON document is not closed".to_string()));
        }
        None
    }

    fn push(&mut self, b: u8) {
        if self.rec_depth.is_some() && !self.rec_too_long {
            if self.rec.len() >= self.max {
                self.rec_too_long = true;
                self.rec = Vec::new();
            } else {
                self.rec.push(b);
            }
        }
    }

    fn start_record(&mut self) {
        self.rec.clear();
        self.rec_too_long = false;
        self.rec_depth = Some(self.depth);
        self.rec_line = self.line;
    }

    /// One byte; `Some` when a record ends (or fails) with it.
    fn byte(&mut self, b: u8) -> Option<Result<(), String>> {
        if b == b'\n' {
            self.line += 1;
        }
        if self.in_string {
            if b == b'\n' {
                return self.broken_line("a string is not closed on its line");
            }
            self.push(b);
            if self.place == Where::Wrapper && self.depth == 1 {
                self.key.push(b);
            }
            if self.escaped {
                self.escaped = false;
            } else if b == b'\\' {
                self.escaped = true;
            } else if b == b'"' {
                self.in_string = false;
                if self.place == Where::Wrapper && self.depth == 1 {
                    self.key.pop();
                    self.last_key_is_records = self.expect_key && self.key == b"records";
                }
            }
            return None;
        }
        match b {
            b'"' => {
                if self.depth == 0 {
                    return self.stray(b);
                }
                self.in_string = true;
                if self.place == Where::Wrapper && self.depth == 1 {
                    self.key.clear();
                }
                self.push(b);
            }
            b'{' | b'[' => {
                let opens_record = match self.place {
                    Where::Top => self.depth == 0,
                    Where::Array => self.depth == 1,
                    Where::Records => self.depth == 2,
                    Where::Wrapper | Where::AfterRecords => false,
                };
                if self.place == Where::Top && self.depth == 0 && b == b'[' {
                    self.place = Where::Array;
                    self.depth = 1;
                    return None;
                }
                if self.place == Where::Wrapper
                    && self.depth == 1
                    && b == b'['
                    && self.last_key_is_records
                {
                    // The wrapper holds the records: stop collecting it.
                    self.place = Where::Records;
                    self.rec_depth = None;
                    self.rec.clear();
                    self.depth = 2;
                    return None;
                }
                if opens_record {
                    if self.place == Where::Top && b == b'{' && self.layout != Layout::Lines {
                        // A top-level object may be an Azure wrapper.
                        self.place = Where::Wrapper;
                        self.expect_key = true;
                        self.last_key_is_records = false;
                    }
                    self.start_record();
                } else if self.place == Where::Top && self.depth == 0 {
                    return self.stray(b);
                }
                self.push(b);
                self.depth += 1;
                if self.place == Where::Wrapper && self.depth == 2 {
                    self.last_key_is_records = false;
                }
            }
            b'}' | b']' => {
                if self.depth == 0 {
                    return self.stray(b);
                }
                self.push(b);
                self.depth -= 1;
                if let Some(d) = self.rec_depth
                    && d == self.depth
                {
                    return self.end_record();
                }
                match (self.place, self.depth) {
                    (Where::Array, 0) => self.place = Where::Top,
                    (Where::Records, 1) => self.place = Where::AfterRecords,
                    (Where::AfterRecords, 0) => self.place = Where::Top,
                    _ => {}
                }
            }
            b',' => {
                self.push(b);
                if self.place == Where::Wrapper && self.depth == 1 {
                    self.expect_key = true;
                }
            }
            b':' => {
                self.push(b);
                if self.place == Where::Wrapper && self.depth == 1 {
                    self.expect_key = false;
                }
            }
            b' ' | b'\t' | b'\r' | b'\n' => {
                if b == b'\n' && self.layout == Layout::Lines && self.rec_depth.is_some() {
                    return self.broken_line("the JSON object is not closed on its line");
                }
                self.push(b);
            }
            0xEF | 0xBB | 0xBF if self.depth == 0 && self.line == 1 => {} // BOM
            _ => {
                if self.depth == 0 {
                    return self.stray(b);
                }
                if self.place == Where::Wrapper && self.depth == 1 {
                    // A bare value (number, true, ...) at the wrapper's level.
                    self.last_key_is_records = false;
                }
                self.push(b);
            }
        }
        None
    }

    fn end_record(&mut self) -> Option<Result<(), String>> {
        self.rec_depth = None;
        self.record_line = self.rec_line;
        let top_level = self.place == Where::Wrapper || self.place == Where::Top;
        if self.place == Where::Wrapper {
            self.place = Where::Top;
        }
        if self.layout == Layout::Unknown && top_level {
            self.layout = if self.line == self.rec_line {
                Layout::Lines
            } else {
                Layout::Document
            };
        }
        if self.rec_too_long {
            self.rec_too_long = false;
            return Some(Err(format!("the record is longer than {} bytes", self.max)));
        }
        Some(Ok(()))
    }

    /// In JSON lines, a line that leaves its object open is one bad record.
    fn broken_line(&mut self, why: &str) -> Option<Result<(), String>> {
        let line = if self.rec_depth.is_some() {
            self.rec_line
        } else {
            self.line - 1
        };
        self.in_string = false;
        self.escaped = false;
        self.rec_depth = None;
        self.rec_too_long = false;
        self.depth = 0;
        self.place = Where::Top;
        self.record_line = line;
        Some(Err(why.to_string()))
    }

    /// A byte that cannot stand between records: skip to the end of its line.
    fn stray(&mut self, b: u8) -> Option<Result<(), String>> {
        let line = self.line;
        while self.pos < self.end || !self.eof {
            if self.pos == self.end {
                match read_some(&mut self.src, &mut self.buf) {
                    Ok(0) | Err(_) => {
                        self.eof = true;
                        break;
                    }
                    Ok(n) => {
                        self.pos = 0;
                        self.end = n;
                    }
                }
                continue;
            }
            let c = self.buf[self.pos];
            self.pos += 1;
            if c == b'\n' {
                self.line += 1;
                break;
            }
        }
        self.record_line = line;
        let shown = if b.is_ascii_graphic() {
            format!("`{}`", b as char)
        } else {
            format!("byte 0x{b:02x}")
        };
        Some(Err(format!("{shown} where a JSON object should start")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(text: &'static str) -> Vec<(u64, String)> {
        let mut r = JsonRecords::new(Box::new(text.as_bytes()), 1000);
        let mut out = Vec::new();
        while let Some((line, p)) = r.next_piece().unwrap() {
            let s = match p {
                Piece::Record(b) => String::from_utf8(b.to_vec()).unwrap(),
                Piece::Bad(m) => format!("BAD {m}"),
            };
            out.push((line, s));
        }
        out
    }

    #[test]
    fn json_lines() {
        assert_eq!(
            split("{\"a\":1}\n\n{\"b\":\"}\"}\n"),
            [(1, "{\"a\":1}".into()), (3, "{\"b\":\"}\"}".into())]
        );
    }

    #[test]
    fn broken_line_resyncs() {
        // In JSON lines each line is a record (bad ones fail to parse later).
        let got = split("{\"a\":1}\n{\"b\":\n{\"c\":3}\n{\"d\":\"x\n{\"e\":5}\n");
        let lines: Vec<u64> = got.iter().map(|g| g.0).collect();
        assert_eq!(lines, [1, 2, 3, 4, 5]);
        assert_eq!(got[1].1, "{\"b\":");
        assert_eq!(got[3].1, "{\"d\":\"x");
        assert_eq!(got[4].1, "{\"e\":5}");
        // Before the layout is known, the splitter itself resyncs.
        let got = split("{\"d\":\"x\n{\"e\":5}\n");
        assert!(got[0].1.starts_with("BAD"), "{got:?}");
        assert_eq!(got[1], (2, "{\"e\":5}".into()));
    }

    #[test]
    fn arrays_pretty_objects_and_wrappers() {
        assert_eq!(
            split("[\n {\"a\": 1},\n {\"b\": [2]}\n]\n"),
            [(2, "{\"a\": 1}".into()), (3, "{\"b\": [2]}".into())]
        );
        assert_eq!(
            split("{\n \"a\": 1\n}\n{\n \"b\": 2\n}"),
            [(1, "{\n \"a\": 1\n}".into()), (4, "{\n \"b\": 2\n}".into())]
        );
        assert_eq!(
            split("{\"x\":{\"records\":[9]},\"records\":[{\"r\":1},{\"r\":[2]}],\"after\":{}}"),
            [(1, "{\"r\":1}".into()), (1, "{\"r\":[2]}".into())]
        );
        // A string value `records` is not the key.
        assert_eq!(
            split("{\"k\":\"records\",\"v\":[1]}"),
            [(1, "{\"k\":\"records\",\"v\":[1]}".into())]
        );
    }

    #[test]
    fn garbage_and_truncation() {
        let got = split("hello\n{\"a\":1}\n");
        assert!(got[0].1.starts_with("BAD `h`"));
        assert_eq!(got[1], (2, "{\"a\":1}".into()));
        let got = split("{\"records\":[{\"a\":1},{\"b\":");
        assert_eq!(got[0], (1, "{\"a\":1}".into()));
        assert!(got[1].1.starts_with("BAD"), "{got:?}");
        assert_eq!(got.len(), 2);
        let got = split("]");
        assert!(got[0].1.starts_with("BAD"));
    }

    #[test]
    fn too_long_records_are_bad_and_skipped() {
        let long = format!("{{\"a\":\"{}\"}}\n{{\"b\":1}}\n", "x".repeat(2000));
        let long: &'static str = long.leak();
        let got = split(long);
        assert!(got[0].1.starts_with("BAD the record is longer"), "{got:?}");
        assert_eq!(got[1], (2, "{\"b\":1}".into()));
    }
}
