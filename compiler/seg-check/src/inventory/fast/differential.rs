//! The fast reader against saphyr on random texts: a seeded generator of
//! YAML-ish documents built around the reader's edges (its shape, and what
//! lies just outside it: quotes, escapes, flow collections, comments,
//! anchors, tabs, CRLF, non-ASCII text, document markers, block scalars,
//! empty values, deep nesting, duplicate keys), each text then sometimes
//! damaged by a few random edits. Whenever the fast reader takes a text,
//! saphyr must take it too and give the same tree, spans included; when
//! saphyr refuses a text, the fast reader must have declined it.

use super::super::tree::saphyr_tree;
use super::parse;
use seg_diag::FileId;

/// A deterministic pseudo-random sequence (Knuth's MMIX constants).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) as usize
    }

    fn below(&mut self, n: usize) -> usize {
        self.next() % n
    }

    /// True `percent` times in a hundred.
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len())]
    }
}

/// Plain scalars in the reader's shape.
const PLAIN: &[&str] = &[
    "a",
    "web",
    "host-00001",
    "team-0",
    "10.0.0.1/32",
    "10.64.8.0/24",
    "a_b",
    "_x",
    "/x",
    "x.y",
    "1",
    "-1",
    "0",
    "007",
    "1_000",
    "0x1f",
    "0o17",
    "1e5",
    "1.5",
    ".5",
    ".inf",
    "inf",
    "nan",
    "true",
    "False",
    "NULL",
    "null",
    "y",
    "no",
    "2026-01-01",
    "a-",
    "E5",
];

const PLAIN_KEYS: &[&str] = &[
    "name",
    "kind",
    "owner",
    "addresses",
    "labels",
    "tier",
    "a",
    "b",
    "k",
    "x_y",
    "x.y",
    "x/y",
    "1",
    "true",
    "null",
    "a-b",
    "0x1",
    "1.5",
];

/// Scalars the reader takes, and their neighbours it leaves to saphyr.
const SCALARS: &[&str] = &[
    "a",
    "web",
    "host-00001",
    "team-0",
    "10.0.0.1/32",
    "10.64.8.0/24",
    "fd00::/8",
    "a_b",
    "_x",
    "/x",
    ".",
    "..",
    "x.y",
    "1",
    "-1",
    "+1",
    "0",
    "007",
    "1_000",
    "0x1f",
    "0o17",
    "1e5",
    "1.5",
    ".5",
    ".inf",
    "-.inf",
    ".nan",
    "inf",
    "nan",
    "true",
    "True",
    "TRUE",
    "false",
    "FALSE",
    "null",
    "Null",
    "NULL",
    "~",
    "y",
    "yes",
    "no",
    "on",
    "2026-01-01",
    "12:30",
    "a:b",
    "a#b",
    "a-",
    "-a",
    "a b",
    "x  y",
    "a,b",
    "é",
    "日本",
    "naïve",
    "'q'",
    "'it''s'",
    "''",
    "\"d\"",
    "\"\"",
    "\"a\\nb\"",
    "\"\\u00e9\\t\"",
    "\"\\x41\"",
    "\"bad \\q\"",
    "'open",
    "\"open",
    "&a x",
    "*a",
    "&b",
    "!!str 1",
    "!!int 2",
    "!x y",
    "@x",
    "`x",
    "%x",
    "? x",
    "|",
    ">",
    "[]",
    "{}",
    "[a]",
    "{a: b}",
];

const KEYS: &[&str] = &[
    "name",
    "kind",
    "owner",
    "addresses",
    "labels",
    "tier",
    "a",
    "b",
    "k",
    "x_y",
    "x.y",
    "x/y",
    "1",
    "true",
    "null",
    "a-b",
    "é",
    "'q'",
    "\"d\"",
    "? c",
    "&k k",
    "*k",
    "a b",
    "-a",
    "[a]",
    "{a: b}",
];

/// 1,040 characters; saphyr refuses an implicit key of more than 1,024.
const LONG_KEY: &str = concat!(
    "k123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
    "0123456789",
);

const COMMENTS: &[&str] = &["# c", "#c", "# key: [x, {", "#", "# é", "# \"'"];

/// Text inserted by the random edits.
const PIECES: &[&str] = &[
    " ", "  ", "\n", "\n ", "\n  ", "-", "- ", ":", ": ", "#", " #", "[", "]", "{", "}", ",", ", ",
    "x", "'", "\"", "\\", "&a ", "*a", "!!str ", "?", "? ", "|", ">", "---\n", "...\n", "\t", "\r",
    "\r\n", "%", "@", "~", "1", ".", "é", "\u{feff}", "\0",
];

struct Gen<'r> {
    rng: &'r mut Lcg,
    /// How often (percent) a choice leaves the reader's shape: 0 for texts
    /// all in it but for their layout.
    wild: usize,
    out: String,
    /// The line break of this text: `\n`, or `\r\n` for some texts.
    nl: &'static str,
    depth: usize,
    /// Deep texts nest past the reader's limit.
    max_depth: usize,
}

impl Gen<'_> {
    /// True at the text's rate of choices outside the reader's shape.
    fn wild(&mut self) -> bool {
        self.rng.chance(self.wild)
    }

    fn newline(&mut self) {
        if self.wild > 0 && self.rng.chance(2) {
            self.out
                .push_str(if self.nl == "\n" { "\r\n" } else { "\n" });
        } else {
            self.out.push_str(self.nl);
        }
        // Blank and comment lines between the others.
        if self.rng.chance(8) {
            let blanks = self.rng.below(4);
            self.out.push_str(&" ".repeat(blanks));
            self.out.push_str(self.nl);
        }
        if self.rng.chance(6) {
            let blanks = self.rng.below(6);
            self.out.push_str(&" ".repeat(blanks));
            let c = self.rng.pick(COMMENTS);
            self.out.push_str(c);
            self.out.push_str(self.nl);
        }
    }

    fn indent(&mut self, n: usize) {
        if self.wild > 0 && self.rng.chance(2) {
            self.out.push('\t');
        }
        self.out.push_str(&" ".repeat(n));
    }

    fn scalar(&mut self) {
        let s = if self.wild() {
            self.rng.pick(SCALARS)
        } else {
            self.rng.pick(PLAIN)
        };
        self.out.push_str(s);
    }

    /// A blank or more, then maybe a comment, at the end of a value's line.
    fn line_end(&mut self) {
        if self.rng.chance(15) {
            let blanks = self.rng.below(3);
            self.out.push_str(&" ".repeat(blanks));
            let c = self.rng.pick(COMMENTS);
            self.out.push_str(c);
        } else if self.rng.chance(5) {
            self.out.push(' ');
        }
    }

    /// A one-line flow collection.
    fn flow(&mut self) {
        self.depth += 1;
        let map = self.rng.chance(45);
        self.out.push(if map { '{' } else { '[' });
        if self.rng.chance(30) {
            self.out.push(' ');
        }
        let n = self.rng.below(4);
        for i in 0..n {
            if i > 0 {
                self.out
                    .push_str(if self.rng.chance(80) { ", " } else { "," });
            }
            if map {
                self.key();
                let tight = self.wild();
                self.out.push_str(if tight { ":" } else { ": " });
            }
            self.flow_item();
        }
        if n > 0 && self.wild() {
            self.out.push(',');
        }
        if self.rng.chance(30) {
            self.out.push(' ');
        }
        self.out.push(if map { '}' } else { ']' });
        self.depth -= 1;
    }

    fn flow_item(&mut self) {
        if self.depth < self.max_depth && self.rng.chance(25) {
            self.flow();
        } else {
            self.scalar();
        }
    }

    /// A value after `key:` at column `indent`, from the blank after the colon to the end of its lines.
    fn value(&mut self, indent: usize) {
        let nest = self.depth < self.max_depth;
        let mut choice = self.rng.below(20);
        if (15..=17).contains(&choice) && !self.wild() {
            choice = 0;
        }
        match choice {
            0..=7 => {
                self.out.push(' ');
                self.scalar();
                self.line_end();
                self.newline();
            }
            8..=9 => {
                self.out.push(' ');
                self.flow();
                self.line_end();
                self.newline();
            }
            10..=12 if nest => {
                self.line_end();
                self.newline();
                let step = 1 + self.rng.below(4);
                self.block_map(indent + step);
            }
            13..=14 if nest => {
                self.line_end();
                self.newline();
                // A sequence may sit at its key's own column.
                let step = if self.rng.chance(if self.wild > 0 { 40 } else { 10 }) {
                    0
                } else {
                    1 + self.rng.below(3)
                };
                self.block_seq(indent + step);
            }
            15 => {
                // A block scalar.
                self.out.push(' ');
                self.out
                    .push_str(self.rng.pick(&["|", ">", "|-", ">+", "|2"]));
                self.newline();
                for _ in 0..1 + self.rng.below(3) {
                    self.indent(indent + 2);
                    self.scalar();
                    self.newline();
                }
            }
            16 => {
                // An anchor or an alias.
                self.out
                    .push_str(self.rng.pick(&[" &a ", " &b ", " *a", " *b"]));
                if self.rng.chance(50) {
                    self.scalar();
                }
                self.newline();
            }
            17 => {
                // A plain scalar continued on the next line.
                self.out.push(' ');
                self.scalar();
                self.newline();
                let more = 1 + self.rng.below(2);
                self.indent(indent + more);
                self.scalar();
                self.newline();
            }
            _ => {
                // Empty.
                self.line_end();
                self.newline();
            }
        }
    }

    fn block_map(&mut self, indent: usize) {
        self.depth += 1;
        let n = 1 + self.rng.below(4);
        let mut keys: Vec<&str> = Vec::new();
        for i in 0..n {
            if i > 0 {
                self.indent(indent);
            }
            self.map_entry(indent, &mut keys);
        }
        self.depth -= 1;
    }

    /// One `key: value` whose key is at column `indent`, the column already written.
    /// A key: plain in the reader's shape, or any.
    fn key(&mut self) -> &'static str {
        if self.wild() && self.rng.chance(5) {
            // Longer than saphyr takes for an implicit key, or nearly.
            let long = LONG_KEY.len() - self.rng.below(600);
            self.out.push_str(&LONG_KEY[..long]);
            return "long";
        }
        let key = if self.wild() {
            self.rng.pick(KEYS)
        } else {
            self.rng.pick(PLAIN_KEYS)
        };
        self.out.push_str(key);
        key
    }

    fn map_entry(&mut self, indent: usize, keys: &mut Vec<&'static str>) {
        if !keys.is_empty() && self.rng.chance(4) {
            // A duplicate key.
            let key = keys[self.rng.below(keys.len())];
            self.out.push_str(key);
        } else {
            let key = self.key();
            keys.push(key);
        }
        if self.wild() {
            self.out.push(' ');
        }
        self.out.push(':');
        if self.wild() {
            // No blank after the colon.
            self.scalar();
            self.newline();
        } else {
            self.value(indent);
        }
    }

    fn block_seq(&mut self, indent: usize) {
        self.depth += 1;
        let n = 1 + self.rng.below(4);
        for _ in 0..n {
            self.indent(indent);
            self.out.push('-');
            match self.rng.below(12) {
                0..=4 => {
                    self.out.push(' ');
                    self.scalar();
                    self.line_end();
                    self.newline();
                    if self.wild() {
                        // Continued on a more indented line.
                        let more = 1 + self.rng.below(3);
                        self.indent(indent + more);
                        self.scalar();
                        self.newline();
                    }
                }
                5..=6 => {
                    self.out.push(' ');
                    self.flow();
                    self.line_end();
                    self.newline();
                }
                7..=9 if self.depth < self.max_depth => {
                    // A compact mapping: its keys line up after the dash.
                    let blanks = 1 + usize::from(self.wild());
                    self.out.push_str(&" ".repeat(blanks));
                    let column = indent + 1 + blanks;
                    let mut keys = Vec::new();
                    self.depth += 1;
                    for i in 0..1 + self.rng.below(3) {
                        if i > 0 {
                            let off = usize::from(self.wild());
                            self.indent(column + off);
                        }
                        self.map_entry(column, &mut keys);
                    }
                    self.depth -= 1;
                }
                10 if self.depth < self.max_depth => {
                    // A nested sequence on the dash's line.
                    self.out.push(' ');
                    self.block_seq(indent + 2);
                }
                _ => {
                    // An empty item, or a dash glued to its text.
                    if self.wild() {
                        self.scalar();
                    }
                    self.newline();
                }
            }
        }
        self.depth -= 1;
    }
}

/// One random text for seed state `rng`.
fn text(rng: &mut Lcg) -> String {
    let wild = [0, 0, 0, 3, 10, 30][rng.below(6)];
    let nl = if rng.chance(wild / 2) { "\r\n" } else { "\n" };
    let max_depth = if rng.chance(3) { 30 } else { 4 };
    let mut g = Gen {
        rng,
        wild,
        out: String::new(),
        nl,
        depth: 0,
        max_depth,
    };
    if g.wild() {
        g.out.push_str(
            g.rng
                .pick(&["---\n", "--- ", "%YAML 1.2\n---\n", "\u{feff}"]),
        );
    }
    if g.rng.chance(5) {
        let c = g.rng.pick(COMMENTS);
        g.out.push_str(c);
        g.out.push_str(nl);
    }
    if max_depth > 4 {
        // A deep chain of mappings, or of flow lists.
        let levels = 18 + g.rng.below(12);
        if g.rng.chance(50) {
            for i in 0..levels {
                g.out.push_str(&" ".repeat(i));
                g.out.push_str("k:");
                g.out.push_str(nl);
            }
            g.out.push_str(&" ".repeat(levels));
            g.out.push_str("k: v");
            g.out.push_str(nl);
        } else {
            g.out.push_str("k: ");
            g.out.push_str(&"[".repeat(levels));
            g.out.push('x');
            g.out.push_str(&"]".repeat(levels));
            g.out.push_str(nl);
        }
    }
    g.block_map(0);
    if g.wild() {
        g.out
            .push_str(g.rng.pick(&["...\n", "---\n", "--- x\n", "... # end\n"]));
    }
    let mut out = g.out;
    if rng.chance(10) && out.ends_with('\n') {
        out.pop();
    }
    // A few random edits in some of the texts outside the shape.
    if wild > 0 && rng.chance(40) {
        for _ in 0..1 + rng.below(3) {
            let mut at = rng.below(out.len() + 1);
            while !out.is_char_boundary(at) {
                at -= 1;
            }
            match rng.below(3) {
                0 => out.insert_str(at, rng.pick(PIECES)),
                1 if at < out.len() => {
                    out.remove(at);
                }
                _ => {
                    let piece = rng.pick(PIECES);
                    if at < out.len() {
                        out.remove(at);
                    }
                    out.insert_str(at, piece);
                }
            }
        }
    }
    out
}

/// How many texts each reader took.
#[derive(Default, Debug)]
struct Tally {
    texts: usize,
    fast: usize,
    saphyr: usize,
}

fn run(seed: u64, texts: usize) -> Tally {
    let mut rng = Lcg(seed);
    let mut tally = Tally::default();
    for _ in 0..texts {
        let text = text(&mut rng);
        tally.texts += 1;
        let fast = parse(FileId(3), &text);
        let slow = saphyr_tree(FileId(3), &text);
        if slow.is_ok() {
            tally.saphyr += 1;
        }
        if let Some(fast) = fast {
            tally.fast += 1;
            match slow {
                Ok(slow) => assert_eq!(fast, slow, "seed {seed}: trees differ for {text:?}"),
                Err(d) => {
                    panic!("seed {seed}: fast reader took what saphyr refuses ({d:?}): {text:?}")
                }
            }
        }
    }
    tally
}

#[test]
fn agrees_with_saphyr_on_random_texts() {
    for seed in [1, 2, 3, 4, 5] {
        let tally = run(seed, 6_000);
        println!("seed {seed}: {tally:?}");
        // The generator stays useful: the fast reader takes many texts and
        // declines many that saphyr takes, and saphyr refuses some.
        assert!(tally.fast * 5 > tally.texts, "seed {seed}: {tally:?}");
        assert!(
            tally.saphyr > tally.fast + tally.texts / 10,
            "seed {seed}: {tally:?}"
        );
        assert!(
            tally.saphyr * 10 < tally.texts * 9,
            "seed {seed}: {tally:?}"
        );
    }
}
