//! Writing hostile values into the three input languages, each quoted with
//! that language's own escapes (so the value reaches seg exactly), and
//! recording where each value landed so a diagnostic can be attributed to it.

use std::collections::BTreeMap;

/// Where a slot's text landed: byte range in one project file.
#[derive(Clone, Debug)]
pub struct Place {
    pub file: String,
    pub start: usize,
    pub end: usize,
    pub slot: usize,
}

/// A project's files and the places of its slots.
#[derive(Default)]
pub struct Tree {
    pub files: BTreeMap<String, String>,
    pub places: Vec<Place>,
    /// Larger regions (an inventory entry, a slot's own file) → the slots in
    /// them: a diagnostic that points at the region but at none of its slots
    /// rejects all of them.
    pub regions: Vec<(Place, Vec<usize>)>,
}

/// One file being written.
pub struct File<'t> {
    tree: &'t mut Tree,
    name: String,
    text: String,
    places: Vec<Place>,
}

impl Tree {
    pub fn file(&mut self, name: &str) -> File<'_> {
        File {
            tree: self,
            name: name.to_string(),
            text: String::new(),
            places: Vec::new(),
        }
    }

    /// The slots a diagnostic at `file[start..end]` rejects: the places that
    /// hold its start, else those it overlaps, else the slots of the smallest
    /// region holding its start. The flag says whether a place held the start.
    pub fn attribute(&self, file: &str, start: usize, end: usize) -> (Vec<usize>, bool) {
        let holds =
            |p: &Place| p.file == file && p.start <= start && start < p.end.max(p.start + 1);
        let overlaps = |p: &Place| {
            p.file == file && start < p.end.max(p.start + 1) && p.start < end.max(start + 1)
        };
        let pick = |f: &dyn Fn(&Place) -> bool| -> Vec<usize> {
            let mut v: Vec<usize> = self
                .places
                .iter()
                .filter(|p| f(p))
                .map(|p| p.slot)
                .collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        let exact = pick(&holds);
        if !exact.is_empty() {
            return (exact, true);
        }
        let near = pick(&overlaps);
        if !near.is_empty() {
            return (near, false);
        }
        let region = self
            .regions
            .iter()
            .filter(|(p, _)| holds(p))
            .min_by_key(|(p, _)| p.end - p.start);
        (
            region.map(|(_, inside)| inside.clone()).unwrap_or_default(),
            false,
        )
    }
}

impl File<'_> {
    pub fn push(&mut self, s: &str) -> &mut Self {
        self.text.push_str(s);
        self
    }

    /// Write `s` (already quoted) as the text of `slot`.
    pub fn slot(&mut self, slot: Option<usize>, s: &str) -> &mut Self {
        let start = self.text.len();
        self.text.push_str(s);
        if let Some(slot) = slot {
            self.places.push(Place {
                file: self.name.clone(),
                start,
                end: self.text.len(),
                slot,
            });
        }
        self
    }

    /// Byte offset of the end of the text so far.
    pub fn len(&self) -> usize {
        self.text.len()
    }

    /// Record `start..` (to the current end) as a region holding `slots`.
    pub fn region(&mut self, start: usize, slots: Vec<usize>) {
        if slots.is_empty() {
            return;
        }
        let p = Place {
            file: self.name.clone(),
            start,
            end: self.text.len(),
            slot: usize::MAX,
        };
        self.tree.regions.push((p, slots));
    }

    pub fn done(self) {
        self.tree.places.extend(self.places);
        self.tree.files.insert(self.name, self.text);
    }
}

/// A `.seg` string literal (JSON escapes): `"` and `\` escaped, C0 controls as
/// `\uXXXX`; every other character raw, as a user could type it.
pub fn seg(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 2);
    out.push('"');
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A YAML double-quoted scalar: `"` and `\` escaped; controls, line
/// separators, the BOM and non-characters (which YAML may not hold raw) as
/// `\uXXXX`; every other character raw.
pub fn yaml(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 2);
    out.push('"');
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control()
                || matches!(
                    c,
                    '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}'
                ) =>
            {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A TOML basic string: `"` and `\` escaped, controls (but tab) as `\uXXXX`.
pub fn toml(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 2);
    out.push('"');
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c.is_control() && c != '\t') => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn quoting_examples() {
        assert_eq!(
            super::seg("a\"\\\n\u{202e}"),
            "\"a\\\"\\\\\\u000a\u{202e}\""
        );
        assert_eq!(super::yaml("\u{85}x\u{2028}"), "\"\\u0085x\\u2028\"");
        assert_eq!(super::toml("\0\t"), "\"\\u0000\t\"");
    }
}
