//! Helpers shared by the parser's integration tests: a compact, readable
//! rendering of the AST (spans as `@start..end`) and of diagnostics.
#![allow(dead_code)]

use seg_diag::{ColorChoice, Diagnostic, FileId, SourceMap, render_human};
use seg_syntax::ast::File;
use serde_json::Value;

pub const FILE: FileId = FileId(0);

pub fn parse(src: &str) -> Result<File, Diagnostic> {
    seg_syntax::parse(FILE, src)
}

/// `----- SOURCE` then `----- AST` for a source that must parse.
pub fn ast_snapshot(src: &str) -> String {
    match parse(src) {
        Ok(file) => format!(
            "----- SOURCE\n{}\n----- AST\n{}",
            src.trim_end(),
            ast_text(&file)
        ),
        Err(d) => panic!("expected the source to parse:\n{}", render(src, &d)),
    }
}

/// `----- SOURCE` then `----- DIAGNOSTIC` for a source that must not parse.
pub fn error_snapshot(src: &str) -> String {
    match parse(src) {
        Ok(file) => panic!("expected an error, got:\n{}", ast_text(&file)),
        Err(d) => format!(
            "----- SOURCE\n{}\n----- DIAGNOSTIC\n{}",
            src.trim_end(),
            render(src, &d)
        ),
    }
}

pub fn render(src: &str, d: &Diagnostic) -> String {
    let mut map = SourceMap::new();
    map.add("test.seg", src);
    render_human(&map, std::slice::from_ref(d), ColorChoice::Never)
}

/// The AST as indented text; `Spanned` nodes end with `@start..end`.
pub fn ast_text(file: &File) -> String {
    let v = serde_json::to_value(file).expect("the AST serialises");
    let mut out = String::new();
    write_value(&v, 0, &mut out);
    out
}

fn span_of(v: &Value) -> Option<String> {
    let o = v.as_object()?;
    if o.len() == 3 && o.contains_key("file") && o.contains_key("start") && o.contains_key("end") {
        return Some(format!("@{}..{}", o["start"], o["end"]));
    }
    None
}

/// `(node, span)` when `v` is a `Spanned<T>`.
fn spanned(v: &Value) -> Option<(&Value, String)> {
    let o = v.as_object()?;
    if o.len() == 2
        && let (Some(node), Some(span)) = (o.get("node"), o.get("span").and_then(span_of))
    {
        return Some((node, span));
    }
    None
}

/// A one-line rendering, if `v` is small enough for one.
fn inline(v: &Value) -> Option<String> {
    if let Some(s) = span_of(v) {
        return Some(s);
    }
    if let Some((node, span)) = spanned(v) {
        return inline(node).map(|n| format!("{n} {span}"));
    }
    match v {
        Value::Null => Some("~".into()),
        Value::Bool(_) | Value::Number(_) | Value::String(_) => Some(v.to_string()),
        Value::Array(a) if a.is_empty() => Some("[]".into()),
        Value::Array(a)
            if a.iter()
                .all(|x| matches!(x, Value::String(_) | Value::Number(_))) =>
        {
            Some(format!(
                "[{}]",
                a.iter()
                    .map(Value::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        }
        Value::Object(o) => {
            // A name: bare or quoted.
            if o.len() == 2
                && let (Some(Value::String(t)), Some(Value::Bool(q))) =
                    (o.get("text"), o.get("quoted"))
            {
                return Some(if *q {
                    format!("{t:?} (quoted)")
                } else {
                    t.clone()
                });
            }
            if o.len() == 1 {
                let (k, inner) = o.iter().next()?;
                return inline(inner).map(|i| format!("{k}({i})"));
            }
            if o.values()
                .all(|x| matches!(x, Value::String(_) | Value::Number(_) | Value::Bool(_)))
            {
                let fields = o
                    .iter()
                    .map(|(k, x)| format!("{k}: {x}"))
                    .collect::<Vec<_>>();
                return Some(format!("{{{}}}", fields.join(", ")));
            }
            None
        }
        _ => None,
    }
}

fn write_field(key: &str, v: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    if let Some(s) = inline(v) {
        out.push_str(&format!("{pad}{key} {s}\n"));
    } else if let Some((node, span)) = spanned(v) {
        out.push_str(&format!("{pad}{key} {span}\n"));
        write_value(node, indent + 2, out);
    } else {
        out.push_str(&format!("{pad}{key}\n"));
        write_value(v, indent + 2, out);
    }
}

fn write_value(v: &Value, indent: usize, out: &mut String) {
    match v {
        Value::Array(items) => items.iter().for_each(|x| write_field("-", x, indent, out)),
        Value::Object(fields) => fields
            .iter()
            .for_each(|(k, x)| write_field(&format!("{k}:"), x, indent, out)),
        other => write_field("", other, indent, out),
    }
}
