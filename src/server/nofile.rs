//! The open-file limit: every client is one descriptor, so the soft limit a
//! shell hands out (often 1024) would stop `accept` long before
//! `limits.max_clients` (10000). At start banterd raises its soft limit to the
//! hard one, as Go programs and most servers do, and warns when even that is
//! too low. Under systemd the unit's `LimitNOFILE=` sets both.

/// Descriptors kept aside for listeners, the databases, logs and the like.
const SPARE: u64 = 64;

/// Raises the soft RLIMIT_NOFILE to the hard limit; returns the limit in force.
pub fn raise() -> u64 {
    // SAFETY: getrlimit/setrlimit on a properly initialised struct.
    unsafe {
        let mut lim: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit { rlim_cur: lim.rlim_max, rlim_max: lim.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                return raised.rlim_cur;
            }
        }
        lim.rlim_cur
    }
}

/// The soft open-file limit in force.
pub fn current() -> u64 {
    // SAFETY: getrlimit on a properly initialised struct.
    unsafe {
        let mut lim: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        lim.rlim_cur
    }
}

/// Raises the limit and logs it, with a warning when `max_clients` cannot fit.
pub fn raise_and_report(max_clients: usize) {
    let limit = raise();
    let needed = max_clients as u64 + SPARE;
    if limit < needed {
        tracing::warn!(
            limit,
            max_clients,
            "the open-file limit is below limits.max_clients: connections beyond it will be refused by the \
             kernel; raise it (LimitNOFILE= in the unit, `ulimit -n` in a shell, see docs/operations.md)"
        );
    } else {
        tracing::info!(limit, "open-file limit");
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_soft_limit_ends_at_the_hard_limit() {
        let limit = super::raise();
        // SAFETY: as in `raise`.
        let hard = unsafe {
            let mut lim: libc::rlimit = std::mem::zeroed();
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
            lim.rlim_max
        };
        assert_eq!(limit, hard);
    }
}
