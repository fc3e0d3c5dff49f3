//! The store's conformance tests, run against both engines: SQLite files in a
//! temp dir, and a database on the PostgreSQL this test binary starts
//! (tests/common/pg.rs). Accounts, certificate fingerprints, channels,
//! history, retention, races between threads, and a copy from one engine to
//! the other and back.

mod common;

use banter::accounts::password::ScramKeys;
use banter::caps::Cap;
use banter::proto::line::Line;
use banter::state::channel::{ChannelModes, ListEntry, Topic};
use banter::store::copy::{self, Value};
use banter::store::history::{pair_key, Kind, Op, Query, Ref, Retention, Row, Scope, Stored};
use banter::store::location::Location;
use banter::store::{
    Access, AccessMode, AccountRow, CertfpAdd, ChangeOutcome, ChannelChange, ChannelRecord, LogAt, Registration, Store,
};
use std::sync::Arc;

/// A store of each engine, with what keeps it alive.
struct Engine {
    name: &'static str,
    store: Arc<dyn Store>,
    _dir: Option<tempfile::TempDir>,
}

fn sqlite() -> Engine {
    let dir = tempfile::tempdir().unwrap();
    let store = Location::Sqlite(dir.path().to_owned()).open().unwrap();
    Engine { name: "sqlite", store, _dir: Some(dir) }
}

fn postgres() -> Engine {
    let store = Location::Postgres(common::pg::database()).open().unwrap();
    Engine { name: "postgres", store, _dir: None }
}

/// Runs `check` on each engine.
fn on_both(check: impl Fn(&dyn Store)) {
    for e in [sqlite(), postgres()] {
        eprintln!("engine: {}", e.name);
        check(&*e.store);
    }
}

fn account(name: &str) -> AccountRow {
    AccountRow {
        name: name.into(),
        password_hash: "$argon2id$x".into(),
        scram: ScramKeys { salt: vec![1, 0, 255], iterations: 4096, stored_key: vec![2], server_key: vec![3] },
        email: Some(format!("{name}@example.org")),
        created_at: 1_700_000_000,
        last_seen: None,
    }
}

#[test]
fn accounts() {
    on_both(|s| {
        assert!(s.insert("alice", &account("Alice")).unwrap());
        assert!(!s.insert("alice", &account("ALICE")).unwrap(), "the folded name is taken");
        let got = s.get("alice").unwrap().unwrap();
        assert_eq!(got, account("Alice"));
        assert!(s.get("nobody").unwrap().is_none());
        let keys = ScramKeys { salt: vec![9], iterations: 10, stored_key: vec![8], server_key: vec![7] };
        assert!(s.set_password("alice", "$argon2id$y", &keys).unwrap());
        assert!(!s.set_password("nobody", "h", &keys).unwrap());
        let got = s.get("alice").unwrap().unwrap();
        assert_eq!((got.password_hash.as_str(), &got.scram), ("$argon2id$y", &keys));
        s.touch("alice", 1_800_000_000).unwrap();
        assert_eq!(s.get("alice").unwrap().unwrap().last_seen, Some(1_800_000_000));
        assert!(s.set_multiclient("alice", false).unwrap());
        assert!(!s.set_multiclient("nobody", false).unwrap());
        assert_eq!(s.multiclient_off().unwrap(), ["alice"]);
        assert!(s.set_multiclient("alice", true).unwrap());
        assert!(s.multiclient_off().unwrap().is_empty());
        assert!(s.insert("bob", &account("bob")).unwrap());
        assert_eq!(s.clear_scram().unwrap(), 2);
        assert!(!s.get("bob").unwrap().unwrap().scram.is_some());
        let names: Vec<String> = s.list().unwrap().into_iter().map(|a| a.0).collect();
        assert_eq!(names, ["Alice", "bob"]);
        assert!(s.delete("alice").unwrap());
        assert!(!s.delete("alice").unwrap());
        assert!(s.get("alice").unwrap().is_none());
    });
}

#[test]
fn certfps() {
    on_both(|s| {
        s.insert("ann", &account("Ann")).unwrap();
        s.insert("ben", &account("Ben")).unwrap();
        assert_eq!(s.add_certfp("ann", "aa11", 2).unwrap(), CertfpAdd::Added);
        assert_eq!(s.add_certfp("ann", "aa11", 2).unwrap(), CertfpAdd::Already);
        assert_eq!(s.add_certfp("ben", "aa11", 2).unwrap(), CertfpAdd::Taken);
        assert_eq!(s.add_certfp("ann", "bb22", 2).unwrap(), CertfpAdd::Added);
        assert_eq!(s.add_certfp("ann", "cc33", 2).unwrap(), CertfpAdd::Full);
        assert_eq!(s.certfps("ann").unwrap(), ["aa11", "bb22"]);
        assert!(s.remove_certfp("ann", "bb22").unwrap());
        assert!(!s.remove_certfp("ben", "aa11").unwrap());
        assert_eq!(s.account_for_certfp("aa11").unwrap(), Some("Ann".into()));
        assert!(s.delete("ann").unwrap());
        assert_eq!(s.account_for_certfp("aa11").unwrap(), None, "fingerprints go with their account");
        assert_eq!(s.add_certfp("ben", "aa11", 2).unwrap(), CertfpAdd::Added);
    });
}

fn channel(name: &str, founder: Option<&str>) -> ChannelRecord {
    ChannelRecord {
        folded: name.to_lowercase(),
        name: name.into(),
        created: 5,
        registration: founder.map(|f| Registration {
            founder: f.into(),
            registered_at: 7,
            access: vec![
                Access { account: "Bob".into(), mode: AccessMode::Voice },
                Access { account: "Cat".into(), mode: AccessMode::Op },
            ],
        }),
        topic: Some(Topic { text: "hi ünïcode".into(), set_by: "a!b@c".into(), set_at: 9 }),
        modes: ChannelModes {
            no_external: true,
            topic_ops: true,
            key: Some("k".into()),
            limit: Some(3),
            ..Default::default()
        },
        bans: vec![
            ListEntry { mask: "x!*@*".into(), set_by: "a".into(), set_at: 1 },
            ListEntry { mask: "w!*@*".into(), set_by: "a".into(), set_at: 2 },
        ],
        excepts: vec![ListEntry { mask: "e!*@*".into(), set_by: "a".into(), set_at: 3 }],
        invex: vec![ListEntry { mask: "y!*@*".into(), set_by: "a".into(), set_at: 2 }],
        metadata: vec![("avatar".into(), "a".into()), ("url".into(), "https://x".into())],
        at: LogAt::default(),
    }
}

fn register(r: ChannelRecord, max: usize) -> ChannelChange {
    ChannelChange::Register { record: r, max_per_account: max }
}

#[test]
fn channels() {
    on_both(|s| {
        let out = s
            .apply_channel_changes(&[
                register(channel("#A", Some("Ann")), 1),
                register(channel("#A", Some("Ben")), 1),
                register(channel("#B", Some("ANN")), 1),
                ChannelChange::Save(channel("#P", None)),
            ])
            .unwrap();
        assert_eq!(out, [ChangeOutcome::Done, ChangeOutcome::Taken, ChangeOutcome::TooMany, ChangeOutcome::Done]);
        assert_eq!(s.load_channels().unwrap(), [channel("#A", Some("Ann")), channel("#P", None)]);
        assert_eq!(s.load_channel("#p").unwrap(), Some(channel("#P", None)));
        assert_eq!(s.load_channel("#nope").unwrap(), None);
        // A +P channel can be registered; a save replaces everything kept.
        assert_eq!(s.apply_channel_changes(&[register(channel("#P", Some("Cat")), 1)]).unwrap(), [ChangeOutcome::Done]);
        let mut changed = channel("#P", Some("Cat"));
        changed.topic = None;
        changed.bans.clear();
        changed.metadata.pop();
        s.apply_channel_changes(&[ChannelChange::Save(changed.clone())]).unwrap();
        assert_eq!(s.load_channel("#p").unwrap(), Some(changed));
        s.apply_channel_changes(&[ChannelChange::Delete { folded: "#a".into(), at: LogAt::default() }]).unwrap();
        assert_eq!(s.load_channels().unwrap().len(), 1);
        assert_eq!(s.apply_channel_changes(&[register(channel("#A", Some("Ben")), 1)]).unwrap(), [ChangeOutcome::Done]);
    });
}

/// `channel(name, founder)` taken at `ms-0` in a cluster's log, with topic `topic`.
fn taken_at(name: &str, founder: Option<&str>, ms: i64, topic: &str) -> ChannelRecord {
    let mut r = channel(name, founder);
    r.at = LogAt { ms, seq: 0 };
    r.topic.as_mut().unwrap().text = topic.into();
    r
}

/// Nodes of a cluster save a channel as they change it, and their saves can
/// reach the shared store in either order: the store keeps what was taken
/// furthest in the log (a removal included), and a save taken earlier only
/// writes its metadata (applied by its origin at once, not in the log's
/// order). A single node's
/// saves (at zero) are taken whatever the store holds.
#[test]
fn shared_store_keeps_the_channel_taken_furthest_in_the_log() {
    let pg = postgres();
    let s = &*pg.store;
    let save = |r: ChannelRecord| s.apply_channel_changes(&[ChannelChange::Save(r)]).unwrap();
    let delete = |ms: i64| {
        let at = LogAt { ms, seq: 0 };
        s.apply_channel_changes(&[ChannelChange::Delete { folded: "#t".into(), at }]).unwrap()
    };
    let topic = || s.load_channel("#t").unwrap().map(|r| r.topic.unwrap().text);
    save(taken_at("#T", None, 20, "second"));
    let mut first = taken_at("#T", None, 10, "first");
    first.bans.clear();
    first.metadata = vec![("url".into(), "https://late".into())];
    save(first);
    let kept = s.load_channel("#t").unwrap().unwrap();
    assert_eq!(kept.topic.unwrap().text, "second", "the later record stays");
    assert_eq!(kept.bans, channel("#T", None).bans, "and its lists");
    assert_eq!(kept.metadata, [("url".to_string(), "https://late".to_string())], "the earlier one's metadata");
    assert_eq!(kept.at, LogAt { ms: 20, seq: 0 });
    // A removal taken before the kept record is not made; one after it is,
    // and a save taken before the removal does not bring the channel back.
    delete(15);
    assert_eq!(topic().as_deref(), Some("second"));
    delete(30);
    assert_eq!(topic(), None);
    save(taken_at("#T", None, 25, "stale"));
    assert_eq!(topic(), None, "a save from before the removal");
    save(taken_at("#T", None, 40, "again"));
    assert_eq!(topic().as_deref(), Some("again"), "a save after it");
    // Removed again at 50: a registration the store decides on a record
    // taken at 45 takes the channel, at 50, so an older save stays out.
    delete(50);
    let out = s.apply_channel_changes(&[register(taken_at("#T", Some("Ann"), 45, "mine"), 1)]).unwrap();
    assert_eq!(out, [ChangeOutcome::Done]);
    assert_eq!(s.load_channel("#t").unwrap().unwrap().at, LogAt { ms: 50, seq: 0 });
    save(taken_at("#T", None, 48, "unregistered"));
    let registered = s.load_channel("#t").unwrap().unwrap();
    assert_eq!(
        (registered.topic.unwrap().text.as_str(), registered.registration.unwrap().founder.as_str()),
        ("mine", "Ann")
    );
    // A single node's save and removal are made whatever the store holds.
    save(taken_at("#T", None, 0, "alone"));
    assert_eq!(topic().as_deref(), Some("alone"));
    save(taken_at("#T", None, 60, "cluster"));
    delete(0);
    assert_eq!(topic(), None);
    // A new log (Redis lost its data): the old positions are forgotten, and
    // the new log's saves and removals are taken over the old log's.
    save(taken_at("#T", None, 70, "old log"));
    delete(80);
    save(taken_at("#U", None, 90, "old log"));
    s.forget_log_positions().unwrap();
    assert_eq!(s.load_channel("#u").unwrap().unwrap().at, LogAt::default());
    save(taken_at("#T", None, 5, "new log"));
    assert_eq!(topic().as_deref(), Some("new log"), "no removal of the old log in the way");
    save(taken_at("#U", None, 5, "new log"));
    assert_eq!(s.load_channel("#u").unwrap().unwrap().topic.unwrap().text, "new log");
}

fn msg(target: &str, i: usize, kind: Kind, direct: Option<[(String, String); 2]>) -> Op {
    let line = Line::new("n!u@h", "PRIVMSG", vec![target.into(), format!("{i} ;: x")])
        .tag("time", "2020-01-01T00:00:00.000Z", Cap::ServerTime)
        .tag("msgid", format!("{target}-m{i}"), Cap::MessageTags);
    let mut line = line;
    line.client_tags = (i == 2).then(|| "+draft/reply=abc".to_owned());
    Op::Insert(Box::new(Row {
        target: target.into(),
        msgid: format!("{target}-m{i}"),
        time_ms: 1000 + 10 * i as i64,
        kind,
        sender_conn: 1,
        sender_account: i.is_multiple_of(2).then(|| "acc".to_owned()),
        line,
        multiline: (i == 3).then(|| vec![("a".to_owned(), false), ("b".to_owned(), true)]),
        direct,
    }))
}

fn fill(s: &dyn Store, target: &str, n: usize) {
    let ops: Vec<Op> = (0..n).map(|i| msg(target, i, if i == 5 { Kind::Event } else { Kind::Message }, None)).collect();
    assert_eq!(s.write_history(&ops).unwrap(), n);
}

fn ids(v: Vec<Stored>) -> Vec<String> {
    v.into_iter().map(|e| e.msgid.rsplit('-').next().unwrap().to_owned()).collect()
}

#[test]
fn history_selections() {
    on_both(|s| {
        fill(s, "#c", 10);
        let sc = Scope::Target("#c".into());
        let q = |q: Query| ids(s.select_history(&sc, &q, true).unwrap());
        let m = |i: usize| Ref::Msgid(format!("#c-m{i}"));
        assert_eq!(q(Query::Latest(None, 3)), ["m7", "m8", "m9"]);
        assert_eq!(q(Query::Latest(Some(m(7)), 10)), ["m8", "m9"]);
        assert_eq!(q(Query::Latest(Some(Ref::Time(1070)), 10)), ["m8", "m9"]);
        assert_eq!(q(Query::Before(m(3), 2)), ["m1", "m2"]);
        assert_eq!(q(Query::Before(Ref::Time(1030), 10)), ["m0", "m1", "m2"]);
        assert_eq!(q(Query::After(Ref::Time(1060), 2)), ["m7", "m8"]);
        assert_eq!(q(Query::Around(m(7), 3)), ["m6", "m7", "m8"]);
        assert_eq!(q(Query::Around(m(9), 4)), ["m6", "m7", "m8", "m9"]);
        assert_eq!(q(Query::Between(m(0), m(9), 2)), ["m1", "m2"]);
        assert_eq!(q(Query::Between(m(9), m(0), 2)), ["m7", "m8"]);
        assert!(q(Query::After(Ref::Msgid("nope".into()), 5)).is_empty());
        let plain = ids(s.select_history(&sc, &Query::Between(m(3), m(8), 9), false).unwrap());
        assert_eq!(plain, ["m4", "m6", "m7"], "events only with event-playback");
        let three = s.find_message(&sc, "#c-m3").unwrap().unwrap();
        assert_eq!(three.multiline, Some(vec![("a".to_owned(), false), ("b".to_owned(), true)]));
        assert_eq!(three.line.params, ["#c", "3 ;: x"]);
        assert_eq!(three.sender_account, None);
        let two = s.find_message(&sc, "#c-m2").unwrap().unwrap();
        assert_eq!(two.line.client_tags.as_deref(), Some("+draft/reply=abc"));
        assert_eq!(two.line.tags.len(), 2);
        assert_eq!(two.sender_account.as_deref(), Some("acc"));
        assert_eq!(s.find_message(&sc, "#c-m5").unwrap().unwrap().kind, Kind::Event);
        assert!(s.find_message(&Scope::Target("#d".into()), "#c-m4").unwrap().is_none());
        assert_eq!(s.latest_message("#c", false).unwrap(), Some(1090));
        assert_eq!(s.latest_message("#none", true).unwrap(), None);
    });
}

#[test]
fn direct_messages_markers_redaction_rename() {
    on_both(|s| {
        let sides = |a: &str, an: &str, b: &str, bn: &str| Some([(a.into(), bn.into()), (b.into(), an.into())]);
        let ab = pair_key("a:ann", "a:bob");
        let ac = pair_key("a:ann", "a:cat");
        let ops = vec![
            msg(&ab, 0, Kind::Message, sides("a:ann", "ann", "a:bob", "bob")),
            msg(&ac, 1, Kind::Message, sides("a:ann", "ann", "a:cat", "cat")),
            msg(&ab, 2, Kind::Event, sides("a:bob", "bob", "a:ann", "ann")),
            Op::Marker("a:ann".into(), "#c".into(), 50),
            Op::Marker("a:ann".into(), "#c".into(), 20),
        ];
        s.write_history(&ops).unwrap();
        let all = s.select_history(&Scope::AllDirect("a:ann".into()), &Query::Latest(None, 10), true).unwrap();
        assert_eq!(all.len(), 3);
        let bob = s.select_history(&Scope::AllDirect("a:bob".into()), &Query::Latest(None, 10), false).unwrap();
        assert_eq!(bob.len(), 1);
        assert_eq!(
            s.conversations("a:ann", true, 0, i64::MAX, 10).unwrap(),
            [("cat".into(), 1010), ("bob".into(), 1020)]
        );
        assert_eq!(
            s.conversations("a:ann", false, 0, i64::MAX, 10).unwrap(),
            [("bob".into(), 1000), ("cat".into(), 1010)]
        );
        assert_eq!(s.markers("a:ann").unwrap(), [("#c".to_owned(), 50)]);
        fill(s, "#old", 3);
        s.write_history(&[Op::Redact("#old".into(), "#old-m1".into()), Op::Rename("#old".into(), "#new".into())])
            .unwrap();
        let moved = s.select_history(&Scope::Target("#new".into()), &Query::Latest(None, 10), true).unwrap();
        assert_eq!(ids(moved), ["m0", "m2"]);
        assert!(s.select_history(&Scope::Target("#old".into()), &Query::Latest(None, 10), true).unwrap().is_empty());
    });
}

#[test]
fn retention() {
    on_both(|s| {
        fill(s, "#c", 10);
        let keep_5 = Retention { max_age_days: 0, max_per_target: 5 };
        assert_eq!(s.prune_history(&keep_5, 0, 3).unwrap(), 3);
        assert_eq!(s.prune_history(&keep_5, 0, 3).unwrap(), 2);
        assert_eq!(s.prune_history(&keep_5, 0, 3).unwrap(), 0);
        let sc = Scope::Target("#c".into());
        let latest = |s: &dyn Store| ids(s.select_history(&sc, &Query::Latest(None, 10), true).unwrap());
        assert_eq!(latest(s), ["m5", "m6", "m7", "m8", "m9"]);
        let a_day = Retention { max_age_days: 1, max_per_target: 0 };
        assert_eq!(s.prune_history(&a_day, 1075 + 86_400_000, 100).unwrap(), 3);
        assert_eq!(latest(s), ["m8", "m9"]);
        assert_eq!(s.prune_history(&a_day, 1075 + 86_400_000, 100).unwrap(), 0);
    });
}

/// Threads racing on one store: every name is taken exactly once, every
/// channel registered exactly once.
#[test]
fn races() {
    on_both(|s| {
        let s: &(dyn Store + Sync) = s;
        let (wins, taken) = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|t| {
                    scope.spawn(move || {
                        let mut won = Vec::new();
                        for i in 0..20 {
                            if s.insert(&format!("racer{i}"), &account(&format!("racer{i}-by-{t}"))).unwrap() {
                                won.push(i);
                            }
                        }
                        let reg = register(channel(&format!("#race{t}"), Some("Founder")), 100);
                        let mut got = Vec::new();
                        for i in 0..5 {
                            let mut r = channel(&format!("#race{i}"), Some(&format!("f{t}")));
                            r.folded = format!("#race{i}");
                            let out = s.apply_channel_changes(&[register(r, 100)]).unwrap();
                            got.push(out[0]);
                        }
                        let _ = reg;
                        (won, got)
                    })
                })
                .collect();
            let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
            let wins: Vec<usize> = results.iter().flat_map(|(w, _)| w.clone()).collect();
            let taken: Vec<ChangeOutcome> = results.iter().flat_map(|(_, g)| g.clone()).collect();
            (wins, taken)
        });
        let mut sorted = wins.clone();
        sorted.sort();
        assert_eq!(sorted, (0..20).collect::<Vec<_>>(), "one success per name");
        assert_eq!(taken.iter().filter(|o| **o == ChangeOutcome::Done).count(), 5, "one founder per channel");
        assert_eq!(s.list().unwrap().len(), 20);
    });
}

/// Everything copied from SQLite to PostgreSQL and back reads the same.
#[test]
fn copy_between_engines() {
    let a = sqlite();
    let s = &*a.store;
    s.insert("ann", &account("Ann")).unwrap();
    s.add_certfp("ann", "ff00", 5).unwrap();
    s.apply_channel_changes(&[register(channel("#A", Some("Ann")), 1)]).unwrap();
    fill(s, "#c", 7);
    let ab = pair_key("a:ann", "a:bob");
    s.write_history(&[
        msg(&ab, 20, Kind::Message, Some([("a:ann".into(), "bob".into()), ("a:bob".into(), "ann".into())])),
        Op::Marker("a:ann".into(), "#c".into(), 99),
    ])
    .unwrap();
    let b = postgres();
    let counts = copy::copy(s, &*b.store).unwrap();
    assert!(counts.contains(&("messages", 8)), "{counts:?}");
    assert!(copy::copy(s, &*b.store).is_err(), "the target must be empty");
    let c = sqlite();
    copy::copy(&*b.store, &*c.store).unwrap();
    for t in [&*b.store, &*c.store] {
        assert_eq!(t.get("ann").unwrap(), s.get("ann").unwrap());
        assert_eq!(t.account_for_certfp("ff00").unwrap(), Some("Ann".into()));
        assert_eq!(t.load_channels().unwrap(), s.load_channels().unwrap());
        let sc = Scope::Target("#c".into());
        assert_eq!(
            t.select_history(&sc, &Query::Latest(None, 100), true).unwrap(),
            s.select_history(&sc, &Query::Latest(None, 100), true).unwrap()
        );
        assert_eq!(t.conversations("a:bob", true, 0, i64::MAX, 10).unwrap(), [("ann".into(), 1200)]);
        assert_eq!(t.markers("a:ann").unwrap(), [("#c".to_owned(), 99)]);
        // New rows get new ids after the copied ones.
        fill(t, "#after", 2);
        let all = t.select_history(&Scope::Target("#after".into()), &Query::Latest(None, 10), true).unwrap();
        assert_eq!(all.len(), 2);
    }
    let _ = Value::Null;
}
