//! Where the store is: `[store] url` (a PostgreSQL URL), or SQLite in the
//! data dir when it is absent; and the same names on the command line
//! (`banterd store copy --from sqlite:DIR --to postgres://...`).

use super::{Store, StoreResult};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A store's place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// SQLite files in a data dir.
    Sqlite(PathBuf),
    /// A PostgreSQL database, by URL (`postgres://user:password@host:port/db`).
    Postgres(String),
}

impl Location {
    /// The store a configuration names: `store.url`, else the data dir.
    pub fn of(config: &crate::config::Config) -> Location {
        match &config.store.url {
            Some(url) => Location::Postgres(url.clone()),
            None => Location::Sqlite(config.server.data_dir.clone()),
        }
    }

    /// Parses `sqlite:DIR` or `postgres://...` (`postgresql://` too).
    pub fn parse(text: &str) -> Result<Location, String> {
        if let Some(dir) = text.strip_prefix("sqlite:") {
            if dir.is_empty() {
                return Err("sqlite: needs a directory (sqlite:DIR)".into());
            }
            return Ok(Location::Sqlite(PathBuf::from(dir)));
        }
        if is_postgres_url(text) {
            return Ok(Location::Postgres(text.to_owned()));
        }
        Err(format!("not a store location: {} (sqlite:DIR or postgres://USER@HOST:PORT/DB)", redact(text)))
    }

    /// Opens (creating and migrating) the store.
    pub fn open(&self) -> StoreResult<Arc<dyn Store>> {
        Ok(match self {
            Location::Sqlite(dir) => Arc::new(super::sqlite::Sqlite::open(dir)?),
            Location::Postgres(url) => Arc::new(super::postgres::Postgres::open(url)?),
        })
    }

    /// How logs and messages name it (a URL without its password).
    pub fn describe(&self) -> String {
        match self {
            Location::Sqlite(dir) => {
                let abs = std::path::absolute(dir).unwrap_or_else(|_| dir.clone());
                format!("SQLite in {}", abs.display())
            }
            Location::Postgres(url) => format!("PostgreSQL at {}", redact(url)),
        }
    }

    /// The data dir, for SQLite.
    pub fn dir(&self) -> Option<&Path> {
        match self {
            Location::Sqlite(d) => Some(d),
            Location::Postgres(_) => None,
        }
    }
}

/// Whether `text` is a PostgreSQL URL.
pub fn is_postgres_url(text: &str) -> bool {
    text.starts_with("postgres://") || text.starts_with("postgresql://")
}

/// `url` with its password replaced by `***` (for logs and errors).
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let mut out = format!("{scheme}://");
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            out.push_str(user);
            if userinfo.contains(':') {
                out.push_str(":***");
            }
            out.push('@');
            out.push_str(host);
        }
        None => out.push_str(authority),
    }
    // A password given as a query parameter goes too.
    let mut parts = tail.splitn(2, '?');
    out.push_str(parts.next().unwrap_or_default());
    if let Some(query) = parts.next() {
        let kept: Vec<String> = query
            .split('&')
            .map(|kv| if kv.starts_with("password=") { "password=***".to_owned() } else { kv.to_owned() })
            .collect();
        out.push('?');
        out.push_str(&kept.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show() {
        assert_eq!(redact("postgres://u:secret@h:5432/db"), "postgres://u:***@h:5432/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("postgresql://h/db?user=u&password=pw"), "postgresql://h/db?user=u&password=***");
        assert_eq!(redact("postgres://u:p@ss@h/db"), "postgres://u:***@h/db");
    }

    #[test]
    fn locations_parse() {
        assert_eq!(Location::parse("sqlite:data").unwrap(), Location::Sqlite("data".into()));
        assert_eq!(Location::parse("postgres://h/db").unwrap(), Location::Postgres("postgres://h/db".into()));
        let e = Location::parse("mysql://u:pw@h/db").unwrap_err();
        assert!(!e.contains("pw"), "{e}");
    }
}
