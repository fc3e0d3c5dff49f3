//! draft/multiline: one message sent as several lines.
//!
//! The client sends `BATCH +ref draft/multiline <target>`, then
//! `@batch=ref PRIVMSG <target> :line` (or NOTICE; `draft/multiline-concat`
//! joins a line to the previous one without a line break), then `BATCH -ref`.
//! The lines are collected in the connection's [`Pending`] and checked as they
//! come (`max-lines`, `max-bytes`, one command, one target); at `BATCH -` the
//! message is relayed as a `draft/multiline` batch to recipients with
//! `draft/multiline` and `batch`, and as separate lines (blank lines dropped,
//! the `msgid` on the first) to the others. The whole batch has one `msgid` and
//! one `time`, on its `BATCH +` line. A `label` given on `BATCH +` goes on the
//! echoed batch. The message is kept in chat history as one entry, replayed the
//! same two ways.

use super::chathistory::{record_multiline, Recipient};
use super::{fail, CmdError, Ctx, HandlerResult};
use crate::caps::{Cap, CapSet};
use crate::proto::line::Line;
use crate::proto::numeric::*;
use crate::proto::time;
use crate::proto::{tags, Message};
use crate::state::channel::Channel;
use crate::state::client::{Client, ClientId};
use crate::state::fanout::{self, BlockLine};
use std::sync::atomic::Ordering;

/// The batch type.
pub const BATCH_TYPE: &str = "draft/multiline";
/// The tag that joins a line to the previous one.
pub const CONCAT_TAG: &str = "draft/multiline-concat";

/// A multiline batch being received on one connection.
#[derive(Debug, Default)]
pub struct Pending {
    reference: String,
    target: String,
    command: Option<&'static str>,
    label: Option<String>,
    client_tags: Option<String>,
    lines: Vec<(String, bool)>,
    bytes: usize,
    failed: bool,
}

/// Takes `BATCH` commands and `batch`-tagged lines of a registered client.
/// Returns `None` for any other line (the command table handles it), or the
/// label the reply should carry (none when the echo already carried it).
pub fn intercept(ctx: &mut Ctx, msg: &Message<'_>) -> Option<Option<String>> {
    if !ctx.client.is_registered() {
        return None;
    }
    let label = msg.tag("label").map(|l| l.into_owned());
    if msg.is("BATCH") {
        return Some(match batch(ctx, msg, label.clone()) {
            Ok(l) => l,
            Err(e) => {
                ctx.report(e);
                label
            }
        });
    }
    let reference = msg.tag("batch")?;
    if let Err(e) = add_line(ctx, msg, &reference) {
        ctx.report(e);
    }
    Some(label)
}

fn invalid(text: &str) -> CmdError {
    fail("BATCH", "MULTILINE_INVALID", &[], text).unwrap_err()
}

/// `BATCH +ref draft/multiline target` opens, `BATCH -ref` closes and sends.
fn batch(ctx: &mut Ctx, msg: &Message<'_>, label: Option<String>) -> Result<Option<String>, CmdError> {
    let param = msg.param(0);
    if let Some(reference) = param.strip_prefix('+') {
        if msg.param(1) != BATCH_TYPE {
            return Err(fail("BATCH", "UNKNOWN_TYPE", &[msg.param(1)], "Unsupported batch type").unwrap_err());
        }
        if !ctx.has_cap(Cap::Multiline) {
            return Err(invalid("Negotiate draft/multiline first"));
        }
        let target = msg.param(2);
        if reference.is_empty() || target.is_empty() {
            return Err(invalid("Batch reference and target are required"));
        }
        if ctx.conn.multiline.take().is_some() {
            return Err(invalid("A multiline batch is already open"));
        }
        ctx.conn.multiline = Some(Box::new(Pending {
            reference: reference.to_owned(),
            target: target.to_owned(),
            label,
            client_tags: msg.tags.and_then(tags::client_only),
            ..Pending::default()
        }));
        return Ok(None);
    }
    let Some(reference) = param.strip_prefix('-') else { return Err(invalid("Expected BATCH +ref or -ref")) };
    let Some(pending) = ctx.conn.multiline.take() else { return Err(invalid("No multiline batch is open")) };
    let label = pending.label.clone().or(label);
    if pending.reference != reference {
        return Err(invalid("Batch reference does not match"));
    }
    if pending.failed {
        return Ok(label);
    }
    match send(ctx, *pending, label.as_deref()) {
        Ok(true) => Ok(None),
        Ok(false) => Ok(label),
        Err(e) => {
            ctx.report(e);
            Ok(label)
        }
    }
}

/// Adds one `batch`-tagged line to the open batch, enforcing the limits.
fn add_line(ctx: &mut Ctx, msg: &Message<'_>, reference: &str) -> HandlerResult {
    let limits = ctx.server.config().multiline.clone();
    let casemap = ctx.server.casemap;
    let Some(p) = ctx.conn.multiline.as_mut() else { return Err(invalid("No multiline batch is open")) };
    if p.failed {
        return Ok(());
    }
    let result = check_line(p, msg, reference, &limits, casemap);
    if result.is_err() {
        p.failed = true;
    }
    result
}

fn check_line(
    p: &mut Pending,
    msg: &Message<'_>,
    reference: &str,
    limits: &crate::config::MultilineConfig,
    casemap: crate::state::casemap::Casemap,
) -> HandlerResult {
    if reference != p.reference {
        return Err(invalid("Unexpected batch reference"));
    }
    let command = if msg.is("PRIVMSG") {
        "PRIVMSG"
    } else if msg.is("NOTICE") {
        "NOTICE"
    } else {
        return Err(invalid("Only PRIVMSG and NOTICE may be in a multiline batch"));
    };
    if p.command.is_some_and(|c| c != command) {
        return Err(invalid("PRIVMSG and NOTICE cannot be mixed"));
    }
    p.command = Some(command);
    if !casemap.eq(msg.param(0), &p.target) {
        return Err(invalid("Every line must go to the batch's target"));
    }
    let text = msg.param(1);
    let concat = msg.tag(CONCAT_TAG).is_some();
    if concat && text.is_empty() {
        return Err(invalid("A blank line cannot be concatenated"));
    }
    if p.lines.len() >= limits.max_lines {
        let max = limits.max_lines.to_string();
        return fail("BATCH", "MULTILINE_MAX_LINES", &[&max], "Too many lines in the multiline batch");
    }
    let added = text.len() + usize::from(!p.lines.is_empty() && !concat);
    if p.bytes + added > limits.max_bytes {
        let max = limits.max_bytes.to_string();
        return fail("BATCH", "MULTILINE_MAX_BYTES", &[&max], "Too many bytes in the multiline batch");
    }
    p.bytes += added;
    p.lines.push((text.to_owned(), concat));
    Ok(())
}

/// Whether a recipient gets the batch rather than the separate lines.
fn takes_batches(_: &Client, caps: CapSet) -> bool {
    caps.has(Cap::Multiline) && caps.has(Cap::Batch)
}

/// Relays a complete batch; returns whether the echo (carrying the label) was sent.
fn send(ctx: &mut Ctx, p: Pending, label: Option<&str>) -> Result<bool, CmdError> {
    if p.lines.iter().all(|(t, _)| t.is_empty()) {
        return Err(invalid("A multiline batch needs some text"));
    }
    let command = p.command.unwrap_or("PRIVMSG");
    let target = p.target.clone();
    enum To {
        Channel(std::sync::Arc<crate::state::channel::Channel>),
        User(std::sync::Arc<Client>),
    }
    let to = if target.starts_with('#') {
        let Some(ch) = ctx.server.find_channel(&target) else {
            return Err(CmdError::Numeric(ERR_NOSUCHCHANNEL, vec![target]));
        };
        super::message::check_channel_send(ctx, &ch)?;
        To::Channel(ch)
    } else {
        match ctx.server.find_user(&target) {
            Some(u) => To::User(u),
            None => return Err(CmdError::Numeric(ERR_NOSUCHNICK, vec![target])),
        }
    };
    let (mask, account, bot) = {
        let i = ctx.client.info();
        (i.mask(), i.account.clone(), i.modes.bot)
    };
    let user_tags = |mut l: Line| {
        if let Some(a) = &account {
            l = l.tag("account", a.clone(), Cap::AccountTag);
        }
        if bot {
            l = l.tag("bot", "", Cap::MessageTags);
        }
        l.client_tags = p.client_tags.clone();
        l
    };
    let at = time::now_ms();
    let msgid = ctx.server.next_msgid_at(at);
    let id = super::response::batch_id(ctx);
    // The first line with text, carrying the message's tags: the rest of the
    // batch, the separate lines, the history entry and the event other nodes
    // get are all built from it.
    let text = p.lines.iter().find(|(t, _)| !t.is_empty()).map(|(t, _)| t.clone()).unwrap_or_default();
    let first = Line::new(mask, command, vec![target.clone(), text])
        .tag("time", time::format(at), Cap::ServerTime)
        .tag("msgid", msgid, Cap::MessageTags);
    let first = user_tags(first);
    let (mut block, fallback) = assemble(&first, &p.lines, &id);

    let me = ctx.me();
    let recipient = match &to {
        To::Channel(ch) => Recipient::Channel(ch),
        To::User(u) => Recipient::User(u),
    };
    match &to {
        To::Channel(ch) => {
            deliver_to_channel(ch, &block, &fallback, me);
            crate::cluster::multiline(&ctx.server, &ctx.client, recipient, &first, &p.lines);
        }
        To::User(u) => {
            // The recipient's connections, and the sender's other sessions.
            if !deliver_to_client(u, &block, &fallback, None) && u.sessions_any() {
                // A user of another node: its node delivers.
                crate::cluster::multiline(&ctx.server, &ctx.client, recipient, &first, &p.lines);
            }
            if u.id != ctx.client.id && ctx.client.sessions_any() {
                deliver_to_client(&ctx.client, &block, &fallback, me);
            }
            if command == "PRIVMSG" {
                if let Some(away) = u.info().away.clone() {
                    ctx.numeric(RPL_AWAY, &[&u.nick(), &away]);
                }
            }
        }
    }
    if command == "PRIVMSG" {
        ctx.client.last_spoke.store(chrono::Utc::now().timestamp(), Ordering::Relaxed);
    }
    record_multiline(ctx, recipient, first, p.lines.clone());
    if !ctx.has_cap(Cap::EchoMessage) {
        return Ok(false);
    }
    if !takes_batches(&ctx.client, ctx.link.caps()) {
        ctx.out.extend(fallback);
        return Ok(false);
    }
    let caps = ctx.link.caps();
    if let Some(l) = label.filter(|_| caps.has(Cap::LabeledResponse)) {
        block[0].1.push(("label", l.to_owned()));
    }
    // The echo goes first; anything else queued (RPL_AWAY) follows it unlabeled.
    ctx.link.send(&fanout::serialize_block(&block, caps));
    Ok(true)
}

/// A multiline message as its recipients get it, from its first line with
/// text (`first`: source, command, target, and the message's tags) and its
/// lines with their concat flags: the `draft/multiline` batch with reference
/// `id` (one `time` and `msgid`, on `BATCH +`), and the separate lines for
/// the others (blank lines dropped, the `msgid` on the first only). The
/// origin and every node relaying the message build both the same way.
pub fn assemble(first: &Line, lines: &[(String, bool)], id: &str) -> (Vec<BlockLine>, Vec<Line>) {
    let target = first.params.first().cloned().unwrap_or_default();
    let mut open = first.clone();
    open.command = "BATCH".into();
    open.params = vec![format!("+{id}"), BATCH_TYPE.into(), target.clone()];
    let mut block: Vec<BlockLine> = vec![(open, Vec::new())];
    let mut fallback = Vec::new();
    for (text, concat) in lines {
        let line = Line::new(first.source.clone(), first.command.clone(), vec![target.clone(), text.clone()]);
        let mut extra = vec![("batch", id.to_owned())];
        if *concat {
            extra.push((CONCAT_TAG, String::new()));
        }
        block.push((line, extra));
        if !text.is_empty() {
            let mut separate = first.clone();
            if !fallback.is_empty() {
                separate.tags.retain(|t| t.key != "msgid");
            }
            separate.params = vec![target.clone(), text.clone()];
            fallback.push(separate);
        }
    }
    block.push((Line::new(first.source.clone(), "BATCH", vec![format!("-{id}")]), Vec::new()));
    (block, fallback)
}

/// Delivers a multiline message to the members of `ch` but `except`: the
/// batch to those that take batches, the separate lines to the others.
pub fn deliver_to_channel(ch: &Channel, block: &[BlockLine], fallback: &[Line], except: Option<ClientId>) {
    let sent = fanout::block_to_channel(ch, block, except, takes_batches);
    crate::metrics::METRICS.relayed(1, sent);
    for line in fallback {
        fanout::to_channel(ch, line, except, |c, caps| !takes_batches(c, caps));
    }
}

/// Delivers a multiline message to the connections of `c` but `except`, each
/// the way it takes it; false when `c` has no connection here.
pub fn deliver_to_client(c: &Client, block: &[BlockLine], fallback: &[Line], except: Option<ClientId>) -> bool {
    let mut sent = fanout::block_to_client(c, block, except, takes_batches);
    for line in fallback {
        sent += c.deliver(&mut crate::proto::line::variants(line), except, &|c, caps| !takes_batches(c, caps));
    }
    sent > 0
}
