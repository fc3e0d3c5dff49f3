//! The lines of one [`Event::Msg`](super::event::Event::Msg) as the log
//! carries them: each line leaves out what it shares with the line before
//! it. A client pipelining messages to one channel sends lines that differ
//! only in their text and msgid (same source, command, target, tag keys,
//! often the same time), and one event holds them all; spelled out, each
//! line was about 160 bytes of JSON around 20 of text, and Redis copies
//! every byte into its log, its append-only file and each node's read.
//!
//! A packed line is an object of optional fields, each absent when it is the
//! line before's (the first line has every field it needs):
//! `k` the server tags' keys, `v` their values in that order (`null`: the
//! value the line before had at that place; missing at the end: the same),
//! `c` the client-only tags (`""`: none), `s` the source, `m` the command,
//! `h` how many leading parameters are the line before's, `p` the rest.

use super::event::{is_zero, WireLine};
use serde::de::Error as _;
use serde::ser::SerializeSeq;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One line as written (borrowing `S = &str`) or read (`S = String`).
#[derive(Serialize, Deserialize)]
struct Packed<S> {
    #[serde(rename = "k", default, skip_serializing_if = "Option::is_none")]
    keys: Option<Vec<S>>,
    #[serde(rename = "v", default, skip_serializing_if = "Vec::is_empty")]
    values: Vec<Option<S>>,
    #[serde(rename = "c", default, skip_serializing_if = "Option::is_none")]
    ctags: Option<S>,
    #[serde(rename = "s", default, skip_serializing_if = "Option::is_none")]
    src: Option<S>,
    #[serde(rename = "m", default, skip_serializing_if = "Option::is_none")]
    cmd: Option<S>,
    #[serde(rename = "h", default, skip_serializing_if = "is_zero")]
    same: usize,
    #[serde(rename = "p", default, skip_serializing_if = "Vec::is_empty")]
    params: Vec<S>,
}

impl<'a> Packed<&'a str> {
    /// `line` as it differs from `before`.
    fn of(line: &'a WireLine, before: Option<&WireLine>) -> Self {
        let keys_same = before.is_some_and(|b| {
            b.tags.len() == line.tags.len() && b.tags.iter().zip(&line.tags).all(|((k1, _), (k2, _))| k1 == k2)
        });
        let keys = (!keys_same).then(|| line.tags.iter().map(|(k, _)| k.as_str()).collect());
        let mut values: Vec<Option<&str>> = line
            .tags
            .iter()
            .enumerate()
            .map(|(i, (_, v))| {
                let same = keys_same && before.is_some_and(|b| b.tags[i].1 == *v);
                (!same).then_some(v.as_str())
            })
            .collect();
        while values.last() == Some(&None) {
            values.pop();
        }
        let ctags = match (before.map(|b| &b.ctags), &line.ctags) {
            (Some(b), c) if b == c => None,
            (_, Some(c)) => Some(c.as_str()),
            (Some(_), None) => Some(""),
            (None, None) => None,
        };
        let differs = |ours: &'a str, theirs: Option<&str>| (theirs != Some(ours)).then_some(ours);
        let same = before.map_or(0, |b| b.params.iter().zip(&line.params).take_while(|(x, y)| x == y).count());
        Packed {
            keys,
            values,
            ctags,
            src: differs(&line.src, before.map(|b| b.src.as_str())),
            cmd: differs(&line.cmd, before.map(|b| b.cmd.as_str())),
            same,
            params: line.params[same..].iter().map(String::as_str).collect(),
        }
    }
}

impl Packed<String> {
    /// The whole line, taking what this one left out from `before`.
    fn unpack(self, before: Option<&WireLine>) -> Result<WireLine, &'static str> {
        let keys: Vec<String> = match self.keys {
            Some(keys) => keys,
            None => before.map(|b| b.tags.iter().map(|(k, _)| k.clone()).collect()).unwrap_or_default(),
        };
        if self.values.len() > keys.len() {
            return Err("a packed line has more tag values than keys");
        }
        let mut values = self.values.into_iter();
        let mut tags = Vec::with_capacity(keys.len());
        for (i, key) in keys.into_iter().enumerate() {
            let value = match values.next().flatten() {
                Some(v) => v,
                None => match before.and_then(|b| b.tags.get(i)) {
                    Some((k, v)) if *k == key => v.clone(),
                    _ => return Err("a packed line leaves out a tag value the line before does not have"),
                },
            };
            tags.push((key, value));
        }
        let ctags = match self.ctags {
            Some(c) if c.is_empty() => None,
            Some(c) => Some(c),
            None => before.and_then(|b| b.ctags.clone()),
        };
        let from_before = |field: Option<String>, theirs: Option<&String>| {
            field.or_else(|| theirs.cloned()).ok_or("a packed first line lacks its source or command")
        };
        let src = from_before(self.src, before.map(|b| &b.src))?;
        let cmd = from_before(self.cmd, before.map(|b| &b.cmd))?;
        let mut params = match before {
            Some(b) if self.same <= b.params.len() => b.params[..self.same].to_vec(),
            _ if self.same == 0 => Vec::new(),
            _ => return Err("a packed line keeps more parameters than the line before has"),
        };
        params.extend(self.params);
        Ok(WireLine { tags, ctags, src, cmd, params })
    }
}

/// Writes `lines` packed (`#[serde(with = "packed")]`).
pub fn serialize<S: Serializer>(lines: &[WireLine], serializer: S) -> Result<S::Ok, S::Error> {
    let mut seq = serializer.serialize_seq(Some(lines.len()))?;
    let mut before = None;
    for line in lines {
        seq.serialize_element(&Packed::of(line, before))?;
        before = Some(line);
    }
    seq.end()
}

/// Reads packed lines back whole.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<WireLine>, D::Error> {
    let packed: Vec<Packed<String>> = Vec::deserialize(deserializer)?;
    let mut lines: Vec<WireLine> = Vec::with_capacity(packed.len());
    for p in packed {
        let line = p.unpack(lines.last()).map_err(D::Error::custom)?;
        lines.push(line);
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(tags: &[(&str, &str)], ctags: Option<&str>, src: &str, cmd: &str, params: &[&str]) -> WireLine {
        WireLine {
            tags: tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            ctags: ctags.map(str::to_owned),
            src: src.into(),
            cmd: cmd.into(),
            params: params.iter().map(|p| p.to_string()).collect(),
        }
    }

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct Lines(#[serde(with = "super")] Vec<WireLine>);

    fn round_trip(lines: Vec<WireLine>) -> String {
        let json = serde_json::to_string(&Lines(lines.clone())).unwrap();
        assert_eq!(serde_json::from_str::<Lines>(&json).unwrap(), Lines(lines), "{json}");
        json
    }

    #[test]
    fn pipelined_lines_carry_only_what_changes() {
        let t = "2026-12-04T18:46:39.793Z";
        let json = round_trip(vec![
            line(&[("time", t), ("msgid", "a1")], None, "n!u@h", "PRIVMSG", &["#c", "one"]),
            line(&[("time", t), ("msgid", "a2")], None, "n!u@h", "PRIVMSG", &["#c", "two"]),
            line(&[("time", "later"), ("msgid", "a3")], None, "n!u@h", "PRIVMSG", &["#c", "two"]),
        ]);
        assert_eq!(
            json,
            format!(
                r##"[{{"k":["time","msgid"],"v":["{t}","a1"],"s":"n!u@h","m":"PRIVMSG","p":["#c","one"]}},{{"v":[null,"a2"],"h":1,"p":["two"]}},{{"v":["later","a3"],"h":2}}]"##
            )
        );
    }

    #[test]
    fn every_field_can_change_or_vanish() {
        round_trip(vec![
            line(
                &[("time", "t"), ("account", "acc"), ("msgid", "1")],
                Some("+draft/reply=x"),
                "a!u@h",
                "PRIVMSG",
                &["#c", "hi"],
            ),
            line(&[("time", "t"), ("msgid", "2")], Some("+draft/reply=x"), "a!u@h", "NOTICE", &["#c", "hi"]),
            line(&[("time", "t"), ("msgid", "3")], None, "b!u@h", "TAGMSG", &["#c"]),
            line(&[], Some("+typing=active"), "b!u@h", "TAGMSG", &["#d"]),
            line(&[("msgid", "4")], None, "b!u@h", "PRIVMSG", &["#d", ""]),
            line(&[("msgid", "4")], None, "b!u@h", "PRIVMSG", &["#d", "", "x"]),
            line(&[("msgid", "4")], None, "b!u@h", "PRIVMSG", &["#d"]),
        ]);
        round_trip(Vec::new());
        round_trip(vec![line(&[], None, "s", "PRIVMSG", &[])]);
    }

    /// A line from few choices, so neighbours often share fields.
    fn any_line() -> impl proptest::strategy::Strategy<Value = WireLine> {
        use proptest::prelude::*;
        let tag =
            (prop::sample::select(vec!["time", "msgid", "account", "bot"]), prop::sample::select(vec!["", "1", "2"]));
        (
            prop::collection::vec(tag, 0..4),
            prop::option::of(prop::sample::select(vec!["+a", "+a=1;+b", ""])),
            prop::sample::select(vec!["a!u@h", "b!u@h"]),
            prop::sample::select(vec!["PRIVMSG", "NOTICE", "TAGMSG"]),
            prop::collection::vec(prop::sample::select(vec!["#c", "#d", "", "hi", "a b"]), 0..4),
        )
            .prop_map(|(tags, ctags, src, cmd, params)| WireLine {
                tags: tags.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect(),
                // No client-only tags and an empty set of them are one thing.
                ctags: ctags.filter(|c| !c.is_empty()).map(str::to_owned),
                src: src.to_owned(),
                cmd: cmd.to_owned(),
                params: params.into_iter().map(str::to_owned).collect(),
            })
    }

    proptest::proptest! {
        #[test]
        fn any_lines_come_back_as_they_went(lines in proptest::collection::vec(any_line(), 0..8)) {
            round_trip(lines);
        }
    }

    #[test]
    fn malformed_packings_are_refused() {
        for bad in [
            r##"[{"p":["#c","x"]}]"##,
            r##"[{"s":"n","m":"PRIVMSG","h":1,"p":["x"]}]"##,
            r##"[{"s":"n","m":"PRIVMSG","v":["x"]}]"##,
            r##"[{"k":["time"],"s":"n","m":"PRIVMSG"}]"##,
            r##"[{"k":["time"],"v":["t"],"s":"n","m":"PRIVMSG"},{"k":["msgid"]}]"##,
        ] {
            assert!(serde_json::from_str::<Lines>(bad).is_err(), "{bad}");
        }
    }
}
