//! The just-in-time grant lints, over every rule of the `[jit]` grants file
//! (errors unless `seg.toml [lints]` says otherwise):
//!
//! - W0311 `grant-lifetime`: no `expires`, no `created`, `created` in the
//!   future, or a lifetime from `created` to the expiry over `[jit] max-ttl`
//!   (so no grant can be live longer than the ceiling from any build's view);
//! - W0312 `grant-metadata`: no owner (the rule's or its policy's), no `reason`;
//! - W0313 `grant-approval`: an allow naming an identity outside
//!   `[jit] grantable` without `approved-by`.

use crate::idset::IdSet;
use crate::lower::Lowered;
use crate::problems::human_duration;
use crate::sets::Env;
use crate::{CheckInput, JitInput};
use seg_diag::{Code, Diagnostic, Diagnostics};
use seg_ir::Timestamp;
use seg_syntax::ast::{self, Item};

/// How far in the future `created` may be: the clocks of the machine that
/// wrote the grant and of the one that checks it may disagree a little.
const CLOCK_SKEW: i64 = 300;
/// Identities named in a W0313 message.
const SHOWN: usize = 5;

pub(crate) fn check(env: &Env, input: &CheckInput, lowered: &Lowered, diags: &mut Diagnostics) {
    let Some(jit) = &input.jit else { return };
    let grantable: Option<IdSet> = match &jit.grantable {
        Some(p) => match env.typer().pred(p, 0, diags) {
            Some(rp) => Some(env.preds.eval(&rp).ids.clone()),
            // Typing reported the problem at the expression.
            None => return,
        },
        None => None,
    };
    for unit in input.units.iter().filter(|u| u.path == jit.settings.file) {
        for item in &unit.ast.items {
            let Item::Policy(policy) = item else { continue };
            for (n, rule) in policy.rules.iter().enumerate() {
                let label = format!("{}/{}", policy.name.node.text, n + 1);
                lifetime(jit, input, rule, diags);
                metadata(policy, rule, diags);
                if let Some(allowed) = &grantable
                    && rule.action.node == ast::Action::Allow
                    && rule.approved_by.is_none()
                {
                    approval(env, lowered, allowed, jit, rule, &label, diags);
                }
            }
        }
    }
}

fn head(rule: &ast::RuleDef) -> seg_diag::Span {
    rule.action.span.to(rule.dst.span)
}

fn lifetime(jit: &JitInput, input: &CheckInput, rule: &ast::RuleDef, diags: &mut Diagnostics) {
    let settings = jit.settings;
    let ceiling = &settings.max_ttl_text;
    let help_ttl = format!(
        "a grant lives at most `[jit] max-ttl` ({ceiling}) from `created`; `seg grant` writes both"
    );
    let Some(expires) = &rule.expires else {
        diags.push(
            Diagnostic::of(Code::GrantLifetime, "grant never expires")
                .with_primary(head(rule), "no `expires`")
                .with_secondary(settings.span, "grants file set here")
                .with_note(format!(
                    "every rule of `{}` is a just-in-time grant",
                    settings.file
                ))
                .with_help(help_ttl),
        );
        return;
    };
    let Some(created) = &rule.created else {
        diags.push(
            Diagnostic::of(
                Code::GrantLifetime,
                "grant has no `created`: its lifetime cannot be checked",
            )
            .with_primary(head(rule), "no `created`")
            .with_note(format!(
                "the lifetime from `created` to `expires` must be at most {ceiling}"
            ))
            .with_help(help_ttl),
        );
        return;
    };
    // `created` later than now + skew, read as a bound on now.
    if !input
        .now
        .reached(Timestamp(created.node.0.saturating_sub(CLOCK_SKEW)))
    {
        diags.push(
            Diagnostic::of(
                Code::GrantLifetime,
                format!("grant created in the future ({})", created.node),
            )
            .with_primary(created.span, "after now")
            .with_note(format!("now is {}", input.now.exact()))
            .with_help("`created` is when the grant was written; `seg grant` records it"),
        );
        return;
    }
    let lives = expires.node.end().0 - created.node.0;
    if lives > settings.max_ttl {
        let mut d = Diagnostic::of(
            Code::GrantLifetime,
            format!(
                "grant lives {}, longer than `[jit] max-ttl` ({ceiling})",
                human_duration(lives)
            ),
        )
        .with_primary(
            expires.span,
            format!("{} after `created`", human_duration(lives)),
        )
        .with_secondary(created.span, "created here");
        if let Some(span) = settings.max_ttl_span {
            d = d.with_secondary(span, "the ceiling");
        }
        diags.push(d.with_help(
            "request a shorter grant, or make standing access a reviewed rule in another policy file",
        ));
    }
}

fn metadata(policy: &ast::PolicyDef, rule: &ast::RuleDef, diags: &mut Diagnostics) {
    if rule.owner.is_none() && policy.owner.is_none() {
        diags.push(
            Diagnostic::of(Code::GrantMetadata, "grant has no owner")
                .with_primary(head(rule), "no `owner`")
                .with_help("say who asked for it: `owner \"...\"` (`seg grant --owner`)"),
        );
    }
    if rule.reason.is_none() {
        diags.push(
            Diagnostic::of(Code::GrantMetadata, "grant has no reason")
                .with_primary(head(rule), "no `reason`")
                .with_help("say why it is needed: `reason \"...\"` (`seg grant --reason`)"),
        );
    }
}

fn approval(
    env: &Env,
    lowered: &Lowered,
    allowed: &IdSet,
    jit: &JitInput,
    rule: &ast::RuleDef,
    label: &str,
    diags: &mut Diagnostics,
) {
    // Every identity the rule's IR rules name, on either side.
    let mut named = IdSet::empty();
    for (r, facts) in lowered.rules.iter().zip(&lowered.facts) {
        let of_rule = r.provenance.label == label
            || r.provenance
                .label
                .strip_prefix(label)
                .is_some_and(|rest| rest.starts_with('.'));
        if of_rule {
            named = named.union(&facts.src).union(&facts.dst);
        }
    }
    let outside = named.difference(allowed);
    if outside.is_empty() {
        return;
    }
    let mut names: Vec<String> = outside
        .iter()
        .take(SHOWN)
        .map(|id| format!("`{}`", env.index.identity(id).name))
        .collect();
    if outside.len() > SHOWN {
        names.push(format!("and {} more", outside.len() - SHOWN));
    }
    let mut d = Diagnostic::of(
        Code::GrantApproval,
        format!("grant names {} without `approved-by`", names.join(", ")),
    )
    .with_primary(head(rule), "needs an approval")
    .with_note("`[jit] grantable` does not hold these identities");
    if let Some(span) = jit.settings.grantable_span {
        d = d.with_secondary(span, "the identities grants may name without approval");
    }
    diags.push(d.with_help(
        "have someone approve it and record who: `approved-by \"...\"` (`seg grant --approved-by`)",
    ));
}
