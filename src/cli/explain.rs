//! `seg explain SRC DST PORTSPEC`: the decision for one flow and every rule that matched;
//! with `--target T`, the decision of the program as that target enforces it (after its
//! capability pass) and the omissions and relaxations that decided it.

use super::{Exit, InputArgs, Verbosity, anchor, cached, exit_for, report, report_at, settle};
use crate::driver::{self, Compilation, TARGETS};
use crate::output::{Color, Format};
use clap::Args;
use seg_diag::{Diagnostic, Diagnostics, SourceMap};
use seg_ir::capability::{self, Approximation};
use seg_ir::eval::{Decision, decide};
use seg_ir::{ContextType, Flow, FlowEndpoint, Program, Protocol, Timestamp, Value};
use serde_json::json;
use std::collections::BTreeMap;

#[derive(Args, Debug)]
pub struct ExplainArgs {
    /// Source: an identity name or an IP address.
    pub src: String,
    /// Destination: an identity name or an IP address.
    pub dst: String,
    /// Protocol and port, e.g. tcp/5432, udp/53, icmp.
    pub port: String,
    /// The connection is mutually authenticated (mTLS).
    #[arg(long)]
    pub mtls: bool,
    /// When the flow happens (RFC 3339) [default: now]
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
    /// HTTP method of the request.
    #[arg(long)]
    pub method: Option<String>,
    /// HTTP path of the request.
    #[arg(long = "path", value_name = "PATH")]
    pub http_path: Option<String>,
    /// A declared context input, as NAME=VALUE (repeatable).
    #[arg(long, value_name = "NAME=VALUE")]
    pub context: Vec<String>,
    /// The decision as target T enforces the policy (after its capability pass), with the omissions and relaxations that decided it.
    #[arg(long, value_name = "T")]
    pub target: Option<String>,
    /// Exit with 1 when the flow is denied (for scripts and CI).
    #[arg(long)]
    pub fail: bool,
    #[command(flatten)]
    pub input: InputArgs,
    #[command(flatten)]
    pub cache: cached::CacheArgs,
}

pub fn run(args: &ExplainArgs, color: Color, v: Verbosity) -> Exit {
    if args.input.format == Format::Sarif {
        // SARIF reports findings; a decision about one flow is not one.
        let d = Diagnostic::plain("`seg explain` has no SARIF output")
            .with_note("SARIF carries findings for code scanning; explain answers a question about one flow")
            .with_help("use `--format json` for a machine-readable decision, or `seg check --format sarif` for findings");
        report(&SourceMap::new(), &[d], Format::Human, color);
        return Exit::Usage;
    }
    let read = super::reach::read(&args.target);
    let mut compiled = match cached::compile(&args.input, color, v, args.cache.no_cache, read) {
        Ok(c) => c,
        Err(e) => return e,
    };
    let exit = explain(args, &mut compiled.comp, color, v);
    if exit_for(&compiled.comp) == Exit::Ok {
        compiled.keep();
    }
    // The process ends with this command: freeing a large estate's program
    // piece by piece would only lengthen the run.
    std::mem::forget(compiled);
    exit
}

/// The decision for the flow of `args` in the compiled project.
fn explain(args: &ExplainArgs, comp: &mut Compilation, color: Color, v: Verbosity) -> Exit {
    let diags = settle(comp, &args.input);
    let exit = exit_for(comp);
    let program = match (&comp.program, exit) {
        (Some(p), Exit::Ok) => p,
        _ => {
            report_at(&comp.map, &diags, args.input.format, color, &anchor(comp));
            return exit;
        }
    };
    let flow = match flow(args, program) {
        Ok(f) => f,
        Err(d) => {
            report(&SourceMap::new(), &[d], args.input.format, color);
            return Exit::Usage;
        }
    };
    let reference = decide(program, &flow);
    let on_target = match &args.target {
        None => None,
        Some(name) => {
            let layered = comp
                .manifest
                .as_ref()
                .map(|m| m.layered.clone())
                .unwrap_or_default();
            match prepare(name, program, &layered) {
                Ok(prepared) => Some((name.as_str(), prepared)),
                Err(Problem::Usage(d)) => {
                    report(&SourceMap::new(), &[d], args.input.format, color);
                    return Exit::Usage;
                }
                Err(Problem::Policy(errors)) => {
                    report_at(&comp.map, &errors, args.input.format, color, &anchor(comp));
                    return Exit::Policy;
                }
            }
        }
    };
    let (shown, decision) = match &on_target {
        Some((_, prepared)) => (&*prepared.program, decide(&prepared.program, &flow)),
        None => (program, reference.clone()),
    };
    // The target's approximations of the rules that matched, there or in the policy.
    let deciding_approximations: Vec<&Approximation> = match &on_target {
        Some((_, prepared)) => {
            let labels: Vec<&str> = reference
                .matched
                .iter()
                .map(|id| program.rules[id.0 as usize].provenance.label.as_str())
                .chain(
                    decision
                        .matched
                        .iter()
                        .map(|id| shown.rules[id.0 as usize].provenance.label.as_str()),
                )
                .collect();
            prepared
                .approximations
                .iter()
                .filter(|a| labels.contains(&a.rule.as_str()))
                .collect()
        }
        None => Vec::new(),
    };
    let target = on_target.as_ref().map(|(t, _)| *t);
    if args.input.format == Format::Human {
        let heading = format!(
            "{}{}: {} -> {} on {} at {}",
            verdict(decision.allowed),
            target.map(|t| format!(" on `{t}`")).unwrap_or_default(),
            args.src,
            args.dst,
            args.port,
            flow.at
        );
        println!("{}", seg_diag::visible(&heading));
        if v != Verbosity::Quiet {
            print!("{}", seg_diag::visible(&human(&comp.map, shown, &decision)));
            if target.is_some() {
                print!(
                    "{}",
                    seg_diag::visible(&approximations_text(
                        &deciding_approximations,
                        &reference,
                        &decision
                    ))
                );
            }
        }
    } else {
        let rules: Vec<_> = decision
            .matched
            .iter()
            .map(|id| &shown.rules[id.0 as usize])
            .map(|r| json!({ "rule": r.provenance.label, "file": r.provenance.file, "line": r.provenance.line,
                             "action": r.action, "deciding": decision.deciding.contains(&r.id) }))
            .collect();
        let mut doc = json!({ "allow": decision.allowed, "flow": flow, "matched": rules });
        if let Some(t) = target {
            doc["target"] = json!(t);
            doc["policy_allows"] = json!(reference.allowed);
            doc["approximations"] = json!(deciding_approximations);
        }
        println!("{doc}");
    }
    if args.fail && !decision.allowed {
        Exit::Policy
    } else {
        Exit::Ok
    }
}

fn verdict(allowed: bool) -> &'static str {
    if allowed { "allow" } else { "deny" }
}

/// The rules that matched, `*` on those that decided.
fn human(map: &SourceMap, program: &Program, decision: &Decision) -> String {
    let mut s = String::new();
    if decision.matched.is_empty() {
        s.push_str("  no rule matched: denied by default\n");
    }
    for id in &decision.matched {
        let r = &program.rules[id.0 as usize];
        let text = map
            .snippet(r.provenance.origin)
            .lines()
            .next()
            .unwrap_or("")
            .trim()
            .to_string();
        let deciding = if decision.deciding.contains(&r.id) {
            "*"
        } else {
            " "
        };
        s.push_str(&format!(
            "  {deciding} {:<5} {:<24} {:<28} {text}\n",
            verdict(r.action == seg_ir::Action::Allow),
            r.provenance.label,
            r.provenance.location()
        ));
    }
    if !decision.matched.is_empty() {
        s.push_str("  (* decided the flow)\n");
    }
    s
}

/// What the target's capability pass did to the rules that match, and whether it changed
/// the decision.
fn approximations_text(
    list: &[&Approximation],
    reference: &Decision,
    on_target: &Decision,
) -> String {
    let mut s = String::new();
    for a in list {
        let kind = serde_json::to_value(a.kind).unwrap_or_default();
        s.push_str(&format!(
            "  {:<13} {:<24} {:<28} {}\n",
            kind.as_str().unwrap_or("approximated"),
            a.rule,
            a.location,
            a.reason
        ));
    }
    if reference.allowed != on_target.allowed {
        s.push_str(&format!(
            "  (the policy itself would {} this flow: {} decided it here)\n",
            verdict(reference.allowed),
            if list.is_empty() {
                "the target's capabilities"
            } else {
                "the approximations above"
            }
        ));
    } else if list.is_empty() {
        s.push_str("  (enforced as written: no approximation of these rules on this target)\n");
    }
    s
}

enum Problem {
    Usage(Diagnostic),
    /// The target cannot enforce the policy at all (E0401).
    Policy(Vec<Diagnostic>),
}

/// The program as target `name` enforces it.
fn prepare<'p>(
    name: &str,
    program: &'p Program,
    layered: &[seg_ir::ConditionClass],
) -> Result<capability::Prepared<'p>, Problem> {
    let Some(backend) = driver::backend_for(name) else {
        let choices: Vec<&str> = TARGETS
            .iter()
            .copied()
            .filter(|t| driver::backend_for(t).is_some())
            .collect();
        let mut d = Diagnostic::plain(format!(
            "`--target {name}` is not a target that enforces policy"
        ))
        .with_note(format!("targets are {}", choices.join(", ")));
        if let Some(s) = seg_diag::did_you_mean(name, choices.iter().copied()) {
            d = d.with_help(format!("did you mean `{s}`?"));
        }
        return Err(Problem::Usage(d));
    };
    // Its warnings are what `seg build` reports; here only the decision matters.
    let mut diags = Diagnostics::new();
    let prepared = capability::prepare(program, backend, layered, &mut diags);
    if diags.has_errors() {
        return Err(Problem::Policy(
            diags.iter().filter(|d| d.is_error()).cloned().collect(),
        ));
    }
    Ok(prepared)
}

fn endpoint(text: &str, program: &Program) -> Result<FlowEndpoint, Diagnostic> {
    if let Some(i) = program.identity_by_name(text) {
        return Ok(FlowEndpoint::Identity(i.id));
    }
    if let Ok(addr) = text.parse() {
        return Ok(FlowEndpoint::Address(addr));
    }
    let mut d = Diagnostic::plain(format!(
        "`{text}` is neither an inventory identity nor an IP address"
    ));
    if let Some(s) =
        seg_diag::did_you_mean(text, program.identities.iter().map(|i| i.name.as_str()))
    {
        d = d.with_help(format!("did you mean `{s}`?"));
    }
    Err(d)
}

/// `tcp/5432`, `udp/53`, `sctp/9`, `icmp`.
pub fn port_spec(text: &str) -> Option<(Protocol, u16)> {
    if text == "icmp" {
        return Some((Protocol::Icmp, 0));
    }
    let (proto, port) = text.split_once('/')?;
    let protocol = match proto {
        "tcp" => Protocol::Tcp,
        "udp" => Protocol::Udp,
        "sctp" => Protocol::Sctp,
        _ => return None,
    };
    Some((protocol, port.parse().ok()?))
}

fn flow(args: &ExplainArgs, program: &Program) -> Result<Flow, Diagnostic> {
    let src = endpoint(&args.src, program)?;
    let dst = endpoint(&args.dst, program)?;
    let (protocol, port) = port_spec(&args.port).ok_or_else(|| {
        Diagnostic::plain(format!("`{}` is not a port spec", args.port))
            .with_help("write one protocol and port: `tcp/5432`, `udp/53` or `icmp`")
    })?;
    let at = match &args.at {
        Some(t) => Timestamp::parse(t)
            .ok_or_else(|| Diagnostic::plain(format!("`--at {t}` is not an RFC 3339 time")))?,
        None => program.now,
    };
    let mut context = BTreeMap::new();
    for kv in &args.context {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| Diagnostic::plain(format!("`--context {kv}` is not NAME=VALUE")))?;
        let ty = program
            .contexts
            .get(k)
            .ok_or_else(|| Diagnostic::plain(format!("`{k}` is not a declared context input")))?;
        let value = match ty {
            ContextType::Bool => v.parse().map(Value::Bool).ok(),
            ContextType::Int => v.parse().map(Value::Int).ok(),
            ContextType::String => Some(Value::String(v.to_string())),
            ContextType::Enum(values) => values
                .iter()
                .any(|e| e == v)
                .then(|| Value::String(v.to_string())),
        }
        .ok_or_else(|| {
            Diagnostic::plain(format!(
                "`{v}` is not a valid value for context input `{k}`"
            ))
        })?;
        context.insert(k.to_string(), value);
    }
    Ok(Flow {
        src,
        dst,
        protocol,
        port,
        at,
        mtls: args.mtls,
        method: args.method.clone(),
        path: args.http_path.clone(),
        context,
    })
}
