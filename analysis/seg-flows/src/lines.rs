//! Lines of a byte stream, read in large chunks and handed out in place
//! (no copy, no allocation per line), each at most a bounded length: a
//! longer line is skipped without being held in memory.

use std::io::{self, Read};

const CHUNK: usize = 256 * 1024;

/// A line as read.
pub(crate) enum Line<'a> {
    /// The line's bytes without its `\n` (and `\r` before it).
    Text(&'a [u8]),
    /// A line longer than the limit, skipped; its length in bytes.
    TooLong(u64),
}

pub(crate) struct Lines {
    src: Box<dyn Read + Send>,
    buf: Vec<u8>,
    pos: usize,
    end: usize,
    eof: bool,
    /// 1-based number of the line last returned.
    line: u64,
    max: usize,
}

impl Lines {
    pub(crate) fn new(src: Box<dyn Read + Send>, max: usize) -> Lines {
        Lines {
            src,
            buf: vec![0; CHUNK.min(max.saturating_add(1)).max(64)],
            pos: 0,
            end: 0,
            eof: false,
            line: 0,
            max,
        }
    }

    /// The next line, `None` at the end of the stream.
    pub(crate) fn next_line(&mut self) -> io::Result<Option<(u64, Line<'_>)>> {
        let mut scanned = 0;
        loop {
            if let Some(i) = memchr::memchr(b'\n', &self.buf[self.pos + scanned..self.end]) {
                let at = self.pos + scanned + i;
                let start = self.pos;
                self.pos = at + 1;
                self.line += 1;
                let mut text = &self.buf[start..at];
                if let [rest @ .., b'\r'] = text {
                    text = rest;
                }
                return Ok(Some((self.line, Line::Text(text))));
            }
            scanned = self.end - self.pos;
            if self.eof {
                if self.pos == self.end {
                    return Ok(None);
                }
                let start = self.pos;
                self.pos = self.end;
                self.line += 1;
                let mut text = &self.buf[start..self.end];
                if let [rest @ .., b'\r'] = text {
                    text = rest;
                }
                return Ok(Some((self.line, Line::Text(text))));
            }
            if scanned > self.max {
                let skipped = self.skip_line(scanned as u64)?;
                self.line += 1;
                return Ok(Some((self.line, Line::TooLong(skipped))));
            }
            self.fill()?;
        }
    }

    /// Make room and read more bytes after the pending ones.
    fn fill(&mut self) -> io::Result<()> {
        if self.pos > 0 {
            self.buf.copy_within(self.pos..self.end, 0);
            self.end -= self.pos;
            self.pos = 0;
        }
        if self.end == self.buf.len() {
            let grown = (self.buf.len() * 2)
                .min(self.max.saturating_add(1))
                .max(self.end + 1);
            self.buf.resize(grown, 0);
        }
        let n = read_some(&mut self.src, &mut self.buf[self.end..])?;
        if n == 0 {
            self.eof = true;
        }
        self.end += n;
        Ok(())
    }

    /// Discard the rest of an over-long line; its total length.
    fn skip_line(&mut self, pending: u64) -> io::Result<u64> {
        let mut total = pending;
        self.pos = self.end;
        loop {
            self.pos = 0;
            self.end = read_some(&mut self.src, &mut self.buf)?;
            if self.end == 0 {
                self.eof = true;
                return Ok(total);
            }
            if let Some(i) = memchr::memchr(b'\n', &self.buf[..self.end]) {
                self.pos = i + 1;
                return Ok(total + i as u64);
            }
            total += self.end as u64;
        }
    }
}

pub(crate) fn read_some(src: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match src.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(text: &'static [u8], max: usize) -> Vec<String> {
        let mut lines = Lines::new(Box::new(text), max);
        let mut out = Vec::new();
        while let Some((_, l)) = lines.next_line().unwrap() {
            out.push(match l {
                Line::Text(t) => String::from_utf8_lossy(t).into_owned(),
                Line::TooLong(n) => format!("<{n}>"),
            });
        }
        out
    }

    #[test]
    fn splits_lines_and_strips_cr() {
        assert_eq!(all(b"a\r\nbb\n\nccc", 100), ["a", "bb", "", "ccc"]);
        assert_eq!(all(b"", 100), Vec::<String>::new());
        assert_eq!(all(b"x\n", 100), ["x"]);
    }

    #[test]
    fn skips_long_lines_and_goes_on() {
        let mut text = b"ok\n".to_vec();
        text.extend(std::iter::repeat_n(b'z', 1000));
        text.extend(b"\nafter\n");
        let text: &'static [u8] = text.leak();
        assert_eq!(all(text, 10), ["ok", "<1000>", "after"]);
        // At the limit exactly is fine.
        assert_eq!(all(b"0123456789\nx", 10), ["0123456789", "x"]);
    }
}
