//! Smoke run of `banter-bench fanout` against a real `banterd`: a tiny setup
//! for a second must deliver every message exactly once and in order.
//! No timing assertions.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Kills the server when the test ends, whatever happens.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts banterd on an ephemeral loopback port; returns it with its port.
/// Uses the bench config when there is one (no flood control for
/// 127.0.0.1), so that throttling cannot hold messages past the drain.
fn start_banterd(data_dir: &std::path::Path) -> (Server, u16) {
    start_banterd_with(data_dir, "")
}

/// [`start_banterd`] with `extra` TOML appended to its configuration.
fn start_banterd_with(data_dir: &std::path::Path, extra: &str) -> (Server, u16) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_banterd"));
    // irctest.toml first: it keeps the INFO log with the listening address
    // (bench.toml logs warnings only).
    let config = ["tests/irctest.toml", "benches/bench.toml"].iter().map(|p| root.join(p)).find(|p| p.exists());
    if let Some(c) = config {
        let path = data_dir.join("banterd.toml");
        let text = std::fs::read_to_string(c).expect("read the test config");
        std::fs::write(&path, format!("{text}\n{extra}\n")).expect("write the test config");
        cmd.arg("--config").arg(path);
    }
    let mut child = cmd
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start banterd");
    let stderr = child.stderr.take().expect("stderr");
    let server = Server(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        // Keep reading after the port so the server never blocks on a full pipe.
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("listening on 127.0.0.1:").nth(1) {
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                if let Ok(p) = digits.parse::<u16>() {
                    let _ = tx.send(p);
                }
            }
        }
    });
    let port = rx.recv_timeout(Duration::from_secs(30)).expect("banterd did not log `listening on 127.0.0.1:PORT`");
    (server, port)
}

#[test]
fn fanout_delivers_every_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    // BENCH_SMOKE_SERVER=127.0.0.1:PORT runs against another server instead.
    let (server, addr) = match std::env::var("BENCH_SMOKE_SERVER") {
        Ok(a) => (None, a),
        Err(_) => {
            let (s, port) = start_banterd(dir.path());
            (Some(s), format!("127.0.0.1:{port}"))
        }
    };
    let mut args = vec![
        "fanout",
        "--server",
        &addr,
        "--channels",
        "2",
        "--members",
        "5",
        "--senders",
        "2",
        "--window",
        "8",
        "--warmup",
        "0.5",
        "--duration",
        "1",
        "--threads",
        "1",
        "--time-limit",
        "60",
    ]
    .into_iter()
    .map(String::from)
    .collect::<Vec<_>>();
    let pid = server.as_ref().map(|s| s.0.id().to_string());
    if let Some(p) = &pid {
        args.extend(["--pid".to_string(), p.clone()]);
    }
    let out = Command::new(env!("CARGO_BIN_EXE_banter-bench")).args(&args).output().expect("run banter-bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "bench failed: {stdout}\n{stderr}");
    let line = stdout.lines().last().expect("a JSON line");
    let v: serde_json::Value = serde_json::from_str(line).expect("valid JSON");
    assert_eq!(v["scenario"], "fanout", "{line}");
    assert!(v["delivered"].as_u64().unwrap_or(0) > 0, "{line}");
    assert!(v["sent"].as_u64().unwrap_or(0) > 0, "{line}");
    assert_eq!(v["loss"], 0, "{line}");
    assert_eq!(v["dups"], 0, "{line}");
    assert_eq!(v["reordered"], 0, "{line}");
    assert_eq!(v["foreign"], 0, "{line}");
    assert_eq!(v["broken"], 0, "{line}");
    assert_eq!(v["received"], v["expected"], "{line}");
    // One server: the JSON line other scripts parse has no multi-server fields.
    assert!(v.get("servers").is_none() && v.get("network").is_none() && v.get("processes").is_none(), "{line}");
    drop(server);
}

/// Runs `banter-bench` with `args`; returns its JSON line, parsed.
fn bench_json(args: &[&str]) -> (serde_json::Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_banter-bench")).args(args).output().expect("run banter-bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "bench failed: {stdout}\n{stderr}");
    let line = stdout.lines().last().expect("a JSON line").to_string();
    (serde_json::from_str(&line).expect("valid JSON"), format!("{line}\n{stderr}"))
}

/// Asserts that a fan-out run delivered every message exactly once, in order.
fn assert_sound(v: &serde_json::Value, ctx: &str) {
    assert!(v["delivered"].as_u64().unwrap_or(0) > 0 && v["sent"].as_u64().unwrap_or(0) > 0, "{ctx}");
    for k in ["loss", "dups", "reordered", "foreign", "broken"] {
        assert_eq!(v[k], 0, "{k}: {ctx}");
    }
    assert_eq!(v["received"], v["expected"], "{ctx}");
}

/// Multi-server fan-out against two real banterd processes: members spread
/// over both. As independent servers (`--network independent`, not a
/// cluster) each message reaches the members on its sender's server only;
/// mirrored (`--network mirrored`), each sender also sends from outside the
/// channel on the other server, so every member gets every message; the
/// same server given twice is one network, which also goes through the
/// check that every server lists every member. CPU is summed over both
/// pids. The servers' channels start without `+n`, as mirroring needs.
#[test]
fn fanout_spreads_members_over_several_servers() {
    let (dir_a, dir_b) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let open_channels = "[channels]\ndefault_modes = \"t\"";
    let (a, port_a) = start_banterd_with(dir_a.path(), open_channels);
    let (b, port_b) = start_banterd_with(dir_b.path(), open_channels);
    let (addr_a, addr_b) = (format!("127.0.0.1:{port_a}"), format!("127.0.0.1:{port_b}"));
    let (pid_a, pid_b) = (a.0.id().to_string(), b.0.id().to_string());
    let common = ["fanout", "--channels", "2", "--members", "6", "--senders", "2", "--window", "8"];
    let short = ["--warmup", "0.3", "--duration", "0.7", "--threads", "1", "--time-limit", "60"];
    // A sound run over both servers, as `network`, reported as such.
    let across = |network: &str| {
        let mut args: Vec<&str> = common.to_vec();
        args.extend(["--server", &addr_a, "--server", &addr_b, "--pid", &pid_a, "--pid", &pid_b]);
        args.extend(["--network", network]);
        args.extend(short);
        let (v, ctx) = bench_json(&args);
        assert_sound(&v, &ctx);
        assert_eq!((v["servers"].as_u64(), v["network"].as_str()), (Some(2), Some(network)), "{ctx}");
        (v, ctx)
    };
    let (v, ctx) = across("independent");
    // 3 members of each channel per server: 2 receivers per message.
    assert_eq!(v["expected"].as_u64(), v["sent"].as_u64().map(|s| s * 2), "{ctx}");
    let procs = v["processes"].as_array().expect("processes");
    assert_eq!(procs.len(), 2, "{ctx}");
    assert!(procs.iter().all(|p| p["name"] == "banterd" && p["cpu_s"].as_f64().is_some_and(|c| c >= 0.0)), "{ctx}");
    assert!(ctx.contains("over 2 independent servers (not a cluster)"), "{ctx}");

    let (v, ctx) = across("mirrored");
    // Every other member of the channel, on either server: 5 receivers.
    assert_eq!(v["expected"].as_u64(), v["sent"].as_u64().map(|s| s * 5), "{ctx}");
    assert!(ctx.contains("over 2 mirrored servers (not a cluster)"), "{ctx}");

    let twice = format!("{addr_a},{addr_a}");
    let mut args: Vec<&str> = common.to_vec();
    args.extend(["--server", &twice, "--pid", &pid_a]);
    args.extend(short);
    let (v, ctx) = bench_json(&args);
    assert_sound(&v, &ctx);
    assert_eq!((v["servers"].as_u64(), v["network"].as_str()), (Some(2), Some("one")), "{ctx}");
    assert_eq!(v["expected"].as_u64(), v["sent"].as_u64().map(|s| s * 5), "{ctx}");
    assert!(v.get("processes").is_none(), "one pid: no breakdown: {ctx}");
    drop((a, b));
}

/// Smoke run of `banter-bench who`: a handful of clients, a second of attack;
/// every part of the report is there and the attackers' WHOs were answered.
#[test]
fn who_reports_cost_and_bystander_latency() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, port) = start_banterd(dir.path());
    let addr = format!("127.0.0.1:{port}");
    let pid = server.0.id().to_string();
    let args = [
        "who",
        "--server",
        &addr,
        "--pid",
        &pid,
        "--clients",
        "20",
        "--probes",
        "2",
        "--attackers",
        "2",
        "--duration",
        "1",
        "--baseline",
        "0.5",
        "--threads",
        "1",
        "--time-limit",
        "60",
    ];
    let out = Command::new(env!("CARGO_BIN_EXE_banter-bench")).args(args).output().expect("run banter-bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "bench failed: {stdout}\n{stderr}");
    let line = stdout.lines().last().expect("a JSON line");
    let v: serde_json::Value = serde_json::from_str(line).expect("valid JSON");
    assert_eq!(v["scenario"], "who", "{line}");
    assert_eq!(v["cost"].as_array().map(Vec::len), Some(3), "{line}");
    assert!(v["cost"][0]["cpu_ms_per_who"].is_number(), "{line}");
    assert!(v["whos_answered"].as_u64().unwrap_or(0) > 0, "{line}");
    assert_eq!(v["attackers_disconnected"], 0, "{line}");
    assert_eq!(v["ping_during_ms"].as_array().map(Vec::len), Some(3), "{line}");
    drop(server);
}

/// Smoke run of `banter-bench register-burst`: a few REGISTERs at once from
/// two addresses; every one is answered and accounted for, and the bystander
/// logs in.
#[test]
fn register_burst_accounts_for_every_register() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, port) = start_banterd(dir.path());
    let addr = format!("127.0.0.1:{port}");
    let pid = server.0.id().to_string();
    let args = ["register-burst", "--server", &addr, "--pid", &pid, "--clients", "6", "--ips", "2", "--threads", "1"];
    let out = Command::new(env!("CARGO_BIN_EXE_banter-bench")).args(args).output().expect("run banter-bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "bench failed: {stdout}\n{stderr}");
    let line = stdout.lines().last().expect("a JSON line");
    let v: serde_json::Value = serde_json::from_str(line).expect("valid JSON");
    assert_eq!(v["scenario"], "register-burst", "{line}");
    let count = |k: &str| v[k].as_u64().unwrap_or(u64::MAX);
    let answered = ["created", "refused_busy", "refused_address", "refused_rate"].map(count).iter().sum::<u64>();
    assert_eq!((answered, count("other")), (6, 0), "{line}");
    assert!(count("created") >= 2, "one per address at least: {line}");
    assert!(count("bystander_ok") >= 1, "{line}");
    assert!(v["rss_peak_kib"].as_u64().unwrap_or(0) > 0 && v["threads_peak"].as_u64().unwrap_or(0) > 0, "{line}");
    drop(server);
}
