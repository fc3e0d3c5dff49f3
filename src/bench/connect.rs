//! The connect scenario: N clients connect and register (NICK/USER, wait
//! for 001 and the end of MOTD), then hold. Reports registrations per
//! second and the server's resident memory per idle registered client.

use super::cli::Args;
use super::conn::{pong, Conn};
use super::fanout::round3;
use super::fleet::{self, secs};
use super::phase::{Phase, PhaseCtl};
use super::procfs;
use serde::Serialize;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, Semaphore};
use tokio::time::Instant;

/// Parameters of a connect run.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Clients to register.
    pub clients: usize,
    /// Registrations in flight at once.
    pub concurrency: usize,
    /// How long to hold everyone after the last registration before the
    /// memory reading.
    pub hold: Duration,
    /// Max time to register everyone.
    pub setup_timeout: Duration,
}

impl Spec {
    /// Reads `--clients` (5000), `--concurrency` (500), `--duration` (hold, 2 s).
    pub fn from_args(a: &Args) -> Result<Spec, String> {
        let s = Spec {
            clients: a.num("clients", 5000)?,
            concurrency: a.num("concurrency", 500)?,
            hold: a.secs("duration", 2.0)?,
            setup_timeout: a.secs("setup-timeout", 120.0)?,
        };
        if s.clients == 0 || s.clients > 100_000 || s.concurrency == 0 {
            return Err("--clients must be 1..=100000, --concurrency > 0".into());
        }
        Ok(s)
    }

    /// The longest this run can take.
    pub fn budget(&self) -> Duration {
        self.setup_timeout + self.hold + Duration::from_secs(30)
    }
}

/// The JSON line of a connect run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Always `connect`.
    pub scenario: &'static str,
    /// Free label (`--label`).
    pub label: String,
    /// Clients registered.
    pub clients: usize,
    /// Registrations in flight at once.
    pub concurrency: usize,
    /// Seconds from the first connect to the last end of MOTD.
    pub secs: f64,
    /// Registrations per second.
    pub registrations_per_s: f64,
    /// Server RSS before connecting, KiB (needs `--pid`).
    pub rss_before_kib: Option<u64>,
    /// Server RSS with everyone registered and idle, KiB.
    pub rss_after_kib: Option<u64>,
    /// (after − before) / clients, KiB.
    pub rss_per_client_kib: Option<f64>,
    /// Server CPU seconds spent on the registrations (needs `--pid`).
    pub server_cpu_s: Option<f64>,
    /// This bench's CPU seconds over the same span.
    pub bench_cpu_s: Option<f64>,
}

/// Runs the connect scenario.
pub async fn run(addr: SocketAddr, pid: Option<u32>, spec: &Spec) -> Result<Report, String> {
    let tag = fleet::run_tag();
    let phase = Arc::new(PhaseCtl::default());
    let sem = Arc::new(Semaphore::new(spec.concurrency));
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel();
    let rss_before = pid.and_then(procfs::rss_kib);
    let cpu0 = pid.and_then(procfs::cpu_secs);
    let self0 = procfs::self_cpu_secs();
    let t0 = Instant::now();
    let deadline = t0 + spec.setup_timeout;
    let mut tasks = Vec::with_capacity(spec.clients);
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
    let result = fleet::wait_ready(&mut ready_rx, spec.clients, deadline).await;
    let report = match result {
        Ok(t1) => {
            let took = t1 - t0;
            let cpu = cpu0.zip(pid.and_then(procfs::cpu_secs)).map(|(a, b)| round3(b - a));
            let own = self0.zip(procfs::self_cpu_secs()).map(|(a, b)| round3(b - a));
            tokio::time::sleep(spec.hold).await;
            let rss_after = pid.and_then(procfs::rss_kib);
            Ok(Report {
                scenario: "connect",
                label: String::new(),
                clients: spec.clients,
                concurrency: spec.concurrency,
                secs: secs(took),
                registrations_per_s: (spec.clients as f64 / took.as_secs_f64()).round(),
                rss_before_kib: rss_before,
                rss_after_kib: rss_after,
                rss_per_client_kib: rss_before
                    .zip(rss_after)
                    .map(|(b, a)| ((a as f64 - b as f64) / spec.clients as f64 * 100.0).round() / 100.0),
                server_cpu_s: cpu,
                bench_cpu_s: own,
            })
        }
        Err(e) => Err(e),
    };
    phase.set(Phase::Done);
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
    }
    report
}

/// Keeps an idle client alive (answering PING) until the phase is `Done`.
pub async fn hold(mut c: Conn, phase: &PhaseCtl) {
    let mut rx = phase.subscribe();
    while phase.get() != Phase::Done {
        tokio::select! {
            r = c.fill() => {
                if r.is_err() {
                    return;
                }
                c.drain_lines(|l, out| {
                    if l.starts_with(b"PING") {
                        pong(l, out);
                    }
                });
                if c.flush().await.is_err() {
                    return;
                }
            }
            r = rx.changed() => if r.is_err() { return },
        }
    }
}

/// One-line human summary.
pub fn summary(r: &Report) -> String {
    let mem = r.rss_per_client_kib.map(|k| format!(", {k:.2} KiB RSS per idle client")).unwrap_or_default();
    format!(
        "connect {}: {} clients in {:.2} s = {:.0} registrations/s{}",
        r.label, r.clients, r.secs, r.registrations_per_s, mem
    )
}
