//! Inventory loading, name resolution, type checking, lints and lowering to the IR.
//!
//! [`check`] runs, in order: scopes and imports ([`resolve`]), services and
//! segments in dependency order ([`sets`]), policies ([`lower`]: typing of
//! conditions in [`typeck`], the static/dynamic split in [`cond`]), tests
//! ([`lower::expect`]) and the project-wide lints ([`lints`]). Every problem
//! is collected; the program is returned only when none is an error.
//! Lint levels from `seg.toml` are applied later by the driver.

pub mod inventory;
pub mod manifest;
pub mod schema;

mod cond;
use seg_ir::fasthash;
mod idset;
mod index;
mod lints;
mod lower;
mod pred;
mod problems;
mod resolve;
mod sets;
mod typeck;

use seg_diag::{Diagnostics, FileId, SourceMap};
use seg_ir::{ContextType, Program};
use std::collections::BTreeMap;

/// One parsed `.seg` file.
#[derive(Clone, Debug)]
pub struct Unit {
    pub file: FileId,
    /// Project-relative with `/` (`policy/payments.seg`); for the standard
    /// library the file name (`<std>/services.seg`).
    pub path: String,
    /// `Some("std::services")` for standard-library modules.
    pub module: Option<String>,
    /// Shared: a language server keeps the trees of unchanged files and hands
    /// them to every check without copying them.
    pub ast: std::sync::Arc<seg_syntax::ast::File>,
}

pub struct CheckInput<'a> {
    pub units: &'a [Unit],
    pub inventory: &'a inventory::Inventory,
    pub map: &'a SourceMap,
    pub project: &'a str,
    pub source_hash: &'a str,
    /// The build time; every reading narrows the span of instants at which
    /// the compilation comes out the same (see [`seg_ir::Now`]).
    pub now: &'a seg_ir::Now,
    /// `seg.toml [jit]`: the grants file and its lints (`None`: no such checks).
    pub jit: Option<JitInput<'a>>,
}

/// What the checker needs of `seg.toml [jit]`.
pub struct JitInput<'a> {
    pub settings: &'a manifest::Jit,
    /// `grantable`, parsed; its spans lie in a source-map file of its own.
    pub grantable: Option<seg_syntax::ast::Pred>,
}

impl<'a> JitInput<'a> {
    /// `grantable` parsed into a source-map file of its own, named
    /// `seg.toml [jit] grantable`, so that problems of names and types in it
    /// are shown on its text. (The manifest has checked its syntax.)
    pub fn load(settings: &'a manifest::Jit, map: &mut SourceMap) -> JitInput<'a> {
        let grantable = settings.grantable.as_ref().and_then(|text| {
            let file = map.add("seg.toml [jit] grantable", text.clone());
            seg_syntax::parse_predicate(file, text).ok()
        });
        JitInput {
            settings,
            grantable,
        }
    }
}

/// What the source says that the checked program flattens away: the members
/// every segment evaluated to (`seg lsp` hovers, `seg graph` nodes) and each
/// rule as written (`seg reach` paths, `seg graph` edge labels).
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Outline {
    pub segments: Vec<SegmentOutline>,
    /// By IR rule label (`policy/1`, `policy/2.1`): that direction of the rule as written.
    pub rules: BTreeMap<String, RuleOutline>,
}

impl Outline {
    /// The project's segment of that name, else the standard library's.
    pub fn segment(&self, name: &str) -> Option<&SegmentOutline> {
        let mut found = self.segments.iter().filter(|s| s.name == name);
        let first = found.next()?;
        Some(if first.stdlib {
            found.find(|s| !s.stdlib).unwrap_or(first)
        } else {
            first
        })
    }
}

impl SegmentOutline {
    /// The member identities (none when the segment could not be evaluated).
    pub fn identities(&self) -> impl Iterator<Item = seg_ir::IdentityId> + '_ {
        self.members
            .iter()
            .flatten()
            .map(|&i| seg_ir::IdentityId(i))
    }

    /// The networks as one set.
    pub fn network_set(&self) -> seg_ir::CidrSet {
        seg_ir::CidrSet::from_nets(&self.networks)
    }
}

/// One direction of a rule as written: `payments`, `ledger`, `[postgres]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RuleOutline {
    pub src: String,
    pub dst: String,
    /// Each service as written: a named service or a port spec.
    pub services: Vec<String>,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct SegmentOutline {
    /// Index of the defining unit in [`CheckInput::units`].
    pub unit: usize,
    pub name: String,
    /// The name in its definition.
    pub span: seg_diag::Span,
    /// Identity ids (positions in the inventory), ascending; `None` when the
    /// segment could not be evaluated (an error inside it, or a cycle).
    pub members: Option<Vec<u32>>,
    /// Its networks, as CIDRs.
    pub networks: Vec<ipnet::IpNet>,
    /// The defining file (`policy/payments.seg`, `<std>/segments.seg`) and line.
    pub file: String,
    pub line: u32,
    pub doc: Option<String>,
    /// Defined in the standard library.
    pub stdlib: bool,
}

/// Resolve names, type-check, lint and lower to the IR. `None` when any
/// error was recorded (warnings do not stop it).
pub fn check(input: &CheckInput, diags: &mut Diagnostics) -> Option<Program> {
    check_outlined(input, diags, None)
}

/// The identities for which an `identities where` predicate holds (as
/// `seg.toml [reach] critical` names them), typed against the inventory's
/// attributes (E0203, E0301, E0302); `None` after an error.
pub fn select(
    inventory: &inventory::Inventory,
    now: &seg_ir::Now,
    pred: &seg_syntax::ast::Pred,
    diags: &mut Diagnostics,
) -> Option<Vec<seg_ir::IdentityId>> {
    let contexts = indexmap::IndexMap::new();
    let typer = typeck::Typer {
        inv: inventory,
        contexts: &contexts,
    };
    let typed = typer.pred(pred, 0, diags)?;
    let index = index::InvIndex::new(inventory, now);
    let ids = pred::PredEval::new(&index).eval(&typed);
    Some(ids.iter().map(seg_ir::IdentityId).collect())
}

/// [`check`], also filling `outline` (even when there are errors).
pub fn check_outlined(
    input: &CheckInput,
    diags: &mut Diagnostics,
    outline: Option<&mut Outline>,
) -> Option<Program> {
    let (rules, omitted, contexts, tests) = check_rules(input, diags, outline)?;
    Some(Program {
        project: input.project.to_string(),
        source_hash: input.source_hash.to_string(),
        // A reuse of a cached compilation sets its own now (`Program::now` is
        // read by the analyses, not by the checker).
        now: input.now.unread(),
        // Shared with the inventory, not copied.
        identities: input.inventory.identities.clone(),
        rules,
        omitted,
        contexts,
        tests,
    })
}

type Checked = (
    Vec<seg_ir::Rule>,
    Vec<seg_ir::OmittedRule>,
    BTreeMap<String, ContextType>,
    Vec<seg_ir::Test>,
);

/// Inventories from this many identities get their attribute indexes built
/// ahead, in parallel (below, a thread costs more than it saves).
const PARALLEL_COLUMNS: usize = 4096;

/// Policies with this many rules in all get their rule ids hashed on two
/// cores (below, the thread costs more than it saves). From two shares of
/// [`lower::rule_id`]'s 256 rules: at 1,000 rules the hashes were a third
/// of the check on the calling thread while the other core waited.
const PARALLEL_RULE_IDS: usize = 512;

/// Everything but the identities; `None` when an error was recorded.
fn check_rules(
    input: &CheckInput,
    diags: &mut Diagnostics,
    outline: Option<&mut Outline>,
) -> Option<Checked> {
    // The attribute indexes need only the inventory and most policies use
    // them: in a large inventory they are built on a second core while this
    // one indexes names and addresses and resolves the units.
    // So are the rule ids' hashes, the largest part of lowering a large
    // policy: a second core works on them while this one resolves, lowers
    // and lints the rules (which need only their labels), then joins in; the
    // ids are added to the lowered rules last.
    let rule_ids = lower::rule_id::RuleIds::new(input.units);
    std::thread::scope(|s| {
        let columns = (input.inventory.identities.len() >= PARALLEL_COLUMNS)
            .then(|| s.spawn(|| index::columns(input.inventory)));
        let hashing = (rule_ids.rules() >= PARALLEL_RULE_IDS).then(|| s.spawn(|| rule_ids.work()));
        let index = index::InvIndex::new(input.inventory, input.now);
        let resolved = resolve::resolve(input.units, diags);
        if let Some(handle) = columns {
            match handle.join() {
                Ok(built) => index.prefill(built),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        let mut env = sets::Env::new(input.units, &index, resolved);
        env.eval_services(diags);
        let deferred = env.eval_segments(diags);
        let mut outline = outline;
        if let Some(outline) = outline.as_deref_mut() {
            outline.segments = env.outline(input.map);
        }
        let mut lowered = lower::policies(&env, input, diags);
        if let Some(outline) = outline {
            outline.rules = lowered
                .rules
                .iter()
                .zip(&lowered.written)
                .map(|(r, w)| (r.provenance.label.clone(), w.clone()))
                .collect();
        }
        let tests = lower::expect::tests(&env, input, diags);
        // Problems inside a standard-library segment matter only if it is used.
        for (i, d) in deferred.into_iter().enumerate() {
            if env.res.seg_used[i].get() {
                diags.extend(d);
            }
        }
        lints::names(&env, diags);
        // Every rule that lowered gets the coverage lints, even when other rules have errors:
        // a rule that failed to lower can only have covered more, so what they report holds.
        lints::coverage::check(&lowered, &index, diags);
        lints::jit::check(&env, input, &lowered, diags);
        rule_ids.work();
        if let Some(Err(panic)) = hashing.map(|h| h.join()) {
            std::panic::resume_unwind(panic);
        }
        if diags.has_errors() {
            return None;
        }
        lower::name_rules(&mut lowered, input, rule_ids.finish());
        checked(&env, lowered, tests)
    })
}

/// The program's parts once checked without error.
fn checked(env: &sets::Env, lowered: lower::Lowered, tests: Vec<seg_ir::Test>) -> Option<Checked> {
    let contexts = env
        .res
        .contexts
        .iter()
        .map(|(name, input)| {
            let ty = match &input.ty.node {
                seg_syntax::ast::ContextType::String => ContextType::String,
                seg_syntax::ast::ContextType::Int => ContextType::Int,
                seg_syntax::ast::ContextType::Bool => ContextType::Bool,
                seg_syntax::ast::ContextType::Enum(v) => ContextType::Enum(v.clone()),
            };
            (name.clone(), ty)
        })
        .collect();
    // Pushed one by one, the rules' list has up to twice the room it needs
    // (a rule is some 500 bytes): the program keeps only what it holds.
    let (mut rules, mut omitted) = (lowered.rules, lowered.omitted);
    rules.shrink_to_fit();
    omitted.shrink_to_fit();
    Some((rules, omitted, contexts, tests))
}
