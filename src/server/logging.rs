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
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(false);
    match config.log.format {
        LogFormat::Text => builder.init(),
        // Spans (the connection id) are listed in "spans"; the event's own
        // fields, its message included, in "fields".
        LogFormat::Json => builder.json().with_current_span(false).with_span_list(true).init(),
    }
}
