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
