//! The compilation of the commands that only read the checked program
//! (`seg reach`, `seg graph`): from the compiled-program cache when nothing
//! it was made from has changed, else compiled and then kept for the next
//! run (`driver::cache`; docs/cli.md, "The compiled-program cache").

use super::{Exit, InputArgs, Verbosity, compile_located, info, locate};
use crate::driver::{Compilation, cache};
use crate::output::Color;
use seg_diag::Diagnostic;

/// A compilation, and what keeping it needs.
pub struct Compiled {
    pub comp: Compilation,
    /// The checker's diagnostics, before lint levels: set when the
    /// compilation is fresh and may be kept.
    fresh: Option<Vec<Diagnostic>>,
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
            Ok(comp) => {
                if verbose {
                    info(&format!(
                        "cache: hit, read in {} ms",
                        started.elapsed().as_millis()
                    ));
                }
                return Ok(Compiled {
                    comp,
                    fresh: None,
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
        verbose,
    })
}

impl Compiled {
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
