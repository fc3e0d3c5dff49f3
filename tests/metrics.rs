//! `[metrics]`: Prometheus metrics scraped over HTTP, before and after some
//! traffic, with the counters moving; on their own listener or beside
//! WebSocket.

mod common;
use common::http::{get, logged_port, scrape, value};
use common::*;
use std::time::Instant;

#[test]
fn metrics_move_with_traffic() {
    let s = Server::start_with(&format!("{BASE_CONFIG}\n[metrics]\nlisten = \"127.0.0.1:0\"\n"));
    let port = logged_port(&s, "serving metrics on http://");
    let before = scrape(port);
    assert_eq!(value(&before, "banter_clients{transport=\"plain\"}"), 0.0);
    assert!(value(&before, "process_resident_memory_bytes") > 1e6);
    assert!(value(&before, "process_open_fds") >= 3.0);
    assert!(value(&before, "process_max_fds") >= value(&before, "process_open_fds"));
    assert!(value(&before, "process_start_time_seconds") > 1.7e9);

    let mut a = s.client("alice");
    let mut b = s.client("bob");
    let mut c = s.client("carol");
    for x in [&mut a, &mut b, &mut c] {
        x.send("JOIN #metrics");
        x.expect("366");
    }
    for i in 0..10 {
        a.send(&format!("PRIVMSG #metrics :line {i}"));
    }
    a.send("PRIVMSG bob :direct");
    b.expect_where("the direct message", |l| l.ends_with(":direct"));
    c.sync();
    let mut r = s.connect();
    r.send("REGISTER dave * dave-password");
    r.expect("REGISTER");
    r.send("QUIT");
    assert!(r.closed());
    let mut w = s.connect();
    w.send("PASS dave:wrong-password");
    w.send("NICK eve");
    w.send("USER eve 0 * :eve");
    w.expect_where("the failed login", |l| matches!(command_of(l), "464" | "904" | "NOTICE" | "FAIL"));
    w.send("QUIT");
    assert!(w.closed());

    let during = scrape(port);
    assert_eq!(value(&during, "banter_clients{transport=\"plain\"}"), 3.0);
    assert_eq!(value(&during, "banter_registered_clients"), 3.0);
    assert!(value(&during, "banter_channels") >= 1.0);
    assert_eq!(value(&during, "banter_messages_relayed_total"), 11.0);
    // Ten channel lines to two other members each, one direct message.
    assert_eq!(value(&during, "banter_deliveries_total"), 21.0);
    assert_eq!(value(&during, "banter_connections_total{transport=\"plain\"}"), 5.0);
    assert_eq!(value(&during, "banter_account_registrations_total"), 1.0);
    assert_eq!(value(&during, "banter_accounts"), 1.0);
    assert!(value(&during, "banter_login_failures_total") >= 1.0);
    assert_eq!(value(&during, "banter_disconnects_total{reason=\"quit\"}"), 2.0);
    for name in ["banter_received_bytes_total", "banter_sent_bytes_total", "process_cpu_seconds_total"] {
        assert!(value(&during, name) > value(&before, name), "{name} did not move");
    }
    let commits = "banter_store_commit_seconds_count{store=\"channels\"}";
    assert!(value(&during, commits) >= value(&before, commits));
    assert!(during.contains_key("banter_history_queue_bytes"));
    assert!(during.contains_key("banter_history_dropped_total"));

    // A reload is counted, a refused one too.
    let reloads = |result: &str| {
        let name = format!("banter_config_reloads_total{{result=\"{result}\"}}");
        let deadline = Instant::now() + WAIT;
        loop {
            let n = value(&scrape(port), &name);
            if n >= 1.0 || Instant::now() > deadline {
                return n;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    };
    s.signal("HUP");
    assert_eq!(reloads("ok"), 1.0);
    std::fs::write(s.dir.path().join("banterd.toml"), "[server\n").unwrap();
    s.signal("HUP");
    assert_eq!(reloads("failed"), 1.0);
    assert_eq!(reloads("ok"), 1.0);

    // Anything but /metrics is not found.
    assert!(get(port, "/").0.starts_with("HTTP/1.1 404"));
}

#[test]
fn metrics_can_share_the_websocket_listener() {
    let config =
        format!("{BASE_CONFIG}\n[[websocket]]\nlisten = \"127.0.0.1:0\"\n[metrics]\nlisten = \"127.0.0.1:0\"\n");
    let s = Server::start_with(&config);
    let port = logged_port(&s, "listening for WebSocket on ");
    let m = scrape(port);
    assert_eq!(value(&m, "banter_clients{transport=\"websocket\"}"), 0.0);
}
