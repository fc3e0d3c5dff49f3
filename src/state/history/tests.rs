use super::budget::water_level;
use super::select::{self, Buffers};
use super::*;
use crate::caps::Cap;

fn entry(i: usize, time_ms: i64, seq: u64) -> Entry {
    Entry {
        line: Line::new("n!u@h", "PRIVMSG", vec!["#c".into(), format!("{i}")]).tag(
            "msgid",
            format!("m{i}"),
            Cap::MessageTags,
        ),
        time_ms,
        seq,
        sender: 1,
        sender_account: None,
        kind: if i == 5 { Kind::Event } else { Kind::Message },
        multiline: None,
    }
}

fn buffer(n: usize) -> VecDeque<Entry> {
    (0..n).map(|i| entry(i, 1000 + 10 * i as i64, i as u64 + 1)).collect()
}

struct Many(Vec<VecDeque<Entry>>);

impl Buffers for Many {
    fn count(&self) -> usize {
        self.0.len()
    }
    fn visit(&self, i: usize, f: &mut dyn FnMut(&VecDeque<Entry>)) {
        f(&self.0[i])
    }
}

fn ids(v: Vec<Entry>) -> Vec<String> {
    v.iter().map(|e| e.msgid().to_owned()).collect()
}

fn run(b: &VecDeque<Entry>, q: &Query, events: bool) -> Vec<String> {
    ids(select::run(&Many(vec![b.clone()]), q, events))
}

#[test]
fn selections() {
    let b = buffer(10);
    let m = |i: usize| Ref::Msgid(format!("m{i}"));
    assert_eq!(run(&b, &Query::Latest(None, 3), true), ["m7", "m8", "m9"]);
    assert_eq!(run(&b, &Query::Latest(Some(m(7)), 10), true), ["m8", "m9"]);
    assert_eq!(run(&b, &Query::Before(m(3), 2), true), ["m1", "m2"]);
    assert_eq!(run(&b, &Query::Before(Ref::Time(1030), 10), true), ["m0", "m1", "m2"]);
    assert_eq!(run(&b, &Query::After(Ref::Time(1060), 2), true), ["m7", "m8"]);
    assert_eq!(run(&b, &Query::Around(m(7), 3), true), ["m6", "m7", "m8"]);
    assert_eq!(run(&b, &Query::Around(m(7), 1), true), ["m7"]);
    assert_eq!(run(&b, &Query::Around(m(9), 4), true), ["m6", "m7", "m8", "m9"]);
    assert_eq!(run(&b, &Query::Around(m(0), 3), true), ["m0", "m1", "m2"]);
    assert_eq!(run(&b, &Query::Between(m(0), m(9), 2), true), ["m1", "m2"]);
    assert_eq!(run(&b, &Query::Between(m(9), m(0), 2), true), ["m7", "m8"]);
    assert_eq!(run(&b, &Query::Between(m(4), m(4), 2), true), Vec::<String>::new());
    assert_eq!(run(&b, &Query::Between(Ref::Time(1065), Ref::Time(1015), 9), true), ["m2", "m3", "m4", "m5", "m6"]);
    assert!(run(&b, &Query::After(Ref::Msgid("nope".into()), 5), true).is_empty());
}

#[test]
fn events_hidden_without_playback() {
    let b = buffer(10);
    assert_eq!(
        run(&b, &Query::Between(Ref::Msgid("m3".into()), Ref::Msgid("m8".into()), 9), false),
        ["m4", "m6", "m7"]
    );
}

/// The `*` target: several buffers merged by time, the same answers as one
/// buffer holding all their entries.
#[test]
fn merged_buffers_answer_like_one() {
    let all = buffer(30);
    let mut parts = vec![VecDeque::new(), VecDeque::new(), VecDeque::new()];
    for (i, e) in all.iter().enumerate() {
        parts[(i * 7) % 3].push_back(e.clone());
    }
    let many = Many(parts);
    let m = |i: usize| Ref::Msgid(format!("m{i}"));
    let queries = [
        Query::Latest(None, 4),
        Query::Latest(Some(m(20)), 100),
        Query::Before(m(12), 5),
        Query::After(Ref::Time(1105), 6),
        Query::Around(m(15), 5),
        Query::Between(m(3), m(25), 4),
        Query::Between(m(25), m(3), 4),
    ];
    for q in &queries {
        for events in [true, false] {
            assert_eq!(ids(select::run(&many, q, events)), run(&all, q, events), "{q:?} events={events}");
        }
    }
}

#[test]
fn markers_only_rise_and_are_bounded() {
    let h = History::new();
    let cfg = HistoryConfig { read_markers: 2, ..HistoryConfig::default() };
    assert_eq!(h.set_marker(&cfg, "a:x", "#a", 10), (10, true));
    assert_eq!(h.set_marker(&cfg, "a:x", "#a", 5), (10, false));
    assert_eq!(h.set_marker(&cfg, "a:x", "#b", 20), (20, true));
    assert_eq!(h.set_marker(&cfg, "a:x", "#c", 30), (30, true));
    assert_eq!(h.marker("a:x", "#a"), None, "the oldest marker was dropped");
    assert_eq!(h.marker("a:x", "#c"), Some(30));
    assert_eq!(h.marker("a:y", "#c"), None);
    h.forget_client(7);
    assert_eq!(h.set_marker(&cfg, "c:7", "#c", 1), (1, true));
    h.forget_client(7);
    assert_eq!(h.marker("c:7", "#c"), None);
}

#[test]
fn water_level_cuts_the_largest_first() {
    assert_eq!(water_level(&mut [10, 5, 1], 100), usize::MAX);
    assert_eq!(water_level(&mut [10, 5, 1], 12), 6);
    assert_eq!(water_level(&mut [1, 10, 5], 6), 2);
    assert_eq!(water_level(&mut [4, 4, 4], 6), 2);
    assert_eq!(water_level(&mut [7], 0), 0);
}

#[test]
fn client_tags_are_capped_at_a_tag_boundary() {
    assert_eq!(cap_client_tags("+a=1;+b=2;+c=3", 9).as_deref(), Some("+a=1;+b=2"));
    assert_eq!(cap_client_tags("+a=1;+b=2;+c=3", 8).as_deref(), Some("+a=1"));
    assert_eq!(cap_client_tags("+aaaa=1", 3), None);
}

#[test]
fn channel_buffers_keep_to_their_byte_cap_and_the_total_budget() {
    let h = History::new();
    // Three-digit numbers: every entry has the same cost.
    let e = |i: usize| entry(100 + i, i as i64, 0);
    let one = e(0).cost();
    let cfg = HistoryConfig { channel_bytes: one * 10, total_bytes: one * 30, ..HistoryConfig::default() };
    let footprints = || h.channels.iter().map(|b| b.footprint()).sum::<usize>();
    h.record_channel(&cfg, "#big", (0..50).map(e));
    assert_eq!(h.channels.get("#big").unwrap().entries.len(), 10, "per-buffer byte cap");
    h.record_channel(&cfg, "#small", (0..3).map(e));
    h.record_channel(&cfg, "#mid", (0..8).map(e));
    assert!(h.bytes() <= cfg.total_bytes);
    assert_eq!(h.bytes(), footprints(), "the total matches the buffers");
    h.record_channel(&cfg, "#big2", (0..10).map(e));
    // Over the budget: trimmed to nine tenths of it, from the largest.
    assert!(h.bytes() <= cfg.total_bytes * 9 / 10, "{} > 90% of {}", h.bytes(), cfg.total_bytes);
    assert_eq!(h.channels.get("#small").unwrap().entries.len(), 3, "the smallest buffer is untouched");
    assert!(h.channels.get("#big").unwrap().entries.len() < 10);
    assert_eq!(h.bytes(), footprints(), "the total matches the buffers");
    for ch in ["#big", "#big2", "#mid", "#small"] {
        h.forget_channel(ch);
    }
    assert_eq!(h.bytes(), 0);
}
