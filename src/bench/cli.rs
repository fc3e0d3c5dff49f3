//! Command-line parsing: `--key value` pairs after a subcommand, no external
//! parser. Every option is read once through a typed getter so that unknown
//! options can be reported.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

/// Parsed command line: the subcommand, its options and free arguments.
#[derive(Debug, Clone)]
pub struct Args {
    /// The scenario name (`connect`, `fanout`, ...).
    pub command: String,
    opts: BTreeMap<String, Vec<String>>,
    used: std::cell::RefCell<Vec<String>>,
    /// Positional arguments (used by `chart` for its input files).
    pub free: Vec<String>,
}

impl Args {
    /// Parses `argv` without the program name.
    pub fn parse(argv: &[String]) -> Result<Args, String> {
        let mut it = argv.iter();
        let command = it.next().cloned().ok_or("missing subcommand")?;
        let mut opts = BTreeMap::new();
        let mut free = Vec::new();
        while let Some(a) = it.next() {
            if let Some(key) = a.strip_prefix("--") {
                let (k, v) = match key.split_once('=') {
                    Some((k, v)) => (k.to_string(), v.to_string()),
                    None => {
                        let v = it.next().ok_or_else(|| format!("--{key} needs a value"))?;
                        (key.to_string(), v.clone())
                    }
                };
                opts.entry(k).or_insert_with(Vec::new).push(v);
            } else {
                free.push(a.clone());
            }
        }
        Ok(Args { command, opts, used: Default::default(), free })
    }

    /// The raw value of `--key`, if given (the last one when repeated).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.used.borrow_mut().push(key.to_string());
        self.opts.get(key).and_then(|v| v.last()).map(String::as_str)
    }

    /// Every value of `--key`: the option may be repeated and each value
    /// may be a comma-separated list (`--pid 1 --pid 2,3` gives 1, 2, 3).
    pub fn get_all(&self, key: &str) -> Vec<&str> {
        self.used.borrow_mut().push(key.to_string());
        let vals = self.opts.get(key).map(Vec::as_slice).unwrap_or_default();
        vals.iter().flat_map(|v| v.split(',')).map(str::trim).filter(|v| !v.is_empty()).collect()
    }

    /// `--key` parsed as `T`, or `default` when absent.
    pub fn num<T: std::str::FromStr>(&self, key: &str, default: T) -> Result<T, String> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| format!("--{key}: cannot parse {v:?}")),
        }
    }

    /// `--key` as seconds (fractions allowed), or `default`.
    pub fn secs(&self, key: &str, default: f64) -> Result<Duration, String> {
        let s: f64 = self.num(key, default)?;
        if !(0.0..=86_400.0).contains(&s) {
            return Err(format!("--{key}: out of range"));
        }
        Ok(Duration::from_secs_f64(s))
    }

    /// Options given on the command line that no getter asked for.
    pub fn unused(&self) -> Vec<String> {
        let used = self.used.borrow();
        self.opts.keys().filter(|k| !used.iter().any(|u| u == *k)).cloned().collect()
    }
}

/// Parses `--server` and refuses anything but a loopback address: the bench
/// is a load generator and must never point at another host.
pub fn loopback_addr(s: &str) -> Result<SocketAddr, String> {
    let addr: SocketAddr = s.parse().map_err(|_| format!("--server {s:?}: expected IP:PORT, e.g. 127.0.0.1:6667"))?;
    if !addr.ip().is_loopback() {
        return Err(format!("--server {s}: only loopback addresses are allowed"));
    }
    Ok(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_non_loopback() {
        assert!(loopback_addr("127.0.0.1:6667").is_ok());
        assert!(loopback_addr("127.3.4.5:1").is_ok());
        assert!(loopback_addr("[::1]:6667").is_ok());
        assert!(loopback_addr("10.0.0.1:6667").is_err());
        assert!(loopback_addr("localhost:6667").is_err());
    }

    #[test]
    fn parses_options() {
        let argv: Vec<String> =
            ["fanout", "--channels", "3", "--duration=2.5", "x"].iter().map(|s| s.to_string()).collect();
        let a = Args::parse(&argv).unwrap();
        assert_eq!(a.command, "fanout");
        assert_eq!(a.num("channels", 1usize).unwrap(), 3);
        assert_eq!(a.secs("duration", 1.0).unwrap(), Duration::from_millis(2500));
        assert_eq!(a.free, vec!["x".to_string()]);
        assert!(a.unused().is_empty());
    }

    #[test]
    fn repeated_options_and_lists() {
        let argv: Vec<String> =
            ["fanout", "--pid", "1", "--pid", "2,3", "--server", "127.0.0.1:1"].iter().map(|s| s.to_string()).collect();
        let a = Args::parse(&argv).unwrap();
        assert_eq!(a.get_all("pid"), vec!["1", "2", "3"]);
        assert_eq!(a.get("pid"), Some("2,3"));
        assert_eq!(a.get_all("server"), vec!["127.0.0.1:1"]);
        assert!(a.get_all("label").is_empty());
    }
}
