//! The loop guard: another manager that keeps replacing or disabling one of binfmtd's entries
//! must not turn the daemon into one half of an endless fight.
//!
//! Per entry: each time binfmtd has to undo someone's change to that entry (put it back after
//! a `-1`, replace it because it differs, re-enable it) is recorded; an entry undone more than
//! [`LIMIT`] times within [`WINDOW`] is left alone until a deadline, which doubles on every trip
//! of that entry in a row (from [`FIRST_BACKOFF`] up to [`MAX_BACKOFF`]). Other entries keep
//! being restored. A flush (`-1` to `status`, `systemctl restart systemd-binfmt`) is never part
//! of a fight, however often it comes. Time is passed in, so the logic is pure.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

/// Restorations of one entry allowed within [`WINDOW`] before backing off.
pub(crate) const LIMIT: usize = 5;
/// The window over which restorations are counted.
pub(crate) const WINDOW: Duration = Duration::from_secs(60);
/// The first back-off period.
pub(crate) const FIRST_BACKOFF: Duration = Duration::from_secs(2);
/// The longest back-off period.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// Per-entry history and back-off state.
#[derive(Debug, Default)]
pub(crate) struct Guard {
    entries: BTreeMap<String, EntryGuard>,
}

#[derive(Debug, Default)]
struct EntryGuard {
    history: VecDeque<Instant>,
    backoff: Option<Backoff>,
}

/// An active (or last) back-off of one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Backoff {
    /// How long this back-off lasts.
    pub(crate) period: Duration,
    /// When restoring may resume.
    pub(crate) until: Instant,
}

impl Guard {
    /// Records that binfmtd undid another tool's change to `entry` at `now`. Returns the new
    /// back-off if this trips the guard for that entry.
    pub(crate) fn record(&mut self, entry: &str, now: Instant) -> Option<Backoff> {
        let g = self.entries.entry(entry.to_string()).or_default();
        g.history.push_back(now);
        while g
            .history
            .front()
            .is_some_and(|t| now.duration_since(*t) > WINDOW)
        {
            g.history.pop_front();
        }
        if g.history.len() <= LIMIT {
            return None;
        }
        g.history.clear();
        // Trips in a row (the previous back-off ended less than a window ago) double the period.
        let period = match &g.backoff {
            Some(b) if now.saturating_duration_since(b.until) < WINDOW => {
                (b.period * 2).min(MAX_BACKOFF)
            }
            _ => FIRST_BACKOFF,
        };
        let backoff = Backoff {
            period,
            until: now + period,
        };
        g.backoff = Some(backoff.clone());
        Some(backoff)
    }

    /// The entries backing off at `now`.
    pub(crate) fn held(&self, now: Instant) -> BTreeSet<String> {
        self.active(now).map(|(name, _)| name.to_string()).collect()
    }

    /// The back-offs in force at `now`.
    pub(crate) fn active(&self, now: Instant) -> impl Iterator<Item = (&str, &Backoff)> {
        self.entries.iter().filter_map(move |(name, g)| {
            g.backoff
                .as_ref()
                .filter(|b| now < b.until)
                .map(|b| (name.as_str(), b))
        })
    }

    /// The earliest end of a back-off in force at `now`.
    pub(crate) fn next_deadline(&self, now: Instant) -> Option<Instant> {
        self.active(now).map(|(_, b)| b.until).min()
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
        assert!(g.held(t0 + Duration::from_secs(10)).is_empty());
    }

    #[test]
    fn restorations_spread_over_more_than_the_window_never_trip() {
        let mut g = Guard::default();
        let t0 = Instant::now();
        for i in 0..50u32 {
            assert!(g.record("qemu-arm", t0 + WINDOW / 4 * i).is_none());
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
            assert!(g.held(now).contains("qemu-aarch64"));
            periods.push(tripped.period);
            now = tripped.until;
            assert!(g.held(now).is_empty(), "the back-off ends at its deadline");
        }
        assert_eq!(periods[0], FIRST_BACKOFF);
        assert_eq!(periods[1], FIRST_BACKOFF * 2);
        assert_eq!(*periods.last().unwrap_or(&Duration::ZERO), MAX_BACKOFF);
    }

    /// Bug 7: one pass touching all 33 entries, repeated, used to escalate one global back-off
    /// once per entry (straight to 300 s) and stop every restoration.
    #[test]
    fn many_entries_in_one_pass_back_off_each_by_itself_once() {
        let mut g = Guard::default();
        let t0 = Instant::now();
        let names: Vec<String> = (0..33).map(|i| format!("qemu-{i}")).collect();
        let mut tripped = Vec::new();
        for round in 0..=LIMIT as u32 {
            let now = t0 + Duration::from_millis(100) * round;
            for n in &names {
                tripped.extend(g.record(n, now));
            }
        }
        assert_eq!(tripped.len(), 33, "each entry trips once");
        assert!(
            tripped.iter().all(|b| b.period == FIRST_BACKOFF),
            "{tripped:?}"
        );
        let now = t0 + Duration::from_secs(1);
        assert_eq!(g.held(now).len(), 33);
        assert!(
            g.held(now + FIRST_BACKOFF).is_empty(),
            "all resume after the first period"
        );
    }

    #[test]
    fn other_entries_are_not_held() {
        let mut g = Guard::default();
        let t0 = Instant::now();
        for i in 0..=LIMIT as u32 {
            g.record("qemu-arm", t0 + Duration::from_millis(u64::from(i)));
        }
        let held = g.held(t0 + Duration::from_millis(10));
        assert!(held.contains("qemu-arm") && !held.contains("qemu-aarch64"));
        assert!(g.next_deadline(t0).is_some());
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
