//! The systemd readiness protocol (`sd_notify(3)`), as a wrapper that logs failures and never
//! returns them: a daemon must not stop because nobody listens.
//!
//! Without `NOTIFY_SOCKET` every call is a no-op. Messages are sent without blocking
//! (`MSG_DONTWAIT` semantics: a non-blocking socket): a service manager that does not read its
//! socket (full queue) costs a warning, never a stalled daemon that stops restoring entries.
//! `NOTIFY_SOCKET` is a filesystem path, or `@name` for an abstract socket.

use std::io;
use std::os::linux::net::SocketAddrExt as _;
use std::os::unix::net::{SocketAddr, UnixDatagram};

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
    let Some(socket) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let message: String = states.iter().map(|s| format!("{s}\n")).collect();
    if let Err(e) = send_to(&socket, message.as_bytes()) {
        tracing::warn!(
            "cannot notify the service manager at {}: {e}",
            socket.to_string_lossy()
        );
    }
}

/// Sends one datagram to `socket` without ever blocking.
fn send_to(socket: &std::ffi::OsStr, message: &[u8]) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt as _;
    let bytes = socket.as_bytes();
    let addr = match bytes.strip_prefix(b"@") {
        Some(name) => SocketAddr::from_abstract_name(name)?,
        None => SocketAddr::from_pathname(std::path::Path::new(socket))?,
    };
    let sock = UnixDatagram::unbound()?;
    sock.set_nonblocking(true)?;
    let sent = sock.send_to_addr(message, &addr)?;
    if sent == message.len() {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::WriteZero,
            "incomplete datagram",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn a_full_socket_queue_fails_the_send_instead_of_blocking() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("notify.sock");
        // Bound and never read: its queue fills up.
        let _listener = UnixDatagram::bind(&path).expect("binding a datagram socket");
        let start = Instant::now();
        let message = vec![b'x'; 4096];
        let refused = (0..100_000)
            .map(|_| send_to(path.as_os_str(), &message))
            .find_map(Result::err)
            .expect("a full queue refuses a send");
        assert_eq!(refused.kind(), io::ErrorKind::WouldBlock, "{refused}");
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn abstract_sockets_are_reached() {
        let name = format!("binfmtd-test-{}", std::process::id());
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).expect("an abstract name");
        let listener = UnixDatagram::bind_addr(&addr).expect("binding an abstract socket");
        send_to(std::ffi::OsStr::new(&format!("@{name}")), b"READY=1\n").expect("sent");
        let mut buf = [0u8; 64];
        let n = listener.recv(&mut buf).expect("received");
        assert_eq!(&buf[..n], b"READY=1\n");
    }
}
