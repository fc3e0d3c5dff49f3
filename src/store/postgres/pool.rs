//! Connections to PostgreSQL: a small pool of blocking clients (the `postgres`
//! crate, tokio-postgres driven on the calling thread), each with its
//! prepared statements, and reconnection with back-off.
//!
//! Every store call runs on a blocking thread (the blocking pool, the
//! committer, the history writer), takes a connection, and gives it back.
//! A connection that broke is dropped; while the database cannot be reached,
//! attempts are spaced out (0.25 s doubling to 10 s) and calls in between
//! fail at once with [`crate::store::UNREACHABLE`], so commands that need the
//! store get their FAIL reply without waiting.

use crate::store::{StoreResult, UNREACHABLE};
use postgres::{Client, NoTls, Statement};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Idle connections kept for reuse.
const IDLE: usize = 8;
/// The first and the longest wait between connection attempts.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(250), Duration::from_secs(10));

/// A connection and its prepared statements.
pub struct Conn {
    /// The client.
    pub client: Client,
    stmts: HashMap<String, Statement>,
}

impl Conn {
    /// The prepared statement for `sql` (prepared once per connection).
    pub fn prep(&mut self, sql: &str) -> Result<Statement, postgres::Error> {
        if let Some(s) = self.stmts.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(sql)?;
        self.stmts.insert(sql.to_owned(), s.clone());
        Ok(s)
    }

    /// Splits into the client (for a transaction) and the statement cache.
    pub fn parts(&mut self) -> (&mut Client, Statements<'_>) {
        (&mut self.client, Statements(&mut self.stmts))
    }
}

/// A connection's statement cache, used beside a transaction on it.
pub struct Statements<'a>(&'a mut HashMap<String, Statement>);

impl Statements<'_> {
    /// The prepared statement for `sql`, prepared through `c` when new.
    pub fn get(&mut self, c: &mut impl postgres::GenericClient, sql: &str) -> Result<Statement, postgres::Error> {
        if let Some(s) = self.0.get(sql) {
            return Ok(s.clone());
        }
        let s = c.prepare(sql)?;
        self.0.insert(sql.to_owned(), s.clone());
        Ok(s)
    }
}

struct Backoff {
    /// No attempt before this.
    next: Option<Instant>,
    delay: Duration,
}

/// The pool.
pub struct Pool {
    config: postgres::Config,
    /// The URL without its password.
    shown: String,
    /// SQL run on every new connection.
    setup: &'static str,
    idle: Mutex<Vec<Conn>>,
    backoff: Mutex<Backoff>,
}

/// A blocking client closes its connection by running its own runtime, which
/// panics on a thread already driving one: the last owner of the store may
/// be the server's async task as it ends (seen on a node of a cluster
/// restarting itself), so the idle connections are closed on a plain thread.
impl Drop for Pool {
    fn drop(&mut self) {
        let idle = std::mem::take(self.idle.get_mut().unwrap_or_else(|e| e.into_inner()));
        if idle.is_empty() || tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        let _ = std::thread::Builder::new().name("pg-close".into()).spawn(move || drop(idle)).map(|t| t.join());
    }
}

impl Pool {
    /// A pool for `url`; connects once now, so a bad URL or an unreachable
    /// database is reported at start-up.
    pub fn new(url: &str, setup: &'static str) -> StoreResult<Pool> {
        let shown = crate::store::location::redact(url);
        let mut config: postgres::Config =
            url.parse().map_err(|e| format!("{shown}: not a usable PostgreSQL URL: {e}"))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(5));
        }
        if config.get_application_name().is_none() {
            config.application_name("banterd");
        }
        let pool = Pool {
            config,
            shown,
            setup,
            idle: Mutex::new(Vec::new()),
            backoff: Mutex::new(Backoff { next: None, delay: BACKOFF.0 }),
        };
        let first = pool.connect()?;
        pool.put(first);
        Ok(pool)
    }

    /// The URL without its password.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// A new connection (no back-off), with the session set up.
    pub fn connect(&self) -> StoreResult<Conn> {
        let unreachable = |e: postgres::Error| format!("{UNREACHABLE}{}: {}", self.shown, error_text(&e));
        let mut client = self.config.connect(NoTls).map_err(unreachable)?;
        if !self.setup.is_empty() {
            client.batch_execute(self.setup).map_err(unreachable)?;
        }
        Ok(Conn { client, stmts: HashMap::new() })
    }

    /// An idle connection, or a new one unless the back-off says wait.
    fn get(&self) -> StoreResult<(Conn, bool)> {
        if let Some(c) = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop() {
            return Ok((c, true));
        }
        {
            let b = self.backoff.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(next) = b.next.filter(|n| Instant::now() < *n) {
                let wait = next.saturating_duration_since(Instant::now());
                return Err(format!("{UNREACHABLE}{} (next attempt in {} ms)", self.shown, wait.as_millis()));
            }
        }
        match self.connect() {
            Ok(c) => {
                let mut b = self.backoff.lock().unwrap_or_else(|e| e.into_inner());
                if b.next.take().is_some() {
                    tracing::info!(database = %self.shown, "database reachable again");
                }
                b.delay = BACKOFF.0;
                Ok((c, false))
            }
            Err(e) => {
                let mut b = self.backoff.lock().unwrap_or_else(|e| e.into_inner());
                if b.next.is_none() {
                    tracing::error!(error = %e, "database unreachable; retrying with back-off");
                }
                b.next = Some(Instant::now() + b.delay);
                b.delay = (b.delay * 2).min(BACKOFF.1);
                Err(e)
            }
        }
    }

    /// Gives a connection back (dropped when it broke).
    pub fn put(&self, conn: Conn) {
        if conn.client.is_closed() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < IDLE {
            idle.push(conn);
        }
    }

    /// Runs `f` on a connection. A pooled connection found broken is replaced
    /// and `f` tried once more (the statement did not reach the server);
    /// errors become text, [`UNREACHABLE`] when the connection is gone.
    pub fn run<T>(&self, mut f: impl FnMut(&mut Conn) -> Result<T, postgres::Error>) -> StoreResult<T> {
        for attempt in 0..2 {
            let (mut conn, pooled) = self.get()?;
            match f(&mut conn) {
                Ok(v) => {
                    self.put(conn);
                    return Ok(v);
                }
                Err(e) if conn.client.is_closed() || lost(&e) => {
                    self.idle.lock().unwrap_or_else(|e| e.into_inner()).clear();
                    if pooled && attempt == 0 {
                        continue;
                    }
                    return Err(format!("{UNREACHABLE}{}: {}", self.shown, error_text(&e)));
                }
                Err(e) => {
                    self.put(conn);
                    return Err(format!("{}: {}", self.shown, error_text(&e)));
                }
            }
        }
        Err(format!("{UNREACHABLE}{}", self.shown))
    }
}

/// Whether `e` means the connection is gone: closed, or ended by the server
/// (SQLSTATE class 08, connection exception; 57P, the server shutting down
/// or an administrator ending the session).
fn lost(e: &postgres::Error) -> bool {
    e.is_closed() || e.code().is_some_and(|c| c.code().starts_with("08") || c.code().starts_with("57P"))
}

/// An error with the server's message and detail when there is one.
pub fn error_text(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => match db.detail() {
            Some(d) => format!("{} ({d})", db.message()),
            None => db.message().to_owned(),
        },
        None => {
            let mut text = e.to_string();
            let mut src = std::error::Error::source(e);
            while let Some(s) = src {
                text.push_str(": ");
                text.push_str(&s.to_string());
                src = s.source();
            }
            text
        }
    }
}
