//! The fan-out scenario: C channels × M members, S senders per channel,
//! closed loop per sender (see [`super::member`]). Reports delivered
//! messages per second, latency percentiles, loss/duplicates/reordering
//! and the server's CPU time per million deliveries. With several servers
//! the members are spread over them (see [`super::multi`]) and the CPU is
//! summed over every process given.

use super::cli::Args;
use super::conn::Conn;
use super::fleet::{self, secs};
use super::hist::Hist;
use super::member::{self, MemberStats, Role, SenderSlot, Shared};
use super::multi::{self, Network, ProcCpu, RedisCounts, Targets};
use super::phase::{Phase, PhaseCtl};
use super::procfs;
use serde::Serialize;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, Semaphore};
use tokio::time::Instant;

/// Parameters of one fan-out run.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Number of channels.
    pub channels: usize,
    /// Members per channel (each a connection).
    pub members: usize,
    /// Senders per channel (the first members).
    pub senders: usize,
    /// Max messages in flight per sender (1..=64).
    pub window: u32,
    /// Messages per second per sender; 0 = closed loop only.
    pub rate: f64,
    /// Filler bytes per message text.
    pub payload: usize,
    /// Traffic before counting starts.
    pub warmup: Duration,
    /// Counted traffic.
    pub duration: Duration,
    /// Max wait for in-flight messages after senders stop.
    pub drain: Duration,
    /// Registrations in flight at once during setup.
    pub concurrency: usize,
    /// Read buffer reserved per connection.
    pub read_size: usize,
    /// Max time for connecting, registering and joining everyone.
    pub setup_timeout: Duration,
    /// Keepalive PING interval per member (soak), if any.
    pub keepalive: Option<Duration>,
}

impl Spec {
    /// Reads the fan-out options (defaults: 1 channel × 500 members,
    /// 4 senders, window 16, 2 s warm-up, 5 s measured).
    pub fn from_args(a: &Args, members: usize) -> Result<Spec, String> {
        let s = Spec {
            channels: a.num("channels", 1)?,
            members: a.num("members", members)?,
            senders: a.num("senders", 4)?,
            window: a.num("window", 16)?,
            rate: a.num("rate", 0.0)?,
            payload: a.num("payload", 0)?,
            warmup: a.secs("warmup", 2.0)?,
            duration: a.secs("duration", 5.0)?,
            drain: a.secs("drain", 5.0)?,
            concurrency: a.num("concurrency", 200)?,
            read_size: a.num("read-buf", 64 * 1024)?,
            setup_timeout: a.secs("setup-timeout", 120.0)?,
            keepalive: None,
        };
        let mut s = s;
        if let Some(total) = a.get("target-rate") {
            let total: f64 = total.parse().map_err(|_| "bad --target-rate")?;
            let per_msg = (s.channels * s.senders * (s.members.max(2) - 1)) as f64;
            s.rate = total / per_msg;
        }
        s.check()?;
        Ok(s)
    }

    /// Rejects impossible combinations.
    pub fn check(&self) -> Result<(), String> {
        if self.channels == 0 || self.members < 2 {
            return Err("need at least 1 channel of 2 members".into());
        }
        if self.senders == 0 || self.senders > self.members {
            return Err("--senders must be between 1 and --members".into());
        }
        if !(1..=64).contains(&self.window) {
            return Err("--window must be between 1 and 64".into());
        }
        if self.channels * self.members > 100_000 || self.payload > 400 {
            return Err("at most 100000 clients and 400 payload bytes".into());
        }
        if !(0.0..=1e7).contains(&self.rate) || self.concurrency == 0 {
            return Err("bad --rate or --concurrency".into());
        }
        Ok(())
    }

    /// The longest this run can take, for the hard time limit.
    pub fn budget(&self) -> Duration {
        self.setup_timeout + self.warmup + self.duration + self.drain + Duration::from_secs(30)
    }
}

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// Maximum.
    pub max: u64,
}

/// The JSON line of one fan-out run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Scenario name (`fanout`, `sweep`, `soak`).
    pub scenario: String,
    /// Free label (`--label`), e.g. the server's name.
    pub label: String,
    /// Channels.
    pub channels: usize,
    /// Members per channel.
    pub members: usize,
    /// Senders per channel.
    pub senders: usize,
    /// Window per sender.
    pub window: u32,
    /// Pacing per sender (0 = none).
    pub rate: f64,
    /// Seconds to connect, register and join all clients.
    pub setup_secs: f64,
    /// Measured seconds.
    pub duration_secs: f64,
    /// Messages sent over the whole run.
    pub sent: u64,
    /// Deliveries expected (sent × receivers).
    pub expected: u64,
    /// Distinct deliveries received.
    pub received: u64,
    /// Deliveries during the measured phase.
    pub delivered: u64,
    /// Deliveries per second during the measured phase.
    pub delivered_per_s: f64,
    /// Delivery latency over the measured phase, µs.
    pub latency_us: Latency,
    /// expected − received.
    pub loss: i64,
    /// Duplicate deliveries.
    pub dups: u64,
    /// Deliveries that arrived after a later one from the same sender.
    pub reordered: u64,
    /// Unexpected or unparsable PRIVMSGs.
    pub foreign: u64,
    /// Connections that broke during the run.
    pub broken: u64,
    /// Server CPU seconds during the measured phase (needs `--pid`).
    pub server_cpu_s: Option<f64>,
    /// Server CPU seconds per million deliveries.
    pub server_cpu_s_per_million: Option<f64>,
    /// This bench's own CPU seconds during the measured phase.
    pub bench_cpu_s: Option<f64>,
    /// Server RSS when counting started, KiB.
    pub rss_start_kib: Option<u64>,
    /// Server RSS when counting ended, KiB.
    pub rss_end_kib: Option<u64>,
    /// 1-minute load average when counting ended (other work on the box).
    pub load1: Option<f64>,
    /// Servers the members were spread over (multi-server runs only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub servers: Option<usize>,
    /// `one` (a cluster), `independent` or `mirrored` (separate servers,
    /// not a cluster; see [`Network`]); multi-server runs only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// Each process's CPU when several `--pid` were given (`server_cpu_s`
    /// is their sum, RSS figures too).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub processes: Option<Vec<ProcCpu>>,
    /// Redis command counts over the measured phase (with `--redis`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis: Option<RedisCounts>,
}

/// Runs one fan-out scenario against the servers of `t`.
pub async fn run(t: &Targets, spec: &Spec) -> Result<Report, String> {
    let tag = fleet::run_tag();
    let slots: Box<[SenderSlot]> = (0..spec.channels)
        .flat_map(|c| (0..spec.senders).map(move |m| (c, m)))
        .map(|(c, m)| SenderSlot::new(spec.window, t.receivers(c, m, spec.members)))
        .collect();
    if slots.iter().any(|s| s.receivers == 0) {
        return Err("a sender has no receiver on its server: give each server at least 2 members per channel".into());
    }
    let sh = Arc::new(Shared {
        phase: PhaseCtl::default(),
        base: std::time::Instant::now(),
        slots,
        senders: spec.senders,
        window: spec.window,
        rate: spec.rate,
        payload: spec.payload,
        keepalive: spec.keepalive,
    });
    let total = spec.channels * spec.members;
    let sem = Arc::new(Semaphore::new(spec.concurrency));
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel();
    let t_setup = Instant::now();
    let deadline = t_setup + spec.setup_timeout;
    let mut tasks = Vec::with_capacity(total);
    for c in 0..spec.channels {
        for m in 0..spec.members {
            let role = Role {
                chan: fleet::channel(&tag, c),
                chan_idx: c,
                sender: (m < spec.senders).then_some(c * spec.senders + m),
            };
            let nick = fleet::nick(&tag, c * spec.members + m);
            let addr = t.addrs[t.server_of(c, m)];
            // Twins (mirrored servers only): this sender's connections on the
            // other servers, named after its global sender id.
            let twins: Vec<(SocketAddr, String)> = match role.sender {
                Some(sid) => t
                    .twin_servers(c, m)
                    .into_iter()
                    .enumerate()
                    .map(|(k, a)| (a, fleet::nick(&tag, total + t.addrs.len() * (1 + sid) + k)))
                    .collect(),
                None => Vec::new(),
            };
            let (sh, sem, ready) = (sh.clone(), sem.clone(), ready_tx.clone());
            let read_size = spec.read_size;
            tasks.push(tokio::spawn(async move {
                let setup = async {
                    let _permit = sem.acquire().await.map_err(|e| e.to_string())?;
                    let mut c = Conn::connect(addr, read_size).await.map_err(|e| e.to_string())?;
                    c.register(&nick, deadline).await.map_err(|e| e.to_string())?;
                    c.join(&role.chan, deadline).await.map_err(|e| e.to_string())?;
                    let mut twin_conns = Vec::with_capacity(twins.len());
                    for (a, n) in &twins {
                        let mut tw = Conn::connect(*a, 4096).await.map_err(|e| e.to_string())?;
                        tw.register(n, deadline).await.map_err(|e| e.to_string())?;
                        twin_conns.push(tw);
                    }
                    Ok::<_, String>((c, twin_conns))
                };
                match setup.await {
                    Ok((c, twins)) => {
                        let _ = ready.send(Ok(()));
                        member::run(c, twins, role, &sh).await
                    }
                    Err(e) => {
                        let _ = ready.send(Err(e.clone()));
                        MemberStats { error: Some(e), ..Default::default() }
                    }
                }
            }));
        }
    }
    drop(ready_tx);
    let ready = fleet::wait_ready(&mut ready_rx, total, deadline).await;
    let ready = match ready {
        Ok(r) if t.is_multi() && t.network == Network::One => {
            // JOINs are answered by now; other servers know them in well under 30 s.
            let by = deadline.min(Instant::now() + Duration::from_secs(30));
            multi::await_membership(t, &tag, spec.channels, spec.members, by).await.map(|()| r)
        }
        r => r,
    };
    let t_ready = match ready {
        Ok(r) => r,
        Err(e) => {
            sh.phase.set(Phase::Done);
            for t in tasks {
                t.abort();
            }
            return Err(e);
        }
    };
    sh.phase.set(Phase::Warmup);
    tokio::time::sleep(spec.warmup).await;
    let redis0 = redis_reading(t, &sh).await?;
    let cpu0 = t.cpu();
    let self0 = procfs::self_cpu_secs();
    let rss_start = t.rss_kib();
    let t0 = Instant::now();
    sh.phase.set(Phase::Measure);
    tokio::time::sleep(spec.duration).await;
    sh.phase.set(Phase::Drain);
    let measured = t0.elapsed();
    let cpu1 = t.cpu();
    let self1 = procfs::self_cpu_secs();
    let redis1 = redis_reading(t, &sh).await?;
    let rss_end = t.rss_kib();
    let load1 = procfs::load1();
    let drain_end = Instant::now() + spec.drain;
    while Instant::now() < drain_end && !all_done(&sh) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    sh.phase.set(Phase::Done);
    let mut sum = MemberStats::default();
    let mut broken = 0;
    for t in tasks {
        let Ok(s) = t.await else {
            broken += 1;
            continue;
        };
        broken += u64::from(s.error.is_some());
        sum.unique += s.unique;
        sum.dups += s.dups;
        sum.late += s.late;
        sum.foreign += s.foreign;
        sum.measured += s.measured;
        sum.hist.merge(&s.hist);
    }
    let sent: u64 = sh.slots.iter().map(|s| s.sent.load(std::sync::atomic::Ordering::Acquire)).sum();
    let expected: u64 =
        sh.slots.iter().map(|s| s.sent.load(std::sync::atomic::Ordering::Acquire) * u64::from(s.receivers)).sum();
    let (processes, server_cpu) = t.cpu_delta(&cpu0, &cpu1);
    let per_s = sum.measured as f64 / measured.as_secs_f64();
    Ok(Report {
        scenario: "fanout".into(),
        label: String::new(),
        channels: spec.channels,
        members: spec.members,
        senders: spec.senders,
        window: spec.window,
        rate: spec.rate,
        setup_secs: secs(t_ready - t_setup),
        duration_secs: secs(measured),
        sent,
        expected,
        received: sum.unique,
        delivered: sum.measured,
        delivered_per_s: per_s.round(),
        latency_us: latency(&sum.hist),
        loss: expected as i64 - sum.unique as i64,
        dups: sum.dups,
        reordered: sum.late,
        foreign: sum.foreign,
        broken,
        server_cpu_s: server_cpu.map(round3),
        server_cpu_s_per_million: server_cpu
            .filter(|_| sum.measured > 0)
            .map(|c| round3(c / (sum.measured as f64 / 1e6))),
        bench_cpu_s: self0.zip(self1).map(|(a, b)| round3(b - a)),
        rss_start_kib: rss_start,
        rss_end_kib: rss_end,
        load1,
        servers: t.is_multi().then_some(t.addrs.len()),
        network: t.is_multi().then(|| t.network_name().to_string()),
        processes: (t.pids.len() > 1).then_some(processes),
        redis: redis0.zip(redis1).map(|(a, b)| RedisCounts::between(a, b)),
    })
}

/// (messages sent so far, Redis XADD calls, all Redis calls), with `--redis`.
async fn redis_reading(t: &Targets, sh: &Shared) -> Result<Option<(u64, u64, u64)>, String> {
    let Some(addr) = t.redis else { return Ok(None) };
    let sent = sh.slots.iter().map(|s| s.sent.load(std::sync::atomic::Ordering::Acquire)).sum();
    let (xadd, all) = multi::redis_calls(addr).await?;
    Ok(Some((sent, xadd, all)))
}

fn all_done(sh: &Shared) -> bool {
    use std::sync::atomic::Ordering::Acquire;
    sh.slots.iter().all(|s| s.completed.load(Acquire) >= s.sent.load(Acquire))
}

fn latency(h: &Hist) -> Latency {
    Latency { p50: h.quantile(0.50), p90: h.quantile(0.90), p99: h.quantile(0.99), max: h.max() }
}

/// Rounds to three decimals for readable JSON.
pub fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// One-line human summary of a report.
pub fn summary(r: &Report) -> String {
    let who = match &r.processes {
        Some(p) => format!("{} processes", p.len()),
        None => "server".into(),
    };
    let cpu = r.server_cpu_s_per_million.map(|c| format!(", {who} {c:.3} CPU-s/M")).unwrap_or_default();
    let spread = match (r.servers, &r.network) {
        (Some(n), Some(net)) if net == "one" => format!(" over {n} servers (one network)"),
        (Some(n), Some(net)) if net == "mirrored" => format!(" over {n} mirrored servers (not a cluster)"),
        (Some(n), _) => format!(" over {n} independent servers (not a cluster)"),
        _ => String::new(),
    };
    format!(
        "{} {}: {}×{}{} ({} senders, window {}): {:.0} delivered/s, p50 {} µs, p99 {} µs{}; \
         loss {}, dups {}, reordered {}, broken {}",
        r.scenario,
        r.label,
        r.channels,
        r.members,
        spread,
        r.senders,
        r.window,
        r.delivered_per_s,
        r.latency_us.p50,
        r.latency_us.p99,
        cpu,
        r.loss,
        r.dups,
        r.reordered,
        r.broken
    )
}
