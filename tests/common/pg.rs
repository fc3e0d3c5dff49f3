//! A throwaway PostgreSQL for tests: one cluster per test binary, started on
//! first use (initdb in a temp dir, `postgres` on a free loopback port; as the
//! `postgres` user when the tests run as root, since initdb refuses root), and
//! a fresh database per test. A small shell watchdog holds the server: when
//! the test process exits, its end of the watchdog's stdin closes and the
//! watchdog stops the server and deletes the temp dir.
//!
//! PostgreSQL missing is a failure, never a skip (`.ci/run` installs the
//! Debian package `postgresql`).

use std::path::PathBuf;
use std::process::{ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The running cluster.
pub struct Pg {
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Where its files are.
    pub dir: PathBuf,
    /// The binaries' folder.
    pub bin: PathBuf,
    /// The watchdog's stdin: closed at exit, which stops the server.
    _hold: Mutex<ChildStdin>,
}

static PG: OnceLock<Pg> = OnceLock::new();
static NEXT_DB: AtomicU32 = AtomicU32::new(1);

/// The cluster of this test binary (started on first use).
pub fn pg() -> &'static Pg {
    PG.get_or_init(Pg::start)
}

/// A new empty database on the cluster; returns its URL.
pub fn database() -> String {
    pg().database()
}

/// The folder of PostgreSQL's server binaries (Debian: /usr/lib/postgresql/N/bin).
fn bin_dir() -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.filter_map(Result::ok).map(|e| e.path().join("bin")).filter(|b| b.join("initdb").exists()).collect())
        .unwrap_or_default();
    found.sort();
    if let Some(b) = found.pop() {
        return b;
    }
    let out = Command::new("pg_config").arg("--bindir").output();
    if let Ok(o) = out {
        let p = PathBuf::from(String::from_utf8_lossy(&o.stdout).trim());
        if p.join("initdb").exists() {
            return p;
        }
    }
    panic!("PostgreSQL is not installed (initdb not found): apt-get install postgresql");
}

/// A port nobody listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// uid and gid of `user`.
fn ids_of(user: &str) -> Option<(u32, u32)> {
    let name = std::ffi::CString::new(user).ok()?;
    // SAFETY: getpwnam with a valid C string; the record is read at once.
    unsafe {
        let pw = libc::getpwnam(name.as_ptr());
        if pw.is_null() {
            None
        } else {
            Some(((*pw).pw_uid, (*pw).pw_gid))
        }
    }
}

impl Pg {
    fn start() -> Pg {
        let bin = bin_dir();
        let dir = tempfile::Builder::new().prefix("banter-pg-").tempdir().expect("tempdir").keep();
        let mut run_as = Vec::new();
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            let (uid, gid) = ids_of("postgres")
                .or_else(|| ids_of("nobody"))
                .expect("running as root: a postgres (or nobody) user is needed to run initdb");
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).expect("chown the cluster dir");
            run_as = ["setpriv", &format!("--reuid={uid}"), &format!("--regid={gid}"), "--clear-groups", "--"]
                .map(String::from)
                .to_vec();
        }
        let data = dir.join("data");
        let status = Command::new(run_as.first().map_or(bin.join("initdb").into_os_string(), Into::into))
            .args(run_as.iter().skip(1))
            .args(if run_as.is_empty() { vec![] } else { vec![bin.join("initdb").into_os_string()] })
            .arg("-D")
            .arg(&data)
            .args(["-U", "banter", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .expect("run initdb");
        assert!(status.status.success(), "initdb failed: {}", String::from_utf8_lossy(&status.stderr));
        let port = free_port();
        let postgres = bin.join("postgres");
        let prefix = run_as.iter().map(|a| format!("'{a}' ")).collect::<String>();
        let script = format!(
            "{prefix}'{}' -D '{}' -p {port} -k '{}' -c listen_addresses=127.0.0.1 -c fsync=off \
             -c synchronous_commit=off -c full_page_writes=off -c max_connections=300 \
             -c shared_buffers=32MB >'{}' 2>&1 &\n\
             pid=$!\ncat >/dev/null\nkill -QUIT $pid 2>/dev/null\nwait $pid\nrm -rf '{}'\n",
            postgres.display(),
            data.display(),
            dir.display(),
            dir.join("server.log").display(),
            dir.display()
        );
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the PostgreSQL watchdog");
        let hold = child.stdin.take().expect("stdin");
        // The watchdog outlives this handle; it ends when this process does.
        std::mem::forget(child);
        let pg = Pg { port, dir, bin, _hold: Mutex::new(hold) };
        pg.wait_ready();
        pg
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match self.admin() {
                Ok(_) => return,
                Err(e) if Instant::now() > deadline => {
                    let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
                    panic!("PostgreSQL did not start: {e}\n{log}");
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    /// A connection to the `postgres` database as the superuser `banter`.
    pub fn admin(&self) -> Result<postgres::Client, postgres::Error> {
        self.client("postgres")
    }

    /// A connection to database `db`.
    pub fn client(&self, db: &str) -> Result<postgres::Client, postgres::Error> {
        postgres::Config::new().host("127.0.0.1").port(self.port).user("banter").dbname(db).connect(postgres::NoTls)
    }

    /// The URL of database `db`.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://banter@127.0.0.1:{}/{db}", self.port)
    }

    /// Creates an empty database; returns its URL.
    pub fn database(&self) -> String {
        let name = format!("t{}", NEXT_DB.fetch_add(1, Ordering::Relaxed));
        let mut c = self.admin().expect("connect to PostgreSQL");
        c.batch_execute(&format!("CREATE DATABASE {name}")).expect("create database");
        self.url(&name)
    }

    /// Refuses new connections to `db` and ends the open ones: the database
    /// is unreachable until [`Pg::reopen`].
    pub fn cut_off(&self, db: &str) {
        let mut c = self.admin().expect("connect");
        c.batch_execute(&format!(
            "ALTER DATABASE {db} ALLOW_CONNECTIONS false;
             SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}';"
        ))
        .expect("cut off");
        // pg_terminate_backend only signals: wait until the backends are gone,
        // or a query sent meanwhile may still run on one.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let row = c
                .query_one("SELECT count(*) FROM pg_stat_activity WHERE datname = $1", &[&db])
                .expect("count backends");
            if row.get::<_, i64>(0) == 0 {
                return;
            }
            assert!(std::time::Instant::now() < deadline, "the backends of {db} did not end");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    /// Lets connections to `db` in again.
    pub fn reopen(&self, db: &str) {
        let mut c = self.admin().expect("connect");
        c.batch_execute(&format!("ALTER DATABASE {db} ALLOW_CONNECTIONS true")).expect("reopen");
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }
}

/// The database name of a test URL.
pub fn db_name(url: &str) -> &str {
    url.rsplit('/').next().unwrap_or_default()
}
