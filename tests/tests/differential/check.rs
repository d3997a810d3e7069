//! One estate through the whole pipeline and every engine, flow by flow.
//!
//! For each target T and flow f (at the engine's [`Clock`]: the flow's own
//! instant for OPA, the build's `now` for the clouds and Kubernetes, the
//! machine's for iptables; address-based engines leave out flows with an end
//! that shares addresses with another identity, W0101):
//! - `full`  = `decide(program, f)`, the reference semantics;
//! - `tref`  = `decide(prepare(program, T, layered), f)`, T's verification
//!   reference (fail closed for what T cannot see, layered classes satisfied);
//! - `engine` = T's output decided by its independent engine.
//!
//! Problems:
//! - `over_permissive`: the engine allows (some packet) where `tref` denies;
//! - `over_restrictive`: the engine denies where `tref` allows, unless the
//!   protocol is one the engine cannot hold exactly and the build report
//!   lists a `narrowed`/`omitted` approximation for an allow that matched;
//! - `pass_permissive`: `tref` allows what `full` denies without a `layered`
//!   approximation in the build report for a rule that matched;
//! - `unreported`: `tref` (or the engine) denies what `full` allows and the
//!   build report lists no `omitted`/`narrowed`/`deny_widened`/
//!   `identity_dropped` approximation for an allow that matched in `full` or a
//!   deny that matched in `tref`;
//! - `does_not_compile`, `build_failed`, `crash`, `engine_error`: the estate
//!   did not get that far.

use crate::cloud::{cases, check::owners};
use crate::engines::{self, Clock, EngineKind};
use crate::iptables::fixtures;
use seg::driver::{BuildOutcome, Input};
use seg_diag::{Diagnostic, Diagnostics};
use seg_ir::capability::ApproximationKind;
use seg_ir::eval::{Decision, decide};
use seg_ir::{Action, Flow, Program};
use seg_tests::estate::{self, Estate, FlowSpec};
use std::collections::{BTreeMap, BTreeSet};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    DoesNotCompile,
    BuildFailed,
    Crash,
    EngineError,
    OverPermissive,
    OverRestrictive,
    PassPermissive,
    Unreported,
}

#[derive(Clone, Debug)]
pub struct Problem {
    pub kind: Kind,
    /// The target, or `""` for the front end.
    pub target: &'static str,
    pub flow: Option<FlowSpec>,
    pub detail: String,
}

impl Problem {
    fn new(kind: Kind, target: &'static str, flow: Option<&FlowSpec>, detail: String) -> Problem {
        Problem {
            kind,
            target,
            flow: flow.cloned(),
            detail,
        }
    }

    /// Same failure, for the minimiser: kind and target, and a flow's
    /// failure stays a flow's (not an engine-wide complaint).
    pub fn same(&self, other: &Problem) -> bool {
        self.kind == other.kind
            && self.target == other.target
            && self.flow.is_some() == other.flow.is_some()
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?} on `{}`: {}", self.kind, self.target, self.detail)?;
        if let Some(flow) = &self.flow {
            write!(
                f,
                "\n  flow: {}",
                serde_json::to_string(flow).unwrap_or_default()
            )?;
        }
        Ok(())
    }
}

/// Counts over flows, per target.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    pub flows: usize,
    pub packets: usize,
    pub out_of_scope: usize,
    pub allowed: usize,
    /// `tref` denies what `full` allows, with the approximation reported.
    pub approximated: usize,
    /// `tref` allows what `full` denies through a `layered` relaxation.
    pub relaxed: usize,
    /// Cloud flows left out: an end shares addresses with another identity
    /// (W0101), which no address-based target can tell apart.
    pub ambiguous: usize,
}

#[derive(Debug, Default)]
pub struct Outcome {
    pub problems: Vec<Problem>,
    pub tallies: BTreeMap<&'static str, Tally>,
    /// Warning codes the build raised.
    pub warnings: BTreeSet<String>,
}

/// The estate compiled and built for every target.
pub struct Built {
    pub program: Program,
    pub outcome: BuildOutcome,
    /// Each target's verification reference (the capability pass).
    pub prepared: BTreeMap<&'static str, Program>,
    pub diags: Vec<Diagnostic>,
}

fn errors_text(map: &seg_diag::SourceMap, diags: &Diagnostics) -> String {
    let errors: Vec<Diagnostic> = diags.iter().filter(|d| d.is_error()).cloned().collect();
    seg_diag::render_human(map, &errors, seg_diag::ColorChoice::Never)
}

/// Write, compile and build every target of `seg.toml`.
pub fn build(estate: &Estate, dir: &Path, targets: &[&'static str]) -> Result<Built, Box<Problem>> {
    estate.write(dir).map_err(|e| {
        Box::new(Problem::new(
            Kind::DoesNotCompile,
            "",
            None,
            format!("cannot write the estate: {e}"),
        ))
    })?;
    let input = Input::from_args(Some(dir), &[])
        .map_err(|d| Box::new(Problem::new(Kind::DoesNotCompile, "", None, d.message)))?;
    let comp = seg::driver::compile(&input, estate::now());
    let (Some(program), Some(manifest), false) =
        (comp.program, comp.manifest, comp.diags.has_errors())
    else {
        return Err(Box::new(Problem::new(
            Kind::DoesNotCompile,
            "",
            None,
            errors_text(&comp.map, &comp.diags),
        )));
    };
    let mut diags = Diagnostics::new();
    let outcome =
        seg::driver::build(&program, &manifest, &comp.root, &[], &mut diags).ok_or_else(|| {
            Box::new(Problem::new(
                Kind::BuildFailed,
                "",
                None,
                errors_text(&comp.map, &diags),
            ))
        })?;
    let mut prepared = BTreeMap::new();
    for t in targets {
        let backend = seg::driver::backend_for(t).expect("known target");
        let p = cases::prepare(&program, backend, &manifest.layered).ok_or_else(|| {
            Box::new(Problem::new(
                Kind::BuildFailed,
                t,
                None,
                "the capability pass reports an error the build did not".into(),
            ))
        })?;
        prepared.insert(*t, p);
    }
    let mut all = comp.diags.into_vec();
    all.extend(diags.into_vec());
    Ok(Built {
        program,
        outcome,
        prepared,
        diags: all,
    })
}

/// Check every flow of the estate on every engine.
pub fn check(estate: &Estate, kinds: &[EngineKind]) -> Outcome {
    let mut out = Outcome::default();
    let dir = tempfile::tempdir().expect("temp dir");
    let targets: Vec<&'static str> = kinds.iter().map(|k| k.target()).collect();
    let built = match catch_unwind(AssertUnwindSafe(|| build(estate, dir.path(), &targets))) {
        Ok(Ok(b)) => b,
        Ok(Err(p)) => {
            out.problems.push(*p);
            return out;
        }
        Err(e) => {
            out.problems
                .push(Problem::new(Kind::Crash, "", None, panic_text(&e)));
            return out;
        }
    };
    out.warnings = built
        .diags
        .iter()
        .filter(|d| !d.is_error())
        .filter_map(|d| d.code.map(|c| c.as_str().to_string()))
        .collect();
    let shared = sharing_addresses(&built.program);
    // One instant for every wall-clock engine of this check.
    let wall = fixtures::now();
    for &kind in kinds {
        let t = kind.target();
        let tally = out.tallies.entry(t).or_default();
        let mut flows: Vec<(&FlowSpec, Flow)> = Vec::new();
        for spec in &estate.flows {
            let Some(mut flow) = spec.to_flow(&built.program) else {
                continue;
            };
            match kind.clock() {
                Clock::Flow => {}
                Clock::Build => flow.at = built.program.now,
                Clock::Wall => flow.at = wall,
            }
            if kind.address_based() {
                let ends = [flow.src, flow.dst].map(|e| owners(&built.program, e));
                if ends.iter().flatten().any(|i| shared.contains(i)) {
                    tally.ambiguous += 1;
                    continue;
                }
            }
            flows.push((spec, flow));
        }
        let only: Vec<Flow> = flows.iter().map(|(_, f)| f.clone()).collect();
        let loaded = catch_unwind(AssertUnwindSafe(|| {
            engines::load(kind, &built.outcome.files, &built.prepared[t], &only)
        }));
        let mut engine = match loaded {
            Ok(Ok(e)) => e,
            Ok(Err(e)) => {
                out.problems
                    .push(Problem::new(Kind::EngineError, t, None, e));
                continue;
            }
            Err(e) => {
                out.problems
                    .push(Problem::new(Kind::Crash, t, None, panic_text(&e)));
                continue;
            }
        };
        for (i, (spec, flow)) in flows.iter().enumerate() {
            let result = catch_unwind(AssertUnwindSafe(|| {
                flow_problem(&built, kind, &mut engine, i, flow, spec, tally)
            }));
            match result {
                Ok(Some(p)) => out.problems.push(p),
                Ok(None) => {}
                Err(e) => {
                    out.problems
                        .push(Problem::new(Kind::Crash, t, Some(spec), panic_text(&e)))
                }
            }
        }
        // After the flows, so that the case minimised is a flow's when one fails too.
        let complaints = engine.complaints();
        if !complaints.is_empty() {
            let mut text = complaints[..complaints.len().min(4)].join("\n  ");
            if complaints.len() > 4 {
                text.push_str(&format!("\n  and {} more", complaints.len() - 4));
            }
            out.problems
                .push(Problem::new(Kind::OverPermissive, t, None, text));
        }
    }
    out
}

/// Identities whose addresses overlap another identity's (W0101).
fn sharing_addresses(program: &Program) -> BTreeSet<usize> {
    let ids = &program.identities;
    let mut out = BTreeSet::new();
    for (i, a) in ids.iter().enumerate() {
        for (j, b) in ids.iter().enumerate().skip(i + 1) {
            let overlap = a.addresses.iter().any(|x| {
                b.addresses
                    .iter()
                    .any(|y| x.contains(&y.network()) || y.contains(&x.network()))
            });
            if overlap {
                out.extend([i, j]);
            }
        }
    }
    out
}

fn panic_text(e: &Box<dyn std::any::Any + Send>) -> String {
    e.downcast_ref::<String>()
        .cloned()
        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panic".into())
}

fn labels(program: &Program, d: &Decision, action: Option<Action>) -> BTreeSet<String> {
    d.matched
        .iter()
        .map(|id| &program.rules[id.0 as usize])
        .filter(|r| action.is_none_or(|a| r.action == a))
        .map(|r| r.provenance.label.clone())
        .collect()
}

fn reported(
    built: &Built,
    target: &str,
    kinds: &[ApproximationKind],
    rules: &BTreeSet<String>,
) -> bool {
    built
        .outcome
        .reports
        .iter()
        .filter(|r| r.target == target)
        .flat_map(|r| &r.approximations)
        .any(|a| kinds.contains(&a.kind) && rules.contains(&a.rule))
}

/// The build report lists that `target` cannot hold part of an allow that
/// decided the flow (`narrowed`/`omitted`, from the capability pass or the
/// lowering).
fn engine_narrowing(built: &Built, target: &str, prepared: &Program, tref: &Decision) -> bool {
    reported(
        built,
        target,
        &[ApproximationKind::Narrowed, ApproximationKind::Omitted],
        &labels(prepared, tref, Some(Action::Allow)),
    )
}

fn flow_problem(
    built: &Built,
    kind: EngineKind,
    engine: &mut engines::Engine,
    index: usize,
    flow: &Flow,
    spec: &FlowSpec,
    tally: &mut Tally,
) -> Option<Problem> {
    let t = kind.target();
    let program = &built.program;
    let prepared = &built.prepared[t];
    let full = decide(program, flow);
    let tref = decide(prepared, flow);
    tally.flows += 1;
    let problem = |k: Kind, detail: String| Some(Problem::new(k, t, Some(spec), detail));
    let answer = match engine.decide(program, index, flow) {
        Err(e) => return problem(Kind::EngineError, e),
        Ok(None) => {
            tally.out_of_scope += 1;
            None
        }
        Ok(Some(a)) => Some(a),
    };
    let why = |d: &Decision, p: &Program| d.reason(p);
    if let Some(a) = &answer {
        tally.packets += a.packets;
        tally.allowed += usize::from(a.allowed);
        if a.allowed && !tref.allowed {
            return problem(
                Kind::OverPermissive,
                format!(
                    "the engine allows; `{t}`'s reference denies ({}); full reference: {}",
                    why(&tref, prepared),
                    why(&full, program)
                ),
            );
        }
        if a.denied && tref.allowed && !(a.inexact && engine_narrowing(built, t, prepared, &tref)) {
            return problem(
                Kind::OverRestrictive,
                format!(
                    "the engine denies; `{t}`'s reference allows ({}) and the report lists no approximation that explains it",
                    why(&tref, prepared)
                ),
            );
        }
    }
    if tref.allowed && !full.allowed {
        if !reported(
            built,
            t,
            &[ApproximationKind::Layered],
            &labels(prepared, &tref, None),
        ) {
            return problem(
                Kind::PassPermissive,
                format!(
                    "`{t}`'s reference allows ({}), the full reference denies ({}), no `layered` relaxation is reported",
                    why(&tref, prepared),
                    why(&full, program)
                ),
            );
        }
        tally.relaxed += 1;
    }
    let engine_denies = answer.as_ref().is_some_and(|a| a.denied);
    if full.allowed && (!tref.allowed || engine_denies) {
        let allows = labels(program, &full, Some(Action::Allow));
        let denies = labels(prepared, &tref, Some(Action::Deny));
        use ApproximationKind::*;
        // A deny also widens through a declared relaxation: its layered
        // literal counts as satisfied, so it applies more often.
        let explained = reported(built, t, &[Omitted, Narrowed, IdentityDropped], &allows)
            || reported(built, t, &[DenyWidened, IdentityDropped, Layered], &denies)
            || (tref.allowed && engine_denies);
        let rules: BTreeSet<&String> = allows.iter().chain(&denies).collect();
        if !explained {
            return problem(
                Kind::Unreported,
                format!(
                    "the full reference allows ({}), `{t}` denies ({}), and the report lists no approximation for {rules:?}",
                    why(&full, program),
                    why(&tref, prepared)
                ),
            );
        }
        tally.approximated += 1;
    }
    None
}
