//! Parsing: arbitrary text through `Message::parse`, then serialize and re-parse.
//!
//! Invariants checked:
//! - parsing never panics;
//! - a parsed message has a non-empty command without spaces, at most 15
//!   parameters, and every parameter but the last is a non-empty word that does
//!   not start with `:` (the last may be the trailing one);
//! - `to_owned_message().serialize()` ends in CRLF and re-parses, and a second
//!   round trip changes nothing;
//! - when every tag key is non-empty, the first round trip already changes
//!   nothing: same message, same line (an empty key, `@=`, is not a valid tag
//!   and is dropped by the re-parse when its value is empty).
//! - tag values survive `escape`/`unescape`, and `client_only` keeps exactly the
//!   `+`-prefixed tags with their values.
#![no_main]

use banter::proto::message::MAX_PARAMS;
use banter::proto::{tags, Message, OwnedMessage};
use libfuzzer_sys::fuzz_target;

fn reparse(line: &str) -> OwnedMessage {
    let body = line.strip_suffix("\r\n").expect("serialize ends in CRLF");
    Message::parse(body).expect("a serialized message parses").to_owned_message()
}

fn check_shape(msg: &Message<'_>) {
    assert!(!msg.command.is_empty() && !msg.command.contains(' '));
    assert!(msg.params.len() <= MAX_PARAMS);
    if let Some((_last, middle)) = msg.params.split_last() {
        for p in middle {
            assert!(!p.is_empty() && !p.contains(' ') && !p.starts_with(':'), "middle param {p:?}");
        }
    }
    if let Some(prefix) = msg.prefix {
        assert!(!prefix.contains(' '));
    }
    if let Some(t) = msg.tags {
        assert!(!t.contains(' '));
    }
}

fn check_tags(raw: &str) {
    for (_, value) in tags::iter(raw) {
        assert_eq!(tags::unescape(&tags::escape(&value)), value);
    }
    let relayed = tags::client_only(raw);
    let expected: Vec<(String, String)> = tags::iter(raw)
        .filter(|(k, _)| k.starts_with('+') && k.len() >= 2)
        .map(|(k, v)| (k.to_owned(), v.into_owned()))
        .collect();
    match relayed {
        None => assert!(expected.is_empty()),
        Some(out) => {
            assert!(!out.contains(' '), "relayed tags contain a space: {out:?}");
            let got: Vec<(String, String)> = tags::iter(&out).map(|(k, v)| (k.to_owned(), v.into_owned())).collect();
            assert_eq!(got, expected);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Some(t) = Message::parse(text).ok().and_then(|m| m.tags) {
        check_tags(t);
    }
    let Ok(msg) = Message::parse(text) else { return };
    check_shape(&msg);
    // A command that starts with `@` or `:` is only reachable behind a tag
    // section or prefix; once those are dropped it would read as one itself.
    if msg.command.starts_with(['@', ':']) {
        return;
    }
    let owned = msg.to_owned_message();
    let line = owned.serialize();
    let again = reparse(&line);
    let line2 = again.serialize();
    assert_eq!(reparse(&line2), again, "second round trip changed the message: {line2:?}");
    if owned.tags.iter().all(|(k, _)| !k.is_empty()) {
        assert_eq!(again, owned, "round trip changed the message: {line:?}");
        assert_eq!(line2, line, "serialize is not a fixed point");
    }
});
