//! What a single command may cost the server (issue 14: WHO over every user,
//! MODE lists), each attack replayed at a small scale.

mod common;
use common::*;

/// [`BASE_CONFIG`] with `limits` in place of its `[limits]` body and `flood`
/// in place of its `[flood]` body.
fn config(limits: &str, flood: &str) -> String {
    BASE_CONFIG
        .replace("exempt = [\"127.0.0.1\"]", limits)
        .replace("[flood]\nenabled = false", &format!("[flood]\n{flood}"))
}

/// Flood control on for everyone (no exemption): a burst of ten, then one a
/// second, at most three lines waiting, and a WHO search costs one more
/// command per user it reads.
const STRICT_FLOOD: &str = "enabled = true\nburst = 10\nper_second = 1\nmax_backlog = 3\nsearch_cost_users = 1";

/// A WHO mask search reads every user, so it counts as one more command per
/// `flood.search_cost_users` users read: six WHOs sent at once within a burst
/// of ten used to pass; now the first one overdraws the bucket, and the four
/// waiting behind the second exceed the backlog of three.
#[test]
fn a_wide_who_counts_as_many_commands() {
    let s = Server::start_with(&config("exempt = []\nmax_per_ip = 64", STRICT_FLOOD));
    let _users: Vec<Client> = (0..12).map(|i| s.client(&format!("user{i}"))).collect();
    let mut c = s.client("searcher");
    let six = "WHO *zzz*\r\n".repeat(6);
    c.send_raw(six.as_bytes());
    let (_, before) = c.expect_where("ERROR", |l| command_of(l) == "ERROR");
    assert!(before.iter().filter(|l| command_of(l) == "315").count() < 6, "{before:?}");
    assert!(c.closed());

    // The same six WHOs from a server without the extra cost all pass.
    let free = STRICT_FLOOD.replace("search_cost_users = 1", "search_cost_users = 0");
    let s = Server::start_with(&config("exempt = []\nmax_per_ip = 64", &free));
    let _users: Vec<Client> = (0..12).map(|i| s.client(&format!("user{i}"))).collect();
    let mut c = s.client("searcher");
    c.send_raw(six.as_bytes());
    for _ in 0..6 {
        c.expect("315");
    }
}

/// A non-operator's WHO mask search lists at most `limits.max_who_results`
/// users; past it the reply is 416 and 315. Before, `WHO *` listed every
/// user of the server. Operators and `WHO #channel` are not limited.
#[test]
fn a_who_search_lists_a_bounded_number_of_users() {
    let s = Server::start_with(&config("exempt = [\"127.0.0.1\"]\nmax_who_results = 3", "enabled = false"));
    let _users: Vec<Client> = (0..5).map(|i| s.client(&format!("user{i}"))).collect();
    let mut c = s.client("searcher");
    c.send("WHO *");
    let lines = c.collect_until("315");
    let codes: Vec<&str> = lines.iter().map(|l| command_of(l)).collect();
    assert_eq!(codes, ["416", "315"], "{lines:?}");
    assert_eq!(params_of(&lines[0])[1..], ["WHO", "Output too large, truncated"]);
    c.send("WHO user?");
    let codes: Vec<String> = c.collect_until("315").iter().map(|l| command_of(l).to_owned()).collect();
    assert_eq!(codes, ["416", "315"], "five matches are more than three");
    c.send("WHO user1");
    assert_eq!(c.collect_until("315").iter().filter(|l| command_of(l) == "352").count(), 1);

    c.send("JOIN #all");
    c.expect("366");
    c.send("OPER admin adminpass");
    c.expect("381");
    c.send("WHO *");
    assert_eq!(c.collect_until("315").iter().filter(|l| command_of(l) == "352").count(), 6, "an oper sees all");
}

/// Long and pathological masks give the right answer (the compiled matcher).
#[test]
fn wide_masks_match_correctly() {
    let s = Server::start();
    let mut a = s.client("alpha");
    let _b = s.client("banana");
    let who = |c: &mut Client, mask: &str| -> Vec<String> {
        c.send(&format!("WHO {mask}"));
        c.collect_until("315").iter().filter(|l| command_of(l) == "352").map(|l| params_of(l)[5].clone()).collect()
    };
    assert!(who(&mut a, &"?".repeat(461)).is_empty());
    assert!(who(&mut a, &"*a".repeat(230)).is_empty());
    assert!(who(&mut a, "*zzz*").is_empty());
    let mut both = who(&mut a, "*a*a*");
    both.sort();
    assert_eq!(both, ["alpha", "banana"]);
    assert_eq!(who(&mut a, "*n*n*"), ["banana"]);
    assert_eq!(who(&mut a, "B?N*A"), ["banana"]);
}

/// Counts lines with the numeric `code`.
fn count(lines: &[String], code: &str) -> usize {
    lines.iter().filter(|l| command_of(l) == code).count()
}

/// `MODE #c bbbb...` sent the ban list once per letter (a 506-byte line made
/// about 27 MB of replies), to anyone. Now each list goes at most once per
/// command and counts against the mode limit; bans are shown to members,
/// exceptions and invite exceptions to channel operators (issue 14, item 3).
#[test]
fn mode_lists_are_sent_once_and_only_to_those_who_may_see_them() {
    let s = Server::start();
    let mut op = s.client("op");
    op.send("JOIN #c");
    op.expect("366");
    op.send("MODE #c +beI a!*@* b!*@* c!*@*");
    op.expect("MODE");
    op.send("MODE #c +bb d!*@* e!*@*");
    op.expect("MODE");

    let mut outsider = s.client("outsider");
    outsider.send(&format!("MODE #c {}", "b".repeat(400)));
    let lines = outsider.sync();
    let head = &lines[..lines.len().min(6)];
    assert_eq!((count(&lines, "367"), count(&lines, "442")), (0, 1), "{} lines: {head:?}", lines.len());

    let mut member = s.client("member");
    member.send("JOIN #c");
    member.expect("366");
    member.send(&format!("MODE #c {}", "b".repeat(400)));
    let lines = member.sync();
    let head = &lines[..lines.len().min(6)];
    assert_eq!((count(&lines, "367"), count(&lines, "368")), (3, 1), "one ban list: {} lines: {head:?}", lines.len());
    member.send("MODE #c eIeI");
    let lines = member.sync();
    assert_eq!((count(&lines, "348"), count(&lines, "346"), count(&lines, "482")), (0, 0, 1), "{lines:?}");

    op.sync();
    op.send("MODE #c bbeeIIbeI");
    let lines = op.sync();
    let lists = (count(&lines, "368"), count(&lines, "349"), count(&lines, "347"));
    assert_eq!(lists, (1, 1, 1), "each list once: {lines:?}");
    // A list query takes one of the four parameter modes a MODE may carry
    // (a letter is a query once the arguments are used up).
    op.send("MODE #c +bbbe f!*@* g!*@* h!*@*");
    let lines = op.sync();
    assert_eq!(count(&lines, "349"), 1, "three changes and a query: {lines:?}");
    op.send("MODE #c -bbbbe f!*@* g!*@* h!*@* a!*@*");
    let lines = op.sync();
    assert_eq!(count(&lines, "349"), 0, "four changes, no room for the query: {lines:?}");
    let change = lines.iter().find(|l| command_of(l) == "MODE").expect("the change");
    assert_eq!(params_of(change)[1], "-bbbb");
}

/// MODE on a secret channel told anyone outside it the channel's flags, its
/// creation time and its ban lists with the setters' nick!user@host; now it is
/// 442 and nothing else, as TOPIC (issue 14, item 13).
#[test]
fn mode_hides_a_secret_channel_from_outsiders() {
    let s = Server::start();
    let mut op = s.client("op");
    op.send("JOIN #hidden");
    op.expect("366");
    op.send("MODE #hidden +sbk b!*@* key");
    op.expect("MODE");
    let mut outsider = s.client("outsider");
    for query in ["MODE #hidden", "MODE #hidden b", "MODE #hidden +e", "MODE #hidden I"] {
        outsider.send(query);
        let lines = outsider.sync();
        let codes: Vec<&str> = lines.iter().map(|l| command_of(l)).collect();
        assert_eq!(codes, ["442"], "{query}: {lines:?}");
        assert!(!lines.iter().any(|l| l.contains("op!")), "{lines:?}");
    }
    // A public channel still shows its modes (without the key) to outsiders.
    op.send("MODE #hidden -s");
    op.expect("MODE");
    outsider.send("MODE #hidden");
    let lines = outsider.sync();
    assert_eq!(lines.iter().map(|l| command_of(l)).collect::<Vec<_>>(), ["324", "329"], "{lines:?}");
    assert!(!lines[0].contains("key"), "{lines:?}");
    // Members and operators see everything.
    outsider.send("OPER admin adminpass");
    outsider.expect("381");
    op.send("MODE #hidden +s");
    op.expect("MODE");
    outsider.send("MODE #hidden b");
    assert_eq!(count(&outsider.sync(), "367"), 1);
}
