//! CHATHISTORY (draft/chathistory, draft/event-playback), and the hooks that
//! hand relayed messages to the history writer (`store::writer`).
//!
//! Recording never waits: a row goes onto the writer's bounded queue. Reading
//! waits for the writer to commit what is queued (so a client sees what it
//! just sent), then queries the store on the blocking pool.

use super::response::batch_id;
use super::{fail, multiline, BoxFuture, Ctx, HandlerResult};
use crate::caps::Cap;
use crate::proto::line::{Line, Tag};
use crate::proto::OwnedMessage;
use crate::state::channel::Channel;
use crate::state::client::{Client, ClientId};
use crate::state::history::{self, Kind, Query, Ref, Scope};
use crate::state::Server;
use crate::store::history::{pair_key, Op, Row, Stored};
use crate::store::record;

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

fn tag_of<'a>(line: &'a Line, key: &str) -> Option<&'a str> {
    line.tags.iter().find(|t| t.key == key).map(|t| t.value.as_str())
}

/// The row for `line` sent by this client to `target`; `None` when the line is
/// not kept or lacks a time or msgid. Client-only tags beyond
/// `history.client_tag_bytes` are not kept.
fn row(sender: ClientId, cap: usize, target: String, mut line: Line, account: &Option<String>) -> Option<Row> {
    let kind = kind_of(&line)?;
    let time_ms = crate::proto::time::parse(tag_of(&line, "time")?)?;
    let msgid = tag_of(&line, "msgid")?.to_owned();
    if line.client_tags.as_ref().is_some_and(|t| t.len() > cap) {
        line.client_tags = line.client_tags.as_deref().and_then(|t| history::cap_client_tags(t, cap));
    }
    Some(Row {
        target,
        msgid,
        time_ms,
        kind,
        sender_conn: sender,
        sender_account: account.clone(),
        line,
        multiline: None,
        direct: None,
    })
}

/// Adds the record of a channel `line` to `run` (what [`row`] and
/// [`record::packable`] would make, without the row in between); false when
/// it needs the row's path (not kept, client tags to trim, a msgid without
/// its time).
fn pack(ctx: &Ctx, cap: usize, run: &mut record::Packed, line: &Line, account: Option<&str>) -> bool {
    let Some(kind) = kind_of(line) else { return false };
    let Some(time_ms) = tag_of(line, "time").and_then(crate::proto::time::parse) else { return false };
    let Some(msgid) = tag_of(line, "msgid") else { return false };
    if line.client_tags.as_ref().is_some_and(|t| t.len() > cap) || crate::proto::msgid::time_of(msgid) != Some(time_ms)
    {
        return false;
    }
    run.push(&record::Fields { time_ms, msgid, kind, sender_conn: ctx.client.id, account, line });
    true
}

/// Records `lines`, just relayed to `channel` by this client (taken, not
/// copied: this is on every channel message's path). With a store that keeps
/// channel rows packed, they go to the writer as one [`record::Packed`] run
/// (a row that cannot be packed goes between runs, in order).
pub fn record_channel(ctx: &Ctx, channel: &Channel, lines: impl IntoIterator<Item = Line>) {
    let cfg = ctx.server.config();
    let Some(writer) = ctx.server.history.writer().filter(|_| cfg.history.enabled) else { return };
    if !cfg.history.unregistered_channels && !channel.read().is_persistent() {
        return;
    }
    let target = ctx.server.fold(&channel.name);
    let account = ctx.client.info().account.as_deref().map(|a| ctx.server.fold(a));
    let cap = cfg.history.client_tag_bytes;
    let mut ops = Vec::new();
    let mut run = record::Packed::new(target.clone());
    for line in lines {
        if writer.packs() && pack(ctx, cap, &mut run, &line, account.as_deref()) {
            continue;
        }
        if let Some(row) = row(ctx.client.id, cap, target.clone(), line, &account) {
            if !run.is_empty() {
                ops.push(Op::Packed(std::mem::replace(&mut run, record::Packed::new(target.clone()))));
            }
            ops.push(writer.op_of(row));
        }
    }
    if !run.is_empty() {
        ops.push(Op::Packed(run));
    }
    writer.queue_all(ops);
}

/// Records `line`, just sent by this client to the user `to`: on disk between
/// two logged-in accounts; in memory only (until the connection closes) when
/// either side is not logged in.
pub fn record_direct(ctx: &Ctx, to: &Client, line: Line) {
    let Some(row) = direct_row(&ctx.server, &ctx.client, to, line) else { return };
    keep_direct(&ctx.server, row);
}

/// Records `line`, a direct message from `from` (a user of another node of a
/// cluster) just delivered to `to` (one of this node's), when either side is
/// not logged in: the sender's node keeps that conversation in its memory
/// only, so this node keeps its own copy for `to`'s CHATHISTORY. Between two
/// accounts the sender's node saved it in the shared store. For a
/// draft/multiline message, `line` is its first line with text and
/// `multiline` every line with its concat flag.
pub fn record_relayed_direct(
    server: &Server,
    from: &Client,
    to: &Client,
    line: Line,
    multiline: Option<&[(String, bool)]>,
) {
    if let Some(mut row) = direct_row(server, from, to, line).filter(|row| is_ephemeral(&row.target)) {
        row.multiline = multiline.map(<[_]>::to_vec);
        keep_direct(server, row);
    }
}

/// A message of the conversation of `from` (a user of another node) and
/// `to` was redacted on `from`'s node: gone from this node's memory of the
/// conversation too, when it keeps one (a side not logged in).
pub fn redact_relayed_direct(server: &Server, from: &Client, to: &Client, msgid: &str) {
    let key = pair_key(&history::identity(server, from), &history::identity(server, to));
    if is_ephemeral(&key) {
        server.history.ephemeral.redact(&key, msgid);
    }
}

/// The row of a direct message from `from` to `to`, keyed by both identities.
fn direct_row(server: &Server, from: &Client, to: &Client, line: Line) -> Option<Row> {
    let (me, them) = (history::identity(server, from), history::identity(server, to));
    let account = me.strip_prefix("a:").map(str::to_owned);
    let cap = server.config().history.client_tag_bytes;
    let mut row = row(from.id, cap, pair_key(&me, &them), line, &account)?;
    row.direct = Some([(me, to.nick()), (them, from.nick())]);
    Some(row)
}

/// Hands a direct message's row to the disk writer or, with an unregistered
/// side, to the in-memory store.
fn keep_direct(server: &Server, row: Row) {
    let cfg = server.config();
    let Some(writer) = server.history.writer().filter(|_| cfg.history.enabled) else { return };
    if is_ephemeral(&row.target) {
        server.history.ephemeral.record(row, cfg.history.unregistered_dm_limits());
    } else {
        writer.record(row);
    }
}

/// Whether a target key names a conversation with an unregistered user (kept
/// in memory only).
pub fn is_ephemeral(target: &str) -> bool {
    !target.starts_with('#') && target.split(' ').any(|side| side.starts_with("c:"))
}

/// Where a message went: a channel or one user.
#[derive(Clone, Copy)]
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
    let Some(writer) = ctx.server.history.writer().filter(|_| cfg.history.enabled) else { return };
    let account = ctx.client.info().account.as_deref().map(|a| ctx.server.fold(a));
    let row = match to {
        Recipient::Channel(ch) => {
            if !cfg.history.unregistered_channels && !ch.read().is_persistent() {
                return;
            }
            row(ctx.client.id, cfg.history.client_tag_bytes, ctx.server.fold(&ch.name), first, &account)
        }
        Recipient::User(u) => {
            if let Some(mut row) = direct_row(&ctx.server, &ctx.client, u, first) {
                row.multiline = Some(lines);
                keep_direct(&ctx.server, row);
            }
            return;
        }
    };
    if let Some(mut row) = row {
        row.multiline = Some(lines);
        writer.record(row);
    }
}

/// The lines that replay `entry` for this client. A multiline message is a
/// nested `draft/multiline` batch for a client that takes them (inside the
/// chathistory batch), else its non-blank lines, the msgid on the first.
fn replay(ctx: &mut Ctx, entry: Stored) -> Vec<Line> {
    let Some(lines) = entry.multiline else { return vec![entry.line] };
    let (block, separate) = multiline::assemble(&entry.line, &lines, &batch_id(ctx));
    if !(ctx.has_cap(Cap::Multiline) && ctx.has_cap(Cap::Batch)) {
        return separate;
    }
    // The block's extra tags (`batch`, the concat flag) as tags of the lines.
    let cap = |key: &str| if key == "batch" { Cap::Batch } else { Cap::Multiline };
    block
        .into_iter()
        .map(|(mut line, extra)| {
            line.tags.extend(extra.into_iter().map(|(key, value)| Tag { key, value, cap: cap(key) }));
            line
        })
        .collect()
}

/// Resolves a channel or nick to the history this client may read, or `None`
/// when it may not (not a member) or the target cannot exist.
pub fn target_for(ctx: &Ctx, name: &str) -> Option<Scope> {
    if name.starts_with('#') {
        let ch = ctx.server.find_channel(name)?;
        if !ch.read().members.contains_key(&ctx.client.id) {
            return None;
        }
        return Some(Scope::Target(ctx.server.fold(&ch.name)));
    }
    if name.is_empty() || name.contains(['*', '?', ',', '!', '@']) {
        return None;
    }
    let me = history::identity(&ctx.server, &ctx.client);
    Some(Scope::Target(pair_key(&me, &history::identity_of_nick(&ctx.server, name))))
}

/// Runs a store read on the blocking pool once the writer has committed what
/// is queued; `None` (logged) when the store fails or there is none.
pub async fn read<T: Send + 'static>(
    ctx: &Ctx,
    f: impl FnOnce(&dyn crate::store::Store) -> Result<T, String> + Send + 'static,
) -> Option<T> {
    let store = ctx.server.history.store()?;
    if let Some(w) = ctx.server.history.writer() {
        w.sync().await;
    }
    match tokio::task::spawn_blocking(move || f(&*store)).await {
        Ok(Ok(v)) => Some(v),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "reading history failed");
            None
        }
        Err(_) => None,
    }
}

fn parse_ref(text: &str) -> Option<Ref> {
    if let Some(id) = text.strip_prefix("msgid=") {
        return (!id.is_empty()).then(|| Ref::Msgid(id.to_owned()));
    }
    text.strip_prefix("timestamp=").and_then(crate::proto::time::parse).map(Ref::Time)
}

/// CHATHISTORY `BEFORE|AFTER|LATEST|AROUND target ref limit`,
/// `BETWEEN target ref ref limit`, `TARGETS timestamp timestamp limit`.
pub fn chathistory(ctx: &mut Ctx, msg: OwnedMessage) -> BoxFuture<'_> {
    Box::pin(async move { run(ctx, &msg.params).await })
}

async fn run(ctx: &mut Ctx, params: &[String]) -> HandlerResult {
    let param = |i: usize| params.get(i).map_or("", String::as_str);
    let sub = param(0).to_ascii_uppercase();
    let needed = match sub.as_str() {
        "BEFORE" | "AFTER" | "LATEST" | "AROUND" | "TARGETS" => 4,
        "BETWEEN" => 5,
        _ => return fail("CHATHISTORY", "UNKNOWN_COMMAND", &[param(0)], "Unknown command"),
    };
    if params.len() < needed {
        return fail("CHATHISTORY", "NEED_MORE_PARAMS", &[&sub], "Missing parameters");
    }
    let max = ctx.server.config().history.query_limit;
    let invalid = || fail("CHATHISTORY", "INVALID_PARAMS", &[&sub], "Invalid parameters");
    let Ok(limit) = param(needed - 1).parse::<usize>() else { return invalid() };
    let limit = if limit == 0 { max } else { limit.min(max) };
    if sub == "TARGETS" {
        let (Some(Ref::Time(a)), Some(Ref::Time(b))) = (parse_ref(param(1)), parse_ref(param(2))) else {
            return invalid();
        };
        return targets(ctx, a.min(b), a.max(b), limit).await;
    }
    let name = param(1);
    let r1 = if sub == "LATEST" && param(2) == "*" {
        None
    } else {
        match parse_ref(param(2)) {
            Some(r) => Some(r),
            None => return invalid(),
        }
    };
    let query = match (sub.as_str(), r1) {
        ("LATEST", r) => Query::Latest(r, limit),
        ("BEFORE", Some(r)) => Query::Before(r, limit),
        ("AFTER", Some(r)) => Query::After(r, limit),
        ("AROUND", Some(r)) => Query::Around(r, limit),
        ("BETWEEN", Some(r)) => match parse_ref(param(3)) {
            Some(r2) => Query::Between(r, r2, limit),
            None => return invalid(),
        },
        _ => return invalid(),
    };
    let all_direct = (name == "*").then(|| Scope::AllDirect(history::identity(&ctx.server, &ctx.client)));
    let Some(scope) = all_direct.or_else(|| target_for(ctx, name)) else {
        return fail("CHATHISTORY", "INVALID_TARGET", &[&sub, name], "Messages could not be retrieved");
    };
    let events = ctx.has_cap(Cap::EventPlayback);
    let rows = match &scope {
        Scope::Target(t) if is_ephemeral(t) => ctx.server.history.ephemeral.select(&scope, &query, events),
        _ => {
            let (sc, q) = (scope.clone(), query.clone());
            let Some(mut rows) = read(ctx, move |s| s.select_history(&sc, &q, events)).await else {
                return fail("CHATHISTORY", "MESSAGE_ERROR", &[&sub, name], "Messages could not be retrieved");
            };
            if let Scope::AllDirect(_) = scope {
                rows.extend(ctx.server.history.ephemeral.select(&scope, &query, events));
                merge(&mut rows, &query);
            }
            rows
        }
    };
    let lines = rows.into_iter().flat_map(|e| replay(ctx, e)).collect();
    send_batch(ctx, vec!["chathistory".into(), name.to_owned()], lines);
    Ok(())
}

/// Orders rows from the disk and the in-memory store by time and keeps the
/// `limit` that the query's direction selects.
fn merge(rows: &mut Vec<Stored>, query: &Query) {
    rows.sort_by_key(|r| r.time_ms);
    let (n, newest) = match query {
        Query::Latest(_, n) | Query::Before(_, n) => (*n, true),
        Query::After(_, n) | Query::Between(_, _, n) => (*n, false),
        Query::Around(_, n) => {
            let skip = rows.len().saturating_sub(*n) / 2;
            rows.drain(..skip);
            (*n, false)
        }
    };
    if rows.len() > n {
        if newest {
            rows.drain(..rows.len() - n);
        } else {
            rows.truncate(n);
        }
    }
}

/// TARGETS: channels the client is in and users it talked with, whose latest
/// message falls strictly between `from` and `to`, oldest first.
async fn targets(ctx: &mut Ctx, from: i64, to: i64, limit: usize) -> HandlerResult {
    let events = ctx.has_cap(Cap::EventPlayback);
    let channels: Vec<(String, String)> =
        ctx.client.info().channels.iter().map(|ch| (ch.name.clone(), ctx.server.fold(&ch.name))).collect();
    let me = history::identity(&ctx.server, &ctx.client);
    let found = read(ctx, move |s| {
        let mut found = Vec::new();
        for (name, folded) in channels {
            if let Some(t) = s.latest_message(&folded, events)? {
                found.push((name, t));
            }
        }
        found.extend(s.conversations(&me, events, from, to, limit)?);
        Ok(found)
    })
    .await;
    let me = history::identity(&ctx.server, &ctx.client);
    let found = found.map(|mut f| {
        f.extend(ctx.server.history.ephemeral.conversations(&me, events, from, to, limit));
        f
    });
    let Some(mut found) = found else {
        return fail("CHATHISTORY", "MESSAGE_ERROR", &["TARGETS", "*"], "Targets could not be retrieved");
    };
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
    Ok(())
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
