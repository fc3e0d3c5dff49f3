//! The register-burst scenario (issue 14 item 2): `--clients` connections,
//! spread over `--ips` loopback source addresses (127.0.0.2, .3, ...), each
//! registered as a client, send `REGISTER` at the same moment, while a
//! bystander on 127.0.0.1 logs in with SASL PLAIN again and again.
//!
//! It reports the server's peak resident memory and thread count during the
//! burst (`/proc/PID/status` sampled every few milliseconds, and `VmHWM`),
//! how the REGISTERs were answered (created, refused and why), the server's
//! CPU seconds, and the bystander's login time (from connecting to `903`),
//! idle and during the burst.
//! Start banterd with `benches/register-burst.toml` (the default argon2 cost;
//! per-address registration limits opened so the burst reaches hashing) and
//! pass `--pid`.

use super::cli::Args;
use super::conn::{err, Conn};
use super::fanout::round3;
use super::fleet::{self, secs};
use super::hist::Hist;
use super::line::{trim_crlf, Line};
use super::procfs;
use base64::Engine;
use serde::Serialize;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::time::Instant;

/// Parameters of a register-burst run.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Connections that send REGISTER together.
    pub clients: usize,
    /// Source addresses they are spread over (127.0.0.2 onwards).
    pub ips: usize,
    /// How long to wait for every REGISTER to be answered.
    pub burst_timeout: Duration,
    /// How long to wait for the connections to register first.
    pub setup_timeout: Duration,
    /// How often `/proc/PID/status` is read during the burst.
    pub sample_every: Duration,
}

impl Spec {
    /// Reads `--clients` (256), `--ips` (16), `--burst-timeout` (120 s),
    /// `--setup-timeout` (60 s), `--sample-ms` (5).
    pub fn from_args(a: &Args) -> Result<Spec, String> {
        let s = Spec {
            clients: a.num("clients", 256)?,
            ips: a.num("ips", 16)?,
            burst_timeout: a.secs("burst-timeout", 120.0)?,
            setup_timeout: a.secs("setup-timeout", 60.0)?,
            sample_every: Duration::from_millis(a.num("sample-ms", 5)?),
        };
        if s.clients == 0 || s.clients > 10_000 || s.ips == 0 || s.ips > 250 {
            return Err("--clients must be 1..=10000 and --ips 1..=250".into());
        }
        Ok(s)
    }

    /// The longest this run can take.
    pub fn budget(&self) -> Duration {
        self.setup_timeout + self.burst_timeout + Duration::from_secs(60)
    }
}

/// The JSON line of a register-burst run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// Always `register-burst`.
    pub scenario: &'static str,
    /// Free label (`--label`).
    pub label: String,
    /// REGISTERs sent at once.
    pub clients: usize,
    /// Source addresses they came from.
    pub ips: usize,
    /// `REGISTER SUCCESS` replies.
    pub created: usize,
    /// Refused because the server's hashing queue was full.
    pub refused_busy: usize,
    /// Refused because the address had a hash in progress.
    pub refused_address: usize,
    /// Refused by the per-address registration rate.
    pub refused_rate: usize,
    /// Any other FAIL (or a closed connection).
    pub other: usize,
    /// The first reply of the `other` kind, to tell what it was.
    pub other_example: Option<String>,
    /// Seconds from sending the REGISTERs to the last answer.
    pub burst_secs: f64,
    /// Server CPU seconds over the burst (needs `--pid`).
    pub server_cpu_s: Option<f64>,
    /// Server RSS just before the burst, KiB.
    pub rss_before_kib: Option<u64>,
    /// Highest RSS sampled during the burst, KiB.
    pub rss_peak_kib: Option<u64>,
    /// The kernel's high-water mark of the server's RSS (`VmHWM`) after the burst, KiB.
    pub rss_hwm_kib: Option<u64>,
    /// Server RSS one second after the last answer, KiB.
    pub rss_after_kib: Option<u64>,
    /// Server threads before the burst.
    pub threads_before: Option<u64>,
    /// Most server threads sampled during the burst.
    pub threads_peak: Option<u64>,
    /// The bystander's median login time on the idle server, ms.
    pub bystander_idle_ms: f64,
    /// Logins the bystander attempted during the burst.
    pub bystander_attempts: u64,
    /// Of those, how many succeeded (903).
    pub bystander_ok: u64,
    /// How many were refused (904, such as "the server is busy").
    pub bystander_refused: u64,
    /// The first refusal the bystander got, if any.
    pub bystander_refusal: Option<String>,
    /// Median time of the successful logins during the burst, ms.
    pub bystander_p50_ms: f64,
    /// Slowest successful login during the burst, ms.
    pub bystander_max_ms: f64,
}

/// How one REGISTER was answered.
#[derive(Debug)]
enum Answer {
    Created,
    Busy,
    Address,
    Rate,
    Other(String),
}

/// Runs the register-burst scenario.
pub async fn run(addr: SocketAddr, pid: Option<u32>, spec: &Spec) -> Result<Report, String> {
    let tag = fleet::run_tag();
    let bystander = Bystander { addr, account: format!("bys{tag}"), password: format!("bystander-{tag}-password") };
    bystander.create().await.map_err(|e| format!("bystander account: {e}"))?;
    let mut idle = Vec::new();
    for _ in 0..3 {
        match bystander.login().await.map_err(|e| format!("bystander login: {e}"))? {
            (d, Ok(())) => idle.push(d),
            (_, Err(reply)) => return Err(format!("bystander login refused on the idle server: {reply}")),
        }
    }
    idle.sort();

    // Every connection registers first, then waits for the signal.
    let (go_tx, go_rx) = watch::channel(false);
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel();
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Answer>();
    let connecting = Arc::new(Semaphore::new(64));
    let setup_deadline = Instant::now() + spec.setup_timeout;
    let burst_timeout = spec.burst_timeout;
    for i in 0..spec.clients {
        let from = Ipv4Addr::new(127, 0, 0, 2 + (i % spec.ips) as u8);
        let (mut go, ready, done, connecting) = (go_rx.clone(), ready_tx.clone(), done_tx.clone(), connecting.clone());
        let nick = fleet::nick(&tag, i);
        tokio::spawn(async move {
            let setup = async {
                let _permit = connecting.acquire().await.map_err(|e| e.to_string())?;
                let mut c =
                    Conn::connect_from(addr, IpAddr::V4(from), 1024).await.map_err(|e| format!("{from}: {e}"))?;
                c.register(&nick, setup_deadline).await.map_err(|e| format!("{from}: {e}"))?;
                Ok::<_, String>(c)
            };
            let mut c = match setup.await {
                Ok(c) => c,
                Err(e) => {
                    let _ = ready.send(Err(e));
                    return;
                }
            };
            let _ = ready.send(Ok(()));
            if go.wait_for(|&g| g).await.is_err() {
                return;
            }
            let answer = register(&mut c, Instant::now() + burst_timeout).await;
            let _ = done.send(answer);
        });
    }
    drop((ready_tx, done_tx));
    fleet::wait_ready(&mut ready_rx, spec.clients, setup_deadline).await?;

    let rss_before = pid.and_then(procfs::rss_kib);
    let threads_before = pid.and_then(procfs::threads);
    let cpu0 = pid.and_then(procfs::cpu_secs);
    let (stop_tx, stop_rx) = watch::channel(false);
    let sampler = tokio::spawn(sample(pid, spec.sample_every, stop_rx.clone()));
    let watcher = tokio::spawn(bystander.keep_logging_in(stop_rx));
    let t0 = Instant::now();
    let _ = go_tx.send(true);

    let mut r = Report { scenario: "register-burst", clients: spec.clients, ips: spec.ips, ..Default::default() };
    let mut answered = 0;
    while answered < spec.clients {
        let Ok(Some(a)) = tokio::time::timeout_at(t0 + burst_timeout, done_rx.recv()).await else { break };
        answered += 1;
        match a {
            Answer::Created => r.created += 1,
            Answer::Busy => r.refused_busy += 1,
            Answer::Address => r.refused_address += 1,
            Answer::Rate => r.refused_rate += 1,
            Answer::Other(text) => {
                r.other += 1;
                r.other_example.get_or_insert(text);
            }
        }
    }
    r.other += spec.clients - answered;
    r.burst_secs = secs(t0.elapsed());
    r.server_cpu_s = cpu0.zip(pid.and_then(procfs::cpu_secs)).map(|(a, b)| round3(b - a));
    let _ = stop_tx.send(true);
    let (rss_peak, threads_peak) = sampler.await.unwrap_or_default();
    let logins = watcher.await.unwrap_or_default();
    tokio::time::sleep(Duration::from_secs(1)).await;
    r.rss_before_kib = rss_before;
    r.rss_peak_kib = rss_peak;
    r.rss_hwm_kib = pid.and_then(|p| procfs::status_value(p, "VmHWM:"));
    r.rss_after_kib = pid.and_then(procfs::rss_kib);
    r.threads_before = threads_before;
    r.threads_peak = threads_peak;
    r.bystander_idle_ms = ms(idle[idle.len() / 2]);
    r.bystander_attempts = logins.attempts;
    r.bystander_ok = logins.ok;
    r.bystander_refused = logins.refused;
    r.bystander_refusal = logins.refusal;
    r.bystander_p50_ms = round3(logins.latency.quantile(0.5) as f64 / 1000.0);
    r.bystander_max_ms = round3(logins.latency.max() as f64 / 1000.0);
    Ok(r)
}

/// Sends REGISTER for the connection's nick and classifies the answer.
async fn register(c: &mut Conn, deadline: Instant) -> Answer {
    let name = c.nick.clone();
    c.queue(format!("REGISTER {name} * burst-{name}-password\r\n").as_bytes());
    if let Err(e) = c.flush().await {
        return Answer::Other(e.to_string());
    }
    loop {
        let l = match c.line(deadline).await {
            Ok(l) => l,
            Err(e) => return Answer::Other(e.to_string()),
        };
        let Some(m) = Line::parse(&l) else { continue };
        let text = String::from_utf8_lossy(trim_crlf(&l)).into_owned();
        match m.command {
            b"REGISTER" => return Answer::Created,
            b"FAIL" if m.param(0) == Some(b"REGISTER") => {
                return if text.contains("busy checking passwords") {
                    Answer::Busy
                } else if text.contains("from your address is in progress") {
                    Answer::Address
                } else if text.contains("Too many accounts registered") {
                    Answer::Rate
                } else {
                    Answer::Other(text)
                };
            }
            b"ERROR" => return Answer::Other(text),
            _ => {}
        }
    }
}

/// Reads the server's RSS and thread count until told to stop; the highest of each.
async fn sample(pid: Option<u32>, every: Duration, mut stop: watch::Receiver<bool>) -> (Option<u64>, Option<u64>) {
    let Some(pid) = pid else { return (None, None) };
    let (mut rss, mut threads) = (None::<u64>, None::<u64>);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                rss = rss.max(procfs::rss_kib(pid));
                threads = threads.max(procfs::threads(pid));
            }
            _ = stop.wait_for(|&s| s) => return (rss, threads),
        }
    }
}

/// What the bystander saw during the burst.
#[derive(Debug, Default)]
struct Logins {
    attempts: u64,
    ok: u64,
    refused: u64,
    refusal: Option<String>,
    latency: Hist,
}

/// A user with an account who logs in while the burst runs.
#[derive(Debug, Clone)]
struct Bystander {
    addr: SocketAddr,
    account: String,
    password: String,
}

impl Bystander {
    /// Creates the account (from 127.0.0.1).
    async fn create(&self) -> io::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut c = Conn::connect(self.addr, 1024).await?;
        c.register(&self.account, deadline).await?;
        c.queue(format!("REGISTER {} * {}\r\n", self.account, self.password).as_bytes());
        c.flush().await?;
        loop {
            let l = c.line(deadline).await?;
            match Line::parse(&l).map(|m| m.command) {
                Some(b"REGISTER") => break,
                Some(b"FAIL") => return Err(err(String::from_utf8_lossy(trim_crlf(&l)).into_owned())),
                _ => {}
            }
        }
        c.queue(b"QUIT\r\n");
        c.flush().await
    }

    /// One SASL PLAIN login on a new connection: the time from connecting
    /// to 903 (`Ok`) or 904 (`Err` with the reply), what a user waits.
    async fn login(&self) -> io::Result<(Duration, Result<(), String>)> {
        let t = Instant::now();
        let deadline = t + Duration::from_secs(120);
        let mut c = Conn::connect(self.addr, 1024).await?;
        c.queue(b"CAP LS 302\r\nCAP REQ :sasl\r\nAUTHENTICATE PLAIN\r\n");
        c.flush().await?;
        loop {
            let l = c.line(deadline).await?;
            if Line::parse(&l).is_some_and(|m| m.command == b"AUTHENTICATE") {
                break;
            }
        }
        let plain = format!("\0{}\0{}", self.account, self.password);
        let b64 = base64::engine::general_purpose::STANDARD.encode(plain);
        c.queue(format!("AUTHENTICATE {b64}\r\n").as_bytes());
        c.flush().await?;
        let outcome = loop {
            let l = c.line(deadline).await?;
            match Line::parse(&l).map(|m| m.command) {
                Some(b"903") => break Ok(()),
                Some(b"904") => break Err(String::from_utf8_lossy(trim_crlf(&l)).into_owned()),
                _ => {}
            }
        };
        let took = t.elapsed();
        c.queue(b"QUIT\r\n");
        let _ = c.flush().await;
        Ok((took, outcome))
    }

    /// Logs in over and over until told to stop (at least once).
    async fn keep_logging_in(self, stop: watch::Receiver<bool>) -> Logins {
        let mut seen = Logins::default();
        loop {
            seen.attempts += 1;
            match self.login().await {
                Ok((took, Ok(()))) => {
                    seen.ok += 1;
                    seen.latency.record(took.as_micros() as u64);
                }
                Ok((_, Err(reply))) => {
                    seen.refused += 1;
                    seen.refusal.get_or_insert(reply);
                    // As a client would: try again a little later.
                    tokio::time::sleep(RETRY).await;
                }
                Err(e) => {
                    seen.refused += 1;
                    seen.refusal.get_or_insert(e.to_string());
                    tokio::time::sleep(RETRY).await;
                }
            }
            if *stop.borrow() {
                return seen;
            }
        }
    }
}

/// How long the bystander waits after a refused login before the next.
const RETRY: Duration = Duration::from_millis(250);

fn ms(d: Duration) -> f64 {
    round3(d.as_secs_f64() * 1000.0)
}

/// One-line human summary.
pub fn summary(r: &Report) -> String {
    let kib = |v: Option<u64>| v.map_or("?".to_owned(), |k| format!("{:.0} MiB", k as f64 / 1024.0));
    let n = |v: Option<u64>| v.map_or("?".to_owned(), |t| t.to_string());
    format!(
        "register-burst {}: {} REGISTERs from {} addresses in {:.2} s: {} created, {} busy, {} address, {} rate, {} other; \
         server RSS {} -> peak {} (HWM {}), threads {} -> {}, CPU {:.2} s; bystander login {:.1} ms idle, \
         {} of {} ok during the burst ({} refused), p50 {:.1} ms, max {:.1} ms",
        r.label,
        r.clients,
        r.ips,
        r.burst_secs,
        r.created,
        r.refused_busy,
        r.refused_address,
        r.refused_rate,
        r.other,
        kib(r.rss_before_kib),
        kib(r.rss_peak_kib),
        kib(r.rss_hwm_kib),
        n(r.threads_before),
        n(r.threads_peak),
        r.server_cpu_s.unwrap_or(0.0),
        r.bystander_idle_ms,
        r.bystander_ok,
        r.bystander_attempts,
        r.bystander_refused,
        r.bystander_p50_ms,
        r.bystander_max_ms,
    )
}
