//! `seg explain SRC DST PORTSPEC`: the decision for one flow and every rule that matched.

use super::{Exit, InputArgs, Verbosity, anchor, compile, exit_for, report, report_at, settle};
use crate::output::{Color, Format};
use clap::Args;
use seg_diag::{Diagnostic, SourceMap};
use seg_ir::eval::decide;
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
    #[command(flatten)]
    pub input: InputArgs,
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
    let mut comp = match compile(&args.input, color) {
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
    let flow = match flow(args, program) {
        Ok(f) => f,
        Err(d) => {
            report(&SourceMap::new(), &[d], args.input.format, color);
            return Exit::Usage;
        }
    };
    let decision = decide(program, &flow);
    let matched: Vec<_> = decision
        .matched
        .iter()
        .map(|id| &program.rules[id.0 as usize])
        .collect();
    if args.input.format == Format::Human {
        println!(
            "{}: {} -> {} on {} at {}",
            if decision.allowed { "allow" } else { "deny" },
            args.src,
            args.dst,
            args.port,
            flow.at
        );
        if v == Verbosity::Quiet {
            return Exit::Ok;
        }
        if matched.is_empty() {
            println!("  no rule matched: denied by default");
        }
        for r in &matched {
            let action = if r.action == seg_ir::Action::Allow {
                "allow"
            } else {
                "deny"
            };
            let text = comp
                .map
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
            let line = format!(
                "  {deciding} {action:<5} {:<24} {:<28} {text}",
                r.provenance.label,
                r.provenance.location()
            );
            println!("{}", seg_diag::visible(&line));
        }
        if !matched.is_empty() {
            println!("  (* decided the flow)");
        }
    } else {
        let rules: Vec<_> = matched
            .iter()
            .map(|r| json!({ "rule": r.provenance.label, "file": r.provenance.file, "line": r.provenance.line,
                             "action": r.action, "deciding": decision.deciding.contains(&r.id) }))
            .collect();
        println!(
            "{}",
            json!({ "allow": decision.allowed, "flow": flow, "matched": rules })
        );
    }
    Exit::Ok
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
