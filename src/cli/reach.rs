//! `seg reach FROM`: the blast radius of a compromised identity (or of an
//! entry network), hop by hop, or with `--to` every shortest path to one
//! identity. The analysis and its rendering are `seg_reach`'s.

use super::{Exit, InputArgs, Verbosity, cached, exit_for, report, settle};
use crate::driver::{self, Compilation, cache};
use crate::output::{Color, Format};
use clap::Args;
use seg_diag::{Diagnostic, Diagnostics, SourceMap};
use seg_ir::backend::Backend;
use seg_ir::{CidrSet, ConditionClass, IdentityKind, Program, Timestamp};
use seg_reach::report::{self, Describe, TargetNote};
use seg_reach::{Analysis, Model, Origin, Search};
use std::collections::BTreeSet;
use std::io::Write as _;

#[derive(Args, Debug)]
pub struct ReachArgs {
    /// The compromised identity; or a segment, an address or a CIDR, taken as an entry point.
    pub from: String,
    #[command(flatten)]
    pub input: InputArgs,
    /// Stop after N hops [default: until nothing new is reached]
    #[arg(long, value_name = "N")]
    pub hops: Option<u32>,
    /// Evaluate time windows and expiry at this instant (RFC 3339) [default: windows open at some time, expiry at now]
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
    /// Analyse the policy as this target enforces it, after its capability pass.
    #[arg(long, value_name = "T")]
    pub target: Option<String>,
    /// Print every shortest path to this identity instead of the whole blast radius.
    #[arg(long, value_name = "IDENTITY")]
    pub to: Option<String>,
    /// Kinds a reached identity is taken over through, comma-separated [default: seg.toml `[reach] pivot`, else every kind but api_key]
    #[arg(long, value_name = "KINDS", value_delimiter = ',')]
    pub pivot: Option<Vec<String>>,
    #[command(flatten)]
    pub cache: cached::CacheArgs,
}

/// What a run reads of each identity: only a target's capability pass reads
/// attributes, labels and bindings.
pub(super) fn read(target: &Option<String>) -> cache::Read {
    match target {
        Some(_) => cache::Read::Whole,
        None => cache::Read::Analysis,
    }
}

/// At most this many shortest paths are listed by `--to`.
const MAX_PATHS: usize = 1000;

pub fn run(args: &ReachArgs, color: Color, v: Verbosity) -> Exit {
    if args.input.format == Format::Sarif {
        let d = Diagnostic::plain("`seg reach` prints `human` or `json`, not `sarif`");
        report(&SourceMap::new(), &[d], Format::Human, color);
        return Exit::Usage;
    }
    let usage = |d: Diagnostic| {
        report(&SourceMap::new(), &[d], args.input.format, color);
        Exit::Usage
    };
    let mut compiled = match cached::compile(
        &args.input,
        color,
        v,
        args.cache.no_cache,
        read(&args.target),
    ) {
        Ok(c) => c,
        Err(e) => return e,
    };
    let diags = settle(&mut compiled.comp, &args.input);
    let exit = exit_for(&compiled.comp);
    if exit != Exit::Ok || compiled.comp.program.is_none() {
        report(&compiled.comp.map, &diags, args.input.format, color);
        return exit;
    }
    let analysed = analyse(args, &compiled);
    let exit = match analysed {
        Ok(text) => {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
            Exit::Ok
        }
        Err(d) => usage(d),
    };
    compiled.keep();
    // The process ends with this command: freeing every identity, rule and
    // syntax tree of a large estate one by one would only lengthen the run.
    std::mem::forget(compiled);
    exit
}

fn analyse(args: &ReachArgs, compiled: &cached::Compiled) -> Result<String, Diagnostic> {
    let comp = &compiled.comp;
    let Some(checked) = comp.program.as_ref() else {
        return Err(Diagnostic::bug("no program after a successful check"));
    };
    let at = args.at.as_deref().map(parse_at).transpose()?;
    let pivot = pivot_kinds(args, comp)?;
    let (program, target) = match &args.target {
        Some(t) => {
            let (p, note) = for_target(t, checked, comp)?;
            (std::borrow::Cow::Owned(p), Some(note))
        }
        // As checked: borrowed (a copy of 10k rules is 7% of a cached run).
        None => (std::borrow::Cow::Borrowed(checked), None),
    };
    let model = Model { at, pivot };
    let analysis = compiled.analysis(&program, model);
    let (from, origins) = origins(&args.from, &analysis, comp)?;
    let d = Describe::new(&program, comp.outline.as_ref());
    let json = args.input.format == Format::Json;
    if let Some(to) = &args.to {
        let id = identity(to, &program)?;
        let search = Search::run(&analysis, origins, args.hops);
        let r = report::paths_report(&d, &analysis, &search, from, id, target, MAX_PATHS);
        return Ok(if json {
            format!("{}\n", serde_json::to_string_pretty(&r).unwrap_or_default())
        } else {
            seg_diag::visible(&report::paths_human(&r))
        });
    }
    let search = Search::run(&analysis, origins, args.hops);
    let r = report::reach_report(&d, &analysis, &search, from, target, args.hops);
    let text = if json {
        format!("{}\n", serde_json::to_string_pretty(&r).unwrap_or_default())
    } else {
        seg_diag::visible(&report::human(&r))
    };
    // As for the compilation (see `run`): the process ends with this command,
    // and freeing the report of 20,000 identities and the class graph one
    // allocation at a time would only lengthen it.
    std::mem::forget(r);
    std::mem::forget(search);
    std::mem::forget(analysis);
    std::mem::forget(program);
    Ok(text)
}

/// `--at TIME`: an RFC 3339 time or a date.
pub(super) fn parse_at(t: &str) -> Result<Timestamp, Diagnostic> {
    Timestamp::parse(t)
        .or_else(|| seg_ir::Date::parse(t).map(seg_ir::Date::start))
        .ok_or_else(|| {
            Diagnostic::plain(format!("`--at {t}` is not a time"))
                .with_help("write an RFC 3339 time such as `2026-11-23T01:30:00Z`, or a date")
        })
}

/// `--pivot`, else `seg.toml [reach] pivot`, else the default.
fn pivot_kinds(args: &ReachArgs, comp: &Compilation) -> Result<BTreeSet<IdentityKind>, Diagnostic> {
    let Some(kinds) = &args.pivot else {
        return Ok(comp
            .manifest
            .as_ref()
            .and_then(|m| m.reach.pivot.clone())
            .unwrap_or_else(Model::default_pivot));
    };
    let mut out = BTreeSet::new();
    for k in kinds.iter().filter(|k| !k.is_empty() && *k != "none") {
        let kind = IdentityKind::parse(k).ok_or_else(|| {
            let names: Vec<&str> = IdentityKind::ALL.iter().map(|k| k.as_str()).collect();
            let d = Diagnostic::plain(format!("`{k}` is not an identity kind"));
            match seg_diag::did_you_mean(k, names.iter().copied()) {
                Some(s) => d.with_help(format!("did you mean `{s}`?")),
                None => d.with_help(format!(
                    "the kinds are {}; `--pivot none` pivots through none",
                    names.join(", ")
                )),
            }
        })?;
        out.insert(kind);
    }
    Ok(out)
}

/// The program as `target` enforces it, and what that assumes.
pub fn for_target(
    name: &str,
    program: &Program,
    comp: &Compilation,
) -> Result<(Program, TargetNote), Diagnostic> {
    let backend: &dyn Backend = driver::backend_for(name).ok_or_else(|| {
        let names: Vec<&str> = driver::TARGETS
            .iter()
            .copied()
            .filter(|t| *t != "ir")
            .collect();
        let d = Diagnostic::plain(format!("unknown target `{name}`"))
            .with_note(format!("targets are {}", names.join(", ")));
        match seg_diag::did_you_mean(name, names.iter().copied()) {
            Some(s) => d.with_help(format!("did you mean `{s}`?")),
            None => d,
        }
    })?;
    if !comp.identity_details {
        return Err(Diagnostic::bug(
            "the identities were read without the bindings a target's capability pass reads",
        ));
    }
    let layered: Vec<ConditionClass> = comp
        .manifest
        .as_ref()
        .map(|m| m.layered.clone())
        .unwrap_or_default();
    let mut diags = Diagnostics::new();
    let prepared = seg_ir::capability::prepare(program, backend, &layered, &mut diags);
    if let Some(e) = diags.iter().find(|d| d.is_error()) {
        return Err(Diagnostic::plain(format!(
            "the policy cannot be fitted to `{name}`: {}",
            e.message
        ))
        .with_help(format!(
            "run `seg build --target {name}` for the full diagnostics"
        )));
    }
    let caps = backend.capabilities();
    let (mut relaxed, mut failed) = (Vec::new(), Vec::new());
    for class in ConditionClass::ALL {
        if caps.supports(class) {
            continue;
        }
        if caps.honours_layered && layered.contains(&class) {
            relaxed.push(class.as_str().to_string());
        } else {
            failed.push(class.as_str().to_string());
        }
    }
    Ok((
        prepared.program.into_owned(),
        TargetNote {
            target: name.to_string(),
            layered: relaxed,
            fail_closed: failed,
        },
    ))
}

fn identity(name: &str, program: &Program) -> Result<seg_ir::IdentityId, Diagnostic> {
    if let Some(i) = program.identity_by_name(name) {
        return Ok(i.id);
    }
    let d = Diagnostic::plain(format!("`{name}` is not an inventory identity"));
    Err(
        match seg_diag::did_you_mean(name, program.identities.iter().map(|i| i.name.as_str())) {
            Some(s) => d.with_help(format!("did you mean `{s}`?")),
            None => d,
        },
    )
}

/// Where a search starts: an identity, a segment (its identities and its
/// networks as entry points) or an address/CIDR (an entry point).
pub(super) fn origins(
    text: &str,
    a: &Analysis,
    comp: &Compilation,
) -> Result<(String, Vec<Origin>), Diagnostic> {
    let program = a.program;
    if let Some(i) = program.identity_by_name(text) {
        return Ok((text.to_string(), vec![Origin::Identity(i.id)]));
    }
    let segment = comp.outline.as_ref().and_then(|o| o.segment(text));
    if let Some(s) = segment {
        let mut origins: Vec<Origin> = s.identities().map(Origin::Identity).collect();
        origins.extend(
            a.entry_parts(&s.network_set())
                .into_iter()
                .map(Origin::Part),
        );
        return Ok((format!("segment {text}"), origins));
    }
    let net = text.parse::<ipnet::IpNet>().ok().or_else(|| {
        text.parse::<std::net::IpAddr>()
            .ok()
            .map(ipnet::IpNet::from)
    });
    if let Some(net) = net {
        let parts = a.entry_parts(&CidrSet::from_net(net.trunc()));
        return Ok((
            net.trunc().to_string(),
            parts.into_iter().map(Origin::Part).collect(),
        ));
    }
    let d = Diagnostic::plain(format!(
        "`{text}` is neither an inventory identity, a segment nor an address"
    ));
    let segments = comp
        .outline
        .iter()
        .flat_map(|o| o.segments.iter().map(|s| s.name.as_str()));
    let names = program
        .identities
        .iter()
        .map(|i| i.name.as_str())
        .chain(segments);
    Err(match seg_diag::did_you_mean(text, names) {
        Some(s) => d.with_help(format!("did you mean `{s}`?")),
        None => d.with_help(
            "name an identity of the inventory, a segment, or an address such as `203.0.113.7`",
        ),
    })
}
