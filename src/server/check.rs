//! `banterd check-config`: everything start-up would check, without starting.
//!
//! It reads the file as start-up does ([`Config::load_checked`]: values, then
//! the files it names), then checks what only a start would find: that the
//! certificate and key belong together, that no address is listened on twice,
//! that ports below 1024 can be bound, and that the data directory and the
//! files in it are writable by this user. Every problem is listed, not only
//! the first; the exit code is 2 when there is one. The unit's `ExecStartPre`
//! and `ExecReload` run it, so a bad file fails `systemctl start` or `reload`
//! with the reasons in the journal.

use crate::config::{Config, ConfigError};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;

/// Checks the configuration at `path` (built-in defaults without one), after
/// `adjust` applies the command line's overrides. Prints what the server would
/// listen on, or every problem; returns the exit code (0 or 2).
pub fn run(path: Option<&Path>, adjust: impl FnOnce(&mut Config)) -> u8 {
    let (mut config, mut problems) = match path {
        Some(p) => match Config::load_checked(p) {
            Ok((config, problems)) => (config, problems.into_iter().map(|e| e.0).collect::<Vec<_>>()),
            Err(ConfigError(e)) => return report(&[e]),
        },
        None => (Config::default(), Vec::new()),
    };
    adjust(&mut config);
    problems.extend(runtime_problems(&config, &problems));
    println!("configuration: {}", Config::describe_source(path));
    if !problems.is_empty() {
        return report(&problems);
    }
    for (addr, what) in listeners(&config) {
        println!("would listen on {addr} ({what})");
    }
    let data_dir = std::path::absolute(&config.server.data_dir).unwrap_or_else(|_| config.server.data_dir.clone());
    println!("data directory: {} (writable)", data_dir.display());
    println!("operators: {}", config.opers.len());
    println!("configuration OK");
    0
}

/// Prints every problem to standard error; the exit code for a bad configuration.
fn report(problems: &[String]) -> u8 {
    let n = problems.len();
    eprintln!("banterd: {n} problem{} in the configuration:", if n == 1 { "" } else { "s" });
    for p in problems {
        eprintln!("  - {p}");
    }
    2
}

/// Every address the server would listen on, with what it serves there.
pub fn listeners(config: &Config) -> Vec<(SocketAddr, &'static str)> {
    let mut out: Vec<(SocketAddr, &'static str)> = config.server.listen.iter().map(|a| (*a, "IRC")).collect();
    out.extend(config.tls.listen.iter().map(|a| (*a, "IRC over TLS")));
    for ws in &config.websockets {
        let metrics = config.metrics.listen == Some(ws.listen);
        let what = match (ws.tls, metrics) {
            (false, false) => "WebSocket",
            (true, false) => "WebSocket over TLS",
            (false, true) => "WebSocket and metrics",
            (true, true) => "WebSocket over TLS and metrics",
        };
        out.push((ws.listen, what));
    }
    if let Some(addr) = config.metrics.listen.filter(|a| !config.websockets.iter().any(|w| w.listen == *a)) {
        out.push((addr, "metrics"));
    }
    out
}

/// What a start would trip over beyond the file's own values. `known` are the
/// problems found so far (a certificate already reported unreadable is not
/// loaded again).
fn runtime_problems(config: &Config, known: &[String]) -> Vec<String> {
    let mut problems = Vec::new();
    let addrs = listeners(config);
    if addrs.is_empty() {
        problems.push("nothing to listen on: server.listen, tls.listen and [[websocket]] are all empty".into());
    }
    let mut seen = HashSet::new();
    for (addr, what) in &addrs {
        if addr.port() != 0 && !seen.insert(*addr) {
            problems.push(format!("{addr} is listened on twice (the second time for {what})"));
        }
    }
    let first_free = unprivileged_port_start();
    if !can_bind_privileged() {
        for (addr, what) in &addrs {
            if addr.port() != 0 && addr.port() < first_free {
                problems.push(format!(
                    "{addr} ({what}): ports below {first_free} need CAP_NET_BIND_SERVICE, which this process lacks \
                     (under systemd, see \"Ports below 1024\" in docs/operations.md)"
                ));
            }
        }
    }
    let tls_reported = known.iter().any(|p| p.contains("`tls.cert`") || p.contains("`tls.key`"));
    if !tls_reported {
        if let Err(e) = crate::net::tls::acceptors(config) {
            problems.push(e);
        }
    }
    problems.extend(data_dir_problems(&config.server.data_dir));
    problems
}

/// Whether the data directory (or, when it does not exist yet, the folder it
/// would be created in) and every file in it can be written by this user.
fn data_dir_problems(dir: &Path) -> Vec<String> {
    let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let shown = dir.display();
    if !dir.exists() {
        let parent = dir.ancestors().skip(1).find(|a| a.exists());
        return match parent {
            Some(p) if writable(p) => Vec::new(),
            Some(p) => vec![format!("data directory {shown} does not exist and {} is not writable", p.display())],
            None => vec![format!("data directory {shown}: no existing parent folder")],
        };
    }
    if !dir.is_dir() {
        return vec![format!("data directory {shown} is not a directory")];
    }
    if !writable(&dir) {
        return vec![format!("data directory {shown} is not writable by this user")];
    }
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return vec![format!("data directory {shown} cannot be listed")];
    };
    entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && !writable(p))
        .map(|p| format!("{} is not writable by this user (was banterd run as another user?)", p.display()))
        .collect()
}

/// access(2) with W_OK: whether this process may write to `path`.
fn writable(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else { return false };
    // SAFETY: a valid NUL-terminated path; access only reads it.
    unsafe { libc::access(c.as_ptr(), libc::W_OK) == 0 }
}

/// The first port an unprivileged process may bind (Linux's
/// `net.ipv4.ip_unprivileged_port_start`, 1024 unless lowered).
fn unprivileged_port_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(1024)
}

/// Whether CAP_NET_BIND_SERVICE is in this process's effective set.
fn can_bind_privileged() -> bool {
    const CAP_NET_BIND_SERVICE: u32 = 10;
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else { return false };
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .is_some_and(|caps| caps & (1 << CAP_NET_BIND_SERVICE) != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listeners_name_what_they_serve() {
        let mut config = Config::default();
        config.tls.listen = vec!["127.0.0.1:6697".parse().unwrap()];
        let l = listeners(&config);
        assert_eq!(l[0], ("127.0.0.1:6667".parse().unwrap(), "IRC"));
        assert_eq!(l[1], ("127.0.0.1:6697".parse().unwrap(), "IRC over TLS"));
    }

    #[test]
    fn a_missing_data_dir_is_fine_when_it_can_be_created() {
        let dir = tempfile::tempdir().unwrap();
        assert!(data_dir_problems(&dir.path().join("a/b")).is_empty());
        let file = dir.path().join("file");
        std::fs::write(&file, "").unwrap();
        assert_eq!(data_dir_problems(&file).len(), 1);
    }
}
