//! Readings of the server process from /proc: resident memory (VmRSS) and
//! CPU time (utime + stime). Missing or unreadable files give `None`, so a
//! run without `--pid` simply omits these figures.

use std::fs;

/// Resident set size of `pid` in KiB, from `/proc/PID/status`.
pub fn rss_kib(pid: u32) -> Option<u64> {
    status_value(pid, "VmRSS:")
}

/// The number of threads of `pid`.
pub fn threads(pid: u32) -> Option<u64> {
    status_value(pid, "Threads:")
}

/// The number after `field` (such as `VmHWM:`, in KiB) in `/proc/PID/status`.
pub fn status_value(pid: u32, field: &str) -> Option<u64> {
    let s = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// User + system CPU seconds consumed so far by `pid` (all its threads).
pub fn cpu_secs(pid: u32) -> Option<f64> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    cpu_from_stat(&s).map(|ticks| ticks as f64 / clock_ticks())
}

/// CPU seconds consumed so far by the live threads of `pid`, to the
/// nanosecond (the sum of `/proc/PID/task/*/schedstat`): for short spans,
/// where [`cpu_secs`]' clock ticks (10 ms) are too coarse. Threads that exit
/// take their time with them, so use it over spans without thread churn.
pub fn cpu_secs_fine(pid: u32) -> Option<f64> {
    let mut ns = 0u64;
    for task in fs::read_dir(format!("/proc/{pid}/task")).ok()?.flatten() {
        // A thread may end between the listing and the read: it is skipped.
        let Ok(s) = fs::read_to_string(task.path().join("schedstat")) else { continue };
        ns += s.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(ns as f64 / 1e9)
}

/// CPU seconds consumed by this bench process itself.
pub fn self_cpu_secs() -> Option<f64> {
    cpu_secs(std::process::id())
}

/// The 1-minute load average, to tell a quiet machine from a busy one.
pub fn load1() -> Option<f64> {
    let s = fs::read_to_string("/proc/loadavg").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// utime + stime in clock ticks from the text of `/proc/PID/stat`. The
/// command name may contain spaces and parentheses, so fields are counted
/// after the last `)`.
fn cpu_from_stat(stat: &str) -> Option<u64> {
    let after = &stat[stat.rfind(')')? + 1..];
    let mut f = after.split_whitespace();
    // After ")": state(3) ... utime is field 14, stime 15 (1-based overall).
    let utime: u64 = f.nth(11)?.parse().ok()?;
    let stime: u64 = f.next()?.parse().ok()?;
    Some(utime + stime)
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_odd_names() {
        let s = "42 (a b) c)) S 1 1 1 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0";
        assert_eq!(cpu_from_stat(s), Some(300));
    }

    #[test]
    fn reads_own_process() {
        let me = std::process::id();
        assert!(rss_kib(me).unwrap() > 0);
        assert!(status_value(me, "VmHWM:").unwrap() >= rss_kib(me).unwrap() / 2);
        assert!(threads(me).unwrap() >= 1);
        assert!(cpu_secs(me).is_some());
        assert!(cpu_secs_fine(me).is_some_and(|s| s > 0.0));
    }
}
