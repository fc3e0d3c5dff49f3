//! `/metrics`: the server's counters ([`crate::metrics`]), a few gauges read
//! from its state, and the process's CPU, memory and descriptors, in the
//! OpenMetrics text format Prometheus scrapes (encoded by `prometheus-client`).
//! Served on the `[metrics] listen` address, or beside WebSocket when that is a
//! `[[websocket]]` address. Everything is read at scrape time: nothing here
//! runs on the paths that count.

use super::router::Body;
use crate::metrics::{Histogram, Transport, DISCONNECT_REASONS, METRICS};
use crate::state::Server;
use bytes::Bytes;
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use hyper::Response;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use std::fmt::Error;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// The content type of the OpenMetrics text format.
const CONTENT: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The answer to `GET /metrics`.
pub fn response(server: &Arc<Server>) -> Response<Body> {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Scrape(server.clone())));
    let mut text = String::new();
    if prometheus_client::encoding::text::encode(&mut text, &registry).is_err() {
        return super::router::plain(hyper::StatusCode::INTERNAL_SERVER_ERROR, "encoding the metrics failed\n");
    }
    let mut r = Response::new(Body::new(Bytes::from(text)));
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(CONTENT));
    r.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// Reads everything once per scrape.
struct Scrape(Arc<Server>);

impl std::fmt::Debug for Scrape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Scrape")
    }
}

/// A counter (the encoder adds `_total` to `name`).
fn counter(e: &mut DescriptorEncoder, name: &str, help: &str, value: u64) -> Result<(), Error> {
    ConstCounter::new(value).encode(e.encode_descriptor(name, help, None, MetricType::Counter)?)
}

/// A gauge.
fn gauge(e: &mut DescriptorEncoder, name: &str, help: &str, value: i64) -> Result<(), Error> {
    ConstGauge::new(value).encode(e.encode_descriptor(name, help, None, MetricType::Gauge)?)
}

/// A counter with one label, one series per `(label value, count)`.
fn counters(e: &mut DescriptorEncoder, name: &str, help: &str, key: &str, series: &[(&str, u64)]) -> Result<(), Error> {
    let mut m = e.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (value, n) in series {
        ConstCounter::new(*n).encode(m.encode_family(&[(key, *value)])?)?;
    }
    Ok(())
}

/// A histogram of durations with one label.
fn histograms(e: &mut DescriptorEncoder, name: &str, help: &str, series: &[(&str, &Histogram)]) -> Result<(), Error> {
    let mut m = e.encode_descriptor(name, help, None, MetricType::Histogram)?;
    for (store, h) in series {
        let (sum, count, buckets) = h.snapshot();
        let labels = [("store", *store)];
        let mut family = m.encode_family(&labels)?;
        family.encode_histogram::<prometheus_client::encoding::NoLabelSet>(sum, count, &buckets, None)?;
    }
    Ok(())
}

impl Collector for Scrape {
    fn encode(&self, mut e: DescriptorEncoder) -> Result<(), Error> {
        let s = &self.0;
        let m = &METRICS;
        let transports = Transport::ALL.map(|t| (t.label(), t as usize));
        {
            let mut d = e.encode_descriptor("banter_clients", "Connections open now", None, MetricType::Gauge)?;
            for (label, i) in transports {
                ConstGauge::new(m.connected[i].load(Ordering::Relaxed))
                    .encode(d.encode_family(&[("transport", label)])?)?;
            }
        }
        let accepted: Vec<(&str, u64)> = transports.iter().map(|(l, i)| (*l, m.connections[*i].get())).collect();
        counters(&mut e, "banter_connections", "Connections accepted", "transport", &accepted)?;
        let registered = s.registered_count.load(Ordering::Relaxed) as i64;
        gauge(&mut e, "banter_registered_clients", "Connections that completed NICK/USER", registered)?;
        gauge(&mut e, "banter_operators", "Clients opered up", s.oper_count.load(Ordering::Relaxed) as i64)?;
        gauge(&mut e, "banter_channels", "Channels that exist", s.channels.len() as i64)?;
        gauge(&mut e, "banter_accounts", "Registered accounts", s.accounts.count() as i64)?;
        counter(
            &mut e,
            "banter_messages_relayed",
            "PRIVMSG, NOTICE and TAGMSG relayed, one per target",
            m.messages.get(),
        )?;
        counter(&mut e, "banter_deliveries", "Copies of relayed messages queued to recipients", m.deliveries.get())?;
        counter(&mut e, "banter_received_bytes", "Bytes read from clients", m.bytes_in.get())?;
        counter(&mut e, "banter_sent_bytes", "Bytes written to clients", m.bytes_out.get())?;
        let reasons: Vec<(&str, u64)> =
            DISCONNECT_REASONS.iter().zip(&m.disconnects).map(|(r, c)| (*r, c.get())).collect();
        counters(&mut e, "banter_disconnects", "Connections ended, by reason", "reason", &reasons)?;
        counter(&mut e, "banter_account_registrations", "Accounts created with REGISTER", m.registrations.get())?;
        counter(&mut e, "banter_login_failures", "Failed logins (SASL, PASS)", m.login_failures.get())?;
        let reloads = [("ok", m.reloads.get()), ("failed", m.reload_failures.get())];
        counters(&mut e, "banter_config_reloads", "Configuration reloads (REHASH, SIGHUP)", "result", &reloads)?;
        if let Some(w) = s.history.writer() {
            let (bytes, ops) = w.queue_depth();
            gauge(&mut e, "banter_history_queue_bytes", "Bytes of history waiting to be written", bytes as i64)?;
            gauge(&mut e, "banter_history_queue_operations", "History operations waiting", ops as i64)?;
            let st = w.stats();
            let dropped = st.dropped.load(Ordering::Relaxed);
            counter(&mut e, "banter_history_dropped", "Messages not kept: the history queue was full", dropped)?;
            counter(
                &mut e,
                "banter_history_written",
                "Messages written to history",
                st.written.load(Ordering::Relaxed),
            )?;
            let failed = st.failed.load(Ordering::Relaxed);
            counter(&mut e, "banter_history_write_failures", "Messages lost to failed history writes", failed)?;
        }
        if let Some(cluster) = s.cluster() {
            cluster_metrics(&mut e, cluster.health())?;
        }
        let stores = [("history", &m.history_commit), ("channels", &m.channel_commit)];
        histograms(&mut e, "banter_store_commit_seconds", "Time to commit one batch to the store", &stores)?;
        {
            let mut d = e.encode_descriptor("banter_build", "Version of this banterd", None, MetricType::Info)?;
            d.encode_info(&[("version", env!("CARGO_PKG_VERSION"))])?;
        }
        process(&mut e, s.started)
    }
}

/// banter_cluster_*: a node of a cluster's part in the network.
fn cluster_metrics(e: &mut DescriptorEncoder, h: crate::cluster::Health) -> Result<(), Error> {
    gauge(e, "banter_cluster_nodes", "Nodes of the network, this one included", h.nodes as i64)?;
    gauge(e, "banter_cluster_remote_users", "Users of the other nodes", h.remote_users as i64)?;
    counter(e, "banter_cluster_events_published", "This node's events appended to the log", h.published)?;
    let waiting = h.unpublished as i64;
    gauge(e, "banter_cluster_events_unpublished", "This node's events waiting to be appended to the log", waiting)?;
    counter(e, "banter_cluster_events_read", "Events read from the log, this node's own included", h.read)?;
    gauge(e, "banter_cluster_redis_may_evict", "1 if the network's Redis may evict keys when full", h.may_evict as i64)
}

/// process_* as Prometheus' client libraries name them, from /proc/self.
fn process(e: &mut DescriptorEncoder, started: i64) -> Result<(), Error> {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) end at ')'.
    let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().collect();
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let field = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of stat(5); here 11 and 12 (state is 0).
    let cpu = (field(11) + field(12)) / ticks;
    ConstCounter::new(cpu).encode(e.encode_descriptor(
        "process_cpu_seconds",
        "User and system CPU time",
        None,
        MetricType::Counter,
    )?)?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(1) as f64;
    let rss = field(21) * page;
    ConstGauge::new(rss).encode(e.encode_descriptor(
        "process_resident_memory_bytes",
        "Resident memory",
        None,
        MetricType::Gauge,
    )?)?;
    let fds = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count()) as i64;
    gauge(e, "process_open_fds", "Open file descriptors", fds)?;
    gauge(e, "process_max_fds", "The open-file limit", crate::server::nofile::current() as i64)?;
    gauge(e, "process_start_time_seconds", "Start time, seconds since the epoch", started)
}
