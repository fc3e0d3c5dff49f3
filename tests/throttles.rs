//! What one hostile address can do to logins, OPER, REGISTER and the
//! password-hashing limit (issue 14). Loopback addresses 127.0.0.2, .3, ...
//! stand in for separate hosts (only 127.0.0.1 is exempt in the test config).
//! No assertion is on time: each checks that a refusal arrives instead of a
//! delay, or that an answer arrives where the old code slept for longer than
//! the harness waits.

mod common;
use base64::Engine;
use common::*;

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// BASE_CONFIG with throttling on: `free` failures, then `base` seconds doubling.
fn throttled(free: u32, base: u32) -> String {
    BASE_CONFIG.replace(
        "throttle_free_attempts = 1000",
        &format!("throttle_free_attempts = {free}\nthrottle_base_delay = {base}\nthrottle_max_delay = 600"),
    )
}

/// Makes argon2 slow enough (tens of milliseconds) that requests sent together
/// overlap, with `threads` hashing threads and `queue` waiting places.
fn slow_hashing(config: &str, threads: usize, queue: usize) -> String {
    config.replace(
        "argon2_memory_kib = 1024\nargon2_iterations = 1",
        &format!("argon2_memory_kib = 32768\nargon2_iterations = 4\nhash_threads = {threads}\nhash_queue = {queue}"),
    )
}

/// A server with `config` that logs each password hash as it starts (at debug).
fn start_tracing_hashes(config: &str) -> Server {
    let mut banterd = std::process::Command::new(env!("CARGO_BIN_EXE_banterd"));
    banterd.env("RUST_LOG", "info,banter::accounts::hashing=debug");
    Server::start_command(tempfile::tempdir().expect("tempdir"), config, banterd)
}

/// Waits until the server logs that a password hash for `from` has its thread.
fn hash_started(s: &Server, from: &str) {
    let field = format!("from={from}");
    loop {
        let line = s.log.recv_timeout(WAIT).unwrap_or_else(|_| panic!("no password hash started for {from}"));
        if line.contains("password hashing started") && line.contains(&field) {
            return;
        }
    }
}

fn register(s: &Server, name: &str, password: &str) {
    let mut c = s.connect();
    c.send(&format!("REGISTER {name} * {password}"));
    c.expect("900");
}

/// A connection from `from` with an AUTHENTICATE PLAIN exchange open.
fn sasl_from(s: &Server, from: &str) -> Client {
    let mut c = s.connect_from(from);
    c.send("CAP LS 302");
    c.send("CAP REQ :sasl");
    c.expect("CAP");
    c.send("AUTHENTICATE PLAIN");
    c.expect("AUTHENTICATE");
    c
}

fn send_plain(c: &mut Client, account: &str, password: &str) {
    c.send(&format!("AUTHENTICATE {}", b64(format!("\0{account}\0{password}").as_bytes())));
}

/// The line that ends a SASL PLAIN attempt (903 or 904).
fn plain_outcome(c: &mut Client) -> String {
    c.expect_where("903 or 904", |l| matches!(command_of(l), "903" | "904")).0
}

/// One SASL PLAIN attempt on a new connection from `from`: the final line.
fn plain_login(s: &Server, from: &str, account: &str, password: &str) -> String {
    let mut c = sasl_from(s, from);
    send_plain(&mut c, account, password);
    plain_outcome(&mut c)
}

/// A failed login is not followed by a delay but by a refusal that says when
/// to try again. Before, the next attempt slept first, and the plain 904
/// ("SASL authentication failed") came after the delay.
#[test]
fn failed_logins_are_refused_with_the_time_to_wait() {
    let s = Server::start_with(&throttled(1, 30));
    register(&s, "ruth", "ruth-password");
    let first = plain_login(&s, "127.0.0.2", "ruth", "wrong-1");
    assert!(first.ends_with(":SASL authentication failed"), "{first}");
    let second = plain_login(&s, "127.0.0.2", "ruth", "wrong-2");
    assert!(second.contains(" 904 ") && second.ends_with("try again in 30 seconds"), "{second}");
    // PASS gets the same refusal, as a standard reply, before its 464.
    let mut c = s.connect_from("127.0.0.2");
    c.send("PASS ruth:wrong-3");
    c.send("NICK ruthless");
    c.send("USER r 0 * :r");
    let fail = c.expect("FAIL");
    assert!(fail.contains("FAIL PASS TEMPORARILY_UNAVAILABLE") && fail.contains("try again in"), "{fail}");
}

/// Failures from one address do not lock the owner out from another address
/// with a clean record. Before, the account's failure count delayed every
/// login to it (here by 30 s, longer than the harness waits for the 903).
#[test]
fn failures_from_elsewhere_do_not_lock_the_owner_out() {
    let s = Server::start_with(&throttled(1, 30));
    register(&s, "owner", "owner-password");
    plain_login(&s, "127.0.0.2", "owner", "guess-1");
    let refused = plain_login(&s, "127.0.0.2", "owner", "guess-2");
    assert!(refused.contains("try again in"), "{refused}");
    let owner = plain_login(&s, "127.0.0.3", "owner", "owner-password");
    assert_eq!(command_of(&owner), "903", "{owner}");
    // The owner's success clears the account's count; the guessing address stays locked.
    let still = plain_login(&s, "127.0.0.2", "owner", "guess-3");
    assert!(still.contains("try again in"), "{still}");
}

/// Logging in to one's own account between guesses does not wipe the
/// address's failures. Before, `Throttle::succeeded` removed the address's
/// count, so the third guess below went through unthrottled.
#[test]
fn a_success_does_not_reset_the_address() {
    let s = Server::start_with(&throttled(2, 30));
    register(&s, "mine", "mine-password");
    for name in ["v1", "v2", "v3"] {
        register(&s, name, "victim-password");
    }
    assert!(plain_login(&s, "127.0.0.2", "v1", "guess").ends_with("failed"));
    assert_eq!(command_of(&plain_login(&s, "127.0.0.2", "mine", "mine-password")), "903");
    assert!(plain_login(&s, "127.0.0.2", "v2", "guess").ends_with("failed"));
    let third = plain_login(&s, "127.0.0.2", "v3", "guess");
    assert!(third.contains("try again in"), "{third}");
}

/// Parallel connections from one address cannot have several guesses in
/// progress at once. Before, every connection's attempt was checked.
#[test]
fn parallel_attempts_from_one_address_are_refused() {
    let s = Server::start_with(&slow_hashing(BASE_CONFIG, 2, 8));
    register(&s, "pat", "pat-password");
    let mut conns: Vec<Client> = (0..4).map(|_| sasl_from(&s, "127.0.0.2")).collect();
    for (i, c) in conns.iter_mut().enumerate() {
        send_plain(c, "pat", &format!("guess-{i}"));
    }
    let outcomes: Vec<String> = conns.iter_mut().map(plain_outcome).collect();
    let refused = outcomes.iter().filter(|l| l.contains("in progress, try again")).count();
    assert!(refused >= 1, "{outcomes:#?}");
    assert!(outcomes.iter().all(|l| command_of(l) == "904"), "{outcomes:#?}");
}

/// OPER is throttled per oper name and per address, unknown names like real
/// ones, and every failure is logged with the address. Before, OPER could be
/// retried at the flood-control rate forever, and an unknown name was
/// refused without any hashing (and without a log line).
#[test]
fn oper_guessing_is_throttled_and_logged() {
    let s = Server::start_with(&throttled(2, 30));
    let mut c = s.connect_from("127.0.0.2");
    c.register("guesser");
    for _ in 0..2 {
        c.send("OPER admin wrong");
        c.expect("464");
    }
    c.send("OPER admin wrong");
    let refused = c.expect("FAIL");
    assert!(refused.contains("FAIL OPER TEMPORARILY_UNAVAILABLE admin") && refused.contains("try again in"));
    // The right password is refused too while the address is locked...
    c.send("OPER admin adminpass");
    c.expect("FAIL");
    // ...but works from an address with a clean record.
    let mut oper = s.connect_from("127.0.0.3");
    oper.register("realoper");
    oper.send("OPER admin adminpass");
    oper.expect("381");

    // An unknown name is counted the same way as a real one.
    let mut prober = s.connect_from("127.0.0.4");
    prober.register("prober");
    for _ in 0..2 {
        prober.send("OPER nobody wrong");
        prober.expect("464");
    }
    prober.send("OPER nobody wrong");
    assert!(prober.expect("FAIL").contains("FAIL OPER TEMPORARILY_UNAVAILABLE nobody"));
    let logged = std::iter::from_fn(|| s.log.recv_timeout(WAIT).ok())
        .find(|l| l.contains("failed OPER") && l.contains("oper=nobody"));
    let logged = logged.expect("failed OPER for an unknown name is logged");
    assert!(logged.contains("from=127.0.0.4") && logged.contains("prober!"), "{logged}");
}

/// Password hashing has a global limit: one hash per address at a time and a
/// bounded queue; beyond it REGISTER is refused at once, and works again
/// afterwards. Before, every REGISTER started a hash on the blocking pool
/// (512 threads), so a burst took memory and threads without bound.
#[test]
fn a_register_burst_is_refused_beyond_the_hashing_limit() {
    let s = Server::start_with(&slow_hashing(BASE_CONFIG, 1, 1));
    let from = ["127.0.0.2", "127.0.0.2", "127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"];
    let mut conns: Vec<Client> = from.iter().map(|ip| s.connect_from(ip)).collect();
    for (i, c) in conns.iter_mut().enumerate() {
        c.send(&format!("REGISTER burst{i} * burst-password"));
    }
    let replies: Vec<String> = conns
        .iter_mut()
        .map(|c| c.expect_where("REGISTER reply", |l| matches!(command_of(l), "REGISTER" | "FAIL")).0)
        .collect();
    let refused: Vec<usize> = (0..replies.len()).filter(|&i| replies[i].starts_with(":test.banter FAIL")).collect();
    for r in &replies {
        assert!(r.contains("REGISTER SUCCESS") || r.contains("FAIL REGISTER TEMPORARILY_UNAVAILABLE"), "{r}");
    }
    // At most one hash running and one waiting: at least four refused, and
    // at most one of 127.0.0.2's three let through.
    assert!(refused.len() >= 4, "{replies:#?}");
    assert!(refused.iter().filter(|&&i| i < 3).count() >= 2, "{replies:#?}");
    // A refusal is temporary: the same request works once the burst is over.
    let i = refused[0];
    conns[i].send(&format!("REGISTER burst{i} * burst-password"));
    assert!(conns[i].expect("REGISTER").contains("REGISTER SUCCESS"));
}

/// A login to an account that does not exist, and OPER with a name that does
/// not exist, cost a password hash like real ones (checked against a dummy
/// hash), so their timing tells nothing. Seen here through the hashing limit
/// (one thread, no queue): while the unknown name is being checked, another
/// address's REGISTER finds the server busy. Before, both were answered
/// without hashing at all.
#[test]
fn unknown_names_are_checked_against_a_dummy_hash() {
    // Slower still, so the probe's hash is surely running when REGISTER comes.
    let s = start_tracing_hashes(
        &slow_hashing(BASE_CONFIG, 1, 0).replace("argon2_iterations = 4", "argon2_iterations = 10"),
    );
    let mut prober = sasl_from(&s, "127.0.0.2");
    let mut oper = s.connect_from("127.0.0.4");
    oper.register("prober");
    let mut other = s.connect_from("127.0.0.3");
    for (probe, what) in [(0, "login"), (1, "OPER")] {
        if probe == 0 {
            send_plain(&mut prober, "nosuchaccount", "some-password");
            hash_started(&s, "127.0.0.2");
        } else {
            oper.send("OPER nosuchoper some-password");
            hash_started(&s, "127.0.0.4");
        }
        // The probe's hash (after a database lookup) holds the only thread.
        other.send(&format!("REGISTER other{probe} * other-password"));
        let reply = other.expect_where("REGISTER reply", |l| matches!(command_of(l), "REGISTER" | "FAIL")).0;
        assert!(reply.contains("FAIL REGISTER TEMPORARILY_UNAVAILABLE"), "during the {what}: {reply}");
        if probe == 0 {
            assert!(plain_outcome(&mut prober).ends_with("SASL authentication failed"));
        } else {
            oper.expect("464");
        }
    }
}

/// REGISTER has a rate of its own per address. Before, one address could
/// create an account a second (each reserving its name as a nick for ever).
#[test]
fn register_is_limited_per_address() {
    let s = Server::start_with(&BASE_CONFIG.replace("[accounts]\n", "[accounts]\nregistrations_per_ip = 2\n"));
    let mut c = s.connect_from("127.0.0.2");
    for name in ["reg1", "reg2"] {
        c.send(&format!("REGISTER {name} * reg-password"));
        assert!(c.expect("REGISTER").contains("REGISTER SUCCESS"));
        c.send("QUIT");
        c = s.connect_from("127.0.0.2");
    }
    c.send("REGISTER reg3 * reg-password");
    let refused = c.expect("FAIL");
    assert!(
        refused.contains(
            "FAIL REGISTER TEMPORARILY_UNAVAILABLE reg3 :Too many accounts registered from your address, try again in"
        ),
        "{refused}"
    );
    // Another address is not affected.
    let mut other = s.connect_from("127.0.0.3");
    other.send("REGISTER reg3 * reg-password");
    assert!(other.expect("REGISTER").contains("REGISTER SUCCESS"));
}

/// An account nobody logged into for `nick_reservation_days` no longer
/// reserves its name as a nick; a recent one still does. Before, every
/// account reserved its nick for ever.
#[test]
fn nick_reservations_expire_without_logins() {
    let config = BASE_CONFIG.replace("[accounts]\n", "[accounts]\nnick_reservation_days = 30\n");
    let s = Server::start_with(&config);
    register(&s, "sleepy", "sleepy-password");
    register(&s, "awake", "awake-password");
    let dir = s.crash();
    age_account(&dir, "sleepy", 40);
    let s = Server::start_in(dir, &config);
    let mut c = s.connect();
    let burst = c.register("sleepy");
    assert!(burst.iter().any(|l| l.contains(" 001 sleepy ")), "{burst:#?}");
    assert!(!burst.iter().any(|l| l.contains("NICKNAME_RESERVED")), "{burst:#?}");
    let mut d = s.connect();
    let burst = d.register("awake");
    assert!(burst.iter().any(|l| l.contains("NICKNAME_RESERVED")), "{burst:#?}");

    // A login reserves the name again, in memory and (at most hourly) on disk.
    c.send("QUIT");
    assert!(c.closed());
    let mut owner = s.connect();
    owner.send("PASS sleepy:sleepy-password");
    owner.register("sleepyhead");
    let mut e = s.connect();
    e.send("NICK sleepy");
    assert!(e.expect("WARN").contains("WARN NICK NICKNAME_RESERVED sleepy "));
    let mut s = s;
    s.signal("TERM");
    assert_eq!(s.wait_exit(WAIT), Some(0));
    let s = Server::start_in(s.crash(), &config);
    let mut f = s.connect();
    f.send("NICK sleepy");
    assert!(f.expect("WARN").contains("WARN NICK NICKNAME_RESERVED sleepy "));
}

/// A SCRAM-SHA-256 exchange from `from` for `user` with a wrong proof: the line that ends it.
fn scram_fail(s: &Server, from: &str, user: &str) -> String {
    let mut c = s.connect_from(from);
    c.send("CAP LS 302");
    c.send("CAP REQ :sasl");
    c.expect("CAP");
    c.send("AUTHENTICATE SCRAM-SHA-256");
    c.expect("AUTHENTICATE");
    c.send(&format!("AUTHENTICATE {}", b64(format!("n,,n={user},r=clientnonce").as_bytes())));
    let challenge = c.expect("AUTHENTICATE");
    let server_first = base64::engine::general_purpose::STANDARD.decode(&params_of(&challenge)[0]).unwrap();
    let server_first = String::from_utf8(server_first).unwrap();
    let nonce = server_first.split(',').next().unwrap().strip_prefix("r=").unwrap().to_owned();
    c.send(&format!("AUTHENTICATE {}", b64(format!("c=biws,r={nonce},p={}", b64(&[0; 32])).as_bytes())));
    plain_outcome(&mut c)
}

/// SCRAM failures on names that do not exist are counted per name, as on
/// real ones. Before, every unknown name's failures were counted under one
/// empty name: once someone had failed on a few unknown names, an address
/// that had failed before was refused on any unknown name but not on a real
/// one, which told them apart.
#[test]
fn scram_failures_on_unknown_names_are_counted_per_name() {
    let s = Server::start_with(&throttled(3, 30));
    register(&s, "real", "real-password");
    for name in ["ghost1", "ghost2", "ghost3"] {
        let r = scram_fail(&s, "127.0.0.2", name);
        assert!(r.ends_with("SASL authentication failed"), "{name}: {r}");
    }
    // 127.0.0.3 fails once, so the names' own counts apply to it from now on.
    assert!(plain_login(&s, "127.0.0.3", "real", "wrong").ends_with("SASL authentication failed"));
    // An unknown name and a real one get the same answer.
    for name in ["ghost4", "real"] {
        let r = scram_fail(&s, "127.0.0.3", name);
        assert!(r.ends_with("SASL authentication failed"), "{name}: {r}");
    }
}

/// Guesses in flight on an account do not refuse its owner, logging in from
/// an address with a clean record. Before, one attempt per account was let
/// through at a time, so an attacker who kept a guess in flight got the
/// owner's correct password refused ("another attempt ... in progress").
#[test]
fn a_guess_in_flight_does_not_refuse_the_owner() {
    let config = slow_hashing(BASE_CONFIG, 1, 8).replace("argon2_iterations = 4", "argon2_iterations = 10");
    let s = start_tracing_hashes(&config);
    register(&s, "busy", "busy-password");
    let mut guesser = sasl_from(&s, "127.0.0.2");
    let mut owner = sasl_from(&s, "127.0.0.3");
    send_plain(&mut guesser, "busy", "a-guess");
    // The guess is under way (its hash running) before the owner's attempt.
    hash_started(&s, "127.0.0.2");
    send_plain(&mut owner, "busy", "busy-password");
    let answer = plain_outcome(&mut owner);
    assert_eq!(command_of(&answer), "903", "{answer}");
    assert!(plain_outcome(&mut guesser).ends_with("SASL authentication failed"));
}
