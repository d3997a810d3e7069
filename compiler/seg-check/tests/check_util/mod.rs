//! Helpers for the checker tests: parse sources, load an inventory, run
//! `seg_check::check`, and render input and output the way snapshots show them.

#![allow(dead_code)]

use seg_check::{CheckInput, Unit, check, inventory};
use seg_diag::{ColorChoice, Diagnostic, Diagnostics, SourceMap, render_human};
use seg_ir::{Program, Timestamp};
use std::fmt::Write;

pub const NOW: &str = "2026-11-24T00:00:00Z";

pub fn now() -> Timestamp {
    Timestamp::parse(NOW).expect("valid timestamp")
}

/// Standard-library modules: `(module, file name, source)`.
pub fn stdlib() -> Vec<(String, String, String)> {
    seg_stdlib::MODULES
        .iter()
        .map(|m| {
            (
                m.path.to_string(),
                m.file_name.to_string(),
                m.source.to_string(),
            )
        })
        .collect()
}

pub struct Outcome {
    pub map: SourceMap,
    pub diags: Vec<Diagnostic>,
    pub program: Option<Program>,
}

impl Outcome {
    pub fn codes(&self) -> Vec<&'static str> {
        self.diags
            .iter()
            .filter_map(|d| d.code.map(|c| c.as_str()))
            .collect()
    }

    pub fn rendered(&self) -> String {
        render_human(&self.map, &self.diags, ColorChoice::Never)
    }

    pub fn program(&self) -> &Program {
        self.program
            .as_ref()
            .unwrap_or_else(|| panic!("expected a program, got:\n{}", self.rendered()))
    }
}

/// Check project files (`(path, text)`) against an inventory, at [`NOW`].
pub fn run(inventory_yaml: &str, files: &[(&str, &str)]) -> Outcome {
    run_at(inventory_yaml, files, now())
}

pub fn run_at(inventory_yaml: &str, files: &[(&str, &str)], now: Timestamp) -> Outcome {
    let mut map = SourceMap::new();
    let mut diags = Diagnostics::new();
    let inv_id = map.add("inventory.yaml", inventory_yaml);
    let inventory = inventory::load(
        &[(inv_id, inventory_yaml)],
        &seg_ir::Now::new(now),
        &mut diags,
    )
    .expect("test inventory loads");
    let mut units = Vec::new();
    for (module, name, source) in stdlib() {
        let file = map.add(name.clone(), source.clone());
        let ast = seg_syntax::parse(file, &source).expect("stdlib parses");
        units.push(Unit {
            file,
            path: name,
            module: Some(module),
            ast: ast.into(),
        });
    }
    for (path, text) in files {
        let file = map.add(*path, *text);
        match seg_syntax::parse(file, text) {
            Ok(ast) => units.push(Unit {
                file,
                path: path.to_string(),
                module: None,
                ast: ast.into(),
            }),
            Err(d) => panic!(
                "test source does not parse:\n{}",
                render_human(&map, &[d], ColorChoice::Never)
            ),
        }
    }
    // Inventory warnings are not what these tests look at.
    let mut diags = Diagnostics::new();
    let input = CheckInput {
        units: &units,
        inventory: &inventory,
        map: &map,
        project: "test",
        source_hash: "0",
        now: &seg_ir::Now::new(now),
        jit: None,
    };
    let program = check(&input, &mut diags);
    diags.sort();
    Outcome {
        map,
        diags: diags.into_vec(),
        program,
    }
}

/// `----- SOURCE` then `----- DIAGNOSTICS`, as the snapshots show a case.
pub fn report(inventory_yaml: &str, files: &[(&str, &str)]) -> String {
    let out = run(inventory_yaml, files);
    let mut s = String::new();
    for (path, text) in files {
        let _ = writeln!(s, "----- SOURCE {path}\n{}", text.trim_end());
    }
    let _ = write!(s, "----- DIAGNOSTICS\n{}", out.rendered());
    s
}

/// A small inventory most tests share.
pub const INVENTORY: &str = r#"version: 1
attributes:
  team: string
  env: enum[dev, staging, prod]
  tier: int
  pci: bool
identities:
  - name: api
    kind: workload
    owner: team-payments
    attributes: { team: payments, env: prod, tier: 1, pci: true }
    addresses: [10.0.0.1/32]
    spiffe: spiffe://example.org/api
  - name: worker
    kind: workload
    owner: team-payments
    attributes: { team: payments, env: dev, tier: 2 }
    addresses: [10.0.0.2/32]
    labels: { app: worker }
  - name: db
    kind: workload
    owner: team-data
    attributes: { team: data, env: prod, tier: 1 }
    addresses: [10.0.1.5/32]
  - name: web
    kind: workload
    owner: team-web
    attributes: { team: web, env: prod }
    addresses: [10.0.2.0/24]
  - name: ci-runner
    kind: ci_job
    owner: team-ci
    attributes: { team: platform, env: prod }
  - name: report-key
    kind: api_key
    owner: team-finance
    attributes: { team: finance, env: prod }
  - name: old-batch
    kind: workload
    owner: team-data
    status: disabled
    addresses: [10.0.9.9/32]
  - name: contractor
    kind: agent
    owner: team-web
    expires: 2026-01-31
    addresses: [10.0.9.10/32]
"#;

/// A readable listing of a program's rules, omissions and tests.
pub fn dump(p: &Program) -> String {
    let name = |id: &seg_ir::IdentityId| p.identity(*id).name.clone();
    let mut s = String::new();
    for r in &p.rules {
        let prov = &r.provenance;
        let action = format!("{:?}", r.action).to_lowercase();
        let _ = writeln!(
            s,
            "rule {} {action} ({}:{}:{})",
            prov.label, prov.file, prov.line, prov.column
        );
        for (side, e) in [("src", &r.src), ("dst", &r.dst)] {
            let ids: Vec<String> = e.identities.iter().map(name).collect();
            let _ = write!(s, "  {side}: [{}]", ids.join(", "));
            if !e.explicit.is_empty() {
                let ex: Vec<String> = e.explicit.iter().map(name).collect();
                let _ = write!(s, " explicit [{}]", ex.join(", "));
            }
            if !e.networks.is_empty() {
                let nets: Vec<String> = e
                    .networks
                    .to_cidrs()
                    .iter()
                    .map(ToString::to_string)
                    .collect();
                let shown = if nets.len() > 6 {
                    format!("{} .. ({} cidrs)", nets[..3].join(", "), nets.len())
                } else {
                    nets.join(", ")
                };
                let _ = write!(s, " nets {shown}");
            }
            s.push('\n');
        }
        let _ = writeln!(s, "  on: {}", r.services);
        if r.condition != seg_ir::Condition::True {
            let _ = writeln!(s, "  when: {}", cond(&r.condition));
        }
        if let Some(e) = r.expires {
            let _ = writeln!(s, "  expires: {e}");
        }
        if let Some(o) = &prov.owner {
            let _ = writeln!(s, "  owner: {o}");
        }
        if let Some(d) = &prov.doc {
            let _ = writeln!(s, "  doc: {d:?}");
        }
        if let Some(r) = &prov.reason {
            let _ = writeln!(s, "  reason: {r:?}");
        }
    }
    for o in &p.omitted {
        let _ = writeln!(s, "omitted {}: {}", o.provenance.label, o.reason);
    }
    for (k, v) in &p.contexts {
        let _ = writeln!(s, "context {k}: {v:?}");
    }
    for t in &p.tests {
        let _ = writeln!(s, "test {:?}", t.name);
        for e in &t.expectations {
            let ep = |x: &seg_ir::FlowEndpoint| match x {
                seg_ir::FlowEndpoint::Identity(id) => name(id),
                seg_ir::FlowEndpoint::Address(a) => a.to_string(),
            };
            let f = &e.flow;
            let at = if e.at_given {
                format!(" at {}", f.at)
            } else {
                String::new()
            };
            let _ = writeln!(
                s,
                "  expect {:?} {} -> {} {:?}/{} mtls={} method={:?} path={:?} context={:?}{at} ({}:{})",
                e.decision,
                ep(&f.src),
                ep(&f.dst),
                f.protocol,
                f.port,
                f.mtls,
                f.method,
                f.path,
                f.context,
                e.file,
                e.line
            );
        }
    }
    s
}

pub fn cond(c: &seg_ir::Condition) -> String {
    use seg_ir::{Atom, Condition};
    let join = |v: &[Condition], op: &str| {
        format!("({})", v.iter().map(cond).collect::<Vec<_>>().join(op))
    };
    match c {
        Condition::True => "true".into(),
        Condition::False => "false".into(),
        Condition::And(v) => join(v, " and "),
        Condition::Or(v) => join(v, " or "),
        Condition::Not(x) => format!("not {}", cond(x)),
        Condition::Atom(Atom::Time { start, end }) => format!("time {start}..{end}"),
        Condition::Atom(Atom::Days { mask }) => format!("days {mask:07b}"),
        Condition::Atom(Atom::Mtls) => "mtls".into(),
        Condition::Atom(Atom::Request { field, test }) => {
            format!(
                "request.{} {}",
                format!("{field:?}").to_lowercase(),
                value_test(test)
            )
        }
        Condition::Atom(Atom::Context { name, test }) => {
            format!("context.{name} {}", value_test(test))
        }
    }
}

fn value_test(t: &seg_ir::ValueTest) -> String {
    match t {
        seg_ir::ValueTest::In(v) => format!("in {v:?}"),
        seg_ir::ValueTest::Glob(g) => format!("matches {g:?}"),
        seg_ir::ValueTest::IsTrue => "is true".into(),
        seg_ir::ValueTest::Present => "present".into(),
    }
}

/// Source, diagnostics and the program listing of one `policy/main.seg`.
pub fn lowered(inventory_yaml: &str, source: &str) -> String {
    let out = run(inventory_yaml, &[("policy/main.seg", source)]);
    let listing = out
        .program
        .as_ref()
        .map_or_else(|| "no program (errors)".to_string(), dump);
    format!(
        "----- SOURCE\n{}\n----- DIAGNOSTICS\n{}----- OUTPUT\n{listing}",
        source.trim_end(),
        out.rendered()
    )
}
