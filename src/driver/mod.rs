//! The pipeline, top to bottom: load → parse → inventory → check (resolve,
//! typeck, lints, lower to IR) → per target: capability pass → emit → write.
#![doc = include_str!("../../docs/ARCHITECTURE.md")]

mod build;
pub mod cache;
pub mod git;
mod load;
mod previous;
mod project;
mod reach;
mod targets;
mod write;

pub use build::{BuildOutcome, TargetReport, build, build_into, build_observed, check};
pub use previous::{PreviousBuild, previous_build, read_report};
pub use project::{Input, Locate, MAX_FILE_BYTES, expand_globs, glob_set, resolve_import};
pub use targets::{TARGETS, backend_for, target_names};
pub use write::{
    CommitError, Spare, Staging, WriteStats, remove_spare, replace_file, write_atomically,
};

use seg_check::Outline;
use seg_check::manifest::Manifest;
use seg_check::{CheckInput, JitInput, Unit};
use seg_diag::{Diagnostic, Diagnostics, SourceMap, Span};
use seg_ir::{IdentityId, Now, Program, Timestamp};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Everything one compilation produced, successful or not.
pub struct Compilation {
    /// What was compiled: a project, or a single file.
    pub input: Input,
    pub root: PathBuf,
    pub map: SourceMap,
    pub manifest: Option<Manifest>,
    pub program: Option<Program>,
    /// Whether the program's identities carry their attributes, labels,
    /// bindings and SPIFFE IDs: always, but for a compilation read from the
    /// cache for a command that does not read them ([`cache::Read::Analysis`]).
    pub identity_details: bool,
    /// The inventory the program was checked against (`seg audit` reads
    /// what only the inventory holds: address windows, status, expiry).
    pub inventory: Option<seg_check::inventory::Inventory>,
    /// Segments and rules as written, beside the program (maps, reach paths).
    pub outline: Option<Outline>,
    /// The identities `seg.toml [reach] critical` names.
    pub critical: Vec<IdentityId>,
    pub diags: Diagnostics,
    /// The files read from the project folder (seg.toml, sources,
    /// inventories): what the compilation depends on besides "now" and seg.
    pub inputs: Vec<seg_diag::FileId>,
    /// The instants `[from, until)` at which this compilation comes out the
    /// same, `None` for an unbounded end (see [`seg_ir::Now`]).
    pub now_span: (Option<Timestamp>, Option<Timestamp>),
}

impl Compilation {
    /// Errors without a code are I/O or usage problems (exit 2), not policy errors.
    pub fn has_io_errors(&self) -> bool {
        self.diags.iter().any(|d| d.is_error() && d.code.is_none())
    }

    /// Apply `seg.toml [lints]` levels (none without a manifest) and, with
    /// `deny_warnings`, make warnings errors; then sort: the diagnostics as
    /// every command prints them.
    pub fn settle_diagnostics(&mut self, deny_warnings: bool) {
        let none = BTreeMap::new();
        let levels = self.manifest.as_ref().map_or(&none, |m| &m.lints);
        self.diags.apply_levels(levels, deny_warnings);
        self.diags.sort();
    }

    /// Whether there is an error once `seg.toml [lints]` levels apply.
    pub fn has_errors_at_lint_levels(&self) -> bool {
        let mut diags = self.diags.clone();
        if let Some(m) = &self.manifest {
            diags.apply_levels(&m.lints, false);
        }
        diags.has_errors()
    }
}

/// The `test` expectations the reference decides otherwise, as `file:line`.
pub fn failing_expectations(program: &Program) -> BTreeSet<String> {
    program
        .tests
        .iter()
        .flat_map(|t| &t.expectations)
        .filter(|e| {
            seg_ir::eval::decide(program, &e.flow).allowed != (e.decision == seg_ir::Action::Allow)
        })
        .map(|e| format!("{}:{}", e.file, e.line))
        .collect()
}

/// What a compilation sees instead of the disk: `seg grant` and `seg gc`
/// check what they would write before they write it.
#[derive(Clone, Debug, Default)]
pub struct Overlay {
    /// Texts that stand in for policy files, by path relative to the project
    /// folder (a path no file has yet is a new file, when `[project] sources`
    /// matches it).
    pub files: BTreeMap<String, String>,
    /// Lint this file as the `[jit]` grants file instead of `[jit] file`.
    pub grants_file: Option<String>,
}

/// Run the front end and the checker on a project or a single file.
pub fn compile(input: &Input, now: Timestamp) -> Compilation {
    compile_overlaid(input, now, &Overlay::default())
}

/// [`compile`] with some policy files replaced by the texts of `overlay`.
pub fn compile_overlaid(input: &Input, now: Timestamp, overlay: &Overlay) -> Compilation {
    compile_ahead(input, now, overlay, load::Ahead::Auto)
}

/// [`compile_overlaid`], with the files parsed and the inventory loaded ahead
/// as `ahead` says (the result is the same every way; see `load.rs`).
pub(crate) fn compile_ahead(
    input: &Input,
    now: Timestamp,
    overlay: &Overlay,
    ahead: load::Ahead,
) -> Compilation {
    let now = Now::new(now);
    let root = input.root();
    let mut map = SourceMap::new();
    let mut diags = Diagnostics::new();
    let mut inputs = Vec::new();
    let manifest = load_manifest(input, &root, &mut map, &mut inputs, &mut diags);
    let mut comp = Compilation {
        input: input.clone(),
        root,
        map,
        manifest: None,
        program: None,
        identity_details: true,
        inventory: None,
        outline: None,
        critical: Vec::new(),
        diags: Diagnostics::new(),
        inputs,
        now_span: (None, None),
    };
    let Some(mut manifest) = manifest else {
        comp.diags = diags;
        comp.now_span = now.span();
        return comp;
    };
    if let Some(file) = &overlay.grants_file {
        manifest.jit.file = file.clone();
    }
    let (checked, inventory) = compile_with(
        &comp.root,
        &manifest,
        &mut comp.map,
        &mut comp.inputs,
        &now,
        overlay,
        ahead,
        &mut diags,
    );
    comp.manifest = Some(manifest);
    if let Some((program, outline)) = checked {
        let critical = match (&inventory, &comp.manifest) {
            (Some(inv), Some(m)) => reach::critical(m, &mut comp.map, inv, &now, &mut diags),
            _ => Vec::new(),
        };
        if !diags.has_errors()
            && let Some(m) = &comp.manifest
        {
            reach::lint(&program, &outline, m, &critical, &mut diags);
        }
        comp.program = Some(program);
        comp.outline = Some(outline);
        comp.critical = critical;
    }
    comp.inventory = inventory;
    comp.diags = diags;
    comp.now_span = now.span();
    // The trees, texts and parse state are gone: give their pages back
    // before the targets' threads allocate in arenas of their own.
    release_free_memory();
    comp
}

/// Return the allocator's free pages to the system. glibc keeps what one
/// thread frees in that thread's arena, where other threads cannot use it,
/// and the holes in a heap resident: after the front end, and after each
/// target, that is memory the rest of the run would carry unused (peak RSS).
/// A few milliseconds; nothing is moved, only free pages are released.
pub(crate) fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory of the allocator's arenas.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Let the allocator keep one arena per core, not eight: glibc gives each
/// new thread an arena of its own up to that bound, and what one arena
/// frees the others cannot use, so a build whose targets, hosts and file
/// writers run side by side on a dozen threads carried ~20 MiB of free,
/// resident memory at its peak (pairs job, 10k rules, both targets); `seg
/// check`, whose parse ahead and lowerings run side by side too, likewise.
///
/// And a fixed threshold for blocks taken from the system on their own
/// (`M_MMAP_THRESHOLD`, 512 KiB): glibc raises it to the size of every such
/// block freed, up to 32 MiB, after which large lists and files are carved
/// from the arenas and leave holes there that stay resident; given back at
/// once instead, the build's peak was ~3 MiB lower (pairs job, 10k rules).
/// Called before any thread starts; without effect elsewhere than glibc.
pub fn share_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let cores = libc::c_int::try_from(cores).unwrap_or(libc::c_int::MAX);
        // SAFETY: mallopt only sets allocator parameters.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, cores);
            libc::mallopt(libc::M_MMAP_THRESHOLD, 512 * 1024);
        }
    }
}

/// Convenience for tests and tools: compile a project folder, `Err` with the
/// rendered diagnostics when it has errors.
pub fn compile_project(dir: &Path, now: Option<Timestamp>) -> Result<(SourceMap, Program), String> {
    let input = Input::from_args(Some(dir), &[]).map_err(|d| d.message)?;
    let now = now.unwrap_or_else(clock_now);
    let comp = compile(&input, now);
    let errors: Vec<Diagnostic> = comp
        .diags
        .iter()
        .filter(|d| d.is_error())
        .cloned()
        .collect();
    match comp.program {
        Some(p) if errors.is_empty() => Ok((comp.map, p)),
        _ => Err(seg_diag::render_human(
            &comp.map,
            &errors,
            seg_diag::ColorChoice::Never,
        )),
    }
}

fn load_manifest(
    input: &Input,
    root: &Path,
    map: &mut SourceMap,
    inputs: &mut Vec<seg_diag::FileId>,
    diags: &mut Diagnostics,
) -> Option<Manifest> {
    match input {
        Input::Project(_) => {
            let loaded = project::read(map, root, "seg.toml", diags)?;
            inputs.push(loaded.file);
            seg_check::manifest::parse(loaded.file, map.text(loaded.file), diags)
        }
        Input::File {
            source, inventory, ..
        } => {
            let file = map.add("<command line>", "");
            Some(project::single_file_manifest(
                source,
                inventory,
                Span::new(file, 0, 0),
            ))
        }
    }
}

/// `inputs`: every file read from disk is added to it.
#[allow(clippy::too_many_arguments)]
fn compile_with(
    root: &Path,
    manifest: &Manifest,
    map: &mut SourceMap,
    inputs: &mut Vec<seg_diag::FileId>,
    now: &Now,
    overlay: &Overlay,
    ahead: load::Ahead,
    diags: &mut Diagnostics,
) -> (
    Option<(Program, Outline)>,
    Option<seg_check::inventory::Inventory>,
) {
    // Sources: the globs, then every file they import, until closed.
    let mut sources = match project::expand_globs(root, &manifest.sources, &[]) {
        Ok(s) => s,
        Err(e) => {
            diags.push(Diagnostic::plain(e));
            return (None, None);
        }
    };
    if !overlay.files.is_empty() {
        let globs = project::glob_set(&manifest.sources);
        for path in overlay.files.keys() {
            if !sources.contains(path) && globs.as_ref().is_some_and(|g| g.is_match(path)) {
                sources.push(path.clone());
            }
        }
    }
    if sources.is_empty() {
        diags.push(
            Diagnostic::plain(format!(
                "no `.seg` file matches `{}`",
                manifest.sources.join("`, `")
            ))
            .with_help("check `[project] sources` in seg.toml"),
        );
        return (None, None);
    }
    // Each inventory glob must match something: a typo must not silently drop identities.
    // (Reported after the sources' problems, as the walk below reads them first.)
    let mut inventory_diags = Vec::new();
    let mut inventory_files: Vec<String> = Vec::new();
    for (index, glob) in manifest.inventory.iter().enumerate() {
        match project::expand_globs(root, std::slice::from_ref(glob), &[]) {
            Ok(found) if found.is_empty() => {
                inventory_diags.push(manifest.inventory_not_found(index))
            }
            Ok(found) => {
                for f in found {
                    if !inventory_files.contains(&f) {
                        inventory_files.push(f);
                    }
                }
            }
            Err(e) => inventory_diags.push(Diagnostic::plain(e)),
        }
    }
    let mut prepared = load::prepare(root, &sources, &inventory_files, map, overlay, now, ahead);

    let mut units = Vec::new();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut queue: Vec<String> = sources;
    while let Some(path) = queue.pop() {
        if !seen.insert(path.clone()) {
            continue;
        }
        let text = match prepared.text(root, &path, overlay) {
            Ok(t) => t,
            Err(d) => {
                diags.push(d);
                continue;
            }
        };
        let file = map.add(&path, text.text);
        if text.from_disk {
            inputs.push(file);
        }
        match prepared.tree(&path, file, map) {
            Ok(ast) => {
                for import in file_imports(&ast) {
                    match project::resolve_import(&path, &import) {
                        Some(p) if root.join(&p).is_file() || overlay.files.contains_key(&p) => {
                            queue.push(p)
                        }
                        // A missing or escaping import is reported by the checker (E0204).
                        _ => {}
                    }
                }
                units.push(Unit {
                    file,
                    path,
                    module: None,
                    ast: ast.into(),
                });
            }
            Err(d) => diags.push(d),
        }
    }
    units.sort_by(|a, b| a.path.cmp(&b.path));
    for (index, module) in seg_stdlib::MODULES.iter().enumerate() {
        let file = map.add(module.file_name, module.source);
        match prepared.stdlib_tree(index, file, module.source) {
            Ok(ast) => units.push(Unit {
                file,
                path: module.file_name.to_string(),
                module: Some(module.path.to_string()),
                ast: ast.into(),
            }),
            Err(d) => diags.push(
                Diagnostic::bug(format!(
                    "the standard library module `{}` does not parse",
                    module.path
                ))
                .with_note(d.message),
            ),
        }
    }

    diags.extend(inventory_diags);
    if inventory_files.is_empty() {
        return (None, None);
    }
    let mut loaded = Vec::new();
    for (path, text) in inventory_files
        .iter()
        .zip(prepared.inventory_texts.drain(..))
    {
        match text {
            Ok(text) => loaded.push(map.add(path, text)),
            Err(d) => diags.push(d),
        }
    }
    inputs.extend(&loaded);
    let inventory = prepared.inventory(&loaded, map, now, diags);

    let source_hash = source_hash(map);
    let Some(inventory) = inventory else {
        return (None, None);
    };
    if diags.has_errors() {
        return (None, Some(inventory));
    }
    let jit = JitInput::load(&manifest.jit, map);
    let input = CheckInput {
        units: &units,
        inventory: &inventory,
        map,
        project: &manifest.name,
        source_hash: &source_hash,
        now,
        jit: Some(jit),
    };
    let mut outline = Outline::default();
    let program = seg_check::check_outlined(&input, diags, Some(&mut outline));
    (program.map(|p| (p, outline)), Some(inventory))
}

fn file_imports(ast: &seg_syntax::ast::File) -> Vec<String> {
    use seg_syntax::ast::{Item, UsePath};
    ast.items
        .iter()
        .filter_map(|item| match item {
            Item::Use(u) => match &u.path.node {
                UsePath::File(p) => Some(p.clone()),
                UsePath::Module(_) => None,
            },
            _ => None,
        })
        .collect()
}

/// SHA-256 over every input file (name and text), in source-map order.
fn source_hash(map: &SourceMap) -> String {
    let mut h = Sha256::new();
    for (_, f) in map.iter() {
        h.update((f.name.len() as u64).to_le_bytes());
        h.update(f.name.as_bytes());
        h.update((f.text.len() as u64).to_le_bytes());
        h.update(f.text.as_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// "Now" from the system clock.
pub fn clock_now() -> Timestamp {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    Timestamp(i64::try_from(secs).unwrap_or(i64::MAX))
}

/// "Now" for a run: `--now` (RFC 3339 or a date), else `SOURCE_DATE_EPOCH`, else the clock.
pub fn resolve_now(flag: Option<&str>) -> Result<Timestamp, Diagnostic> {
    if let Some(s) = flag {
        return Timestamp::parse(s)
            .or_else(|| seg_ir::Date::parse(s).map(seg_ir::Date::start))
            .ok_or_else(|| {
                Diagnostic::plain(format!("`--now {s}` is not a time")).with_help(
                    "write a date such as `2026-11-24` or a time such as `2026-11-24T09:00:00Z`",
                )
            });
    }
    if let Ok(s) = std::env::var("SOURCE_DATE_EPOCH") {
        return s.trim().parse::<i64>().map(Timestamp).map_err(|_| {
            Diagnostic::plain(format!(
                "`SOURCE_DATE_EPOCH={s}` is not a number of seconds"
            ))
        });
    }
    Ok(clock_now())
}
