//! Several banterd nodes sharing one network through Redis (docs/cluster.md):
//! a real redis-server and real banterd processes on loopback, started here,
//! and for the tests of a shared store (`pg_node`) a real PostgreSQL.
//! Waiting for another node to catch up is done by asking again until the
//! answer comes (bounded by the harness's WAIT), never by sleeping.

mod common;

use common::http::{logged_port, scrape, value};
use common::redis::Redis;
use common::{
    command_of, cs, listening_port, params_of, pg, with_caps, with_caps_and_pass, Client, Server, BASE_CONFIG, WAIT,
};
use std::time::{Duration, Instant};

/// The config of a node of the network on `redis`, named `name`; `ttl_ms` is
/// how long it may be silent before the others reap it; `store` the
/// `[store] url` (None: the network's, [`Redis::store`]).
fn node_config(redis: &Redis, name: &str, ttl_ms: u64, store: Option<&str>) -> String {
    let url = store.unwrap_or_else(|| redis.store());
    with_store(&cluster_config(redis, name, ttl_ms), url)
}

/// The config of a node of the network on `redis` without a `[store]`
/// section: SQLite in its own data dir.
fn cluster_config(redis: &Redis, name: &str, ttl_ms: u64) -> String {
    format!(
        "{BASE_CONFIG}\n[cluster]\nredis_url = \"{}\"\nnode_name = \"{name}\"\nheartbeat_ms = 100\nttl_ms = {ttl_ms}\n",
        redis.url()
    )
}

/// `config` (ending in its `[cluster]` section) with the store at `url`.
fn with_store(config: &str, url: &str) -> String {
    config.replacen("\n[cluster]\n", &format!("\n[store]\nurl = \"{url}\"\n\n[cluster]\n"), 1)
}

/// A node of the network on `redis`, named `name`, on the network's store;
/// `ttl_ms` as for [`node_config`].
fn node_with_ttl(redis: &Redis, name: &str, ttl_ms: u64) -> Server {
    Server::start_with(&node_config(redis, name, ttl_ms, None))
}

/// A node whose store is the PostgreSQL database `db` (its URL), shared by
/// every node of the test as docs/cluster.md says to run a network.
fn pg_node(redis: &Redis, name: &str, db: &str) -> Server {
    pg_node_with(redis, name, db, None)
}

/// A [`pg_node`] writing a snapshot every `snapshot_every` log entries
/// (None: the default).
fn pg_node_with(redis: &Redis, name: &str, db: &str, snapshot_every: Option<u64>) -> Server {
    let ttl = banter::config::ClusterConfig::default().ttl_ms;
    let every = snapshot_every.map(|n| format!("snapshot_every = {n}\n")).unwrap_or_default();
    Server::start_with(&format!("{}{every}", node_config(redis, name, ttl, Some(db))))
}

/// A node with the default TTL (`[cluster] ttl_ms`'s default): a loaded
/// test machine can hold up a heartbeat for longer than a second (a node
/// working through a burst of a thousand messages was reaped with 800 ms),
/// and only the reaping test wants a short one.
fn node(redis: &Redis, name: &str) -> Server {
    node_with_ttl(redis, name, banter::config::ClusterConfig::default().ttl_ms)
}

/// A client of `node` registered as `nick` and in `chan`.
fn in_channel(node: &Server, nick: &str, chan: &str) -> Client {
    joined(node.client(nick), chan)
}

/// `c`, once it has joined `chan` (read up to the end of its NAMES).
fn joined(mut c: Client, chan: &str) -> Client {
    c.send(&format!("JOIN {chan}"));
    c.expect("366");
    c
}

/// Sends `request` until a reply line satisfies `pred` (another node's
/// change has arrived); each round ends at a PING sync point.
fn ask_until(c: &mut Client, request: &str, what: &str, pred: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        c.send(request);
        if let Some(hit) = c.sync().into_iter().find(|l| pred(l)) {
            return hit;
        }
        assert!(Instant::now() < deadline, "{what}: no answer to {request}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `c` joins `chan` once its node has `member` there (a user of another
/// node who joined first), reading up to the end of its NAMES.
fn join_after(c: &mut Client, chan: &str, member: &str) {
    wait_member(c, chan, member);
    c.send(&format!("JOIN {chan}"));
    c.expect("366");
}

/// `second` joins `chan` once its node has `first` there (a user of
/// another node who joined it), and `first`'s node then has `second` there.
fn meet(first: &mut Client, second: &mut Client, chan: &str) {
    join_after(second, chan, &first.nick.clone());
    wait_member(first, chan, &second.nick.clone());
}

/// Waits until the node of `c` knows user `nick` (WHOIS answers 311).
fn wait_user(c: &mut Client, nick: &str) {
    ask_until(c, &format!("WHOIS {nick}"), &format!("{nick} known"), |l| {
        command_of(l) == "311" && params_of(l)[1] == nick
    });
}

/// Waits until the node of `c` shows `nick` in NAMES of `chan` (the 353 of
/// that channel: a JOIN burst still being read has 353s of other channels).
fn wait_member(c: &mut Client, chan: &str, nick: &str) -> String {
    ask_until(c, &format!("NAMES {chan}"), &format!("{nick} in {chan}"), |l| {
        command_of(l) == "353"
            && params_of(l)[2].eq_ignore_ascii_case(chan)
            && params_of(l)[3].split(' ').any(|n| n.trim_start_matches(['@', '+']) == nick)
    })
}

/// Registration with NICK and USER; returns the numeric that ended it (001 or 433).
fn try_register(c: &mut Client, nick: &str, realname: &str) -> String {
    c.send(&format!("NICK {nick}"));
    c.send(&format!("USER u 0 * :{realname}"));
    let (line, _) = c.expect_where("001 or 433", |l| matches!(command_of(l), "001" | "433"));
    command_of(&line).to_owned()
}

/// Starts banterd with `config` in a temp dir; it must exit within WAIT
/// (`what` says what should not have started) with a failure status and
/// say each of `says` on stderr, which is returned.
fn refused(config: &str, what: &str, says: &[&str]) -> String {
    refused_in(tempfile::tempdir().expect("tempdir").path(), config, what, says)
}

/// [`refused`] with `dir` as the data dir.
fn refused_in(dir: &std::path::Path, config: &str, what: &str, says: &[&str]) -> String {
    let path = dir.join("banterd.toml");
    std::fs::write(&path, config).expect("config");
    let mut node = std::process::Command::new(env!("CARGO_BIN_EXE_banterd"))
        .arg("--config")
        .arg(&path)
        .arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--data-dir")
        .arg(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn banterd");
    let deadline = Instant::now() + WAIT;
    let status = loop {
        if let Some(status) = node.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = node.kill();
            panic!("{what} started");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut node.stderr.take().expect("stderr"), &mut stderr).expect("stderr");
    assert!(!status.success(), "{what}: {status}: {stderr}");
    for said in says {
        assert!(stderr.contains(said), "{what}: {said:?} not in {stderr}");
    }
    stderr
}

#[test]
fn a_node_with_a_store_of_its_own_cannot_join_unless_told_it_may() {
    let redis = Redis::start();
    let ttl = banter::config::ClusterConfig::default().ttl_ms;
    let a = node(&redis, "a");
    let mut alice = a.client("alice");
    // B keeps accounts in a SQLite file of its own: "alice" could be
    // registered there by someone else and be taken for her everywhere.
    let says = [r#"store is "SQLite "#, r#"" on the network"#, "[store] url"];
    refused(&cluster_config(&redis, "b", ttl), "a node with a store of its own", &says);
    assert_eq!(redis.command(&["SCARD", "banter:nodes"]).as_deref(), Some(":1"), "B never joined");
    // Another database is another store too.
    let other = pg::database();
    let says = [r#"store is "PostgreSQL "#];
    refused(&node_config(&redis, "c", ttl, Some(&other)), "a node on another database", &says);
    // Told it may (a trial on one machine), a node with its own SQLite joins
    // and is part of the network.
    let d = Server::start_with(&format!("{}separate_stores = true\n", cluster_config(&redis, "d", ttl)));
    let mut dave = d.client("dave");
    wait_user(&mut dave, "alice");
    wait_user(&mut alice, "dave");
    alice.send("PRIVMSG dave :hello");
    let line = dave.expect("PRIVMSG");
    assert!(line.starts_with(":alice!") && line.ends_with("PRIVMSG dave :hello"), "{line}");
}

#[test]
fn a_copy_of_a_nodes_sqlite_store_cannot_join_while_that_node_is_up() {
    let redis = Redis::start();
    // A network on A's SQLite file (no [store] url, no separate_stores).
    let a = Server::start_with(&cluster_config(&redis, "a", 1500));
    let mut alice = a.client("alice");
    alice.send("REGISTER alice * hunter2hunter2");
    alice.expect_where("REGISTER SUCCESS", |l| l.contains("REGISTER SUCCESS"));
    // Its data dir copied: the copy has the store's identity, and B on it
    // would let a second "alice" register there.
    let copy = tempfile::tempdir().expect("tempdir");
    for entry in std::fs::read_dir(a.dir.path()).expect("data dir") {
        let path = entry.expect("entry").path();
        if path.file_name().is_some_and(|n| n.to_string_lossy().starts_with("banter.db")) {
            std::fs::copy(&path, copy.path().join(path.file_name().expect("name"))).expect("copy");
        }
    }
    let began = Instant::now();
    let says = ["node a:", "is up on the same SQLite store"];
    refused_in(copy.path(), &cluster_config(&redis, "b", 1500), "a node on a copied store", &says);
    assert!(began.elapsed() >= Duration::from_millis(1500), "it waited for A to lapse first");
    assert_eq!(redis.command(&["SCARD", "banter:nodes"]).as_deref(), Some(":1"), "B never joined");
    // A killed and started again under another name on its own file (the
    // default name has the pid): it waits for its earlier life to lapse and
    // joins, with alice's account.
    let dir = a.crash();
    let a2 = Server::start_in(dir, &cluster_config(&redis, "a2", 1500));
    let (end, _again) = sasl_plain(a2.port, "alice", "alice", "hunter2hunter2");
    assert_eq!(command_of(&end), "903", "{end}");
}

/// `config` (ending in its `[cluster]` section) with a `[channels]` section
/// holding `lines`.
fn with_channels(config: &str, lines: &str) -> String {
    config.replacen("\n[cluster]\n", &format!("\n[channels]\n{lines}\n\n[cluster]\n"), 1)
}

/// Registers a new connection from 127.0.0.2 (not exempt from the limits)
/// to `node` as `nick`: the numeric that ended it (001) or the ERROR line.
/// NICK and USER go in one write: a node refusing the address closes the
/// connection at once, and a second write could meet its reset.
fn register_from_elsewhere(node: &Server, nick: &str) -> (Client, String) {
    let mut c = node.connect_from("127.0.0.2");
    c.send(&format!("NICK {nick}\r\nUSER u 0 * :{nick}"));
    let (line, _) = c.expect_where("001 or ERROR", |l| command_of(l) == "001" || l.starts_with("ERROR"));
    (c, line)
}

#[test]
fn the_connections_per_address_limit_counts_the_whole_network() {
    let redis = Redis::start();
    let ttl = banter::config::ClusterConfig::default().ttl_ms;
    let limited = |name| node_config(&redis, name, ttl, None).replacen("[limits]\n", "[limits]\nmax_per_ip = 2\n", 1);
    let (a, b) = (Server::start_with(&limited("a")), Server::start_with(&limited("b")));
    let (mut one, line) = register_from_elsewhere(&a, "one");
    assert_eq!(command_of(&line), "001", "{line}");
    let (two, line) = register_from_elsewhere(&b, "two");
    assert_eq!(command_of(&line), "001", "{line}");
    wait_user(&mut one, "two");
    // The address travels with the user: an operator on A sees it.
    one.send("OPER admin adminpass");
    one.expect("381");
    one.send("WHOIS two");
    let whois = one.collect_until("318");
    assert!(whois.iter().any(|l| command_of(l) == "378" && l.ends_with(" 127.0.0.2")), "{whois:?}");
    // A holds one connection from the address, and the network two: a
    // third is refused on A as it would be on a single server.
    let (_, line) = register_from_elsewhere(&a, "three");
    assert!(line.starts_with("ERROR") && line.contains("Too many connections from your address"), "{line}");
    // Once `two` has left the network, its place is free on A.
    drop(two);
    poll(|| {
        let (_third, line) = register_from_elsewhere(&a, "three");
        match command_of(&line) {
            "001" => Ok(()),
            _ => Err(format!("the place of a user who left stayed taken: {line}")),
        }
    });
}

#[test]
fn a_node_does_not_join_through_a_redis_that_evicts_keys() {
    let redis = Redis::start();
    let ttl = banter::config::ClusterConfig::default().ttl_ms;
    // A Redis set up as a cache: full, it would drop claims, liveness keys
    // or the log itself.
    assert_eq!(redis.command(&["CONFIG", "SET", "maxmemory", "100mb"]).as_deref(), Some("+OK"));
    assert_eq!(redis.command(&["CONFIG", "SET", "maxmemory-policy", "volatile-lru"]).as_deref(), Some("+OK"));
    let says = ["maxmemory-policy volatile-lru", "noeviction"];
    refused(&node_config(&redis, "a", ttl, None), "a node on an evicting Redis", &says);
    assert_eq!(redis.command(&["EXISTS", "banter:nodes"]).as_deref(), Some(":0"), "it never joined");
    // A memory limit with noeviction is fine: writes fail when full, nothing vanishes.
    assert_eq!(redis.command(&["CONFIG", "SET", "maxmemory-policy", "noeviction"]).as_deref(), Some("+OK"));
    let a = node(&redis, "a");
    let _alice = a.client("alice");
    assert_eq!(redis.command(&["SCARD", "banter:nodes"]).as_deref(), Some(":1"));
}

/// Tries `attempt` every 50 ms until it gives Ok (within WAIT), and
/// returns that; the last Err says what never came.
fn poll<T>(mut attempt: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        match attempt() {
            Ok(done) => return done,
            Err(why) => assert!(Instant::now() < deadline, "{why}"),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until the log of `redis` holds at most `entries` entries (a
/// snapshot trimmed it `why`).
fn log_trimmed_to(redis: &Redis, entries: usize, why: &str) {
    poll(|| if log_length(redis) > entries { Err(format!("the log was not trimmed {why}")) } else { Ok(()) });
}

/// Scrapes `port` until `pred` holds of the samples (another node's
/// change, or the next eviction check, has come); returns them.
fn scrape_until(
    port: u16,
    what: &str,
    pred: impl Fn(&std::collections::HashMap<String, f64>) -> bool,
) -> std::collections::HashMap<String, f64> {
    poll(|| {
        let samples = scrape(port);
        if pred(&samples) {
            Ok(samples)
        } else {
            Err(format!("never {what}: {samples:?}"))
        }
    })
}

#[test]
fn a_nodes_metrics_show_its_part_in_the_network_and_a_redis_that_may_evict() {
    let redis = Redis::start();
    let ttl = banter::config::ClusterConfig::default().ttl_ms;
    let metrics = "\n[metrics]\nlisten = \"127.0.0.1:0\"\n";
    let a = Server::start_with(&format!("{}{metrics}", node_config(&redis, "a", ttl, None)));
    let port = logged_port(&a, "serving metrics on http://");
    let b = node(&redis, "b");
    let mut alice = in_channel(&a, "alice", "#m");
    let mut bob = b.client("bob");
    meet(&mut alice, &mut bob, "#m");
    for i in 0..5 {
        bob.send(&format!("PRIVMSG #m :{i}"));
    }
    alice.expect_where("the last message", |l| l.ends_with("PRIVMSG #m :4"));
    let m = scrape_until(port, "two nodes and bob", |m| {
        value(m, "banter_cluster_nodes") == 2.0 && value(m, "banter_cluster_remote_users") == 1.0
    });
    // alice's User and Join at least, both read back, and bob's User, Join
    // and messages (one event may carry several lines to one channel).
    assert!(value(&m, "banter_cluster_events_published_total") >= 2.0, "{m:?}");
    assert!(value(&m, "banter_cluster_events_read_total") >= 5.0, "{m:?}");
    assert_eq!(value(&m, "banter_cluster_events_unpublished"), 0.0);
    assert_eq!(value(&m, "banter_cluster_redis_may_evict"), 0.0);
    // An operator lets Redis evict after the nodes joined.
    redis.command(&["CONFIG", "SET", "maxmemory", "1gb"]).expect("CONFIG SET");
    redis.command(&["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"]).expect("CONFIG SET");
    let line = logged(&a, "Redis may now evict keys");
    assert!(line.contains("ERROR") && line.contains("allkeys-lru"), "{line}");
    scrape_until(port, "may evict", |m| value(m, "banter_cluster_redis_may_evict") == 1.0);
    redis.command(&["CONFIG", "SET", "maxmemory-policy", "noeviction"]).expect("CONFIG SET");
    logged(&a, "no longer evicts");
    scrape_until(port, "no eviction", |m| value(m, "banter_cluster_redis_may_evict") == 0.0);
    // A single node shows none of them.
    let alone = Server::start_with(&format!("{BASE_CONFIG}{metrics}"));
    let samples = scrape(logged_port(&alone, "serving metrics on http://"));
    assert!(!samples.keys().any(|k| k.starts_with("banter_cluster_")), "{samples:?}");
}

#[test]
fn a_node_with_other_channel_defaults_cannot_join() {
    let redis = Redis::start();
    let ttl = banter::config::ClusterConfig::default().ttl_ms;
    let a = node(&redis, "a");
    let _alice = in_channel(&a, "alice", "#open");
    // B would make its copy of #open `+s` (hidden from LIST there) while it
    // is public on A; C would keep #lobby when it empties, A would drop it.
    let b = with_channels(&node_config(&redis, "b", ttl, None), "default_modes = \"ns\"");
    refused(&b, "a node with other default modes", &[r#"channels.default_modes is "ns" here but "nt" on the network"#]);
    let c = with_channels(&node_config(&redis, "c", ttl, None), "permanent = [\"#Lobby\"]");
    refused(
        &c,
        "a node with other permanent channels",
        &[r##"channels.permanent is "#lobby" here but "" on the network"##],
    );
    assert_eq!(redis.command(&["SCARD", "banter:nodes"]).as_deref(), Some(":1"), "neither joined");
    // The same flags in another order are the same setting: D joins and
    // shows #open as A does.
    let d_config = with_channels(&node_config(&redis, "d", ttl, None), "default_modes = \"tn\"");
    let d = Server::start_with(&d_config);
    let mut dave = d.client("dave");
    let modes = ask_until(&mut dave, "MODE #open", "#open known", |l| command_of(l) == "324");
    assert!(modes.ends_with(" :+nt"), "{modes}");
    // A REHASH does not change them behind the network's back either.
    std::fs::write(d.dir.path().join("banterd.toml"), d_config.replace("\"tn\"", "\"ns\"")).expect("config");
    d.signal("HUP");
    logged(&d, "[channels] changed");
    dave.send("JOIN #fresh");
    dave.expect("366");
    dave.send("MODE #fresh");
    assert!(dave.expect("324").ends_with(" :+nt"));
}

/// `config` with `lines` added to its `[limits]` section.
fn with_limits(config: &str, lines: &str) -> String {
    config.replacen("\n[limits]\n", &format!("\n[limits]\n{lines}\n"), 1)
}

#[test]
fn a_node_with_other_limits_network_name_or_event_format_cannot_join() {
    let redis = Redis::start();
    let ttl = banter::config::ClusterConfig::default().ttl_ms;
    let a = node(&redis, "a");
    let _alice = in_channel(&a, "alice", "#c");
    // B would show A's 20-character nicks under NICKLEN=12, and hold A's
    // bans beyond its MAXLIST while its own ops could add none.
    let b = with_limits(&node_config(&redis, "b", ttl, None), "nick_len = 12\nmax_list_entries = 3");
    let says = [
        r#"limits.nick_len is "12" here but "30" on the network"#,
        r#"limits.max_list_entries is "3" here but "100" on the network"#,
    ];
    refused(&b, "a node with other limits", &says);
    let c = node_config(&redis, "c", ttl, None).replacen("network = \"TestNet\"", "network = \"OtherNet\"", 1);
    refused(
        &c,
        "a node of another network name",
        &[r#"server.network is "OtherNet" here but "TestNet" on the network"#],
    );
    // A release whose events are encoded otherwise: as if the network's log
    // were written by one.
    redis.command(&["HSET", "banter:network", "events", "0"]).expect("HSET");
    let says = [r#"events is "2" here but "0" on the network"#];
    refused(&node_config(&redis, "d", ttl, None), "a node of another event format", &says);
    redis.command(&["HSET", "banter:network", "events", "2"]).expect("HSET");
    assert_eq!(redis.command(&["SCARD", "banter:nodes"]).as_deref(), Some(":1"), "none joined");
    // The same limits join; a REHASH does not change them on one node.
    let e_config = node_config(&redis, "e", ttl, None);
    let e = Server::start_with(&e_config);
    let mut erin = e.client("erin");
    wait_member(&mut erin, "#c", "alice");
    std::fs::write(e.dir.path().join("banterd.toml"), with_limits(&e_config, "nick_len = 12")).expect("config");
    e.signal("HUP");
    logged(&e, "[limits] lengths or max_list_entries changed");
    erin.send("VERSION");
    let (line, _) = erin.expect_where("NICKLEN in 005", |l| command_of(l) == "005" && l.contains(" NICKLEN="));
    assert!(line.contains(" NICKLEN=30 "), "{line}");
}

#[test]
fn a_node_folding_nicks_otherwise_than_the_network_cannot_join() {
    let redis = Redis::start();
    let a = node(&redis, "a");
    let _held = a.client("x[");
    // B folds with ascii: `x[` would be another nick there, and two users
    // would hold `x[` on one network. It refuses to start instead.
    let ttl = banter::config::ClusterConfig::default().ttl_ms;
    let config = node_config(&redis, "b", ttl, None).replacen("[server]\n", "[server]\ncasemapping = \"ascii\"\n", 1);
    let says = [r#"server.casemapping is "ascii" here but "rfc1459" on the network"#];
    refused(&config, "a node with another casemapping", &says);
    assert_eq!(redis.command(&["SCARD", "banter:nodes"]).as_deref(), Some(":1"), "B never joined");
    // A node folding as the network does joins, and `X{` is `x[` there.
    let c = node(&redis, "c");
    let mut fresh = c.connect();
    assert_eq!(try_register(&mut fresh, "X{", "x"), "433");
}

/// The texts of LUSERS 251, 255, 265 and 266 as `c`'s node answers.
fn luser_texts(c: &mut Client) -> Vec<String> {
    luser_replies(c, &["251", "255", "265", "266"]).into_iter().filter_map(|mut params| params.pop()).collect()
}

/// The parameters after the nick of the LUSERS replies `numerics`, in order.
fn luser_replies(c: &mut Client, numerics: &[&str]) -> Vec<Vec<String>> {
    answers(c, "LUSERS", "266")
        .into_iter()
        .filter(|(n, _)| numerics.contains(&n.as_str()))
        .map(|(_, params)| params)
        .collect()
}

#[test]
fn lusers_and_links_count_the_network_and_each_node_its_own() {
    let redis = Redis::start();
    let ttl = banter::config::ClusterConfig::default().ttl_ms;
    let named = |node: &str| {
        let config = node_config(&redis, node, ttl, None);
        Server::start_with(&config.replacen("name = \"test.banter\"", &format!("name = \"{node}.test\""), 1))
    };
    let (a, b) = (named("a"), named("b"));
    let mut alice = a.client("alice");
    let (mut bob, _carol) = (b.client("bob"), b.client("carol"));
    wait_user(&mut alice, "carol");
    wait_user(&mut bob, "alice");
    let (on_a, on_b) = poll(|| {
        let (on_a, on_b) = (luser_texts(&mut alice), luser_texts(&mut bob));
        // The number of nodes comes with the heartbeat (every 100 ms here).
        if on_a[0].ends_with("on 2 servers") && on_b[0].ends_with("on 2 servers") {
            Ok((on_a, on_b))
        } else {
            Err(format!("{on_a:?} {on_b:?}"))
        }
    });
    assert_eq!(
        on_a,
        [
            "There are 3 users and 0 invisible on 2 servers",
            "I have 1 clients and 1 servers",
            "Current local users 1, max 1",
            "Current global users 3, max 3",
        ]
    );
    assert_eq!(on_b[1..3], ["I have 2 clients and 1 servers", "Current local users 2, max 2"]);
    assert_eq!(on_b[3], "Current global users 3, max 3");
    // LINKS: this node, then the other one hop away.
    let links: Vec<Vec<String>> =
        answers(&mut alice, "LINKS", "365").into_iter().filter(|(n, _)| n == "364").map(|(_, params)| params).collect();
    assert_eq!(links, [["a.test", "a.test", "0 banter IRC server"], ["b.test", "a.test", "1 banter IRC server"]]);
}

/// A user who quits is out of its node's LUSERS at once, while its QUIT is
/// still on its way through the log (held here: Redis is stopped with
/// SIGSTOP): an operator of node a quits, and the other user there is then
/// counted alone, with no operator, as a single node counts; and still so
/// once the QUIT is back.
#[test]
fn a_user_who_quits_is_counted_out_at_once_on_its_node() {
    let redis = Redis::start();
    let a = node(&redis, "a");
    let mut bar = in_channel(&a, "bar", "#q");
    let mut qux = in_channel(&a, "qux", "#q");
    qux.send("OPER admin adminpass");
    qux.expect("381");
    let counts = |c: &mut Client| luser_replies(c, &["251", "252", "265"]);
    let texts = |lines: &[&[&str]]| lines.iter().map(|l| l.iter().map(|t| t.to_string()).collect()).collect();
    let before: Vec<Vec<String>> =
        texts(&[&["There are 2 users and 0 invisible on 1 servers"], &["1", "operator(s) online"]]);
    assert_eq!(counts(&mut bar)[..2], before);
    redis.signal("STOP");
    qux.send("QUIT :bye");
    assert!(qux.closed(), "the connection ends at once");
    let after = counts(&mut bar);
    redis.signal("CONT");
    let alone: Vec<Vec<String>> = texts(&[
        &["There are 1 users and 0 invisible on 1 servers"],
        &["0", "operator(s) online"],
        &["Current local users 1, max 2"],
    ]);
    assert_eq!(after, alone);
    // Its QUIT comes back (bar sees it in #q) and counts nothing twice.
    bar.expect_where("qux's QUIT", |l| command_of(l) == "QUIT");
    assert_eq!(counts(&mut bar), alone);
}

/// A quitting user's connection ends once its QUIT is back from the log and
/// shown to its co-members: a member of its node that then syncs (PING)
/// has the QUIT before the PONG, as on a single node (irctest's
/// `ChannelQuitTestCase::testQuit` relies on it). Twenty users in turn.
#[test]
fn a_quitters_connection_ends_once_its_quit_is_shown() {
    let redis = Redis::start();
    let a = node(&redis, "a");
    let mut bar = in_channel(&a, "bar", "#q");
    for i in 0..20 {
        let nick = format!("qux{i}");
        let mut qux = in_channel(&a, &nick, "#q");
        bar.expect_where("its JOIN", |l| command_of(l) == "JOIN" && l[1..].starts_with(&format!("{nick}!")));
        qux.send("QUIT :bye");
        assert!(qux.closed(), "the connection ends");
        let seen = bar.sync();
        assert!(
            seen.iter().any(|l| command_of(l) == "QUIT" && l[1..].starts_with(&format!("{nick}!"))),
            "{nick}: {seen:?}"
        );
    }
}

#[test]
fn a_nick_taken_on_one_node_is_refused_on_the_other() {
    let redis = Redis::start();
    let (a, b) = (node(&redis, "a"), node(&redis, "b"));
    let _alice = a.client("alice");
    let mut fresh = b.connect();
    assert_eq!(try_register(&mut fresh, "alice", "x"), "433");
    assert_eq!(try_register(&mut fresh, "Alice", "x"), "433", "case-folded like a local nick");
    // Registered elsewhere, a nick change to it is refused too.
    let mut bob = b.client("bob");
    bob.send("NICK ALICE");
    let (line, _) = bob.expect_where("433", |l| command_of(l) == "433" || command_of(l) == "NICK");
    assert_eq!(command_of(&line), "433", "{line}");
    // The nick is free again once its owner quits.
    drop(_alice);
    let mut later = b.connect();
    poll(|| {
        later.send("NICK alice");
        if later.sync().iter().all(|l| command_of(l) != "433") {
            Ok(())
        } else {
            Err("alice never freed".to_owned())
        }
    });
    later.send("USER u 0 * :later");
    later.expect("001");
}

#[test]
fn racing_nick_pairs_have_exactly_one_winner() {
    let redis = Redis::start();
    let (a, b) = (node(&redis, "a"), node(&redis, "b"));
    let pairs: Vec<(Client, Client)> = (0..20).map(|_| (a.connect(), b.connect())).collect();
    let mut pairs = pairs;
    // Every NICK goes out before any answer is read.
    for (i, (ca, cb)) in pairs.iter_mut().enumerate() {
        ca.send(&format!("NICK race{i}\r\nUSER u 0 * :on-a"));
        cb.send(&format!("NICK race{i}\r\nUSER u 0 * :on-b"));
    }
    let mut winners = Vec::new();
    for (i, (ca, cb)) in pairs.iter_mut().enumerate() {
        let ra = ca.expect_where("001 or 433", |l| matches!(command_of(l), "001" | "433")).0;
        let rb = cb.expect_where("001 or 433", |l| matches!(command_of(l), "001" | "433")).0;
        let won: Vec<&str> =
            [("on-a", &ra), ("on-b", &rb)].iter().filter(|(_, r)| command_of(r) == "001").map(|(w, _)| *w).collect();
        assert_eq!(won.len(), 1, "race{i}: {ra} / {rb}");
        winners.push(won[0]);
    }
    // WHOIS agrees on both nodes.
    let (mut wa, mut wb) = (a.client("watcher1"), b.client("watcher2"));
    for (i, winner) in winners.iter().enumerate() {
        for w in [&mut wa, &mut wb] {
            let nick = format!("race{i}");
            wait_user(w, &nick);
            w.send(&format!("WHOIS {nick}"));
            let line = w.expect("311");
            assert_eq!(params_of(&line).last().map(String::as_str), Some(*winner), "{line}");
        }
    }
}

#[test]
fn users_of_two_nodes_share_a_channel() {
    let redis = Redis::start();
    let (a, b) = (node(&redis, "a"), node(&redis, "b"));
    let mut alice = in_channel(&a, "alice", "#room");
    let mut bob = b.client("bob");
    wait_user(&mut bob, "alice");
    let names = wait_member(&mut bob, "#room", "alice");
    assert!(params_of(&names)[3].split(' ').any(|n| n == "@alice"), "the creator is op everywhere: {names}");
    bob.send("JOIN #room");
    let names: Vec<String> = bob.collect_until("366");
    assert!(names.iter().any(|l| command_of(l) == "353" && l.contains("@alice") && l.contains("bob")), "{names:?}");
    let join = alice.expect("JOIN");
    assert!(join.starts_with(":bob!"), "{join}");
    // NAMES, WHO and WHOIS on A see B's user.
    alice.send("WHO #room");
    let who = alice.collect_until("315");
    assert!(who.iter().any(|l| command_of(l) == "352" && params_of(l)[5] == "bob"), "{who:?}");
    alice.send("WHOIS bob");
    let whois = alice.collect_until("318");
    assert!(whois.iter().any(|l| command_of(l) == "319" && l.contains("#room")), "{whois:?}");
    // Messages both ways, with the same msgid and time on both nodes.
    let mut carol = common::with_caps(&a, "carol", "message-tags server-time");
    carol.send("JOIN #room");
    carol.expect("366");
    bob.expect("JOIN");
    let mut dave = common::with_caps(&b, "dave", "message-tags server-time echo-message");
    dave.send("JOIN #room");
    dave.expect("366");
    carol.expect("JOIN");
    dave.send("PRIVMSG #room :hello from b");
    let echoed = dave.expect("PRIVMSG");
    let seen = carol.expect("PRIVMSG");
    assert_eq!(common::tag(&seen, "msgid"), common::tag(&echoed, "msgid"), "{seen} / {echoed}");
    assert_eq!(common::tag(&seen, "time"), common::tag(&echoed, "time"));
    assert!(seen.ends_with(":dave!~dave@127.0.0.1 PRIVMSG #room :hello from b"), "{seen}");
    let plain = alice.expect("PRIVMSG");
    assert_eq!(plain, ":dave!~dave@127.0.0.1 PRIVMSG #room :hello from b");
    bob.expect("PRIVMSG");
    alice.send("PRIVMSG #room :hello from a");
    assert_eq!(bob.expect("PRIVMSG"), ":alice!~alice@127.0.0.1 PRIVMSG #room :hello from a");
    // TOPIC, NICK, PART, KICK and QUIT are seen across.
    alice.send("TOPIC #room :the topic");
    assert_eq!(bob.expect("TOPIC"), ":alice!~alice@127.0.0.1 TOPIC #room :the topic");
    bob.send("NICK robert");
    assert_eq!(alice.expect("NICK"), ":bob!~bob@127.0.0.1 NICK robert");
    alice.send("KICK #room dave :out");
    assert_eq!(dave.expect("KICK").split(" KICK ").nth(1), Some("#room dave :out"));
    carol.send("PART #room :bye");
    assert_eq!(bob.expect("PART"), ":carol!~carol@127.0.0.1 PART #room :bye");
    bob.send("QUIT :gone");
    assert_eq!(alice.expect("QUIT"), ":robert!~bob@127.0.0.1 QUIT :Quit: gone");
    // The topic is B's too: a later joiner there sees it.
    let mut erin = b.client("erin");
    erin.send("JOIN #room");
    let burst = erin.collect_until("366");
    assert!(burst.iter().any(|l| command_of(l) == "332" && l.ends_with(":the topic")), "{burst:?}");
    assert!(burst.iter().any(|l| command_of(l) == "353" && l.contains("@alice")), "{burst:?}");
}

/// The params of `c`'s first answer `numeric` to `request`.
fn first_answer(c: &mut Client, request: &str, numeric: &str) -> Vec<String> {
    c.send(request);
    let lines = c.sync();
    let line = lines.iter().find(|l| command_of(l) == numeric).unwrap_or_else(|| panic!("no {numeric}: {lines:?}"));
    params_of(line)
}

/// The idle seconds of `nick` in `c`'s WHOIS.
fn whois_idle(c: &mut Client, nick: &str) -> i64 {
    c.send(&format!("WHOIS {nick}"));
    let line = c.expect("317");
    params_of(&line)[2].parse().unwrap_or_else(|_| panic!("{line}"))
}

#[test]
fn whois_asks_a_remote_users_node_how_long_it_has_been_idle() {
    let redis = Redis::start();
    let (a, b) = (node(&redis, "a"), node(&redis, "b"));
    let mut alice = a.client("alice");
    let mut carol = a.client("carol");
    let mut bob = b.client("bob");
    wait_user(&mut bob, "alice");
    wait_user(&mut bob, "carol");
    std::thread::sleep(Duration::from_millis(2100));
    // A message that stays on A is not in the log: B learns of it by asking.
    alice.send("PRIVMSG carol :hi");
    carol.expect_where("alice's message", |l| l.ends_with("PRIVMSG carol :hi"));
    assert!(whois_idle(&mut bob, "alice") <= 1);
    assert!(whois_idle(&mut bob, "carol") >= 2);
    // A node that does not answer (stopped) leaves the time as relayed, and
    // WHOIS still answers.
    a.signal("STOP");
    let began = Instant::now();
    assert!(whois_idle(&mut bob, "carol") >= 2);
    assert!(began.elapsed() >= Duration::from_millis(400), "B waited for A's answer");
    a.signal("CONT");
}

#[test]
fn whois_and_who_show_the_server_a_remote_user_is_on_and_when_it_connected() {
    let redis = Redis::start();
    let named = |name: &str| {
        let config = node_config(&redis, name, banter::config::ClusterConfig::default().ttl_ms, None);
        Server::start_with(&config.replacen("name = \"test.banter\"", &format!("name = \"{name}.banter\""), 1))
    };
    let (a, b) = (named("a"), named("b"));
    let mut alice = a.client("alice");
    let mut bob = b.client("bob");
    wait_user(&mut bob, "alice");
    // 312 and 317 as alice's own node answers them.
    let at_home_312 = first_answer(&mut alice, "WHOIS alice", "312");
    let at_home_317 = first_answer(&mut alice, "WHOIS alice", "317");
    assert_eq!(at_home_312[2], "a.banter");
    let remote_312 = first_answer(&mut bob, "WHOIS alice", "312");
    assert_eq!(remote_312, [vec!["bob".to_owned()], at_home_312[1..].to_vec()].concat());
    let remote_317 = first_answer(&mut bob, "WHOIS alice", "317");
    assert_eq!(remote_317[3], at_home_317[3], "the same sign-on time");
    // WHO: alice's server, one hop away; bob's own, none.
    let who = first_answer(&mut bob, "WHO alice", "352");
    assert_eq!((who[4].as_str(), who[7].split(' ').next()), ("a.banter", Some("1")), "{who:?}");
    let who = first_answer(&mut bob, "WHO bob", "352");
    assert_eq!((who[4].as_str(), who[7].split(' ').next()), ("b.banter", Some("0")), "{who:?}");
    let whox = first_answer(&mut bob, "WHO alice %nsd", "354");
    assert_eq!(whox[1..], ["a.banter", "alice", "1"]);
}

#[test]
fn a_thousand_numbered_messages_each_way_arrive_in_order() {
    let redis = Redis::start();
    let (a, b) = (node(&redis, "a"), node(&redis, "b"));
    let mut alice = a.client("alice");
    let mut bob = b.client("bob");
    alice.send("JOIN #flood");
    alice.expect("366");
    join_after(&mut bob, "#flood", "alice");
    alice.expect("JOIN");
    const N: usize = 1000;
    let burst = |who: &str| (0..N).map(|i| format!("PRIVMSG #flood :{who}-{i}\r\n")).collect::<String>();
    alice.send_raw(burst("a").as_bytes());
    bob.send_raw(burst("b").as_bytes());
    for (reader, from) in [(&mut alice, "b"), (&mut bob, "a")] {
        let mut next = 0;
        while next < N {
            let line = reader.recv_within(WAIT).unwrap_or_else(|| {
                let logged: Vec<String> =
                    [&a, &b].iter().flat_map(|s| s.log.try_iter()).filter(|l| !l.contains("connected")).collect();
                panic!("{from}-{next} never came; the nodes logged: {logged:#?}")
            });
            if command_of(&line) != "PRIVMSG" {
                continue;
            }
            let text = params_of(&line)[1].clone();
            assert_eq!(text, format!("{from}-{next}"), "lost, duplicated or reordered");
            next += 1;
        }
        // Nothing more: no duplicates after the last one.
        let extra: Vec<String> = reader.sync().into_iter().filter(|l| command_of(l) == "PRIVMSG").collect();
        assert!(extra.is_empty(), "{extra:?}");
    }
}

/// Messages a client pipelines to one channel travel as one event, each line
/// leaving out what it shares with the line before it (src/cluster/packed.rs):
/// whatever changes from line to line (client-only tags there or not, the
/// command, the text), a member on the other node gets exactly the lines a
/// member on the sender's node gets, tags included.
#[test]
fn pipelined_lines_with_changing_tags_arrive_on_the_other_node_as_sent() {
    let redis = Redis::start();
    let (a, b) = (node(&redis, "a"), node(&redis, "b"));
    let caps = "message-tags server-time account-tag";
    let mut alice = common::with_caps(&a, "alice", caps);
    alice.send("JOIN #t");
    alice.expect("366");
    let mut carol = common::with_caps(&a, "carol", caps);
    carol.send("JOIN #t");
    carol.expect("366");
    let mut bob = common::with_caps(&b, "bob", caps);
    join_after(&mut bob, "#t", "alice");
    wait_member(&mut alice, "#t", "bob");
    let burst = [
        "@+draft/reply=m1 PRIVMSG #t :one",
        "PRIVMSG #t :two",
        "@+draft/react=x;+draft/reply=m1 TAGMSG #t",
        "NOTICE #t :three",
        "@+draft/reply=m2 NOTICE #t :three",
        "PRIVMSG #t :four five",
        "PRIVMSG #t ::six",
    ];
    alice.send_raw(format!("{}\r\n", burst.join("\r\n")).as_bytes());
    let seen = |c: &mut Client| -> Vec<String> {
        let mut lines = Vec::new();
        while lines.len() < burst.len() {
            let line = c.recv_within(WAIT).unwrap_or_else(|| panic!("{} got only {lines:#?}", c.nick));
            if matches!(command_of(&line), "PRIVMSG" | "NOTICE" | "TAGMSG") {
                lines.push(line);
            }
        }
        lines
    };
    let here = seen(&mut carol);
    assert_eq!(seen(&mut bob), here, "the other node shows them otherwise");
    let replies: Vec<Option<&str>> = here.iter().map(|l| common::tag(l, "+draft/reply")).collect();
    assert_eq!(replies, [Some("m1"), None, Some("m1"), None, Some("m2"), None, None], "{here:#?}");
    assert!(here[6].ends_with(" PRIVMSG #t ::six"), "{}", here[6]);
    assert!(here.iter().all(|l| common::tag(l, "msgid").is_some() && common::tag(l, "time").is_some()));
    // They went as one packed event: later lines leave out the source.
    let events = "local out = {} for _, e in ipairs(redis.call('XRANGE', KEYS[1], '-', '+')) do \
                  for i = 1, #e[2], 2 do if e[2][i] == 'e' then table.insert(out, e[2][i + 1]) end end end \
                  return table.concat(out, '\\n')";
    let log = redis.bulk(&["EVAL", events, "1", "banter:log"]).expect("the log");
    let packed = log.lines().filter(|e| e.starts_with(r#"{"M":"#) && e.contains(r#""h":1"#)).count();
    assert!(packed >= 1, "no message event with a line packed after another: {log}");
}

#[test]
fn private_messages_cross_nodes() {
    let redis = Redis::start();
    let (a, b) = (node(&redis, "a"), node(&redis, "b"));
    let mut alice = common::with_caps(&a, "alice", "message-tags echo-message");
    let mut bob = b.client("bob");
    wait_user(&mut alice, "bob");
    wait_user(&mut bob, "alice");
    alice.send("PRIVMSG bob :psst");
    let echoed = alice.expect("PRIVMSG");
    assert_eq!(bob.expect("PRIVMSG"), ":alice!~alice@127.0.0.1 PRIVMSG bob :psst");
    assert!(common::tag(&echoed, "msgid").is_some(), "{echoed}");
    bob.send("NOTICE alice :back");
    assert!(alice.expect("NOTICE").ends_with(":bob!~bob@127.0.0.1 NOTICE alice :back"));
    // A third user on A gets nothing of it.
    let mut carol = a.client("carol");
    carol.send("PRIVMSG bob :hi");
    bob.expect("PRIVMSG");
    assert!(carol.sync().iter().all(|l| command_of(l) != "PRIVMSG"));
    // ISON and MONITOR see remote users.
    carol.send("ISON bob nobody");
    assert!(carol.expect("303").ends_with(":bob"));
    carol.send("MONITOR + bob");
    assert!(carol.expect("730").contains("bob!"));
    bob.send("QUIT");
    assert!(carol.expect("731").ends_with(":bob"));
}

#[test]
fn a_killed_node_users_quit_within_the_ttl_and_their_nicks_are_freed() {
    let redis = Redis::start();
    // A short TTL for the node that is killed: reaped well within WAIT.
    let (a, b) = (node_with_ttl(&redis, "a", 2000), node(&redis, "b"));
    let alice = in_channel(&a, "alice", "#room");
    let mut bob = b.client("bob");
    join_after(&mut bob, "#room", "alice");
    // Killed with alice still connected: her QUIT can only come from B's reaper.
    let _data = a.crash();
    drop(alice);
    let quit = bob.expect("QUIT");
    assert_eq!(quit, ":alice!~alice@127.0.0.1 QUIT :*.net *.split");
    let mut again = b.connect();
    assert_eq!(try_register(&mut again, "alice", "again"), "001");
    bob.send("NAMES #room");
    let names = bob.expect("353");
    assert!(!names.contains("alice!") && params_of(&names)[3].split(' ').any(|n| n == "alice" || n == "bob"));
}

#[test]
fn a_stopped_node_says_so_at_once() {
    let redis = Redis::start();
    // A minute of TTL: only the node's own announcement can be this quick.
    let (mut a, b) = (node_with_ttl(&redis, "a", 60_000), node_with_ttl(&redis, "b", 60_000));
    let _alice = a.client("alice");
    let mut bob = b.client("bob");
    bob.send("MONITOR + alice");
    let deadline = Instant::now() + WAIT;
    loop {
        let (l, _) = bob.expect_where("730/731", |l| matches!(command_of(l), "730" | "731"));
        if command_of(&l) == "730" {
            break;
        }
        assert!(Instant::now() < deadline);
    }
    a.signal("TERM");
    assert_eq!(a.wait_exit(WAIT), Some(0));
    assert!(bob.expect("731").ends_with(":alice"));
    let mut again = b.connect();
    assert_eq!(try_register(&mut again, "alice", "again"), "001");
}

#[test]
fn a_node_started_later_learns_the_network() {
    let redis = Redis::start();
    let a = node(&redis, "a");
    let mut alice = a.client("alice");
    alice.send("JOIN #old");
    alice.send("TOPIC #old :kept");
    alice.expect("TOPIC");
    let _carol = a.client("carol");
    // A user who came and went leaves nothing behind.
    let mut gone = a.client("gone");
    gone.send("JOIN #old");
    gone.expect("366");
    gone.send("QUIT");
    alice.expect("QUIT");
    let b = node(&redis, "b");
    // The replay happens before B listens: no waiting.
    let mut bob = b.client("bob");
    bob.send("NAMES #old");
    let names = bob.expect("353");
    assert_eq!(params_of(&names)[3], "@alice", "{names}");
    bob.send("TOPIC #old");
    assert!(bob.expect("332").ends_with(":kept"));
    bob.send("WHOIS carol");
    bob.expect("311");
    bob.send("WHOIS gone");
    bob.expect("401");
    let mut taken = b.connect();
    assert_eq!(try_register(&mut taken, "carol", "x"), "433");
    bob.send("JOIN #old");
    bob.expect("366");
    assert!(alice.expect("JOIN").starts_with(":bob!"));
}

#[test]
fn channels_created_on_both_nodes_at_once_have_one_set_of_ops() {
    let redis = Redis::start();
    let (a, b) = (node(&redis, "a"), node(&redis, "b"));
    let mut alice = a.client("alice");
    let mut bob = b.client("bob");
    wait_user(&mut alice, "bob");
    wait_user(&mut bob, "alice");
    let joins: String = (0..10).map(|i| format!("JOIN #new{i}\r\n")).collect();
    alice.send_raw(joins.as_bytes());
    bob.send_raw(joins.as_bytes());
    for i in 0..10 {
        let chan = format!("#new{i}");
        let on_a = wait_member(&mut alice, &chan, "bob");
        let on_a = wait_member_line(&mut alice, &chan, "alice", on_a);
        let on_b = wait_member(&mut bob, &chan, "alice");
        let on_b = wait_member_line(&mut bob, &chan, "bob", on_b);
        let sorted = |l: &str| {
            let mut v: Vec<String> = params_of(l)[3].split(' ').map(str::to_owned).collect();
            v.sort();
            v
        };
        let (na, nb) = (sorted(&on_a), sorted(&on_b));
        assert_eq!(na, nb, "{chan}: the same NAMES on both nodes");
        assert_eq!(na.iter().filter(|n| n.starts_with('@')).count(), 1, "{chan}: one creator with ops: {na:?}");
    }
}

/// `line` if it lists `nick` too, else NAMES again until it does.
fn wait_member_line(c: &mut Client, chan: &str, nick: &str, line: String) -> String {
    if params_of(&line)[3].split(' ').any(|n| n.trim_start_matches(['@', '+']) == nick) {
        line
    } else {
        wait_member(c, chan, nick)
    }
}

/// JOIN `chan` (with `key`) and the numeric that answers it: 366 when in,
/// else the refusal (471, 474, 475...).
fn join_answer(c: &mut Client, chan: &str, key: &str) -> String {
    c.send(&format!("JOIN {chan} {key}"));
    let (line, _) =
        c.expect_where("366 or a refusal", |l| matches!(command_of(l), "366" | "471" | "473" | "474" | "475"));
    command_of(&line).to_owned()
}

#[test]
fn channel_modes_set_on_one_node_hold_on_the_other() {
    let redis = Redis::start();
    let (a, b) = (node(&redis, "a"), node(&redis, "b"));
    let mut alice = in_channel(&a, "alice", "#modes");
    let (mut bob, mut carol, mut eve) = (b.client("bob"), b.client("carol"), b.client("eve"));
    wait_member(&mut bob, "#modes", "alice");
    for c in [&mut bob, &mut carol] {
        c.send("JOIN #modes");
        c.expect("366");
    }
    wait_member(&mut alice, "#modes", "carol");
    // Flags, key and limit, then a ban and member prefixes: B's members see
    // each MODE line as a local one.
    alice.send("MODE #modes +mkl key 4");
    alice.send("MODE #modes +bov eve!*@* bob carol");
    for c in [&mut bob, &mut carol] {
        assert_eq!(c.expect("MODE"), ":alice!~alice@127.0.0.1 MODE #modes +mkl key 4");
        assert_eq!(c.expect("MODE"), ":alice!~alice@127.0.0.1 MODE #modes +bov eve!*@* bob carol");
    }
    // B's own view: the modes, the ban with its setter and time, the prefixes.
    carol.send("MODE #modes");
    let modes = carol.expect("324");
    assert_eq!(params_of(&modes)[2..], ["+mntkl", "key", "4"], "{modes}");
    alice.send("MODE #modes +b");
    let on_a = alice.expect("367");
    carol.send("MODE #modes +b");
    let on_b = carol.expect("367");
    assert_eq!(params_of(&on_b)[2..], params_of(&on_a)[2..], "the same entry, setter and time: {on_a} / {on_b}");
    assert_eq!(params_of(&on_b)[2..4], ["eve!*@*", "alice!~alice@127.0.0.1"], "{on_b}");
    carol.send("NAMES #modes");
    let names = carol.expect("353");
    let mut listed: Vec<String> = params_of(&names)[3].split(' ').map(str::to_owned).collect();
    listed.sort();
    assert_eq!(listed, ["+carol", "@alice", "@bob"], "{names}");
    // B enforces them: the ban, the key, the limit, +m.
    assert_eq!(join_answer(&mut eve, "#modes", "key"), "474", "banned");
    let mut dave = b.client("dave");
    assert_eq!(join_answer(&mut dave, "#modes", "nokey"), "475", "wrong key");
    assert_eq!(join_answer(&mut dave, "#modes", "key"), "366");
    alice.expect("JOIN");
    let mut frank = b.client("frank");
    assert_eq!(join_answer(&mut frank, "#modes", "key"), "471", "full at 4");
    dave.send("PRIVMSG #modes :unvoiced");
    assert_eq!(command_of(&dave.expect_where("404", |l| command_of(l) == "404").0), "404");
    carol.send("PRIVMSG #modes :voiced");
    assert_eq!(alice.expect("PRIVMSG"), ":carol!~carol@127.0.0.1 PRIVMSG #modes :voiced");
    // Removals travel too, and an op of B changes modes A's members see.
    alice.send("MODE #modes -ov bob carol");
    alice.send("MODE #modes -blk eve!*@* *");
    for c in [&mut bob, &mut carol, &mut dave] {
        assert_eq!(c.expect("MODE"), ":alice!~alice@127.0.0.1 MODE #modes -ov bob carol");
        assert_eq!(c.expect("MODE"), ":alice!~alice@127.0.0.1 MODE #modes -blk eve!*@* *");
    }
    carol.send("NAMES #modes");
    let names = carol.expect("353");
    assert!(params_of(&names)[3].split(' ').all(|n| n == "@alice" || !n.starts_with(['@', '+'])), "{names}");
    assert_eq!(join_answer(&mut eve, "#modes", ""), "366", "no ban, no key, no limit any more");
    alice.send("MODE #modes +o dave");
    assert_eq!(dave.expect("MODE"), ":alice!~alice@127.0.0.1 MODE #modes +o dave");
    dave.send("MODE #modes -m+s");
    assert_eq!(dave.expect("MODE"), ":dave!~dave@127.0.0.1 MODE #modes -m+s");
    alice.expect_where("dave's MODE", |l| l == ":dave!~dave@127.0.0.1 MODE #modes -m+s");
    alice.send("MODE #modes");
    assert_eq!(params_of(&alice.expect("324"))[2], "+nst");
}

/// The lines a non-member gets for `request`, each as its numeric and the
/// parameters after the nick: comparable between nodes.
fn answers(c: &mut Client, request: &str, end: &str) -> Vec<(String, Vec<String>)> {
    c.send(request);
    c.collect_until(end)
        .iter()
        .filter(|l| command_of(l).len() == 3)
        .map(|l| (command_of(l).to_owned(), params_of(l)[1..].to_vec()))
        .collect()
}

#[test]
fn a_third_node_started_later_has_the_same_channels_topics_modes_and_bans() {
    let redis = Redis::start();
    let (a, b) = (node(&redis, "a"), node(&redis, "b"));
    let (mut alice, _bob) = changes_on_two_nodes(&a, &b);
    let c = node(&redis, "c");
    agrees_on_channels(&a, &c, &mut alice);
}

/// Users alice on `a` and bob on `b` make changes to #one and #two (some
/// undone again) that a node started later must know; returns them.
fn changes_on_two_nodes(a: &Server, b: &Server) -> (Client, Client) {
    let mut alice = a.client("alice");
    alice.send("JOIN #one,#two");
    alice.expect("366");
    alice.expect("366");
    let mut bob = b.client("bob");
    meet(&mut alice, &mut bob, "#two");
    // Changes made on both nodes, including some undone again.
    alice.send("TOPIC #one :first topic");
    alice.send("MODE #one +kl secret 5");
    alice.send("MODE #one +bbe bad!*@* worse!*@* good!*@*");
    alice.send("MODE #one -b worse!*@*");
    alice.send("MODE #two +o bob");
    bob.expect_where("bob's +o", |l| l.ends_with(" MODE #two +o bob"));
    bob.send("MODE #two +miI carol!*@*");
    bob.send("MODE #two -t");
    bob.send("TOPIC #two :set on b");
    bob.expect("TOPIC");
    alice.expect_where("bob's TOPIC", |l| l.ends_with(" TOPIC #two :set on b"));
    (alice, bob)
}

/// A node `c` started after [`changes_on_two_nodes`] answers MODE (with
/// `329`), TOPIC (with `333`), NAMES and the ban lists of #one and #two as
/// `a` does (alice is on `a`), and enforces their ban, key, `+i` with its
/// invite exception, and `+m`.
fn agrees_on_channels(a: &Server, c: &Server, alice: &mut Client) {
    // A non-member on A and one on C get the same answers: modes, creation
    // time, topic with setter and time, NAMES.
    let (mut seen_a, mut seen_c) = (a.client("watcher"), c.client("carol"));
    for chan in ["#one", "#two"] {
        for (request, end) in
            [(format!("MODE {chan}"), "329"), (format!("TOPIC {chan}"), "333"), (format!("NAMES {chan}"), "366")]
        {
            let on_a = answers(&mut seen_a, &request, end);
            let on_c = answers(&mut seen_c, &request, end);
            assert_eq!(on_a, on_c, "{request}");
            assert!(on_a.len() >= 2, "{request}: {on_a:?}");
        }
    }
    let modes = answers(&mut seen_c, "MODE #one", "329");
    assert_eq!(modes[0].1[1..], ["+ntkl", "*", "5"].map(str::to_owned), "{modes:?}");
    let modes = answers(&mut seen_c, "MODE #two", "329");
    assert_eq!(modes[0].1[1], "+imn", "{modes:?}");
    // C enforces them.
    let mut bad = c.client("bad");
    assert_eq!(join_answer(&mut bad, "#one", "secret"), "474");
    assert_eq!(join_answer(&mut seen_c, "#one", "wrong"), "475");
    assert_eq!(join_answer(&mut seen_c, "#one", "secret"), "366");
    let mut dave = c.client("dave");
    assert_eq!(join_answer(&mut dave, "#two", ""), "473", "invite only");
    assert_eq!(join_answer(&mut seen_c, "#two", ""), "366", "carol!*@* is an invite exception");
    seen_c.send("PRIVMSG #two :moderated?");
    seen_c.expect("404");
    let names = answers(&mut seen_c, "NAMES #two", "366");
    let mut names: Vec<String> = names[0].1[2].split(' ').map(str::to_owned).collect();
    names.sort();
    assert_eq!(names, ["@alice", "@bob", "carol"]);
    // Members see the same ban lists, with setters and times.
    for (chan, count) in [("#one", 1), ("#two", 0)] {
        let request = format!("MODE {chan} +b");
        let on_a = answers(alice, &request, "368");
        assert_eq!(on_a, answers(&mut seen_c, &request, "368"), "{request}");
        assert_eq!(on_a.len(), count + 1, "{on_a:?}");
    }
    let bans = answers(&mut seen_c, "MODE #one +b", "368");
    assert_eq!(bans[0].1[1..3], ["bad!*@*", "alice!~alice@127.0.0.1"].map(str::to_owned), "only bad!*@* is left");
}

/// A node writing a snapshot every 20 log entries (`[cluster]
/// snapshot_every`), with a TTL of `ttl_ms`.
fn compacting_node(redis: &Redis, name: &str, ttl_ms: u64) -> Server {
    Server::start_with(&format!("{}snapshot_every = 20\n", node_config(redis, name, ttl_ms, None)))
}

/// `XLEN banter:log`.
fn log_length(redis: &Redis) -> usize {
    let reply = redis.command(&["XLEN", "banter:log"]).expect("XLEN");
    reply.trim_start_matches(':').parse().expect("a length")
}

/// What `c` learns from WHOIS `nick` that must be the same on every node:
/// user and host and real name (311), channels with prefixes (319, sorted),
/// away message (301), operator (313), account (330).
fn whois_facts(c: &mut Client, nick: &str) -> Vec<(String, Vec<String>)> {
    let mut facts: Vec<(String, Vec<String>)> = answers(c, &format!("WHOIS {nick}"), "318")
        .into_iter()
        .filter(|(numeric, _)| matches!(numeric.as_str(), "311" | "319" | "301" | "313" | "330"))
        .collect();
    for (numeric, params) in &mut facts {
        if numeric == "319" {
            let mut chans: Vec<&str> = params[1].split(' ').filter(|c| !c.is_empty()).collect();
            chans.sort();
            params[1] = chans.join(" ");
        }
    }
    facts
}

#[test]
fn snapshots_trim_the_log_and_a_node_started_later_loads_one() {
    let redis = Redis::start();
    let ttl = banter::config::ClusterConfig::default().ttl_ms;
    let (a, b) = (compacting_node(&redis, "a", ttl), compacting_node(&redis, "b", ttl));
    let (mut alice, mut bob) = changes_on_two_nodes(&a, &b);
    // More of what a snapshot holds: user modes and away messages, a channel
    // of both nodes with a topic, an op and a voice, an invitation.
    let (mut eve, mut zed) = (b.client("eve"), b.client("zed"));
    bob.send("MODE bob +i");
    alice.send("JOIN #three");
    alice.expect("366");
    meet(&mut alice, &mut eve, "#three");
    alice.send("MODE #three +v eve");
    alice.send("TOPIC #three :three's topic");
    alice.send("INVITE zed #one");
    zed.expect("INVITE");
    // Enough log entries for a snapshot and a trim many times over: away
    // messages set on both nodes, paced so every node records its position
    // (each heartbeat) while it goes on.
    let mut longest = 0;
    for round in 0..15 {
        for i in 0..10 {
            alice.send(&format!("AWAY :alice away {round}.{i}"));
            eve.send(&format!("AWAY :eve away {round}.{i}"));
        }
        alice.sync();
        eve.sync();
        std::thread::sleep(Duration::from_millis(150));
        if round >= 5 {
            longest = longest.max(log_length(&redis));
        }
    }
    alice.send("AWAY :back soon");
    eve.send("AWAY");
    eve.send("PRIVMSG #three :back");
    ask_until(&mut bob, "WHOIS alice", "alice's last away message on B", |l| l.ends_with(":back soon"));
    // In log order: A has applied eve's AWAY once it delivers what followed.
    alice.expect_where("eve's PRIVMSG", |l| l.ends_with("PRIVMSG #three :back"));
    assert!(!answers(&mut alice, "WHOIS eve", "318").iter().any(|(n, _)| n == "301"), "eve is back");
    // 300 away messages and more went through the log; it never held more
    // than a few snapshots' worth once it was trimmed.
    assert!(longest < 100, "the log held {longest} entries");
    assert_eq!(redis.command(&["EXISTS", "banter:snapshot"]).as_deref(), Some(":1"));
    assert!(redis.bulk(&["GET", "banter:trimmed"]).is_some(), "the log's start was trimmed");
    // C cannot replay the log from its start (it is gone): it loads the
    // snapshot, replays the rest, and answers as A does.
    let c = compacting_node(&redis, "c", ttl);
    let (mut on_a, mut on_c) = (a.client("wa"), c.client("wc"));
    wait_user(&mut on_a, "wc");
    wait_user(&mut on_c, "wa");
    for nick in ["alice", "bob", "eve", "zed"] {
        let facts = whois_facts(&mut on_a, nick);
        assert_eq!(facts, whois_facts(&mut on_c, nick), "WHOIS {nick}");
        assert!(facts.iter().any(|(n, _)| n == "311"), "{nick}: {facts:?}");
    }
    let alice_away = whois_facts(&mut on_c, "alice");
    assert!(alice_away.iter().any(|(n, p)| n == "301" && p[1] == "back soon"), "{alice_away:?}");
    for (request, end) in [("MODE #three", "329"), ("TOPIC #three", "333"), ("NAMES #three", "366")] {
        assert_eq!(answers(&mut on_a, request, end), answers(&mut on_c, request, end), "{request}");
    }
    same_lusers(&mut on_a, &mut on_c);
    agrees_on_channels(&a, &c, &mut alice);
}

/// The snapshot in Redis, read in one step: its id, its number of events,
/// and N of the away message `gone N` it holds (0 for none).
fn snapshot_now(redis: &Redis) -> (Option<String>, usize, usize) {
    let script = "local s = redis.call('HMGET', KEYS[1], 'id', 'events', 'data') \
        return (s[1] or '') .. ' ' .. (s[2] or '0') .. ' ' .. (string.match(s[3] or '', 'gone (%d+)') or '0')";
    let reply = redis.bulk(&["EVAL", script, "1", "banter:snapshot"]).unwrap_or_default();
    let fields: Vec<&str> = reply.split(' ').collect();
    let number = |i: usize| fields.get(i).and_then(|n| n.parse().ok()).unwrap_or(0);
    let id = fields.first().filter(|id| !id.is_empty()).map(|id| id.to_string());
    (id, number(1), number(2))
}

#[test]
fn a_network_larger_than_snapshot_every_snapshots_once_the_log_grows_by_a_snapshot() {
    let redis = Redis::start();
    let ttl = banter::config::ClusterConfig::default().ttl_ms;
    let a = Server::start_with(&format!("{}snapshot_every = 5\n", node_config(&redis, "a", ttl, None)));
    // 30 users in one channel: a snapshot holds far more than 5 events.
    let mut users: Vec<Client> = (0..30).map(|i| a.client(&format!("u{i}"))).collect();
    for u in &mut users {
        u.send("JOIN #big");
        u.expect("366");
    }
    // Away messages `gone 1`, `gone 2`... one event each: a snapshot holds
    // the last one before it, so two snapshots tell how many events came
    // between them.
    let talker = &mut users[0];
    let mut away = 0;
    let deadline = Instant::now() + WAIT;
    let mut next_snapshot = |after: Option<String>| loop {
        away += 1;
        talker.send(&format!("AWAY :gone {away}"));
        talker.sync();
        let now = snapshot_now(&redis);
        if now.0.is_some() && now.0 != after && now.2 > 0 {
            return now;
        }
        assert!(Instant::now() < deadline, "no snapshot after {after:?}");
    };
    let start = snapshot_now(&redis).0;
    let (first, held, at_first) = next_snapshot(start);
    assert!(held > 60, "30 users and their 30 joins, and more: {held} events");
    let (_, _, at_second) = next_snapshot(first);
    let between = at_second - at_first;
    // Not every 5 events: once the log had grown by what the snapshot held.
    assert!(between + 5 >= held, "{between} events between snapshots of {held}");
    assert!(between <= 2 * held, "{between} events between snapshots of {held}");
}

#[test]
fn a_paused_node_is_not_trimmed_past() {
    let redis = Redis::start();
    // A TTL long enough that the paused node is not reaped meanwhile.
    let (a, b) = (compacting_node(&redis, "a", 30_000), compacting_node(&redis, "b", 30_000));
    let mut alice = in_channel(&a, "alice", "#lag");
    let mut bob = b.client("bob");
    meet(&mut alice, &mut bob, "#lag");
    let snapshot = || redis.bulk(&["HGET", "banter:snapshot", "id"]);
    let before = snapshot();
    b.signal("STOP");
    // Each message its own log entry (one at a time): a snapshot and a trim
    // come while B cannot read.
    for i in 0..100 {
        alice.send(&format!("PRIVMSG #lag :number {i}"));
        alice.sync();
    }
    poll(|| if snapshot() == before { Err("no snapshot written while B was paused".to_owned()) } else { Ok(()) });
    b.signal("CONT");
    for i in 0..100 {
        assert_eq!(bob.expect("PRIVMSG"), format!(":alice!~alice@127.0.0.1 PRIVMSG #lag :number {i}"));
    }
    // Once B is past them, the next snapshot trims them.
    for i in 0..60 {
        alice.send(&format!("PRIVMSG #lag :more {i}"));
        alice.sync();
        bob.expect("PRIVMSG");
    }
    log_trimmed_to(&redis, 100, "after B caught up");
}

#[test]
fn a_node_whose_unapplied_entries_were_trimmed_restarts_from_the_snapshot() {
    let redis = Redis::start();
    let (a, b) = (compacting_node(&redis, "a", 30_000), compacting_node(&redis, "b", 30_000));
    let mut alice = in_channel(&a, "alice", "#gap");
    alice.send("TOPIC #gap :still here");
    let mut bob = b.client("bob");
    meet(&mut alice, &mut bob, "#gap");
    // B paused, and its recorded position made wrong (far ahead, as if
    // Redis had lost the true one): A's next snapshot trims past B's place.
    b.signal("STOP");
    let script = "for _, n in ipairs(redis.call('HKEYS', KEYS[1])) do \
                  if string.sub(n, 1, 2) == 'b:' then redis.call('HSET', KEYS[1], n, ARGV[1]) return n end end";
    let b_node = redis.bulk(&["EVAL", script, "1", "banter:pos", "99999999999999-0"]);
    assert!(b_node.is_some(), "B records a position");
    for i in 0..60 {
        alice.send(&format!("PRIVMSG #gap :lost {i}"));
        alice.sync();
    }
    // B's place is gone once the trim passes the last entry it applied
    // (alice's JOIN burst is long done): well inside 60 messages.
    log_trimmed_to(&redis, 40, "past B");
    // Woken, B finds entries it had not applied gone: it leaves (its user
    // quits on A at once), tells its clients, and restarts.
    b.signal("CONT");
    let (error, _) = bob.expect_where("ERROR", |l| command_of(l) == "ERROR");
    assert!(error.contains("lost its place in the network"), "{error}");
    alice.expect_where("bob's QUIT", |l| l.starts_with(":bob!") && command_of(l) == "QUIT");
    // The new B learns the network from the snapshot and the rest of the log.
    let mut carol = Client::connect(relistened(&b));
    carol.register("carol");
    carol.send("JOIN #gap");
    let joined = carol.collect_until("366");
    assert!(joined.iter().any(|l| command_of(l) == "332" && l.ends_with(":still here")), "{joined:?}");
    assert!(joined.iter().any(|l| command_of(l) == "353" && params_of(l)[3] == "@alice carol"), "{joined:?}");
    assert!(alice.expect("JOIN").starts_with(":carol!"));
}

/// The 251 and 252 of LUSERS (users, invisible, servers; operators) as
/// parameters after the nick.
fn lusers(c: &mut Client) -> Vec<Vec<String>> {
    luser_replies(c, &["251", "252"])
}

/// Waits until the nodes of `x` and `y` answer LUSERS's 251 and 252 alike
/// (each counts the nodes as of its last heartbeat: a node just started
/// may be new to the other for one); returns the counts.
fn same_lusers(x: &mut Client, y: &mut Client) -> Vec<Vec<String>> {
    poll(|| {
        let (on_x, on_y) = (lusers(x), lusers(y));
        if on_x == on_y {
            Ok(on_x)
        } else {
            Err(format!("LUSERS differ: {on_x:?} and {on_y:?}"))
        }
    })
}

#[test]
fn away_realname_account_and_user_modes_are_seen_on_the_other_node() {
    let redis = Redis::start();
    let (a, b) = (node(&redis, "a"), node(&redis, "b"));
    let mut alice = in_channel(&a, "alice", "#room");
    let mut bob = common::with_caps(&b, "bob", "away-notify setname account-notify");
    join_after(&mut bob, "#room", "alice");
    alice.expect("JOIN");
    let mut carol = b.client("carol");
    let before = same_lusers(&mut carol, &mut alice);
    // Logging in after registration: account-notify and WHOIS's 330 on B.
    alice.send("REGISTER alice * correct-horse-battery");
    alice.expect("900");
    assert_eq!(bob.expect("ACCOUNT"), ":alice!~alice@127.0.0.1 ACCOUNT alice");
    carol.send("WHOIS alice");
    let whois = carol.collect_until("318");
    assert!(whois.iter().any(|l| command_of(l) == "330" && params_of(l)[2] == "alice"), "{whois:?}");
    // AWAY: B's co-member with away-notify sees it, and B answers with it.
    alice.send("AWAY :lunch");
    alice.expect("306");
    assert_eq!(bob.expect("AWAY"), ":alice!~alice@127.0.0.1 AWAY :lunch");
    carol.send("WHOIS alice");
    let whois = carol.collect_until("318");
    assert!(whois.iter().any(|l| command_of(l) == "301" && l.ends_with(":lunch")), "{whois:?}");
    carol.send("PRIVMSG alice :are you there?");
    assert!(carol.expect("301").ends_with(":lunch"));
    carol.send("WHO alice");
    assert_eq!(params_of(&carol.expect("352"))[6], "G@", "away, and op of #room");
    // SETNAME.
    alice.send("SETNAME :Alice Liddell");
    assert_eq!(bob.expect("SETNAME"), ":alice!~alice@127.0.0.1 SETNAME :Alice Liddell");
    carol.send("WHOIS alice");
    assert!(carol.expect("311").ends_with(":Alice Liddell"));
    // User modes: +i and OPER's +o; B's WHOIS, WHO and LUSERS counts show them.
    alice.send("MODE alice +i");
    alice.expect("MODE");
    alice.send("OPER admin adminpass");
    alice.expect("381");
    ask_until(&mut carol, "WHOIS alice", "alice's +o on B", |l| command_of(l) == "313");
    carol.send("WHO alice");
    assert_eq!(params_of(&carol.expect("352"))[6], "G*@");
    let opered = same_lusers(&mut carol, &mut alice);
    assert_ne!(opered, before);
    assert_eq!(opered[1][0], "1", "one operator: {opered:?}");
    alice.send("MODE alice -io");
    alice.expect("MODE");
    ask_until(&mut carol, "WHO alice", "alice's -o on B", |l| command_of(l) == "352" && params_of(l)[6] == "G@");
    assert_eq!(lusers(&mut carol), before);
    // Back: no 301 any more.
    alice.send("AWAY");
    assert_eq!(bob.expect("AWAY"), ":alice!~alice@127.0.0.1 AWAY");
    carol.send("WHOIS alice");
    assert!(carol.collect_until("318").iter().all(|l| command_of(l) != "301"));
}

/// A login's ACCOUNT goes through the log, but the users of the node it was
/// made on are shown it before the maker's reply and before anything the
/// maker does next, as on a single node. Alice logs in with SASL and says
/// something in the same write, while Redis is held for a moment: Dave, on
/// her node, and Bob, on the other,
/// get ACCOUNT before her message, and a watcher with extended-monitor gets
/// ACCOUNT before the answer to a PING it sends once Alice's 900 is in
/// (irctest's `testExtendedMonitorAccountNotify` checks that; before, the
/// message came first on Alice's node, and the PING's answer could).
#[test]
fn a_login_is_shown_on_its_node_before_the_makers_next_line() {
    let redis = Redis::start();
    let (a, b) = (node(&redis, "a"), node(&redis, "b"));
    let mut maker = b.client("maker");
    maker.send("REGISTER alicia * correct-horse-battery");
    maker.expect("REGISTER");
    maker.send("QUIT");
    let mut alice = joined(common::with_caps(&a, "alice", "sasl"), "#room");
    let mut dave = joined(common::with_caps(&a, "dave", "account-notify"), "#room");
    let mut bob = common::with_caps(&b, "bob", "account-notify");
    join_after(&mut bob, "#room", "alice");
    wait_member(&mut dave, "#room", "bob");
    let mut watcher = common::with_caps(&a, "watcher", "extended-monitor account-notify");
    watcher.send("MONITOR + alice");
    watcher.expect("730");
    alice.send("AUTHENTICATE PLAIN");
    alice.expect("AUTHENTICATE");
    // Redis held for a moment: the ACCOUNT's way through the log is longer
    // than anything Alice's node does meanwhile. PLAIN: no authorization
    // identity, account "alicia", the password (not the nick's: a
    // registered nick would be protected).
    redis.signal("STOP");
    alice.send_raw(b"AUTHENTICATE AGFsaWNpYQBjb3JyZWN0LWhvcnNlLWJhdHRlcnk=\r\nPRIVMSG #room :logged in now\r\n");
    std::thread::sleep(Duration::from_millis(400));
    redis.signal("CONT");
    alice.expect("900");
    let got = watcher.sync();
    assert!(got.iter().any(|l| l == ":alice!~alice@127.0.0.1 ACCOUNT alicia"), "PING answered first: {got:?}");
    for (who, c) in [("dave", &mut dave), ("bob", &mut bob)] {
        let (line, _) = c.expect_where("ACCOUNT or PRIVMSG", |l| matches!(command_of(l), "ACCOUNT" | "PRIVMSG"));
        assert_eq!(line, ":alice!~alice@127.0.0.1 ACCOUNT alicia", "{who} got the message before the login");
        assert!(c.expect("PRIVMSG").ends_with(":logged in now"), "{who}");
    }
}

#[test]
fn invitations_cross_nodes() {
    let redis = Redis::start();
    let (a, b) = (node(&redis, "a"), node(&redis, "b"));
    let mut alice = a.client("alice");
    alice.send("JOIN #club");
    alice.send("MODE #club +i");
    alice.expect("MODE");
    let mut bob = common::with_caps(&b, "bob", "invite-notify");
    let mut carol = b.client("carol");
    wait_member(&mut bob, "#club", "alice");
    ask_until(&mut bob, "MODE #club", "+i on B", |l| command_of(l) == "324" && params_of(l)[2].contains('i'));
    assert_eq!(join_answer(&mut carol, "#club", ""), "473");
    // Invited on A, joined on B.
    alice.send("INVITE bob #club");
    alice.expect("341");
    assert_eq!(bob.expect("INVITE"), ":alice!~alice@127.0.0.1 INVITE bob #club");
    bob.send("INVITE");
    assert!(bob.expect("336").ends_with("#club"));
    assert_eq!(join_answer(&mut bob, "#club", ""), "366");
    alice.expect("JOIN");
    // An op of B invites on behalf of both: B's invite-notify op sees A's
    // invitation of carol, and A's user invited from B gets in on A.
    alice.send("MODE #club +o bob");
    bob.expect("MODE");
    alice.send("INVITE carol #club");
    assert_eq!(carol.expect("INVITE"), ":alice!~alice@127.0.0.1 INVITE carol #club");
    assert_eq!(bob.expect("INVITE"), ":alice!~alice@127.0.0.1 INVITE carol #club", "invite-notify");
    assert_eq!(join_answer(&mut carol, "#club", ""), "366");
    let mut dave = a.client("dave");
    wait_user(&mut bob, "dave");
    bob.send("INVITE dave #club");
    bob.expect("341");
    assert_eq!(dave.expect("INVITE"), ":bob!~bob@127.0.0.1 INVITE dave #club");
    assert_eq!(join_answer(&mut dave, "#club", ""), "366");
    // Not invited: still refused on either node.
    let mut erin = a.client("erin");
    assert_eq!(join_answer(&mut erin, "#club", ""), "473");
}

#[test]
fn an_operator_reaches_the_other_node_with_wallops_and_kill() {
    let redis = Redis::start();
    let (a, b) = (node(&redis, "a"), node(&redis, "b"));
    let mut alice = a.client("alice");
    alice.send("OPER admin adminpass");
    alice.expect("381");
    alice.send("JOIN #room");
    alice.expect("366");
    let mut bob = b.client("bob");
    let mut carol = b.client("carol");
    wait_member(&mut bob, "#room", "alice");
    for c in [&mut bob, &mut carol] {
        c.send("JOIN #room");
        c.expect("366");
    }
    wait_member(&mut alice, "#room", "carol");
    // WALLOPS reaches the +w users of the other node.
    carol.send("MODE carol +w");
    carol.expect("MODE");
    alice.send("WALLOPS :maintenance soon");
    assert_eq!(carol.expect("WALLOPS"), ":alice!~alice@127.0.0.1 WALLOPS :maintenance soon");
    alice.send("KILL bob :spamming");
    let (kill, before) = bob.expect_where("KILL", |l| command_of(l) == "KILL");
    assert_eq!(kill, ":alice!~alice@127.0.0.1 KILL bob :spamming");
    assert!(before.iter().all(|l| command_of(l) != "WALLOPS"), "bob is not +w: {before:?}");
    assert!(bob.expect("ERROR").contains("Killed (alice (spamming))"));
    assert!(bob.closed());
    let quit = ":bob!~bob@127.0.0.1 QUIT :Killed (alice (spamming))";
    assert_eq!(alice.expect("QUIT"), quit);
    assert_eq!(carol.expect("QUIT"), quit);
    // Its nick is free everywhere once its QUIT is seen.
    let mut again = a.connect();
    assert_eq!(try_register(&mut again, "bob", "again"), "001");
}

#[test]
fn a_permanent_channel_outlives_its_members_on_every_node_until_minus_p() {
    let redis = Redis::start();
    let (a, b) = (node(&redis, "a"), node(&redis, "b"));
    let mut alice = a.client("alice");
    alice.send("OPER admin adminpass");
    alice.expect("381");
    alice.send("JOIN #perm");
    alice.send("MODE #perm +P");
    alice.expect("MODE");
    alice.send("PART #perm");
    alice.expect("PART");
    let mut bob = b.client("bob");
    ask_until(&mut bob, "LIST #perm", "#perm empty but kept on B", |l| {
        command_of(l) == "322" && params_of(l)[2] == "0"
    });
    // -P from outside the channel: it ends on both nodes.
    alice.send("MODE #perm -P");
    alice.expect("MODE");
    poll(|| {
        bob.send("LIST #perm");
        if bob.collect_until("323").iter().all(|l| command_of(l) != "322") {
            Ok(())
        } else {
            Err("#perm still listed on B".to_owned())
        }
    });
    alice.send("LIST #perm");
    assert!(alice.collect_until("323").iter().all(|l| command_of(l) != "322"));
}

#[test]
fn simultaneous_topic_and_mode_changes_on_two_nodes_end_the_same_everywhere() {
    let redis = Redis::start();
    let (a, b) = (node(&redis, "a"), node(&redis, "b"));
    let mut alice = in_channel(&a, "alice", "#race");
    let mut bob = b.client("bob");
    race_topic_and_key(&mut alice, &mut bob, |_, _| {});
}

/// Bob (on another node than alice, who made #race) joins #race and gets
/// ops; both change its topic and key 50 times at once. Once each node has
/// read the whole log (a message sent after the other node's last one
/// arrived: done-a, then done-b, then done-a2) and `settle` returned, both
/// nodes show the same topic and key, the last one of one of them.
fn race_topic_and_key(alice: &mut Client, bob: &mut Client, settle: impl FnOnce(&mut Client, &mut Client)) {
    wait_member(bob, "#race", "alice");
    bob.send("JOIN #race");
    bob.expect("366");
    alice.expect("JOIN");
    alice.send("MODE #race +o bob");
    bob.expect("MODE");
    let burst = |who: &str| {
        (0..50).map(|i| format!("TOPIC #race :{who}-{i}\r\nMODE #race +k {who}{i}\r\n")).collect::<String>()
    };
    alice.send_raw(burst("a").as_bytes());
    bob.send_raw(burst("b").as_bytes());
    alice.send("PRIVMSG #race :done-a");
    bob.expect_where("done-a", |l| l.ends_with(":done-a"));
    bob.send("PRIVMSG #race :done-b");
    alice.expect_where("done-b", |l| l.ends_with(":done-b"));
    alice.send("PRIVMSG #race :done-a2");
    bob.expect_where("done-a2", |l| l.ends_with(":done-a2"));
    settle(alice, bob);
    let topic_a = answers(alice, "TOPIC #race", "333");
    let topic_b = answers(bob, "TOPIC #race", "333");
    assert_eq!(topic_a, topic_b, "the same topic on both nodes");
    let modes_a = answers(alice, "MODE #race", "329");
    let modes_b = answers(bob, "MODE #race", "329");
    assert_eq!(modes_a, modes_b, "the same key on both nodes");
    assert!(["a-49", "b-49"].contains(&topic_a[0].1[1].as_str()), "{topic_a:?}");
}

/// On nodes `a` and `b`: alice (a) in `chan`, which she made, and bob (b),
/// who joined it and got ops from her; both seen on both nodes.
fn two_ops(a: &Server, b: &Server, chan: &str) -> (Client, Client) {
    let mut alice = in_channel(a, "alice", chan);
    let mut bob = b.client("bob");
    join_after(&mut bob, chan, "alice");
    alice.expect("JOIN");
    alice.send(&format!("MODE {chan} +o bob"));
    bob.expect("MODE");
    (alice, bob)
}

/// The texts of the next `n` TOPIC lines `c` reads.
fn topics_seen(c: &mut Client, n: usize) -> Vec<String> {
    (0..n).map(|_| params_of(&c.expect("TOPIC"))[1].clone()).collect()
}

/// Topic changes go through the log in order on every node, the one they
/// were made on included: alice (node a) and bob (node b) each set the
/// topic of #order 30 times at once, and carol (a) and dave (b) see the
/// same 60 changes in the same order, each setter's in the order made.
#[test]
fn racing_topic_changes_are_seen_in_one_order_on_every_node() {
    let redis = Redis::start();
    let (a, b) = (node(&redis, "a"), node(&redis, "b"));
    let (mut alice, mut bob) = two_ops(&a, &b, "#order");
    let mut carol = in_channel(&a, "carol", "#order");
    let mut dave = b.client("dave");
    join_after(&mut dave, "#order", "carol");
    wait_member(&mut carol, "#order", "dave");
    let burst = |who: &str| (0..30).map(|i| format!("TOPIC #order :{who}-{i}\r\n")).collect::<String>();
    alice.send_raw(burst("a").as_bytes());
    bob.send_raw(burst("b").as_bytes());
    let (on_a, on_b) = (topics_seen(&mut carol, 60), topics_seen(&mut dave, 60));
    assert_eq!(on_a, on_b, "the same changes in the same order on both nodes");
    for who in ["a", "b"] {
        let mine: Vec<&String> = on_a.iter().filter(|t| t.starts_with(&format!("{who}-"))).collect();
        let made: Vec<String> = (0..30).map(|i| format!("{who}-{i}")).collect();
        assert_eq!(mine, made.iter().collect::<Vec<_>>(), "{who}'s changes in the order made");
    }
    // Nothing more: no change is shown twice.
    carol.send("TOPIC #order");
    let answer = carol.sync();
    assert!(answer.iter().all(|l| command_of(l) != "TOPIC"), "no TOPIC line after the 60: {answer:?}");
    let topic = answer.iter().find(|l| command_of(l) == "332").expect("332");
    assert_eq!(&params_of(topic)[2], on_a.last().unwrap());
}

/// Nick changes go through the log in order on every node, the one they
/// were made on included: alice (node a) changes nick 30 times while bob
/// (node b) sets the topic 30 times, all at once, and carol (a) and dave
/// (b) see the same 60 lines in the same order; alice's answers are her
/// own NICK lines, and both nodes know her by her last nick only.
#[test]
fn nick_changes_are_seen_in_the_logs_order_on_every_node() {
    let redis = Redis::start();
    let (a, b) = (node(&redis, "a"), node(&redis, "b"));
    let (mut alice, mut bob) = two_ops(&a, &b, "#nicks");
    let mut carol = in_channel(&a, "carol", "#nicks");
    let mut dave = b.client("dave");
    join_after(&mut dave, "#nicks", "carol");
    wait_member(&mut carol, "#nicks", "dave");
    let nicks: String = (0..30).map(|i| format!("NICK al{i}\r\n")).collect();
    let topics: String = (0..30).map(|i| format!("TOPIC #nicks :t{i}\r\n")).collect();
    alice.send_raw(nicks.as_bytes());
    bob.send_raw(topics.as_bytes());
    let seen = |c: &mut Client| last_params_of(c, 60, &["NICK", "TOPIC"]);
    let (on_a, on_b) = (seen(&mut carol), seen(&mut dave));
    assert_eq!(on_a, on_b, "the same changes in the same order on both nodes");
    let renames: Vec<&String> = on_a.iter().filter(|p| p.starts_with("al")).collect();
    assert_eq!(renames, (0..30).map(|i| format!("al{i}")).collect::<Vec<_>>().iter().collect::<Vec<_>>());
    for i in 0..30 {
        let (line, _) = alice.expect_where("her NICK", |l| command_of(l) == "NICK");
        assert_eq!(params_of(&line)[0], format!("al{i}"), "{line}");
    }
    for c in [&mut carol, &mut dave] {
        c.send("WHOIS al29");
        c.expect("311");
        c.send("WHOIS al28");
        c.expect("401");
    }
}

/// The last parameters of the next `n` lines of `commands` that `c` reads,
/// skipping the others.
fn last_params_of(c: &mut Client, n: usize, commands: &[&str]) -> Vec<String> {
    let what = commands.join(" or ");
    (0..n)
        .map(|_| {
            let (line, _) = c.expect_where(&what, |l| commands.contains(&command_of(l)));
            params_of(&line).last().unwrap().clone()
        })
        .collect()
}

/// AWAY and SETNAME go through the log in order on every node too: alice
/// (node a) sets her away message and real name 15 times each while bob
/// (node b) sets the topic 30 times, all at once, and carol (a) and dave
/// (b), with away-notify and setname, see the same 60 lines in the same
/// order.
#[test]
fn away_and_setname_are_seen_in_the_logs_order_on_every_node() {
    let redis = Redis::start();
    let (a, b) = (node(&redis, "a"), node(&redis, "b"));
    let (mut alice, mut bob) = two_ops(&a, &b, "#away");
    let mut carol = common::with_caps(&a, "carol", "away-notify setname");
    carol.send("JOIN #away");
    carol.expect("366");
    let mut dave = common::with_caps(&b, "dave", "away-notify setname");
    join_after(&mut dave, "#away", "carol");
    wait_member(&mut carol, "#away", "dave");
    let changes: String = (0..15).map(|i| format!("AWAY :out{i}\r\nSETNAME :name{i}\r\n")).collect();
    let topics: String = (0..30).map(|i| format!("TOPIC #away :t{i}\r\n")).collect();
    alice.send_raw(changes.as_bytes());
    bob.send_raw(topics.as_bytes());
    let seen = |c: &mut Client| last_params_of(c, 60, &["AWAY", "SETNAME", "TOPIC"]);
    let (on_a, on_b) = (seen(&mut carol), seen(&mut dave));
    assert_eq!(on_a, on_b, "the same changes in the same order on both nodes");
    let mine: Vec<&String> = on_a.iter().filter(|p| !p.starts_with('t')).collect();
    let made: Vec<String> = (0..15).flat_map(|i| [format!("out{i}"), format!("name{i}")]).collect();
    assert_eq!(mine, made.iter().collect::<Vec<_>>(), "alice's changes in the order made");
    for _ in 0..15 {
        alice.expect("306");
    }
}

/// Logins go through the log in order on every node too: fifteen users of
/// node a register an account (and so log in) while bob (node b) keeps
/// setting the topic, and carol (a) and dave (b), with account-notify, see
/// the same lines in the same order.
#[test]
fn logins_are_seen_in_the_logs_order_on_every_node() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let redis = Redis::start();
    let db = pg::database();
    let (a, b) = (pg_node(&redis, "a", &db), pg_node(&redis, "b", &db));
    let (_alice, mut bob) = two_ops(&a, &b, "#acc");
    let mut carol = common::with_caps(&a, "carol", "account-notify");
    carol.send("JOIN #acc");
    carol.expect("366");
    let mut users: Vec<Client> = (0..15).map(|i| in_channel(&a, &format!("u{i}"), "#acc")).collect();
    let mut dave = common::with_caps(&b, "dave", "account-notify");
    join_after(&mut dave, "#acc", "u14");
    wait_member(&mut carol, "#acc", "dave");
    // The topics keep coming, one at a time, until every login is made.
    let done = std::sync::Arc::new(AtomicBool::new(false));
    let topics = std::thread::spawn({
        let done = done.clone();
        move || {
            let mut n = 0;
            while !done.load(Ordering::Relaxed) {
                bob.send(&format!("TOPIC #acc :t{n}"));
                bob.expect("TOPIC");
                n += 1;
            }
            n
        }
    });
    for (i, u) in users.iter_mut().enumerate() {
        u.send(&format!("REGISTER acct{i} * acct{i}-password"));
    }
    for u in &mut users {
        let (reply, _) = u.expect_where("REGISTER reply", |l| l.contains("REGISTER"));
        assert!(reply.contains("REGISTER SUCCESS"), "{reply}");
    }
    done.store(true, Ordering::Relaxed);
    let n = topics.join().expect("the topic setter");
    let seen = |c: &mut Client| last_params_of(c, 15 + n, &["ACCOUNT", "TOPIC"]);
    let (on_a, on_b) = (seen(&mut carol), seen(&mut dave));
    assert_eq!(on_a, on_b, "the same changes in the same order on both nodes");
    let mut logins: Vec<&String> = on_a.iter().filter(|p| p.starts_with("acct")).collect();
    logins.sort();
    let mut made: Vec<String> = (0..15).map(|i| format!("acct{i}")).collect();
    made.sort();
    assert_eq!(logins, made.iter().collect::<Vec<_>>(), "every login shown once");
}

/// A nick change of case only (`carol` to `Carol`) is a change like any
/// other: its NICK reaches the other node's co-members, and WHOIS there
/// shows the new spelling.
#[test]
fn a_nick_change_of_case_only_is_seen_on_every_node() {
    let redis = Redis::start();
    let (a, b) = (node(&redis, "a"), node(&redis, "b"));
    let mut carol = in_channel(&a, "carol", "#case");
    let mut dave = b.client("dave");
    join_after(&mut dave, "#case", "carol");
    carol.send("NICK Carol");
    assert!(carol.expect("NICK").starts_with(":carol!"));
    let seen = dave.expect("NICK");
    assert!(seen.starts_with(":carol!") && params_of(&seen)[0] == "Carol", "{seen}");
    dave.send("WHOIS carol");
    assert_eq!(params_of(&dave.expect("311"))[1], "Carol");
}

/// Removals go through the log in order on every node too: alice (node a)
/// kicks ten users of node b while bob (node b) kicks ten users of node a,
/// all at once, and erin (a) and frank (b) see the same 20 KICKs in the
/// same order; each kicker's answer is its own KICK line.
#[test]
fn racing_kicks_are_seen_in_one_order_on_every_node() {
    let redis = Redis::start();
    let (a, b) = (node(&redis, "a"), node(&redis, "b"));
    let (mut alice, mut bob) = two_ops(&a, &b, "#k");
    let mut on_a: Vec<Client> = (0..10).map(|i| in_channel(&a, &format!("va{i}"), "#k")).collect();
    let mut erin = in_channel(&a, "erin", "#k");
    let mut on_b: Vec<Client> = (0..10).map(|i| in_channel(&b, &format!("vb{i}"), "#k")).collect();
    let mut frank = in_channel(&b, "frank", "#k");
    wait_member(&mut erin, "#k", "frank");
    wait_member(&mut frank, "#k", "erin");
    let burst = |side: &str| (0..10).map(|i| format!("KICK #k v{side}{i} :out\r\n")).collect::<String>();
    alice.send_raw(burst("b").as_bytes());
    bob.send_raw(burst("a").as_bytes());
    let kicked = |c: &mut Client| (0..20).map(|_| params_of(&c.expect("KICK"))[1].clone()).collect::<Vec<_>>();
    let (seen_a, seen_b) = (kicked(&mut erin), kicked(&mut frank));
    assert_eq!(seen_a, seen_b, "the same removals in the same order on both nodes");
    for (kicker, side) in [(&mut alice, "b"), (&mut bob, "a")] {
        let answers = kicked(kicker).into_iter().filter(|v| v.starts_with(&format!("v{side}")));
        assert_eq!(answers.collect::<Vec<_>>(), (0..10).map(|i| format!("v{side}{i}")).collect::<Vec<_>>());
    }
    for v in on_a.iter_mut().chain(on_b.iter_mut()) {
        let nick = v.nick.clone();
        v.expect_where("its own KICK", |l| command_of(l) == "KICK" && params_of(l)[1] == nick);
    }
    // Everyone removed is gone on both nodes.
    for c in [&mut erin, &mut frank] {
        let names = wait_member(c, "#k", "alice");
        assert!(params_of(&names)[3].split(' ').all(|n| !n.starts_with('v')), "{names}");
    }
}

/// Bob (node b), an operator of `chan`, sends the 100 changes `burst`
/// makes at once while alice (node a) takes his standing away with `take`.
/// Each of his changes is applied or refused (`refusal`) where the log has
/// it, by what he may do there: carol (a) and dave (b) see the same lines in
/// the same order, none of his after `take`, and he is answered his own
/// line for each applied change, `refusal` for each other.
fn standing_lost_meanwhile(chan: &str, burst: impl Fn(usize) -> String, take: &str, refusal: &str) {
    let redis = Redis::start();
    let (a, b) = (node(&redis, "a"), node(&redis, "b"));
    let (mut alice, mut bob) = two_ops(&a, &b, chan);
    let mut carol = in_channel(&a, "carol", chan);
    let mut dave = b.client("dave");
    join_after(&mut dave, chan, "carol");
    wait_member(&mut carol, chan, "dave");
    let changes: String = (0..100).map(|i| burst(i) + "\r\n").collect();
    bob.send_raw(changes.as_bytes());
    alice.send(take);
    let change = |l: &str| ["TOPIC", "MODE", "KICK"].contains(&command_of(l));
    let by = |l: &str, nick: &str| l[1..].starts_with(&format!("{nick}!"));
    let answers: Vec<String> = (0..100)
        .map(|_| {
            bob.expect_where("his change or its refusal", |l| (change(l) && by(l, "bob")) || command_of(l) == refusal).0
        })
        .collect();
    let applied = answers.iter().filter(|l| change(l)).count();
    assert!(applied < 100, "alice's change came before some of bob's: {answers:?}");
    let seen = |c: &mut Client| (0..=applied).map(|_| c.expect_where("a change", |l| change(l)).0).collect();
    let (on_a, on_b): (Vec<String>, Vec<String>) = (seen(&mut carol), seen(&mut dave));
    assert_eq!(on_a, on_b, "the same changes in the same order on both nodes");
    assert!(by(on_a.last().unwrap(), "alice"), "alice's change last: {on_a:?}");
    for c in [&mut carol, &mut dave] {
        let later: Vec<String> = c.sync().into_iter().filter(|l| change(l) && by(l, "bob")).collect();
        assert!(later.is_empty(), "nothing of bob's after alice's change: {later:?}");
    }
}

/// Bob's topic changes on a `+t` channel racing his deop: those after it
/// in the log are refused `482` on every node.
#[test]
fn topics_after_their_setters_deop_in_the_log_are_refused_on_every_node() {
    standing_lost_meanwhile("#deop", |i| format!("TOPIC #deop :t{i}"), "MODE #deop -o bob", "482");
}

/// Bob's topic changes racing his removal by KICK: those after it in the
/// log are refused `442` on every node.
#[test]
fn topics_after_their_setters_kick_in_the_log_are_refused_on_every_node() {
    standing_lost_meanwhile("#kicked", |i| format!("TOPIC #kicked :t{i}"), "KICK #kicked bob", "442");
}

/// Bob's key changes racing his deop: those after it in the log are refused
/// `482` on every node.
#[test]
fn modes_after_their_setters_deop_in_the_log_are_refused_on_every_node() {
    standing_lost_meanwhile("#keys", |i| format!("MODE #keys +k k{i}"), "MODE #keys -o bob", "482");
}

/// Who left `chan` and how, as the next `n` PART or KICK lines `c` reads
/// show it: ("PART", nick) or ("KICK", victim).
fn departures(c: &mut Client, n: usize) -> Vec<(String, String)> {
    (0..n)
        .map(|_| {
            let (line, _) = c.expect_where("PART or KICK", |l| ["PART", "KICK"].contains(&command_of(l)));
            let who = match command_of(&line) {
                "KICK" => params_of(&line)[1].clone(),
                _ => line[1..line.find('!').unwrap()].to_owned(),
            };
            (command_of(&line).to_owned(), who)
        })
        .collect()
}

/// A KICK racing its victim's PART: alice (node a) kicks ten users of node
/// b from #pk while each of them parts it. Whichever comes first in the log
/// is the one every node shows: erin (a) and frank (b) see the same ten
/// departures, each user once, by the same command.
#[test]
fn a_kick_racing_its_victims_part_ends_the_same_on_every_node() {
    let redis = Redis::start();
    let (a, b) = (node(&redis, "a"), node(&redis, "b"));
    let mut alice = in_channel(&a, "alice", "#pk");
    let mut erin = in_channel(&a, "erin", "#pk");
    let mut victims: Vec<Client> = (0..10).map(|i| b.client(&format!("vb{i}"))).collect();
    for v in &mut victims {
        join_after(v, "#pk", "alice");
    }
    let mut frank = b.client("frank");
    join_after(&mut frank, "#pk", "alice");
    wait_member(&mut alice, "#pk", "frank");
    let kicks = (0..10).map(|i| format!("KICK #pk vb{i} :out\r\n")).collect::<String>();
    alice.send_raw(kicks.as_bytes());
    for v in &mut victims {
        v.send("PART #pk :bye");
    }
    let (on_a, on_b) = (departures(&mut erin, 10), departures(&mut frank, 10));
    assert_eq!(on_a, on_b, "the same departures in the same order on both nodes");
    let mut who: Vec<&str> = on_a.iter().map(|(_, w)| w.as_str()).collect();
    who.sort();
    assert_eq!(who, (0..10).map(|i| format!("vb{i}")).collect::<Vec<_>>(), "each user once");
}

/// The MODE lines of the next `n` mode changes `c` reads (their parameters
/// after the channel).
fn modes_seen(c: &mut Client, n: usize) -> Vec<String> {
    (0..n).map(|_| params_of(&c.expect("MODE"))[1..].join(" ")).collect()
}

/// Channel mode changes go through the log in order on every node: with a
/// ban list of at most 5 (`limits.max_list_entries`), an op on each node
/// adds 4 bans at once and sets the key 10 times. Both nodes show the same
/// 5 bans taken and the same 20 keys in the same order, and list the same
/// bans: the list's limit holds across nodes (checked where each change is
/// applied, in the log's order, not where it was asked for).
#[test]
fn racing_mode_changes_are_seen_in_one_order_and_keep_the_list_limit() {
    let redis = Redis::start();
    let ttl = banter::config::ClusterConfig::default().ttl_ms;
    let config = |name: &str| with_limits(&node_config(&redis, name, ttl, None), "max_list_entries = 5");
    let (a, b) = (Server::start_with(&config("a")), Server::start_with(&config("b")));
    let (mut alice, mut bob) = two_ops(&a, &b, "#m");
    let mut carol = in_channel(&a, "carol", "#m");
    let mut dave = b.client("dave");
    join_after(&mut dave, "#m", "carol");
    wait_member(&mut carol, "#m", "dave");
    let burst = |who: &str| {
        let bans = (0..4).map(|i| format!("MODE #m +b {who}{i}!*@*\r\n"));
        bans.chain((0..10).map(|i| format!("MODE #m +k {who}{i}\r\n"))).collect::<String>()
    };
    alice.send_raw(burst("a").as_bytes());
    bob.send_raw(burst("b").as_bytes());
    let (on_a, on_b) = (modes_seen(&mut carol, 25), modes_seen(&mut dave, 25));
    assert_eq!(on_a, on_b, "the same changes in the same order on both nodes");
    assert_eq!(on_a.iter().filter(|m| m.starts_with("+b ")).count(), 5, "{on_a:?}");
    assert_eq!(on_a.iter().filter(|m| m.starts_with("+k ")).count(), 20, "{on_a:?}");
    let bans = |c: &mut Client| answers(c, "MODE #m b", "368").into_iter().filter(|(n, _)| n == "367").count();
    assert_eq!((bans(&mut carol), bans(&mut dave)), (5, 5));
    assert_eq!(answers(&mut carol, "MODE #m", "329"), answers(&mut dave, "MODE #m", "329"), "the same key");
}

/// A channel's limit holds across nodes: #full (`+l 6`) has alice and five
/// free places; five users of each node JOIN at once. Each JOIN is checked
/// where it is applied, in the log's order, so exactly five get in (the
/// others get 471) and both nodes list the same six members.
#[test]
fn joins_racing_into_a_limited_channel_from_two_nodes_keep_its_limit() {
    let redis = Redis::start();
    let (a, b) = (node(&redis, "a"), node(&redis, "b"));
    let mut alice = in_channel(&a, "alice", "#full");
    alice.send("MODE #full +l 6");
    alice.expect("MODE");
    let mut joiners: Vec<Client> = (0..5).map(|i| a.client(&format!("ja{i}"))).collect();
    joiners.extend((0..5).map(|i| b.client(&format!("jb{i}"))));
    let mut watcher = b.client("watcher");
    wait_member(&mut watcher, "#full", "alice");
    for j in &mut joiners {
        j.send("JOIN #full");
    }
    let mut got_in = 0;
    for j in &mut joiners {
        let (answer, _) = j.expect_where("JOIN or 471", |l| ["JOIN", "471"].contains(&command_of(l)));
        got_in += usize::from(command_of(&answer) == "JOIN");
    }
    assert_eq!(got_in, 5, "five places");
    let on_a = names_of(&mut alice, "#full");
    assert_eq!(on_a.len(), 6, "{on_a:?}");
    assert_eq!(on_a, names_of(&mut watcher, "#full"), "the same members on both nodes");
}

/// QUIT is made in the log's order on every node, the quitting users' own
/// included: twenty users of node a quit while bob (node b) sets the topic
/// twenty times, all at once, and carol (a) and dave (b) see the same 40
/// lines in the same order.
#[test]
fn quits_are_seen_in_the_logs_order_on_every_node() {
    let redis = Redis::start();
    let (a, b) = (node(&redis, "a"), node(&redis, "b"));
    let (_alice, mut bob) = two_ops(&a, &b, "#bye");
    let mut leavers: Vec<Client> = (0..20).map(|i| in_channel(&a, &format!("q{i}"), "#bye")).collect();
    let mut carol = in_channel(&a, "carol", "#bye");
    let mut dave = b.client("dave");
    join_after(&mut dave, "#bye", "carol");
    wait_member(&mut carol, "#bye", "dave");
    let topics: String = (0..20).map(|i| format!("TOPIC #bye :t{i}\r\n")).collect();
    bob.send_raw(topics.as_bytes());
    for q in &mut leavers {
        q.send_raw(b"QUIT :bye\r\n");
    }
    let seen = |c: &mut Client| {
        (0..40)
            .map(|_| {
                let (line, _) = c.expect_where("QUIT or TOPIC", |l| ["QUIT", "TOPIC"].contains(&command_of(l)));
                match command_of(&line) {
                    "QUIT" => line[1..line.find('!').unwrap()].to_owned(),
                    _ => params_of(&line)[1].clone(),
                }
            })
            .collect::<Vec<_>>()
    };
    let (on_a, on_b) = (seen(&mut carol), seen(&mut dave));
    assert_eq!(on_a, on_b, "the same departures and topics in the same order on both nodes");
    assert_eq!(on_a.iter().filter(|w| w.starts_with('q')).count(), 20, "{on_a:?}");
}

/// A JOIN racing the QUIT of a channel's last member (of another node)
/// ends the same on both nodes: ten channels, each with one user of node
/// a who quits while a user of node b joins it. Whether the joiner made a
/// new channel (and got ops) or joined the old one just before its last
/// member left, both nodes list the same members with the same prefixes.
#[test]
fn a_join_racing_the_last_members_quit_ends_the_same_on_both_nodes() {
    let redis = Redis::start();
    let (a, b) = (node(&redis, "a"), node(&redis, "b"));
    let mut leavers: Vec<Client> = (0..10).map(|i| in_channel(&a, &format!("x{i}"), &format!("#q{i}"))).collect();
    let mut joiner = b.client("yves");
    let mut watcher = a.client("wanda");
    wait_member(&mut joiner, "#q9", "x9");
    for (i, x) in leavers.iter_mut().enumerate() {
        x.send("QUIT :bye");
        joiner.send(&format!("JOIN #q{i}"));
    }
    for i in 0..10 {
        let chan = format!("#q{i}");
        joiner.expect_where("its JOIN", |l| command_of(l) == "JOIN" && params_of(l)[0] == chan);
    }
    // The JOINs' own NAMES replies, read past.
    joiner.sync();
    for i in 0..10 {
        let chan = format!("#q{i}");
        // Once both nodes have the QUIT (node b: x is gone there too).
        let on_b = poll(|| {
            let names = names_of(&mut joiner, &chan);
            if names.iter().any(|n| n.trim_start_matches('@') == format!("x{i}")) {
                return Err(format!("x{i} still in {chan} on b"));
            }
            Ok(names)
        });
        let on_a = poll(|| {
            let names = names_of(&mut watcher, &chan);
            if names.iter().any(|n| n.trim_start_matches('@') == format!("x{i}")) || names.is_empty() {
                return Err(format!("{chan} on a: {names:?}"));
            }
            Ok(names)
        });
        assert_eq!(on_a, on_b, "{chan}: the same members and prefixes on both nodes");
    }
}

/// INVITE is sequenced too, so a JOIN racing its invitation is decided
/// alike on both nodes. Forty `+l 2` channels of alice (node a) have one free
/// place each; in each, a user of node b (`y`) takes it while another
/// (`x`) joins too and alice invites `x` (an invitation passes `+l`), all at
/// once. Where `x`'s JOIN is in the log before the invitation it is refused
/// (`471`) on both nodes, otherwise it gets in on both: every channel lists
/// the same members on both nodes.
#[test]
fn joins_racing_their_invitations_are_decided_alike_on_both_nodes() {
    // Each channel is one try at the race (before INVITE was sequenced,
    // about one in fifteen diverged).
    const N: usize = 40;
    let redis = Redis::start();
    let (a, b) = (node(&redis, "a"), node(&redis, "b"));
    let mut alice = a.client("alice");
    let chans: Vec<String> = (0..N).map(|i| format!("#inv{i}")).collect();
    for chan in &chans {
        alice.send(&format!("JOIN {chan}"));
        alice.expect("366");
        alice.send(&format!("MODE {chan} +l 2"));
        alice.expect("MODE");
    }
    let mut xs: Vec<Client> = (0..N).map(|i| b.client(&format!("x{i}"))).collect();
    let mut ys: Vec<Client> = (0..N).map(|i| b.client(&format!("y{i}"))).collect();
    let mut watcher = b.client("watcher");
    wait_member(&mut watcher, &chans[N - 1], "alice");
    wait_user(&mut alice, &format!("y{}", N - 1));
    race_joins(&chans, &mut ys, &mut xs, |i, chan| alice.send(&format!("INVITE x{i} {chan}")));
    let firsts = vec!["alice".to_owned(); N];
    assert_joins_decided_alike(std::slice::from_mut(&mut alice), N, &mut watcher, &chans, &firsts, &mut ys, &mut xs);
}

/// A sequenced change whose channel is gone by its turn is answered as on a
/// single node for a channel that does not exist (`403`): in forty
/// channels, alice (node a) invites carol while the other op (node b) kicks
/// alice and leaves, all at once. No INVITE is answered `443` (carol was
/// never on a channel); each gets `341` (the log had it first), `442`
/// (alice was already kicked on her node) or `403`.
#[test]
fn an_invitation_to_a_channel_gone_meanwhile_is_answered_403() {
    const N: usize = 40;
    let redis = Redis::start();
    let (a, b) = (node(&redis, "a"), node(&redis, "b"));
    let mut alice = a.client("alice");
    let _carol = b.client("carol");
    wait_user(&mut alice, "carol");
    let chans: Vec<String> = (0..N).map(|i| format!("#gone{i}")).collect();
    let mut ops: Vec<Client> = Vec::new();
    for (i, chan) in chans.iter().enumerate() {
        alice.send(&format!("JOIN {chan}"));
        alice.expect("366");
        let mut op = b.client(&format!("op{i}"));
        join_after(&mut op, chan, "alice");
        alice.expect("JOIN");
        alice.send(&format!("MODE {chan} +o op{i}"));
        op.expect("MODE");
        ops.push(op);
    }
    // The INVITE a little later each time: somewhere it is decided on node a
    // before the KICK and PART reach it, and appended after them.
    for (i, chan) in chans.iter().enumerate() {
        ops[i].send(&format!("KICK {chan} alice\r\nPART {chan}"));
        std::thread::sleep(Duration::from_micros(100 * (i % 10) as u64));
        alice.send(&format!("INVITE carol {chan}"));
    }
    let mut answers = Vec::new();
    while answers.len() < N {
        let (line, _) =
            alice.expect_where("341, 403, 442 or 443", |l| ["341", "403", "442", "443"].contains(&command_of(l)));
        answers.push(command_of(&line).to_owned());
    }
    assert!(answers.iter().all(|a| a != "443"), "{answers:?}");
}

/// ChanServ's access grants are sequenced too: an AMODE lets its account's
/// JOINs past the channel's modes, so a JOIN racing it is decided alike on
/// both nodes. Forty registered `+l 2` channels of four founders (node a)
/// have one free place each; in each, a user of node b (`y`) takes it while
/// another (`x`, logged in as `xacct`) joins too and the founder has
/// ChanServ grant `xacct` voice there, all at once. Every channel lists the
/// same members on both nodes.
#[test]
fn joins_racing_an_access_grant_are_decided_alike_on_both_nodes() {
    let redis = Redis::start();
    let db = pg::database();
    let (a, b) = (pg_node(&redis, "a", &db), pg_node(&redis, "b", &db));
    let (mut founders, chans) = limited_channels_of_founders(&a, "#r", true);
    let mut registrar = b.client("xreg");
    register_account(&mut registrar, "xacct");
    let n = chans.len();
    let mut xs: Vec<Client> = (0..n).map(|i| logged_in(b.port, "xacct", &format!("x{i}"))).collect();
    let mut ys: Vec<Client> = (0..n).map(|i| b.client(&format!("y{i}"))).collect();
    let mut watcher = b.client("watcher");
    wait_member(&mut watcher, &chans[n - 1], &founder_of(n - 1));
    race_joins(&chans, &mut ys, &mut xs, |i, chan| {
        founders[i / 10].send(&format!("PRIVMSG ChanServ :AMODE {chan} +v xacct"));
    });
    let firsts: Vec<String> = (0..n).map(founder_of).collect();
    assert_joins_decided_alike(&mut founders, 10, &mut watcher, &chans, &firsts, &mut ys, &mut xs);
}

/// Four founders of node `a` (`f0` to `f3`, each logged in to the account
/// of its nick) and ten `+l 2` channels of each, `{prefix}{f}k{k}` (one free
/// place each), registered with ChanServ if `registered` (ten is ChanServ's
/// default most per account). Channel `i` is `founder_of(i)`'s.
fn limited_channels_of_founders(a: &Server, prefix: &str, registered: bool) -> (Vec<Client>, Vec<String>) {
    let mut founders: Vec<Client> = Vec::new();
    let mut chans: Vec<String> = Vec::new();
    for f in 0..4 {
        let mut founder = a.client(&format!("f{f}"));
        register_account(&mut founder, &format!("f{f}"));
        for k in 0..10 {
            let chan = format!("{prefix}{f}k{k}");
            founder.send(&format!("JOIN {chan}"));
            founder.expect("366");
            if registered {
                let r = cs(&mut founder, &format!("REGISTER {chan}"));
                assert!(r.iter().any(|l| l.contains("now registered")), "{r:?}");
            }
            founder.send(&format!("MODE {chan} +l 2"));
            founder.expect("MODE");
            chans.push(chan);
        }
        founders.push(founder);
    }
    (founders, chans)
}

/// The founder of channel `i` of [`limited_channels_of_founders`].
fn founder_of(i: usize) -> String {
    format!("f{}", i / 10)
}

/// Each channel is one try at a race: `ys[i]` and `xs[i]` JOIN `chans[i]`
/// while `act(i, chans[i])` is sent, before the JOINs for odd `i` and after
/// them for even `i`, to try both sides.
fn race_joins(chans: &[String], ys: &mut [Client], xs: &mut [Client], mut act: impl FnMut(usize, &str)) {
    for (i, chan) in chans.iter().enumerate() {
        if i % 2 == 1 {
            act(i, chan);
        }
        ys[i].send(&format!("JOIN {chan}"));
        xs[i].send(&format!("JOIN {chan}"));
        if i % 2 == 0 {
            act(i, chan);
        }
    }
}

/// The races of the tests above and below judged: `ys[i]` and `xs[i]`, users
/// of node b, each joined `chans[i]` (of `firsts[i]`, alone there, seen from
/// node a by `on_a[i / per]`) and are answered JOIN or 471 by their node;
/// every channel then lists the same members, with the same prefixes, on both
/// nodes, and exactly its first member and those told they got in.
fn assert_joins_decided_alike(
    on_a: &mut [Client],
    per: usize,
    watcher: &mut Client,
    chans: &[String],
    firsts: &[String],
    ys: &mut [Client],
    xs: &mut [Client],
) {
    let n = chans.len();
    let mut got_in: Vec<Vec<String>> = firsts.iter().map(|f| vec![f.clone()]).collect();
    for (i, joiner) in ys.iter_mut().chain(xs.iter_mut()).enumerate() {
        let (answer, _) = joiner.expect_where("JOIN or 471", |l| ["JOIN", "471"].contains(&command_of(l)));
        if command_of(&answer) == "JOIN" {
            got_in[i % n].push(joiner.nick.clone());
        }
    }
    let bare = |names: &[String]| {
        let mut bare: Vec<String> = names.iter().map(|n| n.trim_start_matches(['@', '+']).to_owned()).collect();
        bare.sort();
        bare
    };
    for (i, chan) in chans.iter().enumerate() {
        let mut expected = got_in[i].clone();
        expected.sort();
        let settled = |c: &mut Client| {
            poll(|| {
                let names = names_of(c, chan);
                if expected.iter().all(|n| bare(&names).contains(n)) {
                    Ok(names)
                } else {
                    Err(format!("not all of {expected:?} in {names:?}"))
                }
            })
        };
        let (here, there) = (settled(&mut on_a[i / per]), settled(watcher));
        assert_eq!(here, there, "{chan}: the same members and prefixes on both nodes");
        assert_eq!(bare(&here), expected, "{chan}: only those told they got in");
    }
}

/// ChanServ's REGISTER is sequenced too: the founder's account gets past the
/// channel's modes once it is registered, so a JOIN racing the registration
/// is decided alike on both nodes. Forty `+l 2` channels (four founders of
/// node a, ten each), not registered yet, have one free place each; in each,
/// a user of node b (`y`) takes it while another (`x`, logged in as the
/// founder's account) joins too and the founder registers the channel with
/// ChanServ, all at once. Every channel lists the same members on both nodes.
#[test]
fn joins_racing_a_registration_are_decided_alike_on_both_nodes() {
    let redis = Redis::start();
    let db = pg::database();
    let (a, b) = (pg_node(&redis, "a", &db), pg_node(&redis, "b", &db));
    let (mut founders, chans) = limited_channels_of_founders(&a, "#g", false);
    let n = chans.len();
    let mut xs: Vec<Client> = (0..n).map(|i| logged_in(b.port, &founder_of(i), &format!("x{i}"))).collect();
    let mut ys: Vec<Client> = (0..n).map(|i| b.client(&format!("y{i}"))).collect();
    let mut watcher = b.client("watcher");
    wait_member(&mut watcher, &chans[n - 1], &founder_of(n - 1));
    race_joins(&chans, &mut ys, &mut xs, |i, chan| {
        founders[i / 10].send(&format!("PRIVMSG ChanServ :REGISTER {chan}"));
    });
    let firsts: Vec<String> = (0..n).map(founder_of).collect();
    assert_joins_decided_alike(&mut founders, 10, &mut watcher, &chans, &firsts, &mut ys, &mut xs);
}

#[test]
fn sessions_survive_a_redis_restart_with_its_data() {
    let mut redis = Redis::start();
    let (a, b) = (node(&redis, "a"), node(&redis, "b"));
    let mut alice = in_channel(&a, "alice", "#room");
    let mut bob = b.client("bob");
    join_after(&mut bob, "#room", "alice");
    alice.expect("JOIN");
    redis.restart();
    // Nobody left, and the nodes carry on: messages both ways (none lost
    // while the connections come back), a nick still taken across, a new
    // user seen on the other node.
    for i in 0..10 {
        alice.send(&format!("PRIVMSG #room :after-{i}"));
    }
    for i in 0..10 {
        let (line, _) = bob.expect_where("PRIVMSG", |l| command_of(l) == "PRIVMSG");
        assert!(line.ends_with(&format!(":after-{i}")), "{line}");
    }
    bob.send("PRIVMSG #room :back");
    alice.expect_where("back", |l| l.ends_with(":back"));
    let mut fresh = b.connect();
    assert_eq!(try_register(&mut fresh, "alice", "x"), "433");
    let _carol = b.client("carol");
    wait_user(&mut alice, "carol");
    for c in [&mut alice, &mut bob] {
        assert!(c.sync().iter().all(|l| command_of(l) != "QUIT"), "nobody quit");
    }
    let logged: Vec<String> = [&a, &b].iter().flat_map(|s| s.log.try_iter()).collect();
    assert!(!logged.iter().any(|l| l.contains("left the network")), "{logged:#?}");
}

/// The next line of `s`'s log that contains `what` (skipping the others).
fn logged(s: &Server, what: &str) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = s.log.recv_timeout(left).unwrap_or_else(|e| panic!("the node never logged {what:?} ({e:?})"));
        if line.contains(what) {
            return line;
        }
    }
}

/// The port `s` listens on after it restarted itself (its log says so again).
fn relistened(s: &Server) -> u16 {
    listening_port(&logged(s, "listening on 127.0.0.1:")).expect("port")
}

#[test]
fn after_redis_restarts_empty_the_nodes_restart_and_clients_chat_again() {
    let mut redis = Redis::start();
    let (a, b) = (node(&redis, "a"), node(&redis, "b"));
    let mut alice = a.client("alice");
    let mut bob = b.client("bob");
    wait_user(&mut alice, "bob");
    redis.restart_empty();
    // Each node finds it is no longer a member of the network: its clients
    // are told why, and it restarts itself.
    told_error([&mut alice, &mut bob], "lost its place in the network");
    // Back in the network, its first clients already see each other's node.
    let (_carol, mut dave, [_, port_b]) = chatting_after_restart(&a, &b);
    // The old users are gone everywhere, and their nicks free.
    dave.send("WHOIS alice");
    dave.expect("401");
    let mut again = Client::connect(port_b);
    assert_eq!(try_register(&mut again, "alice", "x"), "001");
}

/// Each of `clients` gets an ERROR saying `why`.
fn told_error(clients: [&mut Client; 2], why: &str) {
    for c in clients {
        let (error, _) = c.expect_where("ERROR", |l| command_of(l) == "ERROR");
        assert!(error.contains(why), "{error}");
    }
}

/// Once nodes `a` and `b` restarted themselves and listen again: a new
/// client on each, carol on A and dave on B, sees the other, and carol's
/// message reaches dave; returns them and the ports A and B listen on now.
fn chatting_after_restart(a: &Server, b: &Server) -> (Client, Client, [u16; 2]) {
    let (port_a, port_b) = (relistened(a), relistened(b));
    let mut carol = Client::connect(port_a);
    carol.register("carol");
    let mut dave = Client::connect(port_b);
    dave.register("dave");
    wait_user(&mut carol, "dave");
    wait_user(&mut dave, "carol");
    carol.send("PRIVMSG dave :hello again");
    assert_eq!(dave.expect("PRIVMSG"), ":carol!~carol@127.0.0.1 PRIVMSG dave :hello again");
    (carol, dave, [port_a, port_b])
}

#[test]
fn nodes_whose_redis_stays_away_past_the_grace_period_disconnect_and_come_back_with_it() {
    let mut redis = Redis::start();
    let with_grace = |name| Server::start_with(&format!("{}grace_ms = 1500\n", node_config(&redis, name, 5000, None)));
    let (a, b) = (with_grace("a"), with_grace("b"));
    let mut alice = a.client("alice");
    let mut bob = b.client("bob");
    wait_user(&mut alice, "bob");
    redis.stop();
    // Past the grace period neither node carries on alone: each tells its
    // clients why and restarts, and the new process waits for Redis before
    // it listens (its tries are logged).
    told_error([&mut alice, &mut bob], "lost contact with the rest of the network");
    for s in [&a, &b] {
        logged(s, "cannot join the network yet");
    }
    redis.resume();
    let (mut carol, mut dave, _) = chatting_after_restart(&a, &b);
    // The nodes' earlier lives are reaped once their liveness keys expire.
    ask_until(&mut dave, "WHOIS alice", "401", |l| command_of(l) == "401");
    ask_until(&mut carol, "WHOIS bob", "401", |l| command_of(l) == "401");
}

#[test]
fn a_node_reaped_while_paused_restarts_and_rejoins() {
    let redis = Redis::start();
    let (a, b) = (node_with_ttl(&redis, "a", 2000), node(&redis, "b"));
    let mut alice = in_channel(&a, "alice", "#room");
    let mut bob = b.client("bob");
    join_after(&mut bob, "#room", "alice");
    // Paused longer than its TTL: the others take it down. What alice
    // sends meanwhile waits in the socket for the paused node.
    a.signal("STOP");
    assert_eq!(bob.expect("QUIT"), ":alice!~alice@127.0.0.1 QUIT :*.net *.split");
    for i in 0..20 {
        alice.send(&format!("PRIVMSG #room :zombie {i}"));
    }
    // Woken up, it finds it is no longer a member: it does not carry on
    // with users the others think gone, but restarts and joins again; and
    // nothing it had queued reaches the log after its NodeDown.
    a.signal("CONT");
    let (error, _) = alice.expect_where("ERROR", |l| command_of(l) == "ERROR");
    assert!(error.contains("lost its place in the network"), "{error}");
    let zombies = "local n = 0 for _, e in ipairs(redis.call('XRANGE', KEYS[1], '-', '+')) do \
                   if string.find(e[2][2], 'zombie', 1, true) then n = n + 1 end end return n";
    assert_eq!(redis.command(&["EVAL", zombies, "1", "banter:log"]).as_deref(), Some(":0"));
    let mut carol = Client::connect(relistened(&a));
    carol.register("carol");
    wait_user(&mut carol, "bob");
    carol.send("JOIN #room");
    let names = carol.collect_until("366");
    assert!(names.iter().any(|l| command_of(l) == "353" && params_of(l)[3] == "bob carol"), "{names:?}");
    assert!(bob.expect("JOIN").starts_with(":carol!"));
    let mut again = b.connect();
    assert_eq!(try_register(&mut again, "alice", "x"), "001");
}

#[test]
fn a_rename_on_one_node_renames_the_channel_on_every_node() {
    let redis = Redis::start();
    let (a, b) = (node(&redis, "a"), node(&redis, "b"));
    let mut alice = with_caps(&a, "alice", "draft/channel-rename");
    alice.send("JOIN #old");
    alice.expect("366");
    alice.send("TOPIC #old :kept");
    alice.expect("TOPIC");
    let mut bob = with_caps(&b, "bob", "draft/channel-rename");
    let mut carol = b.client("carol");
    wait_member(&mut bob, "#old", "alice");
    for c in [&mut bob, &mut carol] {
        c.send("JOIN #old");
        c.expect("366");
    }
    wait_member(&mut alice, "#old", "carol");
    alice.send("RENAME #old #new tidy");
    assert_eq!(alice.expect("RENAME"), ":alice!~alice@127.0.0.1 RENAME #old #new tidy");
    // B's members see it as their own node's members would: RENAME with
    // the capability, leaving and joining without.
    assert_eq!(bob.expect("RENAME"), ":alice!~alice@127.0.0.1 RENAME #old #new tidy");
    let burst = carol.collect_until("366");
    assert_eq!(burst[0], ":carol!~carol@127.0.0.1 PART #old :tidy");
    assert_eq!(burst[1], ":carol!~carol@127.0.0.1 JOIN #new");
    assert!(burst.iter().any(|l| command_of(l) == "332" && l.ends_with(":kept")), "{burst:?}");
    assert!(in_names(&burst, "@alice"), "{burst:?}");
    // B's copy has the new name, topic and ops; the old name is gone there.
    bob.send("NAMES #new");
    assert!(in_names(&bob.collect_until("366"), "@alice"));
    assert_eq!(first_answer(&mut bob, "TOPIC #new", "332")[2], "kept");
    bob.send("NAMES #old");
    assert!(!bob.sync().iter().any(|l| command_of(l) == "353"), "#old is gone on B");
    // The new name is taken across the network and the old one free: a
    // user of B joining #new joins alice's channel without ops, and #old is
    // a new channel of its own.
    let mut dave = b.client("dave");
    dave.send("JOIN #new");
    let names = dave.collect_until("366");
    assert!(in_names(&names, "@alice") && in_names(&names, "dave"), "{names:?}");
    dave.send("JOIN #old");
    assert!(dave.expect("353").ends_with(":@dave"), "#old was free and dave created it");
    // A rename onto a name the other node's users hold is refused.
    alice.send("RENAME #new #old");
    let fail = alice.expect("FAIL");
    assert!(fail.contains("FAIL RENAME CHANNEL_NAME_IN_USE #new #old"), "{fail}");
    // And a node started afterwards has the channel under its new name.
    let c_node = node(&redis, "c");
    let mut erin = c_node.client("erin");
    erin.send("NAMES #new");
    let names = erin.collect_until("366");
    assert!(in_names(&names, "@alice") && in_names(&names, "carol"), "{names:?}");
}

/// The members NAMES lists for `chan` (with their prefixes), sorted.
fn names_of(c: &mut Client, chan: &str) -> Vec<String> {
    c.send(&format!("NAMES {chan}"));
    let mut names: Vec<String> = c
        .collect_until("366")
        .iter()
        .filter(|l| command_of(l) == "353")
        .flat_map(|l| params_of(l)[3].split(' ').map(str::to_owned).collect::<Vec<_>>())
        .collect();
    names.sort();
    names
}

#[test]
fn a_rename_racing_a_join_of_the_new_name_ends_the_same_on_both_nodes() {
    let redis = Redis::start();
    let (a, b) = (node(&redis, "a"), node(&redis, "b"));
    let mut alice = a.client("alice");
    let mut carol = b.client("carol");
    wait_user(&mut alice, "carol");
    for i in 0..20 {
        alice.send(&format!("JOIN #r{i}"));
        alice.expect("366");
    }
    wait_member(&mut carol, "#r19", "alice");
    // Each rename and a join of its new name at the same instant: either
    // the rename wins the name (carol's JOIN lands in the renamed channel,
    // on B by merging the channel it made meanwhile) or the join does (the
    // rename is refused); both nodes must end with the same rooms.
    // The join follows the rename by 0 to 4.75 ms, so that some land in the
    // moment between the rename's claim and its arrival on B.
    for i in 0..20 {
        alice.send(&format!("RENAME #r{i} #n{i}"));
        std::thread::sleep(Duration::from_micros(250 * i));
        carol.send(&format!("JOIN #n{i}"));
    }
    for chan in (0..20).flat_map(|i| [format!("#r{i}"), format!("#n{i}")]) {
        poll(|| {
            let (on_a, on_b) = (names_of(&mut alice, &chan), names_of(&mut carol, &chan));
            if on_a == on_b {
                Ok(())
            } else {
                Err(format!("{chan}: A has {on_a:?}, B has {on_b:?}"))
            }
        });
    }
}

/// Sends ChanServ `command` until one of its NOTICEs contains `text` (a
/// change made on another node has arrived); returns that NOTICE.
fn cs_until(c: &mut Client, command: &str, text: &str) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let answer = cs(c, command);
        if let Some(hit) = answer.iter().find(|l| l.contains(text)) {
            return hit.clone();
        }
        assert!(Instant::now() < deadline, "ChanServ {command} never said {text:?}; last: {answer:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until the node of `c` shows `nick` with ops in NAMES of `chan`.
fn wait_op(c: &mut Client, chan: &str, nick: &str) {
    let op = format!("@{nick}");
    ask_until(c, &format!("NAMES {chan}"), &format!("{nick} op in {chan}"), |l| {
        command_of(l) == "353"
            && params_of(l)[2].eq_ignore_ascii_case(chan)
            && params_of(l)[3].split(' ').any(|n| n == op)
    });
}

/// REGISTER of account `name` by a registered client; waits for its SUCCESS.
fn register_account(c: &mut Client, name: &str) {
    c.send(&format!("REGISTER {name} * {name}-password"));
    let (reply, _) = c.expect_where("REGISTER reply", |l| l.contains("REGISTER"));
    assert!(reply.contains("REGISTER SUCCESS"), "{reply}");
}

/// A client of the node on `port` logged in as `account` with PASS, under `nick`.
fn logged_in(port: u16, account: &str, nick: &str) -> Client {
    let mut c = Client::connect(port);
    c.send(&format!("PASS {account}:{account}-password"));
    let burst = c.register(nick);
    assert!(burst.iter().any(|l| command_of(l) == "900"), "{nick} not logged in as {account}: {burst:?}");
    c
}

/// SASL PLAIN as `account` with `password` under `nick` on the node on
/// `port`; returns the numeric that ended it (900 then 903, or 904) and the
/// client, registered when it succeeded.
fn sasl_plain(port: u16, nick: &str, account: &str, password: &str) -> (String, Client) {
    use base64::Engine;
    let mut c = Client::connect(port);
    c.send("CAP LS 302");
    c.send("CAP REQ :sasl");
    c.send(&format!("NICK {nick}"));
    c.send("USER u 0 * :sasl");
    c.expect_where("CAP ACK", |l| l.contains(" ACK "));
    c.send("AUTHENTICATE PLAIN");
    assert!(c.expect("AUTHENTICATE").ends_with("AUTHENTICATE +"));
    let blob = base64::engine::general_purpose::STANDARD.encode(format!("\0{account}\0{password}"));
    c.send(&format!("AUTHENTICATE {blob}"));
    let (end, _) = c.expect_where("903 or 904", |l| matches!(command_of(l), "903" | "904"));
    if command_of(&end) == "903" {
        c.send("CAP END");
        c.expect("001");
        c.nick = nick.to_owned();
    }
    (end, c)
}

#[test]
fn a_read_marker_set_on_one_node_reaches_the_accounts_sessions_on_the_other() {
    let redis = Redis::start();
    let db = pg::database();
    let (a, b) = (pg_node(&redis, "a", &db), pg_node(&redis, "b", &db));
    let mut ann = with_caps(&a, "ann", "draft/read-marker");
    register_account(&mut ann, "ann");
    ann.send("JOIN #room");
    ann.collect_until("366");
    let mut phone = with_caps_and_pass(&b, "annphone", "draft/read-marker", Some("ann:ann-password"));
    wait_member(&mut phone, "#room", "ann");
    phone.send("JOIN #room");
    phone.collect_until("366");
    let marker = ":test.banter MARKREAD #room timestamp=2026-01-01T00:00:00.000Z";
    ann.send("MARKREAD #room timestamp=2026-01-01T00:00:00.000Z");
    assert_eq!(ann.expect("MARKREAD"), marker);
    // The account's session on B is told, and B answers with the marker.
    phone.expect_where("the marker from A", |l| l == marker);
    phone.send("MARKREAD #room");
    assert_eq!(phone.expect("MARKREAD"), marker);
    // And back the other way; an older marker does not move it.
    let later = ":test.banter MARKREAD #room timestamp=2026-01-02T00:00:00.000Z";
    phone.send("MARKREAD #room timestamp=2026-01-02T00:00:00.000Z");
    assert_eq!(phone.expect("MARKREAD"), later);
    ann.expect_where("the marker from B", |l| l == later);
    ann.send("MARKREAD #room timestamp=2025-12-31T00:00:00.000Z");
    assert_eq!(ann.expect("MARKREAD"), later);
}

#[test]
fn metadata_of_users_and_channels_reaches_the_other_nodes_subscribers() {
    const META: &str = "draft/metadata-3";
    let redis = Redis::start();
    let (a, b) = (node(&redis, "a"), node(&redis, "b"));
    let mut alice = with_caps(&a, "alice", META);
    alice.send("JOIN #room");
    alice.collect_until("366");
    let mut bob = with_caps(&b, "bob", META);
    bob.send("METADATA * SUB avatar");
    bob.sync();
    wait_member(&mut bob, "#room", "alice");
    bob.send("JOIN #room");
    bob.collect_until("366");
    wait_member(&mut alice, "#room", "bob");
    // A user's key, set and removed on A: B's subscriber in a shared
    // channel is told each time, and B answers GET.
    alice.send("METADATA * SET avatar :https://example.com/a.png");
    let told = bob.expect("761");
    assert_eq!(params_of(&told), ["bob", "alice", "avatar", "*", "https://example.com/a.png"]);
    assert_eq!(first_answer(&mut bob, "METADATA alice GET avatar", "761")[4], "https://example.com/a.png");
    // A channel's (not registered: no store involved).
    alice.send("METADATA #room SET avatar :room.png");
    assert_eq!(params_of(&bob.expect("761")), ["bob", "#room", "avatar", "*", "room.png"]);
    assert_eq!(first_answer(&mut bob, "METADATA #room GET avatar", "761")[4], "room.png");
    alice.send("METADATA * SET avatar");
    assert_eq!(params_of(&bob.expect("766"))[1..3], ["alice", "avatar"]);
    // Keys set before registration follow the user to the other node.
    let mut early = a.connect();
    early.send("CAP LS 302");
    early.send(&format!("CAP REQ :{META}"));
    early.expect("CAP");
    early.send("METADATA * SET display-name :Early");
    early.expect("761");
    early.send("CAP END");
    early.register("early");
    wait_user(&mut bob, "early");
    assert_eq!(first_answer(&mut bob, "METADATA early GET display-name", "761")[4], "Early");
}

#[test]
fn regain_takes_a_nick_back_from_a_user_of_either_node() {
    let redis = Redis::start();
    let db = pg::database();
    let (a, b) = (pg_node(&redis, "a", &db), pg_node(&redis, "b", &db));
    // ann (the account) holds its nick on B; its owner, logged in on A
    // under another nick, takes it back.
    let mut holder = b.client("ann");
    register_account(&mut holder, "ann");
    let mut watcher = b.client("watcher");
    holder.send("JOIN #room");
    holder.collect_until("366");
    watcher.send("JOIN #room");
    watcher.collect_until("366");
    let mut owner = logged_in(a.port, "ann", "ann2");
    wait_user(&mut owner, "ann");
    owner.send("REGAIN ann");
    assert_eq!(owner.expect("NICK"), ":ann2!~ann2@127.0.0.1 NICK ann");
    let (renamed, _) = holder.expect_where("NICK to a guest", |l| command_of(l) == "NICK");
    assert!(renamed.starts_with(":ann!") && renamed.contains(" NICK Guest"), "{renamed}");
    assert!(holder.expect("NOTE").contains("NOTE NICK REGAINED ann "));
    assert!(watcher.expect("NICK").contains(" NICK Guest"));
    // Both nodes agree on who is ann now.
    let guest = params_of(&renamed)[0].clone();
    for c in [&mut watcher, &mut owner] {
        ask_until(c, "WHOIS ann", "ann is the owner", |l| command_of(l) == "311" && params_of(l)[2] == "~ann2");
        ask_until(c, &format!("WHOIS {guest}"), "the guest", |l| command_of(l) == "311");
    }
    // A holder on the regaining user's own node: its guest nick is claimed
    // in the network too, so B sees both changes.
    let mut again = logged_in(a.port, "ann", "ann3");
    again.send("REGAIN ann");
    assert_eq!(again.expect("NICK"), ":ann3!~ann3@127.0.0.1 NICK ann");
    assert!(owner.expect_where("NICK to a guest", |l| command_of(l) == "NICK").0.contains(" NICK Guest"));
    ask_until(&mut watcher, "WHOIS ann", "ann is ann3", |l| command_of(l) == "311" && params_of(l)[2] == "~ann3");
}

#[test]
fn an_account_registered_on_one_node_logs_in_on_the_other() {
    let redis = Redis::start();
    let db = pg::database();
    let (a, b) = (pg_node(&redis, "a", &db), pg_node(&redis, "b", &db));
    let mut ann = a.client("ann");
    register_account(&mut ann, "ann");
    // PASS on B, under another nick (ann is taken, on A).
    let _by_pass = logged_in(b.port, "ann", "ann2");
    // SASL PLAIN on B: a wrong password is refused, the right one logs in.
    let (end, _) = sasl_plain(b.port, "wrong3", "ann", "wrong-password");
    assert_eq!(command_of(&end), "904", "{end}");
    let (end, mut by_sasl) = sasl_plain(b.port, "ann3", "ann", "ann-password");
    assert_eq!(command_of(&end), "903", "{end}");
    by_sasl.send("WHOIS ann3");
    assert!(by_sasl.collect_until("318").iter().any(|l| command_of(l) == "330" && params_of(l)[2] == "ann"));
    // A sees B's sessions logged in to the account made on A.
    wait_user(&mut ann, "ann2");
    ann.send("WHOIS ann2");
    let whois = ann.collect_until("318");
    assert!(whois.iter().any(|l| command_of(l) == "330" && params_of(l)[2] == "ann"), "{whois:?}");
}

#[test]
fn after_redis_restarts_empty_registered_channels_come_back_from_postgres() {
    let mut redis = Redis::start();
    let db = pg::database();
    let (a, b) = (pg_node(&redis, "a", &db), pg_node(&redis, "b", &db));
    let mut alice = a.client("alice");
    register_account(&mut alice, "alice");
    alice.send("JOIN #kept");
    alice.expect("366");
    let r = cs(&mut alice, "REGISTER #kept");
    assert!(r.iter().any(|l| l.contains("now registered")), "{r:?}");
    alice.send("TOPIC #kept :kept topic");
    alice.expect("TOPIC");
    alice.send("MODE #kept +m");
    alice.expect("MODE");
    alice.send("MODE #kept +b spam!*@*");
    alice.expect("MODE");
    // Each command's reply waits for its commit: at the sync point all is saved.
    alice.sync();
    let mut bob = b.client("bob");
    wait_member(&mut bob, "#kept", "alice");
    let mut store = pg::pg().client(pg::db_name(&db)).expect("connect");
    let position = |store: &mut postgres::Client| -> i64 {
        store.query_one("SELECT log_ms FROM channels WHERE folded = '#kept'", &[]).unwrap().get(0)
    };
    assert!(position(&mut store) > 0, "saved at its place in the log");
    redis.restart_empty();
    for c in [&mut alice, &mut bob] {
        let (error, _) = c.expect_where("ERROR", |l| command_of(l) == "ERROR");
        assert!(error.contains("lost its place in the network"), "{error}");
    }
    let (port_a, port_b) = (relistened(&a), relistened(&b));
    // A new log began: the old one's positions say nothing about its own.
    assert_eq!(position(&mut store), 0, "the old log's position forgotten");
    // Both nodes list the channel, empty, with its topic and modes.
    for (port, nick) in [(port_a, "looker_a"), (port_b, "looker_b")] {
        let mut c = Client::connect(port);
        c.register(nick);
        c.send("LIST #kept");
        let list = c.collect_until("323");
        let entry = list.iter().find(|l| command_of(l) == "322").unwrap_or_else(|| panic!("not listed: {list:?}"));
        let p = params_of(entry);
        assert_eq!(p[2], "0", "{entry}");
        let (modes, topic) = p[3].split_once("] ").unwrap_or_else(|| panic!("{entry}"));
        assert!(modes.starts_with("[+") && modes.contains('m'), "{entry}");
        assert_eq!(topic, "kept topic", "{entry}");
        c.send("QUIT");
    }
    // The founder gets ops on joining on either node, and both see it; the
    // ban list (shown to members) is there on both.
    let mut founder_a = logged_in(port_a, "alice", "alice");
    founder_a.send("JOIN #kept");
    let burst = founder_a.collect_until("366");
    assert!(burst.iter().any(|l| command_of(l) == "353" && params_of(l)[3] == "@alice"), "{burst:?}");
    let mut founder_b = logged_in(port_b, "alice", "alice_b");
    wait_member(&mut founder_b, "#kept", "alice");
    founder_b.send("JOIN #kept");
    let burst = founder_b.collect_until("366");
    let names = burst.iter().find(|l| command_of(l) == "353").unwrap_or_else(|| panic!("{burst:?}"));
    let mut nicks: Vec<String> = params_of(names)[3].split(' ').map(str::to_owned).collect();
    nicks.sort();
    assert_eq!(nicks, ["@alice", "@alice_b"], "{names}");
    wait_op(&mut founder_a, "#kept", "alice_b");
    for c in [&mut founder_a, &mut founder_b] {
        c.send("MODE #kept +b");
        let bans = c.collect_until("368");
        assert!(bans.iter().any(|l| command_of(l) == "367" && params_of(l)[2] == "spam!*@*"), "{bans:?}");
    }
    // And they chat again.
    founder_a.send("PRIVMSG #kept :welcome back");
    assert!(founder_b.expect("PRIVMSG").ends_with("PRIVMSG #kept :welcome back"));
}

/// Whether a JOIN's NAMES replies (`burst`) list `entry` (a nick with its prefix).
fn in_names(burst: &[String], entry: &str) -> bool {
    burst.iter().any(|l| command_of(l) == "353" && params_of(l)[3].split(' ').any(|n| n == entry))
}

/// The MODE lines `c` reads until it has read the channel messages `a`
/// and `b` (each node's last word), their source and parameters.
fn modes_until(c: &mut Client, a: &str, b: &str) -> Vec<String> {
    let (mut lines, mut seen) = (Vec::new(), (false, false));
    while !(seen.0 && seen.1) {
        let (line, _) = c.expect_where("MODE or a last word", |l| ["MODE", "PRIVMSG"].contains(&command_of(l)));
        match command_of(&line) {
            "MODE" => lines.push(format!("{} {}", &line[1..line.find('!').unwrap()], params_of(&line)[1..].join(" "))),
            _ => seen = (seen.0 || line.ends_with(a), seen.1 || line.ends_with(b)),
        }
    }
    lines
}

/// ChanServ's prefix changes are sequenced like MODE: the founder (node a)
/// has ChanServ voice and devoice dave ten times while an op of node b
/// does the same with MODE, all at once; a member of each node sees the
/// same MODE lines in the same order.
#[test]
fn chanserv_and_mode_changes_racing_are_seen_in_one_order() {
    let redis = Redis::start();
    let db = pg::database();
    let (a, b) = (pg_node(&redis, "a", &db), pg_node(&redis, "b", &db));
    let mut alice = a.client("alice");
    register_account(&mut alice, "alice");
    alice.send("JOIN #cs");
    alice.expect("366");
    let r = cs(&mut alice, "REGISTER #cs");
    assert!(r.iter().any(|l| l.contains("now registered")), "{r:?}");
    let mut bob = b.client("bob");
    join_after(&mut bob, "#cs", "alice");
    alice.expect("JOIN");
    alice.send("MODE #cs +o bob");
    bob.expect("MODE");
    let mut dave = in_channel(&b, "dave", "#cs");
    let mut erin = in_channel(&a, "erin", "#cs");
    wait_member(&mut erin, "#cs", "dave");
    wait_member(&mut dave, "#cs", "erin");
    let by_cs = (0..10).map(|_| "PRIVMSG ChanServ :VOICE #cs dave\r\nPRIVMSG ChanServ :DEVOICE #cs dave\r\n");
    let by_mode = (0..10).map(|_| "MODE #cs +v dave\r\nMODE #cs -v dave\r\n");
    alice.send_raw(by_cs.collect::<String>().as_bytes());
    bob.send_raw(by_mode.collect::<String>().as_bytes());
    alice.send("PRIVMSG #cs :last-a");
    bob.send("PRIVMSG #cs :last-b");
    let (on_a, on_b) = (modes_until(&mut erin, "last-a", "last-b"), modes_until(&mut dave, "last-a", "last-b"));
    assert_eq!(on_a, on_b, "the same prefix changes in the same order on both nodes");
    assert!(on_a.iter().any(|m| m.starts_with("ChanServ ")), "{on_a:?}");
}

#[test]
fn chanserv_registrations_reach_the_nodes_already_running() {
    chanserv_registrations_travel(None);
}

#[test]
fn a_node_started_after_snapshots_has_the_chanserv_registrations_as_the_log_ends_them() {
    chanserv_registrations_travel(Some(5));
}

/// REGISTER, AMODE, TRANSFER and DROP on two nodes sharing a PostgreSQL
/// store reach the other node, and a node started afterwards has the
/// registration as the log ends it; with `snapshot_every` set, from a
/// snapshot (the log's start is trimmed by then).
fn chanserv_registrations_travel(snapshot_every: Option<u64>) {
    let redis = Redis::start();
    let db = pg::database();
    let node = |name| pg_node_with(&redis, name, &db, snapshot_every);
    let (a, b) = (node("a"), node("b"));
    let mut alice = a.client("alice");
    register_account(&mut alice, "alice");
    let mut bob = b.client("bob");
    register_account(&mut bob, "bob");
    alice.send("JOIN #reg");
    alice.expect("366");
    let r = cs(&mut alice, "REGISTER #reg");
    assert!(r.iter().any(|l| l.contains("now registered")), "{r:?}");
    // B knows it is registered, without a restart.
    let mut carol = b.client("carol");
    cs_until(&mut carol, "INFO #reg", "Founder: alice");
    // AMODE on A: B's access list has it, and bob gets ops on joining on B
    // (A knows bob's account once B's REGISTER has reached it).
    cs_until(&mut alice, "AMODE #reg +o bob", "bob now gets +o");
    cs_until(&mut carol, "AMODE #reg", "bob +o");
    bob.send("JOIN #reg");
    let burst = bob.collect_until("366");
    assert!(in_names(&burst, "@bob"), "{burst:?}");
    wait_op(&mut alice, "#reg", "bob");
    // The founder, logged in on B, gets ops there.
    let mut alice_b = logged_in(b.port, "alice", "alice_b");
    alice_b.send("JOIN #reg");
    let burst = alice_b.collect_until("366");
    assert!(in_names(&burst, "@alice_b"), "{burst:?}");
    // AMODE -o on A: gone from B's list, and bob joins again on B without ops.
    let r = cs(&mut alice, "AMODE #reg -o bob");
    assert!(r.iter().any(|l| l.contains("no longer gets +o")), "{r:?}");
    let deadline = Instant::now() + WAIT;
    while cs(&mut carol, "AMODE #reg").iter().any(|l| l.contains("bob +o")) {
        assert!(Instant::now() < deadline, "bob's AMODE -o never reached B");
        std::thread::sleep(Duration::from_millis(50));
    }
    bob.send("PART #reg");
    bob.expect("PART");
    bob.send("JOIN #reg");
    let burst = bob.collect_until("366");
    assert!(in_names(&burst, "bob"), "{burst:?}");
    // TRANSFER on A: B names bob the founder, and bob DROPs it on B; A forgets it.
    let r = cs(&mut alice, "TRANSFER #reg bob");
    assert!(r.iter().any(|l| l.contains("now belongs to bob")), "{r:?}");
    cs_until(&mut carol, "INFO #reg", "Founder: bob");
    let r = cs(&mut bob, "DROP #reg");
    assert!(r.iter().any(|l| l.contains("no longer registered")), "{r:?}");
    cs_until(&mut alice, "INFO #reg", "is not registered");
    // Registered again on A: B knows the new registration.
    let r = cs(&mut alice, "REGISTER #reg");
    assert!(r.iter().any(|l| l.contains("now registered")), "{r:?}");
    cs_until(&mut carol, "INFO #reg", "Founder: alice");
    // An AMODE on A gives the status at once to a member on B.
    let r = cs(&mut alice, "AMODE #reg +v bob");
    assert!(r.iter().any(|l| l.contains("bob now gets +v")), "{r:?}");
    let (mode, _) = bob.expect_where("MODE +v bob", |l| command_of(l) == "MODE");
    assert!(mode.starts_with(":ChanServ!") && mode.ends_with(" MODE #reg +v bob"), "{mode}");
    // A node started now has the registration as the log ends it.
    if snapshot_every.is_some() {
        // A snapshot is due once the log has grown by as many events as the
        // last one held (more than 5 here): away messages until one trims.
        let deadline = Instant::now() + WAIT;
        for round in 0.. {
            if redis.bulk(&["GET", "banter:trimmed"]).is_some() {
                break;
            }
            assert!(Instant::now() < deadline, "the log's start was never trimmed");
            alice.send(&format!("AWAY :away {round}"));
            alice.sync();
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let c = node("c");
    let mut dave = c.client("dave");
    let info = cs(&mut dave, "INFO #reg");
    assert!(info.iter().any(|l| l == "Founder: alice"), "{info:?}");
    let list = cs(&mut dave, "AMODE #reg");
    let entries: Vec<&String> = list.iter().filter(|l| l.starts_with("  ")).collect();
    assert_eq!(entries, ["  alice +o (founder)", "  bob +v"], "{list:?}");
}

/// The PRIVMSG texts, with their msgids, of the latest history with `target`
/// (a channel or a nick).
fn history_texts(c: &mut Client, target: &str) -> Vec<(String, String)> {
    common::history_batch(c, &format!("CHATHISTORY LATEST {target} * 50"))
        .iter()
        .filter(|l| command_of(l) == "PRIVMSG")
        .map(|l| (params_of(l)[1].clone(), common::tag(l, "msgid").unwrap_or_default().to_owned()))
        .collect()
}

#[test]
fn chathistory_on_one_node_has_the_messages_sent_on_the_other() {
    let redis = Redis::start();
    let db = pg::database();
    let (a, b) = (pg_node(&redis, "a", &db), pg_node(&redis, "b", &db));
    let caps = "batch server-time message-tags draft/chathistory echo-message";
    let mut alice = common::with_caps(&a, "alice", caps);
    alice.send("JOIN #talk");
    alice.expect("366");
    let mut bob = common::with_caps(&b, "bob", caps);
    join_after(&mut bob, "#talk", "alice");
    alice.expect("JOIN");
    // Each node reads the channel's history once first, so that anything it
    // keeps of it in memory is there before the messages are sent.
    assert_eq!(history_texts(&mut alice, "#talk"), []);
    assert_eq!(history_texts(&mut bob, "#talk"), []);
    for i in 0..5 {
        alice.send(&format!("PRIVMSG #talk :from-a-{i}"));
    }
    for i in 0..3 {
        bob.send(&format!("PRIVMSG #talk :from-b-{i}"));
    }
    // Every message as delivered live on each node, with its msgid.
    let live = |c: &mut Client| -> Vec<(String, String)> {
        (0..8)
            .map(|_| {
                let l = c.expect("PRIVMSG");
                (params_of(&l)[1].clone(), common::tag(&l, "msgid").unwrap_or_default().to_owned())
            })
            .collect()
    };
    let (live_a, live_b) = (live(&mut alice), live(&mut bob));
    let sorted = |mut v: Vec<(String, String)>| {
        v.sort();
        v
    };
    assert_eq!(sorted(live_a.clone()), sorted(live_b), "the same messages and msgids on both nodes");
    // Each node's history has all eight, as sent (each sender's in order),
    // once the writers have stored them.
    for c in [&mut alice, &mut bob] {
        let deadline = Instant::now() + WAIT;
        let history = loop {
            let h = history_texts(c, "#talk");
            if h.len() >= 8 {
                break h;
            }
            assert!(Instant::now() < deadline, "{} has {} of 8 in history: {h:?}", c.nick, h.len());
            std::thread::sleep(Duration::from_millis(100));
        };
        assert_eq!(sorted(history.clone()), sorted(live_a.clone()), "{}", c.nick);
        for from in ["from-a-", "from-b-"] {
            let order: Vec<&str> = history.iter().map(|(t, _)| t.as_str()).filter(|t| t.starts_with(from)).collect();
            let mut expected = order.clone();
            expected.sort();
            assert_eq!(order, expected, "{}: {history:?}", c.nick);
        }
    }
}

/// Two nodes on one PostgreSQL database (and what keeps them running, and
/// the database's URL): alice, logged in on A, made and registered `chan`
/// with ChanServ; bob is connected to B. Both with `caps`.
fn registered_on_two_nodes(chan: &str, caps: &str) -> ((Redis, Server, Server, String), Client, Client) {
    let redis = Redis::start();
    let db = pg::database();
    let (a, b) = (pg_node(&redis, "a", &db), pg_node(&redis, "b", &db));
    let mut alice = common::with_caps(&a, "alice", caps);
    register_account(&mut alice, "alice");
    alice.send(&format!("JOIN {chan}"));
    alice.expect("366");
    let r = cs(&mut alice, &format!("REGISTER {chan}"));
    assert!(r.iter().any(|l| l.contains("now registered")), "{r:?}");
    let bob = common::with_caps(&b, "bob", caps);
    ((redis, a, b, db), alice, bob)
}

#[test]
fn a_registered_channels_metadata_reaches_the_other_node_through_the_store() {
    let (_nodes, mut alice, mut bob) = registered_on_two_nodes("#meta", "draft/metadata-3 batch");
    join_after(&mut bob, "#meta", "alice");
    alice.send("METADATA #meta SET url :https://example.com/meta");
    assert!(alice.expect("761").ends_with(" #meta url * :https://example.com/meta"));
    ask_until(&mut bob, "METADATA #meta GET url", "the channel's url on B", |l| {
        command_of(l) == "761" && l.ends_with(" #meta url * :https://example.com/meta")
    });
}

/// Sets METADATA `key` of `chan` on the node of `from` and waits until the
/// node of `to` answers it: every store notice `from`'s node sent before has
/// reached `to`'s node (one listener hears them in commit order).
fn metadata_marker(from: &mut Client, to: &mut Client, chan: &str, key: &str) {
    from.send(&format!("METADATA {chan} SET {key} :marker"));
    from.expect("761");
    ask_until(to, &format!("METADATA {chan} GET {key}"), &format!("{key} of {chan}"), |l| {
        command_of(l) == "761" && l.ends_with(&format!(" {chan} {key} * :marker"))
    });
}

#[test]
fn simultaneous_changes_to_a_registered_channel_end_the_same_everywhere_after_the_stores_notices() {
    let (nodes, mut alice, mut bob) = registered_on_two_nodes("#race", "draft/metadata-3 batch");
    // Each origin saves its own changes in the shared store; once each node
    // has also heard every notice of the other's saves (a metadata change
    // saved after them has arrived), both end the same.
    race_topic_and_key(&mut alice, &mut bob, |alice, bob| {
        metadata_marker(alice, bob, "#race", "from-a");
        metadata_marker(bob, alice, "#race", "from-b");
    });
    // And the store keeps what the log decided, not the last save to reach
    // it (each reply waited for its save: all are in).
    let shown = answers(&mut alice, "TOPIC #race", "333");
    let mut store = pg::pg().client(pg::db_name(&nodes.3)).expect("connect");
    let row = store.query_one("SELECT topic, chan_key FROM channels WHERE folded = '#race'", &[]).unwrap();
    let (topic, key): (String, String) = (row.get(0), row.get(1));
    assert_eq!(topic, shown[0].1[1], "the store's topic");
    let modes = answers(&mut alice, "MODE #race", "329");
    assert_eq!(modes[0].1[2..], [key], "the store's key");
}

#[test]
fn chathistory_of_direct_messages_between_accounts_on_two_nodes() {
    let redis = Redis::start();
    let db = pg::database();
    let (a, b) = (pg_node(&redis, "a", &db), pg_node(&redis, "b", &db));
    let caps = "batch server-time message-tags draft/chathistory";
    let mut alice = common::with_caps(&a, "alice", caps);
    register_account(&mut alice, "alice");
    let mut bob = common::with_caps(&b, "bob", caps);
    register_account(&mut bob, "bob");
    // Stored (not kept in memory) only between two accounts: A must know bob's.
    ask_until(&mut alice, "WHOIS bob", "bob's account on A", |l| command_of(l) == "330" && params_of(l)[2] == "bob");
    alice.send("PRIVMSG bob :hello bob");
    let got = bob.expect("PRIVMSG");
    let msgid = common::tag(&got, "msgid").expect("msgid").to_owned();
    for (c, with) in [(&mut bob, "alice"), (&mut alice, "bob")] {
        let deadline = Instant::now() + WAIT;
        loop {
            let h = history_texts(c, with);
            if !h.is_empty() {
                assert_eq!(h, [("hello bob".to_owned(), msgid.clone())], "{}", c.nick);
                break;
            }
            assert!(Instant::now() < deadline, "{} never had the message in its history with {with}", c.nick);
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[test]
fn chathistory_of_direct_messages_with_users_not_logged_in_on_both_nodes() {
    let redis = Redis::start();
    let (a, b) = (node(&redis, "a"), node(&redis, "b"));
    let caps = "batch server-time message-tags draft/chathistory";
    let mut xeno = with_caps(&a, "xeno", caps);
    let mut yuri = with_caps(&b, "yuri", caps);
    wait_user(&mut xeno, "yuri");
    wait_user(&mut yuri, "xeno");
    xeno.send("PRIVMSG yuri :from a");
    let there = yuri.expect("PRIVMSG");
    yuri.send("PRIVMSG xeno :from b");
    let back = xeno.expect("PRIVMSG");
    let msgid = |l: &str| common::tag(l, "msgid").expect("msgid").to_owned();
    // Neither is logged in: each node keeps the conversation in memory for
    // its own user, the relayed side included, with the msgids seen.
    let both = [("from a".to_owned(), msgid(&there)), ("from b".to_owned(), msgid(&back))];
    assert_eq!(history_texts(&mut xeno, "yuri"), both);
    assert_eq!(history_texts(&mut yuri, "xeno"), both);
}

/// Waits until a session of the database `lock` is on waits for a lock
/// (`what`, which the test's transaction `lock` holds back).
fn held(lock: &mut postgres::Transaction<'_>, what: &str) {
    poll(|| {
        let sql =
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'";
        let waiting: i64 = lock.query_one(sql, &[]).expect("pg_stat_activity").get(0);
        if waiting > 0 {
            Ok(())
        } else {
            Err(format!("{what} never reached the store"))
        }
    });
}

/// Two nodes' saves of a registered channel can reach the shared store in
/// either order; the store keeps the one the log has last. Node a's saves
/// are held (the row of its other registered channel #hold is locked while
/// alice's TOPIC there waits to be saved) while dave sets #late's topic on
/// node a and then bob sets it on node b, after dave's in the log. Once the
/// lock goes and node a's save of dave's topic reaches the store after
/// bob's, the store still has bob's topic, as both nodes show (before: dave's).
#[test]
fn a_save_reaching_the_store_late_does_not_undo_a_change_the_log_has_after_it() {
    let ((_redis, a, _b, db), mut alice, mut bob) = registered_on_two_nodes("#late", "");
    alice.send("JOIN #hold");
    alice.expect("366");
    let r = cs(&mut alice, "REGISTER #hold");
    assert!(r.iter().any(|l| l.contains("now registered")), "{r:?}");
    let mut dave = a.client("dave");
    for (c, nick) in [(&mut dave, "dave"), (&mut bob, "bob")] {
        join_after(c, "#late", "alice");
        alice.expect_where("its JOIN", |l| command_of(l) == "JOIN" && l[1..].starts_with(&format!("{nick}!")));
        alice.send(&format!("MODE #late +o {nick}"));
        c.expect("MODE");
    }
    let mut holder = pg::pg().client(pg::db_name(&db)).expect("connect");
    let mut lock = holder.transaction().expect("begin");
    lock.query("SELECT 1 FROM channels WHERE folded = '#hold' FOR UPDATE", &[]).expect("lock #hold");
    alice.send("TOPIC #hold :held");
    held(&mut lock, "the save of #hold");
    dave.send("TOPIC #late :from a");
    bob.expect_where("dave's TOPIC", |l| l.ends_with("TOPIC #late :from a"));
    bob.send("TOPIC #late :from b");
    bob.expect_where("his TOPIC, saved", |l| l.ends_with("TOPIC #late :from b"));
    lock.rollback().expect("unlock");
    dave.expect_where("his TOPIC, saved", |l| l.ends_with("TOPIC #late :from a"));
    alice.expect_where("her TOPIC, saved", |l| l.ends_with("TOPIC #hold :held"));
    let mut store = pg::pg().client(pg::db_name(&db)).expect("connect");
    let row = store.query_one("SELECT topic FROM channels WHERE folded = '#late'", &[]).unwrap();
    assert_eq!(row.get::<_, String>(0), "from b", "the store's topic");
    for c in [&mut dave, &mut bob] {
        assert_eq!(answers(c, "TOPIC #late", "333")[0].1[1], "from b", "{}'s node", c.nick);
    }
}

/// A channel is registered where the log has its registration, once the
/// store has decided it: not before, on either node, while the store is
/// held; a second REGISTER meanwhile is refused, and a channel emptied
/// meanwhile comes back registered.
#[test]
fn a_registration_is_made_once_the_store_has_decided_it() {
    let redis = Redis::start();
    let db = pg::database();
    let (a, b) = (pg_node(&redis, "a", &db), pg_node(&redis, "b", &db));
    let mut alice = a.client("alice");
    register_account(&mut alice, "alice");
    alice.send("JOIN #pend");
    alice.expect("366");
    let mut bob = a.client("bob");
    register_account(&mut bob, "bob");
    bob.send("JOIN #pend");
    bob.expect("366");
    alice.send("MODE #pend +o bob");
    bob.expect_where("+o bob", |l| l.ends_with("+o bob"));
    let mut carol = b.client("carol");
    wait_member(&mut carol, "#pend", "bob");
    // The store holds the REGISTER: its table is locked by another session.
    let mut holder = pg::pg().client(pg::db_name(&db)).expect("connect");
    let mut lock = holder.transaction().expect("begin");
    lock.batch_execute("LOCK TABLE channels IN ACCESS EXCLUSIVE MODE").expect("lock");
    alice.send("PRIVMSG ChanServ :REGISTER #pend");
    held(&mut lock, "the REGISTER");
    let r = cs(&mut bob, "REGISTER #pend");
    assert!(r.iter().any(|l| l.contains("#pend is being registered right now")), "{r:?}");
    for c in [&mut bob, &mut carol] {
        let r = cs(c, "INFO #pend");
        assert!(r.iter().any(|l| l.contains("#pend is not registered")), "{r:?}");
    }
    // The channel empties meanwhile (it ends, not being registered yet).
    bob.send("KICK #pend alice");
    bob.send("PART #pend");
    bob.expect("PART");
    lock.rollback().expect("unlock");
    let (done, _) = alice.expect_where("ChanServ's answer", |l| l.starts_with(":ChanServ!"));
    assert!(done.ends_with("#pend is now registered to your account alice."), "{done}");
    // The answer comes once the registration is made here: the channel is
    // made again, empty and registered, on both nodes.
    let r = cs(&mut bob, "INFO #pend");
    assert!(r.iter().any(|l| l.contains("Founder: alice")), "{r:?}");
    cs_until(&mut carol, "INFO #pend", "Founder: alice");
    alice.send("JOIN #pend");
    let names = alice.expect("353");
    assert!(names.ends_with(":@alice"), "the founder gets ops: {names}");
    let r = cs(&mut alice, "AMODE #pend +v bob");
    assert!(r.iter().any(|l| l.contains("bob now gets +v")), "{r:?}");
    cs_until(&mut carol, "AMODE #pend", "bob +v");
}

/// The lines `c` gets for a draft/multiline batch: its `BATCH +` line, then
/// the lines up to its `BATCH -`.
fn multiline_batch(c: &mut Client) -> (String, Vec<String>) {
    let open = c.expect("BATCH");
    let id = params_of(&open)[0].trim_start_matches('+').to_owned();
    let mut inner = Vec::new();
    loop {
        let l = c.recv();
        if command_of(&l) == "BATCH" && params_of(&l)[0] == format!("-{id}") {
            return (open, inner);
        }
        inner.push(l);
    }
}

/// Sends a draft/multiline batch: "hello", a concatenated "world", a blank
/// line and "again".
fn send_multiline(c: &mut Client, target: &str) {
    c.send(&format!("@+draft/reply=x BATCH +r draft/multiline {target}"));
    c.send(&format!("@batch=r PRIVMSG {target} :hello"));
    c.send(&format!("@batch=r;draft/multiline-concat PRIVMSG {target} :world"));
    c.send(&format!("@batch=r PRIVMSG {target} :"));
    c.send(&format!("@batch=r PRIVMSG {target} :again"));
    c.send("BATCH -r");
}

/// What a multiline batch (as [`send_multiline`] sends it) shows: its
/// lines' texts with their concat flags.
fn batch_texts(inner: &[String]) -> Vec<(String, bool)> {
    inner.iter().map(|l| (params_of(l)[1].clone(), common::tag(l, "draft/multiline-concat").is_some())).collect()
}

#[test]
fn multiline_messages_cross_nodes() {
    let redis = Redis::start();
    let (a, b) = (node(&redis, "a"), node(&redis, "b"));
    let ml = "draft/multiline batch message-tags server-time echo-message draft/chathistory";
    let mut alice = common::with_caps(&a, "alice", ml);
    let mut bob = common::with_caps(&b, "bob", ml);
    let mut carol = common::with_caps(&b, "carol", "message-tags server-time");
    alice.send("JOIN #ml");
    alice.expect("366");
    meet(&mut alice, &mut bob, "#ml");
    join_after(&mut carol, "#ml", "alice");
    alice.sync();
    let expected = [("hello".into(), false), ("world".into(), true), ("".into(), false), ("again".into(), false)];

    // To a channel: the batch on the other node for a member that takes
    // batches, with the origin's msgid and time and the client tags; the
    // separate lines (blank dropped, msgid on the first) for one that does not.
    send_multiline(&mut alice, "#ml");
    let (echo, _) = multiline_batch(&mut alice);
    let (open, inner) = multiline_batch(&mut bob);
    assert!(open.ends_with(" draft/multiline #ml") && open.contains(":alice!~alice@127.0.0.1 BATCH +"), "{open}");
    for key in ["msgid", "time", "+draft/reply"] {
        assert_eq!(common::tag(&open, key), common::tag(&echo, key), "{key}: {open} / {echo}");
    }
    assert_eq!(batch_texts(&inner), expected);
    let separate: Vec<String> = (0..3).map(|_| carol.expect("PRIVMSG")).collect();
    assert_eq!(separate.iter().map(|l| params_of(l)[1].clone()).collect::<Vec<_>>(), ["hello", "world", "again"]);
    assert_eq!(common::tag(&separate[0], "msgid"), common::tag(&echo, "msgid"));
    assert!(separate[1..].iter().all(|l| common::tag(l, "msgid").is_none()), "{separate:?}");

    // To a user of the other node, neither side logged in: delivered there,
    // and kept in that node's memory history of the conversation too.
    send_multiline(&mut alice, "bob");
    let (echo, _) = multiline_batch(&mut alice);
    let (open, inner) = multiline_batch(&mut bob);
    assert!(open.ends_with(" draft/multiline bob"), "{open}");
    assert_eq!(common::tag(&open, "msgid"), common::tag(&echo, "msgid"));
    assert_eq!(batch_texts(&inner), expected);
    assert!(carol.sync().iter().all(|l| command_of(l) != "PRIVMSG"));
    bob.send("CHATHISTORY LATEST alice * 10");
    let (_, replayed) = multiline_batch(&mut bob);
    let nested: Vec<String> = replayed.iter().filter(|l| command_of(l) == "PRIVMSG").cloned().collect();
    assert_eq!(batch_texts(&nested), expected, "{replayed:?}");
    let open = replayed.iter().find(|l| command_of(l) == "BATCH").expect("the nested multiline batch");
    assert_eq!(common::tag(open, "msgid"), common::tag(&echo, "msgid"));
}

#[test]
fn redactions_cross_nodes() {
    let redis = Redis::start();
    let (a, b) = (node(&redis, "a"), node(&redis, "b"));
    let caps = "draft/message-redaction batch message-tags server-time echo-message draft/chathistory";
    let mut alice = common::with_caps(&a, "alice", caps);
    let mut bob = common::with_caps(&b, "bob", caps);
    let mut carol = b.client("carol");
    alice.send("JOIN #r");
    alice.expect("366");
    meet(&mut alice, &mut bob, "#r");
    join_after(&mut carol, "#r", "alice");
    alice.sync();

    // In a channel: B's member with the capability sees the REDACT, one
    // without it does not.
    alice.send("PRIVMSG #r :oops");
    let msgid = common::tag(&alice.expect("PRIVMSG"), "msgid").expect("msgid").to_owned();
    bob.expect("PRIVMSG");
    carol.expect("PRIVMSG");
    alice.send(&format!("REDACT #r {msgid} :typo"));
    alice.expect("REDACT");
    let got = bob.expect("REDACT");
    assert!(got.contains(" :alice!~alice@127.0.0.1 REDACT "), "{got}");
    assert_eq!(params_of(&got), ["#r", msgid.as_str(), "typo"]);
    assert!(carol.sync().iter().all(|l| command_of(l) != "REDACT"));

    // In a conversation with a user of B, neither side logged in: B's user
    // sees it, and B's memory of the conversation loses the message.
    alice.send("PRIVMSG bob :secret");
    let msgid = common::tag(&alice.expect("PRIVMSG"), "msgid").expect("msgid").to_owned();
    bob.expect("PRIVMSG");
    alice.send("PRIVMSG bob :kept");
    alice.expect("PRIVMSG");
    bob.expect("PRIVMSG");
    alice.send(&format!("REDACT bob {msgid}"));
    alice.expect("REDACT");
    assert!(bob.expect("REDACT").ends_with(&format!(" REDACT bob {msgid}")));
    let texts: Vec<String> = common::history_batch(&mut bob, "CHATHISTORY LATEST alice * 10")
        .iter()
        .filter(|l| command_of(l) == "PRIVMSG")
        .map(|l| params_of(l)[1].clone())
        .collect();
    assert_eq!(texts, ["kept"]);
}
