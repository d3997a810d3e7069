//! The iptables backend: host-mode filter tables.
//!
//! Input: a [`Program`] prepared by the shared capability pass for this target.
//! Output: per identity with addresses (a host), an `iptables-restore` file
//! (`<stem>.rules`), an `ip6tables-restore` file (`<stem>.ip6.rules`, or for
//! every host without IPv6 rules of its own the one shared
//! `seg.base.ip6.rules` holding the base rules) and, when its rules use
//! address sets, an `ipset restore` file (`<stem>.ipset`).
//! See `docs/backends/iptables.md` for the lowering of each construct.
//!
//! Invariants: output is a function of the program and the options only
//! (deterministic); file names stay inside the target folder and are injective
//! in the identity name ([`names::file_stem`]); no user text reaches a file
//! except escaped inside a comment.

mod apply;
mod chain;
mod host;
mod model;
mod names;
mod render;
use seg_ir::schedule;

#[cfg(test)]
mod merge_tests;
#[cfg(test)]
mod tests;

pub use names::{SHARED_IP6, file_stem};

/// The IPv6 file of the host whose `<stem>.rules` is `rules`, as
/// `seg-apply.sh` picks it: [`SHARED_IP6`] when `rules` says the host has
/// no IPv6 rule of its own, else `<stem>.ip6.rules`.
pub fn ip6_file(stem: &str, rules: &str) -> String {
    let shared = rules
        .lines()
        .take_while(|l| l.starts_with('#'))
        .any(|l| l.strip_prefix("# ") == Some(names::SHARED_IP6_LINE));
    if shared {
        SHARED_IP6.to_string()
    } else {
        format!("{stem}.ip6.rules")
    }
}

use seg_diag::{Diagnostic, Diagnostics};
use seg_ir::{Backend, Capabilities, Identity, Lowered, Program, TargetOptions};

/// The threshold used when the options are not iptables options.
pub const DEFAULT_IPSET_THRESHOLD: usize = 8;

/// Host firewalls for `iptables-restore` and `ipset`.
pub struct Iptables;

impl Backend for Iptables {
    fn name(&self) -> &'static str {
        "iptables"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            deny: true,
            time: true,
            mtls: false,
            request: false,
            context: false,
            honours_layered: true,
            // `-m time --datestop` on the kernel clock.
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
        let threshold = match options {
            TargetOptions::Iptables(o) => o.ipset_threshold,
            _ => {
                diags.push(Diagnostic::bug(
                    "the iptables backend was given another target's options",
                ));
                DEFAULT_IPSET_THRESHOLD
            }
        };
        render::lower(program, options, threshold, diags)
    }

    fn apply_command(&self, _: &Program, _: &TargetOptions) -> Option<String> {
        Some(
            "on each host, as root, with its files and seg.base.ip6.rules: sh seg-apply.sh <host> (sh seg-apply.sh --remove on a host the policy no longer manages)"
                .into(),
        )
    }
}
