//! The systemd readiness protocol (`sd_notify(3)`), as a wrapper that logs failures and never
//! returns them: a daemon must not stop because nobody listens.
//!
//! Without `NOTIFY_SOCKET` every call is a no-op. The sd-notify crate connects to the path in
//! `NOTIFY_SOCKET` as given, so abstract sockets (`@name`) are not supported; systemd passes a
//! filesystem path, and the tests bind one.

use sd_notify::NotifyState;

/// `READY=1` with a `STATUS=` line: the first registration (or a reload) is done.
pub(crate) fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// A new `STATUS=` line.
pub(crate) fn status(status: &str) {
    send(&[NotifyState::Status(status)]);
}

/// `RELOADING=1` with `MONOTONIC_USEC=` (what `Type=notify-reload` expects, harmless before).
pub(crate) fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[NotifyState::Reloading, now]),
        Err(e) => {
            tracing::warn!("cannot read the monotonic clock for MONOTONIC_USEC: {e}");
            send(&[NotifyState::Reloading]);
        }
    }
}

/// `STOPPING=1`.
pub(crate) fn stopping() {
    send(&[NotifyState::Stopping]);
}

/// `WATCHDOG=1`.
pub(crate) fn watchdog() {
    send(&[NotifyState::Watchdog]);
}

fn send(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        let socket = std::env::var_os("NOTIFY_SOCKET").unwrap_or_default();
        tracing::warn!(
            "cannot notify the service manager at {}: {e}",
            socket.to_string_lossy()
        );
    }
}
