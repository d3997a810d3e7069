//! The reach lints of `seg check`, driven by `seg.toml [reach]`:
//!
//! - W0501 `exposure`: an entry point (a segment or identity reachable from
//!   outside) reaches a critical identity within `hops` hops; one warning per
//!   (entry, critical identity) with a shortest path, at the rule of its
//!   first hop, every later hop's rule labelled;
//! - W0502 `blast-radius`: an identity whose blast radius (identities reached
//!   in any number of hops) exceeds the configured number, at the identity
//!   in the inventory;
//! - E0161: an entry that names no segment and no identity.
//!
//! Both use the default attacker model: windows open at some time, expiry at
//! the build's `now`, the configured pivot kinds.

use crate::analysis::Analysis;
use crate::closure::Closure;
use crate::model::Model;
use crate::report::{Describe, network_text};
use crate::search::{Node, Origin, Search};
use seg_check::Outline;
use seg_diag::{Code, Diagnostic, Diagnostics, Span, did_you_mean};
use seg_ir::{IdentityId, IdentityKind, Program};
use std::collections::BTreeSet;

/// At most this many warnings of one code; the rest are summed up in one more.
pub const MAX_WARNINGS: usize = 50;

pub struct Config<'a> {
    /// Entry names with where `seg.toml` writes them.
    pub entry: &'a [(String, Span)],
    pub hops: u32,
    pub pivot: BTreeSet<IdentityKind>,
    /// The `blast-radius` threshold.
    pub blast_radius: Option<usize>,
    /// The critical identities and the predicate that names them.
    pub critical: &'a [IdentityId],
    pub critical_text: Option<&'a str>,
}

/// Run the reach lints (see the module docs).
pub fn check(program: &Program, outline: &Outline, cfg: &Config, diags: &mut Diagnostics) {
    let needs_paths = !cfg.entry.is_empty() && !cfg.critical.is_empty();
    if !needs_paths && cfg.blast_radius.is_none() && cfg.entry.is_empty() {
        return;
    }
    let model = Model {
        at: None,
        pivot: cfg.pivot.clone(),
    };
    let analysis = Analysis::new(program, model);
    let mut entries = Vec::new();
    for (name, span) in cfg.entry {
        match resolve(&analysis, outline, name) {
            Some(origins) => entries.push((name, origins)),
            None => diags.push(unknown_entry(program, outline, name, *span)),
        }
    }
    if needs_paths && entries.len() == cfg.entry.len() {
        exposure(&analysis, outline, cfg, &entries, diags);
    }
    if let Some(limit) = cfg.blast_radius {
        blast_radius(&analysis, limit, diags);
    }
}

/// The origins an entry name stands for: an identity, or a segment's
/// identities and the outside parts of its networks.
pub fn resolve(a: &Analysis, outline: &Outline, name: &str) -> Option<Vec<Origin>> {
    if let Some(i) = a.program.identity_by_name(name) {
        return Some(vec![Origin::Identity(i.id)]);
    }
    let s = outline.segment(name)?;
    let mut origins: Vec<Origin> = s.identities().map(Origin::Identity).collect();
    origins.extend(
        a.entry_parts(&s.network_set())
            .into_iter()
            .map(Origin::Part),
    );
    Some(origins)
}

fn unknown_entry(program: &Program, outline: &Outline, name: &str, span: Span) -> Diagnostic {
    let names = program
        .identities
        .iter()
        .map(|i| i.name.as_str())
        .chain(outline.segments.iter().map(|s| s.name.as_str()));
    let d = Diagnostic::error(
        Code::UnknownEntry,
        format!("entry point `{name}` is neither a segment nor an identity"),
    )
    .with_primary(span, "no segment or identity of this name");
    match did_you_mean(name, names) {
        Some(s) => d.with_help(format!("did you mean `{s}`?")),
        None => d.with_help(
            "name a segment of the policy (or of `std::segments`, such as `internet`) or an inventory identity",
        ),
    }
}

fn exposure(
    a: &Analysis,
    outline: &Outline,
    cfg: &Config,
    entries: &[(&String, Vec<Origin>)],
    diags: &mut Diagnostics,
) {
    let critical: BTreeSet<IdentityId> = cfg.critical.iter().copied().collect();
    let describe = Describe::new(a.program, Some(outline));
    let mut found: Vec<(u32, usize, IdentityId, Diagnostic)> = Vec::new();
    for (e, (name, origins)) in entries.iter().enumerate() {
        let search = Search::run(a, origins.clone(), Some(cfg.hops));
        for &c in &critical {
            let (Some(hop), Some(path)) = (search.hop_of(c), search.path(c)) else {
                continue;
            };
            let program = a.program;
            let crit = &program.identity(c).name;
            let mut d = Diagnostic::warning(
                Code::ExposurePath,
                format!(
                    "entry point `{name}` reaches critical identity `{crit}` in {hop} {}",
                    if hop == 1 { "hop" } else { "hops" }
                ),
            );
            let mut line = Vec::new();
            for (k, step) in path.steps.iter().enumerate() {
                let from = match &step.from {
                    Node::Identity(id) => format!("`{}`", program.identity(*id).name),
                    Node::Network(addrs) => format!("`{name}` ({})", network_text(addrs)),
                };
                let to = &program.identity(step.to).name;
                let report = describe.step(&step.from, Some(step.to), &step.hop);
                let rule = step.hop.allows.first().map(|&r| &program.rules[r]);
                if let Some(rule) = rule {
                    let label = format!("hop {}: {from} -> `{to}` on {}", k + 1, report.ports);
                    d = if k == 0 {
                        d.with_primary(rule.provenance.origin, label)
                    } else {
                        d.with_secondary(rule.provenance.origin, label)
                    };
                }
                let by: Vec<String> = report
                    .rules
                    .iter()
                    .map(|r| format!("{} at {}:{}", r.rule, r.file, r.line))
                    .collect();
                line.push(format!(
                    "{from} -> `{to}` on {} by {}",
                    report.ports,
                    by.join(", ")
                ));
            }
            d = d.with_note(format!("path: {}", line.join("; then ")));
            if let Some(text) = cfg.critical_text {
                d = d.with_note(format!(
                    "`{crit}` is critical by `seg.toml [reach] critical = {text:?}`"
                ));
            }
            d = d.with_help(format!(
                "narrow a rule on this path, or see every shortest path: `seg reach {name} --to {crit}`"
            ));
            found.push((hop, e, c, d));
        }
    }
    found.sort_by_key(|(hop, e, c, _)| (*hop, *e, *c));
    let total = found.len();
    for (_, _, _, d) in found.into_iter().take(MAX_WARNINGS) {
        diags.push(d);
    }
    if total > MAX_WARNINGS {
        diags.push(
            Diagnostic::warning(
                Code::ExposurePath,
                format!(
                    "{} more paths from entry points to critical identities",
                    total - MAX_WARNINGS
                ),
            )
            .with_note(format!(
                "the first {MAX_WARNINGS} are reported above, shortest first"
            ))
            .with_help("`seg reach ENTRY` lists everything an entry point reaches"),
        );
    }
}

fn blast_radius(a: &Analysis, limit: usize, diags: &mut Diagnostics) {
    let closure = Closure::new(a);
    let sizes = closure.sizes(a);
    let program = a.program;
    let mut over: Vec<(u64, IdentityId)> = sizes
        .iter()
        .enumerate()
        .filter(|(_, s)| **s > limit as u64)
        .map(|(i, s)| (*s, IdentityId(i as u32)))
        .collect();
    over.sort_by(|x, y| y.0.cmp(&x.0).then(x.1.cmp(&y.1)));
    let total = over.len();
    for &(size, id) in over.iter().take(MAX_WARNINGS) {
        let identity = program.identity(id);
        diags.push(
            Diagnostic::warning(
                Code::BlastRadius,
                format!(
                    "a compromise of `{}` reaches {size} identities, more than {limit}",
                    identity.name
                ),
            )
            .with_primary(identity.origin, format!("reaches {size} identities"))
            .with_note("`seg.toml [reach] blast-radius` sets the limit; identities are counted in any number of hops")
            .with_help(format!(
                "see what it reaches and through which rules: `seg reach {}`",
                identity.name
            )),
        );
    }
    if total > MAX_WARNINGS {
        diags.push(
            Diagnostic::warning(
                Code::BlastRadius,
                format!(
                    "{} more identities reach more than {limit} identities",
                    total - MAX_WARNINGS
                ),
            )
            .with_note(format!("the {MAX_WARNINGS} largest are reported above"))
            .with_help("`seg build` lists every identity's blast radius in `report.json`"),
        );
    }
}
