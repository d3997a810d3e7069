//! Time conditions → UTC day windows, for host targets that match the clock
//! (iptables `-m time`, nftables `meta hour`/`meta day`).
//!
//! Input: a rule's dynamic condition after the capability pass (only `Time` and
//! `Days` atoms, under any mix of `and`/`or`/`not`). Output: a [`Schedule`], a
//! disjunction of (daily window ∧ weekdays) terms, each one time match.
//!
//! Method: a condition over `Time`/`Days` atoms is a function of (weekday,
//! minute of the UTC day), and it is constant between the minutes where some
//! `Time` atom starts or ends. So the day is cut at those minutes, the
//! condition is evaluated once per (piece, weekday), and neighbouring pieces
//! with the same set of weekdays are merged. The result is exact — negations
//! become complement windows/days, windows crossing midnight become two
//! pieces carrying the same weekdays (time and days are independent atoms: a
//! flow at 01:00 Tuesday is in `time 22:00..02:00 and days tue`), and no
//! window ever wraps past midnight (iptables' `--contiguous` is never needed).
//!
//! Invariant: every [`Window`] has `start_min < end_min <= 1440` and a non-empty
//! day mask; windows are disjoint and ascending.

use crate::program::{Atom, Condition};

/// All seven weekdays (bit 0 = Monday).
pub const ALL_DAYS: u8 = 0x7f;
const DAY_NAMES: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// When a rule applies, in UTC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Schedule {
    Always,
    Never,
    /// The rule applies inside any of these windows.
    Windows(Vec<Window>),
}

/// Minutes `[start_min, end_min)` of the UTC day on the weekdays of `days`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub start_min: u16,
    pub end_min: u16,
    pub days: u8,
}

impl Window {
    pub fn whole_day(&self) -> bool {
        self.start_min == 0 && self.end_min == 1440
    }

    /// `HH:MM:SS` of the first second inside the window.
    pub fn timestart(&self) -> String {
        clock(u32::from(self.start_min) * 60)
    }

    /// `HH:MM:SS` of the last second inside the window (`--timestop` is inclusive).
    pub fn timestop(&self) -> String {
        clock(u32::from(self.end_min) * 60 - 1)
    }

    /// `Mon,Tue` for `--weekdays`, `None` when every day is in.
    pub fn weekdays(&self) -> Option<String> {
        (self.days != ALL_DAYS).then(|| {
            (0..7)
                .filter(|d| self.days & (1 << d) != 0)
                .map(|d| DAY_NAMES[d])
                .collect::<Vec<_>>()
                .join(",")
        })
    }
}

fn clock(seconds: u32) -> String {
    format!(
        "{:02}:{:02}:{:02}",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}

/// The first atom the condition holds that `-m time` cannot express.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unsupported(pub String);

/// Lower a condition (see the module docs).
pub fn schedule(condition: &Condition) -> Result<Schedule, Unsupported> {
    let mut cuts = vec![0u16];
    collect_cuts(condition, &mut cuts)?;
    cuts.sort_unstable();
    cuts.dedup();
    // Per piece [cuts[i], cuts[i+1]) the mask of weekdays where the condition holds.
    let mut pieces: Vec<(u16, u16, u8)> = Vec::with_capacity(cuts.len());
    for (i, &start) in cuts.iter().enumerate() {
        let end = cuts.get(i + 1).copied().unwrap_or(1440);
        let mut mask = 0u8;
        for day in 0..7u8 {
            if holds(condition, start, day) {
                mask |= 1 << day;
            }
        }
        match pieces.last_mut() {
            Some(last) if last.2 == mask => last.1 = end,
            _ => pieces.push((start, end, mask)),
        }
    }
    let windows: Vec<Window> = pieces
        .into_iter()
        .filter(|p| p.2 != 0)
        .map(|(start_min, end_min, days)| Window {
            start_min,
            end_min,
            days,
        })
        .collect();
    Ok(match windows.as_slice() {
        [] => Schedule::Never,
        [w] if w.whole_day() && w.days == ALL_DAYS => Schedule::Always,
        _ => Schedule::Windows(windows),
    })
}

fn collect_cuts(condition: &Condition, cuts: &mut Vec<u16>) -> Result<(), Unsupported> {
    match condition {
        Condition::True | Condition::False => Ok(()),
        Condition::And(cs) | Condition::Or(cs) => cs.iter().try_for_each(|c| collect_cuts(c, cuts)),
        Condition::Not(c) => collect_cuts(c, cuts),
        Condition::Atom(Atom::Time { start, end }) => {
            cuts.extend([start.0 % 1440, end.0 % 1440]);
            Ok(())
        }
        Condition::Atom(Atom::Days { .. }) => Ok(()),
        Condition::Atom(other) => Err(Unsupported(other.class().as_str().to_string())),
    }
}

/// The condition at minute `minute` of weekday `day`; the same rule as the
/// reference evaluator, at minute resolution (every cut is a whole minute).
fn holds(condition: &Condition, minute: u16, day: u8) -> bool {
    match condition {
        Condition::True => true,
        Condition::False => false,
        Condition::And(cs) => cs.iter().all(|c| holds(c, minute, day)),
        Condition::Or(cs) => cs.iter().any(|c| holds(c, minute, day)),
        Condition::Not(c) => !holds(c, minute, day),
        Condition::Atom(Atom::Time { start, end }) => {
            let (lo, hi) = (start.0, end.0);
            if lo < hi {
                lo <= minute && minute < hi
            } else {
                minute >= lo || minute < hi
            }
        }
        Condition::Atom(Atom::Days { mask }) => mask & (1 << day) != 0,
        // `collect_cuts` has rejected every other atom.
        Condition::Atom(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TimeOfDay;

    fn time(a: &str, b: &str) -> Condition {
        Condition::Atom(Atom::Time {
            start: TimeOfDay::parse(a).expect("time"),
            end: TimeOfDay::parse(b).expect("time"),
        })
    }

    fn days(mask: u8) -> Condition {
        Condition::Atom(Atom::Days { mask })
    }

    fn render(s: &Schedule) -> Vec<String> {
        match s {
            Schedule::Always => vec!["always".into()],
            Schedule::Never => vec!["never".into()],
            Schedule::Windows(ws) => ws
                .iter()
                .map(|w| {
                    format!(
                        "{}-{} {}",
                        w.timestart(),
                        w.timestop(),
                        w.weekdays().unwrap_or_else(|| "*".into())
                    )
                })
                .collect(),
        }
    }

    fn lower(c: &Condition) -> Vec<String> {
        render(&schedule(c).expect("supported"))
    }

    #[test]
    fn a_plain_window_is_half_open() {
        assert_eq!(lower(&time("01:00", "03:00")), ["01:00:00-02:59:59 *"]);
        assert_eq!(lower(&time("22:00", "24:00")), ["22:00:00-23:59:59 *"]);
    }

    #[test]
    fn crossing_midnight_splits_with_the_same_days() {
        let c = Condition::And(vec![time("22:00", "02:00"), days(0b10)]);
        assert_eq!(
            lower(&c),
            ["00:00:00-01:59:59 Tue", "22:00:00-23:59:59 Tue"]
        );
        // start == end is the whole day.
        assert_eq!(lower(&time("05:00", "05:00")), ["always"]);
    }

    #[test]
    fn negations_become_complements() {
        assert_eq!(
            lower(&Condition::Not(Box::new(time("09:00", "17:00")))),
            ["00:00:00-08:59:59 *", "17:00:00-23:59:59 *"]
        );
        let weekend = Condition::Not(Box::new(days(0b001_1111)));
        assert_eq!(lower(&weekend), ["00:00:00-23:59:59 Sat,Sun"]);
    }

    #[test]
    fn disjunctions_of_windows_and_days() {
        // (mon 09-12) or (fri 10-18): pieces with different masks.
        let c = Condition::Or(vec![
            Condition::And(vec![time("09:00", "12:00"), days(0b1)]),
            Condition::And(vec![time("10:00", "18:00"), days(0b1_0000)]),
        ]);
        assert_eq!(
            lower(&c),
            [
                "09:00:00-09:59:59 Mon",
                "10:00:00-11:59:59 Mon,Fri",
                "12:00:00-17:59:59 Fri"
            ]
        );
    }

    #[test]
    fn constants_and_unsupported_atoms() {
        assert_eq!(lower(&Condition::True), ["always"]);
        assert_eq!(lower(&Condition::False), ["never"]);
        assert_eq!(
            lower(&Condition::And(vec![time("01:00", "02:00"), days(0)])),
            ["never"]
        );
        assert_eq!(
            lower(&Condition::Or(vec![
                time("01:00", "02:00"),
                Condition::Not(Box::new(time("01:00", "02:00")))
            ])),
            ["always"]
        );
        assert_eq!(
            schedule(&Condition::Atom(Atom::Mtls)),
            Err(Unsupported("mtls".into()))
        );
    }

    /// Exhaustive check against the reference evaluator's atom semantics, per
    /// second at every window edge and on a grid, for a set of conditions.
    #[test]
    fn agrees_with_the_reference_evaluator() {
        use crate::{Flow, FlowEndpoint, IdentityId, Protocol, Timestamp};
        let conds = vec![
            Condition::And(vec![time("22:00", "02:00"), days(0b100_0001)]),
            Condition::Or(vec![
                time("23:30", "00:30"),
                Condition::Not(Box::new(days(0b11))),
            ]),
            Condition::Not(Box::new(Condition::And(vec![
                time("08:15", "08:16"),
                days(0b1_0100),
            ]))),
            Condition::And(vec![time("00:00", "24:00"), days(0b10_0000)]),
        ];
        let base = Timestamp::parse("2026-11-23T00:00:00Z").expect("monday");
        for c in &conds {
            let s = schedule(c).expect("supported");
            for day in 0..7i64 {
                let mut seconds: Vec<i64> = (0..86_400).step_by(599).collect();
                for edge in [0, 510, 1350, 120, 1410, 30, 495, 496] {
                    seconds.extend([edge * 60 - 1, edge * 60, edge * 60 + 1]);
                }
                for sec in seconds.into_iter().filter(|s| (0..86_400).contains(s)) {
                    let at = Timestamp(base.0 + day * 86_400 + sec);
                    let flow = Flow {
                        src: FlowEndpoint::Identity(IdentityId(0)),
                        dst: FlowEndpoint::Identity(IdentityId(0)),
                        protocol: Protocol::Tcp,
                        port: 1,
                        at,
                        mtls: false,
                        method: None,
                        path: None,
                        context: Default::default(),
                    };
                    let want = crate::eval::holds(c, &flow);
                    let got = match &s {
                        Schedule::Always => true,
                        Schedule::Never => false,
                        Schedule::Windows(ws) => ws.iter().any(|w| {
                            let (lo, hi) =
                                (i64::from(w.start_min) * 60, i64::from(w.end_min) * 60 - 1);
                            w.days & (1 << day) != 0 && lo <= sec && sec <= hi
                        }),
                    };
                    assert_eq!(got, want, "{c:?} at {at}");
                }
            }
        }
    }
}
