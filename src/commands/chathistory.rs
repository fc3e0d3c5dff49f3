//! CHATHISTORY (draft/chathistory, draft/event-playback), and the hooks that
//! record relayed messages into [`crate::state::history`].

use super::response::batch_id;
use super::{fail, multiline, Ctx, HandlerResult};
use crate::caps::Cap;
use crate::proto::line::{Line, Tag};
use crate::proto::Message;
use crate::state::channel::Channel;
use crate::state::client::Client;
use crate::state::history::{self, Entry, Kind, Query, Ref, Target};

/// Client tags that only signal activity and are not worth keeping.
const TRANSIENT_TAGS: &[&str] = &["+typing", "+draft/typing"];

/// What a relayed line is for history, or `None` when it is not kept: PRIVMSG and
/// NOTICE are messages; TOPIC and TAGMSG (but not typing notifications) are events.
fn kind_of(line: &Line) -> Option<Kind> {
    match &*line.command {
        "PRIVMSG" | "NOTICE" => Some(Kind::Message),
        "TOPIC" => Some(Kind::Event),
        "TAGMSG" => {
            let tags = line.client_tags.as_deref()?;
            let keys = tags.split(';').map(|t| t.split('=').next().unwrap_or(""));
            let lasting = keys.filter(|k| !TRANSIENT_TAGS.contains(k)).count();
            (lasting > 0).then_some(Kind::Event)
        }
        _ => None,
    }
}

/// Records `lines`, just relayed to `channel` by this client (taken, not
/// copied: this is on every channel message's path).
pub fn record_channel(ctx: &Ctx, channel: &Channel, lines: impl IntoIterator<Item = Line>) {
    let cfg = ctx.server.config();
    if !cfg.history.enabled {
        return;
    }
    let entries = lines.into_iter().filter_map(|line| {
        let kind = kind_of(&line)?;
        Entry::new(&ctx.server, &ctx.client, line, kind)
    });
    ctx.server.history.record_channel(&cfg.history, &ctx.server.fold(&channel.name), entries);
}

/// Records `line`, just sent by this client to the user `to`.
pub fn record_direct(ctx: &Ctx, to: &Client, line: Line) {
    if !ctx.server.config().history.enabled {
        return;
    }
    let Some(kind) = kind_of(&line) else { return };
    let Some(entry) = Entry::new(&ctx.server, &ctx.client, line, kind) else { return };
    ctx.server.history.record_direct(&ctx.server, &ctx.client, to, entry);
}

/// Where a draft/multiline message went.
pub enum Recipient<'a> {
    /// A channel.
    Channel(&'a Channel),
    /// A user.
    User(&'a Client),
}

/// Records a draft/multiline message just relayed by this client, as one
/// entry: `first` is its first non-blank line carrying the message's tags
/// (time, msgid, account, client tags), `lines` every line with its concat flag.
pub fn record_multiline(ctx: &Ctx, to: Recipient<'_>, first: Line, lines: Vec<(String, bool)>) {
    let cfg = ctx.server.config();
    if !cfg.history.enabled {
        return;
    }
    let Some(mut entry) = Entry::new(&ctx.server, &ctx.client, first, Kind::Message) else { return };
    entry.multiline = Some(lines.into_boxed_slice());
    match to {
        Recipient::Channel(ch) => ctx.server.history.record_channel(&cfg.history, &ctx.server.fold(&ch.name), [entry]),
        Recipient::User(u) => ctx.server.history.record_direct(&ctx.server, &ctx.client, u, entry),
    }
}

/// The lines that replay `entry` for this client. A multiline message is a
/// nested `draft/multiline` batch for a client that takes them (inside the
/// chathistory batch), else its non-blank lines, the msgid on the first.
fn replay(ctx: &mut Ctx, entry: Entry) -> Vec<Line> {
    let Some(lines) = entry.multiline else { return vec![entry.line] };
    let first = entry.line;
    let target = first.params.first().cloned().unwrap_or_default();
    if !(ctx.has_cap(Cap::Multiline) && ctx.has_cap(Cap::Batch)) {
        let mut out = Vec::new();
        for (text, _) in lines.iter().filter(|(t, _)| !t.is_empty()) {
            let mut line = first.clone();
            if !out.is_empty() {
                line.tags.retain(|t| t.key != "msgid");
            }
            line.params = vec![target.clone(), text.clone()];
            out.push(line);
        }
        return out;
    }
    let id = batch_id(ctx);
    let tag = |key, value: &str, cap| Tag { key, value: value.to_owned(), cap };
    let mut open = first.clone();
    open.command = "BATCH".into();
    open.params = vec![format!("+{id}"), multiline::BATCH_TYPE.into(), target.clone()];
    let mut out = vec![open];
    for (text, concat) in lines.iter() {
        let mut line = Line::new(first.source.clone(), first.command.clone(), vec![target.clone(), text.clone()]);
        line.tags.push(tag("batch", &id, Cap::Batch));
        if *concat {
            line.tags.push(tag(multiline::CONCAT_TAG, "", Cap::Multiline));
        }
        out.push(line);
    }
    out.push(Line::new(first.source, "BATCH", vec![format!("-{id}")]));
    out
}

/// Resolves a channel or nick to the history buffer this client may read, or
/// `None` when it may not (not a member) or the target cannot exist.
pub fn target_for(ctx: &Ctx, name: &str) -> Option<Target> {
    if name.starts_with('#') {
        let ch = ctx.server.find_channel(name)?;
        if !ch.read().members.contains_key(&ctx.client.id) {
            return None;
        }
        return Some(Target::Channel(ctx.server.fold(&ch.name)));
    }
    if name.is_empty() || name.contains(['*', '?', ',', '!', '@']) {
        return None;
    }
    let me = history::identity(&ctx.server, &ctx.client);
    Some(Target::Direct(me, history::identity_of_nick(&ctx.server, name)))
}

fn parse_ref(text: &str) -> Option<Ref> {
    if let Some(id) = text.strip_prefix("msgid=") {
        return (!id.is_empty()).then(|| Ref::Msgid(id.to_owned()));
    }
    text.strip_prefix("timestamp=").and_then(crate::proto::time::parse).map(Ref::Time)
}

/// CHATHISTORY `BEFORE|AFTER|LATEST|AROUND target ref limit`,
/// `BETWEEN target ref ref limit`, `TARGETS timestamp timestamp limit`.
pub fn chathistory(ctx: &mut Ctx, msg: &Message<'_>) -> HandlerResult {
    let sub = msg.param(0).to_ascii_uppercase();
    let needed = match sub.as_str() {
        "BEFORE" | "AFTER" | "LATEST" | "AROUND" | "TARGETS" => 4,
        "BETWEEN" => 5,
        _ => return fail("CHATHISTORY", "UNKNOWN_COMMAND", &[msg.param(0)], "Unknown command"),
    };
    if msg.params.len() < needed {
        return fail("CHATHISTORY", "NEED_MORE_PARAMS", &[&sub], "Missing parameters");
    }
    let max = ctx.server.config().history.query_limit;
    let invalid = || fail("CHATHISTORY", "INVALID_PARAMS", &[&sub], "Invalid parameters");
    let Ok(limit) = msg.param(needed - 1).parse::<usize>() else { return invalid() };
    let limit = if limit == 0 { max } else { limit.min(max) };
    if sub == "TARGETS" {
        let (Some(Ref::Time(a)), Some(Ref::Time(b))) = (parse_ref(msg.param(1)), parse_ref(msg.param(2))) else {
            return invalid();
        };
        targets(ctx, a.min(b), a.max(b), limit);
        return Ok(());
    }
    let name = msg.param(1);
    let r1 = if sub == "LATEST" && msg.param(2) == "*" {
        None
    } else {
        match parse_ref(msg.param(2)) {
            Some(r) => Some(r),
            None => return invalid(),
        }
    };
    let query = match (sub.as_str(), r1) {
        ("LATEST", r) => Query::Latest(r, limit),
        ("BEFORE", Some(r)) => Query::Before(r, limit),
        ("AFTER", Some(r)) => Query::After(r, limit),
        ("AROUND", Some(r)) => Query::Around(r, limit),
        ("BETWEEN", Some(r)) => match parse_ref(msg.param(3)) {
            Some(r2) => Query::Between(r, r2, limit),
            None => return invalid(),
        },
        _ => return invalid(),
    };
    let all_direct = (name == "*").then(|| Target::AllDirect(history::identity(&ctx.server, &ctx.client)));
    let Some(target) = all_direct.or_else(|| target_for(ctx, name)) else {
        return fail("CHATHISTORY", "INVALID_TARGET", &[&sub, name], "Messages could not be retrieved");
    };
    let events = ctx.has_cap(Cap::EventPlayback);
    let entries = ctx.server.history.select(&target, &query, events);
    let lines = entries.into_iter().flat_map(|e| replay(ctx, e)).collect();
    send_batch(ctx, vec!["chathistory".into(), name.to_owned()], lines);
    Ok(())
}

/// TARGETS: channels the client is in and users it talked with, whose latest
/// message falls strictly between `from` and `to`, oldest first.
fn targets(ctx: &mut Ctx, from: i64, to: i64, limit: usize) {
    let events = ctx.has_cap(Cap::EventPlayback);
    let history = &ctx.server.history;
    let mut found: Vec<(String, i64)> = Vec::new();
    let channels = ctx.client.info().channels.clone();
    for ch in channels {
        if let Some(t) = history.channel_latest(&ctx.server.fold(&ch.name), events) {
            found.push((ch.name.clone(), t));
        }
    }
    found.extend(history.direct_latest(&history::identity(&ctx.server, &ctx.client), events));
    found.retain(|(_, t)| *t > from && *t < to);
    found.sort_by_key(|(_, t)| *t);
    found.truncate(limit);
    let source = ctx.server_name();
    let lines = found
        .into_iter()
        .map(|(name, t)| {
            Line::new(source.clone(), "CHATHISTORY", vec!["TARGETS".into(), name, crate::proto::time::format(t)])
        })
        .collect();
    send_batch(ctx, vec!["draft/chathistory-targets".into()], lines);
}

/// Queues `lines` inside one batch of `kind` (plain when the client lacks `batch`).
fn send_batch(ctx: &mut Ctx, kind: Vec<String>, lines: Vec<Line>) {
    if !ctx.has_cap(Cap::Batch) {
        ctx.out.extend(lines);
        return;
    }
    let id = batch_id(ctx);
    let source = ctx.server_name();
    let mut params = vec![format!("+{id}")];
    params.extend(kind);
    ctx.reply(Line::new(source.clone(), "BATCH", params));
    for mut l in lines {
        // Lines of a nested batch already carry theirs.
        if !l.tags.iter().any(|t| t.key == "batch") {
            l.tags.insert(0, Tag { key: "batch", value: id.clone(), cap: Cap::Batch });
        }
        ctx.reply(l);
    }
    ctx.reply(Line::new(source, "BATCH", vec![format!("-{id}")]));
}
