//! Every diagnostic the checker emits, one constructor per kind of problem:
//! the code belongs to the problem, never to the call site, and the wording
//! (lowercase message, primary label of at most six words, facts as notes,
//! one `help` action) is kept in one place.

use seg_diag::{Code, Diagnostic, Span};
use seg_ir::Expiry;

/// `an api_key`, `a workload`.
pub(crate) fn article(word: &str) -> String {
    let an = word.starts_with(['a', 'e', 'i', 'o', 'u']);
    format!("{} `{word}`", if an { "an" } else { "a" })
}

fn help_or(suggestion: Option<&str>, fallback: String) -> String {
    suggestion.map_or(fallback, |s| format!("did you mean `{s}`?"))
}

// ---- E02xx: names and scopes ---------------------------------------------

/// A name in a set expression that is neither a segment in scope nor an identity.
pub(crate) fn unknown_name(
    span: Span,
    name: &str,
    suggestion: Option<&str>,
    import_from: Option<&str>,
    identities: usize,
) -> Diagnostic {
    let help = match (suggestion, import_from) {
        (_, Some(module)) => format!("import it: `use {module}::{{{name}}}`"),
        (Some(s), None) => format!("did you mean `{s}`?"),
        (None, None) => "check the spelling, or add the identity to the inventory".to_string(),
    };
    Diagnostic::of(Code::UnknownName, format!("unknown name `{name}`"))
        .with_primary(span, "not a segment or identity")
        .with_note(format!("the inventory has {identities} identities"))
        .with_help(help)
}

/// A name in `[..]` (or a test flow) that is not an inventory identity.
pub(crate) fn unknown_identity(
    span: Span,
    name: &str,
    suggestion: Option<&str>,
    is_segment: bool,
) -> Diagnostic {
    let d = Diagnostic::of(Code::UnknownName, format!("unknown identity `{name}`"))
        .with_primary(span, "not an inventory identity");
    if is_segment {
        d.with_note(format!(
            "`{name}` is a segment; only identities may appear here"
        ))
        .with_help(format!(
            "use the segment outside the list, e.g. `{name} | [..]`"
        ))
    } else {
        d.with_help(help_or(
            suggestion,
            "check the spelling, or add the identity to the inventory".into(),
        ))
    }
}

pub(crate) fn unknown_service(
    span: Span,
    name: &str,
    suggestion: Option<&str>,
    import_from: Option<&str>,
) -> Diagnostic {
    let help = match (suggestion, import_from) {
        (_, Some(module)) => format!("import it: `use {module}::{{{name}}}`"),
        (s, None) => help_or(s, format!("define it: `service {name} = tcp/PORT`")),
    };
    Diagnostic::of(Code::UnknownService, format!("unknown service `{name}`"))
        .with_primary(span, "not a service in scope")
        .with_help(help)
}

pub(crate) fn unknown_attribute(
    span: Span,
    attr: &str,
    suggestion: Option<&str>,
    declared: &[&str],
) -> Diagnostic {
    let list = if declared.is_empty() {
        "none".to_string()
    } else {
        declared.join(", ")
    };
    Diagnostic::of(
        Code::UnknownAttribute,
        format!("unknown attribute `{attr}`"),
    )
    .with_primary(span, "not declared in the inventory")
    .with_note(format!(
        "declared attributes: {list}; built-ins: name, kind, owner, labels.KEY"
    ))
    .with_help(help_or(
        suggestion,
        format!("declare `{attr}` under `attributes:` in the inventory"),
    ))
}

/// A field of `request.` other than `method` and `path`.
pub(crate) fn unknown_request_field(
    span: Span,
    field: &str,
    suggestion: Option<&str>,
) -> Diagnostic {
    Diagnostic::of(
        Code::UnknownAttribute,
        format!("unknown request attribute `request.{field}`"),
    )
    .with_primary(span, "not a request attribute")
    .with_note("requests have `request.method` and `request.path`")
    .with_help(help_or(
        suggestion,
        "use `request.method` or `request.path`".into(),
    ))
}

pub(crate) fn unknown_module(span: Span, module: &str, suggestion: Option<&str>) -> Diagnostic {
    Diagnostic::of(
        Code::UnresolvedImport,
        format!("unresolved import `{module}`"),
    )
    .with_primary(span, "no such module")
    .with_note("the standard library has `std::services` and `std::segments`")
    .with_help(help_or(suggestion, "check the module path".into()))
}

pub(crate) fn unknown_file(
    span: Span,
    written: &str,
    resolved: &str,
    suggestion: Option<&str>,
) -> Diagnostic {
    Diagnostic::of(
        Code::UnresolvedImport,
        format!("unresolved import `{written}`"),
    )
    .with_primary(span, "no such policy file")
    .with_note(format!(
        "the path resolves to `{resolved}`, which is not among the project's sources"
    ))
    .with_help(help_or(
        suggestion,
        "write the path relative to the importing file".into(),
    ))
}

pub(crate) fn unknown_import(
    span: Span,
    name: &str,
    from: &str,
    suggestion: Option<&str>,
) -> Diagnostic {
    Diagnostic::of(
        Code::UnresolvedImport,
        format!("`{name}` is not defined in `{from}`"),
    )
    .with_primary(span, "not found in the module")
    .with_help(help_or(
        suggestion,
        format!("remove `{name}` from the import"),
    ))
}

pub(crate) fn duplicate(kind: &str, name: &str, span: Span, first: Span) -> Diagnostic {
    Diagnostic::of(
        Code::DuplicateDefinition,
        format!("{kind} `{name}` is defined more than once"),
    )
    .with_primary(span, "defined again here")
    .with_secondary(first, "first defined here")
    .with_help("rename or remove one of the definitions")
}

pub(crate) fn cyclic(
    kind: &str,
    name: &str,
    span: Span,
    chain: &[String],
    refs: &[Span],
) -> Diagnostic {
    let mut d = Diagnostic::of(
        Code::CyclicSegment,
        format!("{kind} `{name}` is defined in terms of itself"),
    )
    .with_primary(span, "cyclic definition");
    for r in refs {
        d = d.with_secondary(*r, "refers back into the cycle");
    }
    d.with_note(format!("cycle: {}", chain.join(" -> ")))
        .with_help("remove one of the references so the definitions form no loop")
}

pub(crate) fn undeclared_context(span: Span, name: &str, suggestion: Option<&str>) -> Diagnostic {
    Diagnostic::of(
        Code::UndeclaredContext,
        format!("undeclared context input `context.{name}`"),
    )
    .with_primary(span, "not declared in a `context` block")
    .with_note("context inputs are typed in a `context { NAME: TYPE }` block")
    .with_help(help_or(
        suggestion,
        format!("declare it: `context {{ {name}: string }}`"),
    ))
}

pub(crate) fn disabled_identity(span: Span, name: &str, declared: Span) -> Diagnostic {
    Diagnostic::of(
        Code::DisabledIdentity,
        format!("identity `{name}` is disabled"),
    )
    .with_primary(span, "disabled in the inventory")
    .with_secondary(declared, "declared here with `status: disabled`")
    .with_note("a disabled identity takes part in no flow")
    .with_help("remove the reference, or set the identity's `status` back to `active`")
}

pub(crate) fn expired_identity(span: Span, name: &str, date: &str, declared: Span) -> Diagnostic {
    Diagnostic::of(
        Code::ExpiredIdentity,
        format!("identity `{name}` expired on {date}"),
    )
    .with_primary(span, "expired identity")
    .with_secondary(declared, "declared here")
    .with_note(format!("the inventory gives `{name}` `expires: {date}`"))
    .with_help("remove the reference, or extend the identity's `expires` date")
}

pub(crate) fn shadowed_identity(span: Span, name: &str, declared: Span) -> Diagnostic {
    Diagnostic::of(
        Code::ShadowedIdentity,
        format!("segment `{name}` hides the identity of the same name"),
    )
    .with_primary(span, "hides an inventory identity")
    .with_secondary(declared, "identity declared here")
    .with_note(format!(
        "in set expressions `{name}` means the segment, never the identity"
    ))
    .with_help("rename the segment")
}

// ---- E03xx: types and policy semantics -----------------------------------

pub(crate) fn type_mismatch(
    span: Span,
    attr: &str,
    expected: &str,
    found: &str,
    help: String,
) -> Diagnostic {
    Diagnostic::of(
        Code::TypeMismatch,
        format!("mismatched types: `{attr}` is {expected}, the value is {found}"),
    )
    .with_primary(span, format!("expected {expected}"))
    .with_help(help)
}

pub(crate) fn not_boolean(span: Span, attr: &str, ty: &str) -> Diagnostic {
    Diagnostic::of(
        Code::TypeMismatch,
        format!("`{attr}` is {ty}, not a boolean"),
    )
    .with_primary(span, "cannot stand alone")
    .with_note("only a boolean attribute may stand alone as a test")
    .with_help(format!("compare it: `{attr} == VALUE`"))
}

pub(crate) fn glob_on_non_string(span: Span, attr: &str, ty: &str) -> Diagnostic {
    Diagnostic::of(
        Code::TypeMismatch,
        format!("`matches` needs a string, `{attr}` is {ty}"),
    )
    .with_primary(span, "not a string attribute")
    .with_help("compare it with `==` or `in` instead")
}

pub(crate) fn unknown_enum_value(
    span: Span,
    attr: &str,
    value: &str,
    allowed: &[String],
    suggestion: Option<&str>,
) -> Diagnostic {
    Diagnostic::of(
        Code::UnknownEnumValue,
        format!("`{value}` is not a value of `{attr}`"),
    )
    .with_primary(span, "not in the enum")
    .with_note(format!("`{attr}` is one of: {}", allowed.join(", ")))
    .with_help(help_or(suggestion, "use one of the listed values".into()))
}

pub(crate) fn no_network_presence(span: Span, name: &str, kind: &str) -> Diagnostic {
    Diagnostic::of(
        Code::NoNetworkPresence,
        format!("`{name}` cannot be a destination"),
    )
    .with_primary(span, "has no network presence")
    .with_note(format!(
        "`{name}` is {} with neither `addresses` nor a `kubernetes` binding",
        article(kind)
    ))
    .with_help("give it `addresses` or a `kubernetes` binding, or remove it from the destination")
}

pub(crate) fn network_not_identity(span: Span, what: &str, side: &str, set: Span) -> Diagnostic {
    Diagnostic::of(
        Code::NetworkNotIdentity,
        format!("{what} needs an identity {side}, not a network"),
    )
    .with_primary(span, "requires inventory identities")
    .with_secondary(set, format!("this {side} holds only networks"))
    .with_note("network members have no attributes and no SPIFFE ID")
    .with_help(format!(
        "use a segment of inventory identities as the {side}"
    ))
}

pub(crate) fn invalid_condition(
    span: Span,
    message: String,
    label: &str,
    help: String,
) -> Diagnostic {
    Diagnostic::of(Code::InvalidCondition, message)
        .with_primary(span, label)
        .with_help(help)
}

pub(crate) fn condition_too_complex(span: Span, disjuncts: usize, cap: usize) -> Diagnostic {
    Diagnostic::of(Code::InvalidCondition, "condition too complex")
        .with_primary(span, "expands to too many cases")
        .with_note(format!("static tests on `source.`/`destination.` expand to {disjuncts} alternatives; the limit is {cap}"))
        .with_help("move the static tests into segments and use them as source or destination")
}

pub(crate) fn too_deep(span: Span) -> Diagnostic {
    Diagnostic::of(Code::InputTooLarge, "expression nested too deeply")
        .with_primary(span, "nesting too deep")
        .with_help("split the expression into named segments")
}

pub(crate) fn invalid_range(
    span: Span,
    message: String,
    label: &str,
    note: String,
    help: &str,
) -> Diagnostic {
    Diagnostic::of(Code::InvalidRange, message)
        .with_primary(span, label)
        .with_note(note)
        .with_help(help)
}

pub(crate) fn invalid_expectation(
    span: Span,
    message: String,
    label: &str,
    help: String,
) -> Diagnostic {
    Diagnostic::of(Code::InvalidExpectation, message)
        .with_primary(span, label)
        .with_help(help)
}

// ---- W03xx: lints ----------------------------------------------------------

pub(crate) fn missing_owner(rule: Span, policy: &str, policy_name: Span) -> Diagnostic {
    Diagnostic::of(Code::MissingOwner, "rule has no owner")
        .with_primary(rule, "no owner")
        .with_secondary(policy_name, format!("policy `{policy}` sets no `owner`"))
        .with_note("the owner is who answers for the access the rule grants")
        .with_help("add `owner \"TEAM\"` to the policy or to the rule")
}

pub(crate) fn review_overdue(span: Span, policy: &str, date: &str, today: &str) -> Diagnostic {
    Diagnostic::of(
        Code::ReviewOverdue,
        format!("policy `{policy}` was due for review on {date}"),
    )
    .with_primary(span, "review date has passed")
    .with_note(format!("today is {today}"))
    .with_help("review the policy, then move `review-by` forward")
}

/// How long a rule has left before it expires.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Left {
    /// Days from today to the last day of a day-expiry (0: today is the last).
    Days(i64),
    /// Seconds until an instant-expiry.
    Seconds(i64),
}

pub(crate) fn expiring_soon(span: Span, expires: Expiry, left: Left) -> Diagnostic {
    let when = match left {
        Left::Days(0) => "today".to_string(),
        Left::Days(1) => "in 1 day".to_string(),
        Left::Days(d) => format!("in {d} days"),
        Left::Seconds(s) => format!("in {}", human_duration(s)),
    };
    let label = match expires {
        Expiry::Day(d) => format!("live until the end of {d}"),
        Expiry::Instant(t) => format!("gone from {t} on"),
    };
    let note = match expires {
        Expiry::Day(_) => {
            "from the next day the rule matches nothing and is left out of every target"
        }
        Expiry::Instant(_) => {
            "from that instant the rule matches nothing and is left out of every target"
        }
    };
    Diagnostic::of(Code::ExpiringSoon, format!("rule expires {when}"))
        .with_primary(span, label)
        .with_note(note)
        .with_help("extend `expires` if the access is still needed, or plan its removal")
}

/// `2 h 5 min`, `3 days 4 h`, `45 s`: the two largest units of a duration
/// (the second left out when it is zero).
pub(crate) fn human_duration(secs: i64) -> String {
    const UNITS: [(i64, &str); 4] = [(86_400, "day"), (3600, "h"), (60, "min"), (1, "s")];
    let secs = secs.max(0);
    let show = |n: i64, unit: &str| match (unit, n) {
        ("day", 1) => "1 day".to_string(),
        ("day", n) => format!("{n} days"),
        (u, n) => format!("{n} {u}"),
    };
    let first = UNITS
        .iter()
        .position(|(size, _)| secs >= *size)
        .unwrap_or(3);
    let (size, unit) = UNITS[first];
    let mut out = show(secs / size, unit);
    if let Some(&(next, next_unit)) = UNITS.get(first + 1) {
        let n = secs % size / next;
        if n > 0 {
            out.push(' ');
            out.push_str(&show(n, next_unit));
        }
    }
    out
}

pub(crate) fn expired_rule(rule: Span, expires: Span, when: Expiry) -> Diagnostic {
    let message = match when {
        Expiry::Day(d) => format!("rule expired on {d} and is left out"),
        Expiry::Instant(t) => format!("rule expired at {t} and is left out"),
    };
    Diagnostic::of(Code::ExpiredRule, message)
        .with_primary(expires, "expired")
        .with_secondary(rule, "omitted from every target")
        .with_note("an expired rule matches nothing")
        .with_help("delete the rule (`seg gc` deletes every expired rule of the project)")
}

pub(crate) fn over_broad(span: Span, what: &str) -> Diagnostic {
    Diagnostic::of(Code::OverBroad, format!("rule allows {what}"))
        .with_primary(span, "over-broad allow")
        .with_note("least privilege: an allow should name the callers and ports it needs")
        .with_help("narrow the rule to the segments and services that need it")
}

pub(crate) fn shadowed_rule(span: Span, by: Span, by_label: &str, duplicate: bool) -> Diagnostic {
    if duplicate {
        return Diagnostic::of(Code::ShadowedRule, format!("rule repeats `{by_label}`"))
            .with_primary(span, "duplicate rule")
            .with_secondary(by, "same rule here")
            .with_note("both rules match exactly the same flows")
            .with_help("delete one of the two rules");
    }
    Diagnostic::of(Code::ShadowedRule, format!("rule is covered by `{by_label}`"))
        .with_primary(span, "has no effect")
        .with_secondary(by, "this rule matches every such flow")
        .with_note("every flow this rule matches is matched by the other, under a condition at least as permissive")
        .with_help("delete the covered rule, or narrow the covering one")
}

pub(crate) fn cancelled_allow(span: Span, denies: &[(Span, String)]) -> Diagnostic {
    let labels: Vec<String> = denies.iter().map(|(_, l)| format!("`{l}`")).collect();
    let mut d = Diagnostic::of(Code::CancelledAllow, "allow is cancelled by deny rules")
        .with_primary(span, "allows nothing");
    for (s, _) in denies {
        d = d.with_secondary(*s, "this deny overrides it");
    }
    d.with_note(format!(
        "every flow it allows is denied unconditionally by {}",
        labels.join(", ")
    ))
    .with_help("delete the allow, or narrow the deny")
}

pub(crate) fn unused_segment(span: Span, name: &str) -> Diagnostic {
    Diagnostic::of(
        Code::UnusedSegment,
        format!("segment `{name}` is never used"),
    )
    .with_primary(span, "unused segment")
    .with_help("use it in a rule, or delete it")
}

pub(crate) fn unused_service(span: Span, name: &str) -> Diagnostic {
    Diagnostic::of(
        Code::UnusedService,
        format!("service `{name}` is never used"),
    )
    .with_primary(span, "unused service")
    .with_help("use it in a rule, or delete it")
}

pub(crate) fn empty_segment(span: Span, name: &str) -> Diagnostic {
    Diagnostic::of(
        Code::EmptySegment,
        format!("segment `{name}` has no members"),
    )
    .with_primary(span, "matches no identity or address")
    .with_note("an empty segment usually means a typo or inventory drift")
    .with_help("check the segment's conditions against the inventory")
}
