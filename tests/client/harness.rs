//! Runs a real `banterd` on an ephemeral port and real `banter --plain`
//! clients through pipes. Every wait has a deadline; a failed wait panics
//! with everything the client printed so far.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

/// How long any single expected line may take.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// The server's config for these tests: the defaults (flood control on, as
/// users get it) except cheaper password hashing, so tests stay quick, and
/// more accounts per address than the 3 an hour users get: every user of a
/// test registers from 127.0.0.1.
const CONFIG: &str = "[accounts]\nargon2_memory_kib = 1024\nargon2_iterations = 1\nregistrations_per_ip = 1000\n";

/// A running banterd, killed on drop.
pub struct Server {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// `localhost:PORT` of the TLS listener, when started with TLS.
    pub tls_addr: Option<String>,
}

impl Server {
    /// Starts banterd on `listen` (e.g. `127.0.0.1:0`) with its data in `dir`.
    pub fn start_at(listen: &str, dir: &Path) -> Server {
        Server::start_with(listen, dir, "")
    }

    /// Starts banterd with a TLS listener too, presenting `cert.pem` and
    /// `key.pem` from `dir`.
    pub fn start_tls(dir: &Path) -> Server {
        let tls = "[tls]\nlisten = [\"127.0.0.1:0\"]\ncert = \"cert.pem\"\nkey = \"key.pem\"\n";
        Server::start_with("127.0.0.1:0", dir, tls)
    }

    fn start_with(listen: &str, dir: &Path, extra: &str) -> Server {
        let config = dir.join("banterd.toml");
        std::fs::write(&config, format!("{CONFIG}{extra}")).expect("write banterd.toml");
        let mut child = Command::new(env!("CARGO_BIN_EXE_banterd"))
            .arg("--config")
            .arg(&config)
            .args(["--listen", listen, "--data-dir"])
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start banterd");
        let stderr = child.stderr.take().expect("banterd stderr");
        let (tx, rx) = channel();
        thread::spawn(move || {
            // Keep draining stderr so banterd never blocks on a full pipe.
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                for (tls, marker) in [(false, "listening on "), (true, "listening for TLS on ")] {
                    if let Some(rest) = line.split(marker).nth(1) {
                        let addr = rest.split_whitespace().next().unwrap_or("").to_string();
                        let _ = tx.send((tls, addr));
                    }
                }
            }
        });
        let mut server = Server { child, addr: String::new(), tls_addr: None };
        while server.addr.is_empty() || (!extra.is_empty() && server.tls_addr.is_none()) {
            match rx.recv_timeout(TIMEOUT).expect("banterd did not say where it listens") {
                // The certificate names localhost, so connect by that name.
                (true, addr) => server.tls_addr = Some(addr.replace("127.0.0.1", "localhost")),
                (false, addr) => server.addr = addr,
            }
        }
        server
    }

    /// Stops the server (as a crash would: no goodbye to clients).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A `banter --plain` process, killed on drop.
pub struct Client {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    /// Everything printed so far, for failure messages.
    pub seen: Vec<String>,
}

impl Client {
    /// Starts `banter --plain --server ADDR` plus `args`.
    pub fn spawn(addr: &str, args: &[&str]) -> Client {
        Client::spawn_env(addr, args, &[])
    }

    /// Like [`Client::spawn`], with extra environment variables.
    pub fn spawn_env(addr: &str, args: &[&str], env: &[(&str, &Path)]) -> Client {
        let mut child = Command::new(env!("CARGO_BIN_EXE_banter"))
            .args(["--plain", "--server", addr])
            .args(args)
            .envs(env.iter().map(|(k, v)| (*k, *v)))
            .env("TZ", "UTC")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start banter");
        let (tx, rx) = channel();
        let stdout = child.stdout.take().expect("banter stdout");
        let stderr = child.stderr.take().expect("banter stderr");
        let tx2 = tx.clone();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx2.send(format!("stderr: {line}"));
            }
        });
        let stdin = child.stdin.take();
        Client { child, stdin, lines: rx, seen: Vec::new() }
    }

    /// Registers `name` on a new client and waits for the room prompt.
    pub fn register(addr: &str, name: &str, password: &str) -> Client {
        let mut c = Client::spawn(addr, &[]);
        c.menu("1", name, password);
        c.expect(&format!("Account {name} registered"));
        c.expect(&format!("Logged in as {name}"));
        c.expect("Join a Chat Room or Create New:");
        c
    }

    /// Logs `name` in on a new client and waits for the room prompt.
    pub fn login(addr: &str, name: &str, password: &str) -> Client {
        let mut c = Client::spawn(addr, &[]);
        c.menu("2", name, password);
        c.expect(&format!("Logged in as {name}"));
        c.expect("Join a Chat Room or Create New:");
        c
    }

    /// Answers the menu: choice, name, password (twice when registering).
    pub fn menu(&mut self, choice: &str, name: &str, password: &str) {
        self.expect("Choose 1, 2 or 3:");
        self.send(choice);
        self.expect("Name:");
        self.send(name);
        self.expect("Password:");
        self.send(password);
        if choice == "1" {
            self.expect("Password again:");
            self.send(password);
        }
    }

    /// Joins `room` from the room prompt and waits for the member summary.
    pub fn join(&mut self, room: &str) {
        self.send(room);
        self.expect(&format!("You joined room [{room}]"));
        self.expect(&format!("Room [{room}] has"));
    }

    /// Types one line.
    pub fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}").expect("write to banter");
        stdin.flush().expect("flush to banter");
    }

    /// Closes standard input (end of the script).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Waits for a line containing `needle`; returns it.
    pub fn expect(&mut self, needle: &str) -> String {
        self.expect_that(needle, |line| line.contains(needle))
    }

    /// Waits for a line matching `pred`; `what` describes it on failure.
    pub fn expect_that(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if pred(&line) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout) => self.fail(&format!("timed out waiting for {what:?}")),
                Err(RecvTimeoutError::Disconnected) => self.fail(&format!("banter exited while waiting for {what:?}")),
            }
        }
    }

    /// Asserts that a line equal to `line` was already printed.
    pub fn saw(&self, line: &str) {
        assert!(self.seen.iter().any(|l| l == line), "expected {line:?} among:\n{}", self.seen.join("\n"));
    }

    /// Waits for the process to exit; returns its code.
    pub fn wait_exit(&mut self) -> i32 {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for banter") {
                // Collect what is left, for later assertions.
                while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(200)) {
                    self.seen.push(line);
                }
                return status.code().unwrap_or(-1);
            }
            if Instant::now() > deadline {
                self.fail("banter did not exit");
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    fn fail(&mut self, why: &str) -> ! {
        let _ = self.child.kill();
        panic!("{why}; banter printed:\n{}", self.seen.join("\n"));
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// True when `line` starts with a `[HH:MM:SS] ` timestamp.
pub fn stamped(line: &str) -> bool {
    let b = line.as_bytes();
    b.len() > 11
        && b[0] == b'['
        && b[9] == b']'
        && b[10] == b' '
        && [1, 2, 4, 5, 7, 8].iter().all(|&i| b[i].is_ascii_digit())
        && b[3] == b':'
        && b[6] == b':'
}

/// The text after the timestamp.
pub fn unstamped(line: &str) -> &str {
    if stamped(line) {
        &line[11..]
    } else {
        line
    }
}
