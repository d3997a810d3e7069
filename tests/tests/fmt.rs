//! `seg fmt` keeps meaning and comments, and is idempotent: over every `.seg`
//! file of the repository (examples, stdlib, diagnostic cases, fuzz seeds),
//! over generated estates, and over random re-spacings of them. A formatted
//! project compiles to the same IR (positions aside) and the same diagnostics.

use proptest::prelude::*;
use seg_diag::FileId;
use seg_tests::estate::{self, Estate};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The comments of a text, found without the formatter's scanner: `//` and
/// `/* */` outside strings and outside `use` file paths.
fn comments(text: &str) -> Vec<String> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let at_token = i == 0 || b[i - 1].is_ascii_whitespace();
        if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' && b[i] != b'\n' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
        } else if at_token && (text[i..].starts_with("./") || text[i..].starts_with("../")) {
            while i < b.len() && !b[i].is_ascii_whitespace() && !text[i..].starts_with("::") {
                i += 1;
            }
        } else if text[i..].starts_with("//") {
            let end = text[i..].find('\n').map_or(b.len(), |n| i + n);
            out.push(text[i..end].trim_end().to_string());
            i = end;
        } else if text[i..].starts_with("/*") {
            let end = text[i + 2..].find("*/").map_or(b.len(), |n| i + n + 4);
            out.push(text[i..end].to_string());
            i = end;
        } else {
            i += 1;
        }
    }
    out
}

/// The properties of one text: formatting is stable, keeps the tree and the
/// comments; an unparsable text gets the parser's diagnostic.
fn check_text(name: &str, text: &str) -> Result<String, String> {
    let file = FileId(0);
    let parsed = seg_syntax::parse(file, text);
    let formatted = seg_fmt::format(file, text);
    let (ast, out) = match (parsed, formatted) {
        (Ok(ast), Ok(out)) => (ast, out),
        (Err(p), Err(f)) if p == f => return Ok(text.to_string()),
        (p, f) => {
            return Err(format!(
                "{name}: parse and format disagree: {:?} / {:?}",
                p.err().map(|d| d.message),
                f.err().map(|d| d.message)
            ));
        }
    };
    let again = seg_fmt::format(file, &out).map_err(|d| format!("{name}: {}", d.message))?;
    if again != out {
        return Err(format!(
            "{name}: not idempotent\n--- first\n{out}\n--- second\n{again}"
        ));
    }
    let reparsed = seg_syntax::parse(file, &out).map_err(|d| format!("{name}: {}", d.message))?;
    if seg_fmt::tree(&ast) != seg_fmt::tree(&reparsed) {
        return Err(format!("{name}: the tree changed\n{out}"));
    }
    if comments(text) != comments(&out) {
        return Err(format!(
            "{name}: comments differ: {:?} vs {:?}",
            comments(text),
            comments(&out)
        ));
    }
    if out.lines().any(|l| l.ends_with(' ') || l.contains('\t')) {
        return Err(format!("{name}: trailing space or tab\n{out}"));
    }
    Ok(out)
}

#[test]
fn every_seg_file_of_the_repository_formats_stably() {
    let files = seg_tests::seg_files(&repo());
    assert!(files.len() > 50, "found only {} .seg files", files.len());
    let mut failures = Vec::new();
    for f in &files {
        let Ok(text) = std::fs::read_to_string(f) else {
            continue;
        };
        if let Err(e) = check_text(&f.display().to_string(), &text) {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// What seg ships for users to copy (examples, standard library) is already
/// in the canonical layout, so a `seg-fmt` hook never rewrites it.
#[test]
fn shipped_seg_files_are_in_the_canonical_layout() {
    let mut files = seg_tests::seg_files(&repo().join("examples"));
    files.extend(seg_tests::seg_files(&repo().join("stdlib")));
    assert!(files.len() >= 3, "found only {} .seg files", files.len());
    let mut unformatted = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).expect("read a shipped .seg file");
        let out = seg_fmt::format(FileId(0), &text).expect("a shipped file parses");
        if out != text {
            unformatted.push(f.display().to_string());
        }
    }
    assert!(unformatted.is_empty(), "run `seg fmt` on: {unformatted:?}");
}

/// The program as JSON without what positions decide.
fn meaning(p: &seg_ir::Program) -> Value {
    let mut v = serde_json::to_value(p).unwrap_or(Value::Null);
    let mut stack = vec![&mut v];
    while let Some(v) = stack.pop() {
        match v {
            Value::Object(m) => {
                for k in ["line", "column", "origin", "span", "source_hash"] {
                    m.remove(k);
                }
                stack.extend(m.values_mut());
            }
            Value::Array(a) => stack.extend(a.iter_mut()),
            _ => {}
        }
    }
    v
}

/// Diagnostics and IR of a project folder, positions aside.
fn compile(dir: &Path) -> (Vec<String>, Option<Value>) {
    let input = seg::driver::Input::from_args(Some(dir), &[]).expect("a project folder");
    let comp = seg::driver::compile(&input, estate::now());
    let diags = comp
        .diags
        .iter()
        .map(|d| format!("{:?} {}", d.code, d.message))
        .collect();
    (diags, comp.program.as_ref().map(meaning))
}

/// Format every `.seg` file under `dir` in place.
fn format_tree(dir: &Path) {
    for f in seg_tests::seg_files(dir) {
        // A file that is not UTF-8 stays as it is (E0004 either way).
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        if let Ok(out) = seg_fmt::format(FileId(0), &text) {
            std::fs::write(&f, out).expect("write");
        }
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).expect("copy");
        }
    }
}

#[test]
fn formatted_projects_compile_to_the_same_program_and_diagnostics() {
    let mut dirs = vec![repo().join("examples/bank")];
    dirs.extend(seg_tests::projects(&repo().join("tests/cases")));
    for dir in dirs {
        let tmp = tempfile::tempdir().expect("tempdir");
        copy_dir(&dir, tmp.path());
        format_tree(tmp.path());
        let (before, after) = (compile(&dir), compile(tmp.path()));
        assert_eq!(before.0, after.0, "{}: diagnostics differ", dir.display());
        assert!(
            before.1 == after.1,
            "{}: the program changed after formatting",
            dir.display()
        );
    }
}

/// Every run of spaces between tokens replaced by one to three spaces, and a
/// line break inside a rule by a space: the layout must not depend on it.
fn respace(text: &str, seed: &[u8]) -> String {
    let mut out = String::new();
    let mut k = 0;
    let mut next = || {
        k += 1;
        seed.get(k % seed.len().max(1)).copied().unwrap_or(0)
    };
    for line in text.split_inclusive('\n') {
        let (body, nl) = match line.strip_suffix('\n') {
            Some(b) => (b, "\n"),
            None => (line, ""),
        };
        let indent = body.len() - body.trim_start().len();
        out.push_str(&body[..indent]);
        let mut in_string = false;
        let mut prev_space = false;
        let rest = &body[indent..];
        // Comments keep their spacing: it is their text.
        let code_end = if rest.contains("/*") {
            0
        } else {
            rest.find("//").unwrap_or(rest.len())
        };
        for c in rest[..code_end].chars() {
            if c == '"' {
                in_string = !in_string;
            }
            if c == ' ' && !in_string {
                if !prev_space {
                    out.push_str(&" ".repeat(1 + usize::from(next() % 3)));
                }
                prev_space = true;
                continue;
            }
            prev_space = false;
            out.push(c);
        }
        out.push_str(&rest[code_end..]);
        out.push_str(nl);
    }
    out
}

fn estate_files(e: &Estate) -> impl Iterator<Item = (&String, &String)> {
    e.files.iter().filter(|(p, _)| p.ends_with(".seg"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn generated_estates_format_stably_and_keep_their_program(e in estate::estate(), seed in prop::collection::vec(any::<u8>(), 1..16)) {
        let dir = tempfile::tempdir().expect("tempdir");
        e.write(dir.path()).expect("write estate");
        let before = compile(dir.path());
        let mut formatted = e.clone();
        for (path, text) in estate_files(&e) {
            let out = check_text(path, text).map_err(TestCaseError::fail)?;
            let spaced = respace(text, &seed);
            let out2 = seg_fmt::format(FileId(0), &spaced).map_err(|d| TestCaseError::fail(d.message))?;
            prop_assert_eq!(&out, &out2, "{}: the layout depends on spacing", path);
            formatted.files.insert(path.clone(), out);
        }
        let dir2 = tempfile::tempdir().expect("tempdir");
        formatted.write(dir2.path()).expect("write estate");
        let after = compile(dir2.path());
        prop_assert_eq!(before.0, after.0);
        prop_assert!(before.1 == after.1, "the program changed after formatting");
    }
}

#[test]
fn hostile_input_is_refused_or_formatted_never_a_crash() {
    // 20,000 nested parentheses: the parser's E0003, no output.
    let deep = format!(
        "segment s = {}a{}\n",
        "(".repeat(20_000),
        ")".repeat(20_000)
    );
    let d = seg_fmt::format(FileId(0), &deep).expect_err("too deep");
    assert_eq!(d.code, Some(seg_diag::Code::InputTooLarge));
    // A long but legal chain formats and stays stable.
    let names: Vec<String> = (0..250).map(|i| format!("n{i}")).collect();
    let chain = format!("segment s = {}\n", names.join(" | "));
    check_text("chain", &chain).expect("chain");
    // A quarter of a megabyte of rules with comments.
    let rule = "allow a -> b on tcp/1 // c\n";
    let big = format!("policy p {{\n{}}}\n", rule.repeat(256 * 1024 / rule.len()));
    let out = seg_fmt::format(FileId(0), &big).expect("big file formats");
    assert!(out.len() > big.len() / 2);
}

/// The examples of `docs/fmt.md` are what the formatter writes.
#[test]
fn the_examples_of_the_fmt_page_are_formatted() {
    let page = std::fs::read_to_string(repo().join("docs/fmt.md")).expect("docs/fmt.md");
    let mut blocks = 0;
    for block in page.split("```seg\n").skip(1) {
        let code = block.split("```").next().unwrap_or("");
        // Blocks inside a list item are indented as a whole.
        let first = code.lines().next().unwrap_or("");
        let indent = &first[..first.len() - first.trim_start().len()];
        let code: String = code
            .lines()
            .map(|l| format!("{}\n", l.strip_prefix(indent).unwrap_or(l)))
            .collect();
        let code = format!("{}\n", code.trim_end());
        let out = seg_fmt::format(FileId(0), &code).expect("the example parses");
        assert_eq!(
            out, code,
            "docs/fmt.md example is not in the canonical layout"
        );
        blocks += 1;
    }
    assert!(blocks >= 4);
}

/// `expires` takes a date or an RFC 3339 instant: both are written as in the source.
#[test]
fn expiry_instants_are_kept_as_written() {
    let text = "policy p {\n  owner \"t\"\n\n  allow a -> b on tcp/1 reason \"r\" expires 2026-12-06T16:00:00+01:00\n  allow a -> c on tcp/1 expires 2026-12-31\n}\n";
    let out = check_text("instants", text).expect("formats");
    assert!(
        out.contains("allow a -> b on tcp/1 expires 2026-12-06T16:00:00+01:00 reason \"r\""),
        "{out}"
    );
    assert!(out.contains("expires 2026-12-31"), "{out}");
}
