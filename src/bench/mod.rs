//! `banter-bench`, the in-project load generator.
//!
//! It speaks raw IRC over TCP to a server on the loopback interface only,
//! with its own minimal line handling (no dependency on the server's
//! internals), and runs one scenario per invocation:
//!
//! - `connect`: N clients register and hold; registrations/s, RSS/client.
//! - `fanout`: C channels × M members, S closed-loop senders; delivered/s,
//!   latency, loss/dups/reordering, server CPU per million deliveries; the
//!   members may be spread over several servers (see [`multi`]).
//! - `sweep`: `fanout` over channel sizes, plus an SVG chart.
//! - `churn`: JOIN/PART/NICK loops; operations/s.
//! - `soak`: many clients with paced traffic; RSS at start and end.
//! - `who`: CPU per wide-mask WHO over N clients, and a bystander's PING
//!   latency while WHOs are sent at the allowed rate.
//! - `chart`: redraws a chart from saved sweep JSON lines.
//! - `report`: a Markdown table of medians and ratios from saved JSON lines.
//! - `history-fill`, `chathistory`: the history writer's rows/s, and
//!   CHATHISTORY latency (see `history`).
//! - `register-burst`: many REGISTERs at once from several addresses; the
//!   server's peak RSS and threads, and a bystander's login latency.
//!
//! Each scenario prints one JSON line on stdout and a summary on stderr,
//! and the whole process stops on its own at a hard time limit.

pub mod burst;
pub mod chart;
pub mod churn;
pub mod cli;
pub mod conn;
pub mod connect;
pub mod fanout;
pub mod fleet;
pub mod hist;
pub mod history;
pub mod line;
pub mod member;
pub mod multi;
pub mod phase;
pub mod procfs;
pub mod report;
pub mod scenarios;
pub mod seq;
pub mod who;

/// Usage text printed by `banter-bench help`.
pub const USAGE: &str = "\
banter-bench SCENARIO [--option value]...

scenarios:
  connect  --clients 5000 --concurrency 500 --duration 2 (hold before RSS)
  fanout   --channels 1 --members 500 --senders 4 --window 16 [--rate MSG/S per sender]
           [--target-rate DELIVERIES/S: sets --rate from the total delivery rate]
           [--payload BYTES] --warmup 2 --duration 5 --drain 5 --concurrency 200
  sweep    fanout over --sizes 10,100,500,1000 (1 channel each) [--svg FILE] [--title T]
  churn    --clients 200 --channels 20 --warmup 1 --duration 5
  soak     --clients 10000 --channel-size 50 --senders 1 --rate 1 (msg/s per sender)
           --keepalive 30 (PING per client, s) --duration 60
  who      --clients 10000 --probes 20 (WHOs per mask shape) --attackers 16 --attack-ip 127.0.0.2
           --rate 4 (WHO/s per attacker) --window 4 --duration 20 --ping-every 0.5 --baseline 3
           (server config: benches/who.toml)
  chart    --svg FILE [--title T] SWEEP.jsonl...   (draw saved sweep lines)
  report   --labels banterd,inspircd RESULTS.jsonl... (medians and ratios, Markdown)
  history-fill --data-dir DIR | --store sqlite:DIR|postgres://... --rows 1000000 --target '#big'
               --targets 1 --batch-rows 4000 --batch-ms 20
           (writes through banterd's history writer directly: rows/s; no server)
  chathistory --target '#big' --requests 1000 --limit 100  (CHATHISTORY LATEST latency)
  register-burst --clients 256 --ips 16 (REGISTERs at once from 127.0.0.2...; peak RSS,
           threads, a bystander's SASL login latency; banterd with benches/register-burst.toml)

common options:
  --server 127.0.0.1:6667   server address (loopback only)
  --pid PID                 server process, for /proc CPU and RSS figures

several servers (fanout, sweep, soak): members of each channel spread round robin
  --server A --server B     (or A,B) members of every channel over A and B, senders too
  --pid P1 --pid P2         (or P1,P2) CPU and RSS summed over these processes (banterd
                            nodes, redis-server...), each one listed in `processes`
  --network one             one network (a cluster): every member gets every message;
                            checks that each server lists every member before counting
  --network independent     separate servers (not a cluster): a message reaches the
                            members on its sender's server only
  --network mirrored        separate servers, each sender also connected (outside the
                            channel) to every other server and sending there too: every
                            member gets every message with no relaying (channels without +n)
  --redis 127.0.0.1:6379    the cluster's redis-server: XADDs and all commands per message
                            sent during the measured phase (INFO commandstats)
  --threads 2               worker threads of the bench's own runtime
  --label NAME              copied into every JSON line (e.g. the server name)
  --time-limit SECS         hard limit for the whole run (default: from the scenario)
";

/// Runs the command line `argv` (without the program name); returns the
/// process exit code.
pub fn main_entry(argv: &[String]) -> i32 {
    let args = match cli::Args::parse(argv) {
        Ok(a) if a.command != "help" && a.command != "--help" => a,
        Ok(_) => {
            eprint!("{USAGE}");
            return 0;
        }
        Err(e) => {
            eprint!("error: {e}\n\n{USAGE}");
            return 2;
        }
    };
    match scenarios::run(&args) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("banter-bench {}: error: {e}", args.command);
            let line = serde_json::json!({"scenario": args.command, "error": e});
            println!("{line}");
            1
        }
    }
}
