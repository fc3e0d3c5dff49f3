//! A small, forgiving IRC line parser and serializer for the client.
//!
//! The client never trusts the server: every accessor returns `Option` or an
//! empty string instead of panicking, and malformed lines simply parse into
//! fewer parameters.

use std::collections::HashMap;

/// The longest line the client sends: 512 bytes including CR LF.
pub const MAX_LINE: usize = 512;

/// One parsed IRC message, owning its parts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    /// IRCv3 message tags (`@time=...`), unescaped.
    pub tags: HashMap<String, String>,
    /// The prefix without its leading `:` (`nick!user@host` or a server name).
    pub prefix: Option<String>,
    /// The command or three-digit numeric, upper-cased.
    pub command: String,
    /// The parameters, the trailing one included without its `:`.
    pub params: Vec<String>,
}

impl Message {
    /// Parses one line (without CR LF). Returns `None` for a line with no command.
    pub fn parse(line: &str) -> Option<Message> {
        let mut rest = line.trim_end_matches(['\r', '\n']).trim_start_matches(' ');
        let mut msg = Message::default();
        if let Some(stripped) = rest.strip_prefix('@') {
            let (tags, after) = stripped.split_once(' ').unwrap_or((stripped, ""));
            for tag in tags.split(';').filter(|t| !t.is_empty()) {
                let (key, value) = tag.split_once('=').unwrap_or((tag, ""));
                msg.tags.insert(key.to_string(), crate::proto::tags::unescape(value).into_owned());
            }
            rest = after.trim_start_matches(' ');
        }
        if let Some(stripped) = rest.strip_prefix(':') {
            let (prefix, after) = stripped.split_once(' ').unwrap_or((stripped, ""));
            msg.prefix = Some(prefix.to_string());
            rest = after.trim_start_matches(' ');
        }
        let (command, mut rest) = rest.split_once(' ').unwrap_or((rest, ""));
        if command.is_empty() {
            return None;
        }
        msg.command = command.to_ascii_uppercase();
        loop {
            rest = rest.trim_start_matches(' ');
            if rest.is_empty() {
                break;
            }
            if let Some(trailing) = rest.strip_prefix(':') {
                msg.params.push(trailing.to_string());
                break;
            }
            let (param, after) = rest.split_once(' ').unwrap_or((rest, ""));
            msg.params.push(param.to_string());
            rest = after;
        }
        Some(msg)
    }

    /// The parameter at `index`, or `""` when the server sent fewer.
    pub fn param(&self, index: usize) -> &str {
        self.params.get(index).map(String::as_str).unwrap_or("")
    }

    /// The last parameter (usually the human-readable text), or `""`.
    pub fn trailing(&self) -> &str {
        self.params.last().map(String::as_str).unwrap_or("")
    }

    /// The nick part of the prefix (`nick` of `nick!user@host`), or `""`.
    pub fn nick(&self) -> &str {
        let prefix = self.prefix.as_deref().unwrap_or("");
        prefix.split(['!', '@']).next().unwrap_or("")
    }

    /// The `user@host` part of the prefix, when the server sent one.
    pub fn userhost(&self) -> Option<&str> {
        let prefix = self.prefix.as_deref()?;
        prefix.split_once('!').map(|(_, uh)| uh).filter(|uh| !uh.is_empty())
    }
}

/// Builds a wire line from a command and parameters; the last parameter is
/// sent as trailing when it needs to be. CR, LF and NUL are replaced by spaces
/// so user text can never inject a second command.
pub fn build(command: &str, params: &[&str]) -> String {
    let mut line = command.to_string();
    for (i, param) in params.iter().enumerate() {
        let clean: String = param.chars().map(|c| if matches!(c, '\r' | '\n' | '\0') { ' ' } else { c }).collect();
        let last = i + 1 == params.len();
        line.push(' ');
        if last && (clean.is_empty() || clean.contains(' ') || clean.starts_with(':')) {
            line.push(':');
        }
        line.push_str(&clean);
    }
    line
}

/// Splits user text into pieces of at most `max` bytes, on character
/// boundaries, preferring to break at a space.
pub fn split_text(text: &str, max: usize) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while rest.len() > max {
        let mut cut = max;
        while cut > 0 && !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        if let Some(space) = rest[..cut].rfind(' ').filter(|&s| s > max / 2) {
            cut = space;
        }
        if cut == 0 {
            break;
        }
        pieces.push(rest[..cut].to_string());
        rest = rest[cut..].trim_start_matches(' ');
    }
    if !rest.is_empty() || pieces.is_empty() {
        pieces.push(rest.to_string());
    }
    pieces
}

/// Case-folds a nick or channel name the RFC 1459 way, so `Alice` and `alice`
/// (and `[` and `{`) name the same thing.
pub fn fold(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            '[' => '{',
            ']' => '}',
            '\\' => '|',
            '~' => '^',
            other => other.to_ascii_lowercase(),
        })
        .collect()
}

/// True when `target` names a channel rather than a nick.
pub fn is_channel(target: &str) -> bool {
    target.starts_with(['#', '&', '+', '!'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tags_prefix_and_trailing() {
        let m = Message::parse("@time=2026-01-01T10:00:00.000Z;x=a\\sb :bob!b@h PRIVMSG #r :hi there\r\n").unwrap();
        assert_eq!(m.tags["time"], "2026-01-01T10:00:00.000Z");
        assert_eq!(m.tags["x"], "a b");
        assert_eq!(m.nick(), "bob");
        assert_eq!(m.userhost(), Some("b@h"));
        assert_eq!(m.command, "PRIVMSG");
        assert_eq!(m.params, vec!["#r", "hi there"]);
    }

    #[test]
    fn survives_garbage() {
        for line in ["", " ", ":", "@", "@a :", ":x", "@;;; :p", ":p 001", "\u{0}"] {
            if let Some(m) = Message::parse(line) {
                let _ = (m.param(5), m.trailing(), m.nick(), m.userhost());
            }
        }
        assert!(Message::parse(":prefix").is_none());
    }

    #[test]
    fn builds_safe_lines() {
        assert_eq!(build("PRIVMSG", &["#r", "hi\r\nQUIT"]), "PRIVMSG #r :hi  QUIT");
        assert_eq!(build("JOIN", &["#r"]), "JOIN #r");
        assert_eq!(build("PRIVMSG", &["#r", ":)"]), "PRIVMSG #r ::)");
    }

    #[test]
    fn splits_long_text_on_char_boundaries() {
        let text = "é".repeat(300);
        let parts = split_text(&text, 101);
        assert!(parts.iter().all(|p| p.len() <= 101));
        assert_eq!(parts.concat(), text);
    }

    #[test]
    fn folds_rfc1459() {
        assert_eq!(fold("Al[ice]"), "al{ice}");
    }
}
