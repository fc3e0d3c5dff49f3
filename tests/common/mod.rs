//! Test harness: a real `banterd` child process on an ephemeral port with a real
//! SQLite file in a temp dir, and a line-oriented IRC client over TCP.
#![allow(dead_code)]

pub mod http;
pub mod pg;
pub mod redis;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long to wait for an expected line.
pub const WAIT: Duration = Duration::from_secs(10);

/// Config every test server starts from: cheap hashing, no throttling.
pub const BASE_CONFIG: &str = r#"
[server]
name = "test.banter"
network = "TestNet"

[limits]
exempt = ["127.0.0.1"]

[flood]
enabled = false

[accounts]
argon2_memory_kib = 1024
argon2_iterations = 1
throttle_free_attempts = 1000

[[oper]]
name = "admin"
password = "adminpass"
"#;

/// The port of a `listening on 127.0.0.1:PORT` log line (text or JSON: the
/// digits that follow); None for any other line.
pub fn listening_port(line: &str) -> Option<u16> {
    let rest = line.split("listening on 127.0.0.1:").nth(1)?;
    Some(rest.chars().take_while(char::is_ascii_digit).collect::<String>().parse().expect("port"))
}

/// A running banterd.
pub struct Server {
    pub child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
    pub log: mpsc::Receiver<String>,
}

impl Server {
    /// Starts banterd with [`BASE_CONFIG`].
    pub fn start() -> Server {
        Self::start_with(BASE_CONFIG)
    }

    /// Starts banterd with the given config text.
    pub fn start_with(config: &str) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        Self::start_in(dir, config)
    }

    /// Starts banterd with `config` using `dir` as the data directory (reused across restarts).
    pub fn start_in(dir: tempfile::TempDir, config: &str) -> Server {
        Self::start_command(dir, config, Command::new(env!("CARGO_BIN_EXE_banterd")))
    }

    /// Starts banterd from `command`: the banterd binary with an environment
    /// of its own (libfaketime preloaded, a `RUST_LOG` other than `info`, say);
    /// the usual banterd arguments follow. It must be banterd itself, not a
    /// wrapper that forks it, so that dropping the server kills banterd.
    pub fn start_command(dir: tempfile::TempDir, config: &str, mut command: Command) -> Server {
        let cfg_path = dir.path().join("banterd.toml");
        std::fs::write(&cfg_path, config).expect("write config");
        if !command.get_envs().any(|(key, _)| key == "RUST_LOG") {
            command.env("RUST_LOG", "info");
        }
        let mut child = command
            .arg("--config")
            .arg(&cfg_path)
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn banterd");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + WAIT;
        let port = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = rx.recv_timeout(left).expect("banterd did not say where it listens");
            if let Some(port) = listening_port(&line) {
                break port;
            }
        };
        Server { child, port, dir, log: rx }
    }

    /// A new TCP connection.
    pub fn connect(&self) -> Client {
        Client::connect(self.port)
    }

    /// A new TCP connection from the loopback address `from` (127.0.0.2,
    /// 127.0.0.3, ... stand in for other hosts: not in `limits.exempt`).
    pub fn connect_from(&self, from: &str) -> Client {
        Client::connect_from(self.port, from)
    }

    /// A connection registered as `nick`, with the welcome burst consumed.
    pub fn client(&self, nick: &str) -> Client {
        let mut c = self.connect();
        c.register(nick);
        c
    }

    /// Sends a signal to the server.
    pub fn signal(&self, sig: &str) {
        let _ = Command::new("kill").arg(format!("-{sig}")).arg(self.child.id().to_string()).status();
    }

    /// Waits for the process to exit, returning its status code.
    pub fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Kills the server hard (SIGKILL) and returns its data dir for a restart.
    pub fn crash(mut self) -> tempfile::TempDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let dir = tempfile::tempdir().expect("tempdir");
        std::mem::replace(&mut self.dir, dir)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A raw IRC connection.
pub struct Client {
    pub stream: TcpStream,
    reader: BufReader<TcpStream>,
    pub nick: String,
}

impl Client {
    /// Connects to 127.0.0.1:`port`.
    pub fn connect(port: u16) -> Client {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream.set_read_timeout(Some(Duration::from_millis(200))).expect("timeout");
        let reader = BufReader::new(stream.try_clone().expect("clone"));
        Client { stream, reader, nick: "*".into() }
    }

    /// Connects to 127.0.0.1:`port` from the local address `from`.
    pub fn connect_from(port: u16, from: &str) -> Client {
        let stream = connect_from_v4(from.parse().expect("IPv4 address"), port);
        stream.set_read_timeout(Some(Duration::from_millis(200))).expect("timeout");
        let reader = BufReader::new(stream.try_clone().expect("clone"));
        Client { stream, reader, nick: "*".into() }
    }

    /// Sends one line (CRLF added).
    pub fn send(&mut self, line: &str) {
        self.send_raw(format!("{line}\r\n").as_bytes());
    }

    /// Sends raw bytes.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    /// The next line within `within`, without its CRLF; `None` on timeout or EOF.
    pub fn recv_within(&mut self, within: Duration) -> Option<String> {
        let deadline = Instant::now() + within;
        let mut buf = Vec::new();
        loop {
            match self.reader.read_until(b'\n', &mut buf) {
                Ok(0) => return None,
                Ok(_) if buf.ends_with(b"\n") => {
                    let s = String::from_utf8_lossy(&buf).trim_end_matches(['\r', '\n']).to_owned();
                    return Some(s);
                }
                Ok(_) => {}
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                    if Instant::now() >= deadline {
                        return None;
                    }
                }
                Err(_) => return None,
            }
        }
    }

    /// The next line; panics after [`WAIT`].
    pub fn recv(&mut self) -> String {
        self.recv_within(WAIT).expect("no line from server")
    }

    /// Reads until a line satisfies `pred`; returns it and the lines before it.
    pub fn expect_where(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> (String, Vec<String>) {
        let mut seen = Vec::new();
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if let Some(l) = self.recv_within(Duration::from_millis(200)) {
                if pred(&l) {
                    return (l, seen);
                }
                seen.push(l);
            }
        }
        panic!("expected {what}; got {seen:#?}");
    }

    /// Reads until a line whose command (after source and tags) is `command`.
    pub fn expect(&mut self, command: &str) -> String {
        self.expect_where(command, |l| command_of(l) == command).0
    }

    /// Reads until `command` arrives and returns every line up to and including it.
    pub fn collect_until(&mut self, command: &str) -> Vec<String> {
        let (last, mut before) = self.expect_where(command, |l| command_of(l) == command);
        before.push(last);
        before
    }

    /// Every line that arrives within `within`.
    pub fn drain(&mut self, within: Duration) -> Vec<String> {
        let mut out = Vec::new();
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(l) = self.recv_within(Duration::from_millis(50)) {
                out.push(l);
            }
        }
        out
    }

    /// Sends PING and returns every line received before the PONG (a sync point).
    pub fn sync(&mut self) -> Vec<String> {
        self.send("PING :sync-point");
        let (_, before) =
            self.expect_where("PONG sync-point", |l| command_of(l) == "PONG" && l.ends_with("sync-point"));
        before
    }

    /// NICK + USER, then waits for the end of the welcome burst (376 or 422).
    pub fn register(&mut self, nick: &str) -> Vec<String> {
        self.send(&format!("NICK {nick}"));
        self.send(&format!("USER {nick} 0 * :Real {nick}"));
        self.nick = nick.to_owned();
        let (last, mut before) = self.expect_where("end of MOTD", |l| matches!(command_of(l), "376" | "422"));
        before.push(last);
        before
    }

    /// Whether the server closed the connection (EOF) within [`WAIT`].
    pub fn closed(&mut self) -> bool {
        let deadline = Instant::now() + WAIT;
        let mut buf = [0u8; 4096];
        self.reader.get_mut().set_read_timeout(Some(Duration::from_millis(100))).ok();
        while Instant::now() < deadline {
            match self.reader.read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                Err(_) => return true,
            }
        }
        false
    }
}

/// A TCP connection to 127.0.0.1:`port` whose local address is `from`
/// (std cannot bind before connecting, so with libc).
pub fn connect_from_v4(from: std::net::Ipv4Addr, port: u16) -> TcpStream {
    use std::os::fd::FromRawFd;
    let sockaddr = |ip: std::net::Ipv4Addr, port: u16| libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr { s_addr: u32::from(ip).to_be() },
        sin_zero: [0; 8],
    };
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: plain socket calls on a descriptor this function owns; the
    // addresses are valid sockaddr_in values of the given length.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
        let local = sockaddr(from, 0);
        let rc = libc::bind(fd, &local as *const libc::sockaddr_in as *const libc::sockaddr, len);
        assert_eq!(rc, 0, "bind {from}: {}", std::io::Error::last_os_error());
        let remote = sockaddr(std::net::Ipv4Addr::LOCALHOST, port);
        let rc = libc::connect(fd, &remote as *const libc::sockaddr_in as *const libc::sockaddr, len);
        assert_eq!(rc, 0, "connect from {from}: {}", std::io::Error::last_os_error());
        TcpStream::from_raw_fd(fd)
    }
}

/// Makes account `folded` look as if nobody had logged into it for `days`
/// days, by editing the database in the data dir of a stopped server.
pub fn age_account(dir: &tempfile::TempDir, folded: &str, days: i64) {
    let db = rusqlite::Connection::open(dir.path().join("banter.db")).expect("open banter.db");
    let when = chrono::Utc::now().timestamp() - days * 86_400;
    let sql = "UPDATE accounts SET created_at = ?1, last_seen = ?1 WHERE folded = ?2";
    assert_eq!(db.execute(sql, rusqlite::params![when, folded]).expect("update"), 1, "no account {folded}");
}

/// A registered client that negotiated `caps`, logged in with PASS when `password` is given.
pub fn with_caps_and_pass(s: &Server, nick: &str, caps: &str, password: Option<&str>) -> Client {
    let mut c = s.connect();
    if let Some(p) = password {
        c.send(&format!("PASS {p}"));
    }
    c.send("CAP LS 302");
    c.send(&format!("CAP REQ :{caps}"));
    let (ack, _) = c.expect_where("CAP ACK", |l| l.contains(" ACK ") || l.contains(" NAK "));
    assert!(ack.contains(" ACK "), "{ack}");
    c.send("CAP END");
    c.register(nick);
    c
}

/// A registered client that negotiated `caps`.
pub fn with_caps(s: &Server, nick: &str, caps: &str) -> Client {
    with_caps_and_pass(s, nick, caps, None)
}

/// The raw value of tag `key` on a line (`""` for a bare key), if present.
pub fn tag<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let tags = line.strip_prefix('@')?.split(' ').next()?;
    tags.split(';').find_map(|t| match t.split_once('=') {
        Some((k, v)) if k == key => Some(v),
        None if t == key => Some(""),
        _ => None,
    })
}

/// The command word of a line (skipping tags and source).
pub fn command_of(line: &str) -> &str {
    let mut rest = line;
    if rest.starts_with('@') {
        rest = rest.split_once(' ').map(|x| x.1).unwrap_or("");
    }
    if rest.starts_with(':') {
        rest = rest.split_once(' ').map(|x| x.1).unwrap_or("");
    }
    rest.split(' ').next().unwrap_or("")
}

/// The parameters of a line. irc-proto (an independent parser) must accept the
/// line too, as a check that the server's output is well-formed.
pub fn params_of(line: &str) -> Vec<String> {
    let _: irc_proto::Message = line.parse().expect("irc-proto parses the server's line");
    let m = banter::proto::Message::parse(line).expect("parses");
    m.params.iter().map(|p| (*p).to_owned()).collect()
}

/// Sends a CHATHISTORY request and returns the lines inside its batch (the
/// client must have negotiated `batch`).
pub fn history_batch(c: &mut Client, request: &str) -> Vec<String> {
    c.send(request);
    let lines = c.collect_until("BATCH");
    assert!(lines.last().is_some_and(|l| params_of(l)[0].starts_with('+')), "{lines:?}");
    let mut inner = Vec::new();
    loop {
        let l = c.recv();
        if command_of(&l) == "BATCH" {
            return inner;
        }
        inner.push(l);
    }
}

/// Sends a ChanServ command and returns its NOTICE texts up to a sync point.
pub fn cs(c: &mut Client, command: &str) -> Vec<String> {
    c.send(&format!("PRIVMSG ChanServ :{command}"));
    c.sync()
        .into_iter()
        .filter(|l| l.starts_with(":ChanServ!") && command_of(l) == "NOTICE")
        .map(|l| params_of(&l).pop().unwrap_or_default())
        .collect()
}
