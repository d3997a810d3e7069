//! The compiled-program cache of `seg reach`, `seg graph` and `seg explain`
//! (`.seg/cache`, docs/cli.md): a warm run prints byte for byte what a cold
//! run and a `--no-cache` run print, with the same exit code; any change to
//! what the compilation read (a source's bytes, a new or deleted `.seg`
//! file, an imported file, the inventory, seg.toml, "now") or to the seg
//! executable makes the next run compile again; a corrupt, truncated or
//! foreign entry is ignored; a failing compilation writes no entry.
//! Whether a run used the cache is read from its `-v` lines on stderr.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const NOW: &str = "2026-11-24T00:00:00Z";

fn exe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_seg-cli"))
}

/// Run `exe` with `args` in `dir`, the cache enabled unless `env` says otherwise.
fn run_with(exe: &Path, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(exe);
    c.args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("SOURCE_DATE_EPOCH")
        .env_remove("SEG_NO_CACHE");
    for (k, v) in env {
        c.env(k, v);
    }
    // A freshly copied executable can be "busy" for a moment: another test
    // thread's child may have inherited the copy's write handle (ETXTBSY).
    for _ in 0..100 {
        match c.output() {
            Err(e) if e.raw_os_error() == Some(26) => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            other => return other.expect("run seg"),
        }
    }
    c.output().expect("run seg")
}

fn seg(dir: &Path, args: &[&str]) -> Output {
    run_with(&exe(), dir, args, &[])
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn entry(dir: &Path) -> PathBuf {
    dir.join(".seg/cache/program")
}

/// What a run printed and how it ended.
fn seen(o: &Output) -> (Option<i32>, Vec<u8>, Vec<u8>) {
    (o.status.code(), o.stdout.clone(), o.stderr.clone())
}

/// `-v`'s verdict on the cache: `hit`, or `miss (why)`.
fn verdict(dir: &Path, args: &[&str]) -> String {
    verdict_of(&run_with(&exe(), dir, &with_v(args), &[]))
}

fn with_v<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut v = args.to_vec();
    v.push("-v");
    v
}

fn verdict_of(o: &Output) -> String {
    let e = err(o);
    e.lines()
        .find_map(|l| l.strip_prefix("info: cache: "))
        .map_or_else(
            || format!("no cache line in: {e}"),
            |l| l.split(", read in").next().unwrap_or(l).to_string(),
        )
}

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("mkdir");
    for e in fs::read_dir(from).expect("read_dir").flatten() {
        let name = e.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let (src, dst) = (e.path(), to.join(&name));
        if src.is_dir() {
            copy_tree(&src, &dst);
        } else {
            fs::copy(&src, &dst).expect("copy");
        }
    }
}

/// For each command line: the `--no-cache` run, the first cached run (a
/// miss that writes the entry) and a second one (a hit) print the same.
fn assert_warm_equals_cold(dir: &Path, commands: &[Vec<&str>]) {
    for (i, args) in commands.iter().enumerate() {
        let mut uncached = args.clone();
        uncached.push("--no-cache");
        let reference = seen(&seg(dir, &uncached));
        assert!(
            reference.0.is_some_and(|c| c <= 2),
            "seg {args:?}: {}",
            String::from_utf8_lossy(&reference.2)
        );
        if i == 0 {
            let _ = fs::remove_file(entry(dir));
            assert_eq!(seen(&seg(dir, args)), reference, "cold seg {args:?}");
            assert!(entry(dir).is_file(), "the first run wrote no entry");
        }
        assert_eq!(verdict(dir, args), "hit", "seg {args:?}");
        assert_eq!(seen(&seg(dir, args)), reference, "warm seg {args:?}");
    }
}

fn cmd<'a>(head: &[&'a str], tail: &[&'a str]) -> Vec<&'a str> {
    let mut v: Vec<&str> = head.to_vec();
    v.extend(["--now", NOW]);
    v.extend(tail);
    v
}

#[test]
fn warm_runs_print_what_cold_runs_print_on_the_bank() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("bank");
    copy_tree(&seg_tests::tools::repo().join("examples/bank"), &dir);
    let r = |tail: &[&'static str]| cmd(&["reach", "payments-api"], tail);
    let g = |tail: &[&'static str]| cmd(&["graph"], tail);
    let e = |tail: &[&'static str]| {
        cmd(
            &["explain", "payments-api", "ledger-postgres", "tcp/5432"],
            tail,
        )
    };
    let commands = vec![
        r(&[]),
        r(&["--format", "json"]),
        r(&["--at", "2026-11-24T02:00:00Z", "--hops", "1"]),
        r(&["--target", "iptables"]),
        r(&["--target", "kubernetes", "--format", "json"]),
        r(&["--to", "ledger-postgres"]),
        r(&["--to", "ledger-postgres", "--format", "json"]),
        // Usage errors after the analysis began: the same message and exit 2.
        cmd(&["reach", "payments-apu"], &[]),
        r(&["--target", "nope"]),
        g(&[]),
        g(&["--format", "json", "--identities"]),
        g(&["--format", "json", "--target", "kubernetes"]),
        g(&[
            "--format",
            "mermaid",
            "--from",
            "payments-api",
            "--hops",
            "2",
        ]),
        e(&[]),
        e(&["--mtls", "--at", "2026-11-24T02:00:00Z"]),
        e(&["--target", "kubernetes"]),
        e(&["--mtls", "--target", "opa", "--format", "json"]),
        // Denied with --fail: exit 1; an unknown name: exit 2.
        e(&["--fail"]),
        cmd(
            &["explain", "payments-apu", "ledger-postgres", "tcp/5432"],
            &[],
        ),
    ];
    assert_warm_equals_cold(&dir, &commands);
    let ignore = fs::read_to_string(dir.join(".seg/cache/.gitignore")).expect(".gitignore");
    assert!(ignore.lines().any(|l| l == "*"), "{ignore}");
}

/// A generated estate with the warnings the generator plants: warm runs
/// replay them (`--deny-warnings` makes them errors, printed with their
/// source lines, exit 1) exactly as a compilation prints them.
#[test]
fn warm_runs_replay_the_warnings_of_a_generated_estate() {
    use proptest::strategy::{Strategy, ValueTree};
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]);
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    let estate = seg_tests::estate::estate()
        .new_tree(&mut runner)
        .expect("an estate")
        .current();
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    estate.write(dir).expect("write estate");
    let now = seg_tests::estate::NOW;
    let (_, program) =
        seg::driver::compile_project(dir, Some(seg_tests::estate::now())).expect("compiles");
    let first = program.identities[0].name.clone();
    let last = program.identities[program.identities.len() - 1]
        .name
        .clone();
    let mut commands = Vec::new();
    for tail in [
        vec![],
        vec!["--format", "json"],
        vec!["--deny-warnings"],
        vec!["--deny-warnings", "--format", "json"],
        vec!["--target", "aws"],
        vec!["--to", last.as_str()],
    ] {
        let mut c = vec!["reach", first.as_str(), "--now", now];
        c.extend(tail);
        commands.push(c);
    }
    commands.push(vec!["graph", "--now", now, "--format", "json"]);
    assert_warm_equals_cold(dir, &commands);
    // The planted warnings were printed, with their source lines.
    let denied = seg(
        dir,
        &["reach", first.as_str(), "--now", now, "--deny-warnings"],
    );
    assert_eq!(denied.status.code(), Some(1), "{}", err(&denied));
    assert!(err(&denied).contains("^^^"), "{}", err(&denied));
}

/// A small project: `policy/main.seg` imports `lib/common.seg` (outside the
/// sources glob).
fn small() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path();
    fs::create_dir(p.join("policy")).expect("mkdir");
    fs::create_dir(p.join("lib")).expect("mkdir");
    fs::write(
        p.join("seg.toml"),
        "[project]\nname = \"small\"\nsources = [\"policy/*.seg\"]\n",
    )
    .expect("seg.toml");
    let mut inv = String::from("version: 1\nidentities:\n");
    for (i, name) in ["web", "api", "db", "cache"].iter().enumerate() {
        inv += &format!(
            "  - name: {name}\n    kind: workload\n    owner: team\n    addresses: [10.0.0.{i}/32]\n"
        );
    }
    fs::write(p.join("inventory.yaml"), inv).expect("inventory");
    fs::write(p.join("lib/common.seg"), "segment store = db\n").expect("lib");
    fs::write(
        p.join("policy/main.seg"),
        "use ../lib/common.seg::{store}\n\npolicy main {\n  owner \"team\"\n  allow web -> api on tcp/443\n  allow api -> store on tcp/5432\n}\n",
    )
    .expect("policy");
    dir
}

/// A run with `--target` reads each identity's bindings from the entry (a run
/// without one reads only names, kinds, owners and addresses): here `api`
/// has a Kubernetes binding and no address, so Kubernetes keeps it in the
/// rules only when the binding is read.
#[test]
fn a_target_run_reads_the_bindings_of_the_cached_identities() {
    let tmp = small();
    let dir = tmp.path();
    let mut inv = String::from("version: 1\nidentities:\n");
    inv += "  - name: web\n    kind: workload\n    kubernetes: { namespace: shop }\n";
    inv += "  - name: api\n    kind: workload\n    kubernetes: { namespace: shop, labels: { app: api } }\n";
    inv += "  - name: db\n    kind: workload\n    addresses: [10.0.0.2/32]\n";
    fs::write(dir.join("inventory.yaml"), inv).expect("inventory");
    let plain = cmd(&["reach", "web"], &["--format", "json"]);
    let k8s = cmd(
        &["reach", "web"],
        &["--format", "json", "--target", "kubernetes"],
    );
    let graph = cmd(
        &["graph"],
        &["--format", "json", "--identities", "--target", "kubernetes"],
    );
    assert_warm_equals_cold(dir, &[plain, k8s.clone(), graph]);
    let o = seg(dir, &k8s);
    assert_eq!(
        reached(&String::from_utf8_lossy(&o.stdout)),
        2,
        "{}",
        err(&o)
    );
}

/// What `-v` says of the class graph: `reused`, `built (why)`, then `kept`.
fn class_graph(o: &Output) -> Vec<String> {
    err(o)
        .lines()
        .filter_map(|l| l.strip_prefix("info: cache: class graph "))
        .map(str::to_string)
        .collect()
}

/// A run over a cached program keeps its class graph beside the entry; the
/// next run with the same active rules and pivot kinds reuses it, any other
/// builds and keeps its own; a corrupt or foreign file is rebuilt. Every run
/// prints what `--no-cache` prints.
#[test]
fn the_class_graph_is_reused_for_the_same_rules_and_pivot_only() {
    let tmp = small();
    let dir = tmp.path();
    let run = |tail: &[&str]| {
        let mut args = vec!["reach", "web", "--now", NOW, "--format", "json", "-v"];
        args.extend(tail);
        let o = seg(dir, &args);
        args.retain(|a| *a != "-v");
        args.push("--no-cache");
        assert_eq!(o.stdout, seg(dir, &args).stdout, "{tail:?}: {}", err(&o));
        class_graph(&o)
    };
    let built = |why: &str| vec![format!("built ({why})"), "kept".to_string()];
    assert_eq!(run(&[]), Vec::<String>::new(), "a compiled program");
    assert_eq!(run(&[]), built("none kept yet"));
    assert_eq!(run(&[]), ["reused"]);
    assert_eq!(run(&["--hops", "1", "--to", "api"]), ["reused"]);
    let other = "kept for another program, instant or pivot";
    assert_eq!(run(&["--pivot", "none"]), built(other));
    assert_eq!(run(&["--pivot", "none"]), ["reused"]);
    assert_eq!(run(&[]), built(other));
    // A target's program is not the cached one: its classes are not kept.
    assert_eq!(run(&["--target", "iptables"]), Vec::<String>::new());
    assert_eq!(run(&[]), ["reused"]);

    // The same number of active rules, other rules: the classes differ.
    fs::write(
        dir.join("policy/main.seg"),
        "policy main {\n  owner \"team\"\n  allow web -> api on tcp/443\n    when time 22:00..02:00 utc\n  allow web -> db on tcp/5432\n    when time 10:00..14:00 utc\n}\n",
    )
    .expect("policy");
    let night = ["--at", "2026-11-24T23:00:00Z"];
    let noon = ["--at", "2026-11-24T12:00:00Z"];
    assert_eq!(run(&night), Vec::<String>::new(), "a compiled program");
    assert_eq!(run(&night), built(other));
    assert_eq!(run(&night), ["reused"]);
    assert_eq!(run(&noon), built(other));
    assert_eq!(run(&noon), ["reused"]);

    let file = dir.join(".seg/cache/classes");
    let good = fs::read(&file).expect("classes");
    let mut flipped = good.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0x55;
    fs::write(&file, &flipped).expect("write");
    assert_eq!(run(&noon), built("corrupt"));
    fs::write(&file, b"not a class graph").expect("write");
    assert_eq!(run(&noon), built("not a class graph"));
    assert_eq!(run(&noon), ["reused"]);
}

/// The reach of `web`, printed by a run that must compile (a miss), and
/// equal to what a `--no-cache` run prints.
fn recompiled(dir: &Path) -> String {
    let args = ["reach", "web", "--now", NOW, "--format", "json"];
    let o = run_with(&exe(), dir, &with_v(&args), &[]);
    assert!(verdict_of(&o).starts_with("miss"), "{}", err(&o));
    let mut uncached = args.to_vec();
    uncached.push("--no-cache");
    let fresh = seg(dir, &uncached);
    assert_eq!(o.stdout, fresh.stdout);
    assert_eq!(verdict(dir, &args), "hit");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn reached(json: &str) -> u64 {
    let v: serde_json::Value = serde_json::from_str(json).expect("json");
    v["reached"].as_u64().expect("reached")
}

#[test]
fn every_change_to_an_input_recompiles() {
    let tmp = small();
    let dir = tmp.path();
    let args = ["reach", "web", "--now", NOW, "--format", "json"];
    assert!(verdict(dir, &args).starts_with("miss (no entry yet)"));
    assert_eq!(verdict(dir, &args), "hit");
    let o = seg(dir, &args);
    assert_eq!(reached(&String::from_utf8_lossy(&o.stdout)), 2);

    // A source's bytes.
    let main = dir.join("policy/main.seg");
    let text = fs::read_to_string(&main).expect("main");
    fs::write(
        &main,
        text.replace("allow web -> api", "allow web -> cache"),
    )
    .expect("edit");
    assert_eq!(reached(&recompiled(dir)), 1);
    fs::write(&main, &text).expect("restore");
    assert_eq!(reached(&recompiled(dir)), 2);

    // A new file the glob matches, and its removal.
    let extra = dir.join("policy/extra.seg");
    fs::write(
        &extra,
        "policy extra {\n  owner \"team\"\n  allow api -> cache on tcp/6379\n}\n",
    )
    .expect("extra");
    assert_eq!(reached(&recompiled(dir)), 3);
    fs::remove_file(&extra).expect("rm");
    assert_eq!(reached(&recompiled(dir)), 2);

    // An imported file outside the glob.
    fs::write(dir.join("lib/common.seg"), "segment store = cache\n").expect("lib");
    let o = recompiled(dir);
    assert!(o.contains("\"cache\""), "{o}");

    // The inventory.
    let inv = dir.join("inventory.yaml");
    let text = fs::read_to_string(&inv).expect("inventory");
    fs::write(&inv, text.replace("name: api", "name: api2")).expect("edit");
    let o = run_with(&exe(), dir, &with_v(&args), &[]);
    assert!(verdict_of(&o).starts_with("miss"), "{}", err(&o));
    assert_ne!(o.status.code(), Some(0), "the policy names `api`, gone");
    // The failure wrote nothing: with the inventory as it was, the entry
    // (checked by content, not by time) is good again.
    fs::write(&inv, &text).expect("restore");
    assert_eq!(verdict(dir, &args), "hit");

    // seg.toml: a pivot setting that changes the answer.
    let toml = dir.join("seg.toml");
    let text = fs::read_to_string(&toml).expect("seg.toml");
    fs::write(&toml, format!("{text}\n[reach]\npivot = []\n")).expect("edit");
    assert_eq!(reached(&recompiled(dir)), 1);
    fs::write(&toml, &text).expect("restore");
    recompiled(dir);

    // "Now", by flag, by SOURCE_DATE_EPOCH and by the clock: nothing in this
    // project depends on it (no expiry, review or address window), so the
    // entry stands for every instant (see the next test for what does).
    for now in [
        &["--now", "2026-11-25"][..],
        &["--now", "2031-02-03T04:05:06Z"],
        &[],
    ] {
        let mut args = vec!["reach", "web"];
        args.extend(now);
        assert_eq!(verdict(dir, &args), "hit", "{now:?}");
    }
    let o = run_with(
        &exe(),
        dir,
        &["reach", "web", "-v"],
        &[("SOURCE_DATE_EPOCH", "1795000000")],
    );
    assert_eq!(verdict_of(&o), "hit");
}

/// At `now`: the cache's verdict, and the output, which must be what a
/// `--no-cache` run at that instant prints (stdout, stderr, exit code).
fn at(dir: &Path, now: &str) -> (String, String) {
    let args = ["reach", "web", "--now", now, "--format", "json"];
    let verdict = verdict(dir, &args);
    let o = seg(dir, &args);
    let mut uncached = args.to_vec();
    uncached.push("--no-cache");
    assert_eq!(seen(&o), seen(&seg(dir, &uncached)), "at {now}");
    (verdict, String::from_utf8_lossy(&o.stdout).into_owned())
}

/// The checker reads "now" through `seg_ir::Now`, which records the span of
/// instants at which the compilation comes out the same: an entry is reused
/// anywhere inside it (a user's runs without `--now` hit), never across an
/// expiry, and within the day only once a warning names the days left.
#[test]
fn an_entry_stands_for_the_instants_at_which_the_compilation_is_the_same() {
    let tmp = small();
    let dir = tmp.path();
    fs::write(
        dir.join("policy/temporary.seg"),
        "policy temporary {\n  owner \"team\"\n  allow api -> cache on tcp/6379\n    expires 2026-12-31\n}\n",
    )
    .expect("policy");
    // Live, 37 days from its end: the span ends where W0303 would start.
    let (v, first) = at(dir, "2026-11-24T00:00:00Z");
    assert!(v.starts_with("miss (no entry yet)"), "{v}");
    assert_eq!(reached(&first), 3);
    // (Each output is also compared with a --no-cache run at its instant.)
    for now in ["2026-11-24T13:00:00Z", "2026-12-16T23:59:59Z"] {
        let (v, out) = at(dir, now);
        assert_eq!((v.as_str(), reached(&out)), ("hit", 3), "at {now}");
        assert!(
            out.contains(now),
            "expiry is evaluated at the run's now: {out}"
        );
    }
    // Within 14 days of its last day: W0303 counts the days, so the entry
    // holds for that day only.
    let (v, warned) = at(dir, "2026-12-20T08:00:00Z");
    assert!(v.starts_with("miss (\"now\" has moved past"), "{v}");
    assert_eq!(reached(&warned), 3);
    assert_eq!(at(dir, "2026-12-20T23:59:59Z").0, "hit");
    assert!(at(dir, "2026-12-21T00:00:00Z").0.starts_with("miss"));
    // Expired: the rule is gone, and stays gone for every later instant.
    let (v, expired) = at(dir, "2027-01-01T00:00:00Z");
    assert!(v.starts_with("miss"), "{v}");
    assert_eq!(reached(&expired), 2);
    let (v, out) = at(dir, "2030-06-01T00:00:00Z");
    assert_eq!((v.as_str(), reached(&out)), ("hit", 2));
    // The day before it ends is not the day it ended.
    assert!(at(dir, "2026-12-31T23:59:59Z").0.starts_with("miss"));
    // The clock (no --now): the second of two runs reuses the first.
    let args = ["reach", "web"];
    let _ = verdict(dir, &args);
    assert_eq!(verdict(dir, &args), "hit");
}

#[test]
fn a_bad_or_foreign_entry_is_ignored_and_a_failure_writes_none() {
    let tmp = small();
    let dir = tmp.path();
    let args = ["reach", "web", "--now", NOW];
    let expected = seen(&seg(dir, &["reach", "web", "--now", NOW, "--no-cache"]));
    assert!(!entry(dir).exists(), "--no-cache wrote an entry");
    let o = run_with(&exe(), dir, &args, &[("SEG_NO_CACHE", "1")]);
    assert_eq!(seen(&o), expected);
    assert!(!entry(dir).exists(), "SEG_NO_CACHE wrote an entry");
    assert_eq!(seen(&seg(dir, &args)), expected);
    let good = fs::read(entry(dir)).expect("entry");

    // Corrupt, truncated, empty, foreign: a miss, the right answer, a new entry.
    // The body's main part starts after the magic line, the header's length
    // and the header; the identity details end the file.
    let header_len = u32::from_le_bytes(good[16..20].try_into().expect("4 bytes")) as usize;
    let mut flipped = good.clone();
    flipped[20 + header_len + 8] ^= 0x55;
    let header_flipped = {
        let mut b = good.clone();
        b[24] ^= 0xff;
        b
    };
    for (what, bytes) in [
        ("a flipped body byte", flipped),
        ("a flipped header byte", header_flipped),
        ("a truncated entry", good[..good.len() / 2].to_vec()),
        ("an empty entry", Vec::new()),
        ("another file", b"not a cache at all".to_vec()),
    ] {
        fs::write(entry(dir), &bytes).expect("write");
        let o = seg(dir, &with_v(&args));
        assert!(verdict_of(&o).starts_with("miss"), "{what}: {}", err(&o));
        assert_eq!(o.status.code(), Some(0), "{what}: {}", err(&o));
        assert_eq!(o.stdout, expected.1, "{what}");
        assert_eq!(verdict(dir, &args), "hit", "{what}: not rewritten");
    }

    // Corrupt identity details: only a run that reads them (a target's
    // capability pass) finds out, and compiles.
    let target = ["reach", "web", "--now", NOW, "--target", "iptables"];
    let expected_target = seen(&seg(
        dir,
        &[
            "reach",
            "web",
            "--now",
            NOW,
            "--target",
            "iptables",
            "--no-cache",
        ],
    ));
    let mut details_flipped = good.clone();
    let last = details_flipped.len() - 1;
    details_flipped[last] ^= 0x55;
    fs::write(entry(dir), &details_flipped).expect("write");
    let o = seg(dir, &with_v(&args));
    assert_eq!(verdict_of(&o), "hit", "{}", err(&o));
    assert_eq!(o.stdout, expected.1);
    let o = seg(dir, &with_v(&target));
    assert_eq!(verdict_of(&o), "miss (the entry's body is corrupt)");
    assert_eq!(o.stdout, expected_target.1);
    assert_eq!(seen(&seg(dir, &target)), expected_target);
    assert_eq!(verdict(dir, &target), "hit");

    // Another seg executable (a copy: another path and inode) neither reads
    // this one's entry nor has its own read by it.
    let bin = tempfile::tempdir().expect("tempdir");
    let copy = bin.path().join("seg");
    fs::copy(exe(), &copy).expect("copy seg");
    let o = run_with(&copy, dir, &with_v(&args), &[]);
    assert_eq!(
        verdict_of(&o),
        "miss (the entry was written by another seg executable)"
    );
    assert_eq!(o.stdout, expected.1);
    assert_eq!(
        verdict_of(&run_with(&copy, dir, &with_v(&args), &[])),
        "hit"
    );
    assert_eq!(
        verdict(dir, &args),
        "miss (the entry was written by another seg executable)"
    );

    // A failing compilation writes no entry.
    fs::remove_file(entry(dir)).expect("rm");
    let main = dir.join("policy/main.seg");
    fs::write(&main, "policy main {\n  allow web -> nowhere on tcp/1\n}\n").expect("edit");
    let o = seg(dir, &args);
    assert_eq!(o.status.code(), Some(1), "{}", err(&o));
    assert!(!entry(dir).exists(), "a failed compilation wrote an entry");
}

/// Where the cache cannot be written the command still succeeds.
#[test]
fn an_unwritable_cache_folder_is_skipped() {
    let tmp = small();
    let dir = tmp.path();
    fs::write(dir.join(".seg"), "a file where the folder would be\n").expect("write");
    let args = ["reach", "web", "--now", NOW];
    let expected = seen(&seg(dir, &["reach", "web", "--now", NOW, "--no-cache"]));
    let o = seg(dir, &with_v(&args));
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    assert_eq!(o.stdout, expected.1);
    assert!(err(&o).contains("info: cache: not written"), "{}", err(&o));
    assert_eq!(seen(&seg(dir, &args)), expected);
}
