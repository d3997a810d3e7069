//! `seg graph`: who can reach whom, as DOT, Mermaid, JSON or one HTML page.
//! The map and its formats are `seg_reach`'s.

use super::reach::{for_target, origins, parse_at};
use super::{Exit, InputArgs, Verbosity, cached, exit_for, report, settle};
use crate::output::{Color, Format};
use clap::{Args, ValueEnum};
use seg_diag::{Diagnostic, SourceMap};
use seg_reach::map::{MapRequest, Mapper};
use seg_reach::{Model, formats, html};
use std::io::Write as _;
use std::path::PathBuf;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    Dot,
    Mermaid,
    Json,
    Html,
}

impl GraphFormat {
    fn name(self) -> &'static str {
        match self {
            GraphFormat::Dot => "dot",
            GraphFormat::Mermaid => "mermaid",
            GraphFormat::Json => "json",
            GraphFormat::Html => "html",
        }
    }
}

#[derive(Args, Debug)]
pub struct GraphArgs {
    /// Project folder holding seg.toml, or one .seg file with --inventory [default: the nearest folder at or above the current one holding seg.toml]
    pub path: Option<PathBuf>,
    /// The project's seg.toml (instead of PATH).
    #[arg(long, value_name = "FILE", conflicts_with = "path")]
    pub manifest_path: Option<PathBuf>,
    /// Inventory file(s) for a single .seg file.
    #[arg(long, value_name = "FILE")]
    pub inventory: Vec<PathBuf>,
    /// Fix "today" (RFC 3339 time or date); defaults to SOURCE_DATE_EPOCH, then the clock.
    #[arg(long, value_name = "TIME")]
    pub now: Option<String>,
    /// What to write.
    #[arg(long, value_enum, default_value = "dot")]
    pub format: GraphFormat,
    /// Only this segment and the nodes with an edge to or from it.
    #[arg(long, value_name = "S")]
    pub segment: Option<String>,
    /// Draw the blast radius of this identity (or segment, or address).
    #[arg(long, value_name = "IDENTITY")]
    pub from: Option<String>,
    /// With --from: stop after N hops.
    #[arg(long, value_name = "N", requires = "from")]
    pub hops: Option<u32>,
    /// Identities as nodes instead of segments.
    #[arg(long)]
    pub identities: bool,
    /// Evaluate time windows and expiry at this instant (RFC 3339) [default: windows open at some time, expiry at now]
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
    /// The policy as this target enforces it, after its capability pass.
    #[arg(long, value_name = "T")]
    pub target: Option<String>,
    /// Write to this file instead of standard output (replaced whole, or left untouched on error).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub cache: cached::CacheArgs,
}

pub fn run(args: &GraphArgs, color: Color, v: Verbosity) -> Exit {
    let input = InputArgs {
        path: args.path.clone(),
        manifest_path: args.manifest_path.clone(),
        inventory: args.inventory.clone(),
        now: args.now.clone(),
        deny_warnings: false,
        format: Format::Human,
    };
    let read = super::reach::read(&args.target);
    let mut compiled = match cached::compile(&input, color, v, args.cache.no_cache, read) {
        Ok(c) => c,
        Err(e) => return e,
    };
    let diags = settle(&mut compiled.comp, &input);
    let exit = exit_for(&compiled.comp);
    if exit != Exit::Ok || compiled.comp.program.is_none() {
        report(&compiled.comp.map, &diags, Format::Human, color);
        return exit;
    }
    let exit = output(args, &compiled.comp, color);
    compiled.keep();
    exit
}

/// Draw the graph and write it where `--out` says.
fn output(args: &GraphArgs, comp: &crate::driver::Compilation, color: Color) -> Exit {
    let usage = |d: Diagnostic| {
        report(&SourceMap::new(), &[d], Format::Human, color);
        Exit::Usage
    };
    let text = match draw(args, comp) {
        Ok(t) => t,
        Err(d) => return usage(d),
    };
    match &args.out {
        Some(path) => match write_whole(path, text.as_bytes()) {
            Ok(()) => Exit::Ok,
            Err(e) => usage(Diagnostic::plain(format!(
                "cannot write `{}`: {e}",
                path.display()
            ))),
        },
        None => {
            let mut out = std::io::stdout().lock();
            match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
                Ok(()) => Exit::Ok,
                // The reader went away (`seg graph | head`): not a failure.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Exit::Ok,
                Err(e) => usage(Diagnostic::plain(format!(
                    "cannot write to standard output: {e}"
                ))),
            }
        }
    }
}

/// Write to a temporary file next to `path`, then rename it into place.
fn write_whole(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let name = path
        .file_name()
        .map_or_else(|| "graph".into(), |n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(".{name}.seg-{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

fn narrowing_help(format: GraphFormat) -> String {
    let mut h = String::from(
        "narrow it: `--segment S` (one segment and its neighbours), `--from IDENTITY --hops N` (one blast radius)",
    );
    h.push_str(", or leave out `--identities` (one node per segment)");
    if format != GraphFormat::Dot && format != GraphFormat::Json {
        h.push_str("; `--format dot` or `--format json` take graphs of any size for other tools");
    }
    h
}

fn draw(args: &GraphArgs, comp: &crate::driver::Compilation) -> Result<String, Diagnostic> {
    let (Some(checked), Some(outline)) = (comp.program.as_ref(), comp.outline.as_ref()) else {
        return Err(Diagnostic::bug("no program after a successful check"));
    };
    let at = args.at.as_deref().map(parse_at).transpose()?;
    let (program, target) = match &args.target {
        Some(t) => {
            let (p, note) = for_target(t, checked, comp)?;
            (std::borrow::Cow::Owned(p), Some(note))
        }
        // As checked: borrowed (a copy of 10k rules is 7% of a cached run).
        None => (std::borrow::Cow::Borrowed(checked), None),
    };
    let pivot = comp
        .manifest
        .as_ref()
        .and_then(|m| m.reach.pivot.clone())
        .unwrap_or_else(Model::default_pivot);
    let model = Model { at, pivot };
    let format = args.format;
    // Identity nodes: refuse before building what cannot be shown.
    if args.identities && args.segment.is_none() && args.from.is_none() {
        let nodes = program.identities.len();
        if let Some(why) = formats::refusal(format.name(), nodes, 0) {
            return Err(refused(format, &why));
        }
    }
    let mapper = Mapper::new(&program, outline, model, args.identities);
    if let Some(s) = &args.segment
        && outline.segment(s).is_none()
    {
        let d = Diagnostic::plain(format!("`{s}` is not a segment"));
        let names = outline.segments.iter().map(|x| x.name.as_str());
        return Err(match seg_diag::did_you_mean(s, names) {
            Some(n) => d.with_help(format!("did you mean `{n}`?")),
            None => d,
        });
    }
    let from = match &args.from {
        Some(f) => Some(origins(f, &mapper.analysis, comp)?),
        None => None,
    };
    let req = MapRequest {
        identities: args.identities,
        segment: args.segment.as_deref(),
        from,
        hops: args.hops,
        critical: &comp.critical,
        blast: format == GraphFormat::Html,
    };
    let size = mapper.size(&req);
    if let Some(why) = formats::refusal(format.name(), size.nodes, size.edges) {
        return Err(refused(format, &why));
    }
    let map = mapper.draw(&req);
    let title = match (&map.from, &target) {
        (Some(f), _) => format!("{}: blast radius of {f}", program.project),
        (None, Some(t)) => format!("{}: who can reach whom on {}", program.project, t.target),
        (None, None) => format!("{}: who can reach whom", program.project),
    };
    Ok(match format {
        GraphFormat::Dot => formats::dot(&map),
        GraphFormat::Json => formats::json(&map),
        GraphFormat::Html => html::page(&map, &title),
        GraphFormat::Mermaid => {
            let text = formats::mermaid(&map);
            if text.len() > formats::MERMAID_MAX_TEXT {
                let why = format!(
                    "the diagram is {} characters long: Mermaid refuses more than {} by default",
                    text.len(),
                    formats::MERMAID_MAX_TEXT
                );
                return Err(refused(format, &why));
            }
            text
        }
    })
}

fn refused(format: GraphFormat, why: &str) -> Diagnostic {
    Diagnostic::plain(format!(
        "refusing to draw this graph as `{}`",
        format.name()
    ))
    .with_note(why.to_string())
    .with_help(narrowing_help(format))
}
