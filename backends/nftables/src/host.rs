//! Hosts and their files: which identities are hosts (and their file
//! stems), the chains of each policy, the lines of a host's chains merged,
//! and the file that replaces `table inet seg`.
//!
//! Merging: in one chain (one policy, direction and action, so every line
//! has the same verdict) lines whose matches are equal but for destination
//! ports become one line matching the union of the ports; a packet matches
//! the merged line exactly when it matched one of the originals. A line's
//! comment names the ids of the rules it came from (`policy#id1,id2`), at
//! most 128 bytes (a line is split rather than a comment cut).
//!
//! Invariants of a file: it deletes and recreates the table in one
//! transaction; `input` and `output` accept loopback and packets of
//! established connections first (and IPv6 neighbour discovery), drop
//! invalid ones, then jump to every deny chain, then to every allow chain,
//! and drop the rest (policy drop); `forward` drops everything.

use crate::lower::{Block, Lowering};
use crate::names;
use crate::text::{self, Line, Set, Side, Verdict};
use seg_diag::Diagnostics;
use seg_ir::backend::NftablesOptions;
use seg_ir::{Action, Artifact, Emission, IdentityId, Lowered, Object, Program, Rule};
use std::collections::{BTreeSet, HashMap};
use std::fmt::Write;
use std::rc::Rc;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Dir {
    In,
    Out,
}

struct Host {
    id: IdentityId,
    stem: String,
    /// Block ids per direction, in rule order.
    blocks: [Vec<u32>; 2],
}

/// Destination ports `first..=last` of one line (0, 0: any), and the index of its rule.
type PortsOf = (u16, u16, usize);

/// A chain as printed, shared by every host whose chain holds the same rules.
#[derive(Clone)]
struct Printed {
    name: String,
    text: Rc<str>,
    lines: usize,
    sets: Rc<[String]>,
}

struct Ctx<'p> {
    program: &'p Program,
    blocks: Vec<Block>,
    policies: Vec<String>,
    policy_index: HashMap<&'p str, usize>,
    chain_names: Vec<[String; 4]>,
    /// [`seg_ir::meaning::digest`] of the program and options, for the headers.
    meaning: String,
    /// (direction, action, policy, blocks) → printed chain.
    cache: HashMap<(Dir, Action, usize, Vec<u32>), Printed>,
}

/// Every rule's blocks per host (and its diagnostics); the files are
/// printed if the result is rendered.
pub fn lower<'p>(
    program: &'p Program,
    options: NftablesOptions,
    diags: &mut Diagnostics,
) -> Lowered<'p> {
    let mut hosts = hosts(program, diags);
    let mut host_of: Vec<Option<usize>> = vec![None; program.identities.len()];
    for (i, h) in hosts.iter().enumerate() {
        host_of[h.id.0 as usize] = Some(i);
    }
    let mut policies: Vec<String> = Vec::new();
    let mut policy_index: HashMap<&str, usize> = HashMap::new();
    for r in &program.rules {
        let next = policies.len();
        policy_index
            .entry(r.provenance.policy.as_str())
            .or_insert_with(|| {
                policies.push(r.provenance.policy.clone());
                next
            });
    }
    let mut lowering = Lowering::new(program, options.set_threshold);
    let mut blocks = Vec::new();
    for (index, rule) in program.rules.iter().enumerate() {
        let Some(shape) = lowering.shape(rule, diags) else {
            continue;
        };
        for (dir, local, peer, side) in [
            (Dir::In, &rule.dst, &rule.src, Side::Src),
            (Dir::Out, &rule.src, &rule.dst, Side::Dst),
        ] {
            let on: Vec<usize> = local
                .identities
                .iter()
                .filter_map(|id| host_of.get(id.0 as usize).copied().flatten())
                .collect();
            if on.is_empty() {
                continue;
            }
            let Some(block) = lowering.block(index, &shape, peer, side) else {
                continue;
            };
            let id = blocks.len() as u32;
            blocks.push(block);
            for h in on {
                hosts[h].blocks[dir as usize].push(id);
            }
        }
    }
    let approximations = std::mem::take(&mut lowering.approximations);
    Lowered::new(approximations, move |_| {
        render(
            program,
            &options,
            hosts,
            blocks,
            policies,
            policy_index,
            &lowering,
        )
    })
}

/// The file of every host, from the lowered blocks.
fn render<'p>(
    program: &'p Program,
    options: &NftablesOptions,
    hosts: Vec<Host>,
    blocks: Vec<Block>,
    policies: Vec<String>,
    policy_index: HashMap<&'p str, usize>,
    lowering: &Lowering,
) -> Emission {
    let chain_names = chain_names(&policies);
    let mut cx = Ctx {
        program,
        blocks,
        policies,
        policy_index,
        chain_names,
        meaning: seg_ir::meaning::digest(
            program,
            Some(&seg_ir::TargetOptions::Nftables(options.clone())),
        ),
        cache: HashMap::new(),
    };
    let set_texts: HashMap<&str, Rc<str>> = lowering
        .sets
        .iter()
        .map(|(name, (family, members))| {
            let set = Set {
                name: name.clone(),
                family: *family,
                members: members.clone(),
            };
            (name.as_str(), Rc::from(set.print()))
        })
        .collect();
    let mut emission = Emission::default();
    for host in &hosts {
        emit_host(&mut cx, host, &set_texts, &mut emission);
    }
    emission.artifacts.sort_by(|a, b| a.path.cmp(&b.path));
    emission.objects.sort();
    emission.notes.push(format!(
        "{} host(s), {} rule line(s), {} named set(s) (threshold {} CIDRs)",
        hosts.len(),
        emission.rules,
        lowering.sets.len(),
        options.set_threshold.max(1)
    ));
    emission
}

/// Every identity with addresses, with its file stem.
fn hosts(program: &Program, diags: &mut Diagnostics) -> Vec<Host> {
    seg_ir::names::host_stems(program, "nftables", diags)
        .into_iter()
        .map(|(id, stem)| Host {
            id,
            stem,
            blocks: Default::default(),
        })
        .collect()
}

const PREFIXES: [&str; 4] = ["in-allow", "in-deny", "out-allow", "out-deny"];

fn prefix_index(dir: Dir, action: Action) -> usize {
    match (dir, action) {
        (Dir::In, Action::Allow) => 0,
        (Dir::In, Action::Deny) => 1,
        (Dir::Out, Action::Allow) => 2,
        (Dir::Out, Action::Deny) => 3,
    }
}

/// Four chain names per policy, unique across the program: the hash grows
/// until no two policies share a name.
fn chain_names(policies: &[String]) -> Vec<[String; 4]> {
    for hash_len in [8, 12, 16, 64] {
        let names: Vec<[String; 4]> = policies
            .iter()
            .map(|p| PREFIXES.map(|prefix| names::chain_name(prefix, p, hash_len)))
            .collect();
        let distinct: BTreeSet<&String> = names.iter().flatten().collect();
        if distinct.len() == names.len() * 4 {
            return names;
        }
    }
    (0..policies.len())
        .map(|i| PREFIXES.map(|prefix| format!("{prefix}-{i}")))
        .collect()
}

impl Ctx<'_> {
    /// The chain of `dir`/`action`/`policy` holding `blocks`, printed once.
    fn chain(&mut self, dir: Dir, action: Action, policy: usize, blocks: Vec<u32>) -> Printed {
        let id = (dir, action, policy, blocks);
        if let Some(p) = self.cache.get(&id) {
            return p.clone();
        }
        let name = self.chain_names[policy][prefix_index(dir, action)].clone();
        let (text, lines, sets) = self.build(dir, action, policy, &id.3, &name);
        let printed = Printed {
            name,
            text: text.into(),
            lines,
            sets: sets.into(),
        };
        self.cache.insert(id, printed.clone());
        printed
    }

    fn build(
        &self,
        dir: Dir,
        action: Action,
        policy: usize,
        blocks: &[u32],
        name: &str,
    ) -> (String, usize, Vec<String>) {
        let verdict = match action {
            Action::Allow => Verdict::Accept,
            Action::Deny => Verdict::Drop,
        };
        let mut rules: Vec<usize> = blocks
            .iter()
            .map(|&b| self.blocks[b as usize].rule)
            .collect();
        rules.sort_unstable();
        rules.dedup();
        let policy_name = &self.policies[policy];
        let owner = usual_owner(self.program, &rules);
        let (act, verb) = match (action, dir) {
            (Action::Allow, Dir::In) => ("allow", "to"),
            (Action::Deny, Dir::In) => ("deny", "to"),
            (Action::Allow, Dir::Out) => ("allow", "from"),
            (Action::Deny, Dir::Out) => ("deny", "from"),
        };
        let owned = owner.map(|o| format!(", owner {o}")).unwrap_or_default();
        let mut notes = vec![names::note(&format!(
            "policy {policy_name}: {act} rules for traffic {verb} this host{owned}"
        ))];
        for &r in &rules {
            let rule = &self.program.rules[r];
            let p = &rule.provenance;
            if p.doc.is_some() || p.reason.is_some() || p.owner.as_deref() != owner {
                notes.extend(rule_notes(rule));
            }
        }
        // Lines grouped by key in order of first appearance, ports united.
        let mut groups: Vec<(Rc<text::Key>, Vec<PortsOf>)> = Vec::new();
        let mut index: HashMap<*const text::Key, usize> = HashMap::new();
        let mut sets: Vec<String> = Vec::new();
        for &b in blocks {
            let block = &self.blocks[b as usize];
            for s in &block.sets {
                if !sets.contains(s) {
                    sets.push(s.clone());
                }
            }
            for l in &block.lines {
                let i = *index.entry(Rc::as_ptr(&l.key)).or_insert_with(|| {
                    groups.push((Rc::clone(&l.key), Vec::new()));
                    groups.len() - 1
                });
                if l.ports.is_empty() {
                    groups[i].1.push((0, 0, block.rule));
                } else {
                    groups[i]
                        .1
                        .extend(l.ports.iter().map(|&(lo, hi)| (lo, hi, block.rule)));
                }
            }
        }
        let mut lines = Vec::new();
        for (key, mut entries) in groups {
            entries.sort_unstable();
            let mut who: Vec<usize> = entries.iter().map(|e| e.2).collect();
            who.sort_unstable();
            who.dedup();
            for part in split(self.program, &who) {
                let ports = if key.ported {
                    let mut ranges: Vec<(u16, u16)> = Vec::new();
                    for &(lo, hi, r) in &entries {
                        if part.binary_search(&r).is_err() {
                            continue;
                        }
                        match ranges.last_mut() {
                            Some(last) if u32::from(lo) <= u32::from(last.1) + 1 => {
                                last.1 = last.1.max(hi)
                            }
                            _ => ranges.push((lo, hi)),
                        }
                    }
                    ranges
                } else {
                    Vec::new()
                };
                lines.push(Line {
                    key: (*key).clone(),
                    ports,
                    verdict,
                    comment: names::comment(&comment(self.program, &part)),
                });
            }
        }
        let mut out = String::with_capacity(64 + 160 * lines.len());
        let _ = writeln!(out, "\tchain {name} {{");
        text::notes(&mut out, "\t\t", &notes);
        for l in &lines {
            l.print(&mut out);
        }
        out.push_str("\t}\n");
        (out, lines.len(), sets)
    }
}

/// The owner most of the rules have (the first of equals), if any.
fn usual_owner<'p>(program: &'p Program, rules: &[usize]) -> Option<&'p str> {
    let mut counts: Vec<(Option<&str>, usize)> = Vec::new();
    for &r in rules {
        let owner = program.rules[r].provenance.owner.as_deref();
        match counts.iter_mut().find(|(o, _)| *o == owner) {
            Some((_, n)) => *n += 1,
            None => counts.push((owner, 1)),
        }
    }
    let mut best: Option<(Option<&str>, usize)> = None;
    for (o, n) in counts {
        if best.is_none_or(|(_, m)| n > m) {
            best = Some((o, n));
        }
    }
    best.and_then(|(o, _)| o)
}

/// `#` lines with what a rule says beyond its id (see
/// [`seg_ir::names::rule_summary`]).
fn rule_notes(rule: &Rule) -> Vec<String> {
    seg_ir::names::rule_summary(rule)
        .iter()
        .map(|l| names::note(l))
        .collect()
}

/// `policy#a,b` for rules whose ids share their policy prefix, else the ids
/// joined by `,`.
fn comment(program: &Program, rules: &[usize]) -> String {
    let ids: Vec<&str> = rules
        .iter()
        .map(|&r| program.rules[r].provenance.id.as_str())
        .collect();
    let policy = &program.rules[rules[0]].provenance.policy;
    let prefix = format!("{policy}#");
    if ids.len() > 1 && ids.iter().all(|i| i.starts_with(&prefix)) {
        let tails: Vec<&str> = ids.iter().map(|i| &i[prefix.len()..]).collect();
        format!("{prefix}{}", tails.join(","))
    } else {
        ids.join(",")
    }
}

/// Ascending rules cut into runs whose comment fits.
fn split(program: &Program, rules: &[usize]) -> Vec<Vec<usize>> {
    let mut out: Vec<Vec<usize>> = Vec::new();
    let mut run: Vec<usize> = Vec::new();
    for &r in rules {
        run.push(r);
        if run.len() > 1 && !names::fits(&comment(program, &run)) {
            run.pop();
            out.push(std::mem::replace(&mut run, vec![r]));
        }
    }
    if !run.is_empty() {
        out.push(run);
    }
    out
}

/// Loopback, conntrack and (IPv6) neighbour discovery, before any policy.
const INPUT_BASE: &str = "\t\tiif \"lo\" accept comment \"seg: loopback\"
\t\tct state vmap { invalid : drop, established : accept, related : accept } comment \"seg: replies and related errors; invalid packets dropped\"
\t\t# neighbour discovery is IPv6's ARP: conntrack does not track it. Hop limit 255 (RFC 4861): from the link, not routed.
\t\ticmpv6 type { nd-router-solicit, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert } ip6 hoplimit 255 accept comment \"seg: neighbour discovery\"
\t\ticmpv6 type mld-listener-query ip6 hoplimit 1 accept comment \"seg: multicast listener query\"
";
const OUTPUT_BASE: &str = "\t\toif \"lo\" accept comment \"seg: loopback\"
\t\tct state vmap { invalid : drop, established : accept, related : accept } comment \"seg: replies and related errors; invalid packets dropped\"
\t\ticmpv6 type { nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert } ip6 hoplimit 255 accept comment \"seg: neighbour discovery\"
\t\ticmpv6 type mld2-listener-report ip6 hoplimit 1 accept comment \"seg: multicast listener report\"
";

fn emit_host(
    cx: &mut Ctx<'_>,
    host: &Host,
    set_texts: &HashMap<&str, Rc<str>>,
    emission: &mut Emission,
) {
    let program = cx.program;
    let identity = program.identity(host.id);
    let file = format!("{}.nft", host.stem);
    let mut jumps: [String; 2] = Default::default();
    let mut chains: Vec<Printed> = Vec::new();
    for (d, dir) in [Dir::In, Dir::Out].into_iter().enumerate() {
        // Blocks grouped by (action, policy), deny chains first.
        let mut groups: Vec<(Action, usize, Vec<u32>)> = Vec::new();
        let mut index: HashMap<(Action, usize), usize> = HashMap::new();
        for action in [Action::Deny, Action::Allow] {
            for &b in &host.blocks[d] {
                let rule = &program.rules[cx.blocks[b as usize].rule];
                if rule.action != action {
                    continue;
                }
                let policy = cx.policy_index[rule.provenance.policy.as_str()];
                let i = *index.entry((action, policy)).or_insert_with(|| {
                    groups.push((action, policy, Vec::new()));
                    groups.len() - 1
                });
                groups[i].2.push(b);
            }
        }
        for (action, policy, members) in groups {
            let printed = cx.chain(dir, action, policy, members);
            emission.rules += printed.lines;
            let act = if action == Action::Deny {
                "deny"
            } else {
                "allow"
            };
            let _ = writeln!(
                jumps[d],
                "\t\tjump {} comment \"{}\"",
                printed.name,
                names::comment(&format!("seg: policy {} {act}", cx.policies[policy]))
            );
            chains.push(printed);
        }
    }
    let mut used: Vec<&str> = Vec::new();
    for c in &chains {
        for s in c.sets.iter() {
            if !used.contains(&s.as_str()) {
                used.push(s);
            }
        }
    }
    used.sort_unstable();
    let mut body = String::new();
    for name in &used {
        if let Some(text) = set_texts.get(name) {
            body.push_str(text);
            emission
                .objects
                .push(Object::new("set", *name, &file, text.as_bytes()));
        }
    }
    let base = [
        ("input", "input", INPUT_BASE, &jumps[0]),
        ("output", "output", OUTPUT_BASE, &jumps[1]),
    ];
    for (name, hook, first, jumps) in base {
        let text = format!(
            "\tchain {name} {{\n\t\ttype filter hook {hook} priority filter; policy drop;\n{first}{jumps}\t}}\n"
        );
        emission
            .objects
            .push(Object::new("chain", name, &file, text.as_bytes()));
        body.push_str(&text);
    }
    let forward = "\tchain forward {\n\t\ttype filter hook forward priority filter; policy drop;\n\t\t# a host does not route: nothing is forwarded\n\t}\n";
    emission
        .objects
        .push(Object::new("chain", "forward", &file, forward.as_bytes()));
    body.push_str(forward);
    for c in &chains {
        emission.objects.push(Object::new(
            "chain",
            c.name.as_str(),
            &file,
            c.text.as_bytes(),
        ));
        body.push_str(&c.text);
    }
    let table = format!("table inet {} {{\n{body}}}\n", crate::TABLE);
    emission.objects.push(Object::new(
        "table",
        format!("inet {}", crate::TABLE),
        &file,
        table.as_bytes(),
    ));
    let addresses: Vec<String> = identity.addresses.iter().map(ToString::to_string).collect();
    let header = [
        format!("seg {}: generated: do not edit", env!("CARGO_PKG_VERSION")),
        format!("meaning: sha256 {}", cx.meaning),
        format!("host: {} ({})", identity.name, addresses.join(", ")),
        format!(
            "load: nft -f {file} (one transaction: table inet {0} is deleted and recreated with its sets; other tables are untouched)",
            crate::TABLE
        ),
        "time: meta hour in seconds of the UTC day, meta day 0 = Sunday, meta time in Unix seconds (numbers: nft does not convert them with TZ)".into(),
        "input and output drop what no rule allows; every deny chain runs before every allow chain".into(),
    ];
    let mut out = String::with_capacity(table.len() + 1024);
    let header: Vec<String> = header.iter().map(|h| names::note(h)).collect();
    text::notes(&mut out, "", &header);
    let _ = writeln!(
        out,
        "add table inet {0}\ndelete table inet {0}",
        crate::TABLE
    );
    out.push_str(&table);
    emission.artifacts.push(Artifact {
        path: file,
        contents: out.into_bytes(),
    });
}
