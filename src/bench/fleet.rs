//! Helpers shared by the scenarios for bringing many clients up: unique
//! names per run, a bounded number of registrations in flight, and a
//! collector that waits until every client reported ready.

use rand::Rng;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// A short random tag so that names from an earlier run on the same
/// server do not collide with this one's.
pub fn run_tag() -> String {
    const A: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut r = rand::thread_rng();
    (0..2).map(|_| A[r.gen_range(0..A.len())] as char).collect()
}

/// The nick of client `i` (at most 8 characters below 100 000 clients).
pub fn nick(tag: &str, i: usize) -> String {
    format!("b{tag}{i}")
}

/// The name of channel `c`.
pub fn channel(tag: &str, c: usize) -> String {
    format!("#b{tag}_{c}")
}

/// Sender half given to each client task to report setup success or error.
pub type ReadyTx = mpsc::UnboundedSender<Result<(), String>>;

/// Waits for `n` ready reports; fails on the first error or at `deadline`.
/// Returns when the last client became ready.
pub async fn wait_ready(
    rx: &mut mpsc::UnboundedReceiver<Result<(), String>>,
    n: usize,
    deadline: Instant,
) -> Result<Instant, String> {
    let mut ok = 0;
    while ok < n {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Err(_) => return Err(format!("setup timed out: {ok} of {n} clients ready")),
            Ok(None) => return Err(format!("setup aborted: {ok} of {n} clients ready")),
            Ok(Some(Err(e))) => return Err(format!("client setup failed ({ok} of {n} ready): {e}")),
            Ok(Some(Ok(()))) => ok += 1,
        }
    }
    Ok(Instant::now())
}

/// Seconds as f64 with millisecond rounding, for reports.
pub fn secs(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}
