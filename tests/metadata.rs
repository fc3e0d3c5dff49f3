//! draft/metadata-3, draft/multiline, extended-monitor and the account and mute
//! extbans, over TCP.

mod common;
use common::*;

fn join(c: &mut Client, chan: &str) {
    c.send(&format!("JOIN {chan}"));
    c.expect("366");
    c.sync();
}

const META: &str = "draft/metadata-3 batch";

#[test]
fn cap_values_and_isupport() {
    let s = Server::start();
    let mut c = s.connect();
    c.send("CAP LS 302");
    let mut ls = String::new();
    loop {
        let line = c.expect("CAP");
        ls.push_str(&line);
        if params_of(&line)[2] != "*" {
            break;
        }
    }
    assert!(ls.contains("draft/metadata-3=before-connect,max-subs=50,max-keys=20"), "{ls}");
    assert!(ls.contains("draft/multiline=max-bytes=4096,max-lines=32"), "{ls}");
    assert!(ls.contains("extended-monitor"), "{ls}");
    c.send("CAP END");
    let burst = c.register("chk").join("\n");
    assert!(burst.contains(" EXTBAN=,am ") && burst.contains(" ACCOUNTEXTBAN=a "), "{burst}");
}

#[test]
fn set_get_list_and_clear_on_self() {
    let s = Server::start();
    let mut a = with_caps(&s, "alice", META);
    a.send("METADATA * SET display-name :Alice A");
    assert_eq!(a.recv(), ":test.banter 761 alice alice display-name * :Alice A");
    a.send("METADATA * GET display-name avatar");
    let start = a.recv();
    assert_eq!(command_of(&start), "BATCH");
    let id = params_of(&start)[0][1..].to_owned();
    assert_eq!(params_of(&start)[1..], ["metadata", "alice"]);
    assert_eq!(a.recv(), format!("@batch={id} :test.banter 761 alice alice display-name * :Alice A"));
    assert_eq!(a.recv(), format!("@batch={id} :test.banter 766 alice alice avatar :Key not set"));
    assert_eq!(a.recv(), format!(":test.banter BATCH -{id}"));
    a.send("METADATA * SET display-name");
    assert_eq!(a.recv(), ":test.banter 766 alice alice display-name :Key not set");
    a.send("METADATA * SET Bad$Key :x");
    assert_eq!(a.recv(), ":test.banter FAIL METADATA INVALID_KEY Bad$Key :Invalid key");
    a.send(&format!("METADATA * SET avatar :{}", "x".repeat(301)));
    assert_eq!(a.recv(), ":test.banter FAIL METADATA INVALID_VALUE avatar :Value is too long");
    a.send("METADATA nobody LIST");
    assert_eq!(a.recv(), ":test.banter FAIL METADATA INVALID_TARGET nobody :Invalid metadata target");
}

#[test]
fn only_the_owner_or_a_channel_op_may_set() {
    let s = Server::start();
    let mut a = with_caps(&s, "alice", META);
    let mut b = with_caps(&s, "bob", META);
    join(&mut a, "#m");
    join(&mut b, "#m");
    a.sync();
    b.send("METADATA alice SET url :x");
    assert_eq!(
        b.recv(),
        ":test.banter FAIL METADATA KEY_NO_PERMISSION alice url :You may not change this target's metadata"
    );
    b.send("METADATA #m SET url :x");
    assert!(b.recv().contains("FAIL METADATA KEY_NO_PERMISSION #m url"));
    a.send("METADATA #m SET url :https://example.com");
    assert_eq!(a.recv(), ":test.banter 761 alice #m url * :https://example.com");
    // a non-member sees nothing of the channel's metadata
    let mut c = with_caps(&s, "carol", META);
    c.send("METADATA #m LIST");
    assert!(c.recv().contains("FAIL METADATA KEY_NO_PERMISSION #m *"));
}

#[test]
fn subscribers_hear_changes_and_get_a_sync_on_join() {
    let s = Server::start();
    let mut a = with_caps(&s, "alice", META);
    let mut b = with_caps(&s, "bob", META);
    b.send("METADATA * SUB display-name avatar");
    assert_eq!(params_of(&b.recv()), ["bob", "display-name", "avatar"]);
    assert_eq!(b.recv(), ":test.banter 774 bob *ALL 0 :Please synchronize metadata later");
    join(&mut a, "#s");
    a.send("METADATA * SET display-name :Alice");
    a.send("METADATA #s SET avatar :chan.png");
    a.sync();
    assert!(b.sync().is_empty(), "bob shares no channel yet");
    b.send("JOIN #s");
    let lines = b.collect_until("BATCH");
    assert_eq!(params_of(lines.last().unwrap())[1..], ["metadata", "#s"]);
    let mut kv = Vec::new();
    loop {
        let l = b.recv();
        if command_of(&l) == "BATCH" {
            break;
        }
        kv.push(params_of(&l));
    }
    assert_eq!(kv, [["bob", "#s", "avatar", "*", "chan.png"], ["bob", "alice", "display-name", "*", "Alice"]]);
    a.sync();
    a.send("METADATA * SET display-name :Alice 2");
    assert_eq!(b.recv(), ":test.banter 761 bob alice display-name * :Alice 2");
    a.send("METADATA * SET url :not subscribed");
    a.send("METADATA * SET display-name");
    assert_eq!(b.recv(), ":test.banter 766 bob alice display-name :Key not set");
    b.send("METADATA * SUBS");
    let subs = b.collect_until("772");
    assert_eq!(params_of(subs.last().unwrap()), ["bob", "avatar", "display-name"]);
}

#[test]
fn before_connect_metadata_comes_back_in_the_burst_and_whois() {
    let s = Server::start();
    let mut a = s.connect();
    a.send("CAP LS 302");
    a.send("CAP REQ :draft/metadata-3 batch");
    a.expect("CAP");
    a.send("METADATA * SET display-name :Early");
    assert!(a.expect("761").ends_with(" 761 * * display-name * :Early"));
    a.send("CAP END");
    let burst = a.register("early").join("\n");
    assert!(burst.contains(" 761 early early display-name * :Early"), "{burst}");
    let mut b = with_caps(&s, "asker", META);
    b.send("WHOIS early");
    let lines = b.collect_until("318");
    assert!(lines.iter().any(|l| l.ends_with(" 760 asker early display-name * :Early")), "{lines:#?}");
}

const ML: &str = "draft/multiline batch message-tags echo-message server-time labeled-response";

#[test]
fn multiline_batch_and_fallback() {
    let s = Server::start();
    let mut a = with_caps(&s, "alice", ML);
    let mut b = with_caps(&s, "bob", ML);
    let mut c = with_caps(&s, "carol", "message-tags server-time");
    for x in [&mut a, &mut b, &mut c] {
        join(x, "#ml");
    }
    a.sync();
    b.sync();
    a.send("@label=L1;+draft/reply=x BATCH +r draft/multiline #ml");
    a.send("@batch=r PRIVMSG #ml :hello");
    a.send("@batch=r PRIVMSG #ml :");
    a.send("@batch=r;draft/multiline-concat PRIVMSG #ml :world");
    a.send("BATCH -r");
    let echo = a.collect_until("BATCH");
    let start = echo.last().unwrap().clone();
    assert_eq!(tag(&start, "label"), Some("L1"));
    let msgid = tag(&start, "msgid").expect("msgid").to_owned();
    let start_b = b.expect("BATCH");
    assert_eq!(tag(&start_b, "msgid"), Some(msgid.as_str()));
    assert_eq!(tag(&start_b, "+draft/reply"), Some("x"));
    let id = params_of(&start_b)[0][1..].to_owned();
    assert_eq!(params_of(&start_b)[1..], ["draft/multiline", "#ml"]);
    let l1 = b.recv();
    assert_eq!(tag(&l1, "batch"), Some(id.as_str()));
    assert_eq!(tag(&l1, "msgid"), None);
    assert_eq!(params_of(&l1), ["#ml", "hello"]);
    assert_eq!(params_of(&b.recv()), ["#ml", ""]);
    let l3 = b.recv();
    assert_eq!(tag(&l3, "draft/multiline-concat"), Some(""));
    assert_eq!(params_of(&b.recv()), [format!("-{id}")]);
    let f1 = c.expect("PRIVMSG");
    assert_eq!(tag(&f1, "msgid"), Some(msgid.as_str()));
    assert_eq!(params_of(&f1), ["#ml", "hello"]);
    let f2 = c.expect("PRIVMSG");
    assert_eq!(tag(&f2, "msgid"), None);
    assert_eq!(params_of(&f2), ["#ml", "world"]);
    assert!(c.sync().is_empty());
}

#[test]
fn multiline_limits_and_invalid_batches() {
    let s = Server::start();
    let mut a = with_caps(&s, "alice", ML);
    join(&mut a, "#ml");
    a.send("BATCH +x draft/multiline #ml");
    a.send("@batch=y PRIVMSG #ml :hi");
    assert_eq!(a.recv(), ":test.banter FAIL BATCH MULTILINE_INVALID :Unexpected batch reference");
    a.send("BATCH -x");
    a.send("BATCH +z draft/multiline #ml");
    for _ in 0..33 {
        a.send("@batch=z PRIVMSG #ml :hi");
    }
    assert_eq!(a.recv(), ":test.banter FAIL BATCH MULTILINE_MAX_LINES 32 :Too many lines in the multiline batch");
    a.send("BATCH -z");
    a.send("BATCH +w draft/multiline #ml");
    for _ in 0..11 {
        a.send(&format!("@batch=w PRIVMSG #ml :{}", "x".repeat(400)));
    }
    assert_eq!(a.recv(), ":test.banter FAIL BATCH MULTILINE_MAX_BYTES 4096 :Too many bytes in the multiline batch");
    a.send("BATCH -w");
    assert!(a.sync().is_empty());
}

#[test]
fn extended_monitor_delivers_away_and_setname() {
    let s = Server::start();
    let mut w = with_caps(&s, "watcher", "extended-monitor away-notify");
    let mut plain = with_caps(&s, "plainw", "away-notify");
    w.send("MONITOR + target");
    plain.send("MONITOR + target");
    w.sync();
    plain.sync();
    let mut t = with_caps(&s, "target", "setname");
    w.expect("730");
    plain.expect("730");
    t.send("AWAY :gone");
    t.send("SETNAME :New Name");
    t.sync();
    assert_eq!(w.recv(), ":target!~target@127.0.0.1 AWAY :gone");
    assert!(w.sync().is_empty(), "no SETNAME without the setname cap");
    assert!(plain.sync().is_empty(), "no AWAY without extended-monitor");
}

#[test]
fn mute_and_account_extbans() {
    let s = Server::start();
    let mut op = s.client("chanop");
    join(&mut op, "#x");
    op.send("MODE #x +b m:Muted");
    assert_eq!(op.expect("MODE"), ":chanop!~chanop@127.0.0.1 MODE #x +b m:Muted!*@*");
    let mut m = s.client("muted");
    join(&mut m, "#x");
    m.send("PRIVMSG #x :hi");
    assert!(m.expect("404").contains("#x"));
    op.send("MODE #x +e m:*!~muted@*");
    op.expect("MODE");
    m.sync();
    m.send("PRIVMSG #x :hi again");
    assert_eq!(op.expect("PRIVMSG"), ":muted!~muted@127.0.0.1 PRIVMSG #x :hi again");

    op.send("MODE #x +b a:acc*");
    assert_eq!(op.expect("MODE"), ":chanop!~chanop@127.0.0.1 MODE #x +b a:acc*");
    let mut r = s.connect();
    r.send("REGISTER account1 * password123");
    r.expect("REGISTER");
    r.register("account1");
    r.send("JOIN #x");
    assert!(r.expect("474").contains("#x"));
    let mut n = s.client("acc2");
    n.send("JOIN #x");
    n.expect("366");
}

#[test]
fn labeled_get_labels_the_metadata_batch() {
    let s = Server::start();
    let mut a = with_caps(&s, "alice", "draft/metadata-3 batch labeled-response");
    a.send("@label=q1 METADATA * GET url");
    // a reply that is exactly one batch is labeled on its opening line, not nested
    let open = a.recv();
    assert_eq!(tag(&open, "label"), Some("q1"));
    assert_eq!(params_of(&open)[1..], ["metadata", "alice"]);
    let id = params_of(&open)[0][1..].to_owned();
    assert_eq!(a.recv(), format!("@batch={id} :test.banter 766 alice alice url :Key not set"));
    assert_eq!(a.recv(), format!(":test.banter BATCH -{id}"));
}
