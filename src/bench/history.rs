//! History scenarios.
//!
//! - `history-fill`: the history writer's throughput. Writes `--rows` rows to
//!   one target (or round-robin to `--targets` targets) of a store through
//!   the server's own writer (the same queue, batch sizes and transactions
//!   banterd uses), as fast as the queue takes them, and reports rows/s
//!   (`--store sqlite:DIR|postgres://...`, or the SQLite files of
//!   `--data-dir`). This one uses the store directly: it measures
//!   the disk path alone, and leaves a data dir with a large target behind.
//! - `chathistory`: CHATHISTORY latency over IRC. One client joins `--target`
//!   and sends `CHATHISTORY LATEST <target> * <limit>` one request at a time;
//!   reports p50/p99 from request to the end of its batch.

use super::cli::Args;
use super::conn::Conn;
use super::hist::Hist;
use super::line::Line;
use crate::caps::Cap;
use crate::store::history::{Kind, Retention, Row};
use crate::store::writer::{HistoryWriter, Settings};
use crate::store::Store;
use serde::Serialize;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The JSON line of `history-fill`.
#[derive(Debug, Serialize)]
pub struct FillReport {
    /// `history-fill`.
    pub scenario: String,
    /// Rows written by this run.
    pub rows: u64,
    /// Targets the rows were spread over.
    pub targets: usize,
    /// Rows per transaction (at most).
    pub batch_rows: usize,
    /// Batch window, ms.
    pub batch_ms: u64,
    /// Wall seconds from the first row queued to the last committed.
    pub seconds: f64,
    /// Rows committed per wall second.
    pub rows_per_sec: f64,
    /// Transactions committed.
    pub batches: u64,
    /// Rows per second of the writer thread's time in transactions.
    pub rows_per_busy_sec: f64,
    /// CPU microseconds of the writer thread per row (in transactions).
    pub cpu_us_per_row: f64,
    /// Size of history.db afterwards, bytes.
    pub db_bytes: u64,
}

/// Runs `history-fill`.
pub fn fill(a: &Args) -> Result<FillReport, String> {
    // `--store URL` (sqlite:DIR or postgres://...) or `--data-dir DIR` (SQLite).
    let location = match (a.get("store"), a.get("data-dir")) {
        (Some(url), _) => crate::store::location::Location::parse(url)?,
        (None, Some(dir)) => crate::store::location::Location::Sqlite(dir.into()),
        (None, None) => return Err("--data-dir or --store is needed".into()),
    };
    let rows: u64 = a.num("rows", 1_000_000)?;
    let target = a.get("target").unwrap_or("#big").to_lowercase();
    // Rows go round-robin to `--targets` channels (the first is `--target`,
    // then `<target>-1`...), like fan-out to many channels.
    let targets: usize = a.num("targets", 1)?;
    let names: Vec<String> =
        (0..targets.max(1)).map(|t| if t == 0 { target.clone() } else { format!("{target}-{t}") }).collect();
    let batch_rows: usize = a.num("batch-rows", 4000)?;
    let batch_ms: u64 = a.num("batch-ms", 20)?;
    let payload: usize = a.num("payload", 60)?;
    let store: Arc<dyn Store> = location.open()?;
    let settings = Settings {
        batch_rows,
        batch_ms,
        queue_bytes: 64 << 20,
        retention: Retention { max_age_days: 0, max_per_target: 0 },
    };
    let writer = HistoryWriter::start(store, settings);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    let text = "x".repeat(payload);
    let run = format!("{:08x}", rand::random::<u32>());
    let base_ms = chrono::Utc::now().timestamp_millis() - rows as i64;
    let started = Instant::now();
    for i in 0..rows {
        let target = &names[i as usize % names.len()];
        let mut msgid = run.clone();
        crate::proto::msgid::push(&mut msgid, base_ms + i as i64, i);
        let time = crate::proto::time::format(base_ms + i as i64);
        let line = crate::proto::line::Line::new(
            format!("sender{}!bench@127.0.0.1", i % 50),
            "PRIVMSG",
            vec![target.clone(), format!("{i} {text}")],
        )
        .tag("time", time, Cap::ServerTime)
        .tag("msgid", msgid.clone(), Cap::MessageTags)
        .tag("account", format!("sender{}", i % 50), Cap::AccountTag);
        let mut row = Row {
            target: target.clone(),
            msgid,
            time_ms: base_ms + i as i64,
            kind: Kind::Message,
            sender_conn: 1,
            sender_account: Some(format!("sender{}", i % 50)),
            line,
            multiline: None,
            direct: None,
        };
        // A producer faster than the disk backs off instead of dropping (the
        // server drops; here the point is to keep the writer saturated).
        loop {
            if writer.record(row.clone()) {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
            row.time_ms = base_ms + i as i64;
        }
    }
    rt.block_on(writer.sync());
    let seconds = started.elapsed().as_secs_f64();
    let stats = writer.stats();
    let written = stats.written.load(std::sync::atomic::Ordering::Relaxed);
    let busy = stats.busy_us.load(std::sync::atomic::Ordering::Relaxed) as f64 / 1e6;
    let db_bytes = location.dir().and_then(|d| std::fs::metadata(d.join("history.db")).ok()).map_or(0, |m| m.len());
    Ok(FillReport {
        scenario: "history-fill".into(),
        rows: written,
        targets: names.len(),
        batch_rows,
        batch_ms,
        seconds,
        rows_per_sec: written as f64 / seconds.max(1e-9),
        batches: stats.batches.load(std::sync::atomic::Ordering::Relaxed),
        rows_per_busy_sec: written as f64 / busy.max(1e-9),
        cpu_us_per_row: stats.cpu_us.load(std::sync::atomic::Ordering::Relaxed) as f64 / written.max(1) as f64,
        db_bytes,
    })
}

/// The summary line of `history-fill`.
pub fn fill_summary(r: &FillReport) -> String {
    format!(
        "history-fill: {} rows to {} targets in {:.1} s = {:.0} rows/s ({} batches of <= {} rows / {} ms; {:.0} rows/s of writer busy time, {:.2} µs of writer CPU per row); history.db {} MiB",
        r.rows,
        r.targets,
        r.seconds,
        r.rows_per_sec,
        r.batches,
        r.batch_rows,
        r.batch_ms,
        r.rows_per_busy_sec,
        r.cpu_us_per_row,
        r.db_bytes >> 20
    )
}

/// The JSON line of `chathistory`.
#[derive(Debug, Default, Serialize)]
pub struct QueryReport {
    /// `chathistory`.
    pub scenario: String,
    /// The target queried.
    pub target: String,
    /// Requests made.
    pub requests: u64,
    /// Lines per reply (the limit asked for).
    pub limit: usize,
    /// Lines received in the last reply.
    pub lines: usize,
    /// Median latency, µs.
    pub p50_us: u64,
    /// 99th percentile, µs.
    pub p99_us: u64,
    /// Slowest, µs.
    pub max_us: u64,
    /// Free label.
    pub label: String,
}

/// Runs `chathistory` against the server at `addr`.
pub async fn query(addr: SocketAddr, a: &Args) -> Result<QueryReport, String> {
    let target = a.get("target").unwrap_or("#big").to_string();
    let requests: u64 = a.num("requests", 1000)?;
    let limit: usize = a.num("limit", 100)?;
    let e = |e: std::io::Error| e.to_string();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut c = Conn::connect(addr, 64 * 1024).await.map_err(e)?;
    c.queue(b"CAP REQ :batch server-time message-tags\r\nCAP END\r\n");
    c.register("histbench", deadline).await.map_err(e)?;
    c.join(&target, deadline).await.map_err(e)?;
    let mut hist = Hist::default();
    let mut lines = 0;
    let request = format!("CHATHISTORY LATEST {target} * {limit}\r\n");
    for _ in 0..requests {
        let start = Instant::now();
        c.queue(request.as_bytes());
        c.flush().await.map_err(e)?;
        lines = 0;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let l = c.line(deadline).await.map_err(e)?;
            let Some(m) = Line::parse(&l) else { continue };
            match m.command {
                b"PRIVMSG" | b"NOTICE" => lines += 1,
                b"BATCH" if m.param(0).is_some_and(|p| p.starts_with(b"-")) => break,
                b"FAIL" => return Err(format!("server: {}", String::from_utf8_lossy(&l))),
                _ => {}
            }
        }
        hist.record(start.elapsed().as_micros() as u64);
    }
    Ok(QueryReport {
        scenario: "chathistory".into(),
        target,
        requests,
        limit,
        lines,
        p50_us: hist.quantile(0.5),
        p99_us: hist.quantile(0.99),
        max_us: hist.max(),
        label: String::new(),
    })
}

/// The summary line of `chathistory`.
pub fn query_summary(r: &QueryReport) -> String {
    format!(
        "chathistory: {} x LATEST {} * {} ({} lines each): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        r.requests,
        r.target,
        r.limit,
        r.lines,
        r.p50_us as f64 / 1000.0,
        r.p99_us as f64 / 1000.0,
        r.max_us as f64 / 1000.0
    )
}
