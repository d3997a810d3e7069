//! "Now" as a compilation reads it.
//!
//! The checker's verdicts depend on the build time: expired rules and
//! identities, addresses held at that instant, overdue reviews and rotations.
//! Every reading goes through [`Now`], which narrows the span of instants at
//! which each reading so far would have answered the same. A compilation is
//! therefore the same at every instant of [`Now::span`], which is what lets
//! `seg reach` reuse a cached compilation made a minute or a day earlier
//! (and never one made on the other side of an expiry).

use crate::time::{Date, SECONDS_PER_DAY, Timestamp};
use std::sync::atomic::{AtomicI64, Ordering};

/// The build time, and the span of instants it stands for so far.
#[derive(Debug)]
pub struct Now {
    at: Timestamp,
    /// Earliest instant of the span (inclusive).
    from: AtomicI64,
    /// First instant after the span (exclusive).
    until: AtomicI64,
}

impl Now {
    /// `at`, not yet read: it stands for every instant.
    pub fn new(at: Timestamp) -> Now {
        Now {
            at,
            from: AtomicI64::new(i64::MIN),
            until: AtomicI64::new(i64::MAX),
        }
    }

    /// Whether now is at or after `t`.
    pub fn reached(&self, t: Timestamp) -> bool {
        let reached = self.at >= t;
        if reached {
            self.from.fetch_max(t.0, Ordering::Relaxed);
        } else {
            self.until.fetch_min(t.0, Ordering::Relaxed);
        }
        reached
    }

    /// Whether now is inside `[from, until)`, an open end being unbounded.
    pub fn within(&self, from: Option<Timestamp>, until: Option<Timestamp>) -> bool {
        // Both readings count: the answer changes at either bound.
        let started = from.is_none_or(|f| self.reached(f));
        let ended = until.is_some_and(|u| self.reached(u));
        started && !ended
    }

    /// Today (UTC): the answer holds for the whole day.
    pub fn date(&self) -> Date {
        let day = self.at.date();
        self.narrow(day.start().0, day.start().0 + SECONDS_PER_DAY);
        day
    }

    /// Now itself, for a message that prints it: the answer holds for this
    /// second only.
    pub fn exact(&self) -> Timestamp {
        self.narrow(self.at.0, self.at.0.saturating_add(1));
        self.at
    }

    /// Now, without narrowing the span: only for a value that a reuse at
    /// another instant replaces (an inline test's default instant).
    pub fn unread(&self) -> Timestamp {
        self.at
    }

    /// The instants `[from, until)` at which every reading so far answers as
    /// it did at now; `None` for an unbounded end.
    pub fn span(&self) -> (Option<Timestamp>, Option<Timestamp>) {
        let from = self.from.load(Ordering::Relaxed);
        let until = self.until.load(Ordering::Relaxed);
        (
            (from != i64::MIN).then_some(Timestamp(from)),
            (until != i64::MAX).then_some(Timestamp(until)),
        )
    }

    fn narrow(&self, from: i64, until: i64) {
        self.from.fetch_max(from, Ordering::Relaxed);
        self.until.fetch_min(until, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp(1_764_979_200 + 12 * 3600); // 2025-12-06T12:00:00Z

    #[test]
    fn unread_now_stands_for_every_instant() {
        let now = Now::new(NOW);
        assert_eq!(now.unread(), NOW);
        assert_eq!(now.span(), (None, None));
    }

    #[test]
    fn each_reading_narrows_the_span_to_where_it_answers_the_same() {
        let now = Now::new(NOW);
        assert!(now.reached(Timestamp(NOW.0 - 100)));
        assert!(!now.reached(Timestamp(NOW.0 + 50)));
        assert!(now.reached(Timestamp(NOW.0 - 10)));
        assert!(!now.reached(Timestamp(NOW.0 + 500)));
        assert_eq!(
            now.span(),
            (Some(Timestamp(NOW.0 - 10)), Some(Timestamp(NOW.0 + 50)))
        );
        // The bounds are the instants where an answer flips.
        assert!(!Now::new(Timestamp(NOW.0 + 50)).reached(Timestamp(NOW.0 + 51)));
    }

    #[test]
    fn windows_count_both_bounds() {
        let now = Now::new(NOW);
        assert!(now.within(Some(Timestamp(NOW.0 - 5)), Some(Timestamp(NOW.0 + 7))));
        assert_eq!(
            now.span(),
            (Some(Timestamp(NOW.0 - 5)), Some(Timestamp(NOW.0 + 7)))
        );
        let now = Now::new(NOW);
        assert!(!now.within(Some(Timestamp(NOW.0 + 5)), None));
        assert_eq!(now.span(), (None, Some(Timestamp(NOW.0 + 5))));
    }

    #[test]
    fn a_date_holds_for_its_day_and_an_exact_reading_for_its_second() {
        let now = Now::new(NOW);
        let today = now.date();
        assert_eq!(now.span(), (Some(today.start()), Some(today.end())));
        now.exact();
        assert_eq!(now.span(), (Some(NOW), Some(Timestamp(NOW.0 + 1))));
    }
}
