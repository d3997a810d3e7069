//! `[jit]`: just-in-time grants (`seg grant`). The ceiling on a grant's
//! lifetime, the file grants go to, and which identities a grant may name
//! without an approval. Invalid values are E0151; unknown keys E0150.

use super::{Manifest, ManifestParser, Table};
use seg_diag::{Code, FileId, Span};
use toml::Spanned;
use toml::de::DeValue;

/// `max-ttl` when not set.
pub const DEFAULT_MAX_TTL: &str = "8h";
/// `file` when not set.
pub const DEFAULT_GRANTS_FILE: &str = "policy/grants.seg";
/// The longest `max-ttl` accepted: beyond, a grant is not just in time.
pub const MAX_MAX_TTL: i64 = 90 * 86_400;

pub(crate) const KEYS: &[&str] = &["max-ttl", "file", "grantable"];

/// `seg.toml [jit]`, defaults filled in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Jit {
    /// The longest lifetime of a grant, from `created` to its expiry, in seconds.
    pub max_ttl: i64,
    /// `max-ttl` as written (`8h`), for messages.
    pub max_ttl_text: String,
    /// The grants file, relative to the project folder, `/`-separated.
    pub file: String,
    /// The identities a grant may name without `approved-by`, as a predicate
    /// of `identities where`; `None`: every identity.
    pub grantable: Option<String>,
    /// The `[jit]` header, or the `[project]` header when there is none.
    pub span: Span,
    /// Where `max-ttl` and `grantable` are written, when they are.
    pub max_ttl_span: Option<Span>,
    pub grantable_span: Option<Span>,
}

impl Jit {
    pub fn new(span: Span) -> Jit {
        Jit {
            max_ttl: parse_ttl(DEFAULT_MAX_TTL).unwrap_or(8 * 3600),
            max_ttl_text: DEFAULT_MAX_TTL.to_string(),
            file: DEFAULT_GRANTS_FILE.to_string(),
            grantable: None,
            span,
            max_ttl_span: None,
            grantable_span: None,
        }
    }
}

/// A duration such as `2h`, `90m`, `1h30m` or `7d`: whole numbers, each with
/// its unit (`s`, `m`, `h`, `d`), largest first is not required. `Err` says
/// what is wrong; zero is allowed here (callers decide what they accept).
pub fn parse_ttl(text: &str) -> Result<i64, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err("a duration is a number with a unit, e.g. `2h` or `1h30m`".into());
    }
    let mut total: i64 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!(
                "`{text}` is not a duration: write a number, then a unit (`s`, `m`, `h`, `d`), e.g. `2h` or `1h30m`"
            ));
        }
        let (number, after) = rest.split_at(digits);
        let unit = after.chars().next().ok_or_else(|| {
            format!("`{text}` has no unit after `{number}`: use `s`, `m`, `h` or `d`")
        })?;
        let scale: i64 = match unit {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            other => {
                return Err(format!(
                    "`{other}` in `{text}` is not a unit: use `s`, `m`, `h` or `d` (a grant of years is not just in time)"
                ));
            }
        };
        let n: i64 = number
            .parse()
            .map_err(|_| format!("`{text}` is too long a duration"))?;
        total = n
            .checked_mul(scale)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| format!("`{text}` is too long a duration"))?;
        rest = &after[unit.len_utf8()..];
    }
    Ok(total)
}

impl ManifestParser<'_> {
    pub(super) fn jit(&mut self, table: &Table<'_>, m: &mut Manifest, header: Span) {
        m.jit.span = header;
        for (key, value) in self.ordered(table, KEYS, "`[jit]`") {
            match key.get_ref().as_ref() {
                "max-ttl" => self.max_ttl(value, m),
                "file" => {
                    let Some(file) = self.string(value, "`file`") else {
                        continue;
                    };
                    if let Some(why) = grants_file_problem(&file) {
                        let span = self.span(value);
                        self.jit_error(
                            span,
                            format!("`file` {why}"),
                            "invalid grants file",
                            "name a `.seg` file inside the project, e.g. `policy/grants.seg`",
                        );
                    } else {
                        m.jit.file = file;
                    }
                }
                "grantable" => {
                    let Some(text) = self.string(value, "`grantable`") else {
                        continue;
                    };
                    let span = self.span(value);
                    // Syntax only here; names and types are checked with the inventory.
                    if let Err(d) = seg_syntax::parse_predicate(FileId(u32::MAX), &text) {
                        self.jit_error(
                            span,
                            format!("`grantable` is not a predicate: {}", d.message),
                            "not an `identities where` predicate",
                            "write a predicate as after `identities where`, e.g. `not tier == 0`",
                        );
                    } else {
                        m.jit.grantable = Some(text);
                        m.jit.grantable_span = Some(span);
                    }
                }
                _ => {}
            }
        }
    }

    fn max_ttl(&mut self, value: &Spanned<DeValue<'_>>, m: &mut Manifest) {
        let Some(text) = self.string(value, "`max-ttl`") else {
            return;
        };
        let span = self.span(value);
        match parse_ttl(&text) {
            Ok(0) => self.jit_error(
                span,
                "`max-ttl` is zero: no grant could be made",
                "zero",
                "give the longest lifetime a grant may have, e.g. `8h`",
            ),
            Ok(secs) if secs > MAX_MAX_TTL => self.jit_error(
                span,
                format!("`max-ttl` is longer than 90 days: `{text}`"),
                "too long",
                "a grant that lives longer is a standing rule: write it in a policy file",
            ),
            Ok(secs) => {
                m.jit.max_ttl = secs;
                m.jit.max_ttl_text = text;
                m.jit.max_ttl_span = Some(span);
            }
            Err(why) => self.jit_error(span, why, "not a duration", "e.g. `8h`, `90m` or `1d`"),
        }
    }

    fn jit_error(
        &mut self,
        span: Span,
        message: impl Into<String>,
        label: &str,
        help: impl Into<String>,
    ) {
        self.report_as(Code::InvalidJitSetting, span, message, label, help);
    }

    /// E0151 when the grants file is not among `[project] sources`: its
    /// grants would never be compiled.
    pub(super) fn jit_file_in_sources(&mut self, m: &Manifest) {
        // As the driver matches sources: `*` stays within a folder.
        let matched = m.sources.iter().any(|g| {
            globset::GlobBuilder::new(g.trim_start_matches("./"))
                .literal_separator(true)
                .build()
                .is_ok_and(|g| g.compile_matcher().is_match(&m.jit.file))
        });
        if !matched {
            let span = m.jit.span;
            self.jit_error(
                span,
                format!(
                    "the grants file `{}` is not among `[project] sources`",
                    m.jit.file
                ),
                "grants would not be compiled",
                format!(
                    "set `[jit] file` to a file `{}` matches, or add the file to `sources`",
                    m.sources.join("`, `")
                ),
            );
        }
    }
}

/// Why a path cannot be the grants file, if it cannot.
fn grants_file_problem(file: &str) -> Option<&'static str> {
    if !file.ends_with(".seg") {
        return Some("must end with `.seg`");
    }
    if file.starts_with('/') || file.contains('\\') || file.chars().any(char::is_control) {
        return Some("must be a relative path with `/` between folders");
    }
    if file
        .split('/')
        .any(|part| part.is_empty() || part == "." || part == "..")
    {
        return Some("must stay inside the project (no `..`, `.` or empty parts)");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_with_units_and_compounds() {
        assert_eq!(parse_ttl("2h"), Ok(7200));
        assert_eq!(parse_ttl("1h30m"), Ok(5400));
        assert_eq!(parse_ttl("90s"), Ok(90));
        assert_eq!(parse_ttl("7d"), Ok(7 * 86_400));
        assert_eq!(parse_ttl("0s"), Ok(0));
        for bad in [
            "",
            "h",
            "2",
            "10y",
            "2 h",
            "-1h",
            "1.5h",
            "99999999999999999999d",
        ] {
            assert!(parse_ttl(bad).is_err(), "{bad}");
        }
        assert!(parse_ttl("10y").unwrap_err().contains("`y`"));
    }

    #[test]
    fn grants_files_stay_in_the_project() {
        assert_eq!(grants_file_problem("policy/grants.seg"), None);
        for bad in [
            "grants.txt",
            "/etc/x.seg",
            "../x.seg",
            "a//b.seg",
            "a\\b.seg",
        ] {
            assert!(grants_file_problem(bad).is_some(), "{bad}");
        }
    }
}
