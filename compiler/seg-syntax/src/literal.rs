//! Checking and decoding literals. The grammar lexes them loosely; here each
//! one is validated and a malformed literal becomes an E0002 diagnostic whose
//! primary label covers exactly the literal (or the bad escape inside it).

use crate::ast::{Date, PortSpec, Protocol, TimeOfDay, Timestamp};
use crate::cursor::Ctx;
use crate::grammar::Rule;
use ipnet::IpNet;
use pest::iterators::Pair;
use seg_diag::{Code, Diagnostic, Span};
use std::net::IpAddr;

type Result<T> = std::result::Result<T, Diagnostic>;

fn invalid(span: Span, message: String, label: &str) -> Diagnostic {
    Diagnostic::error(Code::InvalidLiteral, message).with_primary(span, label)
}

/// The decoded text of a `string` pair.
pub(crate) fn string(ctx: Ctx, pair: &Pair<'_, Rule>) -> Result<String> {
    let mut c = ctx.children(pair);
    let body = c.next(Rule::string_body)?;
    c.done()?;
    decode_string(ctx, &body)
}

fn decode_string(ctx: Ctx, body: &Pair<'_, Rule>) -> Result<String> {
    let text = body.as_str();
    let mut out = String::with_capacity(text.len());
    let mut chars = text.char_indices().peekable();
    while let Some((at, ch)) = chars.next() {
        if ch != '\\' {
            if (ch as u32) < 0x20 {
                return Err(invalid(
                    ctx.sub_span(body, at, ch.len_utf8()),
                    format!("control character U+{:04X} in a string", ch as u32),
                    "control character",
                )
                .with_help("write it as an escape such as `\\t` or `\\u0009`"));
            }
            out.push(ch);
            continue;
        }
        let Some((_, esc)) = chars.next() else {
            return Err(ctx.bug(ctx.span(body), "string ends with a lone backslash"));
        };
        let simple = match esc {
            '"' => Some('"'),
            '\\' => Some('\\'),
            '/' => Some('/'),
            'b' => Some('\u{8}'),
            'f' => Some('\u{c}'),
            'n' => Some('\n'),
            'r' => Some('\r'),
            't' => Some('\t'),
            _ => None,
        };
        if let Some(c) = simple {
            out.push(c);
            continue;
        }
        if esc != 'u' {
            return Err(bad_escape(
                ctx,
                body,
                at,
                1 + esc.len_utf8(),
                &format!("\\{esc}"),
            ));
        }
        let unit = hex4(text, at + 2)
            .ok_or_else(|| bad_escape(ctx, body, at, escape_len(text, at), "\\u"))?;
        skip(&mut chars, 4);
        let code = if (0xD800..0xDC00).contains(&unit) {
            // A high surrogate must be followed by `\uDC00`..`\uDFFF`.
            let low_at = at + 6;
            let low = (text.get(low_at..low_at + 2) == Some("\\u"))
                .then(|| hex4(text, low_at + 2))
                .flatten();
            match low {
                Some(low) if (0xDC00..0xE000).contains(&low) => {
                    skip(&mut chars, 6);
                    0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                }
                _ => return Err(bad_surrogate(ctx, body, at)),
            }
        } else if (0xDC00..0xE000).contains(&unit) {
            return Err(bad_surrogate(ctx, body, at));
        } else {
            unit
        };
        match char::from_u32(code) {
            Some(c) => out.push(c),
            None => return Err(bad_surrogate(ctx, body, at)),
        }
    }
    Ok(out)
}

fn skip(chars: &mut impl Iterator<Item = (usize, char)>, n: usize) {
    for _ in 0..n {
        chars.next();
    }
}

fn hex4(text: &str, at: usize) -> Option<u32> {
    let digits = text.get(at..at + 4)?;
    if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(digits, 16).ok()
}

/// Length of `\u` plus the hex digits that follow it (at most 4), for the label.
fn escape_len(text: &str, at: usize) -> usize {
    2 + text[at + 2..]
        .bytes()
        .take(4)
        .take_while(u8::is_ascii_hexdigit)
        .count()
}

fn bad_escape(ctx: Ctx, body: &Pair<'_, Rule>, at: usize, len: usize, esc: &str) -> Diagnostic {
    invalid(ctx.sub_span(body, at, len), format!("invalid escape `{esc}` in a string"), "invalid escape")
        .with_note("strings use JSON escapes: `\\\"`, `\\\\`, `\\/`, `\\b`, `\\f`, `\\n`, `\\r`, `\\t` and `\\uXXXX`")
        .with_help("write `\\\\` for a backslash")
}

fn bad_surrogate(ctx: Ctx, body: &Pair<'_, Rule>, at: usize) -> Diagnostic {
    invalid(ctx.sub_span(body, at, 6), "unpaired UTF-16 surrogate in a string".into(), "unpaired surrogate")
        .with_help("write a character outside the basic plane as a pair such as `\\ud83d\\ude00`, or literally")
}

/// A bare name, checked for the dash rules the lexer leaves open.
pub(crate) fn bare_name(ctx: Ctx, pair: &Pair<'_, Rule>) -> Result<String> {
    let text = pair.as_str();
    // Every problem involves a `-`; names are short, so byte pairs beat substring search.
    let pairs = || text.as_bytes().windows(2);
    let problem = if !text.contains('-') {
        None
    } else if text.ends_with('-') {
        Some("a name cannot end with `-`")
    } else if pairs().any(|w| w == b"--") {
        Some("a name cannot contain `--`")
    } else if pairs().any(|w| w == b"_-" || w == b"-_") {
        Some("`-` must stand between letters or digits")
    } else {
        None
    };
    match problem {
        None => Ok(text.to_string()),
        Some(note) => Err(Diagnostic::error(Code::SyntaxError, format!("invalid name `{text}`"))
            .with_primary(ctx.span(pair), "invalid name")
            .with_note(note)
            .with_help("write `-` with spaces around it for a set difference (`a - b`), or quote an unusual name")),
    }
}

pub(crate) fn integer(ctx: Ctx, pair: &Pair<'_, Rule>) -> Result<i64> {
    let text = pair.as_str();
    text.parse().map_err(|_| {
        invalid(
            ctx.span(pair),
            format!("integer `{text}` is out of range"),
            "out of range",
        )
        .with_note("integers are 64-bit signed")
    })
}

pub(crate) fn date(ctx: Ctx, pair: &Pair<'_, Rule>) -> Result<Date> {
    let text = pair.as_str();
    if let Some(d) = Date::parse(text) {
        return Ok(d);
    }
    let err = invalid(
        ctx.span(pair),
        format!("invalid date `{text}`"),
        "invalid date",
    );
    let parts: Vec<&str> = text.split('-').collect();
    let shape_ok =
        parts.len() == 3 && parts[0].len() == 4 && parts[1].len() == 2 && parts[2].len() == 2;
    let nums: Vec<Option<u32>> = parts.iter().map(|p| p.parse().ok()).collect();
    Err(match (shape_ok, nums.as_slice()) {
        (true, [Some(y), Some(m), Some(_)]) if (1..=12).contains(m) => {
            let days = (28..=31u8)
                .rev()
                .find(|d| Date::new(*y as i32, *m as u8, *d).is_some())
                .unwrap_or(28);
            err.with_note(format!("{y:04}-{m:02} has {days} days"))
        }
        (true, [_, Some(m), _]) => err.with_note(format!("there is no month {m}")),
        _ => err.with_help("write dates as `YYYY-MM-DD`, e.g. `2026-12-31`"),
    })
}

pub(crate) fn timestamp(ctx: Ctx, pair: &Pair<'_, Rule>) -> Result<Timestamp> {
    let text = pair.as_str();
    Timestamp::parse_rfc3339(text).map_err(|why| {
        invalid(
            ctx.span(pair),
            format!("invalid timestamp `{text}`"),
            "invalid timestamp",
        )
        .with_note(format!(
            "{why}; a timestamp is an RFC 3339 instant with a time zone"
        ))
        .with_help("write e.g. `2026-11-23T01:30:00Z` or `2026-11-23T02:30:00+01:00`")
    })
}

pub(crate) fn time_of_day(ctx: Ctx, pair: &Pair<'_, Rule>) -> Result<TimeOfDay> {
    let text = pair.as_str();
    TimeOfDay::parse(text).ok_or_else(|| {
        invalid(
            ctx.span(pair),
            format!("invalid time of day `{text}`"),
            "invalid time",
        )
        .with_note("times of day are `HH:MM` from `00:00` to `23:59` (`24:00` may end a window)")
    })
}

pub(crate) fn ip_address(ctx: Ctx, pair: &Pair<'_, Rule>) -> Result<IpAddr> {
    let text = pair.as_str();
    text.parse().map_err(|_| {
        invalid(
            ctx.span(pair),
            format!("invalid IP address `{text}`"),
            "invalid address",
        )
    })
}

/// `10.0.0.0/8`, `fd00::/8`, or a bare address (a /32 or /128).
pub(crate) fn network(ctx: Ctx, pair: &Pair<'_, Rule>) -> Result<IpNet> {
    let text = pair.as_str();
    let span = ctx.span(pair);
    let (addr_text, prefix_text) = match text.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (text, None),
    };
    let addr: IpAddr = addr_text.parse().map_err(|_| {
        invalid(
            span,
            format!("invalid IP address `{addr_text}`"),
            "invalid address",
        )
    })?;
    let max: u8 = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix_text {
        None => max,
        Some(p) => match p.parse::<u8>() {
            Ok(n) if n <= max => n,
            _ => {
                let family = if addr.is_ipv4() { "IPv4" } else { "IPv6" };
                return Err(invalid(
                    span,
                    format!("invalid prefix length `/{p}` in `{text}`"),
                    "prefix too long",
                )
                .with_note(format!("an {family} prefix length is at most {max}")));
            }
        },
    };
    let net = IpNet::new(addr, prefix).map_err(|_| ctx.bug(span, "prefix checked above"))?;
    if net.network() != addr {
        return Err(
            invalid(span, format!("`{text}` has host bits set"), "host bits set")
                .with_note(format!("the network of `{text}` is `{}`", net.trunc()))
                .with_help(format!(
                    "write `{}`, or `{addr}/{max}` for the one address",
                    net.trunc()
                )),
        );
    }
    Ok(net)
}

/// A `port_spec` pair.
pub(crate) fn port_spec(ctx: Ctx, pair: &Pair<'_, Rule>) -> Result<PortSpec> {
    let mut c = ctx.children(pair);
    let inner = c.next_any()?;
    c.done()?;
    match inner.as_rule() {
        Rule::kw_any => Ok(PortSpec::Any),
        Rule::kw_icmp => Ok(PortSpec::Icmp),
        Rule::port_proto => {
            let mut c = ctx.children(&inner);
            let proto = c.next(Rule::protocol)?;
            let range = c.next(Rule::port_range)?;
            c.done()?;
            let protocol = match proto.as_str() {
                "tcp" => Protocol::Tcp,
                "udp" => Protocol::Udp,
                "sctp" => Protocol::Sctp,
                other => return Err(ctx.bug(ctx.span(&proto), format!("protocol `{other}`"))),
            };
            let (lo, hi) = port_range(ctx, &range)?;
            Ok(PortSpec::Ports { protocol, lo, hi })
        }
        other => Err(ctx.bug(ctx.span(&inner), format!("{other:?} in a port spec"))),
    }
}

fn port_range(ctx: Ctx, pair: &Pair<'_, Rule>) -> Result<(u16, u16)> {
    let text = pair.as_str();
    let (lo_text, hi_text) = text.split_once('-').unwrap_or((text, text));
    let port = |t: &str, offset: usize| -> Result<u16> {
        t.parse::<u16>().map_err(|_| {
            invalid(
                ctx.sub_span(pair, offset, t.len()),
                format!("port `{t}` is out of range"),
                "not a port",
            )
            .with_note("ports go from 0 to 65535")
        })
    };
    let lo = port(lo_text, 0)?;
    let hi = port(hi_text, text.len() - hi_text.len())?;
    if hi < lo {
        return Err(invalid(
            ctx.span(pair),
            format!("port range `{text}` is reversed"),
            "reversed range",
        )
        .with_help(format!("write `{hi}-{lo}`")));
    }
    Ok((lo, hi))
}
