//! Telling a flush from a fight before the [`guard`](super::guard) counts a restoration.
//!
//! `echo -1 > status` removes every entry, and the kernel reports each removal (`IN_DELETE`)
//! before the write to `status` itself (`IN_MODIFY`, once the write returns). The daemon may
//! wake in between: a batch of removals only, and restoring them would look like undoing
//! another tool. So:
//! - a batch with removals but no `status` write waits up to [`SETTLE`] for more events
//!   ([`needs_settle`]); the `status` write normally follows within microseconds, and the wait
//!   ends as soon as it arrives (a real fight is restored at most [`SETTLE`] later);
//! - a batch with a `status` write, or a lost-events overflow, is a flush ([`is_flush`]);
//! - after a flush, removals still count as part of it until a convergence leaves the table
//!   complete ([`FlushState`]);
//! - only an entry whose own change is in the batch ([`touched`]) can have been undone against
//!   another tool: a convergence woken by something else (a write to `register`) may find
//!   entries gone because a flush raced with it, whose events are still queued.
//!
//! Pure: the caller does the waiting.

use std::collections::BTreeSet;
use std::time::Duration;

use binfmt_misc::Change;

/// How long a batch of removals waits for the `status` write that makes it a flush.
pub(crate) const SETTLE: Duration = Duration::from_millis(50);

/// Whether `changes` remove entries without a `status` write: possibly the first half of a
/// flush, worth waiting [`SETTLE`] for the rest.
pub(crate) fn needs_settle(changes: &[Change]) -> bool {
    changes.iter().any(|c| matches!(c, Change::Deleted(_))) && !is_flush(changes)
}

/// Whether `changes` include a flush: a write to `status` (`-1` removes everything), or an
/// event-queue overflow (the evidence is lost; a storm is no proof of a fight).
pub(crate) fn is_flush(changes: &[Change]) -> bool {
    changes.iter().any(|c| match c {
        Change::Modified(Some(n)) => n == "status",
        Change::Overflow => true,
        _ => false,
    })
}

/// The entries `changes` removed or wrote to (not the control files `register` and `status`).
pub(crate) fn touched(changes: &[Change]) -> BTreeSet<String> {
    changes
        .iter()
        .filter_map(|c| match c {
            Change::Deleted(n) | Change::Modified(Some(n)) => Some(n),
            _ => None,
        })
        .filter(|n| *n != "register" && *n != "status")
        .cloned()
        .collect()
}

/// Whether a flush is still being restored.
#[derive(Debug, Default)]
pub(crate) struct FlushState {
    flushing: bool,
}

impl FlushState {
    /// Takes a batch of `changes`; returns whether its restorations are part of a flush (and so
    /// never counted as a fight).
    pub(crate) fn observe(&mut self, changes: &[Change]) -> bool {
        if is_flush(changes) {
            self.flushing = true;
        }
        self.flushing
    }

    /// A convergence wrote everything it meant to: the table is complete, the flush is over.
    pub(crate) fn complete(&mut self) {
        self.flushing = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deleted(n: &str) -> Change {
        Change::Deleted(n.into())
    }

    #[test]
    fn removals_alone_wait_for_a_status_write() {
        let removals = [deleted("qemu-aarch64"), deleted("qemu-arm")];
        assert!(needs_settle(&removals));
        assert!(!is_flush(&removals));
        let mut whole = removals.to_vec();
        whole.push(Change::Modified(Some("status".into())));
        assert!(!needs_settle(&whole));
        assert!(is_flush(&whole));
        assert!(is_flush(&[deleted("qemu-arm"), Change::Overflow]));
        assert!(!needs_settle(&[Change::Modified(Some("qemu-arm".into()))]));
    }

    #[test]
    fn only_entries_named_by_the_batch_are_touched() {
        let changes = [
            Change::Modified(Some("register".into())),
            deleted("qemu-arm"),
            Change::Modified(Some("qemu-aarch64".into())),
            Change::Modified(None),
        ];
        let names: Vec<String> = touched(&changes).into_iter().collect();
        assert_eq!(names, ["qemu-aarch64", "qemu-arm"]);
        assert!(touched(&[Change::Modified(Some("register".into()))]).is_empty());
    }

    #[test]
    fn removals_after_a_flush_belong_to_it_until_the_table_is_complete() {
        let mut s = FlushState::default();
        assert!(!s.observe(&[deleted("qemu-arm")]));
        assert!(s.observe(&[Change::Modified(Some("status".into()))]));
        // Spilled into a later batch, before the table was complete again.
        assert!(s.observe(&[deleted("qemu-arm")]));
        s.complete();
        assert!(!s.observe(&[deleted("qemu-arm")]));
    }
}
