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
    let logged = std::iter::from_fn(|| s.log.recv_timeout(std::time::Duration::from_millis(500)).ok())
        .find(|l| l.contains("oper override: JOIN"));
    assert!(logged.is_some_and(|l| l.contains("channel=#private") && l.contains("oper!")));
}
