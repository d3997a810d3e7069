//! Lints over the whole project: names (W0201 shadowed identity, W0308 unused
//! segment, W0309 unused service), in [`coverage`], rules covered by other
//! rules (W0306) or cancelled by denies (W0307), and in [`jit`] the grants
//! file's rules (W0311–W0313). Lints about one rule or one
//! policy (W0301–W0305) are raised where that rule is lowered, W0310 where a
//! segment is evaluated. Only user files are linted, never the stdlib.

pub(crate) mod coverage;
pub(crate) mod jit;

use crate::problems;
use crate::sets::Env;
use seg_diag::Diagnostics;
use seg_syntax::ast::Item;

/// W0201, W0308, W0309.
pub(crate) fn names(env: &Env, diags: &mut Diagnostics) {
    for (i, s) in env.res.segs.iter().enumerate() {
        if env.units[s.unit].module.is_some() {
            continue;
        }
        let name = &s.def.name;
        if let Some(id) = env.index.lookup(&name.node.text) {
            diags.push(problems::shadowed_identity(
                name.span,
                &name.node.text,
                env.index.identity(id).origin,
            ));
        }
        if !env.res.seg_used[i].get() {
            diags.push(problems::unused_segment(name.span, &name.node.text));
        }
    }
    for (i, s) in env.res.svcs.iter().enumerate() {
        if env.units[s.unit].module.is_none() && !env.res.svc_used[i].get() {
            diags.push(problems::unused_service(
                s.def.name.span,
                &s.def.name.node.text,
            ));
        }
    }
    // A standard-library segment imported under an identity's name hides it too.
    for (u, unit) in env.units.iter().enumerate() {
        if unit.module.is_some() {
            continue;
        }
        for item in &unit.ast.items {
            let Item::Use(us) = item else { continue };
            for name in &us.names {
                let Some(b) = env.res.scopes[u].segments.get(&name.node.text) else {
                    continue;
                };
                let from_stdlib = env
                    .res
                    .segs
                    .get(b.id as usize)
                    .is_some_and(|s| env.units[s.unit].module.is_some());
                if from_stdlib && let Some(id) = env.index.lookup(&name.node.text) {
                    diags.push(problems::shadowed_identity(
                        name.span,
                        &name.node.text,
                        env.index.identity(id).origin,
                    ));
                }
            }
        }
    }
}
