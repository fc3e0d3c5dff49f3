//! Hostile input and resource limits over real TCP: each bad input gets its
//! documented reply or a clean close, and the server keeps serving others.

mod common;
use common::*;

fn server_rss_kib(s: &Server) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", s.child.id())).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[test]
fn hostile_inputs_get_replies_and_the_server_keeps_serving() {
    let s = Server::start();
    let mut h = s.client("hostile");
    let mut bystander = s.client("calm");

    // 1 MB without a newline: one 417, then the line ending resynchronises
    h.send_raw(&vec![b'a'; 1 << 20]);
    h.send_raw(b"\r\n");
    assert_eq!(h.expect("417"), ":test.banter 417 hostile :Input line was too long");
    h.send("PING :after-megabyte");
    assert!(h.expect("PONG").ends_with("after-megabyte"));

    // a line of NULs
    h.send_raw(b"\0\0\0\0\0\0\r\n");
    assert!(h.expect("FAIL").contains("INVALID_LINE"));

    // invalid UTF-8 in a nick, a channel and a message
    for bad in [&b"NICK \xff\xfe\r\n"[..], b"JOIN #\xc3\x28\r\n", b"PRIVMSG calm :\xe2\x28\xa1\r\n"] {
        h.send_raw(bad);
        assert!(h.expect("FAIL").contains("INVALID_UTF8"));
    }

    // 1000 parameters do not fit in a line
    h.send(&format!("PRIVMSG {}", "a ".repeat(1000)));
    h.expect("417");
    // 10 KB of tags
    h.send(&format!("@+big={} TAGMSG calm", "x".repeat(10_000)));
    h.expect("417");
    // control characters in a nick
    h.send("NICK bad\x01nick");
    assert!(h.expect("432").contains(" 432 hostile "));
    // as many channels as fit in one line: the channel limit answers 405
    let many: Vec<String> =
        (0..110).map(|i| format!("#{}{}", (b'a' + (i / 26) as u8) as char, (b'a' + (i % 26) as u8) as char)).collect();
    h.send(&format!("JOIN {}", many.join(",")));
    h.expect("405");
    // unknown capabilities
    h.send("CAP REQ :no-such-cap another-fake");
    assert!(h.expect("CAP").contains("NAK"));
    // AUTHENTICATE: oversize chunk and invalid base64
    let mut a = s.connect();
    a.send("CAP REQ :sasl");
    a.expect("CAP");
    a.send("AUTHENTICATE PLAIN");
    a.expect("AUTHENTICATE");
    a.send(&format!("AUTHENTICATE {}", "A".repeat(401)));
    a.expect("905");
    a.send("AUTHENTICATE PLAIN");
    a.expect("AUTHENTICATE");
    a.send("AUTHENTICATE !!!notbase64!!!");
    a.expect("904");
    // REGISTER with a huge password
    a.send(&format!("REGISTER huge * {}", "p".repeat(300)));
    assert!(a.expect("FAIL").contains("UNACCEPTABLE_PASSWORD"));
    a.send(&format!("REGISTER huge * {}", "p".repeat(600)));
    a.expect("417");
    // unknown and malformed commands
    h.send(":only-a-prefix");
    h.send("@only=tags");
    h.send("MODE");
    assert!(h.expect("461").contains("MODE"));

    // everyone else is still served
    h.send("PRIVMSG calm :still alive");
    assert_eq!(bystander.expect("PRIVMSG"), ":hostile!~hostile@127.0.0.1 PRIVMSG calm :still alive");
    let mut late = s.client("latecomer");
    late.send("PING :ok");
    late.expect("PONG");
}

#[test]
fn too_many_commands_before_registration_closes() {
    let s = Server::start();
    let mut c = s.connect();
    for _ in 0..80 {
        c.send("CAP LIST");
    }
    assert!(c.expect("ERROR").contains("Too many commands before registration"));
    assert!(c.closed());
}

#[test]
fn per_ip_limit_refuses_with_error() {
    let config = BASE_CONFIG.replace("exempt = [\"127.0.0.1\"]", "exempt = []\nmax_per_ip = 2");
    let s = Server::start_with(&config);
    let _a = s.client("one");
    let _b = s.client("two");
    let mut c = s.connect();
    assert_eq!(c.recv(), "ERROR :Closing Link: 127.0.0.1 (Too many connections from your address)");
    assert!(c.closed());
    // Once one has gone (its ERROR is queued after its address is released),
    // there is room again.
    let mut a = _a;
    a.send("QUIT");
    a.expect("ERROR");
    s.client("three");
}

#[test]
fn connection_rate_limit_refuses_with_error() {
    let config = BASE_CONFIG.replace("exempt = [\"127.0.0.1\"]", "exempt = []\nconnects_per_minute = 3");
    let s = Server::start_with(&config);
    for _ in 0..3 {
        let mut c = s.connect();
        c.send("PING :x");
        c.expect("PONG");
    }
    let mut c = s.connect();
    assert!(c.recv().contains("Too many connections from your address in the last minute"));
}

#[test]
fn flooding_is_delayed_then_disconnected() {
    let config = BASE_CONFIG
        .replace("exempt = [\"127.0.0.1\"]", "exempt = []")
        .replace("[flood]\nenabled = false", "[flood]\nenabled = true\nburst = 5\nper_second = 2\nmax_backlog = 50");
    let s = Server::start_with(&config);
    let mut c = s.client("flooder");
    let mut gentle = s.client("gentle");
    // a few commands over the burst are delayed, not dropped
    for i in 0..8 {
        c.send(&format!("PING :p{i}"));
    }
    for i in 0..8 {
        assert!(c.expect("PONG").ends_with(&format!("p{i}")));
    }
    // a real flood is cut off
    let flood: String = (0..500).map(|i| format!("PRIVMSG gentle :spam {i}\r\n")).collect();
    c.send_raw(flood.as_bytes());
    assert!(c.expect("ERROR").contains("Excess Flood"));
    gentle.send("PING :fine");
    gentle.expect("PONG");
}

#[test]
fn a_reader_that_never_reads_is_cut_off_without_hurting_others() {
    // The closed loop below makes 2400 round trips through another client; the
    // write interval would add up to 8 ms to each.
    // History off: its page cache and queue (up to 20 MiB, by design) would
    // hide whether the server buffered what stuck never read.
    let config = BASE_CONFIG.replace("[limits]\n", "[limits]\nsendq = 65536\nwrite_interval_ms = 0\n")
        + "\n[history]\nenabled = false\n";
    let s = Server::start_with(&config);
    let mut sender = s.client("sender");
    let mut reader = s.client("reader");
    let mut stuck = s.client("stuck");
    for c in [&mut sender, &mut reader, &mut stuck] {
        c.send("JOIN #busy");
        c.expect("366");
    }
    reader.sync();
    let rss_before = server_rss_kib(&s);
    // 60000 x 300 bytes, sent in closed-loop batches that the reader keeps up
    // with: far more than the kernel buffers and stuck's 64 KiB sendq hold
    let payload = "z".repeat(300);
    let total = 60_000;
    let batch = 25;
    let mut got = 0;
    let mut stuck_quit = false;
    while got < total {
        let lines: String = (got..got + batch).map(|i| format!("PRIVMSG #busy :{i} {payload}\r\n")).collect();
        sender.send_raw(lines.as_bytes());
        let target = got + batch;
        while got < target {
            let line = reader.recv();
            if command_of(&line) == "PRIVMSG" {
                assert!(line.contains(&format!(":{got} ")), "out of order at {got}: {line}");
                got += 1;
            } else if command_of(&line) == "QUIT" {
                assert!(line.starts_with(":stuck!") && line.ends_with("SendQ exceeded"), "{line}");
                stuck_quit = true;
                // Read now what stuck was sent: its ERROR can reach the socket only
                // as stuck reads, within the server's 5 s final flush (the rest of
                // the loop may take longer than that on a loaded machine).
                let mut last = None;
                while let Some(l) = stuck.recv_within(WAIT) {
                    last = Some(l);
                }
                let cut = last.as_deref().is_some_and(|l| l.starts_with("ERROR") && l.contains("SendQ exceeded"));
                assert!(cut, "{last:?}");
            }
        }
    }
    assert!(stuck_quit, "the client that never reads was not disconnected");
    let rss_after = server_rss_kib(&s);
    eprintln!(
        "slow reader: {total} messages of {} bytes delivered in order; server RSS {rss_before} -> {rss_after} KiB",
        payload.len()
    );
    // the server did not buffer the ~18 MB that stuck never read
    assert!(rss_after < rss_before + 16 * 1024, "server RSS grew from {rss_before} to {rss_after} KiB");
}
