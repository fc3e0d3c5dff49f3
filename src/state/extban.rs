//! Extended ban masks (ISUPPORT `EXTBAN`): `a:account` matches a logged-in
//! account (IRCv3 account-extban, ISUPPORT `ACCOUNTEXTBAN`) and `m:nick!user@host`
//! mutes instead of banning. The older `$a:account` spelling is still accepted.
//!
//! A mute entry in `+b` never keeps anyone out of a channel; it only stops
//! matching non-voiced members from speaking. A matching `+e` entry (plain or
//! `m:`) lifts a mute.

use super::casemap::Casemap;
use super::mask;

/// The extban prefix advertised in ISUPPORT `EXTBAN` (none: `a:name`, not `$a:name`).
pub const PREFIX: &str = "";
/// The extban types advertised in ISUPPORT `EXTBAN`.
pub const TYPES: &str = "am";

/// What a list entry matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry<'a> {
    /// A `nick!user@host` glob.
    Mask(&'a str),
    /// An account name glob (`a:` or `$a:`).
    Account(&'a str),
    /// A mute of a `nick!user@host` glob (`m:`).
    Mute(&'a str),
}

/// Classifies a stored list entry.
pub fn parse(entry: &str) -> Entry<'_> {
    if let Some(acc) = entry.strip_prefix("a:").or_else(|| entry.strip_prefix("$a:")) {
        Entry::Account(acc)
    } else if let Some(m) = entry.strip_prefix("m:") {
        Entry::Mute(m)
    } else {
        Entry::Mask(entry)
    }
}

/// The form a MODE argument is stored in: masks are completed (`nick` →
/// `nick!*@*`), also inside a mute; account names are kept as given.
pub fn normalize(arg: &str) -> String {
    match parse(arg) {
        Entry::Account(_) => arg.to_owned(),
        Entry::Mute(m) => format!("m:{}", mask::normalize(m)),
        Entry::Mask(m) => mask::normalize(m),
    }
}

/// Whether `entry` matches a client with mask `client_mask` and `account`.
/// With `mutes` only `m:` entries count, otherwise only the others do.
pub fn matches(casemap: Casemap, entry: &str, client_mask: &str, account: Option<&str>, mutes: bool) -> bool {
    match (parse(entry), mutes) {
        (Entry::Mask(m), false) => mask::matches(casemap, m, client_mask),
        (Entry::Account(a), false) => account.is_some_and(|acc| mask::matches(casemap, a, acc)),
        (Entry::Mute(m), true) => mask::matches(casemap, m, client_mask),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_normalizing() {
        assert_eq!(parse("a:bob"), Entry::Account("bob"));
        assert_eq!(parse("$a:bob"), Entry::Account("bob"));
        assert_eq!(normalize("m:bar"), "m:bar!*@*");
        assert_eq!(normalize("a:Bob"), "a:Bob");
        assert_eq!(normalize("bar"), "bar!*@*");
    }

    #[test]
    fn matching() {
        let c = Casemap::Rfc1459;
        assert!(matches(c, "a:bob", "x!y@z", Some("BOB"), false));
        assert!(!matches(c, "a:bob", "bob!y@z", None, false));
        assert!(matches(c, "m:BAR!*@*", "bar!~u@h", None, true));
        assert!(!matches(c, "m:bar!*@*", "bar!~u@h", None, false));
        assert!(!matches(c, "bar!*@*", "bar!~u@h", None, true));
    }
}
