//! The command state machine: lines from several simulated clients against one
//! `Server`, as the connection tasks would deliver them.
//!
//! Input: lines separated by `\n`; the first byte of a line picks the client
//! (`byte % CLIENTS`, so `0`..`3` read naturally), the rest goes through
//! `LineCodec` and `handle_frame`. A client that quits, is killed or overflows
//! its sendq is removed with `remove_client`, as `net::connection` does; the next
//! line for that slot connects a fresh, unregistered client.
//!
//! Setup, fresh for every input: `alice` (slot 0, IRC operator, in `#chat`),
//! `bob` (slot 1, with most IRCv3 caps, in `#chat`), `carol` (slot 2, in the
//! permanent `#lobby`), and slot 3 connected but unregistered.
//!
//! Invariants checked after every line:
//! - every nick in `server.nicks` is keyed by its owner's folded nick and the
//!   owner is a live client; every live client with a nick owns it there;
//! - every channel in `server.channels` is keyed by its folded name, not dead,
//!   and has members unless permanent; every member is a live, registered client
//!   that lists the channel; every channel a client lists is in the map and has
//!   the client as a member;
//! - `registered_count`, `oper_count` and `per_ip` agree with the live clients;
//!   MONITOR watchers are live clients and no watcher set is empty;
//! - everything written to any client is whole lines ending in CRLF, with no
//!   other CR, LF or NUL, each parsing, with a body of at most 510 bytes and a
//!   tag section of at most 8191 bytes.
#![no_main]

use banter::store::sqlite::Sqlite;
use banter::accounts::Accounts;
use banter::commands::{self, Ctx};
use banter::config::{Config, OperConfig};
use banter::proto::{LineCodec, Message};
use banter::state::client::Client;
use banter::state::{membership, Server};
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use tokio::runtime::Runtime;
use tokio_util::codec::Decoder;

const CLIENTS: usize = 4;
/// Lines processed per input; enough for long stories, short enough to stay fast.
const MAX_STEPS: usize = 256;

fn runtime() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime"))
}

fn config() -> Config {
    let mut cfg = Config::default();
    cfg.accounts.argon2_memory_kib = 64;
    cfg.accounts.argon2_iterations = 1;
    // The store is in memory and the keys never leave the process: keep PBKDF2 cheap.
    cfg.accounts.scram_iterations = 1;
    cfg.accounts.throttle_base_delay = 0;
    cfg.accounts.throttle_max_delay = 0;
    cfg.flood.enabled = false;
    cfg.channels.permanent = vec!["#lobby".into()];
    cfg.opers = vec![OperConfig { name: "fuzz".into(), password_hash: None, password: Some("fuzz".into()) }];
    cfg
}

/// One simulated connection.
struct Conn {
    ctx: Ctx,
    codec: LineCodec,
    buf: BytesMut,
}

struct Harness {
    server: Arc<Server>,
    slots: Vec<Option<Conn>>,
}

impl Harness {
    fn new() -> Harness {
        let cfg = config();
        let dir = std::env::temp_dir().join(format!("banter-fuzz-{}", std::process::id()));
        let store = Sqlite::open(&dir).expect("store in a temp dir");
        let accounts = Accounts::with_store(Some(Arc::new(store)), &cfg);
        let server = Server::new(cfg, None, accounts);
        let mut h = Harness { server, slots: (0..CLIENTS).map(|_| None).collect() };
        for slot in 0..CLIENTS {
            h.connect(slot);
        }
        h
    }

    fn ip(slot: usize) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1 + (slot % 2) as u8))
    }

    /// Connects a fresh client in `slot`, taking its per-IP count as the listener does.
    fn connect(&mut self, slot: usize) {
        let server = &self.server;
        let id = server.next_client_id();
        let ip = Self::ip(slot);
        let client = Arc::new(Client::new(id, ip, 40000 + slot as u16, false, server.config().limits.sendq, 0));
        *server.per_ip.entry(ip).or_insert(0) += 1;
        server.clients.insert(id, client.clone());
        self.slots[slot] =
            Some(Conn { ctx: Ctx::new(server.clone(), client), codec: LineCodec::new(), buf: BytesMut::new() });
    }

    /// Delivers one line of bytes from `slot` (connecting it first if needed).
    async fn feed(&mut self, slot: usize, bytes: &[u8]) {
        if self.slots[slot].is_none() {
            self.connect(slot);
        }
        let conn = self.slots[slot].as_mut().expect("connected");
        conn.buf.extend_from_slice(bytes);
        conn.buf.extend_from_slice(b"\r\n");
        let mut closed = None;
        while let Some(frame) = conn.codec.decode(&mut conn.buf).expect("decode never errors") {
            commands::handle_frame(&mut conn.ctx, frame).await;
            if let Some(reason) = conn.ctx.conn.quit.take().or_else(|| conn.ctx.client.close_requested()) {
                closed = Some(reason);
                break;
            }
        }
        // The read batch is handled: deliver held channel messages, as net::connection does.
        commands::message::flush_held(&mut conn.ctx);
        if let Some(reason) = closed {
            self.disconnect(slot, &reason);
        }
        // KILL and sendq overflow close other connections too.
        for other in 0..CLIENTS {
            let reason = self.slots[other].as_ref().and_then(|c| c.ctx.client.close_requested());
            if let Some(reason) = reason {
                self.disconnect(other, &reason);
            }
        }
    }

    fn disconnect(&mut self, slot: usize, reason: &str) {
        if let Some(mut conn) = self.slots[slot].take() {
            commands::message::flush_held(&mut conn.ctx);
            membership::remove_client(&self.server, &conn.ctx.client, reason);
            check_output(&conn.ctx.client);
        }
    }

    fn check(&self) {
        for conn in self.slots.iter().flatten() {
            check_output(&conn.ctx.client);
        }
        check_state(&self.server);
    }
}

/// Takes what was queued for `client` and checks it is well-formed IRC.
fn check_output(client: &Client) {
    let mut bytes = Vec::new();
    client.outbox.take(&mut bytes);
    let text = std::str::from_utf8(&bytes).expect("output is UTF-8");
    assert!(text.is_empty() || text.ends_with("\r\n"), "output does not end in CRLF: {text:?}");
    for line in text.split_terminator("\r\n") {
        assert!(!line.contains(['\r', '\n', '\0']), "CR, LF or NUL inside an output line: {line:?}");
        let msg = Message::parse(line).unwrap_or_else(|_| panic!("output line does not parse: {line:?}"));
        let tag_len = if line.starts_with('@') { line.find(' ').map_or(line.len(), |i| i + 1) } else { 0 };
        assert!(tag_len <= 8191, "tag section of {tag_len} bytes: {line:?}");
        assert!(line.len() - tag_len <= 510, "body of {} bytes: {line:?}", line.len() - tag_len);
        assert!(msg.command.bytes().all(|b| b.is_ascii_alphanumeric()), "odd command in {line:?}");
    }
}

fn check_state(server: &Server) {
    let live = |id| server.clients.contains_key(&id);
    for entry in server.nicks.iter() {
        let c = entry.value();
        assert!(live(c.id), "nick {} held by a removed client", entry.key());
        assert_eq!(server.fold(&c.nick()), *entry.key(), "nick key does not match its owner");
    }
    let mut registered = 0;
    let mut opers = 0;
    let mut per_ip: HashMap<IpAddr, usize> = HashMap::new();
    for entry in server.clients.iter() {
        let c = entry.value();
        *per_ip.entry(c.ip).or_default() += 1;
        registered += usize::from(c.is_registered());
        opers += usize::from(c.is_registered() && c.is_oper());
        let nick = c.nick();
        if nick != "*" {
            let owner = server.nicks.get(&server.fold(&nick)).map(|o| o.id);
            assert_eq!(owner, Some(c.id), "client {} does not own its nick {nick}", c.id);
        }
        let channels = c.info().channels.clone();
        for (i, ch) in channels.iter().enumerate() {
            assert!(!channels[..i].iter().any(|o| Arc::ptr_eq(o, ch)), "{} listed twice", ch.name);
            let in_map = server.channels.get(&server.fold(&ch.name)).is_some_and(|m| Arc::ptr_eq(&m, ch));
            assert!(in_map, "client {} lists {} which is not in the map", c.id, ch.name);
            assert!(ch.read().members.contains_key(&c.id), "client {} lists {} but is not a member", c.id, ch.name);
        }
    }
    assert_eq!(server.registered_count.load(Ordering::Relaxed), registered, "registered_count");
    assert_eq!(server.oper_count.load(Ordering::Relaxed), opers, "oper_count");
    let counted: HashMap<IpAddr, usize> = server.per_ip.iter().map(|e| (*e.key(), *e.value())).collect();
    assert_eq!(counted, per_ip, "per_ip");
    for entry in server.channels.iter() {
        let ch = entry.value();
        assert_eq!(server.fold(&ch.name), *entry.key(), "channel key does not match its name");
        let st = ch.read();
        assert!(!st.dead, "dead channel {} still in the map", ch.name);
        assert!(!st.members.is_empty() || st.modes.permanent, "empty channel {} kept", ch.name);
        for (id, m) in &st.members {
            assert_eq!(*id, m.client.id);
            assert!(live(*id), "{} has removed member {id}", ch.name);
            assert!(m.client.is_registered(), "{} has unregistered member {id}", ch.name);
            let lists = m.client.info().channels.iter().any(|c| Arc::ptr_eq(c, ch));
            assert!(lists, "member {id} of {} does not list it", ch.name);
        }
    }
    for entry in server.monitors.iter() {
        assert!(!entry.value().is_empty(), "empty MONITOR set for {}", entry.key());
        for id in entry.value() {
            assert!(live(*id), "removed client {id} still monitors {}", entry.key());
        }
    }
}

const SETUP: &[(usize, &str)] = &[
    (0, "NICK alice"),
    (0, "USER alice 0 * :Alice"),
    (0, "OPER fuzz fuzz"),
    (0, "JOIN #chat"),
    (1, "CAP LS 302"),
    (
        1,
        "CAP REQ :message-tags server-time labeled-response batch echo-message account-tag account-notify \
         away-notify extended-join invite-notify multi-prefix userhost-in-names setname",
    ),
    (1, "NICK bob"),
    (1, "USER bob 0 * :Bob"),
    (1, "CAP END"),
    (1, "JOIN #chat"),
    (2, "NICK carol"),
    (2, "USER carol 0 * :Carol"),
    (2, "JOIN #lobby"),
];

fuzz_target!(|data: &[u8]| {
    runtime().block_on(async {
        let mut h = Harness::new();
        for (slot, line) in SETUP {
            h.feed(*slot, line.as_bytes()).await;
        }
        h.check();
        let is_oper = |slot: usize| h.slots[slot].as_ref().is_some_and(|c| c.ctx.client.is_oper());
        assert!(is_oper(0), "setup: alice is not an operator");
        let registered = |slot: usize| h.slots[slot].as_ref().is_some_and(|c| c.ctx.client.is_registered());
        assert!(registered(1) && registered(2) && !registered(3), "setup: registration");
        for line in data.split(|b| *b == b'\n').take(MAX_STEPS) {
            let Some((&first, rest)) = line.split_first() else { continue };
            h.feed(usize::from(first) % CLIENTS, rest).await;
            h.check();
        }
        for slot in 0..CLIENTS {
            h.disconnect(slot, "fuzz input ended");
        }
        check_state(&h.server);
        assert!(h.server.nicks.is_empty() && h.server.clients.is_empty());
    });
});
