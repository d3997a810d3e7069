//! A [`Map`] as one self-contained HTML page: the graph as SVG (laid out by
//! [`crate::layout`]), search, hover details (rules, owners, conditions) and
//! the blast-radius view of a clicked node. No script, style or font is
//! fetched: everything is in the file, so it works offline.
//!
//! Every text from the policy or the inventory goes into the SVG escaped for
//! XML, and into the embedded data as JSON with `<`, `>` and `&` escaped, so
//! no name can end the script or add markup.

use crate::formats::edge_details;
use crate::layout::layout;
use crate::map::{Map, edge_caption, node_caption};
use serde_json::json;
use std::fmt::Write as _;

/// Escape for XML text and attribute values.
pub fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' => {}
            c => out.push(c),
        }
    }
    out
}

/// JSON safe inside `<script>`.
fn script_json(v: &serde_json::Value) -> String {
    serde_json::to_string(v)
        .unwrap_or_else(|_| "null".into())
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

fn text_width(s: &str) -> f64 {
    s.lines().map(|l| l.chars().count()).max().unwrap_or(0) as f64 * 7.2 + 24.0
}

/// The page.
pub fn page(map: &Map, title: &str) -> String {
    let captions: Vec<String> = map.nodes.iter().map(node_caption).collect();
    let widths: Vec<f64> = captions
        .iter()
        .map(|c| text_width(c).clamp(60.0, 260.0))
        .collect();
    let heights: Vec<f64> = captions
        .iter()
        .map(|c| 14.0 * c.lines().count().max(1) as f64 + 16.0)
        .collect();
    let index = |id: &str| map.nodes.iter().position(|n| n.id == id).unwrap_or(0);
    let pairs: Vec<(usize, usize)> = map
        .edges
        .iter()
        .map(|e| (index(&e.from), index(&e.to)))
        .collect();
    let l = layout(&widths, &heights, &pairs);

    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg id=\"graph\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {:.0} {:.0}\" width=\"{:.0}\" height=\"{:.0}\">",
        l.width.max(200.0),
        l.height.max(100.0),
        l.width.max(200.0),
        l.height.max(100.0)
    );
    svg.push_str("<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M 0 0 L 10 5 L 0 10 z\"/></marker></defs><g id=\"viewport\">");
    for (i, (e, pts)) in map.edges.iter().zip(&l.edges).enumerate() {
        let (s, t) = (pairs[i].0, pairs[i].1);
        let mut pts = pts.clone();
        // Leave the source by its right side, enter the target by its left.
        if s != t && pts.len() >= 2 {
            let (sx, sy, sw, _) = l.nodes[s];
            let (tx, ty, tw, _) = l.nodes[t];
            let n = pts.len();
            pts[0] = if sx <= tx {
                (sx + sw / 2.0, sy)
            } else {
                (sx - sw / 2.0, sy)
            };
            pts[n - 1] = if sx <= tx {
                (tx - tw / 2.0, ty)
            } else {
                (tx + tw / 2.0, ty)
            };
        }
        let d = path(&pts);
        let class = if e.kind == "denied" {
            "edge denied"
        } else {
            "edge"
        };
        let _ = write!(
            svg,
            "<path class=\"{class}\" data-i=\"{i}\" d=\"{d}\" marker-end=\"url(#arrow)\"/>"
        );
        let (mx, my) = midpoint(&pts);
        let _ = write!(
            svg,
            "<text class=\"elabel\" data-i=\"{i}\" x=\"{mx:.1}\" y=\"{:.1}\">{}</text>",
            my - 4.0,
            xml(&edge_caption(e))
        );
    }
    for (i, (n, caption)) in map.nodes.iter().zip(&captions).enumerate() {
        let (x, y, w, h) = l.nodes[i];
        let mut class = format!("node {}", n.kind);
        if n.critical {
            class.push_str(" critical");
        }
        if n.hop == Some(0) {
            class.push_str(" start");
        }
        let rx = if n.kind == "network" { h / 2.0 } else { 6.0 };
        let _ = write!(
            svg,
            "<g class=\"{class}\" data-i=\"{i}\"><rect x=\"{:.1}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"{h:.1}\" rx=\"{rx:.1}\"/>",
            x - w / 2.0,
            y - h / 2.0
        );
        let lines: Vec<&str> = caption.lines().collect();
        for (k, line) in lines.iter().enumerate() {
            let ty = y - (lines.len() as f64 - 1.0) * 7.0 + k as f64 * 14.0 + 4.0;
            let cls = if k == 0 { "name" } else { "sub" };
            let _ = write!(
                svg,
                "<text class=\"{cls}\" x=\"{x:.1}\" y=\"{ty:.1}\">{}</text>",
                xml(line)
            );
        }
        svg.push_str("<text class=\"badge\"></text></g>");
    }
    svg.push_str("</g></svg>");

    let data = json!({
        "nodes": map.nodes,
        "edges": map.edges.iter().map(|e| json!({
            "from": index(&e.from), "to": index(&e.to), "kind": e.kind,
            "caption": edge_caption(e), "details": edge_details(e),
        })).collect::<Vec<_>>(),
        "blast": map.blast,
        "assumptions": map.assumptions,
    });
    let mut html = String::with_capacity(svg.len() + 16_000);
    html.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    let _ = write!(html, "<title>{}</title>", xml(title));
    html.push_str(
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><style>",
    );
    html.push_str(STYLE);
    html.push_str("</style></head><body><header><h1>");
    html.push_str(&xml(title));
    let _ = write!(
        html,
        "</h1><input id=\"search\" type=\"search\" placeholder=\"search nodes and members\" autocomplete=\"off\"><span id=\"status\">{} nodes, {} edges — hover for details, click a node for its blast radius</span></header>",
        map.nodes.len(),
        map.edges.len()
    );
    let _ = write!(
        html,
        "<main id=\"canvas\">{svg}</main><div id=\"tip\" hidden></div>"
    );
    let _ = write!(
        html,
        "<footer>{}</footer><script type=\"application/json\" id=\"seg-data\">{}</script><script>",
        xml(&map.assumptions),
        script_json(&data)
    );
    html.push_str(SCRIPT);
    html.push_str("</script></body></html>\n");
    html
}

fn path(pts: &[(f64, f64)]) -> String {
    let mut d = String::new();
    if let Some(&(x, y)) = pts.first() {
        let _ = write!(d, "M {x:.1} {y:.1}");
    }
    for w in pts.windows(2) {
        let ((x0, y0), (x1, y1)) = (w[0], w[1]);
        let mx = (x0 + x1) / 2.0;
        let _ = write!(d, " C {mx:.1} {y0:.1} {mx:.1} {y1:.1} {x1:.1} {y1:.1}");
    }
    d
}

fn midpoint(pts: &[(f64, f64)]) -> (f64, f64) {
    match pts.len() {
        0 => (0.0, 0.0),
        n if n % 2 == 0 => {
            let (a, b) = (pts[n / 2 - 1], pts[n / 2]);
            ((a.0 + b.0) / 2.0, (a.1 + b.1) / 2.0)
        }
        n => pts[n / 2],
    }
}

const STYLE: &str = r#"
body{margin:0;font:13px/1.4 system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;color:#1d1d1f;background:#fafafa}
header{display:flex;gap:12px;align-items:center;padding:8px 14px;background:#fff;border-bottom:1px solid #ddd;position:sticky;top:0;z-index:2}
h1{font-size:15px;margin:0}
#search{flex:0 0 260px;padding:4px 8px;border:1px solid #bbb;border-radius:4px}
#status{color:#555}
#canvas{overflow:auto;height:calc(100vh - 90px);cursor:grab}
footer{padding:4px 14px;color:#666;font-size:11px;border-top:1px solid #ddd;background:#fff}
svg text{font-size:12px;text-anchor:middle;pointer-events:none}
.node rect{fill:#fff;stroke:#4a6fa5;stroke-width:1.5}
.node.network rect{fill:#f3f7ee;stroke:#5b8a3c}
.node.other rect{stroke-dasharray:4 3}
.node.critical rect{stroke:#b00020;stroke-width:3}
.node.start rect{fill:#ffe0e0}
.node{cursor:pointer}
.node text.sub{fill:#666;font-size:11px}
.node text.hop,.node text.badge{fill:#b00020;font-size:10px;text-anchor:end}
.edge{fill:none;stroke:#8a9bb3;stroke-width:1.4}
.edge.denied{stroke:#b00020;stroke-dasharray:5 4}
marker path{fill:#8a9bb3}
.elabel{fill:#444;font-size:10px}
.dim{opacity:.15}
.hit rect{stroke:#e08a00;stroke-width:3}
.reached rect{fill:#fff4e0}
.origin rect{fill:#ffd6d6}
#tip{position:fixed;max-width:460px;background:#222;color:#fff;padding:8px 10px;border-radius:4px;font-size:12px;white-space:pre-wrap;pointer-events:none;z-index:3}
"#;

const SCRIPT: &str = r#"
(function(){
  "use strict";
  var errors = 0;
  window.addEventListener("error", function(){ errors++; document.body.dataset.errors = String(errors); });
  var data = JSON.parse(document.getElementById("seg-data").textContent);
  var svg = document.getElementById("graph");
  var nodes = Array.prototype.slice.call(svg.querySelectorAll("g.node"));
  var edges = Array.prototype.slice.call(svg.querySelectorAll("path.edge"));
  var labels = Array.prototype.slice.call(svg.querySelectorAll("text.elabel"));
  var tip = document.getElementById("tip");
  var status = document.getElementById("status");
  var selected = -1;
  function show(text, ev){ tip.textContent = text; tip.hidden = false; move(ev); }
  function move(ev){ tip.style.left = (ev.clientX + 14) + "px"; tip.style.top = (ev.clientY + 14) + "px"; }
  function hide(){ tip.hidden = true; }
  function nodeText(n){
    var lines = [n.label + " (" + n.kind + ")"];
    if (n.kind !== "network") lines.push(n.members + (n.members === 1 ? " identity" : " identities"));
    if (n.file) lines.push("defined at " + n.file + ":" + n.line);
    if (n.doc) lines.push(n.doc);
    if (n.owner) lines.push("owner " + n.owner);
    if (n.critical) lines.push("holds a critical identity");
    if (n.hop !== null && n.hop !== undefined) lines.push(n.hop === 0 ? "start" : "reached at hop " + n.hop);
    if (n.names && n.names.length) lines.push((n.kind === "network" ? "addresses: " : "members: ") + n.names.join(", ") + (n.members > n.names.length ? ", …" : ""));
    return lines.join("\n");
  }
  function edgeText(e){
    var a = data.nodes[e.from].label, b = data.nodes[e.to].label;
    return (e.kind === "denied" ? "DENIED " : "") + a + " → " + b + "\n" + e.details;
  }
  nodes.forEach(function(g){
    var i = +g.dataset.i;
    g.addEventListener("mouseenter", function(ev){ show(nodeText(data.nodes[i]), ev); });
    g.addEventListener("mousemove", move);
    g.addEventListener("mouseleave", hide);
    g.addEventListener("click", function(ev){ ev.stopPropagation(); blast(i); });
  });
  edges.forEach(function(p){
    var i = +p.dataset.i;
    p.addEventListener("mouseenter", function(ev){ show(edgeText(data.edges[i]), ev); });
    p.addEventListener("mousemove", move);
    p.addEventListener("mouseleave", hide);
  });
  function reset(){
    selected = -1;
    nodes.forEach(function(g){ g.classList.remove("dim","reached","origin","hit"); g.querySelector("text.badge").textContent = ""; });
    edges.forEach(function(p){ p.classList.remove("dim"); });
    labels.forEach(function(t){ t.classList.remove("dim"); });
    status.textContent = data.nodes.length + " nodes, " + data.edges.length + " edges — hover for details, click a node for its blast radius";
  }
  function blast(i){
    if (selected === i) { reset(); return; }
    reset();
    selected = i;
    var reach = {}; var count = 0;
    (data.blast[i] || []).forEach(function(p){ reach[p[0]] = p[1]; count++; });
    nodes.forEach(function(g){
      var k = +g.dataset.i;
      var badge = g.querySelector("text.badge");
      if (k === i) { g.classList.add("origin"); }
      else if (k in reach) { g.classList.add("reached"); badge.textContent = "hop " + reach[k]; }
      else { g.classList.add("dim"); }
      if (k in reach && k !== i) {
        var b = g.querySelector("rect");
        badge.setAttribute("x", String(+b.getAttribute("x") + +b.getAttribute("width") - 4));
        badge.setAttribute("y", String(+b.getAttribute("y") - 3));
      }
    });
    edges.forEach(function(p, k){
      var e = data.edges[k];
      var on = (e.from === i || e.from in reach) && (e.to in reach) && e.kind !== "denied";
      p.classList.toggle("dim", !on); labels[k].classList.toggle("dim", !on);
    });
    status.textContent = "blast radius of " + data.nodes[i].label + ": " + count + " nodes reached (click it again to reset)";
  }
  document.getElementById("canvas").addEventListener("click", reset);
  document.getElementById("search").addEventListener("input", function(ev){
    var q = ev.target.value.trim().toLowerCase();
    var hits = 0;
    nodes.forEach(function(g){
      var n = data.nodes[+g.dataset.i];
      var hay = (n.label + " " + (n.names || []).join(" ")).toLowerCase();
      var hit = q !== "" && hay.indexOf(q) >= 0;
      g.classList.toggle("hit", hit);
      g.classList.toggle("dim", q !== "" && !hit);
      if (hit) hits++;
    });
    status.textContent = q === "" ? status.textContent : hits + " nodes match";
    if (hits > 0) { var first = svg.querySelector("g.node.hit"); if (first && first.scrollIntoView) first.scrollIntoView({block:"center", inline:"center"}); }
  });
  document.body.dataset.nodes = String(nodes.length);
  document.body.dataset.edges = String(edges.length);
  document.body.dataset.ready = "1";
})();
"#;
