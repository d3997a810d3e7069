//! `seg test [PATH]`: every `test` block against the reference semantics.

use super::{Exit, InputArgs, Verbosity, anchor, compile_as, exit_for, report_at, settle};
use crate::output::sarif::{self, Finding, Level, Rule};
use crate::output::{self, Color, Format};
use clap::Args;
use seg_diag::SourceMap;
use seg_ir::eval::{Decision, decide};
use seg_ir::{Action, Expectation, Program};
use serde_json::json;

#[derive(Args, Debug)]
pub struct TestArgs {
    #[command(flatten)]
    pub input: InputArgs,
}

struct Outcome<'a> {
    test: &'a str,
    expectation: &'a Expectation,
    decision: Decision,
}

impl Outcome<'_> {
    fn passed(&self) -> bool {
        self.decision.allowed == (self.expectation.decision == Action::Allow)
    }
}

pub fn run(args: &TestArgs, color: Color, v: Verbosity) -> Exit {
    let mut comp = match compile_as(&args.input, color, v) {
        Ok(c) => c,
        Err(e) => return e,
    };
    let diags = settle(&mut comp, &args.input);
    let exit = exit_for(&comp);
    let program = match (&comp.program, exit) {
        (Some(p), Exit::Ok) => p,
        _ => {
            report_at(&comp.map, &diags, args.input.format, color, &anchor(&comp));
            return exit;
        }
    };
    let outcomes: Vec<Outcome> = program
        .tests
        .iter()
        .flat_map(|t| t.expectations.iter().map(move |e| (t.name.as_str(), e)))
        .map(|(test, expectation)| Outcome {
            test,
            expectation,
            decision: decide(program, &expectation.flow),
        })
        .collect();
    let failed = outcomes.iter().filter(|o| !o.passed()).count();
    match args.input.format {
        Format::Human => {
            report_at(&comp.map, &diags, Format::Human, color, &anchor(&comp));
            print!(
                "{}",
                seg_diag::visible(&human(&comp.map, program, &outcomes, v))
            );
            println!("{} passed, {} failed", outcomes.len() - failed, failed);
        }
        Format::Sarif => {
            // The diagnostics, then each failing expectation at its line.
            let mut findings: Vec<Finding> = diags.iter().map(Finding::of).collect();
            findings.extend(outcomes.iter().filter(|o| !o.passed()).map(|o| Finding {
                rule: Rule::TestFailed,
                level: Level::Error,
                message: failure_message(&comp.map, program, o),
                primary: Some(o.expectation.origin),
                related: Vec::new(),
            }));
            let (log, notices) = sarif::log(&comp.map, findings, &anchor(&comp));
            for n in notices {
                eprintln!("warning: {n}");
            }
            println!("{log}");
        }
        Format::Json => {
            let results: Vec<_> = outcomes.iter().map(|o| as_json(program, o)).collect();
            let doc = json!({
                "tests": results,
                "passed": outcomes.len() - failed,
                "failed": failed,
                "diagnostics": output::json_value(&comp.map, &diags)["diagnostics"],
            });
            println!("{doc}");
        }
    }
    if failed > 0 { Exit::Policy } else { Exit::Ok }
}

/// A failing expectation in one paragraph, for SARIF.
fn failure_message(map: &SourceMap, program: &Program, o: &Outcome) -> String {
    format!(
        "test \"{}\": `{}` expected {}, the policy decided {}\n{}",
        o.test,
        expectation_text(map, o.expectation),
        verdict(o.expectation.decision == Action::Allow),
        verdict(o.decision.allowed),
        decided(program, &o.decision)
    )
}

/// The expectation's first source line, trimmed.
fn expectation_text(map: &SourceMap, e: &Expectation) -> String {
    map.snippet(e.origin)
        .lines()
        .next()
        .unwrap_or("")
        .trim()
        .to_string()
}

fn verdict(allowed: bool) -> &'static str {
    if allowed { "allow" } else { "deny" }
}

fn rules_text(program: &Program, ids: &[seg_ir::RuleId]) -> String {
    ids.iter()
        .map(|id| {
            let p = &program.rules[id.0 as usize].provenance;
            format!("{} ({})", p.label, p.location())
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every expectation (`-q`: the failing ones only; `-v`: with the rules that decided each).
fn human(map: &SourceMap, program: &Program, outcomes: &[Outcome], v: Verbosity) -> String {
    let mut s = String::new();
    let mut current = None;
    for o in outcomes {
        if v == Verbosity::Quiet && o.passed() {
            continue;
        }
        if current != Some(o.test) {
            s.push_str(&format!("test \"{}\"\n", o.test.escape_debug()));
            current = Some(o.test);
        }
        let e = o.expectation;
        let line = expectation_text(map, e);
        if o.passed() {
            s.push_str(&format!("  ok    {}:{}  {line}\n", e.file, e.line));
            if v == Verbosity::Verbose {
                s.push_str(&format!("        {}\n", decided(program, &o.decision)));
            }
            continue;
        }
        s.push_str(&format!("  FAIL  {}:{}  {line}\n", e.file, e.line));
        s.push_str(&format!(
            "        expected {}, the policy decided {}\n",
            verdict(e.decision == Action::Allow),
            verdict(o.decision.allowed)
        ));
        s.push_str(&format!("        {}\n", decided(program, &o.decision)));
    }
    s
}

/// What decided a flow: the deciding rules, or the default deny.
fn decided(program: &Program, decision: &Decision) -> String {
    if decision.deciding.is_empty() {
        return "no rule matched: denied by default".into();
    }
    let how = if decision.allowed {
        "allowed by"
    } else {
        "denied by"
    };
    format!("{how} {}", rules_text(program, &decision.deciding))
}

fn as_json(program: &Program, o: &Outcome) -> serde_json::Value {
    let rules = |ids: &[seg_ir::RuleId]| -> Vec<serde_json::Value> {
        ids.iter()
            .map(|id| {
                let p = &program.rules[id.0 as usize].provenance;
                json!({ "rule": p.label, "file": p.file, "line": p.line })
            })
            .collect()
    };
    json!({
        "test": o.test,
        "file": o.expectation.file,
        "line": o.expectation.line,
        "expected": verdict(o.expectation.decision == Action::Allow),
        "decided": verdict(o.decision.allowed),
        "passed": o.passed(),
        "deciding": rules(&o.decision.deciding),
        "matched": rules(&o.decision.matched),
    })
}
