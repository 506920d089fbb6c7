//! Registration order: which of several overlapping entries the kernel uses.
//!
//! The kernel walks its entries newest first and takes the first enabled match (kernel notes §4),
//! but it does not expose that list. The best outside evidence is the entry inode: the kernel
//! sets its ctime when the entry is registered, and numbers inodes with `get_next_ino()`.
//!
//! **How reliable this is** (observed on Linux 6.18, HZ=250):
//! - ctime comes from the coarse clock: registrations within one tick (4 ms here) get the same
//!   ctime, so ties are broken by inode number;
//! - inode numbers are handed out in per-CPU batches of 1024, so they increase with registration
//!   order only on one CPU: entry `c` registered on CPU 1 after `b` on CPU 0 in the same tick got
//!   a *smaller* inode (29462 < 29749);
//! - `chmod` or an `O_TRUNC` open of the entry file (a shell's `echo 1 > entry`) sets its ctime to
//!   that moment, although the kernel's order does not change.
//!
//! So the stamp is right unless an entry was touched that way after registration, or two
//! overlapping entries were registered within one tick on different CPUs. binfmtd itself never
//! opens entries with `O_TRUNC`, and [`BinfmtMisc::register`](crate::BinfmtMisc::register) waits
//! for the clock to tick before registering a rule that overlaps one it registered in the current
//! tick, so its own registrations are always ordered correctly.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::sys::stat::FileStat;
use nix::time::{ClockId, clock_gettime};

use crate::entry::Entry;
use crate::rule::Matcher;

/// When an entry was registered, as far as its inode tells (see the module docs for the limits).
/// Ordered by ctime, then inode number: the greatest stamp is the newest registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RegistrationStamp {
    /// Inode ctime, seconds.
    pub ctime_sec: i64,
    /// Inode ctime, nanoseconds.
    pub ctime_nsec: i64,
    /// Inode number.
    pub inode: u64,
}

impl RegistrationStamp {
    pub(crate) fn from_stat(st: &FileStat) -> RegistrationStamp {
        RegistrationStamp {
            ctime_sec: st.st_ctime,
            ctime_nsec: st.st_ctime_nsec,
            inode: st.st_ino,
        }
    }

    fn time(&self) -> (i64, i64) {
        (self.ctime_sec, self.ctime_nsec)
    }
}

/// An entry together with its registration stamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryInfo {
    /// The parsed entry file.
    pub entry: Entry,
    /// When it was registered.
    pub registered: RegistrationStamp,
}

/// Among entries that can match the same file, the one the kernel uses: the enabled one
/// registered last (`None` when all are disabled). Whether the instance itself is enabled is not
/// considered.
pub fn active_among<'a>(candidates: &[&'a EntryInfo]) -> Option<&'a EntryInfo> {
    candidates
        .iter()
        .copied()
        .filter(|e| e.entry.enabled)
        .max_by_key(|e| e.registered)
}

/// The longest wait for the coarse clock to tick (a tick is 1 to 10 ms).
const MAX_TICK_WAIT: Duration = Duration::from_millis(100);

/// Registrations made through one handle in the current clock tick, so that a later overlapping
/// registration can wait for a distinct ctime.
#[derive(Debug, Default)]
pub(crate) struct RecentRegistrations {
    recent: Mutex<Vec<Recent>>,
}

#[derive(Debug)]
struct Recent {
    stamp: RegistrationStamp,
    name: String,
    matcher: Matcher,
}

impl RecentRegistrations {
    /// Blocks until the coarse clock is past the ctime of every recent registration that
    /// overlaps `matcher` and still exists (`exists(name, inode)`), at most [`MAX_TICK_WAIT`].
    /// An entry removed since needs no wait: a remove-then-register never waits with no entry.
    pub(crate) fn wait_before(&self, matcher: &Matcher, exists: impl Fn(&str, u64) -> bool) {
        let Some(now) = coarse_now() else { return };
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        recent.retain(|r| r.stamp.time() >= now);
        let latest = recent
            .iter()
            .filter(|r| r.matcher.overlaps(matcher) && exists(&r.name, r.stamp.inode))
            .map(|r| r.stamp.time())
            .max();
        let Some(latest) = latest else { return };
        let start = Instant::now();
        while coarse_now().is_some_and(|now| now <= latest) && start.elapsed() < MAX_TICK_WAIT {
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Records a registration just made.
    pub(crate) fn record(&self, stamp: RegistrationStamp, name: &str, matcher: &Matcher) {
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        recent.push(Recent {
            stamp,
            name: name.to_string(),
            matcher: matcher.clone(),
        });
    }
}

/// The clock inode timestamps come from (`current_time()` is at least the coarse real time).
fn coarse_now() -> Option<(i64, i64)> {
    let ts = clock_gettime(ClockId::CLOCK_REALTIME_COARSE).ok()?;
    Some((ts.tv_sec(), ts.tv_nsec()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flags::Flags;

    fn info(name: &str, enabled: bool, sec: i64, nsec: i64, inode: u64) -> EntryInfo {
        EntryInfo {
            entry: Entry {
                name: name.into(),
                enabled,
                interpreter: "/x".into(),
                flags: Flags::NONE,
                matcher: Matcher::Extension("x".into()),
            },
            registered: RegistrationStamp {
                ctime_sec: sec,
                ctime_nsec: nsec,
                inode,
            },
        }
    }

    #[test]
    fn newest_enabled_wins() {
        let a = info("a", true, 10, 0, 500);
        let b = info("b", true, 10, 4_000_000, 100);
        let c = info("c", true, 10, 4_000_000, 101);
        assert_eq!(active_among(&[&a, &b]).unwrap().entry.name, "b");
        assert_eq!(active_among(&[&c, &a, &b]).unwrap().entry.name, "c");
        let c_off = info("c", false, 11, 0, 1);
        assert_eq!(active_among(&[&c_off, &a]).unwrap().entry.name, "a");
        assert!(active_among(&[&c_off]).is_none());
        assert!(active_among(&[]).is_none());
    }

    #[test]
    fn waits_only_after_an_overlapping_registration_that_still_exists() {
        let recent = RecentRegistrations::default();
        let m = Matcher::Extension("x".into());
        let other = Matcher::Extension("y".into());
        // A stamp 50 ms ahead: waiting for it takes ~50 ms, not waiting takes microseconds.
        let (sec, nsec) = coarse_now().unwrap();
        let ahead = sec * 1_000_000_000 + nsec + 50_000_000;
        let stamp = RegistrationStamp {
            ctime_sec: ahead / 1_000_000_000,
            ctime_nsec: ahead % 1_000_000_000,
            inode: 1,
        };
        recent.record(stamp, "m", &m);
        let timed = |matcher: &Matcher, exists: bool| {
            let start = Instant::now();
            recent.wait_before(matcher, |name, inode| exists && name == "m" && inode == 1);
            start.elapsed()
        };
        assert!(
            timed(&other, true) < Duration::from_millis(30),
            "no overlap: no wait"
        );
        assert!(
            timed(&m, false) < Duration::from_millis(30),
            "entry gone: no wait"
        );
        assert!(
            timed(&m, true) >= Duration::from_millis(30),
            "overlap: wait for the tick"
        );
        assert!(coarse_now().unwrap() > stamp.time());
    }
}
