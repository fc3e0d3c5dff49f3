//! Starting and stopping the server: open the data dir (restoring persistent
//! channels), bind listeners, run until SIGINT/SIGTERM (or DIE), reloading the
//! configuration on SIGHUP, then close every connection gracefully.

use crate::accounts::Accounts;
use crate::config::Config;
use crate::net;
use crate::state::Server;
use crate::store::commit::Committer;
use crate::store::location::Location;
use crate::store::writer::HistoryWriter;
use crate::store::Store;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub mod check;
pub mod lock;
pub mod logging;
pub mod nofile;
pub mod notify;
pub mod signals;

/// How the server ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Shut down; the process should exit 0.
    Stopped,
    /// RESTART was requested; the process should start itself again.
    Restart,
}

/// Runs the server with `config` until it is told to stop: by `signals` (which
/// are installed before anything is bound) or by DIE/RESTART.
pub async fn run(config: Config, config_path: Option<PathBuf>, mut signals: signals::Signals) -> Result<Exit, String> {
    let source = Config::describe_source(config_path.as_deref());
    let data_dir = std::path::absolute(&config.server.data_dir).unwrap_or_else(|_| config.server.data_dir.clone());
    tracing::info!(
        "banterd {} starting; configuration: {source}; data directory: {}",
        env!("CARGO_PKG_VERSION"),
        data_dir.display()
    );
    if config.server.listen.is_empty() && config.tls.listen.is_empty() && config.websockets.is_empty() {
        return Err("nothing to listen on: server.listen, tls.listen and [[websocket]] are all empty".into());
    }
    nofile::raise_and_report(config.limits.max_clients);
    let _lock = lock::DataDirLock::acquire(&data_dir)?;
    // The data dir first: persistent channels exist before anyone can connect.
    // Opened right here (nothing else runs yet), like the account store below.
    let location = Location::of(&config);
    tracing::info!("store: {}", location.describe());
    // On a thread of its own: a database client blocks on a runtime of its
    // own, which cannot run inside this one (nothing else runs yet, so
    // waiting here holds nobody up).
    let cfg = config.clone();
    let (store, records, accounts, identity) = std::thread::Builder::new()
        .name("store-open".into())
        .spawn(move || {
            let store: Arc<dyn Store> = location.open()?;
            let records = store.load_channels()?;
            let accounts = Accounts::open_with(store.clone(), &cfg)?;
            let identity = store.identity()?;
            Ok::<_, String>((store, records, accounts, identity))
        })
        .map_err(|e| format!("opening the store: {e}"))?
        .join()
        .map_err(|_| "opening the store failed".to_owned())??;
    let (listen, tls) = (config.server.listen.clone(), config.tls.clone());
    let websockets = config.websockets.clone();
    // Certificates are loaded before anything is bound: a bad one stops start-up cleanly.
    let acceptors = net::tls::acceptors(&config)?;
    let writer = HistoryWriter::start(store.clone(), config.history.writer_settings());
    let server = Server::new(config, config_path, accounts);
    server.set_tls_acceptors(acceptors);
    server.history.attach(store.clone(), writer);
    server.restore_channels(Committer::start(store.clone()), records);
    crate::state::refresh::start(&server, &store);
    // A node of a cluster learns the network before anyone can connect; it
    // waits for Redis as long as it takes, and a stop signal ends the wait.
    let joining = crate::cluster::start(&server, &identity);
    tokio::pin!(joining);
    loop {
        tokio::select! {
            // A single node (or a Redis that answers) is in at once, whatever
            // signal is pending: the stop is then handled as usual below.
            biased;
            joined = &mut joining => break joined?,
            request = signals.recv() => match request {
                signals::Request::Stop => {
                    tracing::info!("stopped before joining the network");
                    return Ok(Exit::Stopped);
                }
                signals::Request::Reload => reload(&server),
            },
        }
    }
    let mut listeners = Vec::new();
    for addr in &listen {
        let l = net::listener::bind(*addr)?;
        let local = l.local_addr().map_err(|e| e.to_string())?;
        tracing::info!("listening on {local}");
        listeners.push(l);
    }
    let mut tls_listeners = Vec::new();
    for addr in &tls.listen {
        let l = net::listener::bind(*addr)?;
        let local = l.local_addr().map_err(|e| e.to_string())?;
        tracing::info!("listening for TLS on {local}");
        tls_listeners.push(l);
    }
    let mut web_listeners = Vec::new();
    for ws in &websockets {
        let l = net::listener::bind(ws.listen)?;
        let local = l.local_addr().map_err(|e| e.to_string())?;
        let secure = if ws.tls { " (TLS)" } else { "" };
        tracing::info!("listening for WebSocket{secure} on {local}");
        web_listeners.push((l, ws.clone()));
    }
    // Metrics on their own address, unless a WebSocket listener serves them.
    let metrics_addr = server.config().metrics.listen.filter(|a| !websockets.iter().any(|w| w.listen == *a));
    if let Some(addr) = metrics_addr {
        let l = net::listener::bind(addr)?;
        let local = l.local_addr().map_err(|e| e.to_string())?;
        tracing::info!("serving metrics on http://{local}/metrics");
        tokio::spawn(crate::web::run_metrics(server.clone(), l));
    }
    // Tracked like the connections: a shutdown waits for each listener to
    // hand over its backlog.
    for l in listeners {
        server.connection_tasks.spawn(net::listener::run(server.clone(), l, false));
    }
    for l in tls_listeners {
        server.connection_tasks.spawn(net::listener::run(server.clone(), l, true));
    }
    for (l, settings) in web_listeners {
        tokio::spawn(crate::web::run(server.clone(), l, settings));
    }
    tokio::spawn(net::sweeper::run(server.clone()));
    notify::ready();
    let mut shutdown = server.shutdown_signal();
    loop {
        tokio::select! {
            request = signals.recv() => match request {
                signals::Request::Stop => break,
                signals::Request::Reload => reload(&server),
            },
            _ = shutdown.changed() => break,
        }
    }
    tracing::info!("shutting down");
    notify::stopping();
    if let Some(cluster) = server.cluster() {
        // The other nodes' users see ours quit at once.
        cluster.leave().await;
    }
    server.begin_shutdown();
    drain(&server).await;
    if let Some(w) = server.history.writer() {
        // What is still queued is committed before the process exits.
        w.sync().await;
        let st = w.stats();
        let load = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
        let busy = load(&st.busy_us) as f64 / 1e6;
        tracing::info!(
            rows = load(&st.written),
            batches = load(&st.batches),
            dropped = load(&st.dropped),
            failed = load(&st.failed),
            pruned = load(&st.pruned),
            busy_s = format!("{busy:.3}"),
            rows_per_busy_s = format!("{:.0}", load(&st.written) as f64 / busy.max(1e-9)),
            cpu_us_per_row = format!("{:.2}", load(&st.cpu_us) as f64 / load(&st.written).max(1) as f64),
            "history writer"
        );
    }
    Ok(if server.restart_requested.load(std::sync::atomic::Ordering::Relaxed) { Exit::Restart } else { Exit::Stopped })
}

/// SIGHUP: what REHASH does, logged; a bad file is refused and the old
/// configuration stays in force.
fn reload(server: &Arc<Server>) {
    let Some(path) = server.config_path().map(|p| p.display().to_string()) else {
        tracing::warn!("SIGHUP: no config file to reload (running on built-in defaults)");
        return;
    };
    notify::reloading();
    match server.rehash() {
        Ok(()) => tracing::info!(%path, "configuration reloaded (SIGHUP)"),
        Err(error) => tracing::error!(%path, %error, "SIGHUP: new configuration rejected; the old one stays in force"),
    }
    notify::ready();
}

/// Asks every client to close and waits (up to [`SHUTDOWN_GRACE`]) for every
/// connection task to end: each one sends its client the `ERROR` goodbye and
/// flushes it (within its own final-flush bound). A connection that is
/// accepted meanwhile (the listeners hand over their backlog) closes itself
/// as it starts, seeing the shutdown.
async fn drain(server: &Arc<Server>) {
    for c in server.clients.iter() {
        crate::state::session::close_all(c.value(), "Server shutting down");
    }
    server.connection_tasks.close();
    if tokio::time::timeout(SHUTDOWN_GRACE, server.connection_tasks.wait()).await.is_err() {
        tracing::warn!(
            left = server.connection_tasks.len(),
            "shutdown: connections still open after {SHUTDOWN_GRACE:?}"
        );
    }
}

/// The longest a shutdown waits for the connections to say goodbye: a TLS
/// handshake under way (10 s at most) finishes, then gets its `ERROR`.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(15);
