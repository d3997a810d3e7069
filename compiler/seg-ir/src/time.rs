//! Dates, instants, times of day and weekdays, all in UTC.
//!
//! Seg needs only UTC calendar arithmetic, so it is done here with the
//! days-from-civil algorithm rather than with a time-zone library.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A calendar date (UTC), always valid once constructed through [`Date::new`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Date {
    pub year: i32,
    pub month: u8,
    pub day: u8,
}

/// A point in time: whole seconds since 1970-01-01T00:00:00Z.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Timestamp(pub i64);

/// Minutes since midnight, 0..=1440 (1440 only as the end of a window).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TimeOfDay(pub u16);

/// Monday = 0 … Sunday = 6.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Weekday(pub u8);

pub const SECONDS_PER_DAY: i64 = 86_400;
const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

impl Date {
    /// A date, or `None` when the day does not exist (2026-02-30).
    pub fn new(year: i32, month: u8, day: u8) -> Option<Date> {
        let valid = (1..=12).contains(&month) && day >= 1 && day <= days_in_month(year, month);
        valid.then_some(Date { year, month, day })
    }

    /// Parse `YYYY-MM-DD`.
    pub fn parse(s: &str) -> Option<Date> {
        let b = s.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        let year = digits(&s[0..4])? as i32;
        let month = digits(&s[5..7])? as u8;
        let day = digits(&s[8..10])? as u8;
        Date::new(year, month, day)
    }

    /// Days since 1970-01-01 (negative before).
    pub fn days_since_epoch(self) -> i64 {
        let y = i64::from(self.year) - i64::from(self.month <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = i64::from(self.month);
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    pub fn from_days_since_epoch(days: i64) -> Date {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
        let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
        Date { year, month, day }
    }

    /// 00:00:00Z at the start of this date.
    pub fn start(self) -> Timestamp {
        Timestamp(self.days_since_epoch() * SECONDS_PER_DAY)
    }

    /// 00:00:00Z of the following day: the first instant after this date.
    pub fn end(self) -> Timestamp {
        Timestamp((self.days_since_epoch() + 1) * SECONDS_PER_DAY)
    }

    pub fn weekday(self) -> Weekday {
        // 1970-01-01 was a Thursday (3).
        Weekday((self.days_since_epoch() + 3).rem_euclid(7) as u8)
    }

    pub fn add_days(self, days: i64) -> Date {
        Date::from_days_since_epoch(self.days_since_epoch() + days)
    }
}

fn digits(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        _ => 0,
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl From<Date> for String {
    fn from(d: Date) -> String {
        d.to_string()
    }
}

impl TryFrom<String> for Date {
    type Error = String;
    fn try_from(s: String) -> Result<Date, String> {
        Date::parse(&s).ok_or_else(|| format!("invalid date `{s}`"))
    }
}

impl Timestamp {
    /// Parse RFC 3339 in UTC or with an offset: `2026-11-23T01:30:00Z`,
    /// `2026-11-23T01:30Z`, `2026-11-23T02:30:00+01:00`. Fractions of a second are dropped.
    pub fn parse(s: &str) -> Option<Timestamp> {
        Timestamp::parse_rfc3339(s).ok()
    }

    /// [`Timestamp::parse`], saying what is wrong when the text is not an instant.
    pub fn parse_rfc3339(s: &str) -> Result<Timestamp, InstantError> {
        let (date_text, rest) = s.split_once(['T', 't']).ok_or(InstantError::NoTime)?;
        let date = Date::parse(date_text).ok_or(InstantError::Date)?;
        let (clock, offset) = if let Some(c) = rest.strip_suffix(['Z', 'z']) {
            (c, 0)
        } else {
            let at = rest.rfind(['+', '-']).ok_or(InstantError::NoZone)?;
            let (c, off) = rest.split_at(at);
            (c, parse_offset(off)?)
        };
        let clock = match clock.split_once('.') {
            Some((whole, fraction))
                if !fraction.is_empty() && fraction.bytes().all(|b| b.is_ascii_digit()) =>
            {
                whole
            }
            Some(_) => return Err(InstantError::Clock),
            None => clock,
        };
        let parts: Vec<&str> = clock.split(':').collect();
        if !(2..=3).contains(&parts.len()) || parts.iter().any(|p| p.len() != 2) {
            return Err(InstantError::Clock);
        }
        let field = |p: &str| digits(p).map(i64::from).ok_or(InstantError::Clock);
        let (h, m) = (field(parts[0])?, field(parts[1])?);
        let sec = match parts.get(2) {
            Some(p) => field(p)?,
            None => 0,
        };
        if h > 23 || m > 59 || sec > 60 {
            return Err(InstantError::Clock);
        }
        // A leap second (`:60`) counts as the last second of its minute.
        Ok(Timestamp(
            date.start().0 + h * 3600 + m * 60 + sec.min(59) - offset,
        ))
    }

    pub fn date(self) -> Date {
        Date::from_days_since_epoch(self.0.div_euclid(SECONDS_PER_DAY))
    }

    /// Seconds since midnight UTC.
    pub fn second_of_day(self) -> i64 {
        self.0.rem_euclid(SECONDS_PER_DAY)
    }

    pub fn weekday(self) -> Weekday {
        self.date().weekday()
    }
}

/// `+HH:MM` or `-HH:MM` (two digits each, at most 23:59) in seconds east of UTC.
fn parse_offset(text: &str) -> Result<i64, InstantError> {
    let sign = if text.starts_with('-') { -1 } else { 1 };
    let bad = || InstantError::Offset(text.to_string());
    let (h, m) = text[1..].split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let (h, m) = (
        i64::from(digits(h).ok_or_else(bad)?),
        i64::from(digits(m).ok_or_else(bad)?),
    );
    if h > 23 || m > 59 {
        return Err(bad());
    }
    Ok(sign * (h * 3600 + m * 60))
}

/// Why a text is not an RFC 3339 instant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InstantError {
    /// No `T` between the date and the time.
    NoTime,
    /// The date part is not a date that exists.
    Date,
    /// Neither `Z` nor an offset.
    NoZone,
    /// The time of day is not `HH:MM[:SS[.fraction]]` within range.
    Clock,
    /// The offset is not `+HH:MM`/`-HH:MM` within ±23:59.
    Offset(String),
}

impl fmt::Display for InstantError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InstantError::NoTime => f.write_str("an instant needs a time: `YYYY-MM-DDTHH:MM:SSZ`"),
            InstantError::Date => f.write_str("the date does not exist"),
            InstantError::NoZone => {
                f.write_str("an instant needs `Z` or an offset such as `+01:00` after the time")
            }
            InstantError::Clock => f.write_str(
                "the time of day must be `HH:MM` or `HH:MM:SS` from 00:00:00 to 23:59:59",
            ),
            InstantError::Offset(o) => write!(
                f,
                "the offset `{o}` is not valid: offsets are `+HH:MM` or `-HH:MM`, at most 23:59"
            ),
        }
    }
}

impl fmt::Display for Timestamp {
    /// RFC 3339 in UTC, e.g. `2026-11-23T01:30:00Z`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.second_of_day();
        write!(
            f,
            "{}T{:02}:{:02}:{:02}Z",
            self.date(),
            s / 3600,
            s / 60 % 60,
            s % 60
        )
    }
}

/// When a rule stops being live: after a whole UTC day, or at an instant.
///
/// Compare expiries by [`Expiry::end`]; `expires 2026-12-31` and
/// `expires 2027-01-01T00:00:00Z` end at the same instant but are written
/// differently, so the type has no ordering of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Expiry {
    /// `expires 2026-12-31`: live through that whole day (UTC).
    Day(Date),
    /// `expires 2026-12-06T16:00:00Z`: live before that instant, gone from it on.
    Instant(Timestamp),
}

impl Expiry {
    /// The first instant at which the rule is gone.
    pub fn end(self) -> Timestamp {
        match self {
            Expiry::Day(d) => d.end(),
            Expiry::Instant(t) => t,
        }
    }

    /// The last whole second at which the rule is live.
    pub fn last_second(self) -> Timestamp {
        Timestamp(self.end().0 - 1)
    }

    /// A date (`2026-12-31`) or an RFC 3339 instant, offsets normalised to UTC.
    pub fn parse(s: &str) -> Option<Expiry> {
        if s.contains(['T', 't']) {
            Timestamp::parse(s).map(Expiry::Instant)
        } else {
            Date::parse(s).map(Expiry::Day)
        }
    }
}

impl From<Date> for Expiry {
    fn from(d: Date) -> Expiry {
        Expiry::Day(d)
    }
}

impl From<Timestamp> for Expiry {
    fn from(t: Timestamp) -> Expiry {
        Expiry::Instant(t)
    }
}

impl fmt::Display for Expiry {
    /// As written in a `.seg` file: the date, or the instant in UTC.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expiry::Day(d) => d.fmt(f),
            Expiry::Instant(t) => t.fmt(f),
        }
    }
}

impl From<Expiry> for String {
    fn from(e: Expiry) -> String {
        e.to_string()
    }
}

impl TryFrom<String> for Expiry {
    type Error = String;
    fn try_from(s: String) -> Result<Expiry, String> {
        Expiry::parse(&s).ok_or_else(|| format!("invalid expiry `{s}`"))
    }
}

impl TimeOfDay {
    /// Parse `HH:MM` (`24:00` allowed as the end of a window).
    pub fn parse(s: &str) -> Option<TimeOfDay> {
        let (h, m) = s.split_once(':')?;
        if h.len() != 2 || m.len() != 2 {
            return None;
        }
        let (h, m) = (digits(h)?, digits(m)?);
        let valid = (h < 24 && m < 60) || (h == 24 && m == 0);
        valid.then(|| TimeOfDay((h * 60 + m) as u16))
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

impl Weekday {
    /// `mon` … `sun`.
    pub fn parse(s: &str) -> Option<Weekday> {
        DAY_NAMES
            .iter()
            .position(|d| *d == s)
            .map(|i| Weekday(i as u8))
    }

    pub fn name(self) -> &'static str {
        DAY_NAMES.get(usize::from(self.0)).copied().unwrap_or("?")
    }
}

/// A duration in whole seconds, written `90d`, `4h`, `30m`.
pub fn parse_duration(s: &str) -> Option<i64> {
    let unit = s.chars().last()?;
    let n = i64::from(digits(&s[..s.len() - unit.len_utf8()])?);
    let scale = match unit {
        'd' => SECONDS_PER_DAY,
        'h' => 3600,
        'm' => 60,
        's' => 1,
        _ => return None,
    };
    n.checked_mul(scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip_and_weekdays() {
        for days in [-800_000, -1, 0, 1, 19_000, 20_415, 2_000_000] {
            assert_eq!(Date::from_days_since_epoch(days).days_since_epoch(), days);
        }
        let d = Date::parse("2026-11-23").expect("valid date");
        assert_eq!(d.weekday().name(), "mon");
        assert_eq!(
            Date::parse("2024-02-29").map(|d| d.to_string()),
            Some("2024-02-29".into())
        );
        assert_eq!(Date::parse("2026-02-29"), None);
        assert_eq!(Date::parse("2026-13-01"), None);
        assert_eq!(Date::parse("26-1-1"), None);
    }

    #[test]
    fn timestamps_parse_in_utc_with_offsets() {
        let t = Timestamp::parse("2026-11-23T01:30:00Z").expect("valid");
        assert_eq!(t.to_string(), "2026-11-23T01:30:00Z");
        assert_eq!(t.second_of_day(), 5400);
        assert_eq!(Timestamp::parse("2026-11-23T02:30:00+01:00"), Some(t));
        assert_eq!(Timestamp::parse("2026-11-23T01:30Z"), Some(t));
        assert_eq!(Timestamp::parse("2026-11-23T25:30:00Z"), None);
        assert_eq!(Timestamp::parse("2026-11-23"), None);
        assert_eq!(
            Date::parse("2026-12-31").map(|d| d.end().to_string()),
            Some("2027-01-01T00:00:00Z".into())
        );
    }

    #[test]
    fn offsets_are_two_digits_within_a_day() {
        let t = Timestamp::parse("2026-12-06T16:00:00Z").expect("valid");
        assert_eq!(Timestamp::parse("2026-12-06T17:30:00+01:30"), Some(t));
        assert_eq!(Timestamp::parse("2026-12-06T04:01:00-11:59"), Some(t));
        assert_eq!(Timestamp::parse("2026-12-06T16:00:00.250Z"), Some(t));
        for bad in [
            "2026-12-06T16:00:00+25:00",
            "2026-12-06T16:00:00+24:00",
            "2026-12-06T16:00:00+01:60",
            "2026-12-06T16:00:00+1:00",
            "2026-12-06T16:00:00+0100",
            "2026-12-06T16:00:00+01:0x",
        ] {
            assert!(
                matches!(Timestamp::parse_rfc3339(bad), Err(InstantError::Offset(_))),
                "{bad}: {:?}",
                Timestamp::parse_rfc3339(bad)
            );
        }
        assert_eq!(
            Timestamp::parse_rfc3339("2026-12-06T16:00:00"),
            Err(InstantError::NoZone)
        );
        assert_eq!(
            Timestamp::parse_rfc3339("2026-02-30T16:00:00Z"),
            Err(InstantError::Date)
        );
        assert_eq!(
            Timestamp::parse_rfc3339("2026-12-06T16:00:00.Z"),
            Err(InstantError::Clock)
        );
        let why = Timestamp::parse_rfc3339("2026-12-06T16:00:00+25:00").unwrap_err();
        assert!(why.to_string().contains("`+25:00`"), "{why}");
    }

    #[test]
    fn expiries_end_after_their_day_or_at_their_instant() {
        let day = Expiry::parse("2026-12-31").expect("date");
        assert_eq!(day.end().to_string(), "2027-01-01T00:00:00Z");
        assert_eq!(day.last_second().to_string(), "2026-12-31T23:59:59Z");
        let instant = Expiry::parse("2026-12-06T17:00:00+01:00").expect("instant");
        assert_eq!(
            instant,
            Expiry::Instant(Timestamp::parse("2026-12-06T16:00:00Z").expect("t"))
        );
        assert_eq!(instant.to_string(), "2026-12-06T16:00:00Z");
        assert_eq!(instant.last_second().to_string(), "2026-12-06T15:59:59Z");
        assert_eq!(Expiry::parse("2026-12-06T16:00:00+25:00"), None);
        assert_eq!(Expiry::parse("2026-13-01"), None);
        let json = serde_json::to_string(&[day, instant]).expect("json");
        assert_eq!(json, r#"["2026-12-31","2026-12-06T16:00:00Z"]"#);
        let back: Vec<Expiry> = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, [day, instant]);
    }

    #[test]
    fn times_of_day_and_durations() {
        assert_eq!(TimeOfDay::parse("01:00"), Some(TimeOfDay(60)));
        assert_eq!(TimeOfDay::parse("24:00"), Some(TimeOfDay(1440)));
        assert_eq!(TimeOfDay::parse("24:01"), None);
        assert_eq!(TimeOfDay::parse("1:00"), None);
        assert_eq!(parse_duration("90d"), Some(90 * 86_400));
        assert_eq!(parse_duration("30m"), Some(1800));
        assert_eq!(parse_duration("x"), None);
        assert_eq!(parse_duration("d"), None);
    }
}
