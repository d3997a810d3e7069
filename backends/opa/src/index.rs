//! The index that makes a decision a few lookups.
//!
//! Input: the endpoint keys of every distinct set (`id:<name>`, `net:<n>`)
//! and, per rule that can match, its source and destination set and match
//! record. Output:
//! - `pairs[src key][dst key]`: the records of *small* rules, those with at
//!   most [`PAIR_LIMIT`] (source key, destination key) pairs, listed under
//!   each pair;
//! - `set_pairs[src set][dst set]`: the records of the other (*large*) rules,
//!   once each, with, per endpoint key, the large sets holding it on each side.
//!
//! A flow's candidates are then `pairs[s][d]` plus `set_pairs[a][b]` for the
//! large sets `a` of its source and `b` of its destination: exactly the rules
//! whose sets hold both endpoints. The index grows with the rules (at most
//! [`PAIR_LIMIT`] entries each) and the sizes of the large sets, never with
//! the product of two large sets; a decision costs two endpoint lookups, one
//! pair lookup and one lookup per pair of large sets of its endpoints.

use crate::model::{IndexDoc, MatchDoc};
use std::collections::{BTreeMap, BTreeSet};

/// Rules with at most this many key pairs are indexed pair by pair.
pub const PAIR_LIMIT: usize = 16;

/// The index and, per endpoint key, the large sets holding it.
pub struct Built {
    pub index: IndexDoc,
    /// Key → large source sets holding it (set names, ascending).
    pub src_sets: BTreeMap<String, Vec<String>>,
    pub dst_sets: BTreeMap<String, Vec<String>>,
}

/// One indexable rule: its source and destination set and its record.
pub struct Entry {
    pub src: usize,
    pub dst: usize,
    pub record: MatchDoc,
}

/// `keys[s]` are the endpoint keys of set `s`, `names[s]` its name in the data.
pub fn build(keys: &[Vec<String>], names: &[String], entries: Vec<Entry>) -> Built {
    let mut index = IndexDoc::default();
    let (mut large_src, mut large_dst) = (BTreeSet::new(), BTreeSet::new());
    for e in entries {
        let (src, dst) = (&keys[e.src], &keys[e.dst]);
        if src.len().saturating_mul(dst.len()) <= PAIR_LIMIT {
            for s in src {
                let row = index.pairs.entry(s.clone()).or_default();
                for d in dst {
                    row.entry(d.clone()).or_default().push(e.record.clone());
                }
            }
        } else {
            large_src.insert(e.src);
            large_dst.insert(e.dst);
            index
                .set_pairs
                .entry(names[e.src].clone())
                .or_default()
                .entry(names[e.dst].clone())
                .or_default()
                .push(e.record);
        }
    }
    let memberships = |large: &BTreeSet<usize>| {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for &set in large {
            for key in &keys[set] {
                out.entry(key.clone()).or_default().push(names[set].clone());
            }
        }
        for list in out.values_mut() {
            list.sort();
            list.dedup();
        }
        out
    };
    Built {
        src_sets: memberships(&large_src),
        dst_sets: memberships(&large_dst),
        index,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn record(rule: u32) -> MatchDoc {
        MatchDoc {
            rule: format!("p#{rule}"),
            allow: true,
            plain: true,
            ports: BTreeMap::new(),
            not_after: None,
            when: Value::Null,
        }
    }

    fn keys(prefix: &str, n: usize) -> Vec<String> {
        (0..n).map(|i| format!("id:{prefix}{i}")).collect()
    }

    #[test]
    fn small_rules_by_pair_large_rules_by_set_pair() {
        let sets = vec![keys("a", 2), keys("b", 8), keys("c", 20), keys("a", 1)];
        let names: Vec<String> = (0..sets.len()).map(|i| format!("s{i}")).collect();
        let built = build(
            &sets,
            &names,
            vec![
                Entry {
                    src: 0,
                    dst: 1,
                    record: record(0),
                },
                Entry {
                    src: 2,
                    dst: 1,
                    record: record(1),
                },
                Entry {
                    src: 3,
                    dst: 2,
                    record: record(2),
                },
            ],
        );
        // 2 × 8 = 16 pairs: by pair.
        assert_eq!(built.index.pairs["id:a1"]["id:b7"][0].rule, "p#0");
        assert_eq!(
            built.index.pairs.values().map(|r| r.len()).sum::<usize>(),
            16
        );
        // 20 × 8 and 1 × 20 are large: by set pair.
        assert_eq!(built.index.set_pairs["s2"]["s1"][0].rule, "p#1");
        assert_eq!(built.index.set_pairs["s3"]["s2"][0].rule, "p#2");
        assert_eq!(built.src_sets["id:c3"], ["s2"]);
        assert_eq!(built.src_sets["id:a0"], ["s3"]);
        assert_eq!(built.dst_sets["id:b0"], ["s1"]);
        assert_eq!(built.dst_sets["id:c0"], ["s2"]);
        assert!(!built.src_sets.contains_key("id:b0"));
    }
}
