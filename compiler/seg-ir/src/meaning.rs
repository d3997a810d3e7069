//! What a program means, apart from how it is written.
//!
//! A target's output must depend only on the program after that target's
//! capability pass and on the inventory: not on comments, layout, the order
//! of rules or which file holds them. Two pieces make that hold:
//!
//! - [`canonical`] puts the rules in the order of their stable ids
//!   (`Provenance::id`), so a backend that walks `rules` in order sees the
//!   same sequence however the sources are arranged;
//! - [`digest`] hashes exactly what a backend may read (rules without their
//!   positional label, file, line and column; identities without their place
//!   in the inventory file; the target's options): the hash headers carry.
//!
//! Provenance with file and line stays in `report.json` and diagnostics.

use crate::backend::TargetOptions;
use crate::ports::PortSet;
use crate::program::{
    Action, Condition, ContextType, EndpointSet, Identity, Program, Rule, RuleId,
};
use crate::time::Expiry;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The program with its rules in stable-id order and renumbered; omitted
/// rules likewise. Everything else is unchanged.
pub fn canonical(mut program: Program) -> Program {
    program
        .rules
        .sort_by(|a, b| a.provenance.id.cmp(&b.provenance.id));
    for (i, r) in program.rules.iter_mut().enumerate() {
        r.id = RuleId(i as u32);
    }
    program
        .omitted
        .sort_by(|a, b| a.provenance.id.cmp(&b.provenance.id));
    program
}

/// The canonical order of one program's rules, found once and applied to
/// what each target's capability pass keeps of them: [`Order::apply`] gives
/// what [`canonical`] gives, without sorting the rules again per target.
#[derive(Clone, Debug)]
pub struct Order {
    /// `rank[i]`: where `program.rules[i]` stands in stable-id order.
    rank: Vec<u32>,
}

impl Order {
    pub fn of(program: &Program) -> Order {
        let rules = &program.rules;
        // A stable sort of positions, as `canonical` sorts the rules.
        let mut by_id: Vec<u32> = (0..rules.len() as u32).collect();
        by_id.sort_by(|&a, &b| {
            rules[a as usize]
                .provenance
                .id
                .cmp(&rules[b as usize].provenance.id)
        });
        let mut rank = vec![0; rules.len()];
        for (r, &i) in by_id.iter().enumerate() {
            rank[i as usize] = r as u32;
        }
        Order { rank }
    }

    /// [`canonical`] of `kept`, whose rules are some of `program`'s (the one
    /// this order was found for) in program order, as the capability pass
    /// leaves them. Rules are matched to `program`'s by their stable id;
    /// when they do not match that way, `kept` is simply sorted.
    pub fn apply(&self, program: &Program, mut kept: Program) -> Program {
        let Some(origins) = self.origins(program, &kept) else {
            return canonical(kept);
        };
        // `from[j]`: which kept rule goes to place `j`. The origins are
        // distinct, so are their ranks: placing by rank is a counting sort.
        let mut by_rank = vec![u32::MAX; self.rank.len()];
        for (j, &origin) in origins.iter().enumerate() {
            by_rank[self.rank[origin] as usize] = j as u32;
        }
        let from: Vec<usize> = by_rank
            .into_iter()
            .filter(|&j| j != u32::MAX)
            .map(|j| j as usize)
            .collect();
        permute(&mut kept.rules, &from);
        for (i, r) in kept.rules.iter_mut().enumerate() {
            r.id = RuleId(i as u32);
        }
        kept.omitted
            .sort_by(|a, b| a.provenance.id.cmp(&b.provenance.id));
        kept
    }

    /// Put `program` itself, the one this order was found for, in
    /// [`canonical`] order, in place: no second copy of its rules. The
    /// [`Sorted`] returned puts it back as it was written
    /// ([`Sorted::restore`]).
    ///
    /// # Panics
    ///
    /// When `program` has another number of rules than the one this order
    /// was found for (a bug of the caller).
    pub fn sort(&self, program: &mut Program) -> Sorted {
        assert_eq!(
            program.rules.len(),
            self.rank.len(),
            "an order sorts the program it was found for"
        );
        let mut from = vec![0; self.rank.len()];
        for (i, &r) in self.rank.iter().enumerate() {
            from[r as usize] = i;
        }
        let ids: Vec<RuleId> = program.rules.iter().map(|r| r.id).collect();
        permute(&mut program.rules, &from);
        for (i, r) in program.rules.iter_mut().enumerate() {
            r.id = RuleId(i as u32);
        }
        // Omitted rules likewise, by a stable sort of their places.
        let omitted = &program.omitted;
        let mut omitted_from: Vec<usize> = (0..omitted.len()).collect();
        omitted_from.sort_by(|&a, &b| omitted[a].provenance.id.cmp(&omitted[b].provenance.id));
        permute(&mut program.omitted, &omitted_from);
        Sorted {
            rank: self.rank.clone(),
            ids,
            omitted_from,
        }
    }

    /// For each of `kept`'s rules, the position in `program` of the rule it
    /// was made from: the next one, in order, with the same stable id.
    fn origins(&self, program: &Program, kept: &Program) -> Option<Vec<usize>> {
        if program.rules.len() != self.rank.len() {
            return None;
        }
        let mut next = 0;
        let mut origins = Vec::with_capacity(kept.rules.len());
        for rule in &kept.rules {
            let found = program.rules[next..]
                .iter()
                .position(|r| r.provenance.id == rule.provenance.id)?;
            origins.push(next + found);
            next += found + 1;
        }
        Some(origins)
    }
}

/// How [`Order::sort`] rearranged a program: enough to put it back.
#[derive(Debug)]
#[must_use = "the program stays in stable-id order until restored"]
pub struct Sorted {
    /// `rank[i]`: where the rule written `i`th was put.
    rank: Vec<u32>,
    /// The rules' ids as written.
    ids: Vec<RuleId>,
    /// `omitted_from[j]`: where the omitted rule put at `j` was written.
    omitted_from: Vec<usize>,
}

impl Sorted {
    /// `program`, sorted by [`Order::sort`] and otherwise unchanged, back in
    /// its written order with its written ids.
    pub fn restore(self, program: &mut Program) {
        let back: Vec<usize> = self.rank.iter().map(|&r| r as usize).collect();
        permute(&mut program.rules, &back);
        for (r, id) in program.rules.iter_mut().zip(self.ids) {
            r.id = id;
        }
        let mut back = vec![0; self.omitted_from.len()];
        for (j, &i) in self.omitted_from.iter().enumerate() {
            back[i] = j;
        }
        permute(&mut program.omitted, &back);
    }
}

/// Rearrange `items` in place so that place `j` holds what was at `from[j]`
/// (`from` a permutation), one cycle at a time: no second list of rules
/// (their pages would be fresh memory to fault in).
fn permute<T>(items: &mut [T], from: &[usize]) {
    let mut done = vec![false; items.len()];
    for start in 0..items.len() {
        // Along a cycle, place `j` holds the start's item until it is the
        // one that item belongs in.
        let mut j = start;
        while !done[j] {
            done[j] = true;
            let k = from[j];
            if k == start {
                break;
            }
            items.swap(j, k);
            j = k;
        }
    }
}

/// SHA-256 (hex) of the program's meaning for one target: its project name,
/// identities, rules (in stable-id order, without label, file, line or
/// column), declared contexts, and the target's options (not a signing key).
/// Not `now`, not the tests, not the sources.
pub fn digest(program: &Program, options: Option<&TargetOptions>) -> String {
    let mut rules: Vec<&Rule> = program.rules.iter().collect();
    rules.sort_by(|a, b| a.provenance.id.cmp(&b.provenance.id));
    let meaning = Meaning {
        project: &program.project,
        identities: program.identities.iter().map(IdentityMeaning::of).collect(),
        rules: rules.into_iter().map(RuleMeaning::of).collect(),
        contexts: &program.contexts,
        options: options.map(options_text),
    };
    let mut hasher = HashWriter(Sha256::new());
    // Serialising plain data into a hasher cannot fail; an error would only
    // make the digest that of a prefix, still deterministic.
    let _ = serde_json::to_writer(&mut hasher, &meaning);
    hasher
        .0
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[derive(Serialize)]
struct Meaning<'a> {
    project: &'a str,
    identities: Vec<IdentityMeaning<'a>>,
    rules: Vec<RuleMeaning<'a>>,
    contexts: &'a BTreeMap<String, ContextType>,
    options: Option<String>,
}

/// An identity without `origin` (where the inventory file declares it).
#[derive(Serialize)]
struct IdentityMeaning<'a> {
    name: &'a str,
    kind: &'static str,
    owner: &'a Option<String>,
    attributes: &'a BTreeMap<String, crate::program::Value>,
    labels: &'a BTreeMap<String, String>,
    addresses: &'a [ipnet::IpNet],
    kubernetes: &'a Option<crate::program::KubernetesBinding>,
    aws: &'a Option<crate::program::AwsBinding>,
    gcp: &'a Option<crate::program::GcpBinding>,
    spiffe: &'a Option<String>,
}

impl<'a> IdentityMeaning<'a> {
    fn of(i: &'a Identity) -> IdentityMeaning<'a> {
        IdentityMeaning {
            name: &i.name,
            kind: i.kind.as_str(),
            owner: &i.owner,
            attributes: &i.attributes,
            labels: &i.labels,
            addresses: &i.addresses,
            kubernetes: &i.kubernetes,
            aws: &i.aws,
            gcp: &i.gcp,
            spiffe: &i.spiffe,
        }
    }
}

/// A rule without its position (`id` number, label, file, line, column).
#[derive(Serialize)]
struct RuleMeaning<'a> {
    id: &'a str,
    policy: &'a str,
    action: Action,
    src: &'a EndpointSet,
    dst: &'a EndpointSet,
    services: &'a PortSet,
    condition: &'a Condition,
    expires: &'a Option<Expiry>,
    owner: &'a Option<String>,
    doc: &'a Option<String>,
    reason: &'a Option<String>,
}

impl<'a> RuleMeaning<'a> {
    fn of(r: &'a Rule) -> RuleMeaning<'a> {
        let p = &r.provenance;
        RuleMeaning {
            id: &p.id,
            policy: &p.policy,
            action: r.action,
            src: &r.src,
            dst: &r.dst,
            services: &r.services,
            condition: &r.condition,
            expires: &r.expires,
            owner: &p.owner,
            doc: &p.doc,
            reason: &p.reason,
        }
    }
}

/// The options as text. A bundle signing key is left out: signing changes
/// no decision (and a key is no thing to hash into a public header).
fn options_text(options: &TargetOptions) -> String {
    match options {
        TargetOptions::Opa(_) => "opa".to_string(),
        other => format!("{other:?}"),
    }
}

struct HashWriter(Sha256);

impl std::io::Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
