//! A snapshot taken at any entry of a log, by a node that had also applied
//! some of its own later events early, plus the rest of the log applied on
//! top, gives the state the whole log gives.

use super::super::{apply, unconnected, Cluster, Event, ModeChange, WireLine};
use super::encode;
use crate::state::registration::RegistrationChange;
use crate::state::Server;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// The node whose events a snapshot's writer applies early (its own).
const A: &str = "a:1";
/// Another node.
const B: &str = "b:2";
/// A node that goes down in the log, with a late event after it.
const C: &str = "c:3";

fn line(src: &str, cmd: &str, params: &[&str]) -> WireLine {
    let params = params.iter().map(|p| p.to_string()).collect();
    WireLine { tags: Vec::new(), ctags: None, src: src.to_owned(), cmd: cmd.to_owned(), params }
}

fn user(node: &str, uid: u64, nick: &str, modes: &str) -> Event {
    let (user, host, realname) = ("u".to_owned(), "h".to_owned(), format!("Real {nick}"));
    let (account, modes, server, info) = (None, modes.into(), String::new(), String::new());
    Event::User {
        node: node.into(),
        uid,
        nick: nick.into(),
        user,
        host,
        realname,
        account,
        modes,
        server,
        info,
        signon: 1000,
        ip: Some("192.0.2.1".parse().unwrap()),
    }
}

fn join(node: &str, uid: u64, chan: &str, op: bool) -> Event {
    Event::Join { node: node.into(), uid, chan: chan.into(), op, voice: false, ts: 100, key: None, id: String::new() }
}

/// A Mode event of `node` on `chan` by `setter` at `at`.
fn mode(node: &str, chan: &str, setter: &str, at: i64, changes: Vec<ModeChange>) -> Event {
    Event::Mode { node: node.into(), uid: None, chan: chan.into(), line: line(setter, "MODE", &[chan]), at, changes }
}

/// A flag (`arg` None), key, limit or list change.
fn change(add: bool, mode: char, arg: Option<&str>) -> ModeChange {
    ModeChange { add, mode, arg: arg.map(str::to_owned), to: None }
}

/// An op or voice change of user `uid` of `node`.
fn status(add: bool, mode: char, node: &str, uid: u64) -> ModeChange {
    ModeChange { add, mode, arg: None, to: Some((node.to_owned(), uid)) }
}

fn nick(node: &str, uid: u64, nick: &str) -> Event {
    Event::Nick { node: node.into(), uid, nick: nick.into(), id: String::new() }
}

fn part(node: &str, uid: u64, chan: &str) -> Event {
    Event::Part { node: node.into(), uid, chan: chan.into(), reason: String::new(), id: String::new() }
}

fn user_modes(node: &str, uid: u64, modes: &str) -> Event {
    Event::UserModes { node: node.into(), uid, modes: modes.into() }
}

/// A log with two nodes' users, nicks passed between users of A, channels
/// with modes, lists, topics, invitations, a registration, a permanent
/// channel left empty, and a node going down with a late event after it.
fn log() -> Vec<Event> {
    vec![
        user(A, 1, "ann", ""),
        user(B, 1, "bob", "i"),
        user(C, 1, "cy", "o"),
        join(A, 1, "#c", true),
        join(B, 1, "#c", false),
        join(C, 1, "#c", false),
        mode(A, "#c", "ann!u@h", 5, vec![status(true, 'o', B, 1), change(true, 'k', Some("key"))]),
        mode(A, "#c", "ann!u@h", 6, vec![change(true, 'b', Some("x!*@*")), status(true, 'v', C, 1)]),
        Event::Topic {
            node: A.into(),
            uid: 1,
            chan: "#c".into(),
            line: line("ann!u@h", "TOPIC", &["#c", "one"]),
            set_at: 7,
        },
        Event::Away { node: A.into(), uid: 1, line: line("ann!u@h", "AWAY", &["lunch"]), id: String::new() },
        Event::NodeDown { node: C.into() },
        user(A, 2, "cat", ""),
        nick(A, 1, "ann2"),
        nick(A, 2, "ann"),
        user_modes(A, 2, "+i"),
        Event::Invite {
            node: A.into(),
            uid: 1,
            chan: "#c".into(),
            to: (A.into(), 2),
            line: line("ann2!u@h", "INVITE", &["ann", "#c"]),
            id: String::new(),
        },
        Event::Invite {
            node: B.into(),
            uid: 1,
            chan: "#c".into(),
            to: (B.into(), 1),
            line: line("bob!u@h", "INVITE", &["bob", "#c"]),
            id: String::new(),
        },
        join(A, 2, "#c", false),
        part(B, 1, "#c"),
        mode(
            B,
            "#c",
            "bob!u@h",
            9,
            vec![change(false, 'b', Some("x!*@*")), change(true, 'l', Some("10")), change(true, 'b', Some("y!*@*"))],
        ),
        user_modes(A, 2, "-i+w"),
        Event::Quit { node: A.into(), uid: 1, reason: "bye".into() },
        user(B, 2, "dan", ""),
        join(B, 2, "#c", false),
        join(B, 2, "#d", true),
        mode(B, "#d", "dan!u@h", 11, vec![change(true, 'P', None), change(false, 'n', None)]),
        Event::Registration {
            node: B.into(),
            chan: "#d".into(),
            change: RegistrationChange::Register { founder: "dan".into(), at: 12 },
            id: String::new(),
        },
        Event::Registration {
            node: B.into(),
            chan: "#d".into(),
            change: RegistrationChange::Access { account: "ann".into(), mode: Some('v') },
            id: String::new(),
        },
        part(B, 2, "#d"),
        join(A, 2, "#d", false),
        Event::Topic {
            node: B.into(),
            uid: 2,
            chan: "#c".into(),
            line: line("dan!u@h", "TOPIC", &["#c", "two"]),
            set_at: 13,
        },
        Event::Away { node: A.into(), uid: 2, line: line("ann!u@h", "AWAY", &["gone"]), id: String::new() },
        part(A, 2, "#d"),
        nick(A, 2, "cat"),
        user(A, 3, "ann", "i"),
        join(A, 3, "#e", true),
        Event::Kick {
            node: A.into(),
            uid: 2,
            chan: "#c".into(),
            to_node: A.into(),
            to_uid: 2,
            reason: "self".into(),
            id: String::new(),
        },
    ]
}

/// A node named `name`, not connected to any Redis.
fn node(name: &str) -> (Arc<Server>, Arc<Cluster>) {
    let config = crate::config::Config::default();
    let accounts = crate::accounts::Accounts::with_store(None, &config);
    let server = Server::new(config, None, accounts);
    let cluster = unconnected(name);
    server.set_cluster(cluster.clone());
    (server, cluster)
}

fn apply_all<'a>(server: &Arc<Server>, cluster: &Cluster, events: impl IntoIterator<Item = &'a Event>) {
    for event in events {
        apply::apply_json(server, cluster, &event.to_json(), true);
    }
}

/// The state as sorted snapshot lines, and the LUSERS counts.
fn state(server: &Server, cluster: &Cluster) -> (Vec<String>, [usize; 3]) {
    let mut lines: Vec<String> = encode(server, cluster).lines().map(str::to_owned).collect();
    lines.sort();
    let counts = [
        server.registered_count.load(Ordering::Relaxed),
        server.invisible_count.load(Ordering::Relaxed),
        server.oper_count.load(Ordering::Relaxed),
    ];
    (lines, counts)
}

#[test]
fn a_snapshot_with_early_own_events_and_the_rest_of_the_log_give_the_whole_logs_state() {
    let log = log();
    let (whole, whole_cluster) = node("r:0");
    apply_all(&whole, &whole_cluster, &log);
    let expected = state(&whole, &whole_cluster);
    assert!(expected.0.iter().any(|l| l.contains(r#""nick":"ann""#)), "{:#?}", expected.0);
    for at in 0..=log.len() {
        for early in at..=log.len() {
            // The writer applied the log through `at`, and A's events up to
            // `early` as it made them (A is the writer's own node).
            let (writer, writer_cluster) = node("w:0");
            apply_all(&writer, &writer_cluster, &log[..at]);
            apply_all(&writer, &writer_cluster, log[at..early].iter().filter(|e| e.node() == A && !is_departure(e)));
            let data = encode(&writer, &writer_cluster);
            let (joiner, joiner_cluster) = node("j:0");
            for json in data.lines() {
                apply::apply_json(&joiner, &joiner_cluster, json, true);
            }
            apply_all(&joiner, &joiner_cluster, &log[at..]);
            assert_eq!(state(&joiner, &joiner_cluster), expected, "snapshot at {at}, A's events early up to {early}");
        }
    }
}

/// A member leaving a channel: applied early, it can end a channel on a
/// joiner before the log does (another member leaving first in the log),
/// and the channel's modes with it; a snapshot waits for its node's own
/// events to be in the log instead (`Compactor::snapshot`).
fn is_departure(event: &Event) -> bool {
    matches!(event, Event::Part { .. } | Event::Kick { .. } | Event::Quit { .. })
}
