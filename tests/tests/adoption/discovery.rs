//! Finding the project as cargo and git do: from any folder inside it, by `--manifest-path`,
//! or one `.seg` file with `--inventory`, every path relative to the current folder.

use super::run::{NOW, code, seg_in, shown, stderr, stdout};
use std::path::Path;

/// A scaffolded project in a fresh folder: (the tempdir, the project folder).
fn scaffold() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("proj");
    let o = seg_in(dir.path(), &["init", "proj", "--now", NOW]);
    assert_eq!(code(&o), 0, "{}", shown(&o));
    (dir, root)
}

fn ok(cwd: &Path, args: &[&str]) -> String {
    let o = seg_in(cwd, args);
    assert_eq!(
        code(&o),
        0,
        "seg {args:?} in {}: {}",
        cwd.display(),
        shown(&o)
    );
    stdout(&o)
}

#[test]
fn seg_in_a_subfolder_finds_the_project_above() {
    let (_dir, root) = scaffold();
    let policy = root.join("policy");
    assert!(ok(&policy, &["check", "--now", NOW]).starts_with("ok: "));
    assert!(ok(&policy, &["test", "--now", NOW]).contains("7 passed, 0 failed"));
    let explained = ok(
        &policy,
        &["explain", "api", "db", "tcp/5432", "--mtls", "--now", NOW],
    );
    assert!(explained.starts_with("allow:"), "{explained}");
    // Diagnostics name files from the project's folder, as in the project's own folder.
    std::fs::write(policy.join("extra.seg"), "segment s = [nobody]\n").expect("write");
    let o = seg_in(&policy, &["check", "--now", NOW]);
    assert_eq!(code(&o), 1, "{}", shown(&o));
    assert!(
        stderr(&o).contains("policy/extra.seg:1:14"),
        "{}",
        stderr(&o)
    );
    std::fs::remove_file(policy.join("extra.seg")).expect("rm");
    // The build goes to the project's out/, not the current folder's.
    ok(&policy, &["build", "--now", NOW]);
    assert!(root.join("out/report.json").is_file());
    assert!(!policy.join("out").exists());
}

#[test]
fn manifest_path_names_the_project() {
    let (dir, root) = scaffold();
    for (cwd, manifest) in [
        (dir.path(), "proj/seg.toml"),
        (&*root.join("policy"), "../seg.toml"),
    ] {
        assert!(ok(cwd, &["check", "--manifest-path", manifest, "--now", NOW]).starts_with("ok: "));
    }
    // seg.toml as PATH is the same.
    assert!(ok(dir.path(), &["check", "proj/seg.toml", "--now", NOW]).starts_with("ok: "));
    for bad in [
        vec!["check", "proj", "--manifest-path", "proj/seg.toml"],
        vec!["check", "--manifest-path", "proj/policy/main.seg"],
        vec!["check", "--manifest-path", "proj/missing/seg.toml"],
    ] {
        let o = seg_in(dir.path(), &bad);
        assert_eq!(code(&o), 2, "seg {bad:?}: {}", shown(&o));
    }
}

#[test]
fn outside_any_project_the_error_says_where_seg_looked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = seg_in(dir.path(), &["check"]);
    assert_eq!(code(&o), 2, "{}", shown(&o));
    assert!(
        stderr(&o).contains("or any folder above it"),
        "{}",
        stderr(&o)
    );
    // A folder inside a project, named explicitly: the help names the project.
    let (_d, root) = scaffold();
    let o = seg_in(&root, &["check", "policy"]);
    assert_eq!(code(&o), 2, "{}", shown(&o));
    assert!(stderr(&o).contains("the project is"), "{}", stderr(&o));
    let o = seg_in(&root.join("policy"), &["check", "main.seg"]);
    assert_eq!(code(&o), 2, "{}", shown(&o));
    assert!(
        stderr(&o).contains("needs `--inventory FILE`"),
        "{}",
        stderr(&o)
    );
}

/// The invocations of the report, and their mirror images: a `.seg` file and an inventory,
/// each relative to the current folder.
#[test]
fn single_file_mode_takes_paths_from_the_current_folder() {
    let (_dir, root) = scaffold();
    let policy = root.join("policy");
    // From the project's folder.
    assert!(
        ok(
            &root,
            &[
                "check",
                "policy/main.seg",
                "--inventory",
                "inventory.yaml",
                "--now",
                NOW
            ]
        )
        .starts_with("ok: 5 rules")
    );
    // From the policy folder, the inventory above it.
    assert!(
        ok(
            &policy,
            &[
                "check",
                "main.seg",
                "--inventory",
                "../inventory.yaml",
                "--now",
                NOW
            ]
        )
        .starts_with("ok: 5 rules")
    );
    // Both in the current folder.
    std::fs::copy(root.join("inventory.yaml"), policy.join("inventory.yaml")).expect("copy");
    assert!(
        ok(
            &policy,
            &[
                "check",
                "main.seg",
                "--inventory",
                "inventory.yaml",
                "--now",
                NOW
            ]
        )
        .starts_with("ok: 5 rules")
    );
    assert!(
        ok(
            &policy,
            &[
                "test",
                "main.seg",
                "--inventory",
                "inventory.yaml",
                "--now",
                NOW
            ]
        )
        .contains("7 passed, 0 failed")
    );
    // Diagnostics name the file as typed.
    let text = std::fs::read_to_string(policy.join("main.seg")).expect("read");
    std::fs::write(
        policy.join("main.seg"),
        text.replace("allow frontends ->", "allow frontend ->"),
    )
    .expect("write");
    let o = seg_in(
        &root,
        &[
            "check",
            "policy/main.seg",
            "--inventory",
            "inventory.yaml",
            "--now",
            NOW,
        ],
    );
    assert_eq!(code(&o), 1, "{}", shown(&o));
    assert!(
        stderr(&o).contains("┌─ policy/main.seg:16:9"),
        "{}",
        stderr(&o)
    );
    // A missing inventory is a usage error naming it.
    let o = seg_in(&policy, &["check", "main.seg", "--inventory", "nope.yaml"]);
    assert_eq!(code(&o), 2, "{}", shown(&o));
    assert!(
        stderr(&o).contains("`nope.yaml` does not exist"),
        "{}",
        stderr(&o)
    );
}
