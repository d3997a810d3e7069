//! `seg graph` checked by the tools that read its output: Graphviz `dot`
//! renders the DOT and reports the same nodes and edges as the JSON; the
//! Mermaid parser (npm `mermaid`, `tests/node/mermaid/`) parses the Mermaid
//! and counts the same; headless Chromium opens the HTML page, which must
//! report no console error, draw the JSON's nodes and edges as SVG, and be
//! screenshotted. Missing tools skip a test with a message, and fail it under
//! `CI=true` (`scripts/install-test-deps` installs them: Debian `graphviz` and
//! `chromium` from `scripts/apt/graph.txt`, npm from the lock file).

use seg_tests::tools;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const NOW: &str = "2026-11-24T00:00:00Z";

fn repo() -> PathBuf {
    tools::repo()
}

fn seg(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_seg-cli"))
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("SOURCE_DATE_EPOCH")
        .current_dir(repo())
        // These run in the source tree: no compiled-program cache is left
        // there (reach_cache.rs tests the cache in a copy).
        .env("SEG_NO_CACHE", "1")
        .output()
        .expect("run seg")
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A project whose names carry quotes, markup and DOT/Mermaid syntax, with
/// a chain of hops, a deny carving an allow and one taking a whole hop.
fn hostile_project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path();
    fs::create_dir(p.join("policy")).expect("mkdir");
    fs::write(
        p.join("seg.toml"),
        "[project]\nname = \"graph\"\n\n[reach]\ncritical = 'tier == 0'\n",
    )
    .expect("toml");
    let names = [
        ("gate\"way", 2, "10.0.0.1"),
        ("api</script><b>x</b>", 1, "10.0.1.1"),
        ("ledger-db", 0, "10.0.2.1"),
        ("a -> b [label=x]; c", 1, "10.0.3.1"),
        ("#quot; |pipe| end", 1, "10.0.4.1"),
    ];
    let mut inv = String::from("version: 1\nattributes:\n  tier: int\nidentities:\n");
    for (n, tier, addr) in names {
        inv += &format!(
            "  - name: {}\n    kind: workload\n    owner: {}\n    attributes: {{ tier: {tier} }}\n    addresses: [{addr}/32]\n",
            serde_json::to_string(n).expect("json"),
            serde_json::to_string(&format!("team <&> {n}")).expect("json")
        );
    }
    fs::write(p.join("inventory.yaml"), inv).expect("inventory");
    fs::write(
        p.join("policy/main.seg"),
        r##"segment partners = network 203.0.113.0/24
/// The edge: "quoted" <b>doc</b>
segment edge = ["gate\"way"]
segment core = ["api</script><b>x</b>", "a -> b [label=x]; c"]
service weird = tcp/7000

policy p {
  owner "o\"wner <i>"
  allow partners -> edge on tcp/443
  allow edge -> core on tcp/8443, weird when mtls
  allow core -> "ledger-db" on tcp/5432, tcp/22
  deny core -> "ledger-db" on tcp/22
  allow "#quot; |pipe| end" -> edge on tcp/9000
  deny "#quot; |pipe| end" -> edge on tcp/9000
}
"##,
    )
    .expect("policy");
    dir
}

/// A generated estate of six teams (seg-gen: 1,500 identities, 300 rules).
fn generated() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = seg_gen::Spec {
        identities: 1500,
        rules: 300,
        seed: 1,
    };
    seg_gen::generate(&spec)
        .write(dir.path())
        .expect("write estate");
    dir
}

fn graph(project: &Path, format: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "graph",
        project.to_str().expect("utf-8"),
        "--now",
        NOW,
        "--format",
        format,
    ];
    args.extend(extra);
    seg(&args)
}

fn counts(project: &Path, extra: &[&str]) -> (serde_json::Value, usize, usize) {
    let o = graph(project, "json", extra);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let nodes = v["nodes"].as_array().map_or(0, Vec::len);
    let edges = v["edges"].as_array().map_or(0, Vec::len);
    (v, nodes, edges)
}

/// The requests every format is checked on, per project; identity nodes
/// only on small projects (one segment's neighbourhood in a generated
/// estate is hundreds of identities and hundreds of thousands of edges).
fn requests(small: bool, from: &str, segment: &str) -> Vec<Vec<String>> {
    let mut v = vec![
        vec![],
        vec!["--from".into(), from.into()],
        vec!["--from".into(), from.into(), "--hops".into(), "1".into()],
        vec!["--segment".into(), segment.into()],
    ];
    if small {
        v.push(vec![
            "--identities".into(),
            "--segment".into(),
            segment.into(),
        ]);
        v.push(vec!["--identities".into()]);
    }
    v
}

#[test]
fn dot_renders_in_graphviz_with_the_json_counts() {
    let Some(dot) = tools::system_tool("dot") else {
        return;
    };
    let hostile = hostile_project();
    let estate = generated();
    let cases = [
        (hostile.path(), true, "gate\"way", "core"),
        (estate.path(), false, "payments-api-1", "payments-prod"),
        (
            &repo().join("examples/bank"),
            true,
            "payments-api",
            "payments",
        ),
    ];
    let mut checked = 0;
    for (project, small, from, segment) in cases {
        for req in requests(small, from, segment) {
            let extra: Vec<&str> = req.iter().map(String::as_str).collect();
            let (_, nodes, edges) = counts(project, &extra);
            let o = graph(project, "dot", &extra);
            assert_eq!(o.status.code(), Some(0), "{extra:?}: {}", err(&o));
            let file = tempfile::NamedTempFile::new().expect("tmp");
            fs::write(file.path(), &o.stdout).expect("write");
            let r = Command::new(&dot)
                .arg("-Tjson")
                .arg(file.path())
                .output()
                .expect("dot");
            assert!(
                r.status.success() && r.stderr.is_empty(),
                "{extra:?}: dot: {}",
                err(&r)
            );
            let v: serde_json::Value = serde_json::from_slice(&r.stdout).expect("dot json");
            let drawn_nodes = v["objects"].as_array().map_or(0, Vec::len);
            let drawn_edges = v["edges"].as_array().map_or(0, Vec::len);
            assert_eq!(
                (drawn_nodes, drawn_edges),
                (nodes, edges),
                "{}: {extra:?}",
                project.display()
            );
            let svg = Command::new(&dot)
                .arg("-Tsvg")
                .arg(file.path())
                .output()
                .expect("dot");
            assert!(
                svg.status.success() && svg.stderr.is_empty(),
                "{}",
                err(&svg)
            );
            checked += 1;
        }
    }
    // The generated estate draws a real map: several nodes and edges.
    let (_, nodes, edges) = counts(estate.path(), &[]);
    assert!(nodes >= 20 && edges >= 20, "{nodes} nodes, {edges} edges");
    eprintln!("dot: {checked} graphs rendered");
}

#[test]
fn mermaid_parses_with_the_json_counts() {
    let Some(mut node) = tools::node_script("mermaid", "parse.mjs") else {
        return;
    };
    let hostile = hostile_project();
    let cases = [
        (hostile.path().to_path_buf(), "gate\"way", "core"),
        (repo().join("examples/bank"), "payments-api", "payments"),
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    let mut files = Vec::new();
    let mut want = Vec::new();
    for (k, (project, from, segment)) in cases.iter().enumerate() {
        for (r, req) in requests(true, from, segment).iter().enumerate() {
            let extra: Vec<&str> = req.iter().map(String::as_str).collect();
            let (_, nodes, edges) = counts(project, &extra);
            let o = graph(project, "mermaid", &extra);
            assert_eq!(o.status.code(), Some(0), "{extra:?}: {}", err(&o));
            let f = dir.path().join(format!("{k}-{r}.mmd"));
            fs::write(&f, &o.stdout).expect("write");
            files.push(f);
            want.push((nodes, edges));
        }
    }
    let o = node.args(&files).output().expect("node");
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "{text}{}", err(&o));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), files.len(), "{text}");
    for (line, (nodes, edges)) in lines.iter().zip(want) {
        let parts: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(parts[0], "ok", "{line}");
        assert!(parts[2].starts_with("flowchart"), "{line}");
        assert_eq!(parts[3].parse::<usize>().ok(), Some(nodes), "{line}");
        assert_eq!(parts[4].parse::<usize>().ok(), Some(edges), "{line}");
    }
}

/// Chromium headless with the flags that work on this machine, a fresh profile.
fn chromium_run(browser: &Path, args: &[String]) -> Output {
    let profile = tempfile::tempdir().expect("profile");
    Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .output()
        .expect("run chromium")
}

fn attribute(dom: &str, name: &str) -> Option<String> {
    let key = format!("{name}=\"");
    let at = dom.find(&key)? + key.len();
    Some(dom[at..].split('"').next()?.to_string())
}

#[test]
fn html_opens_in_chromium_without_errors_and_draws_the_json() {
    let Some(browser) = tools::system_tool("chromium") else {
        return;
    };
    let hostile = hostile_project();
    let cases = [
        (hostile.path().to_path_buf(), vec![]),
        (hostile.path().to_path_buf(), vec!["--from", "partners"]),
        (repo().join("examples/bank"), vec![]),
    ];
    let out = tempfile::tempdir().expect("out");
    for (k, (project, extra)) in cases.iter().enumerate() {
        let (json, nodes, edges) = counts(project, extra);
        let page = out.path().join(format!("graph-{k}.html"));
        let mut args = extra.clone();
        let page_arg = page.to_str().expect("utf-8").to_string();
        args.extend(["-o", page_arg.as_str()]);
        let o = graph(project, "html", &args);
        assert_eq!(o.status.code(), Some(0), "{}", err(&o));
        let html = fs::read_to_string(&page).expect("page");
        // Self-contained: nothing is fetched at view time.
        for needle in ["<link", " src=", "@import", "url(http", "fetch("] {
            assert!(!html.contains(needle), "the page refers to `{needle}`");
        }
        let o = chromium_run(
            &browser,
            &["--dump-dom".into(), format!("file://{}", page.display())],
        );
        let dom = String::from_utf8_lossy(&o.stdout).into_owned();
        let stderr = err(&o);
        let console: Vec<&str> = stderr.lines().filter(|l| l.contains("CONSOLE")).collect();
        assert!(console.is_empty(), "console messages: {console:?}");
        assert_eq!(
            attribute(&dom, "data-ready").as_deref(),
            Some("1"),
            "the page's script did not finish"
        );
        assert_eq!(
            attribute(&dom, "data-errors"),
            None,
            "the page reported errors"
        );
        assert_eq!(
            attribute(&dom, "data-nodes").and_then(|n| n.parse().ok()),
            Some(nodes)
        );
        assert_eq!(
            attribute(&dom, "data-edges").and_then(|n| n.parse().ok()),
            Some(edges)
        );
        assert_eq!(dom.matches("<g class=\"node").count(), nodes, "SVG nodes");
        assert_eq!(
            dom.matches("<path class=\"edge").count(),
            edges,
            "SVG edges"
        );
        // Names are text, never markup.
        assert!(
            !dom.contains("<b>x</b>") && !dom.contains("<i>"),
            "a name became markup"
        );
        if k == 0 {
            assert!(
                json["edges"]
                    .as_array()
                    .expect("edges")
                    .iter()
                    .any(|e| e["kind"] == "denied")
            );
            assert!(dom.contains("class=\"edge denied\""));
        }
        let shot = out.path().join(format!("graph-{k}.png"));
        let o = chromium_run(
            &browser,
            &[
                format!("--screenshot={}", shot.display()),
                "--window-size=1280,900".into(),
                format!("file://{}", page.display()),
            ],
        );
        let png = fs::read(&shot).unwrap_or_default();
        assert!(
            png.starts_with(b"\x89PNG") && png.len() > 2_000,
            "no screenshot: {}",
            err(&o)
        );
    }
    if let Ok(keep) = std::env::var("SEG_GRAPH_KEEP") {
        let _ = fs::create_dir_all(&keep);
        for e in fs::read_dir(out.path()).expect("out").flatten() {
            let _ = fs::copy(e.path(), Path::new(&keep).join(e.file_name()));
        }
    }
}

#[test]
fn graph_refuses_what_a_format_cannot_show() {
    // 50,000 identities as Mermaid nodes: refused with the reason and the flags that narrow it.
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path();
    fs::create_dir(p.join("policy")).expect("mkdir");
    fs::write(p.join("seg.toml"), "[project]\nname = \"big\"\n").expect("toml");
    let mut inv = String::with_capacity(50_000 * 60);
    inv.push_str("version: 1\nidentities:\n");
    for i in 0..50_000u32 {
        inv.push_str(&format!(
            "  - {{ name: w{i}, kind: workload, addresses: [10.{}.{}.{}/32] }}\n",
            i >> 16,
            (i >> 8) & 255,
            i & 255
        ));
    }
    fs::write(p.join("inventory.yaml"), inv).expect("inventory");
    fs::write(p.join("policy/main.seg"), "segment all = identities where kind == workload\npolicy p {\n  owner \"o\"\n  allow all -> all on tcp/443\n}\n").expect("policy");
    let o = graph(p, "mermaid", &["--identities"]);
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    let e = err(&o);
    assert!(
        e.contains("refusing to draw this graph as `mermaid`"),
        "{e}"
    );
    assert!(e.contains("50000 nodes"), "{e}");
    assert!(e.contains("Mermaid renders at most 500 edges"), "{e}");
    assert!(
        e.contains("--segment S")
            && e.contains("--from IDENTITY --hops N")
            && e.contains("--identities"),
        "{e}"
    );
    assert!(o.stdout.is_empty(), "nothing half-written");
    // By segment the same estate is one node: fine.
    let o = graph(p, "mermaid", &[]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));

    let hostile = hostile_project();
    let bad: [(&[&str], &str); 3] = [
        (&["--segment", "cor"], "did you mean `core`?"),
        (&["--from", "gatway"], "did you mean"),
        (&["--target", "iptablse"], "did you mean `iptables`?"),
    ];
    for (extra, want) in bad {
        let o = graph(hostile.path(), "dot", extra);
        assert_eq!(o.status.code(), Some(2), "{extra:?}");
        assert!(err(&o).contains(want), "{extra:?}: {}", err(&o));
        assert!(o.stdout.is_empty());
    }
    let o = seg(&[
        "graph",
        hostile.path().to_str().expect("utf-8"),
        "--hops",
        "2",
    ]);
    assert_eq!(o.status.code(), Some(2), "--hops needs --from");
    // --manifest-path names the project as PATH does.
    let manifest = hostile.path().join("seg.toml");
    let by_manifest = seg(&[
        "graph",
        "--manifest-path",
        manifest.to_str().expect("utf-8"),
        "--now",
        NOW,
        "--format",
        "json",
    ]);
    assert_eq!(by_manifest.status.code(), Some(0), "{}", err(&by_manifest));
    assert_eq!(
        by_manifest.stdout,
        graph(hostile.path(), "json", &[]).stdout
    );
    // -o replaces a file whole, and leaves it untouched on error.
    let target = hostile.path().join("g.dot");
    fs::write(&target, "before").expect("write");
    let o = graph(
        hostile.path(),
        "dot",
        &["--segment", "nope", "-o", target.to_str().expect("utf-8")],
    );
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(fs::read_to_string(&target).expect("read"), "before");
    let o = graph(
        hostile.path(),
        "dot",
        &["-o", target.to_str().expect("utf-8")],
    );
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    assert!(
        fs::read_to_string(&target)
            .expect("read")
            .starts_with("digraph seg {")
    );
}

/// Drives the page as a user would (the test's own script, appended to a
/// copy): hovers a node and an edge, clicks a node, searches. Results come
/// back through the DOM Chromium dumps, percent-encoded JSON.
const PROBE: &str = r#"<script>
(function(){
  var out = {};
  var data = JSON.parse(document.getElementById("seg-data").textContent);
  var tip = document.getElementById("tip");
  var status = document.getElementById("status");
  var nodes = Array.prototype.slice.call(document.querySelectorAll("g.node"));
  var edges = Array.prototype.slice.call(document.querySelectorAll("path.edge"));
  function fire(el, type){ el.dispatchEvent(new MouseEvent(type, {bubbles: type === "click", clientX: 20, clientY: 20})); }
  function label(g){ return data.nodes[+g.dataset.i].label; }
  var g = nodes.filter(function(n){ return label(n) === PROBE_NODE; })[0];
  fire(g, "mouseenter"); out.node_tip = tip.hidden ? null : tip.textContent; fire(g, "mouseleave");
  out.tip_hidden_after = tip.hidden;
  var e = edges.filter(function(p){ var d = data.edges[+p.dataset.i]; return data.nodes[d.from].label === PROBE_NODE && d.kind !== "denied"; })[0];
  fire(e, "mouseenter"); out.edge_tip = tip.hidden ? null : tip.textContent; fire(e, "mouseleave");
  fire(g, "click");
  out.status = status.textContent;
  out.origin = nodes.filter(function(n){ return n.classList.contains("origin"); }).map(label);
  out.reached = nodes.filter(function(n){ return n.classList.contains("reached"); }).map(function(n){ return [label(n), n.querySelector("text.badge").textContent]; });
  out.dimmed = nodes.filter(function(n){ return n.classList.contains("dim"); }).map(label);
  fire(g, "click");
  out.after_reset = nodes.filter(function(n){ return n.classList.contains("dim") || n.classList.contains("reached"); }).length;
  var s = document.getElementById("search");
  s.value = PROBE_SEARCH; s.dispatchEvent(new Event("input"));
  out.hits = nodes.filter(function(n){ return n.classList.contains("hit"); }).map(label);
  document.body.dataset.probe = encodeURIComponent(JSON.stringify(out));
})();
</script>"#;

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let Some(v) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn html_hover_click_and_search_work_in_chromium() {
    let Some(browser) = tools::system_tool("chromium") else {
        return;
    };
    let hostile = hostile_project();
    let project = hostile.path();
    let out = tempfile::tempdir().expect("out");
    let page = out.path().join("graph.html");
    let o = graph(project, "html", &["-o", page.to_str().expect("utf-8")]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let html = fs::read_to_string(&page).expect("page");
    let probe = PROBE
        .replace("PROBE_NODE", "\"edge\"")
        .replace("PROBE_SEARCH", "\"ledger\"");
    let probed = out.path().join("probed.html");
    fs::write(&probed, html.replace("</body>", &format!("{probe}</body>"))).expect("write");
    let o = chromium_run(
        &browser,
        &["--dump-dom".into(), format!("file://{}", probed.display())],
    );
    let dom = String::from_utf8_lossy(&o.stdout).into_owned();
    let console: Vec<String> = err(&o)
        .lines()
        .filter(|l| l.contains("CONSOLE"))
        .map(str::to_string)
        .collect();
    assert!(console.is_empty(), "console messages: {console:?}");
    let raw = attribute(&dom, "data-probe").expect("the probe did not run");
    let v: serde_json::Value = serde_json::from_str(&percent_decode(&raw)).expect("probe json");

    // Hover on a node: its definition, doc (as text) and members.
    let tip = v["node_tip"].as_str().expect("node tooltip");
    for want in [
        "edge (segment)",
        "defined at policy/main.seg:3",
        "The edge: \"quoted\" <b>doc</b>",
        "members: gate\"way",
    ] {
        assert!(tip.contains(want), "node tooltip lacks {want:?}: {tip}");
    }
    assert_eq!(v["tip_hidden_after"], true);
    // Hover on an edge: the rule, its file:line, owner and condition.
    let tip = v["edge_tip"].as_str().expect("edge tooltip");
    for want in [
        "edge → core",
        "on tcp/7000, tcp/8443",
        "p/2 at policy/main.seg:10",
        "owner o\"wner <i>",
        "when mtls",
    ] {
        assert!(tip.contains(want), "edge tooltip lacks {want:?}: {tip}");
    }

    // Click: the blast radius of the node is what `seg graph --from` draws.
    let (from, _, _) = counts(project, &["--from", "edge"]);
    let mut want: Vec<(String, String)> = from["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter(|n| n["hop"].as_u64().is_some_and(|h| h > 0))
        .map(|n| {
            (
                n["label"].as_str().expect("label").to_string(),
                format!("hop {}", n["hop"]),
            )
        })
        .collect();
    want.sort();
    let mut got: Vec<(String, String)> = v["reached"]
        .as_array()
        .expect("reached")
        .iter()
        .map(|p| {
            (
                p[0].as_str().expect("label").to_string(),
                p[1].as_str().expect("badge").to_string(),
            )
        })
        .collect();
    got.sort();
    assert!(!want.is_empty(), "the hostile project reaches from edge");
    assert_eq!(got, want, "the clicked node's blast radius");
    assert_eq!(v["origin"], serde_json::json!(["edge"]));
    assert!(
        v["status"]
            .as_str()
            .is_some_and(|s| s.starts_with("blast radius of edge:")),
        "{}",
        v["status"]
    );
    // Nodes not reached are dimmed (the partners network and the lone sender).
    assert!(v["dimmed"].as_array().is_some_and(|d| !d.is_empty()), "{v}");
    // A second click resets the view.
    assert_eq!(v["after_reset"], 0);
    // Search finds a node by a member's name.
    let hits = v["hits"].as_array().expect("hits");
    assert!(!hits.is_empty(), "{v}");
}
