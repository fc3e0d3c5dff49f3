//! Log output: text or JSON lines on standard error (`[log] format`), filtered
//! by `RUST_LOG` when set, else by `server.log`.
//!
//! What is logged at info never carries a password or a message's text:
//! handlers log names, ids and addresses, and a client's own quit message is
//! logged only at debug (`tests/service.rs` checks this on a real session).

use crate::config::{Config, LogFormat};
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber for `config`; call once, before the runtime starts.
pub fn init(config: &Config) {
    let mut log = config.server.log.clone();
    if let Ok(env) = std::env::var("RUST_LOG") {
        match crate::config::check_log_filter(&env) {
            Ok(()) => log = env,
            Err(e) => eprintln!("banterd: RUST_LOG ignored, using server.log {log:?}: {e}"),
        }
    }
    let filter = EnvFilter::new(&log);
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(|| Stderr).with_ansi(false);
    match config.log.format {
        LogFormat::Text => builder.init(),
        // Spans (the connection id) are listed in "spans"; the event's own
        // fields, its message included, in "fields".
        LogFormat::Json => builder.json().with_current_span(false).with_span_list(true).init(),
    }
}

/// Standard error for log lines, never failing. When stderr's reader goes
/// away (a log pipe closed, `banterd 2>&1 | head`), a write fails with EPIPE;
/// tracing-subscriber then reports it with `eprintln!`, which panics on the
/// same broken stderr, inside whatever task was logging: every new connection
/// was dropped at its first log line while the process lived on. A lost log
/// line is better than a lost client.
struct Stderr;

impl std::io::Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _ = std::io::stderr().write_all(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let _ = std::io::stderr().flush();
        Ok(())
    }
}
