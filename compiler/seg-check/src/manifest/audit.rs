//! `[audit]`: how `seg audit` reports what observed flows say about the policy.
//! The level of each finding, how soon an expiring rule in use is reported,
//! which ports are ephemeral, and how long a silence in a flow log is a gap.

use super::{Manifest, ManifestParser, Table};
use seg_diag::did_you_mean;
use seg_ir::time::parse_duration;
use toml::Spanned;
use toml::de::DeValue;

/// How a finding of `seg audit` is reported; `Error` makes the run exit 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FindingLevel {
    Off,
    Note,
    Warning,
    Error,
}

impl FindingLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            FindingLevel::Off => "off",
            FindingLevel::Note => "note",
            FindingLevel::Warning => "warning",
            FindingLevel::Error => "error",
        }
    }
}

/// Every finding `seg audit` reports, with its default level.
pub const AUDIT_FINDINGS: &[(&str, FindingLevel)] = &[
    ("unused-rule", FindingLevel::Warning),
    ("not-enough-evidence", FindingLevel::Note),
    ("over-broad", FindingLevel::Warning),
    ("would-break", FindingLevel::Error),
    ("unverified-condition", FindingLevel::Note),
    ("denied-observed", FindingLevel::Warning),
    ("expiring-in-use", FindingLevel::Warning),
    ("inactive-identity", FindingLevel::Warning),
    ("unresolved", FindingLevel::Note),
    ("coverage-gap", FindingLevel::Note),
];

/// `expiring-within` when not set: the window of the `expiring-soon` lint.
pub const DEFAULT_EXPIRING_WITHIN: i64 = 14 * 86_400;
/// `ephemeral-ports` when not set: Linux's default range and IANA's dynamic ports.
pub const DEFAULT_EPHEMERAL_PORTS: (u16, u16) = (32_768, 65_535);
/// `max-gap` when not set: a flow log interface silent longer than this has a gap
/// (AWS aggregates over at most 10 minutes and writes NODATA for idle intervals).
pub const DEFAULT_MAX_GAP: i64 = 20 * 60;

pub(crate) const SETTINGS: &[&str] = &["expiring-within", "ephemeral-ports", "max-gap", "nodata"];

/// What an AWS `NODATA` record (an interval in which the interface was
/// logged and recorded no flow) says about coverage: `[audit] nodata`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum NoDataMeaning {
    /// A coverage gap, like `SKIPDATA` (the default): nothing recorded is
    /// not taken to show that nothing happened, so a rule is judged unused
    /// only by identities whose capture points never wrote `NODATA`.
    #[default]
    Gap,
    /// The interface was logged and idle: the interval is covered, no gap.
    /// For logs known to be complete (AWS writes `NODATA` only when the
    /// interface carried no traffic in the interval).
    Idle,
}

impl NoDataMeaning {
    pub fn as_str(self) -> &'static str {
        match self {
            NoDataMeaning::Gap => "gap",
            NoDataMeaning::Idle => "idle",
        }
    }
}
pub(crate) const LEVELS: &[&str] = &["error", "warning", "note", "off"];

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditSettings {
    /// The level of each finding of [`AUDIT_FINDINGS`], defaults filled in.
    pub levels: Vec<(&'static str, FindingLevel)>,
    /// Seconds: a rule expiring this soon (or expired) that traffic uses is reported.
    pub expiring_within: i64,
    /// Inclusive range of client ports; a server port in it is never a finding.
    pub ephemeral_ports: (u16, u16),
    /// Seconds an interface may be silent before the silence is a coverage gap.
    pub max_gap: i64,
    /// Whether a `NODATA` record is a coverage gap or an idle, covered interval.
    pub nodata: NoDataMeaning,
}

impl Default for AuditSettings {
    fn default() -> AuditSettings {
        AuditSettings {
            levels: AUDIT_FINDINGS.to_vec(),
            expiring_within: DEFAULT_EXPIRING_WITHIN,
            ephemeral_ports: DEFAULT_EPHEMERAL_PORTS,
            max_gap: DEFAULT_MAX_GAP,
            nodata: NoDataMeaning::default(),
        }
    }
}

impl AuditSettings {
    /// The level of a finding by name (`Off` for a name that is not one).
    pub fn level(&self, finding: &str) -> FindingLevel {
        self.levels
            .iter()
            .find(|(n, _)| *n == finding)
            .map_or(FindingLevel::Off, |(_, l)| *l)
    }
}

impl ManifestParser<'_> {
    pub(super) fn audit(&mut self, table: &Table<'_>, m: &mut Manifest) {
        let known: Vec<&str> = SETTINGS
            .iter()
            .copied()
            .chain(AUDIT_FINDINGS.iter().map(|(n, _)| *n))
            .collect();
        for (key, value) in self.ordered(table, &known, "`[audit]`") {
            match key.get_ref().as_ref() {
                "expiring-within" => {
                    if let Some(s) = self.duration(value, "`expiring-within`") {
                        m.audit.expiring_within = s;
                    }
                }
                "max-gap" => {
                    if let Some(s) = self.duration(value, "`max-gap`") {
                        m.audit.max_gap = s;
                    }
                }
                "ephemeral-ports" => {
                    if let Some(r) = self.port_range(value) {
                        m.audit.ephemeral_ports = r;
                    }
                }
                "nodata" => {
                    if let Some(n) = self.nodata(value) {
                        m.audit.nodata = n;
                    }
                }
                finding => {
                    if let Some(level) = self.finding_level(value, finding)
                        && let Some(slot) = m.audit.levels.iter_mut().find(|(n, _)| *n == finding)
                    {
                        slot.1 = level;
                    }
                }
            }
        }
    }

    fn finding_level(&mut self, value: &Spanned<DeValue<'_>>, name: &str) -> Option<FindingLevel> {
        let level = self.string(value, &format!("the level of `{name}`"))?;
        match level.as_str() {
            "error" => Some(FindingLevel::Error),
            "warning" => Some(FindingLevel::Warning),
            "note" => Some(FindingLevel::Note),
            "off" => Some(FindingLevel::Off),
            other => {
                let alias = match other {
                    "deny" | "forbid" => Some("error"),
                    "warn" => Some("warning"),
                    "allow" | "ignore" | "none" => Some("off"),
                    "info" => Some("note"),
                    _ => did_you_mean(other, LEVELS.iter().copied()),
                };
                let help = alias.map_or_else(
                    || "use `error`, `warning`, `note` or `off`".to_string(),
                    |s| format!("did you mean `{s}`?"),
                );
                let span = self.span(value);
                self.report(
                    span,
                    format!("unknown finding level `{other}`"),
                    "not a finding level",
                    help,
                );
                None
            }
        }
    }

    /// A positive duration written `14d`, `12h`, `30m` or `90s`, in seconds.
    fn duration(&mut self, v: &Spanned<DeValue<'_>>, context: &str) -> Option<i64> {
        let s = self.string(v, context)?;
        match parse_duration(&s) {
            Some(secs) if secs > 0 => Some(secs),
            _ => {
                let span = self.span(v);
                self.report(
                    span,
                    format!("{context} `{s}` is not a duration"),
                    "not a duration",
                    "write a whole number with a unit: `14d`, `12h`, `30m` or `90s`",
                );
                None
            }
        }
    }

    /// `"gap"` or `"idle"`.
    fn nodata(&mut self, v: &Spanned<DeValue<'_>>) -> Option<NoDataMeaning> {
        let s = self.string(v, "`nodata`")?;
        match s.as_str() {
            "gap" => Some(NoDataMeaning::Gap),
            "idle" => Some(NoDataMeaning::Idle),
            _ => {
                let span = self.span(v);
                self.report(
                    span,
                    format!("`nodata` `{s}` is neither `gap` nor `idle`"),
                    "not a meaning of NODATA",
                    "write `\"gap\"` (NODATA intervals are coverage gaps, the default) or `\"idle\"` (the interface was logged and idle)",
                );
                None
            }
        }
    }

    /// `"32768-65535"`: an inclusive port range, low to high.
    fn port_range(&mut self, v: &Spanned<DeValue<'_>>) -> Option<(u16, u16)> {
        let s = self.string(v, "`ephemeral-ports`")?;
        let parsed = s.split_once('-').and_then(|(lo, hi)| {
            let lo = lo.trim().parse::<u16>().ok()?;
            let hi = hi.trim().parse::<u16>().ok()?;
            (1 <= lo && lo <= hi).then_some((lo, hi))
        });
        if parsed.is_none() {
            let span = self.span(v);
            self.report(
                span,
                format!("`ephemeral-ports` `{s}` is not a port range"),
                "not a port range",
                "write two ports from 1 to 65535, low to high: `\"32768-65535\"`",
            );
        }
        parsed
    }
}
