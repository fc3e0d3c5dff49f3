//! The churn scenario: every client loops JOIN → PART → NICK, one operation
//! in flight at a time (closed loop), over a pool of shared channels so that
//! each operation is also broadcast to other members. Reports operations
//! per second and their latency.

use super::cli::Args;
use super::conn::{pong, Conn};
use super::fanout::{round3, Latency};
use super::fleet::{self, secs};
use super::hist::Hist;
use super::line::{eq_ignore_case, Line};
use super::phase::{Phase, PhaseCtl};
use super::procfs;
use rand::Rng;
use serde::Serialize;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, Semaphore};
use tokio::time::Instant;

/// Parameters of a churn run.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Clients doing operations.
    pub clients: usize,
    /// Size of the channel pool they join and part.
    pub channels: usize,
    /// Uncounted time first.
    pub warmup: Duration,
    /// Counted time.
    pub duration: Duration,
    /// Max time for registering everyone.
    pub setup_timeout: Duration,
}

impl Spec {
    /// Reads `--clients` (200), `--channels` (20), `--warmup` (1), `--duration` (5).
    pub fn from_args(a: &Args) -> Result<Spec, String> {
        let s = Spec {
            clients: a.num("clients", 200)?,
            channels: a.num("channels", 20)?,
            warmup: a.secs("warmup", 1.0)?,
            duration: a.secs("duration", 5.0)?,
            setup_timeout: a.secs("setup-timeout", 60.0)?,
        };
        if s.clients == 0 || s.clients > 20_000 || s.channels == 0 {
            return Err("--clients must be 1..=20000 and --channels > 0".into());
        }
        Ok(s)
    }

    /// The longest this run can take.
    pub fn budget(&self) -> Duration {
        self.setup_timeout + self.warmup + self.duration + Duration::from_secs(30)
    }
}

/// The JSON line of a churn run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Always `churn`.
    pub scenario: &'static str,
    /// Free label.
    pub label: String,
    /// Clients.
    pub clients: usize,
    /// Channel pool size.
    pub channels: usize,
    /// Measured seconds.
    pub duration_secs: f64,
    /// Operations completed while measuring.
    pub ops: u64,
    /// Operations per second.
    pub ops_per_s: f64,
    /// Operations answered with an error numeric.
    pub errors: u64,
    /// Latency of one operation, µs.
    pub latency_us: Latency,
    /// Server CPU seconds while measuring.
    pub server_cpu_s: Option<f64>,
    /// Connections that broke.
    pub broken: u64,
}

#[derive(Default)]
struct Tally {
    ops: u64,
    errors: u64,
    hist: Hist,
    broken: bool,
}

#[derive(Clone, Copy, PartialEq)]
enum Op {
    Join(usize),
    Part(usize),
    Nick,
}

/// Runs the churn scenario.
pub async fn run(addr: SocketAddr, pid: Option<u32>, spec: &Spec) -> Result<Report, String> {
    let tag = Arc::new(fleet::run_tag());
    let phase = Arc::new(PhaseCtl::default());
    let inflight = Arc::new(AtomicU64::new(0));
    let sem = Arc::new(Semaphore::new(200));
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel();
    let deadline = Instant::now() + spec.setup_timeout;
    let mut tasks = Vec::with_capacity(spec.clients);
    for i in 0..spec.clients {
        let (phase, sem, ready, tag, inflight) =
            (phase.clone(), sem.clone(), ready_tx.clone(), tag.clone(), inflight.clone());
        let channels = spec.channels;
        tasks.push(tokio::spawn(async move {
            let setup = async {
                let _permit = sem.acquire().await.map_err(|e| e.to_string())?;
                let mut c = Conn::connect(addr, 4096).await.map_err(|e| e.to_string())?;
                c.register(&fleet::nick(&tag, i), deadline).await.map_err(|e| e.to_string())?;
                Ok::<_, String>(c)
            };
            match setup.await {
                Ok(c) => {
                    let _ = ready.send(Ok(()));
                    let other = format!("c{tag}{i}");
                    client(c, other, &tag, channels, &phase, &inflight).await
                }
                Err(e) => {
                    let _ = ready.send(Err(e));
                    Tally::default()
                }
            }
        }));
    }
    drop(ready_tx);
    if let Err(e) = fleet::wait_ready(&mut ready_rx, spec.clients, deadline).await {
        phase.set(Phase::Done);
        tasks.iter().for_each(|t| t.abort());
        return Err(e);
    }
    phase.set(Phase::Warmup);
    tokio::time::sleep(spec.warmup).await;
    let cpu0 = pid.and_then(procfs::cpu_secs);
    let t0 = Instant::now();
    phase.set(Phase::Measure);
    tokio::time::sleep(spec.duration).await;
    phase.set(Phase::Drain);
    let took = t0.elapsed();
    let cpu1 = pid.and_then(procfs::cpu_secs);
    let end = Instant::now() + Duration::from_secs(5);
    while inflight.load(Ordering::Acquire) > 0 && Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    phase.set(Phase::Done);
    let mut sum = Tally::default();
    let mut broken = 0;
    for t in tasks {
        match t.await {
            Ok(t) => {
                sum.ops += t.ops;
                sum.errors += t.errors;
                sum.hist.merge(&t.hist);
                broken += u64::from(t.broken);
            }
            Err(_) => broken += 1,
        }
    }
    Ok(Report {
        scenario: "churn",
        label: String::new(),
        clients: spec.clients,
        channels: spec.channels,
        duration_secs: secs(took),
        ops: sum.ops,
        ops_per_s: (sum.ops as f64 / took.as_secs_f64()).round(),
        errors: sum.errors,
        latency_us: Latency {
            p50: sum.hist.quantile(0.5),
            p90: sum.hist.quantile(0.9),
            p99: sum.hist.quantile(0.99),
            max: sum.hist.max(),
        },
        server_cpu_s: cpu0.zip(cpu1).map(|(a, b)| round3(b - a)),
        broken,
    })
}

/// One churning client.
async fn client(
    mut c: Conn,
    mut other: String,
    tag: &str,
    channels: usize,
    phase: &PhaseCtl,
    inflight: &AtomicU64,
) -> Tally {
    let mut t = Tally::default();
    let mut rx = phase.subscribe();
    let mut pending: Option<(Op, Instant)> = None;
    let mut next = Op::Join(0);
    loop {
        let ph = phase.get();
        if ph == Phase::Done {
            break;
        }
        if pending.is_none() && matches!(ph, Phase::Warmup | Phase::Measure) {
            let line = match next {
                Op::Join(_) => {
                    let ch = rand::thread_rng().gen_range(0..channels);
                    next = Op::Join(ch);
                    format!("JOIN {}\r\n", fleet::channel(tag, ch))
                }
                Op::Part(ch) => format!("PART {}\r\n", fleet::channel(tag, ch)),
                Op::Nick => format!("NICK {other}\r\n"),
            };
            c.queue(line.as_bytes());
            pending = Some((next, Instant::now()));
            inflight.fetch_add(1, Ordering::AcqRel);
        }
        if c.flush().await.is_err() {
            t.broken = true;
            break;
        }
        tokio::select! {
            r = c.fill() => {
                if r.is_err() {
                    t.broken = true;
                    break;
                }
                let mut done = None;
                let me = c.nick.clone();
                c.drain_lines(|l, out| {
                    if l.starts_with(b"PING") {
                        pong(l, out);
                        return;
                    }
                    if let (Some((op, _)), Some(m)) = (pending, Line::parse(l)) {
                        if done.is_none() {
                            done = completes(op, &m, &me, tag);
                        }
                    }
                });
                if let (Some(ok), Some((op, at))) = (done, pending) {
                    if phase.get() == Phase::Measure {
                        t.ops += 1;
                        t.errors += u64::from(!ok);
                        t.hist.record(at.elapsed().as_micros() as u64);
                    }
                    if op == Op::Nick && ok {
                        std::mem::swap(&mut c.nick, &mut other);
                    }
                    next = match op {
                        Op::Join(ch) if ok => Op::Part(ch),
                        Op::Join(_) | Op::Part(_) => Op::Nick,
                        Op::Nick => Op::Join(0),
                    };
                    pending = None;
                    inflight.fetch_sub(1, Ordering::AcqRel);
                }
            }
            r = rx.changed() => if r.is_err() { break },
        }
    }
    t
}

/// Whether line `m` answers `op`: `Some(true)` on success, `Some(false)`
/// on an error numeric, `None` if unrelated.
fn completes(op: Op, m: &Line<'_>, me: &str, tag: &str) -> Option<bool> {
    let c = m.command;
    if c.len() == 3 && (c[0] == b'4' || c[0] == b'5') {
        return Some(false);
    }
    let mine = eq_ignore_case(m.nick(), me.as_bytes());
    let is_chan =
        |p: Option<&[u8]>, ch: usize| p.is_some_and(|p| eq_ignore_case(p, fleet::channel(tag, ch).as_bytes()));
    match op {
        Op::Join(ch) => (c == b"366" && is_chan(m.param(1), ch)).then_some(true),
        Op::Part(ch) => (c == b"PART" && mine && is_chan(m.param(0), ch)).then_some(true),
        Op::Nick => (c == b"NICK" && mine).then_some(true),
    }
}

/// One-line human summary.
pub fn summary(r: &Report) -> String {
    format!(
        "churn {}: {} clients over {} channels: {:.0} ops/s, p50 {} µs, p99 {} µs, errors {}, broken {}",
        r.label, r.clients, r.channels, r.ops_per_s, r.latency_us.p50, r.latency_us.p99, r.errors, r.broken
    )
}
