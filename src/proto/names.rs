//! The rules for nicknames and channel names, with a reason a person can act
//! on when a name breaks them. Used by the command handlers (432, 479, REGISTER)
//! and by configuration validation (permanent channels).

/// Characters besides ASCII letters that a nick may start with (RFC 2812 "special").
const NICK_SPECIAL: &str = "[]\\`_^{|}";

/// Why `nick` is not a valid nickname of at most `max_len` bytes, or `None` if it is.
pub fn nick_problem(nick: &str, max_len: usize) -> Option<String> {
    let special = |c: char| NICK_SPECIAL.contains(c);
    let Some(first) = nick.chars().next() else { return Some("it is empty".into()) };
    if nick.len() > max_len {
        return Some(format!("it is too long: at most {max_len} characters"));
    }
    if first.is_ascii_digit() || first == '-' {
        return Some(format!("it cannot start with '{first}'; start with a letter"));
    }
    if let Some(bad) = nick.chars().find(|&c| !(c.is_ascii_alphanumeric() || special(c) || c == '-')) {
        let shown = if bad.is_control() || bad == ' ' { format!("{:?}", bad) } else { format!("'{bad}'") };
        return Some(format!("the character {shown} is not allowed: use letters, digits and - _ [ ] \\ ` ^ {{ | }}"));
    }
    None
}

/// Whether `nick` is a valid nickname of at most `max_len` bytes.
pub fn valid_nick(nick: &str, max_len: usize) -> bool {
    !nick.is_empty() && nick_problem(nick, max_len).is_none()
}

/// Whether `name` is a valid channel name of at most `max_len` bytes.
pub fn valid_channel(name: &str, max_len: usize) -> bool {
    name.starts_with('#')
        && name.len() >= 2
        && name.len() <= max_len
        && !name.chars().any(|c| c == ' ' || c == ',' || c == ':' || c == '\x07' || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nick_rules_have_reasons() {
        assert_eq!(nick_problem("alice", 30), None);
        assert_eq!(nick_problem("[bot]_x-1", 30), None);
        assert!(nick_problem("abcdefghij", 9).unwrap().contains("at most 9 characters"));
        assert!(nick_problem("1abc", 30).unwrap().contains("cannot start with '1'"));
        assert!(nick_problem("-abc", 30).unwrap().contains("cannot start with '-'"));
        assert!(nick_problem("a!b", 30).unwrap().contains("'!' is not allowed"));
        assert!(nick_problem("é", 30).unwrap().contains("'é' is not allowed"));
        assert!(!valid_nick("", 30));
    }

    #[test]
    fn channel_rules() {
        assert!(valid_channel("#room1", 64));
        assert!(!valid_channel("room1", 64));
        assert!(!valid_channel("#", 64));
        assert!(!valid_channel("#a b", 64));
        assert!(!valid_channel("#abc", 3));
    }
}
