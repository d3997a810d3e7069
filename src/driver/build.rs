//! `seg build`: per target, the shared capability pass, then the backend's
//! lowering, then its rendering; every file, then `report.json`, goes to a
//! [`Sink`] as soon as it is made: `seg build` writes it into the new
//! output tree at once (see `write.rs`), other callers collect them
//! ([`build`]). `seg check` runs the same passes and lowering without
//! rendering ([`check`]), so it reports the same diagnostics.

use super::targets::{TARGETS, backend_for, default_options};
use seg_check::manifest::Manifest;
use seg_diag::{Code, Diagnostic, Diagnostics};
use seg_ir::backend::{SigningKey, TargetOptions};
use seg_ir::capability::{self, Approximation, ApproximationKind, KeptRule};
use seg_ir::meaning;
use seg_ir::{Artifact, Bugs, Collect, Object, Program, Sink};
use serde::Serialize;
use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::Mutex;

#[derive(Clone, Debug, Serialize)]
pub struct TargetReport {
    pub target: String,
    pub files: Vec<String>,
    pub rules: usize,
    pub omitted: usize,
    pub relaxations: usize,
    pub notes: Vec<String>,
    pub approximations: Vec<Approximation>,
    /// Every object the target's files hold (see `seg_ir::objects`).
    pub objects: Vec<Object>,
    /// Time taken by the capability pass and the emission (`-v`; not in `report.json`).
    #[serde(skip)]
    pub took: std::time::Duration,
    /// Whether the target enforces `expires` itself at run time (its own clock).
    pub clock: bool,
    /// Without a clock: the instant (RFC 3339) by which the output must be
    /// rebuilt and applied, the earliest expiry among `until_rebuilt`; null
    /// when nothing it holds expires, or the target has a clock.
    pub rebuild_by: Option<String>,
    /// Without a clock: the emitted rules that stay in force after they
    /// expire, until the output is rebuilt and applied (`seg stale` reads them).
    pub until_rebuilt: Vec<KeptRule>,
    /// How to apply the output and prune what an earlier one left
    /// (`Backend::apply_command`), run in the target's folder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub apply: Option<String>,
}

#[derive(Clone, Debug)]
pub struct BuildOutcome {
    pub reports: Vec<TargetReport>,
    /// Every output file, path relative to `--out`, sorted.
    pub files: BTreeMap<String, Vec<u8>>,
}

impl BuildOutcome {
    /// The objects of every target built (what `report.json` records).
    pub fn objects(&self) -> seg_ir::objects::BuildObjects {
        self.reports
            .iter()
            .filter(|r| r.target != "ir")
            .map(|r| (r.target.clone(), r.objects.clone()))
            .collect()
    }
}

#[derive(Serialize)]
struct ReportJson<'a> {
    #[serde(rename = "//")]
    header: String,
    tool: &'static str,
    version: &'static str,
    project: &'a str,
    source_hash: &'a str,
    now: String,
    rules: usize,
    /// Where each rule id comes from: the output names rules by id only.
    rule_ids: Vec<RuleIdJson<'a>>,
    expired_rules: Vec<ExpiredJson>,
    targets: &'a [TargetReport],
    blast_radius: BlastRadiusJson,
}

/// How far a compromise of each identity spreads (see docs/reach.md).
#[derive(Serialize)]
struct BlastRadiusJson {
    assumptions: String,
    /// Identity name → identities reached in any number of hops, in inventory order.
    identities: serde_json::Map<String, serde_json::Value>,
    /// The ten largest, largest first (ties by name).
    largest: Vec<LargestJson>,
}

#[derive(Serialize)]
struct LargestJson {
    identity: String,
    reaches: u64,
}

/// Every identity's blast radius under the default attacker model.
fn blast_radius(program: &Program, manifest: &Manifest) -> BlastRadiusJson {
    let model = seg_reach::Model {
        at: None,
        pivot: manifest
            .reach
            .pivot
            .clone()
            .unwrap_or_else(seg_reach::Model::default_pivot),
    };
    let assumptions = model.describe(program);
    let analysis = seg_reach::Analysis::new(program, model);
    let sizes = seg_reach::Closure::new(&analysis).sizes(&analysis);
    let mut identities = serde_json::Map::new();
    for (identity, size) in program.identities.iter().zip(&sizes) {
        identities.insert(identity.name.clone(), (*size).into());
    }
    let mut order: Vec<usize> = (0..sizes.len()).collect();
    order.sort_by(|&a, &b| {
        sizes[b]
            .cmp(&sizes[a])
            .then_with(|| program.identities[a].name.cmp(&program.identities[b].name))
    });
    let largest = order
        .into_iter()
        .take(10)
        .map(|i| LargestJson {
            identity: program.identities[i].name.clone(),
            reaches: sizes[i],
        })
        .collect();
    BlastRadiusJson {
        assumptions,
        identities,
        largest,
    }
}

#[derive(Serialize)]
struct RuleIdJson<'a> {
    id: &'a str,
    label: &'a str,
    location: String,
}

#[derive(Serialize)]
struct ExpiredJson {
    rule: String,
    location: String,
    reason: String,
}

/// Lower `program` to every requested target (or every target of `seg.toml`).
pub fn build(
    program: &Program,
    manifest: &Manifest,
    root: &Path,
    requested: &[String],
    diags: &mut Diagnostics,
) -> Option<BuildOutcome> {
    build_observed(program, manifest, root, requested, diags, &mut |_, _, _| {})
}

/// [`build`], calling `starting(i, n, target)` as each of the `n` targets begins.
pub fn build_observed(
    program: &Program,
    manifest: &Manifest,
    root: &Path,
    requested: &[String],
    diags: &mut Diagnostics,
    starting: &mut dyn FnMut(usize, usize, &str),
) -> Option<BuildOutcome> {
    build_with(program, manifest, root, requested, diags, starting, true)
}

/// What `seg build` would report for the `requested` targets (or every
/// target of `seg.toml`), without rendering a file: each target's capability
/// pass and lowering (the same functions `build` runs), calling
/// `starting(i, n, target)` as each begins. Returns the number of targets.
/// `program` is put in stable-id order while the targets lower it, and back
/// as written before this returns (see [`each_target`]).
pub fn check(
    program: &mut Program,
    manifest: &Manifest,
    root: &Path,
    requested: &[String],
    diags: &mut Diagnostics,
    starting: &mut dyn FnMut(usize, usize, &str),
) -> usize {
    let Some(names) = target_list(manifest, requested, diags) else {
        return 0;
    };
    let (built, _) = each_target(
        program,
        manifest,
        root,
        &names,
        starting,
        true,
        Stage::Lower,
        None::<fn(&Program)>,
    );
    for built in built.into_iter().flatten() {
        diags.extend(built.diags);
    }
    names.len()
}

/// How far a target goes: lowered (`seg check`) or rendered too (`seg
/// build`), its files handed to this sink.
#[derive(Clone, Copy)]
enum Stage<'a> {
    Lower,
    Render(&'a dyn Sink),
}

/// One target's result, before it joins the others.
struct Built {
    /// The report; none when the target's settings are wrong or it was only
    /// lowered.
    report: Option<TargetReport>,
    diags: Diagnostics,
}

/// The targets are independent: with `parallel` each is run on its own
/// thread, and the results are returned in target order, so they are the
/// same as one after the other (their files reach `out` in any order).
///
/// Two phases: every target's capability pass reads `program` as written
/// (its diagnostics and reports follow the written order); then `program`
/// is put in stable-id order in place, the order every target lowers
/// (the output must not depend on where rules are written), shared by the
/// targets whose pass left it as it is, without a second copy of its rules;
/// once they are done it is put back as written.
///
/// `also` runs in the second phase too, on the sorted program, beside the
/// targets (after the last one, on its thread, when there are several; on
/// a thread of its own beside a single one): work the build needs after
/// the targets that does not depend on them or on the order of the rules.
#[allow(clippy::too_many_arguments)]
fn each_target<A: Send>(
    program: &mut Program,
    manifest: &Manifest,
    root: &Path,
    names: &[String],
    starting: &mut dyn FnMut(usize, usize, &str),
    parallel: bool,
    stage: Stage,
    also: Option<impl FnOnce(&Program) -> A + Send>,
) -> (Vec<Option<Built>>, Option<A>) {
    let order = meaning::Order::of(program);
    let prepared = {
        let (program, order) = (&*program, &order);
        side_by_side(
            names.iter().map(String::as_str),
            parallel,
            |i, name| starting(i + 1, names.len(), name),
            |name| prepare_target(program, order, manifest, root, name, stage),
        )
    };
    let sorted = order.sort(program);
    let mut jobs: Vec<(Option<Phase>, Option<_>)> =
        prepared.into_iter().map(|p| (Some(p), None)).collect();
    if also.is_some() {
        let alone = parallel && jobs.len() < 2;
        match jobs.last_mut() {
            Some(last) if !alone => last.1 = also,
            _ => jobs.push((None, also)),
        }
    }
    let (built, also) = {
        let program = &*program;
        let done = side_by_side(
            jobs,
            parallel,
            |_, _| {},
            |(prepared, also)| {
                let built = prepared.map(|prepared| match prepared {
                    Phase::Done(built) => built,
                    Phase::Prepared(target) => target.finish(program, stage),
                });
                let also = also.map(|also| also(program));
                // Without the freed working memory, for the files still to be
                // written. A check writes none: it reports and exits, and the
                // trim of the target that ends last would only delay that.
                if matches!(stage, Stage::Render(_)) {
                    super::release_free_memory();
                }
                (built, also)
            },
        );
        let mut built = Vec::with_capacity(done.len());
        let mut result = None;
        for (b, a) in done {
            built.extend(b);
            result = result.or(a);
        }
        (built, result)
    };
    sorted.restore(program);
    (built, also)
}

/// `run` on each item, side by side with `parallel` (when there are
/// several), the results in the items' order; `starting(i, item)` on this
/// thread as each is handed over. The first item runs on this thread, the
/// others each on a thread of its own: this thread would only wait, and a
/// thread started for each phase of the targets would be given an arena of
/// the allocator another one is using (their number is bounded, see
/// [`super::share_arenas`]), and the two would queue on its lock.
fn side_by_side<T: Send, R: Send>(
    items: impl IntoIterator<Item = T>,
    parallel: bool,
    mut starting: impl FnMut(usize, &T),
    run: impl Fn(T) -> R + Sync,
) -> Vec<R> {
    let items: Vec<T> = items.into_iter().collect();
    let run = &run;
    if parallel && items.len() > 1 {
        std::thread::scope(|scope| {
            let mut items = items.into_iter().enumerate();
            let here = items.next().map(|(i, item)| {
                starting(i, &item);
                item
            });
            let handles: Vec<_> = items
                .map(|(i, item)| {
                    starting(i, &item);
                    scope.spawn(move || run(item))
                })
                .collect();
            let mut results = Vec::with_capacity(handles.len() + 1);
            results.extend(here.map(run));
            results.extend(handles.into_iter().map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            }));
            results
        })
    } else {
        items
            .into_iter()
            .enumerate()
            .map(|(i, item)| {
                starting(i, &item);
                run(item)
            })
            .collect()
    }
}

/// One target's files on their way to the build's [`Sink`]: each under the
/// target's folder (`ir`'s as they are), refused when its path is unsafe or
/// already given, and its path kept for the report.
struct TargetFiles<'a> {
    name: &'a str,
    out: &'a dyn Sink,
    kept: Mutex<TargetPaths>,
}

#[derive(Default)]
struct TargetPaths {
    paths: HashSet<String>,
    /// Paths refused, each with its bug.
    refused: Vec<(String, String)>,
}

impl Sink for TargetFiles<'_> {
    fn put(&self, artifact: Artifact) {
        let name = self.name;
        let path = if name == "ir" {
            artifact.path.clone()
        } else if is_safe_relative(&artifact.path) {
            format!("{name}/{}", artifact.path)
        } else {
            let bug = format!(
                "target `{name}` produced an unsafe file name `{}`",
                artifact.path.escape_debug()
            );
            self.lock().refused.push((artifact.path, bug));
            return;
        };
        {
            let mut kept = self.lock();
            if !kept.paths.insert(path.clone()) {
                let bug = format!("target `{name}` produced `{path}` twice");
                kept.refused.push((artifact.path, bug));
                return;
            }
        }
        self.out.put(Artifact {
            path,
            contents: artifact.contents,
        });
    }
}

impl TargetFiles<'_> {
    fn lock(&self) -> std::sync::MutexGuard<'_, TargetPaths> {
        self.kept.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The paths given, sorted, and a bug for each refused, in path order
    /// (the order the threads gave them in does not show).
    fn finish(self) -> (Vec<String>, Vec<Diagnostic>) {
        let kept = self.kept.into_inner().unwrap_or_else(|p| p.into_inner());
        let mut paths: Vec<String> = kept.paths.into_iter().collect();
        paths.sort();
        let mut refused = kept.refused;
        refused.sort_by(|a, b| a.0.cmp(&b.0));
        let bugs = refused
            .into_iter()
            .map(|(_, bug)| Diagnostic::bug(bug))
            .collect();
        (paths, bugs)
    }
}

/// [`build_observed`], with the targets side by side when `parallel` (see
/// [`each_target`]): the files, the reports and the diagnostics are the same.
pub(crate) fn build_with(
    program: &Program,
    manifest: &Manifest,
    root: &Path,
    requested: &[String],
    diags: &mut Diagnostics,
    starting: &mut dyn FnMut(usize, usize, &str),
    parallel: bool,
) -> Option<BuildOutcome> {
    // The targets lower the program in stable-id order, sorted in place.
    let mut program = program.clone();
    let collect = Collect::default();
    let reports = build_into(
        &mut program,
        manifest,
        root,
        requested,
        diags,
        starting,
        parallel,
        &collect,
    )?;
    let files = collect
        .into_sorted()
        .into_iter()
        .map(|a| (a.path, a.contents))
        .collect();
    Some(BuildOutcome { reports, files })
}

/// What `seg build` runs: [`build_observed`], handing every file (paths
/// relative to `--out`), `report.json` last, to `out` as soon as it is made
/// rather than returning them. Returns the reports; `None` when the build
/// has errors, and then whatever `out` was given must not be used.
/// `program` is put in stable-id order while the targets lower it, and back
/// as written before this returns (see [`each_target`]).
#[allow(clippy::too_many_arguments)]
pub fn build_into(
    program: &mut Program,
    manifest: &Manifest,
    root: &Path,
    requested: &[String],
    diags: &mut Diagnostics,
    starting: &mut dyn FnMut(usize, usize, &str),
    parallel: bool,
    out: &dyn Sink,
) -> Option<Vec<TargetReport>> {
    let names = target_list(manifest, requested, diags)?;
    // The blast radius, on the sorted program (the rules' order changes no
    // reach), beside the targets rather than after them.
    let (built, blast) = each_target(
        program,
        manifest,
        root,
        &names,
        starting,
        parallel,
        Stage::Render(out),
        Some(|sorted: &Program| blast_radius(sorted, manifest)),
    );
    let mut reports = Vec::new();
    for built in built.into_iter().flatten() {
        diags.extend(built.diags);
        reports.extend(built.report);
    }
    if diags.has_errors() {
        return None;
    }
    let report = ReportJson {
        header: format!(
            "generated by seg {} from sources {}: do not edit",
            env!("CARGO_PKG_VERSION"),
            program.source_hash
        ),
        tool: "seg",
        version: env!("CARGO_PKG_VERSION"),
        project: &program.project,
        source_hash: &program.source_hash,
        now: program.now.to_string(),
        rules: program.rules.len(),
        rule_ids: rule_ids(program),
        expired_rules: program
            .omitted
            .iter()
            .map(|o| ExpiredJson {
                rule: o.provenance.label.clone(),
                location: o.provenance.location(),
                reason: o.reason.clone(),
            })
            .collect(),
        targets: &reports,
        // (Always computed above; here only should that change.)
        blast_radius: blast.unwrap_or_else(|| blast_radius(program, manifest)),
    };
    let mut json = serde_json::to_vec_pretty(&report).unwrap_or_default();
    json.push(b'\n');
    drop(report);
    out.put(Artifact {
        path: "report.json".to_string(),
        contents: json,
    });
    Some(reports)
}

/// Every rule's id with its label and `file:line`, in id order.
fn rule_ids(program: &Program) -> Vec<RuleIdJson<'_>> {
    let mut out: Vec<RuleIdJson> = program
        .rules
        .iter()
        .map(|r| &r.provenance)
        .chain(program.omitted.iter().map(|o| &o.provenance))
        .map(|p| RuleIdJson {
            id: &p.id,
            label: &p.label,
            location: p.location(),
        })
        .collect();
    out.sort_by(|a, b| a.id.cmp(b.id));
    out
}

/// A target after its first phase: done (`ir`, or it cannot start), or
/// through its capability pass and waiting for the program in stable-id
/// order.
enum Phase {
    Done(Option<Built>),
    Prepared(PreparedTarget),
}

/// One target through its capability pass (see [`each_target`]).
struct PreparedTarget {
    /// A target that has a backend ([`backend_for`]).
    name: String,
    options: TargetOptions,
    /// The capability pass's time: the report's time is this target's own
    /// work, not the wait for the others' passes between the two phases.
    prepared_in: std::time::Duration,
    diags: Diagnostics,
    /// The program the pass made, in stable-id order; `None` when the pass
    /// left the checked program as it is (the target lowers that, sorted).
    own: Option<Program>,
    approximations: Vec<Approximation>,
    until_rebuilt: Vec<KeptRule>,
    rebuild_by: Option<String>,
}

/// One target's first phase: the capability pass over `program` as
/// written; or the IR as JSON (at [`Stage::Render`]), which is the program
/// as written. With its own diagnostics.
fn prepare_target(
    program: &Program,
    order: &meaning::Order,
    manifest: &Manifest,
    root: &Path,
    name: &str,
    stage: Stage,
) -> Phase {
    let began = std::time::Instant::now();
    let mut diags = Diagnostics::new();
    if name == "ir" {
        let Stage::Render(out) = stage else {
            return Phase::Done(None);
        };
        let files = TargetFiles {
            name,
            out,
            kept: Mutex::default(),
        };
        files.put(seg_ir::Artifact {
            path: "ir/program.json".into(),
            contents: ir_json(program).into_bytes(),
        });
        let (files, bugs) = files.finish();
        diags.extend(bugs);
        return Phase::Done(Some(Built {
            report: Some(TargetReport {
                target: "ir".into(),
                files,
                rules: program.rules.len(),
                omitted: 0,
                relaxations: 0,
                notes: Vec::new(),
                approximations: Vec::new(),
                objects: Vec::new(),
                took: began.elapsed(),
                clock: true,
                rebuild_by: None,
                until_rebuilt: Vec::new(),
                apply: None,
            }),
            diags,
        }));
    }
    let Some(backend) = backend_for(name) else {
        return Phase::Done(None);
    };
    let Some(options) = target_options(name, manifest, root, &mut diags) else {
        return Phase::Done(Some(Built {
            report: None,
            diags,
        }));
    };
    let prepared = capability::prepare(program, backend, &manifest.layered, &mut diags);
    let rebuild_by = prepared.rebuild_by().map(|t| t.to_string());
    let own = match prepared.program {
        Cow::Borrowed(_) => None,
        // Put in stable-id order now, while `program` is as written.
        Cow::Owned(own) => Some(order.apply(program, own)),
    };
    Phase::Prepared(PreparedTarget {
        name: name.to_string(),
        options,
        prepared_in: began.elapsed(),
        diags,
        own,
        approximations: prepared.approximations,
        until_rebuilt: prepared.until_rebuilt,
        rebuild_by,
    })
}

impl PreparedTarget {
    /// The second phase: the backend's lowering of `sorted` (the checked
    /// program in stable-id order) or of the program the pass made, then
    /// (at [`Stage::Render`]) its rendering.
    fn finish(self, sorted: &Program, stage: Stage) -> Option<Built> {
        let PreparedTarget {
            name,
            options,
            prepared_in,
            mut diags,
            own,
            mut approximations,
            until_rebuilt,
            rebuild_by,
        } = self;
        let began = std::time::Instant::now();
        let backend = backend_for(&name)?;
        let target_program = own.as_ref().unwrap_or(sorted);
        let lowered = backend.lower(target_program, &options, &mut diags);
        let Stage::Render(out) = stage else {
            return Some(Built {
                report: None,
                diags,
            });
        };
        let files = TargetFiles {
            name: &name,
            out,
            kept: Mutex::default(),
        };
        let mut bugs = Bugs::default();
        let emission = lowered.render_to(&mut bugs, &files);
        diags.extend(bugs.into_diagnostics());
        let (files, refused) = files.finish();
        diags.extend(refused);
        let apply = backend.apply_command(target_program, &options);
        approximations.extend(emission.approximations);
        Some(Built {
            report: Some(TargetReport {
                target: name.clone(),
                files,
                rules: emission.rules,
                omitted: count(&approximations, ApproximationKind::Omitted),
                relaxations: count(&approximations, ApproximationKind::Layered),
                notes: emission.notes,
                approximations,
                objects: emission.objects,
                took: prepared_in + began.elapsed(),
                clock: backend.capabilities().clock,
                rebuild_by,
                until_rebuilt,
                apply,
            }),
            diags,
        })
    }
}

fn count(approximations: &[Approximation], kind: ApproximationKind) -> usize {
    approximations.iter().filter(|a| a.kind == kind).count()
}

fn target_list(
    manifest: &Manifest,
    requested: &[String],
    diags: &mut Diagnostics,
) -> Option<Vec<String>> {
    let names: Vec<String> = if requested.is_empty() {
        manifest.targets.keys().cloned().collect()
    } else {
        requested.to_vec()
    };
    if names.is_empty() {
        diags.push(Diagnostic::plain("no target to build").with_help(format!(
            "add `[targets.<name>]` to seg.toml or pass `--target` (one of {})",
            super::target_names()
        )));
        return None;
    }
    let mut out: Vec<String> = Vec::new();
    for n in names {
        if !TARGETS.contains(&n.as_str()) {
            let mut d = Diagnostic::plain(format!("unknown target `{n}`"))
                .with_note(format!("targets are {}", super::target_names()));
            if let Some(s) = seg_diag::did_you_mean(&n, TARGETS.iter().copied()) {
                d = d.with_help(format!("did you mean `{s}`?"));
            }
            diags.push(d);
            return None;
        }
        if !out.contains(&n) {
            out.push(n);
        }
    }
    // A fixed order, whatever order they were asked in.
    out.sort_by_key(|n| TARGETS.iter().position(|t| t == n));
    Some(out)
}

fn target_options(
    name: &str,
    manifest: &Manifest,
    root: &Path,
    diags: &mut Diagnostics,
) -> Option<TargetOptions> {
    let mut options = match manifest
        .targets
        .get(name)
        .cloned()
        .or_else(|| default_options(name))
    {
        Some(o) => o,
        None => {
            diags.push(
                Diagnostic::plain(format!("target `{name}` needs settings in seg.toml")).with_help(
                    format!("add `[targets.{name}]` with its required keys (see docs/manifest.md)"),
                ),
            );
            return None;
        }
    };
    if let (TargetOptions::Opa(opa), Some(signing)) = (&mut options, &manifest.opa_signing) {
        match std::fs::read(root.join(&signing.key_path)) {
            Ok(key) => {
                opa.signing = Some(SigningKey {
                    algorithm: signing.algorithm.clone(),
                    key,
                    key_id: signing.key_id.clone(),
                })
            }
            Err(e) => {
                diags.push(
                    Diagnostic::error(
                        Code::InvalidTargetOption,
                        format!("cannot read the bundle signing key `{}`", signing.key_path),
                    )
                    .with_primary(signing.span, "signing key named here")
                    .with_note(e.to_string()),
                );
                return None;
            }
        }
    }
    Some(options)
}

/// `--target ir`: the program as JSON, wrapped with a header.
pub fn ir_json(program: &Program) -> String {
    #[derive(Serialize)]
    struct IrFile<'a> {
        #[serde(rename = "//")]
        header: String,
        schema: &'static str,
        program: &'a Program,
    }
    let file = IrFile {
        header: format!(
            "generated by seg {} from sources {}: do not edit",
            env!("CARGO_PKG_VERSION"),
            program.source_hash
        ),
        schema: "seg-ir/1",
        program,
    };
    let mut s = serde_json::to_string_pretty(&file).unwrap_or_default();
    s.push('\n');
    s
}

/// A relative path of plain components: no root, no `..`, no `.`, no empty parts,
/// no backslashes or control characters.
pub fn is_safe_relative(path: &str) -> bool {
    !path.is_empty()
        && path.len() < 4096
        && !path.chars().any(|c| c == '\\' || c.is_control())
        && path
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != ".." && part.len() <= 255)
}

#[cfg(test)]
mod tests {
    use super::is_safe_relative;

    /// The bank example compiled, and every target's name.
    fn bank() -> (
        crate::driver::Compilation,
        seg_ir::Program,
        seg_check::manifest::Manifest,
        Vec<String>,
    ) {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/bank");
        let input = crate::driver::Input::from_args(Some(&dir), &[]).unwrap();
        let mut comp = crate::driver::compile(&input, seg_ir::Timestamp(1_800_000_000));
        let (program, manifest) = (comp.program.take().unwrap(), comp.manifest.take().unwrap());
        let all = super::TARGETS.iter().map(|t| t.to_string()).collect();
        (comp, program, manifest, all)
    }

    /// Every target side by side gives what they give one after the other:
    /// the same bytes, reports and diagnostics in the same order.
    #[test]
    fn parallel_targets_give_the_sequential_result_byte_for_byte() {
        let (comp, program, manifest, all) = bank();
        let run = |parallel: bool| {
            let mut diags = seg_diag::Diagnostics::new();
            let mut began = Vec::new();
            let outcome = super::build_with(
                &program,
                &manifest,
                &comp.root,
                &all,
                &mut diags,
                &mut |i, _, t| began.push((i, t.to_string())),
                parallel,
            )
            .expect("the bank example builds for every target");
            let reports = serde_json::to_string(&outcome.reports).unwrap();
            (
                outcome.files,
                reports,
                diags.iter().cloned().collect::<Vec<_>>(),
                began,
            )
        };
        let (sequential, parallel) = (run(false), run(true));
        assert_eq!(
            sequential.0.keys().collect::<Vec<_>>(),
            parallel.0.keys().collect::<Vec<_>>()
        );
        for (path, bytes) in &sequential.0 {
            assert!(parallel.0[path] == *bytes, "{path} differs");
        }
        assert_eq!(sequential.1, parallel.1);
        assert_eq!(sequential.2, parallel.2);
        assert_eq!(sequential.3, parallel.3);
        // Every target wrote something, so the comparison covers them all.
        for t in &all {
            assert!(
                sequential.0.keys().any(|p| p.starts_with(&format!("{t}/"))),
                "{t}"
            );
        }
    }

    /// `seg build`'s way, every file streamed into a new output tree as it
    /// is made, writes exactly the files the collected build holds.
    #[test]
    fn a_streamed_build_writes_the_collected_files_byte_for_byte() {
        let (comp, program, manifest, all) = bank();
        let mut diags = seg_diag::Diagnostics::new();
        let collected = super::build_with(
            &program,
            &manifest,
            &comp.root,
            &all,
            &mut diags,
            &mut |_, _, _| {},
            true,
        )
        .expect("the bank example builds for every target");
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        let staging = crate::driver::Staging::begin(&out).unwrap();
        let mut streamed_diags = seg_diag::Diagnostics::new();
        let mut sorted = program.clone();
        let reports = staging
            .writing(|sink| {
                super::build_into(
                    &mut sorted,
                    &manifest,
                    &comp.root,
                    &all,
                    &mut streamed_diags,
                    &mut |_, _, _| {},
                    true,
                    sink,
                )
            })
            .expect("builds");
        // Sorted in place for the targets, then put back as written.
        assert!(sorted == program, "the program is not as written");
        let stats = staging.commit().unwrap();
        assert_eq!(stats.files, collected.files.len());
        for (path, bytes) in &collected.files {
            assert!(
                std::fs::read(out.join(path)).unwrap() == *bytes,
                "{path} differs"
            );
        }
        assert_eq!(
            serde_json::to_string(&reports).unwrap(),
            serde_json::to_string(&collected.reports).unwrap()
        );
        assert_eq!(
            streamed_diags.iter().collect::<Vec<_>>(),
            diags.iter().collect::<Vec<_>>()
        );
    }

    /// The blast radius, computed beside the targets on the program in
    /// stable-id order, is that of the program as written, with one target
    /// (its own thread), several, and one after the other; and the rules'
    /// order changes no identity's reach.
    #[test]
    fn the_blast_radius_beside_the_targets_is_that_of_the_program_as_written() {
        let (comp, program, manifest, all) = bank();
        let expected = serde_json::to_value(super::blast_radius(&program, &manifest)).unwrap();
        assert!(
            expected["identities"]
                .as_object()
                .unwrap()
                .values()
                .any(|v| v.as_u64() > Some(0)),
            "the example reaches something"
        );
        let mut reversed = program.clone();
        reversed.rules.reverse();
        for (i, r) in reversed.rules.iter_mut().enumerate() {
            r.id = seg_ir::RuleId(i as u32);
        }
        assert_eq!(
            serde_json::to_value(super::blast_radius(&reversed, &manifest)).unwrap(),
            expected
        );
        for (targets, parallel) in [
            (vec!["iptables".to_string()], true),
            (vec!["kubernetes".to_string(), "iptables".to_string()], true),
            (all.clone(), true),
            (all, false),
        ] {
            let mut diags = seg_diag::Diagnostics::new();
            let outcome = super::build_with(
                &program,
                &manifest,
                &comp.root,
                &targets,
                &mut diags,
                &mut |_, _, _| {},
                parallel,
            )
            .expect("the bank example builds");
            let report: serde_json::Value =
                serde_json::from_slice(&outcome.files["report.json"]).unwrap();
            assert_eq!(report["blast_radius"], expected, "{targets:?} {parallel}");
        }
    }

    /// An unsafe or repeated path never reaches the output; each is a bug,
    /// in path order whatever order the files came in.
    #[test]
    fn a_target_file_with_an_unsafe_or_repeated_path_is_a_bug_and_not_written() {
        use seg_ir::{Artifact, Sink};
        let collect = seg_ir::Collect::default();
        let files = super::TargetFiles {
            name: "t",
            out: &collect,
            kept: std::sync::Mutex::default(),
        };
        for path in ["b/x", "../evil", "a/y", "b/x", "/abs"] {
            files.put(Artifact {
                path: path.into(),
                contents: path.as_bytes().to_vec(),
            });
        }
        let (paths, bugs) = files.finish();
        assert_eq!(paths, ["t/a/y", "t/b/x"]);
        let written: Vec<String> = collect.into_sorted().into_iter().map(|a| a.path).collect();
        assert_eq!(written, paths);
        let messages: Vec<&str> = bugs.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "target `t` produced an unsafe file name `../evil`",
                "target `t` produced an unsafe file name `/abs`",
                "target `t` produced `t/b/x` twice",
            ]
        );
        assert!(bugs.iter().all(|d| d.severity == seg_diag::Severity::Bug));
    }

    #[test]
    fn artifact_paths_cannot_escape_the_output_folder() {
        assert!(is_safe_relative("payments/np-allow.yaml"));
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a//b",
            "./a",
            "a\\b",
            "a\nb",
            "a\0b",
        ] {
            assert!(!is_safe_relative(bad), "{bad:?}");
        }
    }
}
