//! Readiness for systemd (`Type=notify`): `READY=1` once every listener is
//! bound, `RELOADING=1` … `READY=1` around a reload, `STOPPING=1` at shutdown.
//! Without `NOTIFY_SOCKET` (not started by systemd) each call does nothing.

use sd_notify::NotifyState;

/// Listening and serving (again, after a reload).
pub fn ready() {
    send(&[NotifyState::Ready, NotifyState::Status("serving")]);
}

/// A reload has begun.
pub fn reloading() {
    send(&[NotifyState::Reloading, NotifyState::Status("reloading the configuration")]);
}

/// Shutting down: clients are being closed.
pub fn stopping() {
    send(&[NotifyState::Stopping, NotifyState::Status("shutting down")]);
}

fn send(states: &[NotifyState<'_>]) {
    // The socket stays in the environment: later notices (and a RESTART,
    // which execs the same process) need it.
    if let Err(e) = sd_notify::notify(false, states) {
        tracing::warn!(error = %e, "cannot notify systemd");
    }
}
