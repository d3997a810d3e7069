//! A [`Map`] as Graphviz DOT, Mermaid and JSON, and the limits past which a
//! format is refused rather than emitted unreadable.

use crate::map::{Map, MapEdge, MapNode, edge_caption, node_caption};
use std::fmt::Write as _;

/// Mermaid renders at most this many edges by default (`maxEdges`).
pub const MERMAID_MAX_EDGES: usize = 500;
/// Mermaid refuses diagrams longer than this by default (`maxTextSize`).
pub const MERMAID_MAX_TEXT: usize = 50_000;
/// A Mermaid diagram of more nodes is not readable.
pub const MERMAID_MAX_NODES: usize = 300;
/// The HTML page lays the graph out itself; past this it is not readable.
pub const HTML_MAX_NODES: usize = 1_500;
pub const HTML_MAX_EDGES: usize = 15_000;
/// DOT and JSON are for tools; past this they are too large to be of use.
pub const TOOL_MAX_EDGES: usize = 2_000_000;

/// A string as a DOT quoted ID: backslash and quote escaped, line breaks as
/// DOT's `\n`, other control characters dropped.
pub fn dot_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `digraph` with one statement per node and per edge; denied edges dashed red.
pub fn dot(map: &Map) -> String {
    let mut s = String::from(
        "digraph seg {\n  rankdir=LR;\n  node [shape=box, style=rounded, fontname=\"Helvetica\"];\n  edge [fontname=\"Helvetica\", fontsize=10];\n",
    );
    for n in &map.nodes {
        let shape = match n.kind {
            "network" => ", shape=ellipse",
            _ => "",
        };
        let mut attrs = format!("label={}{shape}", dot_string(&node_caption(n)));
        if n.critical {
            attrs.push_str(", color=\"#b00020\", penwidth=2");
        }
        if n.hop == Some(0) {
            attrs.push_str(", style=\"rounded,filled\", fillcolor=\"#ffe0e0\"");
        }
        if let Some(tip) = tooltip(n) {
            let _ = write!(attrs, ", tooltip={}", dot_string(&tip));
        }
        let _ = writeln!(s, "  {} [{attrs}];", n.id);
    }
    for e in &map.edges {
        let style = if e.kind == "denied" {
            ", style=dashed, color=\"#b00020\", fontcolor=\"#b00020\""
        } else {
            ""
        };
        let _ = writeln!(
            s,
            "  {} -> {} [label={}{style}];",
            e.from,
            e.to,
            dot_string(&edge_caption(e))
        );
    }
    s.push_str("}\n");
    s
}

fn tooltip(n: &MapNode) -> Option<String> {
    let mut parts = Vec::new();
    if let (Some(f), Some(l)) = (&n.file, n.line) {
        parts.push(format!("{f}:{l}"));
    }
    if !n.names.is_empty() {
        parts.push(n.names.join(", "));
    }
    (!parts.is_empty()).then(|| parts.join("\n"))
}

/// Text for inside a Mermaid `"..."` label: every character but ASCII
/// letters, digits, space and `.,/:_()+=*@-` written as an entity code
/// (`#35;`), so no input can end the label, start an entity or add markup.
pub fn mermaid_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || " .,/:_()+=*@-".contains(c) {
            out.push(c);
        } else if c == '\n' {
            out.push_str("<br/>");
        } else if c.is_control() {
            continue;
        } else {
            let _ = write!(out, "#{};", u32::from(c));
        }
    }
    out
}

/// `flowchart LR` with one line per node and per edge; denied edges dotted.
pub fn mermaid(map: &Map) -> String {
    let mut s = String::from("flowchart LR\n");
    for n in &map.nodes {
        let text = mermaid_text(&node_caption(n));
        let _ = match n.kind {
            "network" => writeln!(s, "  {}([\"{text}\"])", n.id),
            _ => writeln!(s, "  {}[\"{text}\"]", n.id),
        };
    }
    for (i, e) in map.edges.iter().enumerate() {
        let text = mermaid_text(&edge_caption(e));
        let arrow = if e.kind == "denied" { "-.->" } else { "-->" };
        let _ = writeln!(s, "  {} {arrow}|\"{text}\"| {}", e.from, e.to);
        if e.kind == "denied" {
            let _ = writeln!(s, "  linkStyle {i} stroke:#b00020,color:#b00020");
        }
    }
    for n in map.nodes.iter().filter(|n| n.critical) {
        let _ = writeln!(s, "  style {} stroke:#b00020,stroke-width:3px", n.id);
    }
    s
}

/// The map as one JSON document.
pub fn json(map: &Map) -> String {
    let mut s = serde_json::to_string_pretty(map).unwrap_or_default();
    s.push('\n');
    s
}

/// Why a format refuses a map of this size, if it does.
pub fn refusal(format: &str, nodes: usize, edges: usize) -> Option<String> {
    let too_big = match format {
        "mermaid" => nodes > MERMAID_MAX_NODES || edges > MERMAID_MAX_EDGES,
        "html" => nodes > HTML_MAX_NODES || edges > HTML_MAX_EDGES,
        _ => edges > TOOL_MAX_EDGES,
    };
    if !too_big {
        return None;
    }
    let why = match format {
        "mermaid" => format!(
            "Mermaid renders at most {MERMAID_MAX_EDGES} edges and {MERMAID_MAX_TEXT} characters by default, and {MERMAID_MAX_NODES} nodes is already more than a reader can follow"
        ),
        "html" => format!(
            "the page lays out at most {HTML_MAX_NODES} nodes and {HTML_MAX_EDGES} edges readably"
        ),
        _ => format!("more than {TOOL_MAX_EDGES} edges is more than a tool can use"),
    };
    Some(format!(
        "the graph has {nodes} nodes and {edges} edges: {why}"
    ))
}

/// The label an edge's hover shows: rules with `file:line`, owner, condition.
pub fn edge_details(e: &MapEdge) -> String {
    let mut lines = vec![format!("on {}", e.ports)];
    for r in &e.rules {
        let mut l = format!("{} at {}:{}", r.rule, r.file, r.line);
        if let Some(o) = &r.owner {
            let _ = write!(l, ", owner {o}");
        }
        if let Some(c) = &r.condition {
            let _ = write!(l, ", when {c}");
        }
        lines.push(l);
    }
    if let Some(c) = &e.carved {
        let by: Vec<String> = e
            .carved_by
            .iter()
            .map(|r| format!("{} at {}:{}", r.rule, r.file, r.line))
            .collect();
        lines.push(format!("denied: {c} by {}", by.join(", ")));
    }
    lines.join("\n")
}
