//! The compilation of the commands that only read the checked program
//! (`seg reach`, `seg graph`, `seg explain`): from the compiled-program cache when nothing
//! it was made from has changed, else compiled and then kept for the next
//! run (`driver::cache`; docs/cli.md, "The compiled-program cache").

use super::{Exit, InputArgs, Verbosity, compile_located, info, locate};
use crate::driver::cache::classes;
use crate::driver::{Compilation, cache};
use crate::output::Color;
use clap::Args;
use seg_diag::Diagnostic;
use seg_ir::Program;
use seg_reach::{Analysis, Model};

/// The flag of every command that reads the cache.
#[derive(Args, Debug)]
pub struct CacheArgs {
    /// Compile the project even when the compiled-program cache (.seg/cache) is up to date, and do not write it.
    #[arg(long, env = "SEG_NO_CACHE", value_parser = clap::builder::BoolishValueParser::new())]
    pub no_cache: bool,
}

/// A compilation, and what keeping it needs.
pub struct Compiled {
    pub comp: Compilation,
    /// The checker's diagnostics, before lint levels: set when the
    /// compilation is fresh and may be kept.
    fresh: Option<Vec<Diagnostic>>,
    /// Set when read from the cache: what identifies the cached program.
    entry: Option<[u8; 32]>,
    verbose: bool,
}

/// Compile `args`, or take the cached compilation (unless `no_cache`) with
/// as much of each identity as `read` says. Under `-v`, says on stderr
/// whether the cache was used and why not.
pub fn compile(
    args: &InputArgs,
    color: Color,
    v: Verbosity,
    no_cache: bool,
    read: cache::Read,
) -> Result<Compiled, Exit> {
    let (input, now) = locate(args, color)?;
    let verbose = v == Verbosity::Verbose;
    if no_cache {
        if verbose {
            info("cache: not used (--no-cache or SEG_NO_CACHE)");
        }
    } else {
        let started = std::time::Instant::now();
        match cache::load(&input, now, read) {
            Ok((comp, entry)) => {
                if verbose {
                    info(&format!(
                        "cache: hit, read in {} ms",
                        started.elapsed().as_millis()
                    ));
                }
                return Ok(Compiled {
                    comp,
                    fresh: None,
                    entry: Some(entry),
                    verbose,
                });
            }
            Err(cache::Miss(why)) if verbose => info(&format!("cache: miss ({why})")),
            Err(_) => {}
        }
    }
    let comp = compile_located(&input, now, v);
    let fresh = (!no_cache).then(|| comp.diags.iter().cloned().collect());
    Ok(Compiled {
        comp,
        fresh,
        entry: None,
        verbose,
    })
}

impl Compiled {
    /// The reach analysis of `program` under `model`. When `program` is this
    /// compilation's own checked program and was read from the cache, the
    /// class graph is taken from beside the entry when one was kept for the
    /// same active rules and pivot kinds, and kept there otherwise
    /// (`driver::cache::classes`); `-v` says which.
    pub fn analysis<'p>(&self, program: &'p Program, model: Model) -> Analysis<'p> {
        let own = self
            .comp
            .program
            .as_ref()
            .is_some_and(|p| std::ptr::eq(p, program));
        let Some(entry) = self.entry.filter(|_| own) else {
            return Analysis::new(program, model);
        };
        let rules = Analysis::active_rules(program, &model);
        let key = match classes::key(&entry, &rules, &model.pivot) {
            Ok(k) => k,
            Err(_) => return Analysis::new(program, model),
        };
        let kept = classes::load(&self.comp.input, &key).and_then(|c| {
            Analysis::with_classes(program, model.clone(), rules.clone(), c)
                .ok_or_else(|| cache::Miss("it does not fit the program".into()))
        });
        let why = match kept {
            Ok(analysis) => {
                if self.verbose {
                    info("cache: class graph reused");
                }
                return analysis;
            }
            Err(cache::Miss(why)) => why,
        };
        let analysis = Analysis::new(program, model);
        if self.verbose {
            info(&format!("cache: class graph built ({why})"));
        }
        match classes::store(&self.comp.input, &key, &analysis.classes) {
            Ok(()) if self.verbose => info("cache: class graph kept"),
            Err(cache::Miss(why)) if self.verbose => {
                info(&format!("cache: class graph not kept ({why})"))
            }
            _ => {}
        }
        analysis
    }

    /// Once the command has found the compilation good (no error at the
    /// project's lint levels): keep a fresh one for the next run. Never
    /// fails the command: a read-only project simply has no cache.
    pub fn keep(&self) {
        let Some(diags) = &self.fresh else {
            return;
        };
        match cache::store(&self.comp, diags) {
            Ok(path) if self.verbose => info(&format!("cache: written to {}", path.display())),
            Err(cache::Miss(why)) if self.verbose => info(&format!("cache: not written ({why})")),
            _ => {}
        }
    }
}
