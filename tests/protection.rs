//! What one user could take from others (issue 14): an empty permanent
//! channel, a reserved nick held by a connection that never registers, and a
//! nick its owner could not get back.

mod common;
use common::*;

/// The first user into an empty permanent channel no longer gets ops (they
/// used to, and could set +ik and leave: everyone after got 475). Operators
/// join past +i/+k/+l/+b, told so, and it is logged.
#[test]
fn nobody_takes_over_a_permanent_channel() {
    let config = BASE_CONFIG.replace("[accounts]\n", "[channels]\npermanent = [\"#lobby\"]\n\n[accounts]\n");
    let s = Server::start_with(&config);
    let mut first = s.client("first");
    first.send("JOIN #lobby");
    let names = first.collect_until("366");
    assert!(names.iter().any(|l| l.contains(" 353 ") && l.ends_with(":first")), "{names:#?}");
    first.send("MODE #lobby +ik secret");
    assert!(first.expect("482").contains("#lobby"));

    // Someone who creates a channel does get ops, and can lock it.
    first.send("JOIN #private");
    first.collect_until("366");
    first.send("MODE #private +ik key");
    first.expect("MODE");
    let mut other = s.client("other");
    other.send("JOIN #private");
    assert!(other.expect("475").contains("#private"));

    // An operator joins past +k and +i, with a notice; the override is logged.
    let mut oper = s.client("oper");
    oper.send("OPER admin adminpass");
    oper.expect("381");
    oper.send("JOIN #private");
    let (notice, _) = oper.expect_where("override notice", |l| command_of(l) == "NOTICE" && l.contains("override"));
    assert!(notice.contains("Oper override: you joined #private past +k"), "{notice}");
    oper.collect_until("366");
    let logged = std::iter::from_fn(|| s.log.recv_timeout(WAIT).ok()).find(|l| l.contains("oper override: JOIN"));
    assert!(logged.is_some_and(|l| l.contains("channel=#private") && l.contains("oper!")));

    // A channel an operator made permanent with +P is no different: empty,
    // it gives no ops to the next one in.
    oper.send("JOIN #kept");
    oper.collect_until("366");
    oper.send("MODE #kept +P");
    oper.expect("MODE");
    oper.send("PART #kept");
    oper.expect("PART");
    other.send("JOIN #kept");
    let names = other.collect_until("366");
    assert!(names.iter().any(|l| l.contains(" 353 ") && l.ends_with(":other")), "{names:#?}");
    other.send("MODE #kept +k mine");
    assert!(other.expect("482").contains("#kept"));
}

/// A connection that never finishes registering cannot hold a reserved nick:
/// the owner gets it. Before, the squatter's NICK claimed it (for the 60 s
/// registration timeout, and again on every reconnect) and the owner got 433.
#[test]
fn an_unregistered_connection_cannot_squat_a_reserved_nick() {
    let s = Server::start();
    let mut c = s.connect();
    c.send("REGISTER ann * ann-password");
    c.expect("900");
    drop(c);
    let mut squatter = s.connect_from("127.0.0.2");
    squatter.send("NICK ann");
    assert!(squatter.expect("WARN").contains("WARN NICK NICKNAME_RESERVED ann "));
    // The owner with PASS, and with SASL sent after NICK (as irssi does), gets the nick.
    let mut owner = s.connect();
    owner.send("PASS ann:ann-password");
    let burst = owner.register("ann");
    assert!(burst.iter().any(|l| l.contains(" 001 ann ")), "{burst:#?}");
    owner.send("QUIT");
    assert!(owner.closed());
    let mut sasl = s.connect();
    sasl.send("CAP LS 302");
    sasl.send("NICK ann");
    sasl.send("USER ann 0 * :Ann");
    sasl.send("CAP REQ :sasl");
    sasl.send("AUTHENTICATE PLAIN");
    sasl.expect("AUTHENTICATE");
    sasl.send(&format!("AUTHENTICATE {}", b64(b"\0ann\0ann-password")));
    sasl.expect("903");
    sasl.send("CAP END");
    assert!(sasl.expect("001").contains(" 001 ann "));
    // The squatter, finishing registration without logging in, is a guest.
    squatter.send("USER s 0 * :s");
    assert!(squatter.expect("001").contains(" 001 Guest"));
}

/// REGAIN: the owner takes the account's nick back from whoever holds it
/// (here someone who took it while the reservation had lapsed); the holder
/// becomes a guest. Before there was no REGAIN (421).
#[test]
fn the_owner_regains_a_nick_held_by_someone_else() {
    let config = BASE_CONFIG.replace("[accounts]\n", "[accounts]\nnick_reservation_days = 30\n");
    let s = Server::start_with(&config);
    let mut c = s.connect();
    c.send("REGISTER oldie * oldie-password");
    c.expect("900");
    drop(c);
    let dir = s.crash();
    age_account(&dir, "oldie", 40);
    let s = Server::start_in(dir, &config);
    let mut holder = s.client("oldie");
    let mut watcher = s.client("watcher");
    holder.send("JOIN #room");
    holder.collect_until("366");
    watcher.send("JOIN #room");
    watcher.collect_until("366");

    let mut owner = s.connect();
    owner.send("PASS oldie:oldie-password");
    owner.register("oldie_");
    owner.send("REGAIN oldie");
    assert!(owner.expect("NICK").contains("NICK oldie"));
    let (renamed, _) = holder.expect_where("NICK to a guest", |l| command_of(l) == "NICK");
    assert!(renamed.starts_with(":oldie!") && renamed.contains(" NICK Guest"), "{renamed}");
    assert!(holder.expect("NOTE").contains("NOTE NICK REGAINED oldie "));
    assert!(watcher.expect("NICK").contains(" NICK Guest"));
    // Only the account's owner may regain it.
    let mut other = s.client("other");
    other.send("REGISTER other * other-password");
    other.expect("900");
    other.send("REGAIN oldie");
    assert!(other.expect("FAIL").contains("FAIL REGAIN NOT_YOURS oldie "));
}

fn b64(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(data)
}
