//! One project as the server sees it: `seg.toml`, the inventory and the `.seg`
//! sources, read from disk except for the documents open in the editor, and
//! checked with caches so that an edit re-parses only the edited file.
//!
//! File ids are laid out in a fixed order (manifest, inventory files, the
//! standard library, then the sources), so an inventory or AST kept from an
//! earlier run still points at the right file.

use seg_check::inventory::Inventory;
use seg_check::manifest::Manifest;
use seg_check::{CheckInput, Outline, Unit};
use seg_diag::{Code, Diagnostic, Diagnostics, FileId, SourceMap, Span};
use seg_ir::Timestamp;
use seg_syntax::ast::{File, Item, UsePath};
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Files under a root matching globs (project-relative with `/`, sorted), skipping some folders.
pub type ExpandGlobs = fn(&Path, &[String], &[PathBuf]) -> Result<Vec<String>, String>;

/// The inventory as loaded from its files (id, name, text), with the diagnostics of loading it.
struct CachedInventory {
    files: Vec<(FileId, String, String)>,
    /// The instants at which loading reads "now" as it did (address windows,
    /// overdue rotations): outside them the same text loads differently.
    span: (Option<Timestamp>, Option<Timestamp>),
    inventory: Option<Arc<Inventory>>,
    diags: Vec<Diagnostic>,
}

impl CachedInventory {
    fn holds_at(&self, now: Timestamp) -> bool {
        self.span.0.is_none_or(|from| now >= from) && self.span.1.is_none_or(|until| now < until)
    }
}

/// The pieces of the driver that find a project's files (passed in by the
/// `seg` binary, so this crate does not depend on it).
#[derive(Clone, Copy)]
pub struct Host {
    pub expand_globs: ExpandGlobs,
    /// `./x.seg` written in a project-relative file → project-relative path.
    pub resolve_import: fn(&str, &str) -> Option<String>,
}

/// The largest file read (as the driver).
const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// What one run over a project produced.
pub struct Analysis {
    pub root: PathBuf,
    pub map: SourceMap,
    /// The sources, sorted by path, then the standard library.
    pub units: Vec<Unit>,
    pub inventory: Option<Arc<Inventory>>,
    pub inventory_files: Vec<FileId>,
    pub outline: Outline,
    pub diags: Vec<Diagnostic>,
    pub manifest: FileId,
    pub now: Timestamp,
}

impl Analysis {
    /// The unit of a project-relative path.
    pub fn unit_of(&self, rel: &str) -> Option<usize> {
        self.units
            .iter()
            .position(|u| u.module.is_none() && u.path == rel)
    }

    /// The unit a `use` in `unit` imports from.
    pub fn import_target(&self, host: &Host, unit: usize, path: &UsePath) -> Option<usize> {
        match path {
            UsePath::Module(parts) => {
                let m = parts.join("::");
                self.units
                    .iter()
                    .position(|u| u.module.as_deref() == Some(m.as_str()))
            }
            UsePath::File(f) => {
                let resolved = (host.resolve_import)(&self.units.get(unit)?.path, f)?;
                self.unit_of(&resolved)
            }
        }
    }
}

struct Cached<T> {
    file: FileId,
    text: String,
    value: T,
}

/// A project and what is kept between runs.
pub struct Project {
    pub root: PathBuf,
    inventory: Option<CachedInventory>,
    asts: HashMap<String, Cached<Result<Arc<File>, Diagnostic>>>,
    /// Files that were given diagnostics at the last publication.
    pub published: BTreeSet<PathBuf>,
}

impl Project {
    pub fn new(root: PathBuf) -> Project {
        Project {
            root,
            inventory: None,
            asts: HashMap::new(),
            published: BTreeSet::new(),
        }
    }

    /// Check the project; `open` gives the text of an open document.
    pub fn analyze(
        &mut self,
        host: &Host,
        open: &dyn Fn(&Path) -> Option<String>,
        now: Timestamp,
    ) -> Analysis {
        let mut map = SourceMap::new();
        let mut diags = Diagnostics::new();
        let root = self.root.clone();
        let read = |rel: &str, diags: &mut Diagnostics| -> Option<String> {
            let path = root.join(rel);
            if let Some(text) = open(&path) {
                return Some(text);
            }
            read_file(&path, rel, diags)
        };
        let manifest_text = read("seg.toml", &mut diags).unwrap_or_default();
        let manifest_file = map.add("seg.toml", manifest_text.clone());
        let manifest = seg_check::manifest::parse(manifest_file, &manifest_text, &mut diags);
        let mut analysis = Analysis {
            root: self.root.clone(),
            map,
            units: Vec::new(),
            inventory: None,
            inventory_files: Vec::new(),
            outline: Outline::default(),
            diags: Vec::new(),
            manifest: manifest_file,
            now,
        };
        let Some(manifest) = manifest else {
            analysis.diags = diags.into_vec();
            return analysis;
        };
        self.load_inventory(host, &manifest, &read, &mut analysis, &mut diags, now);
        self.load_units(host, &manifest, &read, &mut analysis, &mut diags);
        let jit = seg_check::JitInput::load(&manifest.jit, &mut analysis.map);
        if let Some(inventory) = analysis.inventory.clone()
            && !diags.has_errors()
        {
            let input = CheckInput {
                units: &analysis.units,
                inventory: &inventory,
                map: &analysis.map,
                project: &manifest.name,
                source_hash: "",
                now: &seg_ir::Now::new(now),
                jit: Some(jit),
            };
            seg_check::check_outlined(&input, &mut diags, Some(&mut analysis.outline));
        } else if let Some(inventory) = analysis.inventory.clone() {
            // Some file does not parse: check the others for names and hovers,
            // but report only the parse errors (the rest would be noise).
            let mut quiet = Diagnostics::new();
            let input = CheckInput {
                units: &analysis.units,
                inventory: &inventory,
                map: &analysis.map,
                project: &manifest.name,
                source_hash: "",
                now: &seg_ir::Now::new(now),
                jit: Some(jit),
            };
            seg_check::check_outlined(&input, &mut quiet, Some(&mut analysis.outline));
        }
        diags.apply_levels(&manifest.lints, false);
        analysis.diags = diags.into_vec();
        analysis
    }

    fn load_inventory(
        &mut self,
        host: &Host,
        manifest: &Manifest,
        read: &dyn Fn(&str, &mut Diagnostics) -> Option<String>,
        analysis: &mut Analysis,
        diags: &mut Diagnostics,
        now: Timestamp,
    ) {
        let mut paths: Vec<String> = Vec::new();
        for (index, glob) in manifest.inventory.iter().enumerate() {
            match (host.expand_globs)(&self.root, std::slice::from_ref(glob), &[]) {
                Ok(found) if found.is_empty() => diags.push(manifest.inventory_not_found(index)),
                Ok(found) => {
                    for f in found {
                        if !paths.contains(&f) {
                            paths.push(f);
                        }
                    }
                }
                Err(e) => diags.push(Diagnostic::plain(e)),
            }
        }
        let mut texts = Vec::new();
        for p in &paths {
            if let Some(text) = read(p, diags) {
                let file = analysis.map.add(p.clone(), text.clone());
                analysis.inventory_files.push(file);
                texts.push((file, text));
            }
        }
        if texts.is_empty() {
            return;
        }
        let fresh = self.inventory.as_ref().is_some_and(|c| {
            c.holds_at(now)
                && c.files.len() == texts.len()
                && c.files
                    .iter()
                    .zip(&texts)
                    .all(|((f, n, t), (g, u))| f == g && n == analysis.map.name(*g) && t == u)
        });
        if !fresh {
            let mut own = Diagnostics::new();
            let refs: Vec<(FileId, &str)> = texts.iter().map(|(f, t)| (*f, t.as_str())).collect();
            let reading = seg_ir::Now::new(now);
            let inv = seg_check::inventory::load(&refs, &reading, &mut own).map(Arc::new);
            self.inventory = Some(CachedInventory {
                span: reading.span(),
                files: texts
                    .iter()
                    .map(|(f, t)| (*f, analysis.map.name(*f).to_string(), t.clone()))
                    .collect(),
                inventory: inv,
                diags: own.into_vec(),
            });
        }
        if let Some(c) = &self.inventory {
            analysis.inventory = c.inventory.clone();
            diags.extend(c.diags.iter().cloned());
        }
    }

    fn load_units(
        &mut self,
        host: &Host,
        manifest: &Manifest,
        read: &dyn Fn(&str, &mut Diagnostics) -> Option<String>,
        analysis: &mut Analysis,
        diags: &mut Diagnostics,
    ) {
        let mut stdlib = Vec::new();
        for module in seg_stdlib::MODULES {
            let file = analysis.map.add(module.file_name, module.source);
            if let Ok(ast) = self.parse(module.file_name, file, module.source) {
                stdlib.push(Unit {
                    file,
                    path: module.file_name.to_string(),
                    module: Some(module.path.to_string()),
                    ast,
                });
            }
        }
        let sources = match (host.expand_globs)(&self.root, &manifest.sources, &[]) {
            Ok(s) => s,
            Err(e) => {
                diags.push(Diagnostic::plain(e));
                Vec::new()
            }
        };
        let mut seen = BTreeSet::new();
        let mut queue = sources;
        let mut units = Vec::new();
        while let Some(path) = queue.pop() {
            if !seen.insert(path.clone()) {
                continue;
            }
            let Some(text) = read(&path, diags) else {
                continue;
            };
            let file = analysis.map.add(path.clone(), text.clone());
            match self.parse(&path, file, &text) {
                Ok(ast) => {
                    for item in &ast.items {
                        if let Item::Use(u) = item
                            && let UsePath::File(f) = &u.path.node
                            && let Some(p) = (host.resolve_import)(&path, f)
                            && self.root.join(&p).is_file()
                        {
                            queue.push(p);
                        }
                    }
                    units.push(Unit {
                        file,
                        path,
                        module: None,
                        ast,
                    });
                }
                Err(d) => diags.push(d),
            }
        }
        units.sort_by(|a, b| a.path.cmp(&b.path));
        units.extend(stdlib);
        analysis.units = units;
    }

    /// Parse, reusing the tree of an unchanged file (shared, not copied).
    fn parse(&mut self, path: &str, file: FileId, text: &str) -> Result<Arc<File>, Diagnostic> {
        if let Some(c) = self.asts.get(path)
            && c.file == file
            && c.text == text
        {
            return c.value.clone();
        }
        let value = seg_syntax::parse(file, text).map(Arc::new);
        self.asts.insert(
            path.to_string(),
            Cached {
                file,
                text: text.to_string(),
                value: value.clone(),
            },
        );
        value
    }
}

/// Read a file as the driver does: size limit, UTF-8 (E0003, E0004).
pub fn read_file(path: &Path, rel: &str, diags: &mut Diagnostics) -> Option<String> {
    match std::fs::metadata(path) {
        Ok(m) if m.len() > MAX_FILE_BYTES => {
            diags.push(Diagnostic::error(
                Code::InputTooLarge,
                format!("`{rel}` is larger than 64 MiB"),
            ));
            return None;
        }
        Ok(_) => {}
        Err(e) => {
            diags.push(Diagnostic::plain(format!("cannot read `{rel}`: {e}")));
            return None;
        }
    }
    match std::fs::read(path).map(String::from_utf8) {
        Ok(Ok(text)) => Some(text),
        Ok(Err(e)) => {
            diags.push(
                Diagnostic::error(Code::NotText, format!("`{rel}` is not UTF-8 text")).with_note(
                    format!(
                        "the first invalid byte is at offset {}",
                        e.utf8_error().valid_up_to()
                    ),
                ),
            );
            None
        }
        Err(e) => {
            diags.push(Diagnostic::plain(format!("cannot read `{rel}`: {e}")));
            None
        }
    }
}

/// The folder holding the `seg.toml` nearest above `path`.
pub fn root_of(path: &Path) -> Option<PathBuf> {
    path.ancestors()
        .skip(1)
        .find(|d| d.join("seg.toml").is_file())
        .map(Path::to_path_buf)
}

/// A span with nothing to point at: the start of `seg.toml`.
pub fn fallback_span(manifest: FileId) -> Span {
    Span::new(manifest, 0, 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use seg_diag::Code;

    /// Globs taken as plain project-relative paths: enough for a fixed layout.
    fn literal(root: &Path, globs: &[String], _: &[PathBuf]) -> Result<Vec<String>, String> {
        Ok(globs
            .iter()
            .filter(|g| root.join(g).is_file())
            .cloned()
            .collect())
    }

    const HOST: Host = Host {
        expand_globs: literal,
        resolve_import: |_, _| None,
    };

    #[test]
    fn a_kept_inventory_is_loaded_again_once_now_leaves_its_span() {
        let root = std::env::temp_dir().join(format!("seg-lsp-now-{}", std::process::id()));
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(
            root.join("seg.toml"),
            "[project]\nname = \"t\"\ninventory = [\"inventory.yaml\"]\nsources = [\"main.seg\"]\n",
        )
        .unwrap();
        // Rotation due by 2026-12-30.
        std::fs::write(
            root.join("inventory.yaml"),
            "version: 1\nidentities:\n  - name: api\n    kind: workload\n    \
             credential: { type: x509, rotated: 2026-10-01, max_age: 90d }\n",
        )
        .unwrap();
        std::fs::write(root.join("main.seg"), "").unwrap();
        let stale = |a: &Analysis| {
            a.diags
                .iter()
                .filter(|d| d.code == Some(Code::StaleCredential))
                .count()
        };
        let mut project = Project::new(root.clone());
        let none = |_: &Path| None;
        let december = Timestamp(1_796_126_400); // 2026-12-01T12:00:00Z
        let january = Timestamp(1_799_150_400); // 2027-01-05T12:00:00Z
        assert_eq!(stale(&project.analyze(&HOST, &none, december)), 0);
        assert_eq!(stale(&project.analyze(&HOST, &none, december)), 0);
        assert_eq!(stale(&project.analyze(&HOST, &none, january)), 1);
        assert_eq!(stale(&project.analyze(&HOST, &none, december)), 0);
        std::fs::remove_dir_all(&root).unwrap();
    }
}
