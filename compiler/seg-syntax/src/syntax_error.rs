//! Turning a pest error into an E0001 diagnostic that says, in words, what
//! was expected at the exact place the parse stopped.
//!
//! pest reports the rules it tried at the farthest position. Those rules are
//! first folded into groups (all set operators are "a set operator"), then
//! named through [`describe`] with `Error::renamed_rules`. A few common
//! mistakes get a `help` line.

use crate::grammar::Rule;
use pest::error::{Error, ErrorVariant, InputLocation};
use seg_diag::{Code, Diagnostic, FileId, Span, did_you_mean};

pub(crate) fn diagnostic(file: FileId, text: &str, err: Error<Rule>) -> Diagnostic {
    let pos = match err.location {
        InputLocation::Pos(p) | InputLocation::Span((p, _)) => p.min(text.len()),
    };
    let token = Token::at(text, pos);
    let span = Span::new(file, pos, pos + token.len);
    let positives = match &err.variant {
        ErrorVariant::ParsingError { positives, .. } => canonical(positives),
        ErrorVariant::CustomError { message } => {
            // pest's own guards (stack and call limits); the pre-scan should make them unreachable.
            return Diagnostic::error(
                Code::InputTooLarge,
                format!("input is too complex to parse ({message})"),
            )
            .with_primary(span, "parser gave up here")
            .with_help("split the expression into named segments");
        }
    };
    let mut renamed = err.clone();
    renamed.variant = ErrorVariant::ParsingError {
        positives: positives.clone(),
        negatives: Vec::new(),
    };
    let expected = match renamed.renamed_rules(|r| describe(*r).to_string()).variant {
        ErrorVariant::CustomError { message } => message,
        ErrorVariant::ParsingError { .. } => "unexpected input".to_string(),
    };
    let message = if positives.is_empty() {
        format!("unexpected {}", token.shown())
    } else {
        format!("{expected}, found {}", token.shown())
    };
    let mut d = Diagnostic::error(Code::SyntaxError, message).with_primary(span, token.label());
    if let Some(help) = hint(&positives, &token, &text[..pos]) {
        d = d.with_help(help);
    }
    d
}

/// Fold rules that read the same to one representative, drop noise, keep order.
fn canonical(positives: &[Rule]) -> Vec<Rule> {
    let mut out: Vec<Rule> = Vec::new();
    for &r in positives {
        let r = match r {
            Rule::docs | Rule::doc_line => continue,
            // The file rule stands for its first parts when the first item is wrong.
            Rule::file => Rule::item,
            Rule::expect_file => Rule::expect,
            Rule::op_inter | Rule::op_diff => Rule::op_union,
            Rule::kw_or => Rule::kw_and,
            Rule::op_ne => Rule::op_eq,
            Rule::arrow_both => Rule::arrow,
            other => other,
        };
        if !out.contains(&r) {
            out.push(r);
        }
    }
    if (positives.contains(&Rule::file) || positives.contains(&Rule::expect_file))
        && !out.contains(&Rule::EOI)
    {
        out.push(Rule::EOI);
    }
    // "end of file" reads best last.
    out.sort_by_key(|r| *r == Rule::EOI);
    // `not` may start any predicate or condition: naming it adds nothing.
    if out.iter().any(|r| {
        matches!(
            r,
            Rule::pred | Rule::pred_operand | Rule::cond | Rule::cond_operand
        )
    }) {
        out.retain(|r| *r != Rule::kw_not);
    }
    if out.is_empty() && positives.contains(&Rule::docs) {
        out.push(Rule::docs);
    }
    out
}

/// The words for a rule in "expected ...".
pub(crate) fn describe(r: Rule) -> &'static str {
    use Rule::*;
    match r {
        EOI => "end of file",
        COMMENT | block_comment | line_comment | doc_start => "a comment",
        // Silent helpers: pest never reports them.
        name_char | reserved_set | reserved_service | reserved_pred | reserved_cond => "a name",
        ipv4_lex | ipv6_lex => "an IP address",
        set_op => "a set operator (`|`, `&`, `-`)",
        pred_op | cond_op => "`and` or `or`",
        doc_line | docs => "a doc comment",
        lbrace => "`{`",
        rbrace => "`}`",
        lbracket => "`[`",
        rbracket => "`]`",
        lparen => "`(`",
        rparen => "`)`",
        comma => "`,`",
        colon => "`:`",
        path_sep => "`::`",
        assign => "`=`",
        range_dots => "`..`",
        arrow_one => "`->`",
        arrow_both | arrow => "an arrow (`->`, `<->`)",
        op_eq | op_ne | cmp_op => "a comparison (`==`, `!=`)",
        op_union | op_inter | op_diff => "a set operator (`|`, `&`, `-`)",
        kw_use => "`use`",
        kw_segment => "`segment`",
        kw_service => "`service`",
        kw_policy => "`policy`",
        kw_context => "`context`",
        kw_test => "`test`",
        kw_expect | expect => "`expect`",
        kw_allow => "`allow`",
        kw_deny => "`deny`",
        action => "an action (`allow`, `deny`)",
        kw_on => "`on`",
        kw_when => "`when`",
        kw_expires => "`expires`",
        kw_reason => "`reason`",
        kw_owner => "`owner`",
        kw_review_by => "`review-by`",
        kw_created => "`created`",
        kw_ticket => "`ticket`",
        kw_approved_by => "`approved-by`",
        kw_identities => "`identities`",
        kw_where => "`where`",
        kw_network => "`network`",
        kw_any => "`any`",
        kw_icmp => "`icmp`",
        kw_and | kw_or => "a logical operator (`and`, `or`)",
        kw_not => "`not`",
        kw_in => "`in`",
        kw_matches => "`matches`",
        kw_has => "`has`",
        kw_mtls => "`mtls`",
        kw_time => "`time`",
        kw_utc => "`utc`",
        kw_days => "`days`",
        kw_with => "`with`",
        kw_at => "`at`",
        kw_string => "`string`",
        kw_int => "`int`",
        kw_bool => "`bool`",
        kw_enum => "`enum`",
        bare_name | name => "a name",
        string | string_body => "a string",
        integer => "an integer",
        boolean => "a boolean (`true`, `false`)",
        date => "a date such as `2026-12-31`",
        timestamp => "a timestamp such as `2026-11-23T01:30:00Z`",
        time_of_day => "a time of day such as `01:30`",
        ip_address => "an IP address",
        net_literal => "a network such as `10.0.0.0/8`",
        protocol => "a protocol (`tcp`, `udp`, `sctp`)",
        port_range => "a port (`443`) or port range (`8000-8099`)",
        port_proto | port_spec => "a port spec such as `tcp/443`",
        value => "a value (a string, number, boolean or word)",
        value_list => "a list of values `[..]`",
        attr_segment | attr_path => "an attribute such as `team` or `labels.app`",
        file => "a policy file",
        predicate_only => "a predicate such as `tier == 0`",
        expect_file => "`expect` lines",
        item => "an item (`use`, `segment`, `service`, `policy`, `context`, `test`)",
        use_item => "`use`",
        use_path => "a module path (`std::services`) or file path (`./common.seg`)",
        use_file => "a file path such as `./common.seg`",
        use_module => "a module path such as `std::services`",
        segment => "`segment`",
        service => "`service`",
        service_list | service_item => "a service name or port spec (`tcp/443`)",
        policy => "`policy`",
        policy_meta => "policy metadata (`owner`, `review-by`)",
        policy_owner => "`owner`",
        policy_review_by => "`review-by`",
        context => "`context`",
        context_input => "a context input such as `region: string`",
        context_type => "a type (`string`, `int`, `bool`, `enum[..]`)",
        context_enum => "`enum[..]`",
        enum_value => "an enum value",
        test => "`test`",
        rule => "a rule (`allow`, `deny`)",
        rule_clause => {
            "a rule clause (`when`, `expires`, `reason`, `owner`, `ticket`, `approved-by`, `created`)"
        }
        when_clause => "`when`",
        expires_clause => "`expires`",
        reason_clause => "`reason`",
        owner_clause => "`owner`",
        created_clause => "`created`",
        ticket_clause => "`ticket`",
        approved_by_clause => "`approved-by`",
        set_expr | set_operand => "a set expression",
        set_paren => "`(`",
        set_list => "a list of names `[..]`",
        set_where => "`identities where`",
        set_network => "`network`",
        set_any => "`any`",
        set_name => "a segment or identity name",
        pred | pred_operand => "a predicate such as `team == \"payments\"`",
        pred_paren => "`(`",
        pred_has => "`has(..)`",
        pred_atom => "an attribute such as `team` or `labels.app`",
        attr_test => "a comparison (`==`, `!=`, `in`, `matches`)",
        cond | cond_operand => "a condition such as `mtls` or `source.team == \"x\"`",
        cond_paren => "`(`",
        cond_mtls => "`mtls`",
        cond_time => "`time`",
        cond_days => "`days`",
        day_range | weekday => "a day (`mon`, `tue`, `wed`, `thu`, `fri`, `sat`, `sun`)",
        cond_has => "`has(..)`",
        cond_atom => "an attribute such as `source.team`",
        endpoint => "an identity name or IP address",
        expect_clause => "a clause (`with`, `at`)",
        with_clause => "`with`",
        with_item => "a flow property (`mtls`, `request.method`, `request.path`, `context.NAME`)",
        at_clause => "`at`",
    }
}

/// Keywords a misspelt word may have meant, given what was expected.
fn keywords_for(r: Rule) -> &'static [&'static str] {
    match r {
        Rule::item => &["use", "segment", "service", "policy", "context", "test"],
        Rule::rule | Rule::action => &["allow", "deny"],
        Rule::rule_clause => &[
            "when",
            "expires",
            "reason",
            "owner",
            "ticket",
            "approved-by",
            "created",
        ],
        Rule::policy_meta => &["owner", "review-by"],
        Rule::kw_on => &["on"],
        Rule::kw_where => &["where"],
        Rule::kw_expect | Rule::expect => &["expect"],
        Rule::expect_clause => &["with", "at"],
        Rule::kw_and => &["and", "or"],
        Rule::cond | Rule::cond_operand => &["mtls", "time", "days", "not", "has"],
        Rule::context_type => &["string", "int", "bool", "enum"],
        Rule::attr_test => &["in", "matches"],
        _ => &[],
    }
}

/// Words that are keywords where a name might be expected.
const RESERVED: &[&str] = &[
    "any",
    "network",
    "identities",
    "on",
    "when",
    "expires",
    "reason",
    "owner",
    "created",
    "ticket",
    "approved-by",
    "and",
    "or",
    "not",
    "mtls",
    "time",
    "days",
];

fn hint(positives: &[Rule], token: &Token<'_>, before: &str) -> Option<String> {
    let expects = |r: Rule| positives.contains(&r);
    let prev = before.trim_end();
    if prev.ends_with('-')
        && prev[..prev.len() - 1].ends_with(|c: char| c.is_ascii_alphanumeric())
        && prev.len() < before.len()
    {
        return Some(
            "a name cannot end with `-`; write a set difference with spaces: `a - b`".into(),
        );
    }
    let wants_name = [
        Rule::name,
        Rule::set_operand,
        Rule::service_item,
        Rule::service_list,
        Rule::endpoint,
    ]
    .into_iter()
    .chain([
        Rule::pred,
        Rule::pred_operand,
        Rule::cond,
        Rule::cond_operand,
    ])
    .any(expects);
    let t = token.text;
    let last_line = prev.rsplit('\n').next().unwrap_or("").trim_start();
    if last_line.starts_with("///") && !last_line.starts_with("////") {
        return Some("a doc comment (`///`) must be followed by the item or rule it documents; use `//` here".into());
    }
    if t == "/" && expects(Rule::arrow_one) && prev.ends_with(|c: char| c.is_ascii_hexdigit()) {
        return Some(
            "a test flow goes from one address to another: write an address, not a network".into(),
        );
    }
    if t.starts_with("///") {
        return Some(
            "doc comments (`///`) go on their own lines before an item or rule; use `//` here"
                .into(),
        );
    }
    if token.is_word() && wants_name && RESERVED.contains(&t) {
        return Some(format!(
            "`{t}` is a keyword here; to use it as a name, quote it: `\"{t}\"`"
        ));
    }
    if t == "review-by" && expects(Rule::rule_clause) {
        return Some("policy metadata (`owner`, `review-by`) goes before the rules".into());
    }
    if t == "=" && expects(Rule::attr_test) {
        return Some("compare with `==`".into());
    }
    if t == "==" && expects(Rule::assign) {
        return Some("`with` sets a flow property with one `=`: `request.method = \"GET\"`".into());
    }
    if t.starts_with(|c: char| c.is_ascii_digit()) && expects(Rule::set_operand) {
        return Some(format!("write addresses as a network: `network {t}`"));
    }
    if t.contains('/') && t.starts_with(|c: char| c.is_ascii_digit()) && expects(Rule::arrow_one) {
        return Some("a test flow goes from one address, not a network".into());
    }
    if t.starts_with(|c: char| c.is_ascii_uppercase()) && wants_name {
        return Some(format!(
            "bare names are lowercase; write other names quoted: `\"{t}\"`"
        ));
    }
    if token.is_word() {
        let candidates = positives
            .iter()
            .flat_map(|r| keywords_for(*r).iter().copied());
        if let Some(k) = did_you_mean(t, candidates) {
            return Some(format!("did you mean `{k}`?"));
        }
    }
    None
}

/// The text at the error position, for "found ..." and the label.
struct Token<'a> {
    text: &'a str,
    len: usize,
}

impl<'a> Token<'a> {
    fn at(text: &'a str, pos: usize) -> Token<'a> {
        let rest = text.get(pos..).unwrap_or("");
        let len = if rest.is_empty() {
            0
        } else if rest.starts_with('"') {
            let line = rest.find(['\n', '\r']).unwrap_or(rest.len());
            let mut end = line;
            let mut escaped = false;
            for (i, c) in rest.char_indices().skip(1) {
                if i >= line {
                    break;
                }
                match c {
                    '\\' if !escaped => escaped = true,
                    '"' if !escaped => {
                        end = i + 1;
                        break;
                    }
                    _ => escaped = false,
                }
            }
            end
        } else if rest.starts_with("///") {
            3
        } else if rest.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
            let b = rest.as_bytes();
            let mut i = 0;
            while i < b.len() {
                let c = b[i];
                let word = c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b':' | b'/');
                if word || (c == b'-' && b.get(i + 1) != Some(&b'>')) {
                    i += 1;
                } else {
                    break;
                }
            }
            i
        } else if let Some(p) = ["<->", "->", "==", "!=", "::", ".."]
            .iter()
            .find(|p| rest.starts_with(**p))
        {
            p.len()
        } else {
            rest.chars().next().map_or(0, char::len_utf8)
        };
        Token {
            text: &rest[..len],
            len,
        }
    }

    fn is_word(&self) -> bool {
        self.text.starts_with(|c: char| c.is_ascii_alphabetic())
    }

    /// `` `x` `` or "end of file", shortened when long.
    fn shown(&self) -> String {
        if self.len == 0 {
            return "end of file".into();
        }
        let mut chars = self.text.chars();
        let head: String = chars.by_ref().take(30).collect();
        let more = if chars.next().is_some() { "…" } else { "" };
        let head = head
            .replace('`', "'")
            .replace(|c: char| c.is_control(), " ");
        format!("`{head}{more}`")
    }

    fn label(&self) -> String {
        if self.len == 0 {
            "file ends here".into()
        } else if self.text.chars().count() <= 16 {
            format!("unexpected {}", self.shown())
        } else {
            "unexpected text".into()
        }
    }
}
