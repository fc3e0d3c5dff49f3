//! `banterd`: the banter IRC server. See README.md and config.toml.

use banter::config::Config;
use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage: banterd [OPTIONS]                      run the server
       banterd account create|delete|passwd NAME   manage accounts offline
       banterd account list
       banterd hash-password                        print an argon2id hash for [[oper]]
       banterd backup OUT_DIR                       copy the databases (safe while running)
       banterd migrate                              create or upgrade the store's schema
       banterd store copy --from LOCATION --to LOCATION
                                                    copy a whole store into an empty one;
                                                    LOCATION: sqlite:DIR or postgres://...
       banterd check-config                         check the configuration (and the files,
                                                    addresses and data directory it names),
                                                    print what it would listen on; exit 2
                                                    listing every problem

options:
  -c, --config PATH    configuration file (default: ./config.toml if present,
                       else built-in defaults); relative paths in it are
                       resolved against its folder
  -l, --listen ADDR    listen on ADDR instead of server.listen (repeatable)
      --websocket ADDR
                       a WebSocket listener on ADDR instead of those of
                       [[websocket]] (repeatable; see docs/web.md)
      --data-dir DIR   data directory instead of server.data_dir
  -h, --help           print this help and exit
  -V, --version        print the version and exit

Exit codes: 0 after a clean shutdown (SIGTERM, SIGINT or DIE), 1 when the
server cannot start (address in use, data directory locked...), 2 for bad
arguments or a bad configuration.";

struct Args {
    config: Option<PathBuf>,
    listen: Vec<std::net::SocketAddr>,
    websocket: Vec<std::net::SocketAddr>,
    data_dir: Option<PathBuf>,
    rest: Vec<String>,
}

/// What the command line asks for.
enum Parsed {
    Run(Args),
    Help,
    Version,
}

fn parse_args() -> Result<Parsed, String> {
    let mut args = Args { config: None, listen: Vec::new(), websocket: Vec::new(), data_dir: None, rest: Vec::new() };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match a.as_str() {
            "--config" | "-c" => args.config = Some(value("--config")?.into()),
            "--listen" | "-l" => {
                let v = value("--listen")?;
                args.listen.push(v.parse().map_err(|_| format!("--listen: not an address: {v}"))?);
            }
            "--websocket" => {
                let v = value("--websocket")?;
                args.websocket.push(v.parse().map_err(|_| format!("--websocket: not an address: {v}"))?);
            }
            "--data-dir" => args.data_dir = Some(value("--data-dir")?.into()),
            "--help" | "-h" => return Ok(Parsed::Help),
            "--version" | "-V" => return Ok(Parsed::Version),
            // `store copy` has options of its own.
            _ if a.starts_with('-') && args.rest.first().map(String::as_str) != Some("store") => {
                return Err(format!("unknown option {a}"))
            }
            _ => args.rest.push(a),
        }
    }
    Ok(Parsed::Run(args))
}

/// Applies the command line's --listen, --websocket and --data-dir to `config`.
fn apply_overrides(args: &Args, config: &mut Config) {
    if !args.listen.is_empty() {
        config.server.listen = args.listen.clone();
    }
    if !args.websocket.is_empty() {
        // The addresses replace those of the [[websocket]] blocks; the first
        // block's settings (TLS, origins, proxies) apply to each.
        let template = config.websockets.first().cloned();
        config.websockets = args
            .websocket
            .iter()
            .map(|addr| match &template {
                Some(t) => banter::config::WebsocketConfig { listen: *addr, ..t.clone() },
                None => banter::config::WebsocketConfig::on(*addr),
            })
            .collect();
    }
    if let Some(d) = &args.data_dir {
        config.server.data_dir = d.clone();
    }
}

fn main() -> ExitCode {
    // SIGTERM and SIGINT are held from the first instruction until the runtime's
    // handlers are installed, so a stop right after start-up is a clean shutdown.
    let held = banter::server::signals::hold();
    let args = match parse_args() {
        Ok(Parsed::Run(a)) => a,
        Ok(Parsed::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(Parsed::Version) => {
            println!("banterd {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("banterd: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let path = args.config.clone().or_else(|| {
        let default = PathBuf::from("config.toml");
        default.exists().then_some(default)
    });
    if args.rest.first().map(String::as_str) == Some("check-config") {
        held.release();
        return ExitCode::from(banter::server::check::run(path.as_deref(), |c| apply_overrides(&args, c)));
    }
    let mut config = match &path {
        Some(p) => match Config::load(p) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("banterd: {e}");
                return ExitCode::from(2);
            }
        },
        None => Config::default(),
    };
    apply_overrides(&args, &mut config);
    match args.rest.first().map(String::as_str) {
        Some("account") => {
            held.release();
            return ExitCode::from(banter::admin::account_command(&config, &args.rest[1..]) as u8);
        }
        Some("hash-password") => {
            held.release();
            return ExitCode::from(banter::admin::hash_password_command(&config) as u8);
        }
        Some("backup") => {
            held.release();
            return ExitCode::from(backup(&config, &args.rest[1..]));
        }
        Some("migrate") => {
            held.release();
            return ExitCode::from(migrate(&config));
        }
        Some("store") => {
            held.release();
            if args.rest.get(1).map(String::as_str) != Some("copy") {
                eprintln!("{}", banter::store::copy::USAGE);
                return ExitCode::from(2);
            }
            return ExitCode::from(banter::store::copy::command(&args.rest[2..]) as u8);
        }
        Some(other) => {
            eprintln!("banterd: unknown command {other}\n{USAGE}");
            return ExitCode::from(2);
        }
        None => {}
    }
    banter::server::logging::init(&config);
    // One worker per core unless configured; blocking work (argon2, SQLite) has its own pool.
    // The runtime's threads inherit the held signals, so only this thread takes them.
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if config.server.worker_threads > 0 {
        builder.worker_threads(config.server.worker_threads);
    }
    // An explicit bound (tokio's default is 512): password hashing has its own,
    // smaller limit, and the rest of the blocking work is short database calls.
    builder.max_blocking_threads(banter::accounts::hashing::blocking_threads(&config));
    let runtime = match builder.enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("banterd: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let signals = {
        let _enter = runtime.enter();
        match banter::server::signals::Signals::install() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("banterd: cannot install signal handlers: {e}");
                return ExitCode::from(1);
            }
        }
    };
    held.release();
    match runtime.block_on(banter::server::run(config, path, signals)) {
        Ok(banter::server::Exit::Stopped) => ExitCode::SUCCESS,
        Ok(banter::server::Exit::Restart) => {
            use std::os::unix::process::CommandExt;
            let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("banterd"));
            let err = std::process::Command::new(exe).args(std::env::args_os().skip(1)).exec();
            eprintln!("banterd: restart failed: {err}");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("banterd: {e}");
            ExitCode::from(1)
        }
    }
}

/// `banterd backup OUT_DIR`: a consistent copy of the data dir's databases,
/// safe while the server runs.
fn backup(config: &Config, rest: &[String]) -> u8 {
    let [out] = rest else {
        eprintln!("banterd backup: name one output directory\n{USAGE}");
        return 2;
    };
    let location = banter::store::location::Location::of(config);
    match banter::store::backup::run(&location, std::path::Path::new(out)) {
        Ok(files) => {
            for f in files {
                println!("wrote {}", f.display());
            }
            0
        }
        Err(e) => {
            eprintln!("banterd backup: {e}");
            1
        }
    }
}

/// `banterd migrate`: opens the configured store, which creates or upgrades
/// its schema (what start-up does too), and says so.
fn migrate(config: &Config) -> u8 {
    banter::server::logging::init(config);
    let location = banter::store::location::Location::of(config);
    match location.open() {
        Ok(_) => {
            println!("{}: schema up to date", location.describe());
            0
        }
        Err(e) => {
            eprintln!("banterd migrate: {e}");
            1
        }
    }
}

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
