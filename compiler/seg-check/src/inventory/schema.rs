//! Walking a document tree against the inventory schema: the shared helpers
//! (mappings with known fields, typed scalars) and the top level
//! (`version`, `attributes`, `identities`).
//!
//! Every problem becomes a diagnostic at the offending node; walking goes on
//! after a problem so one run reports all of them. A value that fails is left
//! out of the result (the caller returns no inventory when there was an error).

use super::model::{AttrDecl, AttrType};
use super::tree::{Node, Value};
use super::values::{self, Problem};
use crate::fasthash::FastMap;
use indexmap::IndexMap;
use seg_diag::{Code, Diagnostic, Diagnostics, FileId, Span, did_you_mean};
use std::collections::BTreeSet;

pub const TOP_FIELDS: &[&str] = &["version", "attributes", "identities"];
const SUPPORTED_VERSION: i64 = 1;
/// Mappings with at most this many entries find duplicate keys by a scan.
const SMALL_MAP: usize = 16;

/// The reader of one file: its text (for quoting values in help) and the diagnostics.
pub struct Reader<'a> {
    pub file: FileId,
    pub text: &'a str,
    pub diags: &'a mut Diagnostics,
    /// Errors reported through this reader (warnings not counted).
    pub errors: usize,
}

/// The fields of a mapping, by name, with the key and value nodes.
pub struct Fields<'n> {
    entries: Vec<(&'n str, &'n Node<'n>, &'n Node<'n>)>,
}

impl<'n> Fields<'n> {
    pub fn get(&self, name: &str) -> Option<&'n Node<'n>> {
        self.entries
            .iter()
            .find(|(k, _, _)| *k == name)
            .map(|(_, _, v)| *v)
    }

    pub fn key(&self, name: &str) -> Option<&'n Node<'n>> {
        self.entries
            .iter()
            .find(|(k, _, _)| *k == name)
            .map(|(_, k, _)| *k)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&'n str, &'n Node<'n>, &'n Node<'n>)> + '_ {
        self.entries.iter().copied()
    }
}

impl<'a> Reader<'a> {
    pub fn report(&mut self, d: Diagnostic) {
        self.errors += usize::from(d.is_error());
        self.diags.push(d);
    }

    /// The first line of a node's span: a label on a whole block would cover many lines.
    pub fn head(&self, node: &Node) -> Span {
        let r = node.span.range();
        let slice = self.text.get(r.clone()).unwrap_or("");
        let end = slice.find('\n').map_or(r.end, |i| r.start + i);
        Span::new(self.file, r.start, end.max(r.start))
    }

    /// The node's text as written, for help lines (cut short when long).
    pub fn source(&self, node: &Node) -> String {
        let s = self.text.get(self.head(node).range()).unwrap_or("").trim();
        if s.chars().count() > 40 {
            format!("{}…", s.chars().take(40).collect::<String>())
        } else {
            s.to_string()
        }
    }

    pub fn mismatch(&mut self, node: &Node, expected: &str, context: &str) -> Diagnostic {
        let found = node.value.describe();
        let mut d = Diagnostic::error(
            Code::InventoryTypeMismatch,
            format!("{context} must be {expected}, found {found}"),
        )
        .with_primary(self.head(node), format!("expected {expected}"));
        if matches!(node.value, Value::Null) {
            d = d.with_help(match expected {
                "a mapping" => "write `{}` for an empty mapping, or remove the field".to_string(),
                "a list" => "write `[]` for an empty list, or remove the field".to_string(),
                _ => "give the field a value, or remove it".to_string(),
            });
        } else if expected == "a string"
            && matches!(node.value, Value::Int(_) | Value::Bool(_) | Value::Float(_))
        {
            d = d.with_help(format!(
                "quote it to make it a string: `\"{}\"`",
                self.source(node)
            ));
        } else if let Value::Str(s) = &node.value {
            if expected.starts_with("a boolean") {
                d = d.with_help("write `true` or `false`, without quotes");
            } else if expected == "an integer" && s.trim().parse::<i64>().is_ok() {
                d = d.with_help(format!("remove the quotes: `{}`", s.trim()));
            }
        }
        d
    }

    /// The entries of a mapping whose keys are strings; duplicate keys are reported.
    pub fn entries<'n>(&mut self, node: &'n Node<'n>, context: &str) -> Option<Fields<'n>> {
        let Value::Map(map) = &node.value else {
            let d = self.mismatch(node, "a mapping", context);
            self.report(d);
            return None;
        };
        let mut entries: Vec<(&'n str, &'n Node<'n>, &'n Node<'n>)> = Vec::with_capacity(map.len());
        // Most mappings have a handful of keys: a scan of the kept entries is
        // cheaper than a hash map per mapping; large ones get the map.
        let mut seen: Option<FastMap<&str, Span>> = (map.len() > SMALL_MAP).then(FastMap::default);
        for (k, v) in map {
            let Value::Str(name) = &k.value else {
                let d = self.mismatch(k, "a string", &format!("a field name in {context}"));
                self.report(d);
                continue;
            };
            let first = match &seen {
                Some(seen) => seen.get(&**name).copied(),
                None => entries
                    .iter()
                    .find(|(n, _, _)| *n == &**name)
                    .map(|(_, key, _)| key.span),
            };
            if let Some(first) = first {
                self.report(
                    Diagnostic::error(
                        Code::InventorySyntax,
                        format!("duplicate key `{name}` in {context}"),
                    )
                    .with_primary(k.span, "duplicate key")
                    .with_secondary(first, "first written here")
                    .with_help("keep one of the two entries"),
                );
                continue;
            }
            if let Some(seen) = &mut seen {
                seen.insert(name, k.span);
            }
            entries.push((name, k, v));
        }
        Some(Fields { entries })
    }

    /// Like [`Reader::entries`], and every key must be one of `known` (E0102).
    pub fn fields<'n>(
        &mut self,
        node: &'n Node<'n>,
        known: &[&str],
        context: &str,
    ) -> Option<Fields<'n>> {
        let fields = self.entries(node, context)?;
        for (name, key, _) in fields.iter() {
            if known.contains(&name) {
                continue;
            }
            let mut d = Diagnostic::error(
                Code::UnknownField,
                format!("unknown field `{name}` in {context}"),
            )
            .with_primary(key.span, "unknown field");
            d = match did_you_mean(name, known.iter().copied()) {
                Some(s) => d.with_help(format!("did you mean `{s}`?")),
                None => d
                    .with_note(format!("the fields of {context} are: {}", known.join(", ")))
                    .with_help("remove the field or fix its name"),
            };
            self.report(d);
        }
        Some(fields)
    }

    pub fn string<'n>(&mut self, node: &'n Node<'n>, context: &str) -> Option<&'n str> {
        match &node.value {
            Value::Str(s) => Some(s),
            _ => {
                let d = self.mismatch(node, "a string", context);
                self.report(d);
                None
            }
        }
    }

    /// A string that is free text: no control characters, not empty.
    pub fn text<'n>(&mut self, node: &'n Node<'n>, context: &str) -> Option<&'n str> {
        let s = self.string(node, context)?;
        self.check(node, values::text(s, context))?;
        Some(s)
    }

    pub fn boolean(&mut self, node: &Node, context: &str) -> Option<bool> {
        match node.value {
            Value::Bool(b) => Some(b),
            _ => {
                let d = self.mismatch(node, "a boolean (`true` or `false`)", context);
                self.report(d);
                None
            }
        }
    }

    /// Report a value problem (E0107) at `node`.
    pub fn check<T>(&mut self, node: &Node, result: Result<T, Problem>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(p) => {
                self.invalid(node.span, p);
                None
            }
        }
    }

    pub fn invalid(&mut self, span: Span, p: Problem) {
        let mut d = Diagnostic::error(Code::InvalidValue, p.message)
            .with_primary(span, p.label)
            .with_help(p.help);
        if let Some(note) = p.note {
            d = d.with_note(note);
        }
        self.report(d);
    }

    /// A value that must be one of `allowed` (E0107 with a suggestion).
    pub fn one_of<'n>(
        &mut self,
        node: &'n Node<'n>,
        allowed: &[&str],
        context: &str,
    ) -> Option<&'n str> {
        let s = self.string(node, context)?;
        if allowed.contains(&s) {
            return Some(s);
        }
        let mut d = Diagnostic::error(Code::InvalidValue, format!("unknown {context} `{s}`"))
            .with_primary(node.span, format!("not a valid {context}"))
            .with_note(format!(
                "the values of {context} are: {}",
                allowed.join(", ")
            ));
        if let Some(m) = did_you_mean(s, allowed.iter().copied()) {
            d = d.with_help(format!("did you mean `{m}`?"));
        } else {
            d = d.with_help(format!("write one of: {}", allowed.join(", ")));
        }
        self.report(d);
        None
    }

    /// Report a missing required field at the head of `node` (the mapping that lacks it).
    pub fn missing(&mut self, node: &Node, field: &str, context: &str, help: &str) {
        self.report(
            Diagnostic::error(
                Code::MissingField,
                format!("missing field `{field}` in {context}"),
            )
            .with_primary(self.head(node), format!("no `{field}` here"))
            .with_help(help.to_string()),
        );
    }
}

/// The attribute declarations of every file.
#[derive(Debug, Default)]
pub struct Decls {
    pub types: IndexMap<String, AttrDecl>,
    /// Names whose declaration is itself an error: values of these are not
    /// checked, so one bad declaration is reported once, not once per identity.
    pub broken: BTreeSet<String>,
    /// An `attributes:` that is not a mapping: no value can be checked.
    pub unreadable: bool,
}

/// One file's top level, after reading `version` and `attributes`.
pub struct TopLevel<'n> {
    pub identities: Option<&'n Node<'n>>,
}

/// Check the top level of one document and merge its attribute declarations into `decls`.
pub fn top_level<'n>(
    r: &mut Reader<'_>,
    doc: &'n Node<'n>,
    decls: &mut Decls,
) -> Option<TopLevel<'n>> {
    if let Value::Null = doc.value {
        r.report(
            Diagnostic::error(Code::MissingField, "inventory file is empty")
                .with_primary(Span::new(r.file, 0, 0), "nothing here")
                .with_help("start the file with `version: 1`"),
        );
        return None;
    }
    if let Value::Seq(_) = doc.value {
        let d = r
            .mismatch(doc, "a mapping", "the inventory")
            .with_note(
                "an inventory file is a mapping with `version`, `attributes` and `identities`",
            )
            .with_help("put `version: 1` first and the list under `identities:`");
        r.report(d);
        return None;
    }
    let fields = r.fields(doc, TOP_FIELDS, "the inventory")?;
    match fields.get("version") {
        None => r.missing(
            doc,
            "version",
            "the inventory",
            "add `version: 1` at the top of the file",
        ),
        Some(v) => match v.value {
            Value::Int(SUPPORTED_VERSION) => {}
            Value::Int(n) => r.report(
                Diagnostic::error(
                    Code::UnsupportedVersion,
                    format!("unsupported inventory version `{n}`"),
                )
                .with_primary(v.span, "unsupported version")
                .with_note(format!(
                    "seg {} reads inventory version {SUPPORTED_VERSION}",
                    env!("CARGO_PKG_VERSION")
                ))
                .with_help("write `version: 1`"),
            ),
            _ => {
                let d = r
                    .mismatch(v, "the integer `1`", "`version`")
                    .with_help("write `version: 1`");
                r.report(d);
            }
        },
    }
    if let Some(attrs) = fields.get("attributes") {
        decls.unreadable |= !matches!(attrs.value, Value::Map(_));
        declarations(r, attrs, decls);
    }
    let identities = fields.get("identities");
    if let Some(ids) = identities
        && !matches!(ids.value, Value::Seq(_))
    {
        let d = r.mismatch(ids, "a list", "`identities`");
        r.report(d);
        return Some(TopLevel { identities: None });
    }
    Some(TopLevel { identities })
}

fn declarations(r: &mut Reader<'_>, node: &Node, decls: &mut Decls) {
    let Some(fields) = r.entries(node, "`attributes`") else {
        return;
    };
    for (name, key, value) in fields.iter() {
        if r.check(key, values::attribute_name(name)).is_none() {
            decls.broken.insert(name.to_string());
            continue;
        }
        let Some(ty) = attr_type(r, value) else {
            decls.broken.insert(name.to_string());
            continue;
        };
        match decls.types.get(name) {
            Some(first) if first.ty != ty => r.report(
                Diagnostic::error(
                    Code::InvalidAttributeType,
                    format!("attribute `{name}` declared with two types"),
                )
                .with_primary(value.span, format!("declared as `{}` here", ty.describe()))
                .with_secondary(
                    first.span,
                    format!("first declared as `{}` here", first.ty.describe()),
                )
                .with_help("declare the attribute with the same type in every inventory file"),
            ),
            Some(_) => {}
            None => {
                decls.types.insert(
                    name.to_string(),
                    AttrDecl {
                        ty,
                        span: value.span,
                    },
                );
            }
        }
    }
}

const TYPE_NAMES: &[&str] = &["string", "int", "bool", "enum[...]"];

fn attr_type(r: &mut Reader<'_>, node: &Node) -> Option<AttrType> {
    let Value::Str(raw) = &node.value else {
        r.report(
            Diagnostic::error(
                Code::InvalidAttributeType,
                format!(
                    "an attribute type must be a type name, found {}",
                    node.value.describe()
                ),
            )
            .with_primary(r.head(node), "not a type name")
            .with_note("attribute types are `string`, `int`, `bool` and `enum[a, b, c]`")
            .with_help("write the type as a word: `enum[a, b]` is one string, not a list"),
        );
        return None;
    };
    let s = raw.trim();
    let ty = match s {
        "string" => Some(AttrType::String),
        "int" => Some(AttrType::Int),
        "bool" => Some(AttrType::Bool),
        _ => None,
    };
    if ty.is_some() {
        return ty;
    }
    if let Some(inner) = s
        .strip_prefix("enum")
        .map(str::trim_start)
        .and_then(|x| x.strip_prefix('['))
        .and_then(|x| x.strip_suffix(']'))
    {
        return enum_type(r, node, inner);
    }
    let suggestion = match s {
        "str" | "text" => Some("string"),
        "integer" | "number" | "i64" => Some("int"),
        "boolean" => Some("bool"),
        _ if s.starts_with('[') || s.starts_with("enum") => Some("enum[a, b, c]"),
        _ => did_you_mean(s, TYPE_NAMES[..3].iter().copied()),
    };
    let mut d = Diagnostic::error(
        Code::InvalidAttributeType,
        format!("unknown attribute type `{s}`"),
    )
    .with_primary(node.span, "unknown type")
    .with_note("attribute types are `string`, `int`, `bool` and `enum[a, b, c]`");
    d = match suggestion {
        Some(t) => d.with_help(format!("did you mean `{t}`?")),
        None => d.with_help("write one of `string`, `int`, `bool` or `enum[a, b, c]`"),
    };
    r.report(d);
    None
}

fn enum_type(r: &mut Reader<'_>, node: &Node, inner: &str) -> Option<AttrType> {
    let items: Vec<&str> = inner.split(',').map(str::trim).collect();
    let bad = |r: &mut Reader<'_>, message: String, help: &str| {
        r.report(
            Diagnostic::error(Code::InvalidAttributeType, message)
                .with_primary(node.span, "invalid enum type")
                .with_help(help.to_string()),
        );
    };
    if items.iter().all(|i| i.is_empty()) {
        bad(
            r,
            "enum type without values".into(),
            "list the values: `enum[dev, staging, prod]`",
        );
        return None;
    }
    let mut values: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        if item.is_empty() {
            bad(
                r,
                "empty value in enum type".into(),
                "remove the extra comma",
            );
            return None;
        }
        if item.contains(['[', ']']) || item.chars().any(values::forbidden_char) {
            bad(
                r,
                format!("invalid enum value `{item}`"),
                "enum values are plain words separated by commas",
            );
            return None;
        }
        if values.iter().any(|v| v == item) {
            bad(
                r,
                format!("enum value `{item}` listed twice"),
                "list each value once",
            );
            return None;
        }
        values.push(item.to_string());
    }
    Some(AttrType::Enum(values))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::tree;

    fn read(text: &str) -> (Option<IndexMap<String, AttrDecl>>, Vec<Diagnostic>) {
        let mut diags = Diagnostics::new();
        let doc = tree::parse(FileId(0), text).expect("yaml");
        let mut decls = Decls::default();
        let mut r = Reader {
            file: FileId(0),
            text,
            diags: &mut diags,
            errors: 0,
        };
        let top = top_level(&mut r, &doc, &mut decls);
        (top.map(|_| decls.types), diags.into_vec())
    }

    #[test]
    fn attribute_types_parse_and_enum_values_keep_their_order() {
        let (decls, diags) = read(
            "version: 1\nattributes:\n  team: string\n  env: enum[dev, staging , prod]\n  tier: int\n  pci: bool\n",
        );
        assert!(diags.is_empty(), "{diags:?}");
        let decls = decls.expect("read");
        let types: Vec<String> = decls.values().map(|d| d.ty.describe()).collect();
        assert_eq!(types, ["string", "enum[dev, staging, prod]", "int", "bool"]);
    }

    #[test]
    fn bad_types_are_e0109_with_a_suggestion() {
        let (_, diags) = read(
            "version: 1\nattributes:\n  a: integer\n  b: enum[]\n  c: enum[x, x]\n  d: strin\n",
        );
        let codes: Vec<_> = diags.iter().map(|d| d.code).collect();
        assert_eq!(codes, vec![Some(Code::InvalidAttributeType); 4]);
        assert_eq!(diags[0].help.as_deref(), Some("did you mean `int`?"));
        assert_eq!(diags[3].help.as_deref(), Some("did you mean `string`?"));
    }

    #[test]
    fn version_must_be_one() {
        let (_, d) = read("version: 2\n");
        assert_eq!(d[0].code, Some(Code::UnsupportedVersion));
        let (_, d) = read("version: '1'\n");
        assert_eq!(d[0].code, Some(Code::InventoryTypeMismatch));
        let (_, d) = read("identities: []\n");
        assert_eq!(d[0].code, Some(Code::MissingField));
    }
}
