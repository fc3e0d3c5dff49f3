//! Dispatch: builds the bench runtime, arms the hard time limit, runs the
//! chosen scenario and prints its JSON line(s) and summary.

use super::chart;
use super::cli::Args;
use super::multi::Targets;
use super::{burst, churn, conn, connect, fanout, report, who};
use serde::Serialize;
use std::future::Future;
use std::time::Duration;

/// Runs the scenario named by `a.command`.
pub fn run(a: &Args) -> Result<(), String> {
    if a.command == "chart" {
        return chart_cmd(a);
    }
    if a.command == "report" {
        return report_cmd(a);
    }
    if a.command == "history-fill" {
        let r = super::history::fill(a)?;
        reject_unused(a)?;
        emit(&r, &super::history::fill_summary(&r));
        return Ok(());
    }
    // Several servers and processes: fan-out runs only (sweep and soak too).
    let targets = Targets::from_args(a, matches!(a.command.as_str(), "fanout" | "sweep" | "soak"))?;
    let addr = targets.addrs[0];
    let pid = targets.pids.first().copied();
    let threads: usize = a.num("threads", 2)?;
    let label = a.get("label").unwrap_or("").to_string();
    let limit: Option<f64> = a.get("time-limit").map(str::parse).transpose().map_err(|_| "bad --time-limit")?;
    let nofile = conn::raise_nofile();
    match a.command.as_str() {
        "connect" => {
            let spec = connect::Spec::from_args(a)?;
            reject_unused(a)?;
            let budget = limit_or(limit, spec.budget());
            let mut r = block_on(threads, budget, connect::run(addr, pid, &spec))?;
            r.label = label;
            emit(&r, &connect::summary(&r));
        }
        "fanout" => {
            let spec = fanout::Spec::from_args(a, 500)?;
            reject_unused(a)?;
            check_fds(spec.channels * spec.members, nofile)?;
            let budget = limit_or(limit, spec.budget());
            let mut r = block_on(threads, budget, fanout::run(&targets, &spec))?;
            r.label = label;
            emit(&r, &fanout::summary(&r));
        }
        "sweep" => sweep(a, &targets, threads, label, limit, nofile)?,
        "churn" => {
            let spec = churn::Spec::from_args(a)?;
            reject_unused(a)?;
            check_fds(spec.clients, nofile)?;
            let budget = limit_or(limit, spec.budget());
            let mut r = block_on(threads, budget, churn::run(addr, pid, &spec))?;
            r.label = label;
            emit(&r, &churn::summary(&r));
        }
        "soak" => {
            let clients: usize = a.num("clients", 10_000)?;
            let size: usize = a.num("channel-size", 50)?;
            let mut spec = fanout::Spec::from_args(a, size)?;
            spec.members = size;
            spec.channels = clients.div_ceil(size.max(1));
            spec.senders = a.num("senders", 1)?;
            spec.rate = a.num("rate", 1.0)?;
            spec.window = a.num("window", 8)?;
            spec.warmup = a.secs("warmup", 1.0)?;
            spec.duration = a.secs("duration", 60.0)?;
            spec.read_size = a.num("read-buf", 2048)?;
            spec.concurrency = a.num("concurrency", 500)?;
            let ka = a.secs("keepalive", 30.0)?;
            spec.keepalive = (!ka.is_zero()).then_some(ka);
            spec.check()?;
            reject_unused(a)?;
            check_fds(spec.channels * spec.members, nofile)?;
            let budget = limit_or(limit, spec.budget());
            let mut r = block_on(threads, budget, fanout::run(&targets, &spec))?;
            r.scenario = "soak".into();
            r.label = label;
            let rss = match (r.rss_start_kib, r.rss_end_kib) {
                (Some(a), Some(b)) => format!("; server RSS {a} KiB -> {b} KiB"),
                _ => String::new(),
            };
            emit(&r, &format!("{}{rss}", fanout::summary(&r)));
        }
        "register-burst" => {
            let spec = burst::Spec::from_args(a)?;
            reject_unused(a)?;
            check_fds(spec.clients + 8, nofile)?;
            let budget = limit_or(limit, spec.budget());
            let mut r = block_on(threads, budget, burst::run(addr, pid, &spec))?;
            r.label = label;
            emit(&r, &burst::summary(&r));
        }
        "chathistory" => {
            let budget = limit_or(limit, Duration::from_secs(600));
            let mut r = block_on(threads, budget, super::history::query(addr, a))?;
            reject_unused(a)?;
            r.label = label;
            emit(&r, &super::history::query_summary(&r));
        }
        "who" => {
            let spec = who::Spec::from_args(a)?;
            reject_unused(a)?;
            check_fds(spec.clients + spec.attackers + 2, nofile)?;
            let budget = limit_or(limit, spec.budget());
            let mut r = block_on(threads, budget, who::run(addr, pid, &spec))?;
            r.label = label;
            emit(&r, &who::summary(&r));
        }
        other => return Err(format!("unknown scenario {other:?} (try `help`)")),
    }
    Ok(())
}

/// Fan-out over several channel sizes, one JSON line each, then the chart.
fn sweep(
    a: &Args,
    targets: &Targets,
    threads: usize,
    label: String,
    limit: Option<f64>,
    nofile: u64,
) -> Result<(), String> {
    let sizes: Vec<usize> = a
        .get("sizes")
        .unwrap_or("10,100,500,1000")
        .split(',')
        .map(|s| s.trim().parse().map_err(|_| format!("bad --sizes entry {s:?}")))
        .collect::<Result<_, _>>()?;
    let base = fanout::Spec::from_args(a, 10)?;
    let svg = a.get("svg").map(str::to_string);
    let title = a.get("title").unwrap_or("banter-bench fan-out sweep").to_string();
    reject_unused(a)?;
    let specs: Vec<fanout::Spec> = sizes
        .iter()
        .map(|&m| fanout::Spec { channels: 1, members: m, senders: base.senders.min(m), ..base.clone() })
        .collect();
    for s in &specs {
        s.check()?;
        check_fds(s.members, nofile)?;
    }
    let total: Duration = specs.iter().map(|s| s.budget() + Duration::from_secs(2)).sum();
    let budget = limit_or(limit, total);
    let reports = block_on(threads, budget, async {
        let mut out = Vec::new();
        for s in &specs {
            let mut r = fanout::run(targets, s).await?;
            r.scenario = "sweep".into();
            r.label = label.clone();
            emit(&r, &fanout::summary(&r));
            out.push(r);
            // Let the server reap the previous run's clients.
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        Ok::<_, String>(out)
    })?;
    if let Some(path) = svg {
        let lines: Vec<String> = reports.iter().filter_map(|r| serde_json::to_string(r).ok()).collect();
        chart::draw(&path, &title, &chart::series_from_json(&lines.join("\n")))?;
        eprintln!("chart written to {path}");
    }
    Ok(())
}

/// `report --labels A,B FILES...`: prints the comparison table.
fn report_cmd(a: &Args) -> Result<(), String> {
    let labels: Vec<String> =
        a.get("labels").ok_or("report needs --labels A,B")?.split(',').map(str::to_string).collect();
    reject_unused(a)?;
    let mut text = String::new();
    for f in &a.free {
        text += &std::fs::read_to_string(f).map_err(|e| format!("{f}: {e}"))?;
        text.push('\n');
    }
    print!("{}", report::table(&text, &labels));
    Ok(())
}

/// `chart --svg FILE [--title T] FILES...`: draws saved sweep lines.
fn chart_cmd(a: &Args) -> Result<(), String> {
    let path = a.get("svg").ok_or("chart needs --svg FILE")?.to_string();
    let title = a.get("title").unwrap_or("fan-out: delivered/s and p99 latency vs channel size");
    reject_unused(a)?;
    let mut text = String::new();
    for f in &a.free {
        text += &std::fs::read_to_string(f).map_err(|e| format!("{f}: {e}"))?;
        text.push('\n');
    }
    let series = chart::series_from_json(&text);
    chart::draw(&path, title, &series)?;
    eprintln!("chart with {} series written to {path}", series.len());
    Ok(())
}

fn reject_unused(a: &Args) -> Result<(), String> {
    if !a.free.is_empty() && !matches!(a.command.as_str(), "chart" | "report") {
        return Err(format!("unexpected argument(s): {}", a.free.join(" ")));
    }
    let u = a.unused();
    if u.is_empty() {
        Ok(())
    } else {
        Err(format!("unknown option(s) for {}: --{}", a.command, u.join(", --")))
    }
}

fn check_fds(clients: usize, nofile: u64) -> Result<(), String> {
    if clients as u64 + 64 > nofile {
        return Err(format!("{clients} clients need more than the {nofile} open files allowed"));
    }
    Ok(())
}

fn limit_or(limit: Option<f64>, budget: Duration) -> Duration {
    limit.filter(|s| *s > 0.0 && *s < 86_400.0).map(Duration::from_secs_f64).unwrap_or(budget)
}

/// Builds the bench runtime (`threads` workers; 1 = current-thread) and
/// runs `fut` under a hard limit: a timeout inside the runtime and, should
/// the runtime itself be stuck, a watchdog thread that exits the process.
fn block_on<T>(threads: usize, limit: Duration, fut: impl Future<Output = Result<T, String>>) -> Result<T, String> {
    let threads = threads.clamp(1, 64);
    let rt = if threads == 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_multi_thread().worker_threads(threads).enable_all().build()
    }
    .map_err(|e| format!("runtime: {e}"))?;
    let grace = limit + Duration::from_secs(15);
    std::thread::spawn(move || {
        std::thread::sleep(grace);
        eprintln!("banter-bench: hard time limit of {:.0} s reached, exiting", grace.as_secs_f64());
        std::process::exit(3);
    });
    let out = rt.block_on(async {
        tokio::time::timeout(limit, fut)
            .await
            .map_err(|_| format!("time limit of {:.0} s reached", limit.as_secs_f64()))?
    });
    rt.shutdown_timeout(Duration::from_secs(2));
    out
}

/// Prints the JSON line on stdout and the summary on stderr.
fn emit<R: Serialize>(r: &R, summary: &str) {
    match serde_json::to_string(r) {
        Ok(j) => println!("{j}"),
        Err(e) => eprintln!("cannot serialize report: {e}"),
    }
    eprintln!("{summary}");
}
