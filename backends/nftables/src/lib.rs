//! The nftables backend: one `inet` table per host, owned by seg and replaced
//! atomically by one `nft -f` transaction.
//!
//! Input: a [`Program`] prepared by the shared capability pass for this
//! target. Output: per identity with addresses (a *host*) one file
//! `<stem>.nft` that deletes and recreates `table inet seg` (its sets with
//! it), leaving every other table alone. See `docs/backends/nftables.md`.
//!
//! Stages: [`lower`] (each rule once: its protocols, time matches and peer
//! address groups, shared by every host it applies to) → [`host`] (per host
//! and chain, lines merged by match) → [`text`] (the file, from a typed
//! model). Invariants: output is a function of the program and the options;
//! file names are injective in the identity name
//! ([`seg_ir::names::file_stem`]); user text reaches a file only escaped,
//! inside a quoted comment or after `#`; times are written as numbers
//! (seconds of the UTC day, weekday numbers, Unix seconds), which `nft`
//! never converts to or from its own time zone.

mod host;
mod lower;
mod names;
mod text;

#[cfg(test)]
mod tests;

pub use seg_ir::names::file_stem;

use seg_diag::{Diagnostic, Diagnostics};
use seg_ir::backend::NftablesOptions;
use seg_ir::{Backend, Capabilities, Identity, Lowered, Program, TargetOptions};

/// The table seg owns on every host.
pub const TABLE: &str = "seg";

/// Host firewalls for `nft -f`.
pub struct Nftables;

impl Backend for Nftables {
    fn name(&self) -> &'static str {
        "nftables"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            deny: true,
            time: true,
            mtls: false,
            request: false,
            context: false,
            honours_layered: true,
            // `meta time` on the kernel clock.
            clock: true,
        }
    }

    fn manages(&self, identity: &Identity) -> bool {
        !identity.addresses.is_empty()
    }

    fn representable(&self, identity: &Identity) -> Result<(), String> {
        if identity.addresses.is_empty() {
            Err("no `addresses`".to_string())
        } else {
            Ok(())
        }
    }

    fn lower<'p>(
        &self,
        program: &'p Program,
        options: &'p TargetOptions,
        diags: &mut Diagnostics,
    ) -> Lowered<'p> {
        let options = match options {
            TargetOptions::Nftables(o) => o.clone(),
            _ => {
                diags.push(Diagnostic::bug(
                    "the nftables backend was given another target's options",
                ));
                NftablesOptions::default()
            }
        };
        host::lower(program, options, diags)
    }

    /// One transaction per host replaces seg's table whole (its sets too),
    /// so nothing of the previous version stays and no state in between exists.
    fn apply_command(&self, _: &Program, _: &TargetOptions) -> Option<String> {
        Some(format!(
            "on each host, as root, with its file: nft -f <host>.nft (one transaction replaces table inet {TABLE}); on a host the policy no longer manages: nft delete table inet {TABLE}"
        ))
    }
}
