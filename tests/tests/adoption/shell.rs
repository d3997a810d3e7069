//! Shell completion scripts and manual pages, generated from the command line's own
//! definition: loaded by the real shells (bash, zsh, fish) and rendered by man-db and groff.

use super::run::{code, seg_exe, seg_in, shown, stdout};
use seg_tests::tools;
use std::process::Command;

/// The commands `seg --help` lists (all of them, whoever added them).
pub fn commands() -> Vec<String> {
    let help = stdout(&seg_in(&tools::repo(), &["--help"]));
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next().map(String::from))
        .filter(|c| c != "help")
        .collect()
}

fn script(shell: &str) -> String {
    let o = seg_in(&tools::repo(), &["completions", shell]);
    assert_eq!(code(&o), 0, "{}", shown(&o));
    stdout(&o)
}

/// `bash: complete -p seg` after sourcing the script, and what `seg <TAB>` offers.
#[test]
fn bash_completes_every_command() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("seg.bash");
    std::fs::write(&file, script("bash")).expect("write");
    let probe = format!(
        "source '{}' || exit 9\n\
         complete -p seg\n\
         COMP_WORDS=(seg ''); COMP_CWORD=1; _seg seg '' seg\n\
         printf 'word %s\\n' \"${{COMPREPLY[@]}}\"\n\
         COMP_WORDS=(seg completions ''); COMP_CWORD=2; _seg seg '' completions\n\
         printf 'shell %s\\n' \"${{COMPREPLY[@]}}\"",
        file.display()
    );
    let o = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &probe])
        .output()
        .expect("run bash");
    assert_eq!(code(&o), 0, "{}", shown(&o));
    let out = stdout(&o);
    assert!(
        out.starts_with("complete ") && out.lines().next().is_some_and(|l| l.ends_with(" seg")),
        "{out}"
    );
    let commands = commands();
    assert!(commands.len() >= 9, "{commands:?}");
    for c in &commands {
        assert!(
            out.lines().any(|l| l == format!("word {c}")),
            "`seg <TAB>` lacks {c}: {out}"
        );
    }
    for s in ["bash", "zsh", "fish", "powershell"] {
        assert!(out.lines().any(|l| l == format!("shell {s}")), "{out}");
    }
}

#[test]
fn zsh_fish_and_powershell_scripts_load() {
    let dir = tempfile::tempdir().expect("tempdir");
    if let Some(zsh) = tools::system_tool("zsh") {
        let file = dir.path().join("_seg");
        std::fs::write(&file, script("zsh")).expect("write");
        let probe = format!(
            "autoload -Uz compinit && compinit -u -d '{}/zcompdump' && source '{}' && whence -w _seg",
            dir.path().display(),
            file.display()
        );
        let o = Command::new(zsh)
            .args(["-f", "-c", &probe])
            .output()
            .expect("run zsh");
        assert_eq!(
            (code(&o), stdout(&o).trim()),
            (0, "_seg: function"),
            "{}",
            shown(&o)
        );
    }
    if let Some(fish) = tools::system_tool("fish") {
        let file = dir.path().join("seg.fish");
        std::fs::write(&file, script("fish")).expect("write");
        let probe = format!("source '{}'; complete -C 'seg ch'", file.display());
        let o = Command::new(fish)
            .args(["--no-config", "-c", &probe])
            .env("HOME", dir.path())
            .output()
            .expect("run fish");
        assert_eq!(code(&o), 0, "{}", shown(&o));
        assert!(
            stdout(&o).lines().any(|l| l.starts_with("check\t")),
            "{}",
            shown(&o)
        );
    }
    // No PowerShell on this platform: the script registers a completer for `seg`.
    assert!(script("powershell").contains("Register-ArgumentCompleter -Native -CommandName 'seg'"));
}

/// A page per command, rendered by `man -l` and checked by groff's warnings.
#[test]
fn every_command_has_a_manual_page() {
    let (Some(man), Some(groff)) = (tools::system_tool("man"), tools::system_tool("groff")) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("man1");
    let o = seg_in(
        &tools::repo(),
        &["man", "--out", out.to_str().expect("utf-8")],
    );
    assert_eq!(code(&o), 0, "{}", shown(&o));
    let mut names = vec!["seg".to_string()];
    names.extend(commands().iter().map(|c| format!("seg-{c}")));
    let mut written: Vec<String> = std::fs::read_dir(&out)
        .expect("ls")
        .flatten()
        .map(|e| {
            e.file_name()
                .to_string_lossy()
                .trim_end_matches(".1")
                .to_string()
        })
        .collect();
    written.sort();
    let mut expected = names.clone();
    expected.sort();
    assert_eq!(written, expected);
    for name in &names {
        let page = out.join(format!("{name}.1"));
        let o = Command::new(&man)
            .args(["-l", "-P", "cat"])
            .arg(&page)
            .env("MANWIDTH", "80")
            .env_remove("MAN_KEEP_FORMATTING")
            .output()
            .expect("run man");
        assert_eq!(code(&o), 0, "man -l {name}: {}", shown(&o));
        // Justified lines: compare with single spaces.
        let text = stdout(&o)
            .split(' ')
            .filter(|w| !w.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        for section in ["NAME", "SYNOPSIS", "OPTIONS"] {
            assert!(text.contains(section), "{name}: no {section}:\n{text}");
        }
        assert!(text.contains(&format!("{name} - ")), "{name}:\n{text}");
        let o = Command::new(&groff)
            .args(["-man", "-Tutf8", "-ww", "-z"])
            .arg(&page)
            .output()
            .expect("run groff");
        assert!(
            o.status.success() && o.stderr.is_empty(),
            "groff {name}: {}",
            shown(&o)
        );
    }
    // One page on stdout; an unknown command is a usage error.
    let o = seg_in(&tools::repo(), &["man", "check"]);
    assert_eq!(
        stdout(&o).as_bytes(),
        std::fs::read(out.join("seg-check.1")).expect("page")
    );
    assert!(
        stdout(&o).contains("\\-\\-deny\\-warnings"),
        "global and shared flags are on the page"
    );
    let o = Command::new(seg_exe())
        .args(["man", "nope"])
        .output()
        .expect("run seg");
    assert_eq!(code(&o), 2, "{}", shown(&o));
}
