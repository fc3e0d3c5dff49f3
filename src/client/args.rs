//! Command-line options: `banter [--server HOST:PORT] [--tls] [--user NAME] [--plain]`.

use std::path::PathBuf;

/// The default server host.
pub const DEFAULT_HOST: &str = "127.0.0.1";

/// The usage text shown by `--help` and on bad arguments.
pub const USAGE: &str = "\
usage: banter [--server HOST:PORT] [--tls] [--tls-ca FILE] [--user NAME] [--plain]

  --server HOST:PORT  IRC server to connect to (default 127.0.0.1:6667;
                      the port defaults to 6667, or 6697 with --tls)
  --tls               connect with TLS, trusting the system's CA bundle
  --tls-ca FILE       also trust the PEM certificate(s) in FILE, e.g. a
                      self-signed server's certificate (implies --tls)
  --user NAME         account name to register or log in as (asked otherwise)
  --plain             line mode: prompts and events one per line on stdout,
                      input lines from stdin (automatic when stdin or stdout
                      is not a terminal)
  --help              this help
";

/// Parsed command-line options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// `host:port` to connect to.
    pub server: String,
    /// `--tls` (or `--tls-ca`) was given.
    pub tls: bool,
    /// `--tls-ca FILE`.
    pub tls_ca: Option<PathBuf>,
    /// `--user NAME`.
    pub user: Option<String>,
    /// `--plain` was given.
    pub plain: bool,
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// Run the client.
    Run(Options),
    /// Print the usage and exit successfully.
    Help,
}

/// Parses the arguments after the program name.
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Parsed, String> {
    let mut opts = Options { server: String::new(), tls: false, tls_ca: None, user: None, plain: false };
    let mut server = None;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag.to_string(), Some(value.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| args.next())
                .filter(|v| !v.is_empty())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match flag.as_str() {
            "--server" | "-s" => server = Some(value("--server")?),
            "--user" | "-u" => opts.user = Some(value("--user")?),
            "--tls" => opts.tls = true,
            "--tls-ca" => {
                opts.tls_ca = Some(value("--tls-ca")?.into());
                opts.tls = true;
            }
            "--plain" => opts.plain = true,
            "--help" | "-h" => return Ok(Parsed::Help),
            other => return Err(format!("unknown argument: {other}")),
        }
    }
    let port = if opts.tls { 6697 } else { 6667 };
    opts.server = with_port(server.as_deref().unwrap_or(DEFAULT_HOST), port);
    Ok(Parsed::Run(opts))
}

/// Adds the default port to a bare host name.
fn with_port(server: &str, port: u16) -> String {
    let has_port = match server.rsplit_once(':') {
        Some((host, port)) => !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) && !host.ends_with(':'),
        None => false,
    };
    let bracketed_v6 = server.starts_with('[') && server.ends_with(']');
    if has_port && !bracketed_v6 {
        server.to_string()
    } else {
        format!("{server}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Options {
        match parse(args.iter().map(|s| s.to_string())).unwrap() {
            Parsed::Run(o) => o,
            Parsed::Help => panic!("help"),
        }
    }

    #[test]
    fn defaults_and_flags() {
        assert_eq!(run(&[]).server, "127.0.0.1:6667");
        let o = run(&["--server", "example.org", "--user=bob", "--plain", "--tls"]);
        assert_eq!(o.server, "example.org:6697");
        assert_eq!(o.user.as_deref(), Some("bob"));
        assert!(o.plain && o.tls);
        assert_eq!(run(&["--server=127.0.0.1:7000"]).server, "127.0.0.1:7000");
        assert_eq!(run(&["--tls"]).server, "127.0.0.1:6697");
        let o = run(&["--server", "localhost", "--tls-ca", "ca.pem"]);
        assert_eq!((o.server.as_str(), o.tls), ("localhost:6697", true));
        assert!(parse(["--user".to_string()]).is_err());
        assert!(parse(["--bogus".to_string()]).is_err());
        assert_eq!(parse(["-h".to_string()]).unwrap(), Parsed::Help);
    }
}
