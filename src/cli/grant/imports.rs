//! The `use` lines a grant needs in the grants file: a segment or service the
//! rule names that the file neither defines nor imports is imported from the
//! project file that defines it, else from the standard library (a name
//! defined nowhere is an identity, or an error the check then reports).

use seg_syntax::ast::{File, Item, RuleDef, ServiceRefKind, SetExpr, SetExprKind, UsePath};
use std::collections::BTreeMap;

/// A parsed policy file of the project: path relative to the project folder.
pub struct Source {
    pub path: String,
    pub ast: File,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Segment,
    Service,
}

/// `text` (the grants file, `grants` its path) with the imports `rule` needs
/// added: to an existing `use` of the same module, else as new lines after
/// the last `use` (or after the leading comments).
pub fn add_imports(text: &str, grants: &str, rule: &RuleDef, project: &[Source]) -> String {
    let own = seg_syntax::parse(seg_diag::FileId(0), text).ok();
    let mut wanted: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, kind) in names(rule) {
        if own.as_ref().is_some_and(|f| in_scope(f, &name, kind)) {
            continue;
        }
        if let Some(module) = home(&name, kind, grants, project) {
            let list = wanted.entry(module).or_default();
            if !list.contains(&name) {
                list.push(name);
            }
        }
    }
    let mut out = text.to_string();
    let mut new_lines = String::new();
    // From the end of the text backwards, so earlier offsets stay valid.
    let mut inserts: Vec<(usize, String)> = Vec::new();
    for (module, names) in &wanted {
        let existing = own.as_ref().and_then(|f| {
            f.items.iter().find_map(|i| match i {
                Item::Use(u) if module_text(&u.path.node) == *module => Some(u.span.end as usize),
                _ => None,
            })
        });
        let quoted: Vec<String> = names.iter().map(|n| name_text(n)).collect();
        match existing.filter(|end| text[..*end].ends_with('}')) {
            Some(end) => inserts.push((end - 1, format!(", {}", quoted.join(", ")))),
            None => new_lines.push_str(&format!("use {module}::{{{}}}\n", quoted.join(", "))),
        }
    }
    inserts.sort_by_key(|i| std::cmp::Reverse(i.0));
    for (at, s) in inserts {
        out.insert_str(at, &s);
    }
    if !new_lines.is_empty() {
        let at = after_uses(&out);
        out.insert_str(at, &new_lines);
    }
    out
}

/// The segments and services a rule names (identities are names too: which
/// is which is decided by where a definition is found).
fn names(rule: &RuleDef) -> Vec<(String, Kind)> {
    let mut out = Vec::new();
    for side in [&rule.src, &rule.dst] {
        set_names(side, &mut out);
    }
    for s in &rule.services {
        if let ServiceRefKind::Named(n) = &s.node {
            out.push((n.text.clone(), Kind::Service));
        }
    }
    out
}

fn set_names(e: &SetExpr, out: &mut Vec<(String, Kind)>) {
    match &e.node {
        SetExprKind::Name(n) => out.push((n.text.clone(), Kind::Segment)),
        SetExprKind::Union(a, b) | SetExprKind::Intersect(a, b) | SetExprKind::Difference(a, b) => {
            set_names(a, out);
            set_names(b, out);
        }
        _ => {}
    }
}

fn defines(f: &File, name: &str, kind: Kind) -> bool {
    f.items.iter().any(|i| match (i, kind) {
        (Item::Segment(s), Kind::Segment) => s.name.node.text == name,
        (Item::Service(s), Kind::Service) => s.name.node.text == name,
        _ => false,
    })
}

fn in_scope(f: &File, name: &str, kind: Kind) -> bool {
    defines(f, name, kind)
        || f.items.iter().any(|i| match i {
            Item::Use(u) => u.names.iter().any(|n| n.node.text == name),
            _ => false,
        })
}

/// The module to import `name` from: `./x.seg`-style path of the project file
/// defining it (relative to the grants file), else `std::services` /
/// `std::segments` when the standard library has it.
fn home(name: &str, kind: Kind, grants: &str, project: &[Source]) -> Option<String> {
    let mut defining: Vec<&Source> = project
        .iter()
        .filter(|s| s.path != grants && defines(&s.ast, name, kind))
        .collect();
    defining.sort_by(|a, b| a.path.cmp(&b.path));
    if let Some(s) = defining.first() {
        return Some(relative(grants, &s.path));
    }
    let module = match kind {
        Kind::Service => "std::services",
        Kind::Segment => "std::segments",
    };
    let std = seg_stdlib::MODULES.iter().find(|m| m.path == module)?;
    let ast = seg_syntax::parse(seg_diag::FileId(0), std.source).ok()?;
    defines(&ast, name, kind).then(|| module.to_string())
}

/// `to` as a `use` path from the folder of `from` (both project-relative),
/// quoted when it is not a plain path.
fn relative(from: &str, to: &str) -> String {
    let mut from_dir: Vec<&str> = from.split('/').collect();
    from_dir.pop();
    let to_parts: Vec<&str> = to.split('/').collect();
    let common = from_dir
        .iter()
        .zip(&to_parts)
        .take_while(|(a, b)| a == b)
        .count();
    let mut parts: Vec<String> = Vec::new();
    if common == from_dir.len() {
        parts.push(".".into());
    }
    parts.extend(std::iter::repeat_n(
        "..".to_string(),
        from_dir.len() - common,
    ));
    parts.extend(to_parts[common..].iter().map(|p| p.to_string()));
    let path = parts.join("/");
    let plain = path
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "./_-".contains(c));
    if plain {
        path
    } else {
        serde_json::to_string(&path).unwrap_or(path)
    }
}

fn module_text(p: &UsePath) -> String {
    match p {
        UsePath::Module(parts) => parts.join("::"),
        UsePath::File(f) => {
            let plain = f
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "./_-".contains(c));
            if plain {
                f.clone()
            } else {
                serde_json::to_string(f).unwrap_or_else(|_| f.clone())
            }
        }
    }
}

/// A name as written in a `use` list: bare when it can be, else quoted.
fn name_text(n: &str) -> String {
    let bare = n.starts_with(|c: char| c.is_ascii_lowercase())
        && n.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        && !n.ends_with('-')
        && !n.contains("--");
    if bare {
        n.to_string()
    } else {
        serde_json::to_string(n).unwrap_or_else(|_| n.to_string())
    }
}

/// Where new `use` lines go: after the last top-level `use`, else after the
/// comments and blank lines that open the file.
fn after_uses(text: &str) -> usize {
    if let Ok(f) = seg_syntax::parse(seg_diag::FileId(0), text)
        && let Some(end) = f
            .items
            .iter()
            .filter_map(|i| match i {
                Item::Use(u) => Some(u.span.end as usize),
                _ => None,
            })
            .max()
    {
        return text[end..].find('\n').map_or(text.len(), |n| end + n + 1);
    }
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        let t = line.trim();
        if t.is_empty() || (t.starts_with("//") && !t.starts_with("///")) {
            at += line.len();
        } else {
            break;
        }
    }
    at
}

#[cfg(test)]
mod tests {
    use super::relative;

    #[test]
    fn use_paths_are_relative_to_the_grants_file() {
        assert_eq!(
            relative("policy/grants.seg", "policy/payments.seg"),
            "./payments.seg"
        );
        assert_eq!(
            relative("policy/grants.seg", "common/base.seg"),
            "../common/base.seg"
        );
        assert_eq!(relative("grants.seg", "policy/a.seg"), "./policy/a.seg");
        assert_eq!(relative("a/b/grants.seg", "a/c.seg"), "../c.seg");
        assert_eq!(relative("grants.seg", "my dir/a.seg"), "\"./my dir/a.seg\"");
    }
}
