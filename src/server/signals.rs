//! SIGTERM and SIGINT (a graceful shutdown) and SIGHUP (reload the
//! configuration, as REHASH does): held from the start of `main` until the
//! runtime's handlers are installed.
//!
//! A signal's default action kills the process, and tokio can only install its
//! handler once a runtime exists, which needs the configuration. Blocking the
//! signals first closes that window: one that arrives meanwhile stays pending
//! and is taken by the handler as soon as [`Held::release`] unblocks it (a
//! `systemctl reload` during start-up is then a reload, not a death).

use tokio::signal::unix::{signal, Signal, SignalKind};

/// The shutdown signals, blocked on the calling thread (and inherited by every
/// thread it starts) until released.
#[must_use = "release the signals once their handlers are installed"]
pub struct Held {
    set: libc::sigset_t,
}

/// Blocks SIGTERM, SIGINT and SIGHUP on the calling thread.
pub fn hold() -> Held {
    // SAFETY: sigemptyset/sigaddset initialise the set in place; pthread_sigmask
    // only changes the calling thread's mask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGHUP);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        Held { set }
    }
}

impl Held {
    /// Unblocks the signals on the calling thread: one that is pending is delivered now.
    pub fn release(self) {
        // SAFETY: as in `hold`, with a set it initialised.
        unsafe {
            libc::pthread_sigmask(libc::SIG_UNBLOCK, &self.set, std::ptr::null_mut());
        }
    }
}

/// What a signal asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// SIGTERM or SIGINT: shut down gracefully.
    Stop,
    /// SIGHUP: reload the configuration.
    Reload,
}

/// The installed handlers for SIGTERM, SIGINT and SIGHUP.
pub struct Signals {
    term: Signal,
    int: Signal,
    hup: Signal,
}

impl Signals {
    /// Installs the handlers; needs a tokio runtime context.
    pub fn install() -> std::io::Result<Signals> {
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    /// Waits for the next signal.
    pub async fn recv(&mut self) -> Request {
        tokio::select! {
            _ = self.term.recv() => Request::Stop,
            _ = self.int.recv() => Request::Stop,
            _ = self.hup.recv() => Request::Reload,
        }
    }
}
