//! `seg build [PATH] [--target T,...] [--out DIR] [--no-spare]`: check, lower to every
//! target, write everything atomically, print a one-screen summary.

use super::{Exit, InputArgs, Verbosity, compile_located, finish, info, locate, plural};
use crate::driver::{self, PreviousBuild, TargetReport};
use crate::output::{Color, Format};
use crate::progress::Progress;
use clap::Args;
use seg_ir::Sink;
use seg_ir::objects::{BuildObjects, Object, Presence, compare_builds};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub struct BuildArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Targets to build (comma-separated): ir, iptables, nftables, kubernetes, istio, aws, gcp, opa [default: those in seg.toml]
    #[arg(long, value_delimiter = ',', value_name = "T")]
    pub target: Vec<String>,
    /// Output folder, replaced as a whole when the build succeeds [default: PATH/out]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Keep no spare: remove the replaced output, and the spare an earlier build left beside DIR (.<name>.seg-spare, an older build), instead of keeping it for the next build to write over.
    #[arg(long, env = "SEG_NO_SPARE", value_parser = clap::builder::BoolishValueParser::new())]
    pub no_spare: bool,
}

pub fn run(args: &BuildArgs, color: Color, v: Verbosity) -> Exit {
    driver::share_arenas();
    let (input, now) = match locate(&args.input, color) {
        Ok(located) => located,
        Err(e) => return e,
    };
    let out = args.out.clone().unwrap_or_else(|| input.root().join("out"));
    let summarised = args.input.format == Format::Human && v != Verbosity::Quiet;
    // The previous output's objects, for the summary only, read on another
    // core while this one compiles (the new output replaces it only at the
    // commit, after it is read), and only their keys' digests kept. A folder
    // seg did not write is refused by the writer; an unreadable report only
    // loses the comparison. Without a thread, it is read at the join.
    let previous = summarised.then(|| {
        let out = out.clone();
        std::thread::Builder::new()
            .spawn(move || EarlyRead::of(&out))
            .ok()
    });
    let mut comp = compile_located(&input, now, v);
    // Only the program goes on to the targets.
    comp.inventory = None;
    comp.outline = None;
    let mut progress = Progress::new(v == Verbosity::Quiet);
    let mut staging = None;
    let reports = match (&mut comp.program, &comp.manifest) {
        (Some(program), Some(manifest)) if !comp.diags.has_errors() => {
            // Each file is written into the new tree as soon as it is made,
            // once the writer has checked that `out` may be replaced. Refused,
            // the build still runs for its diagnostics and writes nothing.
            let keep = if args.no_spare {
                driver::Spare::Remove
            } else {
                driver::Spare::Keep
            };
            let staged = driver::Staging::begin_with(&out, keep);
            let mut build = |files: &dyn Sink| {
                driver::build_into(
                    program,
                    manifest,
                    &comp.root,
                    &args.target,
                    &mut comp.diags,
                    &mut |i, n, target| progress.step(i, n, &format!("building {target}")),
                    true,
                    files,
                )
            };
            let reports = match &staged {
                Ok(staging) => staging.writing(build),
                Err(_) => build(&Unwritten),
            };
            staging = Some(staged);
            reports
        }
        _ => {
            // Nothing to write; without a spare, the one an earlier build
            // left goes all the same, as when a build is refused later.
            if args.no_spare {
                driver::remove_spare(&out);
            }
            None
        }
    };
    progress.show("writing");
    if v == Verbosity::Verbose {
        // compile_located has told the compile's time.
        // The targets are built side by side: each one's own time.
        for report in reports.iter().flatten() {
            info(&format!(
                "built {} in {} ms",
                report.target,
                report.took.as_millis()
            ));
        }
    }
    let exit = finish(&mut comp, &args.input, color);
    let (Some(mut reports), Some(staging)) = (reports.filter(|_| exit == Exit::Ok), staging) else {
        if exit == Exit::Ok {
            return Exit::Policy;
        }
        if args.input.format == Format::Human {
            eprintln!("error: build failed; nothing was written");
        }
        return exit;
    };
    let previous = previous.map(|reading| {
        let early = reading.map(|thread| {
            thread
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        });
        EarlyRead::current(early, &out).and_then(|keys| match keys {
            Some(keys) => previous_objects(keys, &reports, &out),
            None => Ok(None),
        })
    });
    let written = staging
        .map_err(driver::CommitError::from)
        .and_then(driver::Staging::commit);
    progress.clear();
    let written = match written {
        Ok(w) => w,
        Err(e) => {
            eprintln!("error: {}", e.message);
            if e.replaced {
                eprintln!(
                    "note: `{}` holds this build all the same; only what followed failed",
                    out.display()
                );
            } else {
                eprintln!("note: nothing was written; the previous output is unchanged");
            }
            return Exit::Usage;
        }
    };
    if v == Verbosity::Verbose {
        info(&wrote(&written));
        for a in reports.iter().flat_map(|r| &r.approximations) {
            let kind = serde_json::to_value(a.kind).unwrap_or_default();
            info(&format!(
                "{}: {} {} ({}): {}",
                a.target,
                kind.as_str().unwrap_or("approximated"),
                a.rule,
                a.location,
                a.reason
            ));
        }
    }
    if let Some(previous) = previous {
        // Names come from the user: shown, never acted on by the terminal.
        let mut text = summary(&reports, &out, comp.program.as_ref());
        text.push_str(&removals(&mut reports, previous));
        print!("{}", seg_diag::visible(&text));
    }
    // The process ends here: the OS takes back the program and the reports
    // at once, where freeing them piece by piece took ~30 ms at 10k rules.
    std::mem::forget((reports, comp));
    Exit::Ok
}

/// What writing the output took (`-v`).
fn wrote(w: &driver::WriteStats) -> String {
    if w.kept {
        return format!(
            "kept the previous output, which holds this build ({}, {} bytes, compared in {} ms; {} replaced in place): sync {} ms, replace {} ms, temporary folder removed in {} ms",
            plural(w.files, "file"),
            w.bytes,
            w.write.as_millis(),
            w.files.saturating_sub(w.reused),
            w.sync.as_millis(),
            w.swap.as_millis(),
            w.remove.as_millis(),
        );
    }
    format!(
        "wrote {} ({} bytes, {} unchanged and linked, {} rewritten in place, {} created, {} removed from the spare{}): files {} ms, sync {} ms, swap {} ms, old output {} in {} ms",
        plural(w.files, "file"),
        w.bytes,
        w.reused,
        w.rewritten,
        w.created,
        w.cleared,
        if w.recycled { "" } else { ", none was there" },
        w.write.as_millis(),
        w.sync.as_millis(),
        w.swap.as_millis(),
        if w.no_spare { "removed" } else { "set aside" },
        w.remove.as_millis(),
    )
}

/// Where the files go when `--out` may not be replaced: nowhere.
struct Unwritten;

impl Sink for Unwritten {
    fn put(&self, _: seg_ir::Artifact) {}
}

/// For a target without a clock that holds expiring rules: which it keeps
/// after they expire, and by when to rebuild and apply.
fn kept_until_rebuilt(r: &driver::TargetReport) -> Option<String> {
    const SHOWN: usize = 4;
    let rebuild_by = r.rebuild_by.as_ref()?;
    let mut rules: Vec<String> = r
        .until_rebuilt
        .iter()
        .take(SHOWN)
        .map(|k| format!("{} (expires {})", k.rule, k.expires))
        .collect();
    if r.until_rebuilt.len() > SHOWN {
        rules.push(format!("{} more", r.until_rebuilt.len() - SHOWN));
    }
    Some(format!(
        "no clock: keeps {} past expiry until rebuilt: {}; rebuild and apply by {rebuild_by}",
        super::plural(r.until_rebuilt.len(), "expiring rule"),
        rules.join(", "),
    ))
}

fn summary(reports: &[TargetReport], out: &Path, program: Option<&seg_ir::Program>) -> String {
    let mut s = String::new();
    if let Some(p) = program {
        s.push_str(&format!(
            "built `{}` into {} ({} rules, now {}, sources {})\n",
            p.project,
            out.display(),
            p.rules.len(),
            p.now,
            &p.source_hash[..p.source_hash.len().min(12)]
        ));
    }
    s.push_str(&format!(
        "  {:<12} {:>6} {:>7} {:>8} {:>8}\n",
        "target", "files", "rules", "omitted", "relaxed"
    ));
    for r in reports {
        s.push_str(&format!(
            "  {:<12} {:>6} {:>7} {:>8} {:>8}\n",
            r.target,
            r.files.len(),
            r.rules,
            r.omitted,
            r.relaxations
        ));
        for note in &r.notes {
            s.push_str(&format!("  {:<12} note: {note}\n", ""));
        }
        if let Some(line) = kept_until_rebuilt(r) {
            s.push_str(&format!("  {:<12} {line}\n", ""));
        }
        if let Some(apply) = &r.apply {
            s.push_str(&format!(
                "  {:<12} apply in {}: {apply}\n",
                "",
                out.join(&r.target).display()
            ));
        }
    }
    if let Some(p) = program
        && !p.omitted.is_empty()
    {
        s.push_str(&format!(
            "  {} expired rule(s) left out of every target\n",
            p.omitted.len()
        ));
    }
    s.push_str(&format!(
        "every approximation is listed in {}\n",
        out.join("report.json").display()
    ));
    s
}

/// Most objects named per target in the removal lines (report.json of the
/// previous output lists them all).
const SHOWN_REMOVALS: usize = 10;

/// What the new output removes relative to the previous one, per target
/// (the reports' objects are taken for the comparison, not copied).
fn removals(reports: &mut [TargetReport], previous: Result<Option<Previous>, String>) -> String {
    let previous = match previous {
        Ok(Some(p)) => p,
        Ok(None) => return String::new(),
        Err(e) => return format!("note: not compared with the previous output: {e}\n"),
    };
    let mut objects: BuildObjects = reports
        .iter_mut()
        .filter(|r| r.target != "ir")
        .map(|r| (r.target.clone(), std::mem::take(&mut r.objects)))
        .collect();
    let (mut old, counts, unlisted) = match previous {
        Previous::Objects(p) => {
            let counts: BTreeMap<String, usize> = p
                .objects
                .iter()
                .map(|(t, l)| (t.clone(), l.len()))
                .collect();
            (p.objects, counts, p.unlisted)
        }
        Previous::Unchanged(keys) => {
            // Every target both builds hold lists the same keys: none removed.
            for (target, list) in objects.iter_mut() {
                if keys.targets.contains_key(target) {
                    std::mem::forget(std::mem::take(list));
                }
            }
            let old = keys.targets.keys().map(|t| (t.clone(), Vec::new()));
            let counts = keys.targets.iter().map(|(t, (n, _))| (t.clone(), *n));
            (old.collect(), counts.collect(), keys.unlisted)
        }
    };
    let aside = set_aside_unchanged(&mut old, &mut objects);
    let mut s = String::new();
    let mut nothing = true;
    for t in compare_builds(&old, &objects) {
        if t.presence == Presence::OldOnly {
            let n = counts.get(&t.target).copied().unwrap_or(0);
            s.push_str(&format!(
                "{}: not in this build (the previous output had {}): not compared\n",
                t.target,
                plural(n, "object")
            ));
            nothing = false;
        } else if let Some(line) = t.removals_summary(SHOWN_REMOVALS) {
            s.push_str(&line);
            s.push('\n');
            nothing = false;
        }
    }
    for target in &unlisted {
        s.push_str(&format!(
            "{target}: the previous output does not list its objects (written by an older seg): not compared\n"
        ));
    }
    if nothing && unlisted.is_empty() {
        s.push_str("nothing to prune: every object of the previous output is still emitted\n");
    }
    // The process ends soon: the OS takes the objects back at once.
    std::mem::forget((old, objects, aside));
    s
}

/// What the summary compares with: the previous build's objects, or only
/// their counts when every target both builds hold lists the same keys.
enum Previous {
    Objects(PreviousBuild),
    Unchanged(PreviousKeys),
}

/// The previous output's report as read early, with the stamp its file had
/// just before.
struct EarlyRead {
    stamp: ReportStamp,
    keys: Result<Option<PreviousKeys>, String>,
}

impl EarlyRead {
    fn of(out: &Path) -> EarlyRead {
        let stamp = ReportStamp::of(out);
        let keys = driver::previous_build(out).map(|p| p.map(PreviousKeys::of));
        EarlyRead { stamp, keys }
    }

    /// What the early read found, if `out`'s report is still the file it
    /// read; else (another build replaced `--out` meanwhile, say, or there
    /// was no early read) the report read now, so that the summary compares
    /// with what this build replaces.
    fn current(early: Option<EarlyRead>, out: &Path) -> Result<Option<PreviousKeys>, String> {
        match early {
            Some(early) if early.stamp.same(&ReportStamp::of(out)) => early.keys,
            _ => EarlyRead::of(out).keys,
        }
    }
}

/// What tells one `report.json` file from another: its device, inode, size
/// and times (`None`: no such file). Taken before the file is read, so any
/// change during or after the read shows.
struct ReportStamp(Option<[i64; 7]>);

impl ReportStamp {
    #[cfg(unix)]
    fn of(out: &Path) -> ReportStamp {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(out.join("report.json")).ok();
        ReportStamp(meta.map(|m| {
            [
                m.dev() as i64,
                m.ino() as i64,
                m.size() as i64,
                m.mtime(),
                m.mtime_nsec(),
                m.ctime(),
                m.ctime_nsec(),
            ]
        }))
    }

    #[cfg(not(unix))]
    fn of(_: &Path) -> ReportStamp {
        ReportStamp(None)
    }

    /// Whether both stamps are of the same file, unchanged. Without inodes
    /// (off Unix) nothing tells, and the report is read again.
    fn same(&self, other: &ReportStamp) -> bool {
        cfg!(unix) && self.0 == other.0
    }
}

/// What the early read of the previous output keeps: per target, how many
/// objects it listed and a digest of their keys in order, not the objects
/// (held alongside the compile and the targets, they raised the peak memory).
struct PreviousKeys {
    targets: BTreeMap<String, (usize, [u8; 32])>,
    unlisted: Vec<String>,
}

impl PreviousKeys {
    fn of(previous: PreviousBuild) -> PreviousKeys {
        let targets = previous.objects.iter();
        PreviousKeys {
            targets: targets
                .map(|(t, list)| (t.clone(), (list.len(), key_digest(list))))
                .collect(),
            unlisted: previous.unlisted,
        }
    }
}

/// SHA-256 of the objects' kinds, files and names in order, each field
/// prefixed by its length: equal digests, equal key sequences.
fn key_digest(list: &[Object]) -> [u8; 32] {
    let mut hash = Sha256::new();
    for o in list {
        for field in [&o.kind, &o.file, &o.name] {
            hash.update((field.len() as u64).to_le_bytes());
            hash.update(field.as_bytes());
        }
    }
    hash.finalize().into()
}

/// The previous build as the summary compares with it: when a target both
/// builds hold lists other keys, its objects are read again from `out`
/// (before the commit replaces them); otherwise the keys' digests suffice.
fn previous_objects(
    keys: PreviousKeys,
    reports: &[TargetReport],
    out: &Path,
) -> Result<Option<Previous>, String> {
    let same = keys.targets.iter().all(|(target, (n, digest))| {
        reports
            .iter()
            .find(|r| r.target == *target)
            .is_none_or(|r| r.objects.len() == *n && key_digest(&r.objects) == *digest)
    });
    if same {
        return Ok(Some(Previous::Unchanged(keys)));
    }
    driver::previous_build(out).map(|p| p.map(Previous::Objects))
}

/// Empty both lists of each target whose objects the two builds list with
/// the same kind, file and name in the same order (an unchanged rebuild):
/// they hold the same keys, so the new build removes none of them, which is
/// all the summary asks. The comparison (a map of every object on each
/// side) then runs only for the targets that changed; the targets stay, so
/// that one only in the previous build is still told apart. Returns the
/// lists taken out.
fn set_aside_unchanged(old: &mut BuildObjects, new: &mut BuildObjects) -> Vec<Vec<Object>> {
    let mut aside = Vec::new();
    for (target, list) in new.iter_mut() {
        if let Some(before) = old.get_mut(target)
            && before.len() == list.len()
            && before
                .iter()
                .zip(list.iter())
                .all(|(a, b)| a.kind == b.kind && a.file == b.file && a.name == b.name)
        {
            aside.push(std::mem::take(before));
            aside.push(std::mem::take(list));
        }
    }
    aside
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(name: &str, file: &str, digest: &str) -> Object {
        Object {
            kind: "chain".into(),
            name: name.into(),
            file: file.into(),
            digest: digest.into(),
        }
    }

    fn build(list: Vec<Object>) -> BuildObjects {
        BuildObjects::from([("iptables".to_string(), list)])
    }

    /// The iptables target's report of a build that made `objects`.
    fn target_report(objects: Vec<Object>) -> TargetReport {
        TargetReport {
            target: "iptables".into(),
            files: Vec::new(),
            rules: 0,
            omitted: 0,
            relaxations: 0,
            notes: Vec::new(),
            approximations: Vec::new(),
            objects,
            took: std::time::Duration::ZERO,
            clock: false,
            rebuild_by: None,
            until_rebuilt: Vec::new(),
            apply: None,
        }
    }

    /// The lists set aside are those the comparison would find nothing
    /// removed from; any other list is compared in full.
    #[test]
    fn only_lists_with_the_same_keys_in_order_are_set_aside() {
        let (a, b) = (object("a", "h1", "01"), object("b", "h1", "02"));
        // Same keys and order, another digest: nothing removed.
        let (mut old, mut new) = (
            build(vec![a.clone(), b.clone()]),
            build(vec![a.clone(), b.clone()]),
        );
        new.get_mut("iptables").unwrap()[1].digest = "ff".into();
        assert_eq!(set_aside_unchanged(&mut old, &mut new).len(), 2);
        assert!(old["iptables"].is_empty() && new["iptables"].is_empty());
        // Same length, another name, file or kind: compared.
        for other in [
            object("c", "h1", "02"),
            object("b", "h2", "02"),
            Object {
                kind: "ipset".into(),
                ..b.clone()
            },
        ] {
            let (mut old, mut new) = (
                build(vec![a.clone(), b.clone()]),
                build(vec![a.clone(), other]),
            );
            assert!(set_aside_unchanged(&mut old, &mut new).is_empty());
            assert_eq!((old["iptables"].len(), new["iptables"].len()), (2, 2));
        }
        // The same keys in another order, or one more: compared.
        let (mut old, mut new) = (
            build(vec![a.clone(), b.clone()]),
            build(vec![b.clone(), a.clone()]),
        );
        assert!(set_aside_unchanged(&mut old, &mut new).is_empty());
        let (mut old, mut new) = (build(vec![a.clone()]), build(vec![a.clone(), b.clone()]));
        assert!(set_aside_unchanged(&mut old, &mut new).is_empty());
        // A target only in the previous build stays, with its objects.
        let (mut old, mut new) = (build(vec![a.clone()]), BuildObjects::new());
        assert!(set_aside_unchanged(&mut old, &mut new).is_empty());
        assert_eq!(old["iptables"].len(), 1);
    }

    /// The summary's removal lines, set-aside lists or not, are those of the
    /// full comparison.
    #[test]
    fn removals_are_listed_as_the_full_comparison_lists_them() {
        let previous = |list: &[Object]| {
            Ok(Some(Previous::Objects(PreviousBuild {
                objects: build(list.to_vec()),
                unlisted: Vec::new(),
            })))
        };
        let (a, b) = (object("a", "h1", "01"), object("b", "h1", "02"));
        let same = removals(
            &mut [target_report(vec![a.clone(), b.clone()])],
            previous(&[a.clone(), b.clone()]),
        );
        assert_eq!(
            same,
            "nothing to prune: every object of the previous output is still emitted\n"
        );
        let gone = removals(
            &mut [target_report(vec![a.clone(), object("c", "h1", "02")])],
            previous(&[a.clone(), b.clone()]),
        );
        assert_eq!(gone, "iptables: 1 chain to prune: b\n");
        let only_old = removals(&mut [], previous(&[a.clone(), b.clone()]));
        assert_eq!(
            only_old,
            "iptables: not in this build (the previous output had 2 objects): not compared\n"
        );
    }

    /// A report replaced after the early read is read again: the summary
    /// compares with the output this build replaces.
    #[test]
    fn a_report_replaced_after_the_early_read_is_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let report = |target: &str| {
            format!(
                r#"{{"tool": "seg", "targets": [{{"target": "{target}", "objects": [
                    {{"kind": "chain", "name": "a", "file": "h1", "digest": "01"}}]}}]}}"#
            )
        };
        let targets = |keys: Result<Option<PreviousKeys>, String>| -> Vec<String> {
            keys.unwrap().unwrap().targets.into_keys().collect()
        };
        std::fs::write(dir.path().join("report.json"), report("iptables")).unwrap();
        let early = EarlyRead::of(dir.path());
        assert_eq!(
            targets(EarlyRead::current(Some(early), dir.path())),
            ["iptables"]
        );

        let early = EarlyRead::of(dir.path());
        let next = dir.path().join("next.json");
        std::fs::write(&next, report("nftables")).unwrap();
        std::fs::rename(&next, dir.path().join("report.json")).unwrap();
        assert_eq!(
            targets(EarlyRead::current(Some(early), dir.path())),
            ["nftables"]
        );
        // No early read (no thread could be started): read at the join.
        assert_eq!(targets(EarlyRead::current(None, dir.path())), ["nftables"]);
    }

    /// The early read keeps only the keys' digests; a target whose keys
    /// differ has its objects read again, and the lines are the same as
    /// from the objects themselves.
    #[test]
    fn the_keys_digest_stands_for_the_objects_only_when_the_keys_are_the_same() {
        let (a, b) = (object("a", "h1", "01"), object("b", "h1", "02"));
        let keys = |list: Vec<Object>| {
            PreviousKeys::of(PreviousBuild {
                objects: build(list),
                unlisted: vec!["gcp".into()],
            })
        };
        let none = std::path::Path::new("/nonexistent/seg-out");
        let same = [target_report(vec![a.clone(), object("b", "h1", "ff")])];
        let Ok(Some(Previous::Unchanged(k))) =
            previous_objects(keys(vec![a.clone(), b.clone()]), &same, none)
        else {
            panic!("the same keys need no second read");
        };
        assert_eq!(
            removals(&mut same.clone(), Ok(Some(Previous::Unchanged(k)))),
            "gcp: the previous output does not list its objects (written by an older seg): not compared\n"
        );
        // Another key, order or number: read again (here: no previous output).
        for other in [
            vec![a.clone(), object("c", "h1", "02")],
            vec![b.clone(), a.clone()],
            vec![a.clone()],
        ] {
            let read = previous_objects(
                keys(vec![a.clone(), b.clone()]),
                &[target_report(other)],
                none,
            );
            assert!(matches!(read, Ok(None)), "compared by digest");
        }
        // A target the new build lacks keeps its count.
        let Ok(Some(Previous::Unchanged(k))) =
            previous_objects(keys(vec![a.clone(), b.clone()]), &[], none)
        else {
            panic!("no target in both: nothing to read again");
        };
        assert_eq!(
            removals(&mut [], Ok(Some(Previous::Unchanged(k)))),
            "iptables: not in this build (the previous output had 2 objects): not compared\n\
             gcp: the previous output does not list its objects (written by an older seg): not compared\n"
        );
        // Fields are length-prefixed: moving a character between them changes the digest.
        let split = |kind: &str, file: &str| Object {
            kind: kind.into(),
            file: file.into(),
            name: "n".into(),
            digest: String::new(),
        };
        assert_ne!(
            key_digest(&[split("ab", "c")]),
            key_digest(&[split("a", "bc")])
        );
    }
}
