//! Several servers under one fan-out run: which server each member connects
//! to, how many receivers each sender has, the membership check that tells
//! one network from separate servers, and the CPU of a list of processes.
//!
//! Members of each channel are spread round robin over the servers (member
//! `m` of channel `c` on server `(c + m) % n`), so with two servers half of
//! every channel is on each, and so are its senders (the first members).

use super::cli::{loopback_addr, Args};
use super::conn::Conn;
use super::fleet;
use super::line::Line;
use super::procfs;
use serde::Serialize;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::time::Instant;

/// How the servers of a run relate to each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    /// One network (a cluster): every member of a channel receives every
    /// message sent to it, whatever server either is on.
    One,
    /// Separate servers (not a cluster): a channel exists once per server
    /// and a message reaches the members on the sender's server only.
    Independent,
    /// Separate servers (not a cluster) where every sender also has a
    /// connection on each other server, outside the channel, and sends each
    /// message there too: every member gets every message, as on one
    /// network, but no server relays anything. What two nodes would cost if
    /// relaying cost nothing. The servers must let non-members speak (a
    /// channel without `+n`).
    Mirrored,
}

/// The servers and processes of a run.
#[derive(Debug, Clone)]
pub struct Targets {
    /// Server addresses, in the order members are spread over them.
    pub addrs: Vec<SocketAddr>,
    /// Processes whose CPU time is summed (servers, and e.g. redis-server).
    pub pids: Vec<u32>,
    /// How the servers relate (matters only with several).
    pub network: Network,
    /// The cluster's redis-server (`--redis`), whose command counts are
    /// read when counting starts and ends.
    pub redis: Option<SocketAddr>,
}

/// CPU and memory of one process over the measured phase.
#[derive(Debug, Clone, Serialize)]
pub struct ProcCpu {
    /// Process id.
    pub pid: u32,
    /// Its command name (`/proc/PID/comm`), e.g. `banterd`, `redis-server`.
    pub name: String,
    /// CPU seconds during the measured phase.
    pub cpu_s: f64,
    /// Resident memory when counting ended, KiB.
    pub rss_end_kib: Option<u64>,
}

/// A reading of every process's CPU seconds, in `pids` order.
#[derive(Debug, Clone)]
pub struct CpuReading(Vec<Option<f64>>);

impl Targets {
    /// Reads `--server` (repeatable, or a comma-separated list; default
    /// 127.0.0.1:6667), `--pid` (likewise) and `--network
    /// one|independent|mirrored`.
    /// Several servers or processes are for `fanout` only (`multi_ok`).
    pub fn from_args(a: &Args, multi_ok: bool) -> Result<Targets, String> {
        let mut addrs: Vec<SocketAddr> =
            a.get_all("server").into_iter().map(loopback_addr).collect::<Result<_, _>>()?;
        if addrs.is_empty() {
            addrs.push(loopback_addr("127.0.0.1:6667")?);
        }
        let pids: Vec<u32> = a
            .get_all("pid")
            .into_iter()
            .map(|p| p.parse().map_err(|_| format!("bad --pid {p:?}")))
            .collect::<Result<_, _>>()?;
        let network = match a.get("network").unwrap_or("one") {
            "one" => Network::One,
            "independent" => Network::Independent,
            "mirrored" => Network::Mirrored,
            other => return Err(format!("--network {other:?}: expected one, independent or mirrored")),
        };
        let redis = a.get("redis").map(loopback_addr).transpose()?;
        let t = Targets { addrs, pids, network, redis };
        if !multi_ok && (t.addrs.len() > 1 || t.pids.len() > 1) {
            return Err(format!("{}: one --server and one --pid only (several are for fanout)", a.command));
        }
        if t.pids.len() > 1 {
            if let Some(p) = t.pids.iter().find(|&&p| procfs::cpu_secs(p).is_none()) {
                return Err(format!("--pid {p}: no such process"));
            }
        }
        Ok(t)
    }

    /// More than one server: the report names the servers and the network.
    pub fn is_multi(&self) -> bool {
        self.addrs.len() > 1
    }

    /// The server index of member `m` of channel `c`.
    pub fn server_of(&self, c: usize, m: usize) -> usize {
        (c + m) % self.addrs.len()
    }

    /// How many members receive each message of member `m` of channel `c`
    /// (a channel of `members`): all the others on one network (or
    /// mirrored), only those on the same server when the servers are
    /// independent.
    pub fn receivers(&self, c: usize, m: usize, members: usize) -> u32 {
        let n = match self.network {
            Network::One | Network::Mirrored => members,
            Network::Independent => (0..members).filter(|&o| self.server_of(c, o) == self.server_of(c, m)).count(),
        };
        n.saturating_sub(1) as u32
    }

    /// The network kind as written in the report.
    pub fn network_name(&self) -> &'static str {
        match self.network {
            Network::One => "one",
            Network::Independent => "independent",
            Network::Mirrored => "mirrored",
        }
    }

    /// The servers where member `m` of channel `c`, a sender, keeps a twin
    /// connection that sends its messages too: every other server when
    /// mirrored, none otherwise.
    pub fn twin_servers(&self, c: usize, m: usize) -> Vec<SocketAddr> {
        if self.network != Network::Mirrored {
            return Vec::new();
        }
        let home = self.server_of(c, m);
        self.addrs.iter().enumerate().filter(|&(i, _)| i != home).map(|(_, &a)| a).collect()
    }

    /// CPU seconds of every process now.
    pub fn cpu(&self) -> CpuReading {
        CpuReading(self.pids.iter().map(|&p| procfs::cpu_secs(p)).collect())
    }

    /// Resident memory summed over the processes, KiB (`None` without any,
    /// or when one cannot be read).
    pub fn rss_kib(&self) -> Option<u64> {
        if self.pids.is_empty() {
            return None;
        }
        self.pids.iter().map(|&p| procfs::rss_kib(p)).sum()
    }

    /// Per-process CPU between two readings, and their sum (`None` when a
    /// process could not be read at either end).
    pub fn cpu_delta(&self, a: &CpuReading, b: &CpuReading) -> (Vec<ProcCpu>, Option<f64>) {
        let mut total = Some(0.0);
        let mut per = Vec::new();
        for (i, &pid) in self.pids.iter().enumerate() {
            let d = a.0[i].zip(b.0[i]).map(|(x, y)| y - x);
            total = total.zip(d).map(|(t, d)| t + d);
            per.push(ProcCpu {
                pid,
                name: comm(pid),
                cpu_s: d.map(super::fanout::round3).unwrap_or(-1.0),
                rss_end_kib: procfs::rss_kib(pid),
            });
        }
        (per, total.filter(|_| !self.pids.is_empty()))
    }
}

/// The command name of `pid`, or `?`.
fn comm(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm")).map(|s| s.trim().to_string()).unwrap_or_else(|_| "?".into())
}

/// Redis command counts over the measured phase (`--redis`).
#[derive(Debug, Clone, Serialize)]
pub struct RedisCounts {
    /// Messages the senders sent during the measured phase.
    pub messages: u64,
    /// XADD calls during the measured phase.
    pub xadd: u64,
    /// All Redis commands during the measured phase.
    pub commands: u64,
    /// XADDs per message sent.
    pub xadd_per_message: Option<f64>,
    /// Redis commands per message sent.
    pub commands_per_message: Option<f64>,
}

impl RedisCounts {
    /// The counts between two readings of (messages sent, XADD calls, all
    /// calls).
    pub fn between(a: (u64, u64, u64), b: (u64, u64, u64)) -> RedisCounts {
        let (messages, xadd, commands) = (b.0 - a.0, b.1.saturating_sub(a.1), b.2.saturating_sub(a.2));
        let per = |n: u64| (messages > 0).then(|| super::fanout::round3(n as f64 / messages as f64));
        RedisCounts { messages, xadd, commands, xadd_per_message: per(xadd), commands_per_message: per(commands) }
    }
}

/// XADD calls and all calls so far, from `INFO commandstats` of the Redis
/// at `addr` (an inline command; the reply is one bulk string). The INFO
/// itself counts as one call.
pub async fn redis_calls(addr: SocketAddr) -> Result<(u64, u64), String> {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
    let io = |e: std::io::Error| format!("redis at {addr}: {e}");
    let mut s = tokio::io::BufReader::new(tokio::net::TcpStream::connect(addr).await.map_err(io)?);
    s.get_mut().write_all(b"INFO commandstats\r\n").await.map_err(io)?;
    let mut head = String::new();
    s.read_line(&mut head).await.map_err(io)?;
    let len: usize = head
        .trim()
        .strip_prefix('$')
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("redis at {addr}: {head:?}"))?;
    let mut body = vec![0; len];
    s.read_exact(&mut body).await.map_err(io)?;
    Ok(parse_commandstats(&String::from_utf8_lossy(&body)))
}

/// (XADD calls, all calls) from the text of `INFO commandstats`.
fn parse_commandstats(text: &str) -> (u64, u64) {
    let (mut xadd, mut all) = (0, 0);
    for l in text.lines() {
        let Some((name, rest)) = l.strip_prefix("cmdstat_").and_then(|r| r.split_once(':')) else { continue };
        let calls = rest.split(',').find_map(|kv| kv.strip_prefix("calls=")).and_then(|n| n.parse::<u64>().ok());
        let calls = calls.unwrap_or(0);
        all += calls;
        if name == "xadd" {
            xadd += calls;
        }
    }
    (xadd, all)
}

/// On one network, waits until every server lists all `members` members of
/// every channel in NAMES (a JOIN made on one server must be known to the
/// others before messages are counted); fails at `deadline` naming what a
/// server sees, which is what separate servers given without
/// `--network independent` look like.
pub async fn await_membership(
    t: &Targets,
    tag: &str,
    channels: usize,
    members: usize,
    deadline: Instant,
) -> Result<(), String> {
    for (i, &addr) in t.addrs.iter().enumerate() {
        let mut probe = Conn::connect(addr, 4096).await.map_err(|e| format!("probe of {addr}: {e}"))?;
        let nick = fleet::nick(tag, channels * members + i);
        probe.register(&nick, deadline).await.map_err(|e| format!("probe of {addr}: {e}"))?;
        for c in 0..channels {
            let chan = fleet::channel(tag, c);
            loop {
                let seen =
                    names_count(&mut probe, &chan, deadline).await.map_err(|e| format!("NAMES on {addr}: {e}"))?;
                if seen >= members {
                    break;
                }
                if Instant::now() + Duration::from_millis(100) >= deadline {
                    return Err(format!(
                        "server {addr} sees {seen} of {members} members of {chan}: the servers are not one \
                         network (use --network independent for separate servers)"
                    ));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        probe.queue(b"QUIT :probe done\r\n");
        let _ = probe.flush().await;
    }
    Ok(())
}

/// Sends `NAMES chan` and counts the names listed before 366.
async fn names_count(probe: &mut Conn, chan: &str, deadline: Instant) -> std::io::Result<usize> {
    probe.queue(format!("NAMES {chan}\r\n").as_bytes());
    probe.flush().await?;
    let mut n = 0;
    loop {
        let l = probe.line(deadline).await?;
        let Some(m) = Line::parse(&l) else { continue };
        match m.command {
            b"353" => {
                n += m.params().last().map_or(0, |names| names.split(|&b| b == b' ').filter(|s| !s.is_empty()).count())
            }
            b"366" => return Ok(n),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets(n: usize, network: Network) -> Targets {
        let addrs = (0..n).map(|i| SocketAddr::from(([127, 0, 0, 1], 6667 + i as u16))).collect();
        Targets { addrs, pids: Vec::new(), network, redis: None }
    }

    #[test]
    fn spreads_members_and_senders_round_robin() {
        let t = targets(2, Network::One);
        let on0 = (0..500).filter(|&m| t.server_of(0, m) == 0).count();
        assert_eq!(on0, 250);
        // Two senders of a channel land on different servers.
        assert_ne!(t.server_of(3, 0), t.server_of(3, 1));
        assert_eq!(t.receivers(0, 0, 500), 499);
    }

    #[test]
    fn reads_commandstats() {
        let t =
            "# Commandstats\r\ncmdstat_xadd:calls=7,usec=10,usec_per_call=1.4\r\ncmdstat_evalsha:calls=3,usec=1\r\n";
        assert_eq!(parse_commandstats(t), (7, 10));
        let c = RedisCounts::between((10, 1, 2), (20, 16, 42));
        assert_eq!((c.messages, c.xadd, c.xadd_per_message, c.commands_per_message), (10, 15, Some(1.5), Some(4.0)));
    }

    #[test]
    fn independent_servers_count_local_receivers() {
        let t = targets(2, Network::Independent);
        assert_eq!(t.receivers(0, 0, 20), 9);
        // Channel 1 starts on server 1: members 0, 2, 4 there, 1 and 3 on server 0.
        assert_eq!(t.receivers(1, 0, 5), 2);
        assert_eq!(t.receivers(1, 1, 5), 1);
        let one = targets(1, Network::Independent);
        assert_eq!(one.receivers(0, 0, 20), 19);
    }

    #[test]
    fn mirrored_senders_reach_everyone_through_twins() {
        let t = targets(3, Network::Mirrored);
        assert_eq!(t.receivers(0, 0, 20), 19);
        let home = t.addrs[t.server_of(1, 0)];
        let twins = t.twin_servers(1, 0);
        assert_eq!(twins.len(), 2);
        assert!(!twins.contains(&home));
        assert!(targets(2, Network::One).twin_servers(0, 0).is_empty());
    }
}
