//! The TextMate grammar of the editors (`editors/vscode/syntaxes/seg.tmLanguage.json`)
//! tokenised as VS Code does (vscode-textmate + vscode-oniguruma, npm): the marked
//! samples of `tests/node/textmate/samples.seg` carry the scopes of keywords, names,
//! strings, numbers, CIDRs, ports, dates and comments, and every `.seg` file of the
//! repository tokenises with comments, strings and literals scoped and nothing invalid.

use seg_tests::tools::{node_script, repo};

#[test]
fn the_grammar_scopes_every_example_and_the_marked_samples() {
    let Some(mut node) = node_script("textmate", "tokenize.cjs") else {
        return;
    };
    let files = seg_tests::seg_files(&repo());
    assert!(files.len() > 50);
    let out = node
        .arg(repo().join("editors/vscode/syntaxes/seg.tmLanguage.json"))
        .arg(repo().join("tests/node/textmate/samples.seg"))
        .args(&files)
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
}
