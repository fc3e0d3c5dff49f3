//! Parsing client lines into borrowed [`Message`]s, and an owned form that serializes.

use super::tags;
use std::fmt::Write as _;

/// The most parameters a message may have; the 15th takes the rest of the line.
pub const MAX_PARAMS: usize = 15;

/// A parsed line that borrows from the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message<'a> {
    /// The raw tag section without the leading `@`, if any.
    pub tags: Option<&'a str>,
    /// The source without the leading `:`, if any (ignored from clients).
    pub prefix: Option<&'a str>,
    /// The command or numeric as sent (compare case-insensitively).
    pub command: &'a str,
    /// The parameters, the trailing one without its `:`.
    pub params: Vec<&'a str>,
}

/// Why a line could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// The line has tags or a prefix but no command.
    NoCommand,
}

impl<'a> Message<'a> {
    /// Parses one line (without its line ending).
    pub fn parse(line: &'a str) -> Result<Self, ParseError> {
        let mut rest = line.trim_start_matches(' ');
        let mut tags = None;
        if let Some(r) = rest.strip_prefix('@') {
            let (t, r) = r.split_once(' ').unwrap_or((r, ""));
            tags = Some(t);
            rest = r.trim_start_matches(' ');
        }
        let mut prefix = None;
        if let Some(r) = rest.strip_prefix(':') {
            let (p, r) = r.split_once(' ').unwrap_or((r, ""));
            prefix = Some(p);
            rest = r.trim_start_matches(' ');
        }
        let (command, r) = rest.split_once(' ').unwrap_or((rest, ""));
        if command.is_empty() {
            return Err(ParseError::NoCommand);
        }
        rest = r;
        let mut params = Vec::new();
        loop {
            rest = rest.trim_start_matches(' ');
            if rest.is_empty() {
                break;
            }
            if let Some(trailing) = rest.strip_prefix(':') {
                params.push(trailing);
                break;
            }
            if params.len() == MAX_PARAMS - 1 {
                params.push(rest);
                break;
            }
            let (p, r) = rest.split_once(' ').unwrap_or((rest, ""));
            params.push(p);
            rest = r;
        }
        Ok(Message { tags, prefix, command, params })
    }

    /// The value of a tag, unescaped, if the message carries it.
    pub fn tag(&self, key: &str) -> Option<std::borrow::Cow<'a, str>> {
        tags::iter(self.tags?).find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// Whether the command is `name` (ASCII case-insensitively).
    pub fn is(&self, name: &str) -> bool {
        self.command.eq_ignore_ascii_case(name)
    }

    /// Parameter `i`, or `""` when absent.
    pub fn param(&self, i: usize) -> &'a str {
        self.params.get(i).copied().unwrap_or("")
    }

    /// An owned copy, with tags split and unescaped.
    pub fn to_owned_message(&self) -> OwnedMessage {
        OwnedMessage {
            tags: self
                .tags
                .map(|t| tags::iter(t).map(|(k, v)| (k.to_owned(), v.into_owned())).collect())
                .unwrap_or_default(),
            prefix: self.prefix.map(str::to_owned),
            command: self.command.to_owned(),
            params: self.params.iter().map(|p| (*p).to_owned()).collect(),
        }
    }
}

/// A message that owns its parts; used to build outgoing lines and in tests.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OwnedMessage {
    /// Tags, unescaped; an empty value is serialized as a bare key.
    pub tags: Vec<(String, String)>,
    /// The source, without `:`.
    pub prefix: Option<String>,
    /// The command or numeric.
    pub command: String,
    /// The parameters; the last is sent as trailing when it needs to be.
    pub params: Vec<String>,
}

impl OwnedMessage {
    /// The message borrowed again, without its tags (a handler that took
    /// the owned form for waiting reads only command and parameters).
    pub fn without_tags(&self) -> Message<'_> {
        Message {
            tags: None,
            prefix: self.prefix.as_deref(),
            command: &self.command,
            params: self.params.iter().map(String::as_str).collect(),
        }
    }
}

impl OwnedMessage {
    /// Serializes to a wire line ending in CRLF.
    pub fn serialize(&self) -> String {
        let mut out = String::new();
        if !self.tags.is_empty() {
            out.push('@');
            for (i, (k, v)) in self.tags.iter().enumerate() {
                if i > 0 {
                    out.push(';');
                }
                out.push_str(k);
                if !v.is_empty() {
                    out.push('=');
                    out.push_str(&tags::escape(v));
                }
            }
            out.push(' ');
        }
        if let Some(p) = &self.prefix {
            let _ = write!(out, ":{p} ");
        }
        out.push_str(&self.command);
        push_params(&mut out, self.params.iter().map(String::as_str), false);
        out.push_str("\r\n");
        out
    }
}

/// Appends ` p1 p2 :last` to `out`. The trailing form is used where needed
/// (empty, starts with `:`, or contains a space) or when `force_trailing`.
pub fn push_params<'a>(out: &mut String, params: impl IntoIterator<Item = &'a str>, force_trailing: bool) {
    let mut iter = params.into_iter().peekable();
    while let Some(p) = iter.next() {
        out.push(' ');
        let last = iter.peek().is_none();
        if last && (force_trailing || p.is_empty() || p.starts_with(':') || p.contains(' ')) {
            out.push(':');
        }
        out.push_str(p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_all_parts() {
        let m = Message::parse("@a=b\\sc;+d :nick!u@h PRIVMSG #chan :hello world").unwrap();
        assert_eq!(m.tags, Some("a=b\\sc;+d"));
        assert_eq!(m.tag("a").unwrap(), "b c");
        assert_eq!(m.tag("+d").unwrap(), "");
        assert_eq!(m.prefix, Some("nick!u@h"));
        assert_eq!(m.command, "PRIVMSG");
        assert_eq!(m.params, vec!["#chan", "hello world"]);
    }

    #[test]
    fn empty_trailing_and_extra_spaces() {
        let m = Message::parse("TOPIC  #c   :").unwrap();
        assert_eq!(m.params, vec!["#c", ""]);
        let m = Message::parse("NICK foo ").unwrap();
        assert_eq!(m.params, vec!["foo"]);
    }

    #[test]
    fn fifteenth_param_takes_the_rest() {
        let line = format!("CMD {}", (1..=20).map(|i| i.to_string()).collect::<Vec<_>>().join(" "));
        let m = Message::parse(&line).unwrap();
        assert_eq!(m.params.len(), 15);
        assert_eq!(m.params[14], "15 16 17 18 19 20");
    }

    #[test]
    fn no_command() {
        assert_eq!(Message::parse("@a=b"), Err(ParseError::NoCommand));
        assert_eq!(Message::parse(":pfx"), Err(ParseError::NoCommand));
    }

    #[test]
    fn agrees_with_irc_proto() {
        for line in ["PRIVMSG #a :hi there", ":n!u@h JOIN #x", "@+t=v\\s1 TAGMSG #c", "MODE #c +o n"] {
            let ours = Message::parse(line).unwrap();
            let theirs: irc_proto::Message = line.parse().unwrap();
            let theirs_line = theirs.to_string();
            let reparsed = Message::parse(theirs_line.trim_end()).unwrap();
            assert_eq!(ours.command.to_uppercase(), reparsed.command.to_uppercase());
            assert_eq!(ours.params, reparsed.params);
        }
    }

    fn token() -> impl Strategy<Value = String> {
        "[A-Za-z0-9#&!@.+-][A-Za-z0-9#&!@.:+-]{0,10}"
    }

    proptest! {
        #[test]
        fn parse_serialize_round_trip(
            tags in proptest::collection::vec(("\\+?[a-z][a-z0-9-]{0,8}", "[ -~]{0,12}"), 0..4),
            prefix in proptest::option::of("[a-z]{1,8}![a-z]{1,5}@[a-z.]{1,10}"),
            command in "[A-Z]{1,8}|[0-9]{3}",
            mut params in proptest::collection::vec(token(), 0..14),
            trailing in proptest::option::of("[ -~]{0,30}"),
        ) {
            if let Some(t) = trailing { params.push(t); }
            let m = OwnedMessage { tags, prefix, command, params };
            let line = m.serialize();
            let parsed = Message::parse(line.trim_end_matches("\r\n")).unwrap().to_owned_message();
            prop_assert_eq!(parsed, m);
        }
    }
}
