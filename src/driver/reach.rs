//! `seg.toml [reach]` in a compilation: the critical identities (a predicate
//! written in `seg.toml`, typed against the inventory) and the reach lints
//! (W0501 exposure paths, W0502 blast radius, E0161 unknown entry points).

use seg_check::Outline;
use seg_check::inventory::Inventory;
use seg_check::manifest::{Critical, Manifest};
use seg_diag::{Code, Diagnostic, Diagnostics, SourceMap};
use seg_ir::{IdentityId, Now, Program};

/// The identities `[reach] critical` names; empty when it is not set or has an error.
pub fn critical(
    manifest: &Manifest,
    map: &mut SourceMap,
    inventory: &Inventory,
    now: &Now,
    diags: &mut Diagnostics,
) -> Vec<IdentityId> {
    let Some(c) = &manifest.reach.critical else {
        return Vec::new();
    };
    let parsed = match c.verbatim {
        // Parse the expression where it stands, the rest of seg.toml blanked,
        // so that every span points into seg.toml.
        Some(at) => {
            let file = c.span.file;
            let text = blank_around(map.text(file), at, c.text.len());
            seg_syntax::parse_predicate(file, &text)
        }
        None => {
            let file = map.add("seg.toml [reach] critical", c.text.clone());
            seg_syntax::parse_predicate(file, &c.text)
        }
    };
    match parsed {
        Ok(pred) => seg_check::select(inventory, now, &pred, diags).unwrap_or_default(),
        Err(e) => {
            diags.push(invalid(
                c,
                e.message.replace("end of file", "end of the expression"),
                e,
            ));
            Vec::new()
        }
    }
}

/// `text` up to `at + len`, every character before `at` replaced by spaces
/// of the same byte length (line breaks kept).
fn blank_around(text: &str, at: usize, len: usize) -> String {
    text.char_indices()
        .take_while(|(i, _)| *i < at + len)
        .map(|(i, ch)| {
            if (at..at + len).contains(&i) || ch == '\n' {
                ch.to_string()
            } else {
                " ".repeat(ch.len_utf8())
            }
        })
        .collect()
}

fn invalid(c: &Critical, message: String, e: Diagnostic) -> Diagnostic {
    let mut d = Diagnostic::error(
        Code::InvalidCritical,
        format!("`[reach] critical` is not a predicate: {message}"),
    );
    let labels: Vec<_> = e.labels.iter().filter(|l| l.primary).collect();
    d = match labels.first() {
        Some(l) => d.with_primary(
            l.span,
            l.message
                .replace("file ends here", "the expression ends here"),
        ),
        None => d.with_primary(c.span, "not a predicate"),
    };
    d.with_help(
        "write what `identities where` takes, e.g. `critical = 'tier == 0 or labels.data == \"pci\"'`",
    )
}

/// The reach lints, when `[reach]` asks for them.
pub fn lint(
    program: &Program,
    outline: &Outline,
    manifest: &Manifest,
    critical: &[IdentityId],
    diags: &mut Diagnostics,
) {
    let r = &manifest.reach;
    let cfg = seg_reach::lint::Config {
        entry: &r.entry,
        hops: r.hops,
        pivot: r
            .pivot
            .clone()
            .unwrap_or_else(seg_reach::Model::default_pivot),
        blast_radius: r.blast_radius,
        critical,
        critical_text: r.critical.as_ref().map(|c| c.text.as_str()),
    };
    seg_reach::lint::check(program, outline, &cfg, diags);
}
