//! A throwaway Redis for tests: `redis-server` on a free loopback port with
//! its own temp dir and the append-only file on (as docs/cluster.md tells
//! operators to run it), stopped when dropped.
//!
//! Redis missing is a failure, never a skip (`.ci/run` installs the Debian
//! package `redis-server`).
//!
//! A network's nodes also share one store, as docs/cluster.md tells operators
//! (a node with another store is refused): [`Redis::store`] makes it, a
//! database on the test binary's PostgreSQL, when a node first asks.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A running redis-server.
pub struct Redis {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Its working directory (the append-only file is there).
    pub dir: tempfile::TempDir,
    /// The URL of the network's store, once made.
    store: OnceLock<String>,
}

impl Redis {
    /// Starts one and waits until it answers PING.
    pub fn start() -> Redis {
        let dir = tempfile::Builder::new().prefix("banter-redis-").tempdir().expect("tempdir");
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
        let child = Self::spawn(port, &dir);
        let mut redis = Redis { child, port, dir, store: OnceLock::new() };
        redis.wait_ready();
        redis
    }

    /// Stops it cleanly (SIGTERM: it writes its append-only file out) and
    /// starts it again on the same port and directory, with the same data.
    pub fn restart(&mut self) {
        self.stop();
        self.resume();
    }

    /// Sends it signal `sig` (`STOP` holds it, answering nothing, until `CONT`).
    pub fn signal(&self, sig: &str) {
        let _ = Command::new("kill").arg(format!("-{sig}")).arg(self.child.id().to_string()).status();
    }

    /// Stops it cleanly (SIGTERM: it writes its append-only file out).
    pub fn stop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
    }

    /// Starts it again after [`Redis::stop`], on the same port and
    /// directory, with the same data.
    pub fn resume(&mut self) {
        self.child = Self::spawn(self.port, &self.dir);
        self.wait_ready();
    }

    /// Stops it and starts it again on the same port with no data, as after
    /// losing its disk.
    pub fn restart_empty(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(self.dir.path().join("appendonlydir"));
        self.resume();
    }

    fn spawn(port: u16, dir: &tempfile::TempDir) -> Child {
        Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string(), "--save", "", "--appendonly", "yes"])
            .args(["--protected-mode", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(dir.path())
            .arg("--logfile")
            .arg(dir.path().join("redis.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run redis-server ({e}): apt-get install redis-server"))
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.command(&["PING"]).as_deref() != Some("+PONG") {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("redis-server exited ({status}): {}", self.log());
            }
            assert!(Instant::now() < deadline, "redis-server did not answer: {}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The URL banterd is configured with.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// The `[store] url` of this network's nodes: a PostgreSQL database made
    /// on first use and shared by every node that asks.
    pub fn store(&self) -> &str {
        self.store.get_or_init(super::pg::database)
    }

    /// Sends one command and returns the connection, to read its reply.
    fn ask(&self, args: &[&str]) -> Option<BufReader<TcpStream>> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        let mut req = format!("*{}\r\n", args.len());
        for a in args {
            req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        s.write_all(req.as_bytes()).ok()?;
        Some(BufReader::new(s))
    }

    /// Runs one command and returns the first line of its reply (RESP, as
    /// sent: `+OK`, `:1`, `$5`...), or `None` if Redis cannot be reached.
    pub fn command(&self, args: &[&str]) -> Option<String> {
        let mut line = String::new();
        self.ask(args)?.read_line(&mut line).ok()?;
        Some(line.trim_end().to_owned())
    }

    /// Runs one command whose reply is a bulk string (GET, HGET) and returns
    /// it; `None` for a missing value (or Redis out of reach).
    pub fn bulk(&self, args: &[&str]) -> Option<String> {
        let mut reader = self.ask(args)?;
        let mut head = String::new();
        reader.read_line(&mut head).ok()?;
        let len: usize = head.trim_end().strip_prefix('$')?.parse().ok()?;
        let mut value = vec![0; len + 2];
        reader.read_exact(&mut value).ok()?;
        value.truncate(len);
        String::from_utf8(value).ok()
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = std::fs::File::open(self.dir.path().join("redis.log")) {
            let _ = f.read_to_string(&mut text);
        }
        text
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
