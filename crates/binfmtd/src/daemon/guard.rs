//! The loop guard: another manager that keeps removing or replacing an entry must not turn the
//! daemon into one half of an endless fight.
//!
//! Each restoration of an entry is recorded; when one entry is restored more than [`LIMIT`] times
//! within [`WINDOW`], the daemon backs off: it stops restoring until a deadline, which doubles on
//! every trip in a row (from [`FIRST_BACKOFF`] up to [`MAX_BACKOFF`]). Time is passed in, so the
//! logic is pure and tested without sleeping.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

/// Restorations of one entry allowed within [`WINDOW`] before backing off.
pub(crate) const LIMIT: usize = 5;
/// The window over which restorations are counted.
pub(crate) const WINDOW: Duration = Duration::from_secs(60);
/// The first back-off period.
pub(crate) const FIRST_BACKOFF: Duration = Duration::from_secs(2);
/// The longest back-off period.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// Restoration history and back-off state.
#[derive(Debug, Default)]
pub(crate) struct Guard {
    history: BTreeMap<String, VecDeque<Instant>>,
    backoff: Option<Backoff>,
}

/// An active (or last) back-off.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    /// The entry that tripped the guard.
    pub(crate) entry: String,
    /// How long this back-off lasts.
    pub(crate) period: Duration,
    /// When restoring may resume.
    pub(crate) until: Instant,
}

impl Guard {
    /// Records that `entry` was restored at `now`. Returns the new back-off if this trips the guard.
    pub(crate) fn record(&mut self, entry: &str, now: Instant) -> Option<Backoff> {
        let times = self.history.entry(entry.to_string()).or_default();
        times.push_back(now);
        while times
            .front()
            .is_some_and(|t| now.duration_since(*t) > WINDOW)
        {
            times.pop_front();
        }
        if times.len() <= LIMIT {
            return None;
        }
        times.clear();
        // Trips in a row (the previous back-off ended less than a window ago) double the period.
        let period = match &self.backoff {
            Some(b) if now.saturating_duration_since(b.until) < WINDOW => {
                (b.period * 2).min(MAX_BACKOFF)
            }
            _ => FIRST_BACKOFF,
        };
        let backoff = Backoff {
            entry: entry.to_string(),
            period,
            until: now + period,
        };
        self.backoff = Some(backoff.clone());
        Some(backoff)
    }

    /// The back-off in force at `now`, if any.
    pub(crate) fn active(&self, now: Instant) -> Option<&Backoff> {
        self.backoff.as_ref().filter(|b| now < b.until)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_few_restorations_are_fine() {
        let mut g = Guard::default();
        let t0 = Instant::now();
        for i in 0..LIMIT as u64 {
            assert!(g.record("qemu-arm", t0 + Duration::from_secs(i)).is_none());
        }
        assert!(g.active(t0 + Duration::from_secs(10)).is_none());
    }

    #[test]
    fn restorations_spread_over_more_than_the_window_never_trip() {
        let mut g = Guard::default();
        let t0 = Instant::now();
        for i in 0..50u64 {
            assert!(g.record("qemu-arm", t0 + WINDOW / 4 * i as u32).is_none());
        }
    }

    #[test]
    fn a_fight_trips_and_backs_off_exponentially_up_to_the_cap() {
        let mut g = Guard::default();
        let mut now = Instant::now();
        let mut periods = Vec::new();
        for _ in 0..12 {
            let tripped = loop {
                now += Duration::from_millis(10);
                if let Some(b) = g.record("qemu-aarch64", now) {
                    break b;
                }
            };
            assert_eq!(tripped.entry, "qemu-aarch64");
            assert!(g.active(now).is_some());
            periods.push(tripped.period);
            now = tripped.until;
            assert!(g.active(now).is_none(), "the back-off ends at its deadline");
        }
        assert_eq!(periods[0], FIRST_BACKOFF);
        assert_eq!(periods[1], FIRST_BACKOFF * 2);
        assert_eq!(*periods.last().unwrap_or(&Duration::ZERO), MAX_BACKOFF);
    }

    #[test]
    fn other_entries_do_not_add_up() {
        let mut g = Guard::default();
        let t0 = Instant::now();
        for i in 0..(LIMIT * 3) {
            let name = format!("qemu-{}", i % 3);
            assert!(g.record(&name, t0).is_none());
        }
    }

    #[test]
    fn a_quiet_window_resets_the_period() {
        let mut g = Guard::default();
        let mut now = Instant::now();
        let trip = |g: &mut Guard, now: &mut Instant| loop {
            *now += Duration::from_millis(1);
            if let Some(b) = g.record("x", *now) {
                return b;
            }
        };
        let first = trip(&mut g, &mut now);
        now = first.until + WINDOW * 2;
        let second = trip(&mut g, &mut now);
        assert_eq!(second.period, FIRST_BACKOFF);
    }
}
