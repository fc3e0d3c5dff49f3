//! The who scenario: what a wide-mask WHO costs the server, and what WHOs
//! sent at the allowed rate do to everyone else (issue 14, item 1).
//!
//! N idle clients register from 127.0.0.1 (exempt from flood control in
//! `benches/who.toml`). Then:
//!
//! 1. **Cost**: one prober (also from 127.0.0.1) sends each mask shape
//!    `--probes` times, one after another; the server's CPU time over those
//!    WHOs, less its idle rate, gives the CPU per WHO.
//! 2. **Attack**: `--attackers` connections from `--attack-ip` (not exempt:
//!    the server's flood control applies) send WHOs with the same masks as fast
//!    as they are let, at most `--rate` a second and `--window` unanswered
//!    each, for `--duration` seconds, while a bystander from 127.0.0.3 sends a
//!    PING every `--ping-every` seconds (0.5: under the flood limit of 4
//!    commands a second, so the bystander is never lagged itself). The
//!    bystander's PING round trips before and during the attack, the server's
//!    CPU use and the WHOs answered are reported.

use super::cli::Args;
use super::conn::{pong, Conn};
use super::connect::hold;
use super::fanout::round3;
use super::fleet;
use super::hist::Hist;
use super::line::{parse_u64, Line};
use super::phase::{Phase, PhaseCtl};
use super::procfs;
use serde::Serialize;
use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, Semaphore};
use tokio::time::Instant;

/// Parameters of a who run.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Idle clients the WHOs search.
    pub clients: usize,
    /// Registrations in flight at once.
    pub concurrency: usize,
    /// WHOs per mask shape in the cost phase.
    pub probes: usize,
    /// Attacking connections.
    pub attackers: usize,
    /// Where the attackers connect from.
    pub attack_ip: IpAddr,
    /// Most WHOs per second per attacker.
    pub rate: f64,
    /// Most unanswered WHOs per attacker.
    pub window: usize,
    /// Length of the attack.
    pub duration: Duration,
    /// Bystander PING period.
    pub ping_every: Duration,
    /// Bystander measurement before the attack.
    pub baseline: Duration,
    /// Max time to register everyone.
    pub setup_timeout: Duration,
}

impl Spec {
    /// Reads the options (defaults in `banter-bench help`).
    pub fn from_args(a: &Args) -> Result<Spec, String> {
        let attack_ip = a.get("attack-ip").unwrap_or("127.0.0.2");
        let s = Spec {
            clients: a.num("clients", 10_000)?,
            concurrency: a.num("concurrency", 500)?,
            probes: a.num("probes", 20)?,
            attackers: a.num("attackers", 16)?,
            attack_ip: attack_ip.parse().map_err(|_| format!("--attack-ip {attack_ip:?}"))?,
            rate: a.num("rate", 4.0)?,
            window: a.num("window", 4)?,
            duration: a.secs("duration", 20.0)?,
            ping_every: a.secs("ping-every", 0.5)?,
            baseline: a.secs("baseline", 3.0)?,
            setup_timeout: a.secs("setup-timeout", 120.0)?,
        };
        if s.clients == 0 || s.clients > 100_000 || s.concurrency == 0 || s.probes == 0 {
            return Err("--clients must be 1..=100000, --concurrency and --probes > 0".into());
        }
        if !s.attack_ip.is_loopback() || s.rate <= 0.0 || s.window == 0 || s.ping_every.is_zero() {
            return Err("--attack-ip must be loopback; --rate, --window, --ping-every > 0".into());
        }
        Ok(s)
    }

    /// The longest this run can take.
    pub fn budget(&self) -> Duration {
        // A slow server may take seconds per WHO: leave room for the cost phase.
        let probes = Duration::from_secs(3 * self.probes as u64 * MASKS.len() as u64);
        self.setup_timeout + probes + self.baseline + self.duration + Duration::from_secs(60)
    }
}

/// A mask shape: its name and how to build it.
type MaskShape = (&'static str, fn() -> String);

/// The mask shapes of the issue: a 461-character `?` mask, `*a*a*...*` of the
/// same length, and `*zzz*`. None matches a bench client.
const MASKS: [MaskShape; 3] = [
    ("461 x ?", || "?".repeat(461)),
    ("*a*a*...* (461)", || format!("{}*", "*a".repeat(230))),
    ("*zzz*", || "*zzz*".to_string()),
];

/// The CPU one WHO with one mask shape cost.
#[derive(Debug, Clone, Serialize)]
pub struct MaskCost {
    /// Which shape.
    pub mask: &'static str,
    /// Server CPU milliseconds per WHO (idle rate subtracted).
    pub cpu_ms_per_who: Option<f64>,
    /// The same, scaled to 10 000 connected users.
    pub cpu_ms_per_who_per_10k: Option<f64>,
}

/// The JSON line of a who run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Always `who`.
    pub scenario: &'static str,
    /// Free label (`--label`).
    pub label: String,
    /// Idle clients searched.
    pub clients: usize,
    /// CPU per WHO, per mask shape.
    pub cost: Vec<MaskCost>,
    /// Attacking connections.
    pub attackers: usize,
    /// Seconds of attack.
    pub attack_secs: f64,
    /// WHOs answered (315) during the attack, all attackers together.
    pub whos_answered: u64,
    /// Attackers the server disconnected.
    pub attackers_disconnected: usize,
    /// Server CPU during the attack, % of one core.
    pub server_cpu_pct: Option<f64>,
    /// Bystander PING round trip before the attack: p50, p99, max (ms).
    pub ping_before_ms: [f64; 3],
    /// Bystander PING round trip during the attack: p50, p99, max (ms); a
    /// PING still unanswered at the end counts until then.
    pub ping_during_ms: [f64; 3],
    /// Bystander PINGs still unanswered at the end.
    pub pings_unanswered: u64,
}

/// Runs the who scenario.
pub async fn run(addr: SocketAddr, pid: Option<u32>, spec: &Spec) -> Result<Report, String> {
    let tag = fleet::run_tag();
    let phase = Arc::new(PhaseCtl::default());
    let deadline = Instant::now() + spec.setup_timeout;
    let mut tasks = Vec::with_capacity(spec.clients);
    let sem = Arc::new(Semaphore::new(spec.concurrency));
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel();
    for i in 0..spec.clients {
        let (phase, sem, ready) = (phase.clone(), sem.clone(), ready_tx.clone());
        let nick = fleet::nick(&tag, i);
        tasks.push(tokio::spawn(async move {
            let setup = async {
                let _permit = sem.acquire().await.map_err(|e| e.to_string())?;
                let mut c = Conn::connect(addr, 512).await.map_err(|e| e.to_string())?;
                c.register(&nick, deadline).await.map_err(|e| e.to_string())?;
                Ok::<_, String>(c)
            };
            match setup.await {
                Ok(c) => {
                    let _ = ready.send(Ok(()));
                    hold(c, &phase).await;
                }
                Err(e) => {
                    let _ = ready.send(Err(e));
                }
            }
        }));
    }
    drop(ready_tx);
    let result = async {
        fleet::wait_ready(&mut ready_rx, spec.clients, deadline).await?;
        let cost = measure_cost(addr, pid, spec, &tag).await?;
        attack(addr, pid, spec, &tag, cost).await
    }
    .await;
    phase.set(Phase::Done);
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
    }
    result
}

/// Phase 1: CPU per WHO for each mask shape.
async fn measure_cost(addr: SocketAddr, pid: Option<u32>, spec: &Spec, tag: &str) -> Result<Vec<MaskCost>, String> {
    let mut p = Conn::connect(addr, 4096).await.map_err(|e| e.to_string())?;
    p.register(&format!("p{tag}probe"), Instant::now() + Duration::from_secs(30)).await.map_err(|e| e.to_string())?;
    // The server's CPU rate while nothing happens (keep-alive sweeps of N
    // clients); per-thread times to the nanosecond, as a WHO may take well
    // under a clock tick.
    let cpu = || pid.and_then(procfs::cpu_secs_fine);
    let idle = Duration::from_secs(2);
    let c0 = cpu();
    tokio::time::sleep(idle).await;
    let idle_rate = c0.zip(cpu()).map(|(a, b)| (b - a) / idle.as_secs_f64());
    let mut out = Vec::new();
    for (name, mask) in MASKS {
        let line = format!("WHO {}\r\n", mask());
        let t0 = Instant::now();
        let c0 = cpu();
        for _ in 0..spec.probes {
            p.queue(line.as_bytes());
            p.flush().await.map_err(|e| e.to_string())?;
            let until = Instant::now() + Duration::from_secs(120);
            loop {
                let l = p.line(until).await.map_err(|e| format!("WHO {name}: {e}"))?;
                if Line::parse(&l).is_some_and(|m| m.command == b"315") {
                    break;
                }
            }
        }
        let took = t0.elapsed().as_secs_f64();
        let per_who = c0
            .zip(cpu())
            .zip(idle_rate)
            .map(|((a, b), idle)| ((b - a) - idle * took).max(0.0) / spec.probes as f64 * 1000.0);
        out.push(MaskCost {
            mask: name,
            cpu_ms_per_who: per_who.map(round4),
            cpu_ms_per_who_per_10k: per_who.map(|ms| round4(ms * 10_000.0 / spec.clients as f64)),
        });
    }
    Ok(out)
}

fn round4(v: f64) -> f64 {
    (v * 10_000.0).round() / 10_000.0
}

/// Phase 2: attackers at the allowed rate, and a bystander's PINGs.
async fn attack(
    addr: SocketAddr,
    pid: Option<u32>,
    spec: &Spec,
    tag: &str,
    cost: Vec<MaskCost>,
) -> Result<Report, String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut b = Conn::connect_from(addr, [127, 0, 0, 3].into(), 4096).await.map_err(|e| format!("bystander: {e}"))?;
    b.register(&format!("y{tag}by"), deadline).await.map_err(|e| format!("bystander: {e}"))?;
    let phase = Arc::new(PhaseCtl::default());
    phase.set(Phase::Warmup);
    let bystander = tokio::spawn(ping_loop(b, phase.clone(), spec.ping_every));
    tokio::time::sleep(spec.baseline).await;

    let mut attackers = Vec::new();
    for i in 0..spec.attackers {
        let mut c = Conn::connect_from(addr, spec.attack_ip, 4096).await.map_err(|e| format!("attacker: {e}"))?;
        c.register(&format!("x{tag}{i}"), deadline).await.map_err(|e| format!("attacker: {e}"))?;
        attackers.push(c);
    }
    let c0 = pid.and_then(procfs::cpu_secs);
    let t0 = Instant::now();
    phase.set(Phase::Measure);
    let tasks: Vec<_> =
        attackers.into_iter().map(|c| tokio::spawn(who_loop(c, phase.clone(), spec.rate, spec.window))).collect();
    tokio::time::sleep(spec.duration).await;
    phase.set(Phase::Done);
    let took = t0.elapsed().as_secs_f64();
    let cpu = c0.zip(pid.and_then(procfs::cpu_secs)).map(|(a, b)| round3((b - a) / took * 100.0));
    let (mut answered, mut disconnected) = (0, 0);
    for t in tasks {
        if let Ok(Ok((n, dropped))) = tokio::time::timeout(Duration::from_secs(5), t).await {
            answered += n;
            disconnected += usize::from(dropped);
        }
    }
    let (before, during, unanswered) = tokio::time::timeout(Duration::from_secs(5), bystander)
        .await
        .map_err(|_| "the bystander did not stop")?
        .map_err(|e| e.to_string())?;
    let ms = |h: &Hist| [h.quantile(0.5), h.quantile(0.99), h.max()].map(|us| round3(us as f64 / 1000.0));
    Ok(Report {
        scenario: "who",
        label: String::new(),
        clients: spec.clients,
        cost,
        attackers: spec.attackers,
        attack_secs: round3(took),
        whos_answered: answered,
        attackers_disconnected: disconnected,
        server_cpu_pct: cpu,
        ping_before_ms: ms(&before),
        ping_during_ms: ms(&during),
        pings_unanswered: unanswered,
    })
}

/// One attacker: WHOs at most `rate` a second with at most `window`
/// unanswered, until `Done`. Returns the WHOs answered and whether the server
/// closed the connection.
async fn who_loop(mut c: Conn, phase: Arc<PhaseCtl>, rate: f64, window: usize) -> (u64, bool) {
    let masks: Vec<String> = MASKS.iter().map(|(_, m)| format!("WHO {}\r\n", m())).collect();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    let mut rx = phase.subscribe();
    let (mut sent, mut answered) = (0u64, 0u64);
    while phase.get() != Phase::Done {
        tokio::select! {
            _ = tick.tick() => {
                if sent - answered >= window as u64 {
                    continue;
                }
                c.queue(masks[sent as usize % masks.len()].as_bytes());
                sent += 1;
                if c.flush().await.is_err() {
                    return (answered, true);
                }
            }
            r = c.fill() => {
                if r.is_err() {
                    return (answered, true);
                }
                c.drain_lines(|l, out| {
                    if l.starts_with(b"PING") {
                        pong(l, out);
                    } else if Line::parse(l).is_some_and(|m| m.command == b"315") {
                        answered += 1;
                    }
                });
                if c.flush().await.is_err() {
                    return (answered, true);
                }
            }
            r = rx.changed() => if r.is_err() { break },
        }
    }
    (answered, false)
}

/// The bystander: a PING every `every`, its round trip recorded before the
/// attack (`Warmup`) and during it (`Measure`). Returns both histograms and
/// the PINGs never answered (those sent during the attack count in the
/// second histogram as lasting until the end).
async fn ping_loop(mut c: Conn, phase: Arc<PhaseCtl>, every: Duration) -> (Hist, Hist, u64) {
    let (mut before, mut during) = (Hist::default(), Hist::default());
    let mut tick = tokio::time::interval(every);
    let mut rx = phase.subscribe();
    let (mut sent, mut got) = (0u64, 0u64);
    let mut pending: VecDeque<(u64, Instant, Phase)> = VecDeque::new();
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if phase.get() == Phase::Done {
                    break;
                }
                sent += 1;
                c.queue(format!("PING :{sent}\r\n").as_bytes());
                pending.push_back((sent, Instant::now(), phase.get()));
                if c.flush().await.is_err() {
                    break;
                }
            }
            r = c.fill() => {
                if r.is_err() {
                    break;
                }
                let now = Instant::now();
                let mut seqs = Vec::new();
                c.drain_lines(|l, out| {
                    if l.starts_with(b"PING") {
                        pong(l, out);
                    } else if let Some(m) = Line::parse(l).filter(|m| m.command == b"PONG") {
                        seqs.extend(m.param(1).and_then(parse_u64));
                    }
                });
                for n in seqs {
                    while let Some(&(s, at, ph)) = pending.front() {
                        if s > n {
                            break;
                        }
                        pending.pop_front();
                        if s == n {
                            got += 1;
                            let us = now.duration_since(at).as_micros() as u64;
                            if ph == Phase::Measure { during.record(us) } else { before.record(us) }
                        }
                    }
                }
                if c.flush().await.is_err() {
                    break;
                }
            }
            r = rx.changed() => if r.is_err() { break },
        }
    }
    let now = Instant::now();
    for &(_, at, ph) in &pending {
        if ph == Phase::Measure {
            during.record(now.duration_since(at).as_micros() as u64);
        }
    }
    (before, during, sent - got)
}

/// One-line human summary.
pub fn summary(r: &Report) -> String {
    let costs: Vec<String> = r
        .cost
        .iter()
        .map(|m| format!("{} {}", m.mask, m.cpu_ms_per_who_per_10k.map_or("?".into(), |v| format!("{v:.4} ms"))))
        .collect();
    let [b50, b99, bmax] = r.ping_before_ms;
    let [d50, d99, dmax] = r.ping_during_ms;
    format!(
        "who {}: CPU per WHO per 10k users: {}; attack by {} connections for {:.0} s: {} WHOs answered, {} \
         disconnected, server CPU {}%, bystander PING p50/p99/max {d50:.1}/{d99:.1}/{dmax:.1} ms (before: \
         {b50:.1}/{b99:.1}/{bmax:.1}), {} unanswered",
        r.label,
        costs.join(", "),
        r.attackers,
        r.attack_secs,
        r.whos_answered,
        r.attackers_disconnected,
        r.server_cpu_pct.map_or("?".into(), |c| format!("{c:.0}")),
        r.pings_unanswered,
    )
}
