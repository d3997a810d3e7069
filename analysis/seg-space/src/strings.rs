//! Witness strings for the tests a condition makes on one string value
//! (`request.path matches "/api/*"`, `request.method in ["GET"]`).
//!
//! Given globs (`*` is any run of characters, every other character literal)
//! and literals, [`witnesses`] returns strings such that every combination of
//! "matches / does not match" that some string realises is realised by one of
//! them. It explores the product of the patterns' automata breadth first from
//! the empty string, over the characters the patterns use plus one they do
//! not; every string leads to a product state, so visiting every reachable
//! state meets every realisable combination.

use std::collections::{HashMap, VecDeque};

/// One test on a string.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Pattern {
    /// `matches "g"`.
    Glob(String),
    /// `== "s"`.
    Literal(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tok {
    Star,
    Char(char),
}

fn tokens(p: &Pattern) -> Vec<Tok> {
    match p {
        Pattern::Literal(s) => s.chars().map(Tok::Char).collect(),
        Pattern::Glob(g) => {
            let mut out = Vec::new();
            for c in g.chars() {
                let t = if c == '*' { Tok::Star } else { Tok::Char(c) };
                if !(t == Tok::Star && out.last() == Some(&Tok::Star)) {
                    out.push(t);
                }
            }
            out
        }
    }
}

/// The positions a pattern can be at: `i` means the first `i` tokens matched.
type Positions = Vec<u16>;

fn close(toks: &[Tok], mut set: Positions) -> Positions {
    let mut i = 0;
    while i < set.len() {
        let p = set[i] as usize;
        if toks.get(p) == Some(&Tok::Star) && !set.contains(&((p + 1) as u16)) {
            set.push((p + 1) as u16);
        }
        i += 1;
    }
    set.sort_unstable();
    set.dedup();
    set
}

fn step(toks: &[Tok], set: &Positions, c: char) -> Positions {
    let mut next = Vec::new();
    for &p in set {
        match toks.get(p as usize) {
            Some(Tok::Star) => next.push(p),
            Some(Tok::Char(x)) if *x == c => next.push(p + 1),
            _ => {}
        }
    }
    close(toks, next)
}

/// Most product states explored before giving up (see [`Witnesses::complete`]).
pub const MAX_STATES: usize = 200_000;

/// The strings found, and whether the search saw every reachable state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Witnesses {
    pub strings: Vec<String>,
    /// False only when the patterns' product has more than [`MAX_STATES`]
    /// states: combinations beyond the explored ones may then be missing.
    pub complete: bool,
}

/// Strings realising every realisable combination of the patterns (see the
/// module docs), shortest first, the empty string always among them.
pub fn witnesses(patterns: &[Pattern]) -> Witnesses {
    let toks: Vec<Vec<Tok>> = patterns.iter().map(tokens).collect();
    let mut alphabet: Vec<char> = toks
        .iter()
        .flatten()
        .filter_map(|t| match t {
            Tok::Char(c) => Some(*c),
            Tok::Star => None,
        })
        .collect();
    alphabet.sort_unstable();
    alphabet.dedup();
    // One character no pattern names stands for all of them.
    if let Some(fresh) = ('a'..='z')
        .chain('0'..='9')
        .chain(std::iter::once('~'))
        .find(|c| alphabet.binary_search(c).is_err())
    {
        alphabet.push(fresh);
    }
    let start: Vec<Positions> = toks.iter().map(|t| close(t, vec![0])).collect();
    let accepts = |state: &[Positions]| -> Vec<bool> {
        state
            .iter()
            .zip(&toks)
            .map(|(s, t)| s.binary_search(&(t.len() as u16)).is_ok())
            .collect()
    };
    let mut seen: HashMap<Vec<Positions>, ()> = HashMap::new();
    let mut found: HashMap<Vec<bool>, ()> = HashMap::new();
    let mut strings = Vec::new();
    let mut queue = VecDeque::from([(start.clone(), String::new())]);
    seen.insert(start, ());
    while let Some((state, text)) = queue.pop_front() {
        if found.insert(accepts(&state), ()).is_none() {
            strings.push(text.clone());
        }
        for &c in &alphabet {
            let next: Vec<Positions> = state
                .iter()
                .zip(&toks)
                .map(|(s, t)| step(t, s, c))
                .collect();
            if seen.contains_key(&next) {
                continue;
            }
            if seen.len() >= MAX_STATES {
                return Witnesses {
                    strings,
                    complete: false,
                };
            }
            seen.insert(next.clone(), ());
            let mut longer = text.clone();
            longer.push(c);
            queue.push_back((next, longer));
        }
    }
    Witnesses {
        strings,
        complete: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glob_matches(g: &str, s: &str) -> bool {
        seg_ir::eval::glob(g, s)
    }

    fn vector(patterns: &[Pattern], s: &str) -> Vec<bool> {
        patterns
            .iter()
            .map(|p| match p {
                Pattern::Glob(g) => glob_matches(g, s),
                Pattern::Literal(l) => l == s,
            })
            .collect()
    }

    #[test]
    fn every_combination_of_overlapping_globs_is_met() {
        let ps = vec![
            Pattern::Glob("/api/*".into()),
            Pattern::Glob("*".into()),
            Pattern::Glob("*/admin".into()),
            Pattern::Literal("/admin".into()),
            Pattern::Literal("/api/".into()),
        ];
        let w = witnesses(&ps);
        assert!(w.complete);
        let vectors: Vec<Vec<bool>> = w.strings.iter().map(|s| vector(&ps, s)).collect();
        // Distinct by construction.
        for (i, v) in vectors.iter().enumerate() {
            assert!(!vectors[..i].contains(v), "{:?}", w.strings);
        }
        // "/api/x/admin" matches both globs; "/admin" is the literal and a glob match;
        // "/api/" is the literal inside the first glob; "" matches only `*`.
        for s in [
            "/api/x/admin",
            "/admin",
            "/api/",
            "",
            "/api/x",
            "x/admin",
            "q",
        ] {
            assert!(
                vectors.contains(&vector(&ps, s)),
                "{s:?} not covered by {:?}",
                w.strings
            );
        }
    }

    #[test]
    fn brute_force_agrees_on_a_small_alphabet() {
        let ps = vec![
            Pattern::Glob("a*b".into()),
            Pattern::Glob("*ab*".into()),
            Pattern::Literal("ab".into()),
            Pattern::Glob("b*".into()),
        ];
        let w = witnesses(&ps);
        let got: std::collections::BTreeSet<Vec<bool>> =
            w.strings.iter().map(|s| vector(&ps, s)).collect();
        // Every string over {a, b, c} up to length 5.
        let mut all = std::collections::BTreeSet::new();
        let mut layer = vec![String::new()];
        for _ in 0..=5 {
            let mut next = Vec::new();
            for s in &layer {
                all.insert(vector(&ps, s));
                for c in ['a', 'b', 'c'] {
                    next.push(format!("{s}{c}"));
                }
            }
            layer = next;
        }
        assert_eq!(got, all);
    }

    #[test]
    fn a_literal_star_is_a_character() {
        let ps = vec![Pattern::Literal("*".into()), Pattern::Glob("x".into())];
        let w = witnesses(&ps);
        assert!(w.strings.contains(&"*".to_string()));
        assert!(w.strings.contains(&"x".to_string()));
    }
}
