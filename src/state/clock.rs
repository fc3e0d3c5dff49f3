//! The monotonic clock of keep-alive and registration timeouts.
//!
//! Timeouts must not follow the wall clock: an NTP step (or a clock set by
//! hand) of a few minutes forward would otherwise PING or time out every
//! client at once. Seconds since the process first asked, from
//! [`std::time::Instant`], which no clock change moves.

use std::sync::OnceLock;
use std::time::Instant;

static EPOCH: OnceLock<Instant> = OnceLock::new();

/// Seconds on the monotonic clock (since the process first read it).
pub fn mono_secs() -> i64 {
    EPOCH.get_or_init(Instant::now).elapsed().as_secs() as i64
}
