//! The policy files parsed and the inventory loaded on every core.
//!
//! File ids, the source hash and the order of the diagnostics follow the
//! order in which the walk over the sources visits the files: popped from the
//! end of the sorted list, each file's `use ./file.seg` imports next. That
//! order is known only once the files are parsed, so the work is done ahead
//! with the ids the files get if no import changes the order (the list
//! reversed, then the standard library, then the inventory files), on several
//! threads; the walk then runs as before, one file at a time, and takes a tree
//! (or the inventory) made ahead only when its file ids are the ones the walk
//! gives, parsing again otherwise. Whatever the number of threads, the source
//! map, the trees, the inventory and the diagnostics are the sequential ones.

use super::project;
use seg_check::inventory::Inventory;
use seg_diag::{Diagnostic, Diagnostics, FileId, SourceMap};
use seg_ir::Now;
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Below this many bytes of policy and inventory, threads cost more than they save.
const PARALLEL_BYTES: usize = 128 * 1024;

/// How the work is done ahead: on how many threads, or not at all (the walk
/// reads and parses each file when it gets to it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ahead {
    /// One thread per core when the input is large enough.
    Auto,
    /// Exactly this many threads (tests: the result must not depend on it).
    #[cfg_attr(not(test), allow(dead_code))]
    Threads(usize),
    /// No work ahead: the sequential walk.
    Off,
}

/// A file's text, read or from the overlay, or why it could not be read.
pub(super) struct Text {
    pub text: String,
    /// Read from the project folder (it is one of the compilation's inputs).
    pub from_disk: bool,
}

pub(super) fn read_text(
    root: &Path,
    path: &str,
    overlay: &super::Overlay,
) -> Result<Text, Diagnostic> {
    match overlay.files.get(path) {
        Some(text) => Ok(Text {
            text: text.clone(),
            from_disk: false,
        }),
        None => project::read_text(root, path).map(|text| Text {
            text,
            from_disk: true,
        }),
    }
}

type Parsed = Result<seg_syntax::ast::File, Diagnostic>;

/// What was done ahead of the walk.
#[derive(Default)]
pub(super) struct Prepared {
    /// Each source the walk is expected to visit, read.
    texts: HashMap<String, Result<Text, Diagnostic>>,
    /// Its tree, parsed with the file id it gets if the order holds.
    trees: HashMap<String, (FileId, Parsed)>,
    /// The standard library's trees, in `seg_stdlib::MODULES` order, with their ids.
    stdlib: Vec<Option<(FileId, Parsed)>>,
    /// Each inventory file, read.
    pub inventory_texts: Vec<Result<String, Diagnostic>>,
    /// The inventory, loaded with these file ids, and what its loading reported.
    inventory: Option<(Vec<FileId>, Option<Inventory>, Diagnostics)>,
}

impl Prepared {
    /// The text of `path`: read ahead, else read now.
    pub fn text(
        &mut self,
        root: &Path,
        path: &str,
        overlay: &super::Overlay,
    ) -> Result<Text, Diagnostic> {
        self.texts
            .remove(path)
            .unwrap_or_else(|| read_text(root, path, overlay))
    }

    /// The tree of `path` (now `file` in `map`): parsed ahead with that id, else parsed now.
    pub fn tree(&mut self, path: &str, file: FileId, map: &SourceMap) -> Parsed {
        match self.trees.remove(path) {
            Some((id, tree)) if id == file => tree,
            _ => seg_syntax::parse(file, map.text(file)),
        }
    }

    /// The tree of the `index`th standard-library module, now `file` in `map`.
    pub fn stdlib_tree(&mut self, index: usize, file: FileId, text: &str) -> Parsed {
        match self.stdlib.get_mut(index).and_then(Option::take) {
            Some((id, tree)) if id == file => tree,
            _ => seg_syntax::parse(file, text),
        }
    }

    /// The inventory of the files now `files` in `map`: loaded ahead with those
    /// ids, else loaded now. Its diagnostics go to `diags`.
    pub fn inventory(
        &mut self,
        files: &[FileId],
        map: &SourceMap,
        now: &Now,
        diags: &mut Diagnostics,
    ) -> Option<Inventory> {
        if let Some((ids, inventory, reported)) = self.inventory.take()
            && ids == files
        {
            diags.extend(reported);
            return inventory;
        }
        let texts: Vec<(FileId, &str)> = files.iter().map(|&f| (f, map.text(f))).collect();
        seg_check::inventory::load(&texts, now, diags)
    }
}

/// Read the sources (`sources`, the walk's initial list) and the inventory
/// files, then parse and load them ahead on `ahead` threads, with the ids they
/// get in `map` if the walk visits the sources in reverse list order. With
/// [`Ahead::Off`], only the inventory files are read.
pub(super) fn prepare(
    root: &Path,
    sources: &[String],
    inventory_files: &[String],
    map: &SourceMap,
    overlay: &super::Overlay,
    now: &Now,
    ahead: Ahead,
) -> Prepared {
    let mut prepared = Prepared {
        inventory_texts: inventory_files
            .iter()
            .map(|p| project::read_text(root, p))
            .collect(),
        ..Prepared::default()
    };
    if ahead == Ahead::Off {
        return prepared;
    }
    let order: Vec<&String> = sources.iter().rev().collect();
    let texts: Vec<Result<Text, Diagnostic>> =
        order.iter().map(|p| read_text(root, p, overlay)).collect();

    // The ids the files get if the order holds: a file that cannot be read gets none.
    let mut next = map.iter().count();
    let mut id = || {
        next += 1;
        FileId(u32::try_from(next - 1).unwrap_or(u32::MAX))
    };
    let source_ids: Vec<Option<FileId>> = texts.iter().map(|t| t.is_ok().then(&mut id)).collect();
    let stdlib_ids: Vec<FileId> = seg_stdlib::MODULES.iter().map(|_| id()).collect();
    let inventory_ids: Vec<FileId> = prepared
        .inventory_texts
        .iter()
        .filter(|t| t.is_ok())
        .map(|_| id())
        .collect();
    let inventory_texts: Vec<(FileId, &str)> = inventory_ids
        .iter()
        .zip(prepared.inventory_texts.iter().flatten())
        .map(|(&f, t)| (f, t.as_str()))
        .collect();

    // The work, largest first, so that the last task to start is a small one.
    enum Task<'a> {
        Source(usize, FileId, &'a str),
        Stdlib(usize, FileId, &'a str),
        Inventory,
    }
    enum Done {
        Source(usize, FileId, Parsed),
        Stdlib(usize, FileId, Parsed),
        Inventory(Option<Inventory>, Diagnostics),
    }
    let mut tasks: Vec<(usize, Task)> = Vec::new();
    for (i, (text, id)) in texts.iter().zip(&source_ids).enumerate() {
        if let (Ok(t), Some(id)) = (text, id) {
            tasks.push((t.text.len(), Task::Source(i, *id, &t.text)));
        }
    }
    for (i, (module, &id)) in seg_stdlib::MODULES.iter().zip(&stdlib_ids).enumerate() {
        tasks.push((module.source.len(), Task::Stdlib(i, id, module.source)));
    }
    if !inventory_files.is_empty() {
        let bytes = inventory_texts.iter().map(|(_, t)| t.len()).sum();
        tasks.push((bytes, Task::Inventory));
    }
    tasks.sort_by_key(|t| std::cmp::Reverse(t.0));
    let bytes: usize = tasks.iter().map(|t| t.0).sum();
    let threads = match ahead {
        Ahead::Threads(n) => n,
        _ if bytes < PARALLEL_BYTES => 1,
        _ => std::thread::available_parallelism().map_or(1, |n| n.get()),
    }
    .clamp(1, tasks.len().max(1));

    // Workers that found no task left: their cores are free.
    let finished = AtomicUsize::new(0);
    let run = |task: &Task| match *task {
        Task::Source(i, id, text) => Done::Source(i, id, seg_syntax::parse(id, text)),
        Task::Stdlib(i, id, text) => Done::Stdlib(i, id, seg_syntax::parse(id, text)),
        Task::Inventory => {
            let mut diags = Diagnostics::new();
            // A worker with nothing left to do takes pieces of the identities.
            let spare_core = || finished.load(Ordering::Relaxed) > 0;
            let inventory =
                seg_check::inventory::load_sharing(&inventory_texts, now, &mut diags, &spare_core);
            Done::Inventory(inventory, diags)
        }
    };
    let next_task = AtomicUsize::new(0);
    let worker = || {
        let mut done = Vec::new();
        loop {
            let i = next_task.fetch_add(1, Ordering::Relaxed);
            let Some((_, task)) = tasks.get(i) else {
                finished.fetch_add(1, Ordering::Relaxed);
                return done;
            };
            done.push(run(task));
        }
    };
    let done: Vec<Done> = std::thread::scope(|scope| {
        let helpers: Vec<_> = (1..threads).map(|_| scope.spawn(worker)).collect();
        let mut done = worker();
        for h in helpers {
            match h.join() {
                Ok(d) => done.extend(d),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        done
    });

    prepared.stdlib = seg_stdlib::MODULES.iter().map(|_| None).collect();
    for d in done {
        match d {
            Done::Source(i, id, tree) => {
                prepared.trees.insert(order[i].clone(), (id, tree));
            }
            Done::Stdlib(i, id, tree) => prepared.stdlib[i] = Some((id, tree)),
            Done::Inventory(inventory, diags) => {
                prepared.inventory = Some((inventory_ids.clone(), inventory, diags));
            }
        }
    }
    prepared.texts = order.into_iter().cloned().zip(texts).collect();
    prepared
}

#[cfg(test)]
mod tests {
    use super::Ahead;
    use crate::driver::{Compilation, Input, Overlay, compile_ahead};
    use std::fs;
    use std::path::Path;

    /// Everything a compilation hands on, as text: the source map (names and
    /// texts in id order), the inputs, the diagnostics, the program and the outline.
    fn fingerprint(comp: &Compilation) -> String {
        let mut s = String::new();
        for (id, f) in comp.map.iter() {
            s += &format!("{id:?} {} {:?}\n", f.name, f.text);
        }
        s += &format!("inputs {:?}\n", comp.inputs);
        for d in comp.diags.iter() {
            s += &format!("{d:?}\n");
        }
        if let Some(p) = &comp.program {
            s += &crate::driver::build::ir_json(p);
        }
        s += &serde_json::to_string(&comp.outline).unwrap();
        s += &format!("{:?}", comp.now_span);
        s
    }

    fn same_every_way(dir: &Path, overlay: &Overlay) -> String {
        let input = Input::from_args(Some(dir), &[]).unwrap();
        let now = seg_ir::Timestamp(1_800_000_000);
        let sequential = fingerprint(&compile_ahead(&input, now, overlay, Ahead::Off));
        for ahead in [
            Ahead::Threads(1),
            Ahead::Threads(2),
            Ahead::Threads(5),
            Ahead::Auto,
        ] {
            let other = fingerprint(&compile_ahead(&input, now, overlay, ahead));
            assert!(
                other == sequential,
                "{ahead:?} differs from the sequential walk"
            );
        }
        sequential
    }

    #[test]
    fn the_bank_example_compiles_the_same_on_any_number_of_threads() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/bank");
        let all = same_every_way(&dir, &Overlay::default());
        assert!(all.contains("\"rules\""), "the program was compiled");
    }

    /// An inventory large enough to be checked in pieces, which the worker
    /// done with the policy files shares: the sequential result, a name
    /// defined twice in two pieces included.
    #[test]
    fn a_large_inventory_checked_in_pieces_gives_the_sequential_result() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        fs::create_dir_all(p.join("policy")).unwrap();
        fs::write(
            p.join("seg.toml"),
            "[project]\nname = \"t\"\ninventory = [\"inventory.yaml\"]\nsources = [\"policy/**/*.seg\"]\n",
        )
        .unwrap();
        let mut inv = String::from("version: 1\nidentities:\n");
        for i in 0..1500 {
            inv += &format!(
                "  - name: host-{i}\n    kind: workload\n    owner: team\n    addresses: [10.{}.{}.1/32]\n",
                i / 250,
                i % 250
            );
        }
        fs::write(p.join("inventory.yaml"), &inv).unwrap();
        let mut policy = String::from("policy main {\n  owner \"team\"\n");
        for i in 0..400 {
            policy += &format!("  allow host-{i} -> host-{} on tcp/{}\n", i + 1, 1000 + i);
        }
        policy += "}\n";
        fs::write(p.join("policy/main.seg"), &policy).unwrap();
        let all = same_every_way(p, &Overlay::default());
        assert!(all.contains("\"rules\""), "the program was compiled");
        fs::write(
            p.join("inventory.yaml"),
            inv.replace("name: host-1499\n", "name: host-7\n"),
        )
        .unwrap();
        let all = same_every_way(p, &Overlay::default());
        assert!(all.contains("DuplicateIdentity"), "{all}");
    }

    /// Imports that change the walk's order (a file outside the globs, a file
    /// the list holds further on), files that cannot be read or parsed, an
    /// inventory file in error and one missing glob: the same source map,
    /// diagnostics and program as the sequential walk.
    #[test]
    fn imports_and_errors_that_change_the_order_give_the_sequential_result() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        for sub in ["policy/x", "lib", "inv"] {
            fs::create_dir_all(p.join(sub)).unwrap();
        }
        fs::write(
            p.join("seg.toml"),
            "[project]\nname = \"t\"\ninventory = [\"inv/*.yaml\", \"more/*.yaml\"]\nsources = [\"policy/**/*.seg\"]\n",
        )
        .unwrap();
        let mut inv = String::from("version: 1\nidentities:\n");
        for (i, name) in ["web", "api", "db", "cache"].iter().enumerate() {
            inv += &format!(
                "  - name: {name}\n    kind: workload\n    owner: team\n    addresses: [10.0.0.{i}/32]\n"
            );
        }
        fs::write(p.join("inv/a.yaml"), inv).unwrap();
        fs::write(p.join("inv/b.yaml"), "version: 1\nidentities: [\n").unwrap();
        fs::write(p.join("inv/c.yaml"), b"version: 1\n\xff\n").unwrap();
        fs::write(p.join("lib/common.seg"), "segment store = db\n").unwrap();
        fs::write(
            p.join("policy/a.seg"),
            "use ../lib/common.seg::{store}\n\nsegment front = [web]\n\npolicy main {\n  owner \"team\"\n  allow web -> api on tcp/443\n  allow api -> store on tcp/5432\n}\n",
        )
        .unwrap();
        fs::write(
            p.join("policy/b.seg"),
            "policy broken {\n  allow web ->\n}\n",
        )
        .unwrap();
        fs::write(p.join("policy/x/c.seg"), b"segment s = \xfe\n").unwrap();
        // Visited first, z.seg brings a.seg forward: every later id moves.
        fs::write(
            p.join("policy/z.seg"),
            "use ./a.seg::{front}\n\nsegment edge = front | [cache]\n",
        )
        .unwrap();
        let all = same_every_way(p, &Overlay::default());
        assert!(all.contains("lib/common.seg"), "{all}");
        assert!(all.contains("is not UTF-8 text"), "{all}");

        // Without the errors, the program itself is compared; and with an overlay.
        fs::remove_file(p.join("policy/b.seg")).unwrap();
        fs::remove_file(p.join("policy/x/c.seg")).unwrap();
        fs::remove_file(p.join("inv/b.yaml")).unwrap();
        fs::remove_file(p.join("inv/c.yaml")).unwrap();
        fs::write(
            p.join("seg.toml"),
            "[project]\nname = \"t\"\ninventory = [\"inv/*.yaml\"]\nsources = [\"policy/**/*.seg\"]\n",
        )
        .unwrap();
        let all = same_every_way(p, &Overlay::default());
        assert!(all.contains("\"rules\""), "{all}");
        let mut overlay = Overlay::default();
        overlay.files.insert(
            "policy/new.seg".into(),
            "use ./a.seg::{store}\n\npolicy more {\n  owner \"team\"\n  allow cache -> store on tcp/6379\n}\n".into(),
        );
        let all = same_every_way(p, &overlay);
        assert!(all.contains("policy/new.seg"), "{all}");
    }
}
