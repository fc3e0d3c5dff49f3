//! IRCv3 metadata storage: key/value pairs held by a user (in its `UserInfo`)
//! or a channel (in its `ChannelState`), and each client's key subscriptions.
//! Everything is in memory and goes away with the user or channel.

use std::collections::{BTreeMap, BTreeSet};

/// Key/value pairs, ordered by key so LIST and sync output is stable.
pub type Values = BTreeMap<String, String>;

/// A user's metadata and the keys it subscribed to.
#[derive(Debug, Default, Clone)]
pub struct UserMetadata {
    /// The user's own keys.
    pub values: Values,
    /// Keys whose changes the client wants to hear about (METADATA SUB).
    pub subs: BTreeSet<String>,
}

impl super::rare::Empty for UserMetadata {
    const EMPTY: &'static Self = &UserMetadata { values: BTreeMap::new(), subs: BTreeSet::new() };
}

/// Whether `key` is a valid metadata key: 1..=`max_bytes` of `a-z 0-9 _ . / -`.
pub fn valid_key(key: &str, max_bytes: usize) -> bool {
    !key.is_empty()
        && key.len() <= max_bytes
        && key.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_./-".contains(&b))
}

/// Why a key could not be set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitReached;

/// Sets `key` to `value`, or removes it when `value` is `None`; a new key is
/// refused once `max_keys` are set.
pub fn set(values: &mut Values, key: &str, value: Option<&str>, max_keys: usize) -> Result<(), LimitReached> {
    match value {
        None => {
            values.remove(key);
        }
        Some(v) => {
            if !values.contains_key(key) && values.len() >= max_keys {
                return Err(LimitReached);
            }
            values.insert(key.to_owned(), v.to_owned());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        assert!(valid_key("display-name", 64));
        assert!(valid_key("im.xmpp/x_y", 64));
        assert!(!valid_key("Display", 64));
        assert!(!valid_key("$url", 64));
        assert!(!valid_key("", 64));
        assert!(!valid_key("abcdef", 5));
    }

    #[test]
    fn limit_applies_to_new_keys_only() {
        let mut v = Values::new();
        set(&mut v, "a", Some("1"), 1).unwrap();
        set(&mut v, "a", Some("2"), 1).unwrap();
        assert_eq!(set(&mut v, "b", Some("1"), 1), Err(LimitReached));
        set(&mut v, "a", None, 1).unwrap();
        set(&mut v, "b", Some("1"), 1).unwrap();
        assert_eq!(v.get("b").map(String::as_str), Some("1"));
    }
}
